"""Multi-worker training (`--distribute=multi_worker`): TF_CONFIG checked, the cluster awaited
within a limit, stops agreed by every worker.

TensorFlow's MultiWorkerMirroredStrategy reads TF_CONFIG, then waits for every task of the cluster
inside one call that holds the Python interpreter: a worker that never comes makes the others wait
silently and forever, deaf to SIGTERM, and a malformed TF_CONFIG is a traceback (BH-30). Here:

  * `read_tf_config` checks TF_CONFIG and says what is wrong in one `TrainingError`;
  * `make_strategy(timeout)` first waits for the other tasks in Python: it listens on its own
    address (so that the others see it) and connects to theirs, says once which tasks it waits for
    and where, gives up after `timeout` seconds naming those still missing, and raises
    `Interrupted` on SIGINT/SIGTERM (turned into KeyboardInterrupt by `srn_tf.cli`). Only then does
    it build the strategy, with the coordination service's registration limited to `timeout` too,
    and with SIGINT/SIGTERM ending the process at once during that call (the interpreter cannot
    run a handler then; nothing has been written yet);
  * `stop_agreement(strategy)`: a stop asked of one worker (a scheduler's SIGTERM) stops every
    worker after the same step, so that none waits for the others in a collective.
"""

import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import socket
import threading
import time

from srn_tf.backend import lazy_tensorflow
from srn_tf.errors import Interrupted, TrainingError

tf = lazy_tensorflow("multi-worker training")

log = logging.getLogger(__name__)

JOBS = ("chief", "worker")     # the task types of a MultiWorkerMirroredStrategy cluster
EXAMPLE = ('{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
           '"task": {"type": "worker", "index": 0}}')
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):([0-9]{1,5})")
_POLL = 0.5        # seconds between attempts to reach the missing tasks


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A checked TF_CONFIG: jobs {"chief"/"worker": ["host:port", …]}, this task's type and index."""
    jobs: dict
    task_type: str
    task_index: int
    rpc_layer: str = "grpc"

    @property
    def address(self):
        return self.jobs[self.task_type][self.task_index]

    def name(self, job, index):
        return "chief" if job == "chief" else f"{job} {index}"

    def others(self):
        """{task name: address} of every other task."""
        return {self.name(job, i): address for job in JOBS for i, address in
                enumerate(self.jobs.get(job, [])) if (job, i) != (self.task_type, self.task_index)}

    def leader(self):
        """The coordination service's leader, as MultiWorkerMirroredStrategy chooses it."""
        return "/job:chief/replica:0/task:0" if "chief" in self.jobs else "/job:worker/replica:0/task:0"


def read_tf_config(text=None):
    """The `Cluster` of TF_CONFIG (or of `text`), or None when it is unset or empty.

    Raises TrainingError saying what is wrong: not JSON, no "cluster" of "chief"/"worker" lists of
    "host:port" addresses (one chief at most, no address twice), no "task" with a "type" of its
    cluster and an "index" in range.
    """
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text.strip():
        return None

    def bad(what):
        return TrainingError(f"TF_CONFIG {what}; expected JSON such as {EXAMPLE}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise bad(f"is not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(config, dict):
        raise bad("is not a JSON object")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad('has no "cluster" object naming its tasks')
    for job, addresses in cluster.items():
        if job not in JOBS:
            raise bad(f'has a "{job}" job in its "cluster": multi_worker training runs "chief" '
                      'and "worker" tasks only')
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) and
                           int(_ADDRESS.fullmatch(a).group(2)) < 65536 for a in addresses)):
            raise bad(f'"cluster" → "{job}" is {json.dumps(addresses)}, not a list of '
                      '"host:port" addresses')
    if len(cluster.get("chief", [])) > 1:
        raise bad(f'"cluster" → "chief" lists {len(cluster["chief"])} tasks; there is one chief')
    every = [a for addresses in cluster.values() for a in addresses]
    twice = sorted({a for a in every if every.count(a) > 1})
    if twice:
        raise bad(f'"cluster" lists {", ".join(twice)} more than once')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise bad('has no "task" object with a "type" and an "index"')
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise bad(f'"task" → "type" is {json.dumps(task_type)}, not a job of its "cluster" '
                  f'({", ".join(cluster)})')
    count = len(cluster[task_type])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise bad(f'"task" → "index" is {json.dumps(index)}: its "cluster" has {count} '
                  f'"{task_type}" task{"s" * (count != 1)}, index 0 to {count - 1}')
    return Cluster(dict(cluster), task_type, index, config.get("rpc_layer") or "grpc")


def _listener(cluster):
    """A socket listening on this task's port, so that the other tasks see it while it waits."""
    port = int(_ADDRESS.fullmatch(cluster.address).group(2))
    dual = socket.has_dualstack_ipv6()
    try:
        return socket.create_server(("", port), family=socket.AF_INET6 if dual else socket.AF_INET,
                                    backlog=64, dualstack_ipv6=dual)
    except OSError as e:
        raise TrainingError(
            f"TF_CONFIG gives this task ({cluster.name(cluster.task_type, cluster.task_index)}) "
            f"the address {cluster.address}, but port {port} cannot be opened here "
            f"({e.strerror or e}); stop what uses it or give this task another port") from e


def _reach(address, timeout):
    """None when `address` ("host:port") accepts a TCP connection, else why not (a few words)."""
    host, port = _ADDRESS.fullmatch(address).groups()
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except socket.gaierror:
        return f"host {host} not found"
    except (socket.timeout, TimeoutError):
        return "no answer"
    except OSError as e:
        return (e.strerror or str(e)).lower()


def _duration(seconds):
    return f"{seconds / 60:g} min" if seconds >= 120 else f"{seconds:g} s"


def wait_for_cluster(cluster, timeout):
    """Returns once every other task of `cluster` accepts connections at its address.

    Listens on this task's own port meanwhile. Says once (INFO) which tasks it waits for.
    Raises TrainingError naming the tasks still missing after `timeout` seconds, and Interrupted
    on KeyboardInterrupt (Ctrl-C; SIGTERM under `srn_tf.cli`).
    """
    missing = cluster.others()
    if not missing:
        return
    me = cluster.name(cluster.task_type, cluster.task_index)
    deadline = time.monotonic() + timeout
    reasons, told = {}, False

    def listing():
        return ", ".join(f"{name} at {address}" for name, address in missing.items())
    with _listener(cluster):
        try:
            while True:
                for name, address in list(missing.items()):
                    reasons[name] = _reach(address, min(1.0, max(0.1, deadline - time.monotonic())))
                    if reasons[name] is None:
                        del missing[name]
                if not missing:
                    if told:
                        log.info("%s: every task of the cluster is up", me)
                    return
                if time.monotonic() >= deadline:
                    why = "; ".join(f"{name}: {reasons[name]}" for name in missing)
                    raise TrainingError(
                        f"{listing()} did not come within {_duration(timeout)} "
                        f"(--worker_timeout={timeout:g}; {why}): start "
                        f"{'them' if len(missing) > 1 else 'it'} with its TF_CONFIG \"task\", "
                        "correct the address in TF_CONFIG, or give a longer --worker_timeout")
                if not told:
                    log.info("%s (%s): waiting for %s, at most %s (--worker_timeout)", me,
                             cluster.address, listing(), _duration(timeout))
                    told = True
                time.sleep(_POLL)
        except KeyboardInterrupt as e:
            raise Interrupted(f"while {me} waited for {listing()}; nothing was written") from e


@contextlib.contextmanager
def _signals_end_the_process():
    """SIGINT and SIGTERM with their default action (the process ends at once) inside the block:
    a TensorFlow call that holds the interpreter lets no Python handler run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _limit_registration(cluster, timeout):
    """The coordination service as MultiWorkerMirroredStrategy configures it, with every task's
    registration (the leader's too: a barrier) limited to `timeout` seconds."""
    from tensorflow.python.eager import context   # no public API sets these limits
    ctx = context.context()
    if ctx.coordination_service is not None:
        return
    ctx.configure_coordination_service(service_type="standalone", service_leader=cluster.leader(),
                                       cluster_register_timeout_in_ms=int(timeout * 1000))
    config = ctx.coordination_service
    config.cluster_register_with_barrier = True
    for job in JOBS:
        if job in cluster.jobs:
            entry = config.coordinated_job_list.add()
            entry.name, entry.num_tasks = job, len(cluster.jobs[job])


def _tasks_named_in(message, cluster):
    """"worker 1 at host:port, …" for the /job:…/task:… named in a TensorFlow error message."""
    found = dict.fromkeys(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", message))
    named = [f"{cluster.name(job, int(i))} at {cluster.jobs[job][int(i)]}" for job, i in found
             if job in cluster.jobs and int(i) < len(cluster.jobs[job])
             and (job, int(i)) != (cluster.task_type, cluster.task_index)]
    return ", ".join(named)


def make_strategy(timeout):
    """MultiWorkerMirroredStrategy over TF_CONFIG's cluster, once every task is up (see the
    module docstring). Without TF_CONFIG: this process alone (TensorFlow's rule), with a warning.

    Raises TrainingError (bad TF_CONFIG, a task missing after `timeout` seconds, this task's port
    taken) or Interrupted, before anything is written.
    """
    cluster = read_tf_config()
    if cluster is None:
        log.warning("TF_CONFIG is not set: --distribute=multi_worker trains in this process alone")
        return tf.distribute.MultiWorkerMirroredStrategy()
    wait_for_cluster(cluster, timeout)
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.jobs), task_type=cluster.task_type,
        task_id=cluster.task_index, rpc_layer=cluster.rpc_layer)
    _limit_registration(cluster, timeout)
    with _signals_end_the_process():
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        except tf.errors.OpError as e:
            missing = _tasks_named_in(e.message, cluster)
            raise TrainingError(
                f"the cluster of TF_CONFIG did not form within {_duration(timeout)}"
                + (f": {missing} did not register" if missing else
                   f" ({e.message.splitlines()[0]})")
                + "; check that every task runs, then start them all again") from e


def stop_agreement(strategy):
    """A function stop (bool) → bool: True when this worker or any other asks to stop.

    With several workers it is a collective: every worker calls it once after every step, so all
    stop after the same step. With one worker it returns `stop`.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if sum(len(spec.get(job, ())) for job in JOBS) <= 1:
        return lambda stop: stop

    @tf.function
    def anyone(flag):
        values = strategy.experimental_distribute_values_from_function(lambda _: flag)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None) > 0
    return lambda stop: bool(anyone(tf.constant(1.0 if stop else 0.0)))
