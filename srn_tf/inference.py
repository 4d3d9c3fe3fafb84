"""Deblurring whole images of any size with a model from `build_srn`, as the release tested.

`deblur(model, image)` pads to multiples of 16 (edge padding at the bottom and right), runs the
model as a compiled `tf.function` (traced once, for any size), keeps the finest level, clips it to
[0, 1] and converts back the way the release did (× max value, then truncate). The function is the
same graph as the SavedModel export's, so both give bit-identical results.

Images larger than a memory budget are processed in overlapping tiles blended with weights that
sum to one, so memory stays bounded at any size: `deblur` runs one compiled per-tile graph from a
Python loop (`blend_tiles`) that writes finished pixels straight into the result (the image's
dtype) and keeps float32 partial sums only where tiles overlap; the SavedModel export runs the
same blend inside its graph (`restore_tiled`). Options run the network in bfloat16, compile it
with XLA, or run it on OpenVINO or ONNX Runtime (`srn_tf.runtimes`) with the same tiling.
"""

import ctypes
import weakref

import numpy as np
import tensorflow as tf

from srn_tf import runtimes
from srn_tf.image_io import split_alpha
from srn_tf.model import SIZE_MULTIPLE, as_levels, image_channels, model_type_of, rebuild


def pad_to_multiple(images, multiple=SIZE_MULTIPLE):
    """Edge-pads [N, H, W, C] at the bottom and right to multiples of `multiple`.

    Repeats the last row and column, like the release's `np.pad(..., 'edge')`. Graph-safe.
    """
    for axis in (1, 2):
        size = tf.shape(images)[axis]
        padded = (size + multiple - 1) // multiple * multiple
        images = tf.gather(images, tf.minimum(tf.range(padded), size - 1), axis=axis)
    return images


def restore_batch(model, images, model_type):
    """Deblurs a float batch of any size: [N, H, W, C] in [0, 1] → [N, H, W, C] in [0, 1].

    `model` is a model from `build_srn`, or any callable model(x, training=False) → its levels.
    color (and baseline) models take C = 3. gray and lstm models take any C and deblur each
    channel as its own 1-channel image (channels moved to the batch axis and back), as the release
    did for RGB.
    Returns the finest level, cropped back to H × W and clipped to [0, 1]. Graph-safe: used by
    `deblur` and by the SavedModel export.
    """
    return tf.clip_by_value(finest_level(model, images, model_type), 0.0, 1.0)


def finest_level(model, images, model_type):
    """The finest level for a float batch of any size, before clipping: [N, H, W, C] float32.

    Padding and the channel handling as in `restore_batch` (which clips this to [0, 1]); the
    exported LiteRT and ONNX models return it beside their uint8 result. Graph-safe.
    """
    x = _network_batch(images, model_type)
    return _image_batch(as_levels(model(x, training=False))[-1], images, model_type)


def restore_with_state(model, images, state):
    """`restore_batch` for an lstm model built with `state_io=True`, carrying the ConvLSTM state.

    images: float32 [N, H, W, C] in [0, 1]; state: float32 [N·C, h, w, 256], the state returned
    for the previous frame (any h, w; zeros, e.g. [N·C, 1, 1, 256], start afresh as the release).
    Returns (restored [N, H, W, C] in [0, 1], the new state). Graph-safe.
    """
    outputs = model([_network_batch(images, "lstm"), state], training=False)
    restored = tf.clip_by_value(_image_batch(outputs[-2], images, "lstm"), 0.0, 1.0)
    return restored, outputs[-1]


def _network_batch(images, model_type):
    """[N, H, W, C] → padded to multiples of 16, channels to the batch axis for 1-channel types."""
    x = pad_to_multiple(images)
    if image_channels(model_type) == 1:
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, tf.shape(x)[1], tf.shape(x)[2], 1])
    return x


def _image_batch(finest, images, model_type):
    """Inverse of `_network_batch` for the finest level, then cropped to `images`' size."""
    shape = tf.shape(images)
    finest = tf.cast(finest, tf.float32)
    if image_channels(model_type) == 1:
        finest = tf.transpose(
            tf.reshape(finest, [shape[0], shape[3], tf.shape(finest)[1], tf.shape(finest)[2]]),
            [0, 2, 3, 1])
    return finest[:, :shape[1], :shape[2], :]


def _tile_weights(length, tile, overlap):
    """Blend weights along one axis: [n_tiles, length] float32 summing to 1 at every position.

    `length` and `tile` are multiples of 16, and so are the tile starts: the network is
    shift-equivariant only for shifts by multiples of 16 (two stride-2 convs below a ¼ level), so
    any other start would see other sampling grids than the whole image does. Tiles start every
    `tile − overlap` pixels (rounded down to 16; the last one flush with the end). Within a tile, a
    side that faces another tile has weight 0 over its first overlap/4 pixels (where the tile
    lacks context), then rises linearly over overlap/2 pixels; a side on the image border has
    weight 1. Returns (starts [n], weights [n, length]). Graph-safe.
    """
    step = tf.maximum((tile - overlap) // SIZE_MULTIPLE * SIZE_MULTIPLE, SIZE_MULTIPLE)
    count = 1 + (tf.maximum(length - tile, 0) + step - 1) // step
    starts = tf.minimum(tf.range(count) * step, tf.maximum(length - tile, 0))
    positions = tf.cast(tf.range(length), tf.float32)[None, :] + 0.5
    begin = tf.cast(starts, tf.float32)[:, None]
    end = begin + tf.cast(tile, tf.float32)
    margin = tf.cast(overlap // 4, tf.float32)
    blend = tf.cast(tf.maximum(overlap // 2, 1), tf.float32)

    def ramp(distance, on_border):
        return tf.where(on_border, 1.0, tf.clip_by_value((distance - margin) / blend, 0.0, 1.0))
    inside = tf.cast((positions > begin) & (positions < end), tf.float32)
    weights = (inside * ramp(positions - begin, starts[:, None] == 0) *
               ramp(end - positions, starts[:, None] + tile >= length))
    return starts, weights / tf.reduce_sum(weights, axis=0, keepdims=True)


def restore_tiled(model, images, model_type, tile_size, overlap):
    """`restore_batch` over overlapping tiles, blended seam-free; memory bounded by the tile.

    Args:
      images: float32 [N, H, W, C] in [0, 1], any size.
      tile_size: int32 [2] (height, width) of the tiles, multiples of 16; a tile no smaller than
        the image (e.g. [0, 0] → the whole image) means one tile, and then the result is exactly
        `restore_batch`'s.
      overlap: pixels shared by neighbouring tiles (int scalar).
    Returns float32 [N, H, W, C] in [0, 1]. Graph-safe (a while loop over the tiles).
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    whole = (height + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE, \
        (width + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE
    tile_h = tf.where(tile_size[0] > 0, tf.minimum(tile_size[0], whole[0]), whole[0])
    tile_w = tf.where(tile_size[1] > 0, tf.minimum(tile_size[1], whole[1]), whole[1])
    starts_y, weights_y = _tile_weights(whole[0], tile_h, overlap)   # over the padded extent
    starts_x, weights_x = _tile_weights(whole[1], tile_w, overlap)
    count_x = tf.size(starts_x)

    def body(index, result):
        i, j = index // count_x, index % count_x
        y0, x0 = starts_y[i], starts_x[j]
        y1, x1 = tf.minimum(y0 + tile_h, height), tf.minimum(x0 + tile_w, width)
        restored = restore_batch(model, images[:, y0:y1, x0:x1, :], model_type)
        weight = weights_y[i, y0:y1][:, None] * weights_x[j, x0:x1][None, :]
        begin, end = tf.stack([0, y0, x0, 0]), tf.stack([shape[0], y1, x1, shape[3]])
        update = result[:, y0:y1, x0:x1, :] + restored * weight[None, :, :, None]
        return index + 1, tf.raw_ops.TensorStridedSliceUpdate(
            input=result, begin=begin, end=end, strides=[1, 1, 1, 1], value=update)

    def more_tiles(index, result):
        return index < tf.size(starts_y) * count_x

    _, result = tf.while_loop(more_tiles, body, [tf.constant(0), tf.zeros_like(images)])
    return result


def restore_integer_batch(model, images, model_type, tile_size=(0, 0), overlap=0):
    """`restore_tiled` for uint8 or uint16 images, converted the release's way, in the graph.

    [N, H, W, C] integers → float in [0, 1] (÷ max value) → finest level clipped to [0, 1] →
    × max value, truncated to the input's dtype. The SavedModel's serving signature is this too.
    """
    restored = restore_tiled(model, to_unit_range(images), model_type,
                             tf.convert_to_tensor(tile_size, tf.int32),
                             tf.convert_to_tensor(overlap, tf.int32))
    return from_unit_range(restored, images.dtype)


def to_unit_range(images):
    """uint8 / uint16 → float32 in [0, 1] (÷ the dtype's max value), as the release read images."""
    return tf.cast(images, tf.float32) / float(images.dtype.max)


def from_unit_range(restored, dtype):
    """float in [0, 1] → `dtype` (× max value, truncated), as the release wrote its results."""
    return tf.cast(restored * float(dtype.max), dtype)


# Peak memory of a float32 forward pass per input pixel (colour, measured with
# benchmarks/inference.py: ~0.70 KB/pixel at 720p on CPU), and the default budget: what a
# 1280×720 image takes, so images up to 720p's pixel count run whole and larger ones are tiled.
BYTES_PER_PIXEL = 720
DEFAULT_MEMORY_BUDGET = 1280 * 720 * BYTES_PER_PIXEL
DEFAULT_OVERLAP = 128
PRECISIONS = ("float32", "bfloat16")


def _padded(n):
    return -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE


def fits_whole(height, width, memory_budget=DEFAULT_MEMORY_BUDGET):
    """Whether a height × width image runs whole (padded to multiples of 16) within the budget."""
    return _padded(height) * _padded(width) * BYTES_PER_PIXEL <= memory_budget


def plan_tiles(height, width, memory_budget=DEFAULT_MEMORY_BUDGET, overlap=DEFAULT_OVERLAP):
    """Tile (height, width), multiples of 16, for an image under a memory budget in bytes.

    (0, 0) when the whole image fits. Otherwise the grid of tiles that processes the fewest pixels
    (overlaps counted) among those whose tiles fit the budget.
    """
    pixels = memory_budget // BYTES_PER_PIXEL
    if fits_whole(height, width, memory_budget):
        return 0, 0
    best = None
    for rows in range(1, 65):
        for cols in range(1, 65):
            tile_h = min(_padded(-(-(_padded(height) + (rows - 1) * overlap) // rows)),
                         _padded(height))
            tile_w = min(_padded(-(-(_padded(width) + (cols - 1) * overlap) // cols)),
                         _padded(width))
            if tile_h * tile_w > pixels or min(tile_h, tile_w) <= overlap and rows * cols > 1:
                continue
            cost = rows * cols * tile_h * tile_w
            if best is None or cost < best[0]:
                best = (cost, (tile_h, tile_w))
    if best is None:
        raise ValueError(f"a memory budget of {memory_budget / 2**20:.0f} MiB is too small to tile "
                         f"a {height}×{width} image with {overlap} px overlap")
    return best[1]


_compiled = weakref.WeakKeyDictionary()


def precision_policy(precision):
    """The Keras dtype policy that runs the network in `precision` ("float32" or "bfloat16")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"


def _inference_model(model, precision):
    """`model` itself for float32; for bfloat16 a mixed_bfloat16 twin with the same weights."""
    if precision_policy(precision) == "float32":
        return model
    twins = _compiled.setdefault(model, {})
    if "bfloat16" not in twins:
        twins["bfloat16"] = rebuild(model, "mixed_bfloat16")
    return twins["bfloat16"]


def compiled_restore(model, dtype=tf.uint8, precision="float32", jit_compile=False):
    """`restore_batch` of `model` for integer images, as a graph f(images) → restored.

    images: uint8/uint16 [N, h, w, C] (one tile) → float32 [N, h, w, C] in [0, 1] (÷ the dtype's
    max value, then the network, as `restore_integer_batch` computes each tile).
    Traced once per (model, dtype, precision, jit_compile): N, h and w are dynamic, so every tile
    and image reuses one graph, as the export's does (with static shapes oneDNN may pick other
    kernels, which would move results by a grey level here and there).
    """
    functions = _compiled.setdefault(model, {})
    key = (tf.as_dtype(dtype), precision, bool(jit_compile))
    if key not in functions:
        net = _inference_model(model, precision)
        model_type = model_type_of(model)

        def forward(x, training=False):
            return net(x, training=training)
        if jit_compile:   # XLA needs static shapes: compile the network, once per tile shape
            forward = tf.function(forward, jit_compile=True, reduce_retracing=True,
                                  autograph=False)
        def restore(images):
            # The whole tile as restore_tiled's one tile, in its while loop: the same ops and
            # results as restore_batch, and a lower peak (measured with benchmarks/inference.py:
            # 1,264 against 1,380 MiB at 1280x720 for the bare graph, and 1,375 MiB for
            # restore_batch alone in a one-pass while loop; TensorFlow 2.21, CPU).
            return restore_tiled(forward, to_unit_range(images), model_type,
                                 tf.zeros([2], tf.int32), tf.constant(0))

        functions[key] = tf.function(restore, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None, None], key[0])])
    return functions[key]


def finest_function(model):
    """`finest_level` of `model` as a tf.function, the network the other runtimes run.

    images: float32 [N, H, W, C] in [0, 1], any N, H, W (C = 3 for color models, any C for
    gray and lstm) → float32 [N, H, W, C], the finest level before clipping.
    """
    model_type = model_type_of(model)
    channels = 3 if image_channels(model_type) == 3 else None
    return tf.function(lambda images: finest_level(model, images, model_type), autograph=False,
                       input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32,
                                                      name="images")])


def tile_restorer(model, dtype=np.uint8, precision="float32", jit_compile=False,
                  runtime="tensorflow"):
    """What `blend_tiles` runs per tile, on `runtime` (see `srn_tf.runtimes`).

    Returns f(uint8/uint16 array [N, h, w, C] of `dtype`) → a new, writable float32 array
    [N, h, w, C] in [0, 1]: ÷ the dtype's max value, the network's finest level, clipped.
    tensorflow: `compiled_restore`. openvino, onnxruntime: `finest_function` converted to ONNX
    once per model and compiled once per (runtime, precision), both cached while the model lives.
    Raises ValueError / ImportError as `srn_tf.runtimes.check_runtime`.
    """
    runtimes.check_runtime(runtime, precision, jit_compile)
    if runtime == "tensorflow":
        restore = compiled_restore(model, dtype, precision, jit_compile)
        return lambda tile: restore(tf.constant(tile)).numpy()
    functions = _compiled.setdefault(model, {})
    if (runtime, precision) not in functions:
        if "onnx" not in functions:
            functions["onnx"] = runtimes.cached_onnx(model, lambda: runtimes.onnx_proto(
                finest_function(model)).SerializeToString())
        functions[runtime, precision] = runtimes.compile_onnx(functions["onnx"], runtime,
                                                              precision)
    finest = functions[runtime, precision]
    scale = np.float32(np.iinfo(dtype).max)

    def restore_on_runtime(tile):
        restored = finest(np.divide(tile, scale, dtype=np.float32))   # as to_unit_range
        return np.clip(restored, 0.0, 1.0, out=restored)
    return restore_on_runtime


def blend_tiles(restore, images, tile_size, overlap, progress=None):
    """`restore_integer_batch`'s tiled blend, run tile by tile from Python with bounded memory.

    Args:
      restore: f(uint tile [N, h, w, C]) → a new, writable float32 array [N, h, w, C] in [0, 1]
        (`tile_restorer`).
      images: uint8/uint16 array [N, H, W, C].
      tile_size: (height, width), multiples of 16; 0 or more than the image: one tile that way.
      overlap: pixels shared by neighbouring tiles.
      progress: None or f(tiles done, tiles in all), called after each tile.
    Returns the restored images, same dtype and shape: bit-identical to `restore_integer_batch`
    (the same weights from `_tile_weights`, each pixel's contributions summed in the same tile
    order from zero, then × max value and truncated). Tiles are visited row by row; a pixel is
    converted to the output dtype as soon as no later tile covers it, so besides the input and the
    output only one tile's float32 block, the overlap with the previous tile in its row and the
    overlap with the next row of tiles (a few hundred rows × W, one buffer) are held, and while
    the network runs a tile, not even the previous tile's block.
    """
    count, height, width, channels = images.shape
    spans_y = _tile_spans(height, tile_size[0], overlap)
    spans_x = _tile_spans(width, tile_size[1], overlap)
    total, done = len(spans_y) * len(spans_x), 0
    scale = np.float32(np.iinfo(images.dtype).max)
    output = np.empty_like(images)
    carry = np.zeros((count, 0, width, channels), np.float32)   # rows [y0, previous row's end)
    for i, (y0, y1, weight_y) in enumerate(spans_y):
        final_y = spans_y[i + 1][0] if i + 1 < len(spans_y) else y1   # later rows start here
        # Row i reads its carry left to right ahead of where it writes the next row's (tile j
        # reads columns [end of tile j - 1, end of tile j), writes [x0, start of tile j + 1)):
        # one buffer serves both where they have the same height (9 MiB at 6000 px wide).
        next_carry = (carry if carry.shape[1] == y1 - final_y else
                      np.zeros((count, y1 - final_y, width, channels), np.float32))
        left = np.zeros((count, y1 - y0, 0, channels), np.float32)    # columns [x0, previous end)
        for j, (x0, x1, weight_x) in enumerate(spans_x):
            final_x = spans_x[j + 1][0] if j + 1 < len(spans_x) else x1
            # In place, to hold as little as possible: block = the tile's weighted result, plus
            # the partial sums of the tiles before it (a + b == b + a exactly in IEEE float).
            release_freed_memory()
            block = restore(images[:, y0:y1, x0:x1])
            block *= (weight_y[:, None] * weight_x[None, :])[None, :, :, None]
            block[:, :, :left.shape[2]] += left
            block[:, :carry.shape[1], left.shape[2]:] += carry[:, :, x0 + left.shape[2]:x1]
            finished = block[:, :final_y - y0, :final_x - x0]
            finished *= scale
            output[:, y0:final_y, x0:final_x] = finished     # truncated, as astype
            next_carry[:, :, x0:final_x] = block[:, final_y - y0:, :final_x - x0]
            left = block[:, :, final_x - x0:].copy()   # a copy: the block goes before the next
            del block, finished                         # tile runs (11 MiB at 912x976)
            done += 1
            if progress is not None:
                progress(done, total)
        carry = next_carry
    return output


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (macOS, Windows, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


_MALLOC_TRIM = _malloc_trim()


def release_freed_memory():
    """Returns the memory that freed tensors left in glibc's heaps to the system (`malloc_trim`).

    TensorFlow's CPU kernels allocate through malloc from several threads; what a tile's graph
    frees stays resident in glibc's arenas, fragmented, and the next tile's allocations do not
    all fit into it, so without this the peak grows from tile to tile (measured: a 1024x1792
    photo in twelve 384x672-pixel tiles peaks at 954 MiB without, 945 MiB with this, and one
    384x672 image at 944 MiB; TensorFlow 2.21, glibc 2.36). Called before each tile. A no-op
    where the C library has no malloc_trim.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _tile_spans(length, tile, overlap):
    """[(start, end, weights float32 [end − start])] of the tiles along one axis of `length`
    pixels: `_tile_weights` over the padded extent, cut to the image (see `restore_tiled`)."""
    whole = _padded(length)
    tile = min(tile, whole) if tile > 0 else whole
    starts, weights = (t.numpy() for t in _tile_weights(tf.constant(whole), tf.constant(tile),
                                                          tf.constant(overlap)))
    return [(int(s), min(int(s) + tile, length), w[s:min(s + tile, length)])
            for s, w in zip(starts, weights)]
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


def check_tiling(tile=None, overlap=DEFAULT_OVERLAP, memory_budget=DEFAULT_MEMORY_BUDGET):
    """Raises ValueError (one sentence naming the option as a command-line flag) unless `tile`
    (None, 0 or a positive multiple of 16, or a (height, width) pair of them, each ≥ overlap +
    16), `overlap` (pixels, ≥ 0) and `memory_budget` (bytes, > 0) are usable; what
    `deblur_batch` and the SavedModel export (`--tile`) check before any work."""
    tiles = () if tile is None else (tile, tile) if np.isscalar(tile) else tuple(tile)
    if any(t < 0 or t % SIZE_MULTIPLE for t in tiles):
        raise ValueError(f"--tile={tile}: tile sizes must be 0 (whole image) or positive "
                         f"multiples of {SIZE_MULTIPLE}, e.g. {SIZE_MULTIPLE * 32}")
    if overlap < 0:
        raise ValueError(f"--overlap={overlap}: the overlap of tiles must be ≥ 0 pixels")
    if any(0 < t < overlap + SIZE_MULTIPLE for t in tiles):
        raise ValueError(f"--tile={tile} with --overlap={overlap}: tiles advance by tile − overlap "
                         f"pixels, so a tile must be at least the overlap + {SIZE_MULTIPLE}; give "
                         f"--tile={max(512, _padded(2 * overlap))} or a smaller --overlap")
    if memory_budget is not None and memory_budget <= 0:
        raise ValueError("--memory_budget_mb must be positive")


def deblur_batch(model, images, *, tile=None, overlap=DEFAULT_OVERLAP, precision="float32",
                 jit_compile=False, memory_budget=DEFAULT_MEMORY_BUDGET, progress=None,
                 runtime="tensorflow"):
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
        precision: "float32" (exact) or "bfloat16" (AMX/AVX-512-BF16 CPUs, recent GPUs; resizes,
          the ConvLSTM and the output stay float32).
        jit_compile: compile the network with XLA.
        memory_budget: bytes of activations allowed when `tile` is None (default: a 720p image's).
        progress: None, or a callable progress(done, total) called after each tile with the
          tiles deblurred so far and in all (ints; total is 1 for an image that runs whole).
        runtime: "tensorflow" (default), "openvino" (float32 or bfloat16) or "onnxruntime"
          (float32): what runs the network on each tile (`srn_tf.runtimes`); the tiling is the
          same. The other runtimes convert the model to ONNX on first use (seconds) and agree
          with TensorFlow within a grey level on a few pixels in 100,000.
    Returns:
      The deblurred image: same dtype and shape as `image` (alpha, if any, as it was).
    Raises:
      ValueError for an unusable image or option (`check_image`, `check_tiling`,
      `srn_tf.runtimes.check_runtime`); ImportError when the runtime's package is missing.
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
    if gray_into_color:   # round(mean of R, G, B) in integers, no float64 image: the mean is
        total = y.sum(axis=2, keepdims=True, dtype=np.uint32)   # k, k + 1/3 or k + 2/3,
        total += 1                                              # never a tie: (sum + 1) // 3
        total //= 3
        y = total.astype(x.dtype)
    if alpha is not None:
        y = np.concatenate([y, alpha], axis=2)
    return y[:, :, 0] if original.ndim == 2 else y
