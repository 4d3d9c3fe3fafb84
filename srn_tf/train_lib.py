"""The release's training recipe as a custom loop: the logic behind `train.py`.

`train_and_evaluate(config)` builds the data pipeline, the model and Adam with the release's
polynomial learning-rate decay, resumes from the latest checkpoint in `config.workdir` if there is
one, runs train steps (on TensorFlow `tf.function` steps under a tf.distribute strategy; on JAX and
PyTorch `srn_tf.train_step.BackendStep`), writes checkpoints, TensorBoard summaries and held-out
PSNR/SSIM, keeps the step validation chooses (`validation_verdict`), and finally writes the model
as `.keras` (and on TensorFlow a SavedModel).
"""

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import tempfile
import time

import keras

from srn_tf import data, metrics, multi_worker, sources
from srn_tf.backend import import_tensorflow, lazy_tensorflow
from srn_tf.convert import RUN_CONFIG_FILE, RUN_MODEL_FILE, load_model
from srn_tf.errors import CheckpointError, DataError, TrainingError
from srn_tf.image_io import ordinary_mode, write_bytes
from srn_tf.inference import deblur
from srn_tf.init import apply_init
from srn_tf.losses import multiscale_l2
from srn_tf.model import (BASELINE_TYPES, TRAINABLE_TYPES, as_levels, build_model,
                          model_type_of, rebuild)
from srn_tf.train_step import ArrayCheckpoints, BackendStep, lstm_mask

tf = lazy_tensorflow("training")

log = logging.getLogger(__name__)

# The 2018 release's recipe (used whenever --data is given).
RELEASE_RECIPE = dict(batch_size=16, crop_size=256, learning_rate=1e-4, lr_decay_power=0.3,
                      end_learning_rate=0.0, epochs=4000, train_steps=None, mixed_precision=False,
                      init="xavier", validate_every=0)
# Small enough to run on a 2-core CPU in under 15 minutes (the embedded data; bfloat16 matmuls,
# which AMX/AVX-512-BF16 CPUs run faster than float32). Identity initialisation starts at the
# blurry input's quality; the model kept is, of the steps whose PSNR and SSIM on the embedded
# validation photos are both at least the input's (step 0 included), the one with the highest
# PSNR (`validation_verdict`), so the run never ends below its start on them. Chosen on
# validation figures, not on the test split (README, "Learning without a download"). 1,000 steps:
# with 2,000 (0.43 s a step on a 2-core AMD EPYC: over 15 min) validation and held-out PSNR
# peaked at steps 400–800 and fell below the input by the end (the six photos learnt by heart).
CPU_RECIPE = dict(batch_size=4, crop_size=64, learning_rate=2e-4, lr_decay_power=0.3,
                  end_learning_rate=0.0, epochs=None, train_steps=1000, mixed_precision=True,
                  init="identity", data="embedded", validate_every=100)
# Longer, for ≤ 2.5 h on 2 cores, resumable (run the same command again to go on): 128² crops
# (4× the pixels per step: blur paths up to 16 px and their context fit), half the crops
# synthetic pairs so that six photos are not learnt by heart, the kept model chosen on validation.
CPU_LONG_RECIPE = dict(CPU_RECIPE, crop_size=128, train_steps=6000, validate_every=500,
                       data="embedded,synthetic")
RECIPES = {"release": RELEASE_RECIPE, "cpu": CPU_RECIPE, "cpu_long": CPU_LONG_RECIPE}
CONFIG_FILE = RUN_CONFIG_FILE
# What a resumed run must share with the run it resumes besides its data (`data_fingerprint`):
# the model's start and the step's shape; the number of steps, evaluation and checkpoint cadence
# may change.
RESUME_FIELDS = ("init", "batch_size", "crop_size")
FINGERPRINT_KEY = "data_fingerprint"   # config.json's record of what the data is
BACKEND_KEY = "backend"                # config.json's record of the Keras backend (checkpoints)
DISTRIBUTE = ("none", "mirrored", "multi_worker")


@dataclasses.dataclass
class TrainConfig:
    """Everything a run depends on. None for a recipe field means: the recipe's value."""
    data: str = None                 # None: the CPU recipe's; builtin sources use the CPU recipe
    recipe: str = None               # a key of RECIPES; None: "cpu" for builtin data, else "release"
    model_type: str = "color"
    workdir: str = None              # default: checkpoints/train_<model_type>
    batch_size: int = None
    crop_size: int = None
    learning_rate: float = None
    lr_decay_power: float = None
    end_learning_rate: float = None
    epochs: int = None
    train_steps: int = None          # overrides epochs
    mixed_precision: bool = None     # mixed_bfloat16 on CPU, mixed_float16 on GPU
    init: str = None                 # srn_tf.init.INITS: "xavier" (the release's), "identity", …
    clip_lstm_grad_norm: float = 0.0
    seed: int = 0
    split: str = "train"
    blur_key: str = "blur"
    augment: bool = False
    crops_per_image: int = 1
    cache: bool = None               # default: on for the embedded data
    tfds_data_dir: str = None
    jit_compile: bool = False
    distribute: str = "none"
    worker_timeout: float = 600.0    # seconds multi_worker waits for every task of TF_CONFIG
    init_from: str = None
    checkpoint_every: int = 1000
    summary_every: int = 20
    eval_every: int = 1000
    eval_images: int = 6              # held-out images: during training and at the end
    validate_every: int = None        # steps between validations choosing the model kept; 0: last
    export_saved_model: bool = True

    def resolved(self):
        """A copy with every recipe field filled in from the recipe of its data."""
        name = self.recipe or ("cpu" if data.is_builtin(self.data) else "release")
        if name not in RECIPES:
            raise TrainingError(f"--recipe must be one of {', '.join(RECIPES)}, got {name!r}")
        recipe = RECIPES[name]
        filled = {k: (v if getattr(self, k) is None else getattr(self, k)) for k, v in recipe.items()}
        if self.train_steps is None and self.epochs is not None:
            filled["train_steps"] = None
        if self.init is None and self.model_type in BASELINE_TYPES:
            filled["init"] = "xavier"        # the baselines have no identity/residual init
        cache = data.is_builtin(self.data) if self.cache is None else self.cache
        suffix = "" if name in ("cpu", "release") else f"_{name}"
        workdir = self.workdir or os.path.join("checkpoints", f"train_{self.model_type}{suffix}")
        return dataclasses.replace(self, **filled, recipe=name, cache=cache, workdir=workdir)


def total_steps(config, num_pairs):
    """train_steps, or epochs × (pairs // batch_size) as in the release.

    Raises TrainingError for epochs of a source without a size (num_pairs None: a mixture)."""
    if config.train_steps:
        return int(config.train_steps)
    if num_pairs is None:
        raise TrainingError(f"--data={config.data} has no epochs (synthetic pairs never end); "
                            "give --train_steps")
    return int(config.epochs) * max(1, num_pairs // config.batch_size)


def learning_rate_schedule(config, steps):
    """lr(step) = (lr0 − end)·(1 − step/steps)^power + end: the release's polynomial decay."""
    return keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, decay_steps=steps, end_learning_rate=config.end_learning_rate,
        power=config.lr_decay_power)


# The release's tf.compat.v1.train.AdamOptimizer(β1 0.9, β2 0.999, ε 1e-8). Its kernel computes
# 1 − β in float32 from the float32 β; Keras computes 1 − β in Python and rounds that, which for β2
# is 1.3e-5 (relative) away. β rounded to float32 gives Keras TF1's very constants.
ADAM_BETA_1 = 0.8999999761581421     # float32(0.9)
ADAM_BETA_2 = 0.9990000128746033     # float32(0.999)
ADAM_EPSILON = 1e-8


def make_optimizer(config, steps, policy="float32"):
    """The release's optimizer: Adam (β1 0.9, β2 0.999, ε 1e-8, with TF1's float32 arithmetic) on
    `learning_rate_schedule(config, steps)`; under "mixed_float16" wrapped in a
    LossScaleOptimizer. Build it in the distribution strategy's scope.

    Checked step for step against the release's TF1 training by tests/test_train_exact.py.
    """
    optimizer = keras.optimizers.Adam(learning_rate_schedule(config, steps), beta_1=ADAM_BETA_1,
                                      beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)
    if policy == "mixed_float16":
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def make_strategy(distribute, worker_timeout=600.0):
    """The tf.distribute strategy for "none", "mirrored" (all local GPUs, or CPUs) or
    "multi_worker" (from TF_CONFIG, once every task is up: `srn_tf.multi_worker.make_strategy`,
    which waits at most `worker_timeout` seconds)."""
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi_worker":
        return multi_worker.make_strategy(worker_timeout)
    if distribute in (None, "none"):
        return tf.distribute.get_strategy()
    raise TrainingError(f"--distribute must be one of {DISTRIBUTE}, got {distribute!r}")


def _check_writable(folder):
    """Raises TrainingError unless `folder` exists and takes files, or could be created."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(f"{existing} is a file")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise TrainingError(f"cannot write the workdir {folder} ({e}); choose another "
                            "--workdir") from e


def data_fingerprint(config, pairs=None):
    """What `config.data` is, however its path is spelled (relative, with a trailing slash,
    through a symlink) and wherever it was moved: for a file source `sources.fingerprint` of its
    pairs (of `config.split`, `config.blur_key`; `pairs` when already listed), for the embedded,
    synthetic and TFDS sources their name (and split other than train); for a mixture each
    source's, with its weight. Raises DataError as `sources.resolve_pairs`."""
    def one(name, listed=None):
        if data.is_builtin(name) or sources.is_tfds(name):
            return (name or "embedded") + (f" ({config.split} split)"
                                           if config.split != "train" else "")
        listed = listed or sources.resolve_pairs(name, config.split, config.blur_key)
        try:
            return sources.fingerprint(listed)
        except OSError as e:
            raise DataError(f"cannot read {e.filename} of --data={name}: {e.strerror}") from e
    mixture = data.parse_mixture(config.data)
    if mixture is None:
        return one(config.data, pairs)
    return ",".join(f"{one(name)}:{weight:g}" for name, weight in mixture)


def _saved_fingerprint(saved, config, fingerprint):
    """The data fingerprint of the run recorded in `saved` (its config.json).

    A config.json written before fingerprints were recorded names its --data only: the same
    spelling is the same data; a path that still exists is fingerprinted now; a file source that
    is gone is taken to be this run's data, moved (said in a warning). One that names no data
    says nothing against this run's.
    """
    if FINGERPRINT_KEY in saved:
        return saved[FINGERPRINT_KEY]
    old = saved.get("data")
    if "data" not in saved or old == config.data:
        return fingerprint
    then = dataclasses.replace(config, data=old, split=saved.get("split", config.split),
                               blur_key=saved.get("blur_key", config.blur_key))
    try:
        return data_fingerprint(then)
    except DataError:
        file_sources = [d for d in (old, config.data)
                        if not (data.parse_mixture(d) or data.is_builtin(d) or sources.is_tfds(d))]
        if len(file_sources) < 2 or os.path.exists(old):
            return "not readable now" if os.path.exists(old) else "not found now"
        log.warning("%s names --data=%s, which is not there any more: resuming on --data=%s, "
                    "taken to be the same data moved", os.path.join(config.workdir, CONFIG_FILE),
                    old, config.data)
        return fingerprint


def write_run_config(config, fingerprint):
    """Writes `config` (resolved) and its data's `fingerprint` to `<workdir>/config.json`: what
    a resumed run is checked against (`_check_workdir`)."""
    write_json(os.path.join(config.workdir, CONFIG_FILE),
               {**dataclasses.asdict(config), FINGERPRINT_KEY: fingerprint,
                BACKEND_KEY: keras.backend.backend()})


def write_json(path, value):
    """`value` as indented JSON at `path`, atomically (`image_io.write_bytes`): a run stopped
    while writing leaves the file whole, old or new."""
    write_bytes(path, json.dumps(value, indent=1).encode())


def save_model_file(model, path):
    """`model.save` to a temporary .keras file beside `path`, renamed into place when complete:
    a run stopped while saving never leaves a half-written model (which would pass for a
    finished run's)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".keras", dir=os.path.dirname(path) or ".")
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _check_workdir(config, fingerprint):
    """Refuses a workdir that cannot be written or holds a run of another model type, or a run
    of other data (by `data_fingerprint`, not by the spelling of its path) or settings
    (RESUME_FIELDS).

    Called before anything is written there. Returns the saved config of an earlier run, or None.
    """
    workdir = config.workdir
    _check_writable(workdir)
    saved_path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.isfile(saved_path):
        if _latest_checkpoint(workdir):
            raise TrainingError(f"{workdir} holds checkpoints but no {CONFIG_FILE}: not a srn-tf "
                                "run; choose another --workdir")
        return None
    with open(saved_path) as f:
        saved = json.load(f)
    if saved.get("model_type") != config.model_type:
        raise TrainingError(
            f"{workdir} holds a run of a '{saved.get('model_type')}' model, not "
            f"'{config.model_type}'; use --model_type={saved.get('model_type')} to resume it, or "
            "another --workdir")
    if not _latest_checkpoint(workdir):
        return saved
    backend = saved.get(BACKEND_KEY, "tensorflow")
    if backend != keras.backend.backend():
        raise TrainingError(f"{workdir} holds a run trained with --backend={backend}, whose "
                            f"checkpoints this backend does not read; resume it with "
                            f"--backend={backend}, or choose another --workdir")
    then = _saved_fingerprint(saved, config, fingerprint)
    if then != fingerprint:
        raise TrainingError(
            f"{workdir} holds a run on other data (its --data={saved.get('data')}: {then}; "
            f"--data={config.data}: {fingerprint}); give the run's data to resume it (any path to "
            "the same files will do: relative, a symlink, a moved copy), or another --workdir")
    differing = [f"--{k}={saved[k]}" for k in RESUME_FIELDS
                 if k in saved and saved[k] != getattr(config, k)]
    if differing:
        raise TrainingError(f"{workdir} holds a run with {' '.join(differing)}; give the same "
                            "to resume it, or another --workdir")
    return saved


def _latest_checkpoint(workdir):
    """The latest training checkpoint in `workdir` of any backend's format, or None."""
    found = ArrayCheckpoints.numbers(workdir)
    if found:
        return found[max(found)]
    return tf.train.latest_checkpoint(workdir) if os.path.isdir(workdir) else None


class _TFCheckpoints:
    """`tf.train.CheckpointManager` of `objects` (model=, optimizer=) with ArrayCheckpoints'
    interface: the TensorFlow loop's state, and what `tf.distribute` saves."""

    def __init__(self, folder, max_to_keep, **objects):
        self._manager = tf.train.CheckpointManager(tf.train.Checkpoint(**objects), folder,
                                                   max_to_keep=max_to_keep)

    @property
    def latest_checkpoint(self):
        return self._manager.latest_checkpoint

    def save(self, checkpoint_number):
        return self._manager.save(checkpoint_number=checkpoint_number)

    def restore(self, path):
        self._manager.checkpoint.restore(path).assert_existing_objects_matched()


def checkpoints(folder, model, optimizer=None, max_to_keep=3):
    """The checkpoints of a run's state in `folder`: on TensorFlow `tf.train.CheckpointManager`
    (`_TFCheckpoints`), on JAX and PyTorch `.npz` files of the Keras variables
    (`srn_tf.train_step.ArrayCheckpoints`). `optimizer` None: the model's weights only."""
    if keras.backend.backend() == "tensorflow":
        objects = {"model": model, **({"optimizer": optimizer} if optimizer else {})}
        return _TFCheckpoints(folder, max_to_keep, **objects)
    variables = list(model.weights) + (list(optimizer.variables) if optimizer else [])
    return ArrayCheckpoints(variables, folder, max_to_keep)


def _set_precision(config):
    if config.mixed_precision:
        # float16 with loss scaling on a GPU under TensorFlow; bfloat16 (no loss scaling) on CPUs
        # and on the other backends, whose step (srn_tf.train_step) has no loss scaling.
        gpu = (keras.backend.backend() == "tensorflow" and
               tf.config.list_physical_devices("GPU"))
        policy = "mixed_float16" if gpu else "mixed_bfloat16"
    else:
        policy = "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


class _StopRequest:
    """Records SIGINT/SIGTERM so the loop can save a checkpoint and stop cleanly."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def evaluate_images(model, examples):
    """Mean PSNR/SSIM of `model` and of the blurry input, with evaluate.py's conventions: the
    network in float32 on Keras (a model under a mixed policy runs as its float32 twin, with its
    current weights).

    `examples`: list of (blur, sharp) uint8 H×W×3 arrays. Metrics and means are
    `srn_tf.metrics`' (PSNR capped at 100 dB, so every image counts; SSIM left out where an image
    is smaller than its window, None when defined for none). Returns a dict of four means.
    """
    results = {"psnr_blurry": [], "ssim_blurry": [], "psnr": [], "ssim": []}
    for blur, sharp in examples:
        # float32 on Keras, whatever the machine or the model's mixed policy: the figures that
        # choose the kept step are srn-evaluate's and do not depend on the CPU or the packages
        restored = deblur(model, blur, precision="float32", runtime="keras")
        results["psnr_blurry"].append(metrics.psnr(sharp, blur))
        results["ssim_blurry"].append(metrics.ssim(sharp, blur))
        results["psnr"].append(metrics.psnr(sharp, restored))
        results["ssim"].append(metrics.ssim(sharp, restored))
    return {k: metrics.mean(v)[0] for k, v in results.items()}


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                             resolver.task_id == 0)


def _num_pairs(config):
    if data.parse_mixture(config.data):
        return None, None
    if config.data and config.data.startswith(sources.TFDS_PREFIX):
        import tensorflow_datasets as tfds
        from srn_tf import gopro_tfds  # noqa: F401
        builder = tfds.builder(config.data[len(sources.TFDS_PREFIX):], data_dir=config.tfds_data_dir)
        return builder.info.splits[config.split].num_examples, None
    pairs = sources.check_pairs(sources.resolve_pairs(config.data, config.split, config.blur_key),
                             config.crop_size)
    return len(pairs), pairs


def _eval_examples(config, count):
    """(up to `count` (blur, sharp) uint8 pairs, held_out): the test split's pairs and True where
    `config.data` has a test split; else its training pairs and False (a folder pair, a data list,
    a GoPro root without test/).

    Raises DataError naming the file when one of them cannot be decoded.
    """
    held_out = sources.has_splits(config.data)
    split = "test" if held_out else config.split
    try:
        ds = data.make_eval_dataset(config.data, split=split, blur_key=config.blur_key,
                                    tfds_data_dir=config.tfds_data_dir)
    except (DataError, ValueError):
        if not held_out:
            raise
        held_out, split = False, config.split
        ds = data.make_eval_dataset(config.data, split=split, blur_key=config.blur_key,
                                    tfds_data_dir=config.tfds_data_dir)
    return _decoded(ds, config.data, split, config.blur_key, count), held_out


def _decoded(ds, source, split, blur_key, count=-1):
    """The first `count` (all: -1) (blur, sharp) uint8 pairs of `ds`, an eval dataset of `split`
    of `source`; a file that cannot be decoded raises DataError naming it."""
    is_tfds = source and source.startswith(sources.TFDS_PREFIX)
    pairs = None if is_tfds else sources.resolve_pairs(source, split, blur_key)
    if pairs is not None and count >= 0:
        pairs = pairs[:count]
    with data.naming_unreadable_files(pairs):
        return [(e["blur"].numpy(), e["sharp"].numpy()) for e in ds.take(count)]


def _validation_examples(config):
    """The validation pairs that choose the model kept: the `val` split of the held-out source
    (for builtin data the embedded validation photos, `srn_tf.embedded.PHOTOS["val"]`), whole.

    Raises TrainingError when --validate_every asks for them and the source has no `val` split.
    """
    source = data.held_out_source(config.data)
    if not sources.has_splits(source):
        raise TrainingError(f"--validate_every={config.validate_every}: {source} is one set of "
                            "pairs (a folder pair or a data list), with no 'val' split to choose "
                            "the model on; use a GoPro-layout root with a val/ folder, or "
                            "--validate_every=0 to keep the last step's model")
    try:
        ds = data.make_eval_dataset(source, split="val", blur_key=config.blur_key,
                                    tfds_data_dir=config.tfds_data_dir)
    except (DataError, ValueError) as e:
        raise TrainingError(f"--validate_every={config.validate_every}: {source} has no 'val' "
                            f"split to choose the model on ({e}); give --validate_every=0 to keep "
                            "the last step's model") from e
    return _decoded(ds, source, "val", config.blur_key)


# How far below the input's a validation PSNR (dB) and SSIM may be and still count as "at least
# the input's": half the last digit printed (0.01 dB, 1e-4). The identity initialisation's output
# is the input within 1.2e-7, but the release's conversion truncates (× 255, rounded down), so one
# grey level is lost on about 1e-4 of the pixels: measured on the embedded validation photos,
# PSNR 1.5e-7 dB below the input's, SSIM 1.7e-6 above.
QUALIFY_TOLERANCE = {"psnr": 0.005, "ssim": 5e-5}


def qualifies(figures):
    """True when a validation's PSNR and SSIM (`evaluate_images`' dict: dB, [−1, 1]) are both at
    least the blurry input's, within `QUALIFY_TOLERANCE` (below the digits printed): the model of
    that step lowers neither on the validation photos. An SSIM that is not defined (None: images
    below its window) asks nothing."""
    ssim, ssim_blurry = figures.get("ssim"), figures.get("ssim_blurry")
    return (figures["psnr"] >= figures["psnr_blurry"] - QUALIFY_TOLERANCE["psnr"] and (
        ssim is None or ssim_blurry is None or ssim >= ssim_blurry - QUALIFY_TOLERANCE["ssim"]))


def validation_verdict(figures, record):
    """Whether the step validated with `figures` replaces the kept one (`record`: its figures and
    "step", None before any), and why, in words for the log and `validation.json`.

    The rule (issue 22): a step qualifies when its PSNR and SSIM are both at least the input's
    (`qualifies`); among qualifying steps the highest PSNR is kept; a qualifying step always
    replaces a step that does not qualify. While no step has qualified (only possible without
    identity initialisation, whose step 0 is the input itself) the highest-PSNR step is kept
    provisionally, and the run says so at the end. Equal PSNR keeps the earlier step.
    Returns (keep: bool, reason: str).
    """
    ok = qualifies(figures)
    ssim = figures.get("ssim")
    measures = (f"PSNR {figures['psnr']:.2f} dB (input {figures['psnr_blurry']:.2f}), SSIM "
                + ("n/a" if ssim is None else
                   f"{ssim:.4f} (input {figures['ssim_blurry']:.4f})"))
    if not ok:
        below = [name for name, ours, theirs in (("PSNR", figures["psnr"], figures["psnr_blurry"]),
                                                 ("SSIM", ssim, figures.get("ssim_blurry")))
                 if ours is not None and theirs is not None and
                 ours < theirs - QUALIFY_TOLERANCE[name.lower()]]
        why = f"{measures}: {' and '.join(below)} below the input's"
    else:
        why = f"{measures}: both at least the input's"
    if record is None:
        return True, why + ("; the first validation: kept" if ok else
                            "; the first validation: kept until a step qualifies")
    then_ok = record.get("qualifies", qualifies(record))
    if ok and not then_ok:
        return True, why + f"; step {record['step']} did not qualify: kept"
    if ok == then_ok and figures["psnr"] > record["psnr"]:
        return True, why + (f"; PSNR above step {record['step']}'s {record['psnr']:.2f}: kept"
                            + ("" if ok else " until a step qualifies"))
    if ok:
        return False, why + (f"; PSNR not above step {record['step']}'s {record['psnr']:.2f}: "
                             "not kept")
    return False, why + (f"; step {record['step']} " +
                         ("qualifies" if then_ok else f"has the higher PSNR {record['psnr']:.2f}")
                         + ": not kept")


class BestOnValidation:
    """Keeps the model of the best validated step (`validation_verdict`: PSNR and SSIM both at
    least the input's, then the highest PSNR): early stopping by model selection (the run goes
    on; the chosen weights are kept aside in `<workdir>/best/`).

    `validate(model, step)` evaluates `examples` (list of (blur, sharp) uint8 arrays) with
    `evaluate_images`, logs them to TensorBoard (`validation/psnr`, …), says in the log whether
    the step is kept and why, appends that to `<workdir>/validation.json` (a list of {step, psnr,
    ssim, psnr_blurry, ssim_blurry, qualifies, kept, reason}, dB and SSIM in [−1, 1]) and saves
    the weights when they are kept; `restore(model)` loads the kept ones. The record
    (`best/best.json`: step, psnr, psnr_blurry, ssim, ssim_blurry, qualifies) and the history
    survive a resume (a step validated again after a resume replaces its earlier entry).
    """

    RECORD = "best.json"
    HISTORY = "validation.json"

    def __init__(self, model, workdir, examples):
        self.examples = examples
        self.folder = os.path.join(workdir, "best")
        self._manager = checkpoints(self.folder, model, max_to_keep=1)
        self._writer = tf.summary.create_file_writer(os.path.join(workdir, "validation"))
        self.record = None
        self._history_path = os.path.join(workdir, self.HISTORY)
        path = os.path.join(self.folder, self.RECORD)
        if self._manager.latest_checkpoint and os.path.isfile(path):
            with open(path) as f:
                self.record = json.load(f)
            self.record.setdefault("qualifies", qualifies(self.record))   # an older best.json
        self.history = []
        if os.path.isfile(self._history_path):
            with open(self._history_path) as f:
                self.history = json.load(f)

    def validate(self, model, step):
        figures = evaluate_images(model, self.examples)
        with self._writer.as_default(step=step):
            for name, value in figures.items():
                if value is not None:
                    tf.summary.scalar(f"validation/{name}", value)
        keep, reason = validation_verdict(figures, self.record)
        log.info("step %d: validation %s", step, reason)
        entry = {"step": step, **figures, "qualifies": qualifies(figures)}
        if keep:
            self._manager.save(checkpoint_number=step)
            self.record = entry
            write_json(os.path.join(self.folder, self.RECORD), self.record)
        self.history = [e for e in self.history if e["step"] != step]
        self.history.append({**entry, "kept": keep, "reason": reason})
        write_json(self._history_path, self.history)
        return figures

    def restore(self):
        """Loads the kept step's weights into the model."""
        self._manager.restore(self._manager.latest_checkpoint)


def _initialise(model, path):
    """Fine-tuning: weights from an original TF1 checkpoint or a .keras file of the same type."""
    from srn_tf.convert import is_tf1_checkpoint, load_tf1_checkpoint
    if is_tf1_checkpoint(path):
        load_tf1_checkpoint(model, path)
        return
    source = load_model(path)
    if model_type_of(source) != model_type_of(model):
        raise TrainingError(f"--init_from {path} is a '{model_type_of(source)}' model, not "
                            f"'{model_type_of(model)}'")
    model.set_weights(source.get_weights())


def _check_backend(config):
    """The options only the TensorFlow loop has, refused up front on JAX and PyTorch; on those,
    TensorFlow is still needed for the data pipeline (tf.data), kept off the GPUs."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    if config.distribute != "none":
        raise TrainingError(f"--distribute={config.distribute} is tf.distribute: it needs "
                            f"--backend=tensorflow; on --backend={backend} training runs on one "
                            "device (leave --distribute out)")
    if config.jit_compile and backend == "torch":
        raise TrainingError("--jit_compile compiles the TensorFlow step (JAX's is always "
                            "compiled); PyTorch's step runs eagerly: leave --jit_compile out")
    tf_module = import_tensorflow(f"--backend={backend} training (its data pipeline is tf.data; "
                                  "the CPU package, tensorflow-cpu, is enough)")
    try:
        tf_module.config.set_visible_devices([], "GPU")   # the GPUs are the backend's
    except RuntimeError:      # TensorFlow already started (an earlier run in this process)
        pass


def train_and_evaluate(config):
    """Trains (or resumes) as `config` says; returns a dict of the final figures and paths.

    One loop on every Keras backend: on TensorFlow the step is `make_train_step` (tf.function,
    tf.distribute, loss scaling) and the state `tf.train.CheckpointManager`'s; on JAX and PyTorch
    the step is `srn_tf.train_step.BackendStep` and the state `.npz` checkpoints
    (`checkpoints`). The data (the same batches for the same seed), recipes, resume, validation,
    logs and the final model are the same code. Every check of the inputs happens before
    anything is written to the workdir.
    """
    config = config.resolved()
    if config.model_type not in TRAINABLE_TYPES:
        raise TrainingError(f"--model_type must be one of {TRAINABLE_TYPES}")
    if config.distribute not in DISTRIBUTE:
        raise TrainingError(f"--distribute must be one of {DISTRIBUTE}, got {config.distribute!r}")
    _check_backend(config)
    on_tensorflow = keras.backend.backend() == "tensorflow"
    if config.distribute == "multi_worker":
        multi_worker.read_tf_config()        # a bad TF_CONFIG is said before any wait
    num_pairs, pairs = _num_pairs(config)
    fingerprint = data_fingerprint(config, pairs)
    saved = _check_workdir(config, fingerprint)
    strategy = make_strategy(config.distribute, config.worker_timeout) if on_tensorflow else None
    replicas = strategy.num_replicas_in_sync if strategy else 1
    if config.batch_size % replicas:
        raise TrainingError(f"--batch_size {config.batch_size} does not divide across "
                            f"{replicas} replicas; use a multiple of {replicas}")
    if saved and saved.get("seed") != config.seed:
        log.warning("resuming with the run's seed %s, not %s", saved["seed"], config.seed)
        config = dataclasses.replace(config, seed=saved["seed"])
    steps = total_steps(config, num_pairs)
    held_out_source = data.held_out_source(config.data)
    eval_examples, held_out = _eval_examples(
        dataclasses.replace(config, data=held_out_source), config.eval_images)
    validation_examples = _validation_examples(config) if config.validate_every else None
    policy = _set_precision(config)
    chief = _is_chief(strategy) if strategy else True
    workdir = config.workdir if chief else tempfile.mkdtemp(prefix="srn_worker_")

    keras.utils.set_random_seed(config.seed)   # the same initial weights for the same seed
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_model(config.model_type)
        try:
            apply_init(model, config.init)
        except ValueError as e:
            raise TrainingError(f"--init={config.init}: {e}") from e
        optimizer = make_optimizer(config, steps, policy)
        optimizer.build(model.trainable_variables)
    manager = checkpoints(workdir, model, optimizer)
    if manager.latest_checkpoint:
        try:
            manager.restore(manager.latest_checkpoint)
        except (tf.errors.OpError if on_tensorflow else OSError, IndexError, ValueError) as e:
            # IndexError: a short read of a TensorFlow checkpoint
            raise CheckpointError(
                f"cannot resume from {manager.latest_checkpoint} (truncated or corrupt "
                f"checkpoint?): {getattr(e, 'message', e)}. Remove its files to resume from an "
                "earlier checkpoint, or choose another --workdir") from e
        log.info("resumed from %s", manager.latest_checkpoint)
    elif config.init_from:
        _initialise(model, config.init_from)   # a bad file fails before the workdir is written
        log.info("initialised from %s", config.init_from)
    os.makedirs(workdir, exist_ok=True)
    if chief:
        write_run_config(config, fingerprint)
    start_step = int(keras.ops.convert_to_numpy(optimizer.iterations))
    if not held_out:     # said once every check has passed
        log.warning("%s has no test split: the PSNR/SSIM reported are on training pairs, not "
                    "held-out figures", held_out_source)
    selection = (BestOnValidation(model, workdir, validation_examples)
                 if validation_examples and chief else None)

    def dataset(num_shards=1, shard_index=0, per_replica=config.batch_size):
        ds = data.make_train_dataset(
            pairs or config.data, crop_size=config.crop_size, batch_size=config.batch_size,
            model_type=config.model_type, seed=config.seed, split=config.split,
            blur_key=config.blur_key, augment=config.augment,
            crops_per_image=config.crops_per_image, cache=config.cache, start_step=start_step,
            num_shards=num_shards, shard_index=shard_index, tfds_data_dir=config.tfds_data_dir)
        return ds.unbatch().batch(per_replica, drop_remainder=True)

    if on_tensorflow:
        iterator = iter(strategy.distribute_datasets_from_function(
            lambda context: dataset(context.num_input_pipelines, context.input_pipeline_id,
                                    context.get_per_replica_batch_size(config.batch_size))))
        step_fn = make_train_step(model, optimizer, strategy, config)
        stop_agreed = multi_worker.stop_agreement(strategy)
    else:
        iterator = dataset().as_numpy_iterator()
        step_fn = backend_train_step(model, optimizer, config)
        stop_agreed = bool
    return _loop(config, model, optimizer, manager, iterator, step_fn, steps, start_step,
                 eval_examples, held_out, workdir, chief, pairs, selection, stop_agreed)


def backend_train_step(model, optimizer, config):
    """`make_train_step`'s counterpart on JAX and PyTorch: (numpy iterator of (blur, sharp)
    batches) → (total loss, [3 per-level losses], first blurry/output/sharp images), float32,
    one `srn_tf.train_step.BackendStep` a call."""
    step = BackendStep(model, optimizer, config.clip_lstm_grad_norm)

    def step_fn(iterator):
        blur, sharp = next(iterator)
        total, levels, finest = step(blur, sharp)
        return total, levels, (blur[:3], finest[:3], sharp[:3])
    return step_fn


def clip_lstm_gradients(grads, mask, clip_norm, loss_scale=1.0, replicas=1):
    """The release's `--clip_lstm_grad_norm`: the ConvLSTM's gradients (where `mask` is True)
    clipped together to global norm `clip_norm`, the others unchanged. Gradients of a loss
    multiplied by `loss_scale` (mixed_float16's loss scaling) are clipped as their unscaled values
    would be: to `clip_norm × loss_scale`. With `replicas` > 1 (called in a replica context; each
    replica holds its share of the global batch's gradient, which the optimizer sums) the ConvLSTM's
    shares are summed across replicas first, so that the norm clipped is the whole batch's as on one
    device, and each replica returns 1/replicas of the clipped sum."""
    lstm = [g for g, m in zip(grads, mask) if m]
    if replicas > 1:
        lstm = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, lstm)
    clipped = tf.clip_by_global_norm(lstm, clip_norm * loss_scale)[0]
    clipped = iter([g / replicas for g in clipped] if replicas > 1 else clipped)
    return [next(clipped) if m else g for g, m in zip(grads, mask)]


def make_train_step(model, optimizer, strategy, config):
    """A `tf.function` (iterator) → (total loss, [3 per-level losses], first blurry/output/sharp
    images of replica 0), all float32, losses averaged over the global batch."""
    replicas = strategy.num_replicas_in_sync
    mask = lstm_mask(model)
    scale = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)

    @tf.function(jit_compile=config.jit_compile)
    def gradients(blur, sharp):
        with tf.GradientTape() as tape:
            outputs = as_levels(model(blur, training=True))
            total, levels = multiscale_l2(sharp, outputs)
            scaled = total / replicas            # gradients are summed across replicas
            if scale:
                scaled = optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, model.trainable_variables)
        return total, levels, tf.cast(outputs[-1], tf.float32), grads

    def replica_step(blur, sharp):
        total, levels, finest, grads = gradients(blur, sharp)
        if config.clip_lstm_grad_norm and any(mask):
            grads = clip_lstm_gradients(grads, mask, config.clip_lstm_grad_norm,
                                        optimizer.dynamic_scale if scale else 1.0, replicas)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return total, levels, blur[:3], finest[:3], sharp[:3]

    @tf.function
    def train_step(iterator):
        blur, sharp = next(iterator)
        total, levels, *images = strategy.run(replica_step, args=(blur, sharp))
        mean = tf.distribute.ReduceOp.MEAN
        total = strategy.reduce(mean, total, axis=None)
        levels = [strategy.reduce(mean, level, axis=None) for level in levels]
        images = [strategy.experimental_local_results(image)[0] for image in images]
        return total, levels, images

    return train_step


def _loop(config, model, optimizer, manager, iterator, step_fn, steps, start_step, eval_examples,
          held_out, workdir, chief, pairs, selection, stop_agreed):
    from tqdm import tqdm
    writer = tf.summary.create_file_writer(os.path.join(workdir, "train"))
    eval_writer = tf.summary.create_file_writer(os.path.join(workdir, "eval"))
    schedule = learning_rate_schedule(config, steps)   # for display; the optimizer has its own
    step = start_step
    stopped_by = None
    bar = tqdm(total=steps, initial=start_step, unit="step", dynamic_ncols=True,
               disable=not chief, mininterval=2.0)
    last_time, last_step = time.perf_counter(), step
    if selection and selection.record is None:
        selection.validate(model, step)      # the start: identity initialisation is the input
    with _StopRequest() as stop, data.naming_unreadable_files(pairs):
        while step < steps:
            total, levels, images = step_fn(iterator)
            total_value = float(total)
            if not math.isfinite(total_value):
                raise TrainingError(
                    f"the loss became {total_value} at step {step + 1}; the weights of that step "
                    f"were not saved. The latest checkpoint stays {manager.latest_checkpoint}. "
                    "Lower --learning_rate, or check the data")
            step += 1
            lr = float(schedule(step - 1))
            now = time.perf_counter()
            if now - last_time > 1.0 or step == steps:
                rate = (step - last_step) * config.batch_size / (now - last_time)
                last_time, last_step = now, step
                bar.set_postfix_str(
                    f"loss {total_value:.4f} (" + " ".join(f"{float(l):.4f}" for l in levels) +
                    f") lr {lr:.2e} {rate:.1f} ex/s", refresh=False)
            bar.update(1)
            if step % config.summary_every == 0 and chief:
                with writer.as_default(step=step):
                    tf.summary.scalar("loss/total", total_value)
                    for i, level in enumerate(levels):
                        tf.summary.scalar(f"loss/level{i}", float(level))
                    tf.summary.scalar("learning_rate", lr)
                    for name, image in zip(("blur", "output", "sharp"), images):
                        tf.summary.image(name, tf.clip_by_value(image, 0, 1), max_outputs=3)
            if step % config.checkpoint_every == 0:
                manager.save(checkpoint_number=step)
            if step % config.eval_every == 0 and step < steps and chief:
                _log_eval(eval_writer, step, evaluate_images(model, eval_examples), held_out)
            if selection and (step % config.validate_every == 0 or step == steps):
                selection.validate(model, step)
            if stop_agreed(stop.signal is not None):   # every worker stops after the same step
                stopped_by = stop.signal or "another worker's stop"
                break
    bar.close()
    latest = manager.latest_checkpoint
    if latest is None or not (latest.endswith(f"-{step}") or
                              latest.endswith(f"-{step}{ArrayCheckpoints.SUFFIX}")):
        manager.save(checkpoint_number=step)
    result = {"step": step, "steps": steps, "workdir": workdir, "stopped_by": stopped_by}
    if stopped_by:      # the caller says so (train.py: "stopped by … run the same command")
        return result
    if selection and selection.record["step"] != step:
        last = evaluate_images(rebuild(model), eval_examples)
        result["psnr_last_step"] = last["psnr"]
        _log_eval(eval_writer, step, last, held_out)
        log.info("keeping the model of step %d (%s); the last step's is in the checkpoints",
                 selection.record["step"], "PSNR and SSIM at least the input's, the highest PSNR "
                 "of those" if selection.record["qualifies"] else "no step had both PSNR and SSIM "
                 "at least the input's: the highest validation PSNR")
        selection.restore()
    if selection:
        result["selected_step"] = selection.record["step"]
        result["validation"] = selection.record
    final = rebuild(model)          # float32: what is saved and exported after mixed precision
    result.update(evaluate_images(final, eval_examples))
    result["eval_images"] = len(eval_examples)   # may be fewer than config.eval_images
    result["held_out"] = held_out                 # False: the figures are on training pairs
    if chief:
        if "psnr_last_step" not in result:      # else the TensorBoard point is the last step's
            _log_eval(eval_writer, step, {k: result[k] for k in ("psnr", "ssim", "psnr_blurry",
                                                                 "ssim_blurry")}, held_out)
        result["keras_path"] = os.path.join(workdir, RUN_MODEL_FILE)
        save_model_file(final, result["keras_path"])
        if config.export_saved_model and keras.backend.backend() != "tensorflow":
            log.info("no SavedModel on --backend=%s (a TensorFlow graph): srn-export writes one "
                     "from %s", keras.backend.backend(), result["keras_path"])
        elif config.export_saved_model:
            from srn_tf import export   # (TensorFlow graphs: imported when used)
            result["saved_model"] = export.export(final, os.path.join(workdir, "saved_model"),
                                                  weights_source=os.path.abspath(workdir))
    return result


def eval_label(held_out):
    """How the figures of `evaluate_images` on the run's evaluation pairs are named: "held-out"
    for a test split, "training-pair" where the data has none (`result["held_out"]`)."""
    return "held-out" if held_out else "training-pair"


def _log_eval(writer, step, figures, held_out):
    log.info("step %d: %s PSNR %.2f dB (blurry %.2f), SSIM %s (blurry %s)", step,
             eval_label(held_out), figures["psnr"], figures["psnr_blurry"],
             *("n/a" if figures[k] is None else f"{figures[k]:.4f}"
               for k in ("ssim", "ssim_blurry")))
    with writer.as_default(step=step):
        for name, value in figures.items():
            if value is not None:   # SSIM is not defined for images below its window
                tf.summary.scalar(f"eval/{name}", value)


if __name__ == "__main__":   # python -m srn_tf.train_lib: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.train_lib"))
