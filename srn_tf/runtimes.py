"""The runtimes `srn_tf.deblur(..., runtime=...)` and `deblur.py --runtime=` run the network on.

  keras        (default) the Keras model on Keras's backend (`srn_tf.inference`): on TensorFlow
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
The conversion is paid once per process and model: about 10 s and a peak of about 2 GiB more
memory (tf2onnx; 2-core AMD EPYC, TensorFlow 2.21) before the first image.
The packages (openvino, onnxruntime, tf2onnx) are imported only when such a runtime is used.
"""

import gc
import importlib.util

from srn_tf.backend import BACKENDS, BackendError, current_backend, require_tensorflow_backend

RUNTIMES = ("keras", "openvino", "onnxruntime")
ONNX_OPSET = 17
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
        compiled = core.compile_model(core.read_model(model_bytes, b""), "CPU", {
            "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[precision]})
        request, output = compiled.create_infer_request(), compiled.output(0)
        return lambda x: request.infer({0: x})[output]     # infer copies the output out
    import onnxruntime
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]
