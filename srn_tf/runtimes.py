"""The runtimes `srn_tf.deblur(..., runtime=...)` and `deblur.py --runtime=` run the network on,
and the automatic choice of runtime and precision (`choose`).

  keras        the Keras model on Keras's backend (`srn_tf.inference`): on TensorFlow
               one compiled tf.function (bit-identical to the SavedModel export), on JAX
               `jax.jit`, on PyTorch eager under inference mode; float32 or bfloat16; XLA
               (`jit_compile`) on TensorFlow, always on JAX, not on PyTorch.
  openvino     OpenVINO's CPU plugin, inference precision hint "f32" or "bf16" (`precision=`).
  onnxruntime  ONNX Runtime's CPU execution provider, float32 only.

openvino and onnxruntime need Keras's TensorFlow backend: the network
(`srn_tf.tf_graph.finest_function`: float32 images in
[0, 1] → the finest level) is converted to ONNX in memory with tf2onnx (`onnx_proto`, opset 17,
the converter of `srn_tf.export`'s ONNX files too: the release's resize becomes `Resize` with
coordinate_transformation_mode "asymmetric"), and compiled once per model, runtime and precision
with dynamic N, H, W (`srn_tf.inference.tile_restorer` caches it while the model lives). The
tiling, the blend and the conversion to integers are the TensorFlow path's (`blend_tiles`), so
memory stays bounded the same way; the results differ from TensorFlow's only by the runtimes'
float rounding (a grey level on a few pixels in 100,000, tests/test_runtimes.py).
The conversion costs about 10 s and a peak of about 2 GiB more memory (tf2onnx; 2-core AMD
EPYC, TensorFlow 2.21), so it is paid once per weights: the ONNX model is kept on disk
(`cached_onnx`, keyed by the weights' content and the versions of srn-tf, TensorFlow and tf2onnx),
and OpenVINO keeps its compiled model there too (its own `CACHE_DIR`, keyed by OpenVINO's
version and the precision). The packages (openvino, onnxruntime, tf2onnx) are imported only when
such a runtime is used.
"""

import dataclasses
import functools
import gc
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import tempfile

from srn_tf import hardware
from srn_tf.backend import BACKENDS, BackendError, current_backend, require_tensorflow_backend

log = logging.getLogger(__name__)

RUNTIMES = ("keras", "openvino", "onnxruntime")
AUTO = "auto"   # runtime= / precision=: chosen by `choose` for this machine
ONNX_OPSET = 17
# What the cached ONNX files hold, part of their key: 2, the float32 graph of finest_level
# (`srn_tf.inference.tile_restorer` converts a model's float32 twin). Version 1 converted a
# mixed-policy model as it was, a graph OpenVINO refuses ("Element types ... do not match"); its
# entries, keyed without this, are never read again.
ONNX_GRAPH = 2
_OPENVINO_PRECISION = {"float32": "f32", "bfloat16": "bf16"}   # INFERENCE_PRECISION_HINT


def check_runtime(runtime, precision="float32", jit_compile=False):
    """Checks that `runtime` can run with these options before any work.

    Raises ValueError (one sentence naming the command-line flags) for an unknown runtime, for
    jit_compile (XLA: TensorFlow's and JAX's) on PyTorch or another runtime, or bfloat16 on
    onnxruntime; BackendError (a ValueError) for a Keras backend srn-tf does not run on, or
    openvino/onnxruntime off the TensorFlow backend; ImportError (one sentence with the pip
    command) when the runtime's package or tf2onnx is not installed.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime={runtime}: choose one of {', '.join(RUNTIMES)}")
    backend = current_backend()
    if backend not in BACKENDS:
        raise BackendError(f"srn-tf runs on Keras's {', '.join(BACKENDS)} backends, not "
                           f"{backend}: set --backend or KERAS_BACKEND")
    if runtime == "keras":
        if jit_compile and backend == "torch":
            raise ValueError("--jit_compile compiles with XLA (TensorFlow and JAX); leave it out "
                             "with --backend=torch")
        return
    require_tensorflow_backend(f"--runtime={runtime}", "the network is converted to ONNX from a "
                               "TensorFlow graph; run with --backend=tensorflow")
    if jit_compile:
        raise ValueError(f"--jit_compile compiles TensorFlow's graph with XLA; leave it out with "
                         f"--runtime={runtime}")
    if runtime == "onnxruntime" and precision != "float32":
        raise ValueError(f"--runtime=onnxruntime runs float32 only, not --precision={precision}; "
                         "for bfloat16 use --runtime=openvino or --runtime=keras")
    for package in (runtime, "tf2onnx"):
        if importlib.util.find_spec(package) is None:
            raise ImportError(f"--runtime={runtime} needs the Python package {package}, which is "
                              f"not installed: python -m pip install {package} (or python -m pip "
                              "install -r requirements.txt)", name=package)


@dataclasses.dataclass(frozen=True)
class Choice:
    """How the network runs: `runtime` and `precision` (never "auto"), and `how`: one clause
    saying why (chosen for this CPU, or as asked)."""
    runtime: str
    precision: str
    how: str

    def __str__(self):
        backend = current_backend()
        on = f"keras ({_BACKEND_NAMES.get(backend, backend)})" if self.runtime == "keras" \
            else self.runtime
        return f"network: {self.precision} on {on}, {self.how}"


_BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
EXACT = "--precision=float32 --runtime=keras is the release's exact path"


def choose(runtime=AUTO, precision=AUTO, jit_compile=False, keras_only=False, defaults=()):
    """The runtime and precision `srn_tf.deblur` and the commands use: what was asked, and for
    "auto" the fastest accurate path on this machine (docs/speed.md has the measurements):

      precision  bfloat16 where the CPU computes it natively (`hardware.native_bfloat16`:
                 AVX-512-BF16 or AMX; within 0.05 dB and 0.001 SSIM of float32 on held-out
                 photos, benchmarks/inference.py), float32 elsewhere (bfloat16 is emulated there, and
                 slower), on accelerators (not measured) and on onnxruntime (float32 only);
      runtime    openvino for bfloat16 on a CPU with AMX (1.31 against 1.55 s per 720p image
                 for keras on a 2-core Xeon, docs/speed.md, 2026-12-08), when the Keras backend is TensorFlow and openvino
                 and tf2onnx are installed; keras everywhere else (with AVX-512-BF16 and no AMX
                 both ran 720p in the same time, and keras needs no conversion; in float32 keras
                 was the fastest; on JAX and PyTorch it is the backend itself).

    jit_compile and keras_only (`--temporal_state`) keep the runtime keras. `defaults` names the
    arguments ("precision", "runtime") whose value is a command's default rather than the user's
    (srn-evaluate's float32): the line says so instead of "as asked". Returns a `Choice`;
    logs it at INFO the first time in a process. Raises ValueError / ImportError as
    `check_runtime` for an asked combination that cannot run.
    """
    if runtime not in RUNTIMES + (AUTO,):
        raise ValueError(f"--runtime={runtime}: choose one of {', '.join(RUNTIMES + (AUTO,))}")
    backend = current_backend()
    cpu = not _accelerator(backend)
    asked = {name: value for name, value in (("precision", precision), ("runtime", runtime))
             if value != AUTO}
    if precision == AUTO:
        precision = ("bfloat16" if cpu and runtime != "onnxruntime" and hardware.native_bfloat16()
                     else "float32")
    if runtime == AUTO:
        runtime = ("openvino" if precision == "bfloat16" and hardware.has_amx() and cpu
                   and backend == "tensorflow" and not (jit_compile or keras_only)
                   and _installed("openvino", "tf2onnx") else "keras")
    check_runtime(runtime, precision, jit_compile)
    flags = hardware.cpu_flags()
    present = [f for f in hardware.BFLOAT16_FLAGS if f in flags]
    missing = [f for f in hardware.BFLOAT16_FLAGS if f not in flags]
    isa = ", ".join(present + ([f"no {' or '.join(missing)}"] if missing else []))
    machine = f"this CPU ({isa})" if cpu else "an accelerator (the fast paths are CPU measurements)"
    if len(asked) == 2 and not defaults:
        how = "as asked"
    elif asked:
        how = ", ".join(f"--{name}={value} " + ("(this command's default)" if name in defaults
                                                 else "as asked")
                        for name, value in asked.items())
        if len(asked) == 1:
            how += f", the {'runtime' if 'precision' in asked else 'precision'} chosen for {machine}"
    else:
        how = f"the fastest accurate path for {machine}"
    if (runtime, precision) != ("keras", "float32"):
        how += f"; {EXACT}"
    choice = Choice(runtime, precision, how)
    if choice not in _logged:
        _logged.add(choice)
        log.info("%s", choice)
    return choice


_logged = set()


def _installed(*packages):
    return all(importlib.util.find_spec(p) is not None for p in packages)


@functools.lru_cache(maxsize=None)
def _accelerator(backend):
    """True when Keras's backend runs on a GPU or another accelerator (only a loaded framework is
    asked: before it is imported the answer is False, the CPU)."""
    if backend == "tensorflow" and "tensorflow" in sys.modules:
        return bool(sys.modules["tensorflow"].config.list_logical_devices("GPU"))
    if backend == "jax" and "jax" in sys.modules:
        return sys.modules["jax"].default_backend() != "cpu"
    if backend == "torch" and "torch" in sys.modules:
        return sys.modules["torch"].cuda.is_available()
    return False


CACHE_ENV = "SRN_TF_CACHE"   # where converted models are kept, if set
CACHE_ENTRIES = 8            # converted models kept; the least recently used go first


def cache_dir():
    """Where srn-tf keeps converted models: `$SRN_TF_CACHE`, else `$XDG_CACHE_HOME/srn_tf`, by
    default `~/.cache/srn_tf`."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache"))
    return os.path.join(cache, "srn_tf")


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def weights_key(model, *parts):
    """A hex digest of the model's weights (names, shapes, dtypes and values) and `parts`."""
    digest = hashlib.sha256(repr(parts).encode())
    for variable in model.weights:
        value = variable.numpy()
        digest.update(f"{variable.path}:{value.shape}:{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:32]


def _prune(folder, keep):
    entries = sorted((os.path.join(folder, n) for n in os.listdir(folder)
                      if not n.startswith(".")), key=os.path.getmtime, reverse=True)
    for path in entries[keep:]:
        try:
            os.remove(path)
        except OSError:
            pass


def cached_onnx(model, convert):
    """The serialized ONNX model of `model`: read from the cache, else `convert()` (→ bytes),
    written to the cache atomically (a temporary file renamed into place, so a reader never sees
    a partial file and concurrent processes agree) and returned.

    The key is the weights' content (`weights_key`) with the versions of srn-tf, TensorFlow,
    tf2onnx, the opset and the graph (`ONNX_GRAPH`), and the layers' dtype policies: other
    weights, another precision, or a new converter make a new entry. A cache that
    cannot be written (read-only home, full disk) only costs the conversion next time.
    """
    from srn_tf import __version__
    key = weights_key(model, __version__, _version("tensorflow"), _version("tf2onnx"),
                      ONNX_OPSET, ONNX_GRAPH, sorted({layer.dtype_policy.name
                                                      for layer in model.layers}))
    folder = os.path.join(cache_dir(), "onnx")
    path = os.path.join(folder, f"{key}.onnx")
    try:
        with open(path, "rb") as f:
            data = f.read()
        os.utime(path)                      # recently used: kept by _prune
        return data
    except OSError:
        pass
    data = convert()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _prune(folder, CACHE_ENTRIES)
    except OSError:
        if "tmp" in locals() and os.path.exists(tmp):
            os.remove(tmp)
    return data


def onnx_proto(function):
    """An onnx.ModelProto (opset 17) of a tf.function with an input_signature, by tf2onnx.

    Memory: tf2onnx peaks at about 2 GiB above the process for SRN's network (measured with
    TensorFlow 2.21, tf2onnx 1.17) and leaves about 1 GiB of its graph in reference cycles,
    collected here rather than at Python's next full collection.
    """
    import tf2onnx
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature,
                                             opset=ONNX_OPSET)
    gc.collect()
    return proto


def compile_onnx(model_bytes, runtime, precision="float32"):
    """A serialized ONNX model with one input and one output, compiled for the CPU on `runtime`.

    runtime: "openvino" (precision "float32" → hint f32, "bfloat16" → bf16) or "onnxruntime"
    (float32 only). Returns run(x) → the output as a new, writable numpy array, for x a float32
    array of any shape the model takes (dynamic dimensions stay dynamic).
    """
    check_runtime(runtime, precision)
    if runtime == "openvino":
        import openvino
        core = openvino.Core()
        blobs = os.path.join(cache_dir(), "openvino")
        try:   # OpenVINO's own cache of compiled models, keyed by its version and the hint
            os.makedirs(blobs, exist_ok=True)
            core.set_property({"CACHE_DIR": blobs})
        except OSError:
            blobs = None
        compiled = core.compile_model(core.read_model(model_bytes, b""), "CPU", {
            "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[precision]})
        if blobs:
            _prune(blobs, 2 * CACHE_ENTRIES)
        request, output = compiled.create_infer_request(), compiled.output(0)
        return lambda x: request.infer({0: x})[output]     # infer copies the output out
    import onnxruntime
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]
