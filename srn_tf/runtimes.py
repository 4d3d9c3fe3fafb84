"""The runtimes `srn_tf.deblur(..., runtime=...)` and `deblur.py --runtime=` run the network on.

  tensorflow   (default) the Keras model as one compiled tf.function (`srn_tf.inference`):
               exact (bit-identical to the SavedModel export), float32 or bfloat16, XLA.
  openvino     OpenVINO's CPU plugin, inference precision hint "f32" or "bf16" (`precision=`).
  onnxruntime  ONNX Runtime's CPU execution provider, float32 only.

For openvino and onnxruntime the network (`srn_tf.inference.finest_function`: float32 images in
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

RUNTIMES = ("tensorflow", "openvino", "onnxruntime")
ONNX_OPSET = 17
_OPENVINO_PRECISION = {"float32": "f32", "bfloat16": "bf16"}   # INFERENCE_PRECISION_HINT


def check_runtime(runtime, precision="float32", jit_compile=False):
    """Checks that `runtime` can run with these options before any work.

    Raises ValueError (one sentence naming the command-line flags) for an unknown runtime, for
    jit_compile (XLA is TensorFlow's) or bfloat16 on onnxruntime; ImportError (one sentence with
    the pip command) when the runtime's package or tf2onnx is not installed.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime={runtime}: choose one of {', '.join(RUNTIMES)}")
    if runtime == "tensorflow":
        return
    if jit_compile:
        raise ValueError(f"--jit_compile compiles TensorFlow's graph with XLA; leave it out with "
                         f"--runtime={runtime}")
    if runtime == "onnxruntime" and precision != "float32":
        raise ValueError(f"--runtime=onnxruntime runs float32 only, not --precision={precision}; "
                         "for bfloat16 use --runtime=openvino or --runtime=tensorflow")
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
