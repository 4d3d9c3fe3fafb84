"""Tiles: which tiles an image runs in, their blend weights, and the blend, from Python.

Images larger than a memory budget are processed in overlapping tiles blended with weights that
sum to one, so memory stays bounded at any size (`plan_tiles`, `tile_weights`, `blend_tiles`).
The weights are computed with `keras.ops`, so one definition serves the Python blend on every
backend and the SavedModel export's in-graph blend (`srn_tf.tf_graph.restore_tiled`, the same
TensorFlow kernels: bit-identical results); the blend itself is numpy.
"""

import ctypes

import numpy as np
from keras import ops

from srn_tf.model import SIZE_MULTIPLE

# Peak memory of a float32 forward pass per input pixel (colour, measured with
# benchmarks/inference.py: ~0.70 KB/pixel at 720p on CPU), and the default budget: what a
# 1280×720 image takes, so images up to 720p's pixel count run whole and larger ones are tiled.
BYTES_PER_PIXEL = 720
DEFAULT_MEMORY_BUDGET = 1280 * 720 * BYTES_PER_PIXEL
DEFAULT_OVERLAP = 128


def padded(n):
    """`n` rounded up to a multiple of 16 (the network's size multiple)."""
    return -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE


def fits_whole(height, width, memory_budget=DEFAULT_MEMORY_BUDGET):
    """Whether a height × width image runs whole (padded to multiples of 16) within the budget."""
    return padded(height) * padded(width) * BYTES_PER_PIXEL <= memory_budget


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
            tile_h = min(padded(-(-(padded(height) + (rows - 1) * overlap) // rows)),
                         padded(height))
            tile_w = min(padded(-(-(padded(width) + (cols - 1) * overlap) // cols)),
                         padded(width))
            if tile_h * tile_w > pixels or min(tile_h, tile_w) <= overlap and rows * cols > 1:
                continue
            cost = rows * cols * tile_h * tile_w
            if best is None or cost < best[0]:
                best = (cost, (tile_h, tile_w))
    if best is None:
        raise ValueError(f"a memory budget of {memory_budget / 2**20:.0f} MiB is too small to tile "
                         f"a {height}×{width} image with {overlap} px overlap")
    return best[1]


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
                         f"--tile={max(512, padded(2 * overlap))} or a smaller --overlap")
    if memory_budget is not None and memory_budget <= 0:
        raise ValueError("--memory_budget_mb must be positive")


def tile_weights(length, tile, overlap):
    """Blend weights along one axis: [n_tiles, length] float32 summing to 1 at every position.

    `length` and `tile` are multiples of 16, and so are the tile starts: the network is
    shift-equivariant only for shifts by multiples of 16 (two stride-2 convs below a ¼ level), so
    any other start would see other sampling grids than the whole image does. Tiles start every
    `tile − overlap` pixels (rounded down to 16; the last one flush with the end). Within a tile, a
    side that faces another tile has weight 0 over its first overlap/4 pixels (where the tile
    lacks context), then rises linearly over overlap/2 pixels; a side on the image border has
    weight 1. Arguments are Python ints, or int32 scalar tensors in a TensorFlow graph. Returns
    (starts [n], weights [n, length]) as tensors of the running backend. Graph-safe.
    """
    step = ops.maximum((tile - overlap) // SIZE_MULTIPLE * SIZE_MULTIPLE, SIZE_MULTIPLE)
    count = 1 + (ops.maximum(length - tile, 0) + step - 1) // step
    starts = ops.minimum(ops.arange(count) * step, ops.maximum(length - tile, 0))
    positions = ops.cast(ops.arange(length), "float32")[None, :] + 0.5
    begin = ops.cast(starts, "float32")[:, None]
    end = begin + ops.cast(tile, "float32")
    margin = ops.cast(overlap // 4, "float32")
    blend = ops.cast(ops.maximum(overlap // 2, 1), "float32")

    def ramp(distance, on_border):
        return ops.where(on_border, 1.0, ops.clip((distance - margin) / blend, 0.0, 1.0))
    inside = ops.cast((positions > begin) & (positions < end), "float32")
    weights = (inside * ramp(positions - begin, starts[:, None] == 0) *
               ramp(end - positions, starts[:, None] + tile >= length))
    return starts, weights / ops.sum(weights, axis=0, keepdims=True)


def blend_tiles(restore, images, tile_size, overlap, progress=None):
    """The tiled blend, run tile by tile from Python with bounded memory.

    Args:
      restore: f(uint tile [N, h, w, C]) → a new, writable float32 array [N, h, w, C] in [0, 1]
        (`srn_tf.inference.tile_restorer`).
      images: uint8/uint16 array [N, H, W, C].
      tile_size: (height, width), multiples of 16; 0 or more than the image: one tile that way.
      overlap: pixels shared by neighbouring tiles.
      progress: None or f(tiles done, tiles in all), called after each tile.
    Returns the restored images, same dtype and shape: on the TensorFlow backend bit-identical to
    the in-graph blend (`srn_tf.tf_graph.restore_integer_batch`: the same weights from
    `tile_weights`, each pixel's contributions summed in the same tile
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
    output = np.empty(images.shape, images.dtype)   # C order whatever the strides of images
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
    pixels: `tile_weights` over the padded extent, cut to the image."""
    whole = padded(length)
    tile = min(tile, whole) if tile > 0 else whole
    starts, weights = (ops.convert_to_numpy(t) for t in tile_weights(whole, tile, overlap))
    return [(int(s), min(int(s) + tile, length), w[s:min(s + tile, length)])
            for s, w in zip(starts, weights)]
