"""Deblurring whole images of any size with a model from `build_srn`, as the release tested, on
any Keras backend.

`deblur(model, image)` pads to multiples of 16 (edge padding at the bottom and right), runs the
model, keeps the finest level, clips it to [0, 1] and converts back the way the release did (×
max value, then truncate): `srn_tf.restore`, written once with `keras.ops`. Images larger than a
memory budget are processed in overlapping tiles blended with weights that sum to one, from a
Python loop that writes finished pixels straight into the result (`srn_tf.tiling.blend_tiles`),
so memory stays bounded at any size.

Only the per-tile call of the network is backend-specific (`tile_restorer`):
  TensorFlow  one `tf.function` traced once for any size (`srn_tf.tf_graph.compiled_restore`),
              the same graph as the SavedModel export's, so both give bit-identical results;
              `jit_compile` compiles it with XLA;
  JAX         `jax.jit` of the test path with the weights as arguments (compiled once per tile
              shape; `jit_compile` changes nothing: it is always XLA);
  PyTorch     the test path run eagerly under `torch.inference_mode()`.
Options run the network in bfloat16 (every backend), or, on the TensorFlow backend, on OpenVINO
or ONNX Runtime (`srn_tf.runtimes`) with the same tiling.
"""

import keras
import numpy as np

from srn_tf import runtimes
from srn_tf.image_io import split_alpha
from srn_tf.model import image_channels, model_type_of
from srn_tf.restore import compiled_for, finest_level, inference_model, sync_twins
from srn_tf.tiling import (DEFAULT_MEMORY_BUDGET, DEFAULT_OVERLAP, blend_tiles, check_tiling,
                           plan_tiles)


def tile_restorer(model, dtype=np.uint8, precision="auto", jit_compile=False, runtime="auto"):
    """What `blend_tiles` runs per tile, on `runtime` in `precision` ("auto": chosen for this
    machine by `srn_tf.runtimes.choose`).

    Returns f(uint8/uint16 array [N, h, w, C] of `dtype`) → a new, writable float32 array
    [N, h, w, C] in [0, 1]: ÷ the dtype's max value, the network's finest level, clipped.
    keras: the Keras model on Keras's backend (see the module docstring), compiled once per
    (model, dtype, precision, jit_compile) and cached while the model lives. openvino,
    onnxruntime (TensorFlow backend): `srn_tf.tf_graph.finest_function` converted to ONNX once
    per model and weights, and compiled once per (runtime, precision) (`_converted`).
    Raises ValueError / ImportError as `srn_tf.runtimes.check_runtime`.
    """
    choice = runtimes.choose(runtime, precision, jit_compile)
    runtime, precision = choice.runtime, choice.precision
    backend = keras.backend.backend()
    sync_twins(model)
    if runtime == "keras" and backend == "tensorflow":
        from srn_tf import tf_graph
        return tf_graph.tile_function(model, dtype, precision, jit_compile)
    if runtime == "keras":
        functions, key = compiled_for(model), (runtime, backend, precision)
        if key not in functions:
            functions[key] = _network_on_backend(model, precision, backend)
        finest = functions[key]
    else:
        finest = _converted(model, runtime, precision)
    scale = np.float32(np.iinfo(dtype).max)

    def restore(tile):
        restored = finest(np.divide(tile, scale, dtype=np.float32))   # as restore.to_unit_range
        return np.clip(restored, 0.0, 1.0, out=restored)
    return restore


def _converted(model, runtime, precision):
    """`model`'s network compiled by `runtime` (openvino, onnxruntime) in `precision`: converted
    to ONNX (`runtimes.cached_onnx`, from its float32 twin whatever its policy) and compiled once
    per (runtime, precision) while its weights stay as they are; the conversion holds them as
    constants, so changed weights are converted again."""
    functions = compiled_for(model)
    weights = runtimes.weights_key(model)
    conversion = functions.get("onnx")
    if conversion is None or conversion["weights"] != weights:
        from srn_tf import tf_graph
        net = inference_model(model, "float32")   # a float32 graph, whatever the policy
        conversion = functions["onnx"] = {"weights": weights, "onnx": runtimes.cached_onnx(
            net, lambda: runtimes.onnx_proto(tf_graph.finest_function(net)).SerializeToString())}
    if (runtime, precision) not in conversion:
        conversion[runtime, precision] = runtimes.compile_onnx(conversion["onnx"], runtime,
                                                               precision)
    return conversion[runtime, precision]


def _network_on_backend(model, precision, backend):
    """f(float32 numpy [N, h, w, C] in [0, 1]) → a new, writable float32 numpy array, the finest
    level (`srn_tf.restore.finest_level`, not clipped) of `model` in `precision`: `jax.jit` on
    JAX, `torch.inference_mode()` on PyTorch."""
    net, model_type = inference_model(model, precision), model_type_of(model)
    if backend == "jax":
        import jax

        def stateless(values, images):   # the weights as arguments, not constants of the graph
            with keras.StatelessScope(state_mapping=list(zip(net.variables, values))):
                return finest_level(net, images, model_type)
        jitted = jax.jit(stateless)
        return lambda images: np.array(jitted([v.value for v in net.variables], images))
    if backend == "torch":
        import torch

        def eager(images):
            with torch.inference_mode():
                finest = finest_level(net, keras.ops.convert_to_tensor(images), model_type)
                return np.array(keras.ops.convert_to_numpy(finest))
        return eager
    raise AssertionError(f"runtimes.check_runtime lets no {backend} backend through")


def check_image(image):
    """Checks an image array; returns it as H×W×C with C in 1..4 (uint8 or uint16).

    Accepts uint8 or uint16, H×W, H×W×1 (grey), H×W×2 (grey + alpha), H×W×3 (RGB) or H×W×4
    (RGBA). Raises ValueError otherwise.
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected a uint8 or uint16 image, got dtype {image.dtype}; convert "
                         "float images with e.g. (img * 255).astype(np.uint8)")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an H×W, H×W×1, H×W×2, H×W×3 or H×W×4 image with H, W ≥ 1, "
                         f"got shape {image.shape}")
    return image


def deblur_batch(model, images, *, tile=None, overlap=DEFAULT_OVERLAP, precision="auto",
                 jit_compile=False, memory_budget=DEFAULT_MEMORY_BUDGET, progress=None,
                 runtime="auto"):
    """Deblurs a batch of same-size images: uint8/uint16 [N, H, W, C] → same dtype and shape.

    C is 3 (or 1 for gray/lstm models). Options as in `deblur`; the memory budget is shared by the
    batch. One call of the compiled network per tile (`blend_tiles`).
    """
    images = np.asarray(images)
    check_tiling(tile, overlap, memory_budget)
    restore = tile_restorer(model, images.dtype, precision, jit_compile, runtime)
    if tile is None:
        tile_size = plan_tiles(images.shape[1], images.shape[2],
                               memory_budget // max(1, len(images)), overlap)
    else:
        tile_size = (tile, tile) if np.isscalar(tile) else tuple(tile)
    return blend_tiles(restore, images, tile_size, overlap, progress)


def deblur(model, image, **options):
    """Deblurs one image of any size ≥ 1×1 with a model from `build_srn`.

    Args:
      model: keras.Model from `build_srn` (or loaded with `srn_tf.load_model`).
      image: uint8 or uint16 array, H×W (grayscale), H×W×1, H×W×2 (grey + alpha), H×W×3 (RGB)
        or H×W×4 (RGBA). The colour is deblurred and an alpha channel returned unchanged. A
        grayscale image given to a color model is replicated to RGB and the result averaged back
        to one channel.
      options:
        tile: None: chosen from `memory_budget` (whole image when it fits); 0: whole image;
          an int or (height, width): tiles of that size (multiples of 16) overlapping by `overlap`
          (default 128).
        precision: "auto" (default: bfloat16 where the CPU computes it natively, AVX-512-BF16 or
          AMX, else float32; `srn_tf.runtimes.choose`, which logs its choice at INFO once per
          process and returns it for a caller to print), "float32" (the release's exact path) or
          "bfloat16" (resizes, the ConvLSTM and the output stay float32), on every backend.
        jit_compile: compile the network with XLA (TensorFlow; JAX always does; not PyTorch).
        memory_budget: bytes of activations allowed when `tile` is None (default: a 720p image's).
        progress: None, or a callable progress(done, total) called after each tile with the
          tiles deblurred so far and in all (ints; total is 1 for an image that runs whole).
        runtime: "auto" (default: openvino for bfloat16 on CPUs with AMX where it is installed
          and the backend is TensorFlow, else keras; `srn_tf.runtimes.choose`), "keras" (the
          model on Keras's backend, TensorFlow, JAX or PyTorch), "openvino" (float32 or
          bfloat16) or "onnxruntime" (float32), the last two on the TensorFlow backend: what runs
          the network on each tile (`srn_tf.runtimes`); the tiling is the same. The other
          runtimes convert the model to ONNX once per weights (seconds; cached on disk) and
          agree with TensorFlow within a grey level on a few pixels in 100,000.
        The defaults stay within 0.05 dB and 0.001 SSIM of float32 on held-out photos with trained
        weights (`benchmarks/inference.py --accuracy_weights`, docs/speed.md); pass
        precision="float32", runtime="keras" for the release's exact results.
    Returns:
      The deblurred image: same dtype and shape as `image` (alpha, if any, as it was).
    Raises:
      ValueError for an unusable image or option (`check_image`, `check_tiling`,
      `srn_tf.runtimes.check_runtime`; `srn_tf.backend.BackendError`, a ValueError, for an
      option the backend does not run); ImportError when the runtime's package is missing.
    """
    return deblur_with(lambda batch: deblur_batch(model, batch, **options), model_type_of(model),
                       image)


def deblur_with(restore, model_type, image):
    """What `deblur` does to one image's format around restore(uint [1, H, W, C]) → same.

    restore may be given a read-only view (a grey image for a color model, broadcast to RGB).
    """
    original = np.asarray(image)
    x, alpha = split_alpha(check_image(original))
    gray_into_color = x.shape[2] == 1 and image_channels(model_type) == 3
    if gray_into_color:   # R = G = B as a read-only view: no copy of the image
        x = np.broadcast_to(x, x.shape[:2] + (3,))
    y = restore(x[None])[0]
    if gray_into_color:
        y = _grey_mean(y)
    if alpha is not None:
        y = np.concatenate([y, alpha], axis=2)
    return y[:, :, 0] if original.ndim == 2 else y


def _grey_mean(rgb):
    """uint8/uint16 H×W×3 → H×W×1, round(mean of R, G, B) in integers: the mean is k, k + 1/3 or
    k + 2/3, never a tie, so it is (sum + 1) // 3. Row blocks of 4 MiB: no whole-image uint32
    or float array."""
    height, width = rgb.shape[:2]
    mean = np.empty((height, width, 1), rgb.dtype)
    rows = max(1, 2**20 // width)
    for top in range(0, height, rows):
        total = rgb[top:top + rows].sum(axis=2, keepdims=True, dtype=np.uint32)
        total += 1
        total //= 3
        mean[top:top + rows] = total
    return mean
