"""Procedural sharp/blurry training pairs, generated on the fly from a seed: no files, no download.

A dead-leaves scene (Matheron; as training data for restoration networks: Achddou, Gousseau,
Ladjal et al., "Synthetic images as a regularity prior for image restoration neural networks",
2021) of `LAYERS` occluding shapes, back to front: a full-frame background and discs, ellipses and
rectangles whose radii follow a power law (density ∝ r⁻² between `MIN_RADIUS` px and the crop's
side; the full dead-leaves model's r⁻³ leaves mostly specks with this few shapes). Each shape is filled with a flat colour, a procedural texture (stripes from
soft triangle waves to hard square waves, periods 2–40 px) or a patch of one of the embedded
dataset's *training* photos (`srn_tf.embedded.PHOTOS["train"]`; the test photos never appear).

Motion, over one exposure t ∈ [−1, 1] (the sharp image is t = 0, the middle sub-frame, as in
GoPro): the camera moves along a quadratic path of 0–`MAX_CAMERA_BLUR` px with a random bend, a
shake of two sinusoids and a rotation of up to ±`MAX_CAMERA_SPIN_DEG`° about the centre; half the
shapes also move along their own quadratic paths (up to `MAX_OBJECT_BLUR` px) and spin (up to
±`MAX_OBJECT_SPIN_DEG`°). `SUBFRAMES` sub-frames are rendered (shapes anti-aliased over about
one pixel, composited in linear light, γ 2.2) and averaged as GoPro's blurry frames averaged 7–13
frames of a 240 fps camera (Nah, Kim, Lee, CVPR 2017): as stored (γ-encoded) for GoPro's `blur`,
or in linear light for `blur_gamma`, the same `blur_key` the photos of a mixture use (the embedded
photos are blurred the same two ways). So blur varies across the image and occlusion boundaries
blur as they do in dynamic scenes. Then signal-dependent Gaussian noise (σ² = a² + b·x, a
0.5–2 grey levels as in the embedded photos, b ≤ `MAX_SHOT_NOISE`) and, with probability
`JPEG_PROBABILITY`, JPEG at quality 60–95 on the blurry image; both images are quantised to uint8.

Each pair is a pure function of (seed, index): `render_pair` draws everything with TensorFlow's
stateless random ops from that key, so the stream is position-addressable like `srn_tf.data`'s
pipelines (a resumed run sees the same pairs) and never repeats. Validation pairs use negative
indices, which training never reaches. Every op is a vectorised TensorFlow op; pairs are made in
tf.data's parallel map.

  srn-data --make=contact_sheet --output=docs/synthetic_pairs.png    # a contact sheet of pairs
"""

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.preprocess import to_model_input

tf = lazy_tensorflow("making synthetic training pairs")

LAYERS = 20                 # shapes, the background included
PHOTO_STRIDE = 5            # shapes 0, 5, 10, … (the background first) hold a photo patch
RECT_LAYERS = frozenset(range(2, 64, 3))   # rectangles; the other shapes are ellipses
SUBFRAMES = 13              # odd: the middle one is the sharp image
MIN_RADIUS = 2.0            # px
MAX_CAMERA_BLUR = 12.0      # px, length of the camera's path over the exposure
MAX_OBJECT_BLUR = 10.0      # px, of a moving shape's own path
MAX_CAMERA_SPIN_DEG = 1.0
MAX_SHAKE = 0.7             # px, amplitude of each of the shake's sinusoids (half the pairs)
MAX_OBJECT_SPIN_DEG = 6.0
JPEG_PROBABILITY = 0.3
MAX_READ_NOISE = 2.0        # grey levels (the embedded photos: 0.5–2)
MAX_SHOT_NOISE = 2e-5       # b of σ² = a² + b·x, x in [0, 1]: ≤ 1.1 grey levels at white
GAMMA = 2.2
PHOTO_SIDE = 384            # training photos are centre-cropped square and resized to this
_VALIDATION_BASE = -1       # validation pair i has index −1 − i
_KEYS = 48                  # independent random streams per pair (more than it draws)


def training_photos():
    """The embedded dataset's training photos in linear light: float32 [6, 256, 256, 3] in [0, 1]
    (centre-cropped to a square, resized with anti-aliasing)."""
    from skimage.transform import resize
    from srn_tf import embedded
    out = []
    for name in embedded.PHOTOS["train"]:
        photo = embedded.load_photo(name)
        side = min(photo.shape[:2])
        top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
        square = photo[top:top + side, left:left + side].astype(np.float32) / 255.0
        out.append(resize(square, (PHOTO_SIDE, PHOTO_SIDE), anti_aliasing=True) ** GAMMA)
    return np.stack(out).astype(np.float32)


def _rotation(angle):
    """[..., 2, 2] rotation matrices for angles in radians."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    return tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], -2)


def _quadratic_path(uniform, normal, t, max_length, count):
    """Displacements [S, count, 2] along quadratic paths through 0 at t = 0 (length ≤ max_length)."""
    length = uniform([count], 0.0, max_length)
    direction = uniform([count], 0.0, 2 * np.pi)
    velocity = 0.5 * length[:, None] * tf.stack([tf.cos(direction), tf.sin(direction)], -1)
    bend = normal([count, 2]) * (length / 6.0)[:, None]
    t = t[:, None, None]
    return t * velocity + t * t * bend


def _sample_photos(photos, index, x, y):
    """Bilinear samples of photos[index] at (x, y) px, mirrored at the edges: [..., 3]."""
    side = photos.shape[1]

    def mirror(v):
        v = tf.math.floormod(v, 2.0 * (side - 1))
        return (side - 1) - tf.abs(v - (side - 1))
    x, y = mirror(x), mirror(y)
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0 = tf.cast(tf.minimum(x0, side - 2), tf.int32)
    y0 = tf.cast(tf.minimum(y0, side - 2), tf.int32)
    index = tf.broadcast_to(index, tf.shape(x0))

    def at(dy, dx):
        return tf.gather_nd(photos, tf.stack([index, y0 + dy, x0 + dx], -1))
    top = at(0, 0) * (1 - fx) + at(0, 1) * fx
    bottom = at(1, 0) * (1 - fx) + at(1, 1) * fx
    return top * (1 - fy) + bottom * fy


def _render(seed, size, photos, linear_light=False):
    """The scene, its exposure and noise: (blur, sharp uint8, whether to JPEG, JPEG key).

    linear_light: average the sub-frames in linear light (GoPro's `blur_gamma`), else as stored
    (γ-encoded, GoPro's `blur`)."""
    keys = tf.random.experimental.stateless_split(seed, _KEYS)
    counter = iter(range(_KEYS))

    def uniform(shape, low=0.0, high=1.0):
        return tf.random.stateless_uniform(shape, keys[next(counter)], low, high)

    def normal(shape):
        return tf.random.stateless_normal(shape, keys[next(counter)])

    n, count, frames = float(size), LAYERS, SUBFRAMES
    t = tf.linspace(-1.0, 1.0, frames)

    # --- shapes: centre, dead-leaves radius, aspect, orientation, kind --------------------------
    centre = uniform([count, 2], -0.1 * n, 1.1 * n)
    r_min, r_max = 1.0 / MIN_RADIUS, 1.0 / n     # inverse CDF of density ∝ r⁻² on [MIN_RADIUS, n]
    radius = 1.0 / (r_min - uniform([count]) * (r_min - r_max))
    radius = tf.concat([[4.0 * n], radius[1:]], 0)                 # layer 0: the background
    aspect = tf.exp(uniform([count], -0.8, 0.8))
    orientation = uniform([count], 0.0, 2 * np.pi)

    # --- motion: camera path + shake + spin, and half the shapes' own paths and spins ----------
    camera = _quadratic_path(uniform, normal, t, MAX_CAMERA_BLUR, 1)[:, 0]          # [S, 2]
    amplitude = uniform([2, 2], 0.0, MAX_SHAKE) * tf.cast(uniform([]) < 0.5, tf.float32)
    frequency = uniform([2, 2], 0.5, 2.0)
    phase = uniform([2, 2], 0.0, 2 * np.pi)
    wave = tf.sin(2 * np.pi * frequency * t[:, None, None] + phase)               # [S, 2, 2]
    camera += tf.reduce_sum(amplitude * (wave - tf.sin(phase)), axis=1)
    camera_spin = uniform([], -1.0, 1.0) * np.deg2rad(MAX_CAMERA_SPIN_DEG) * t     # [S]
    moving = tf.cast(uniform([count]) < 0.5, tf.float32)
    own = _quadratic_path(uniform, normal, t, MAX_OBJECT_BLUR, count) * moving[:, None]
    own_spin = (uniform([count], -1.0, 1.0) * moving * np.deg2rad(MAX_OBJECT_SPIN_DEG) *
                t[:, None])                                                         # [S, L]

    # --- per (sub-frame, shape): pixel (x, y) → shape coordinates (a, b), one affine map ---------
    # scene point q = R(−θc)(p − o − Dc) + o;  ℓ = R(−α)(q − c − D);  (a, b) = ℓ / (√aspect, 1/√aspect)
    o = tf.constant([(n - 1) / 2.0] * 2)
    alpha = orientation[None] + own_spin                                            # [S, L]
    scale = tf.stack([aspect ** -0.5, aspect ** 0.5], -1)[None, :, :, None]         # [1, L, 2, 1]
    linear = scale * _rotation(-(alpha + camera_spin[:, None]))                     # [S, L, 2, 2]
    shift = (tf.linalg.matvec(linear, -(o + camera)[:, None, :]) +
             tf.linalg.matvec(scale * _rotation(-alpha), o - centre[None] - own))   # [S, L, 2]
    coords = tf.range(size, dtype=tf.float32)
    x, y = coords[None, None, :], coords[None, :, None]

    def affine(i, row):
        return (linear[:, i, row, 0, None, None] * x + linear[:, i, row, 1, None, None] * y +
                shift[:, i, row, None, None])

    # --- fills: flat, stripes, or (every PHOTO_STRIDE-th shape, the background first) a patch --
    colour = uniform([count, 3]) ** GAMMA
    contrast = (uniform([count, 3]) ** GAMMA - colour) * tf.cast(uniform([count, 1]) < 0.6,
                                                                   tf.float32)
    frequency = tf.exp(-uniform([count], np.log(2.0), np.log(40.0)))     # 1 / period (px)
    gain = tf.exp(uniform([count], np.log(0.7), np.log(30.0)))
    stripe = uniform([count], 0.0, 2 * np.pi)
    stripe_x, stripe_y = tf.cos(stripe) * frequency, tf.sin(stripe) * frequency
    stripe_phase = uniform([count])
    zoom = tf.exp(uniform([count], 0.0, np.log(2.0)))      # photo px per px: never magnified
    offset = uniform([count, 2], 0.0, float(photos.shape[1]))
    which = tf.random.stateless_uniform([count], keys[next(counter)], 0, photos.shape[0],
                                        dtype=tf.int32)

    # --- back to front: each sub-frame composited in linear light -------------------------------
    image = tf.zeros([frames, size, size, 3])
    for i in range(count):   # unrolled; XLA fuses each shape's arithmetic into one loop
        a, b = affine(i, 0), affine(i, 1)                                           # [S, H, W]
        if i in RECT_LAYERS:
            distance = tf.maximum(tf.abs(a), tf.abs(b))
        else:
            distance = tf.sqrt(a * a + b * b)
        mask = tf.clip_by_value(radius[i] - distance + 0.5, 0.0, 1.0)[..., None]
        if i % PHOTO_STRIDE == 0:
            fill = _sample_photos(photos, which[i], a * zoom[i] + offset[i, 0],
                                  b * zoom[i] + offset[i, 1])
        else:
            phase = a * stripe_x[i] + b * stripe_y[i] + stripe_phase[i]
            triangle = 4.0 * tf.abs(phase - tf.floor(phase) - 0.5) - 1.0          # in [−1, 1]
            level = 0.5 + 0.5 * tf.clip_by_value(gain[i] * triangle, -1.0, 1.0)
            fill = colour[i] + level[..., None] * contrast[i]
        image += mask * (fill - image)

    # --- exposure: average in linear light, then noise, quantisation, JPEG ----------------------
    sharp = image[frames // 2] ** (1 / GAMMA)
    if linear_light:
        blur = tf.reduce_mean(image, axis=0) ** (1 / GAMMA)
    else:
        blur = tf.reduce_mean(image ** (1 / GAMMA), axis=0)
    read, shot = uniform([], 0.5, MAX_READ_NOISE) / 255.0, uniform([], 0.0, MAX_SHOT_NOISE)
    blur += tf.sqrt(read * read + shot * blur) * normal([size, size, 3])


    def to_uint8(v):
        return tf.cast(tf.round(tf.clip_by_value(v, 0.0, 1.0) * 255.0), tf.uint8)
    return to_uint8(blur), to_uint8(sharp), uniform([]) < JPEG_PROBABILITY, keys[next(counter)]


_render_compiled = tf.function(_render, jit_compile=True, reduce_retracing=True)
BLUR_SPACES = {"blur": False, "blur_gamma": True}      # blur_key → average in linear light


def render_pair(seed, size, photos, blur_key="blur"):
    """One synthetic pair.

    Args:
      seed: int64 tensor [2], the pair's stateless key (e.g. [run seed, index]).
      size: int, side of the square images in px.
      photos: float32 tensor [P, side, side, 3], linear-light textures (`training_photos()`).
      blur_key: "blur" (sub-frames averaged as stored, GoPro's `blur`) or "blur_gamma" (in
        linear light).
    Returns:
      (blur, sharp): uint8 tensors [size, size, 3]. The same seed gives the same pair (the
      scene is rendered by one XLA-compiled function; JPEG, when drawn, by TensorFlow's codec).
    """
    blur, sharp, jpeg, jpeg_key = _render_compiled(tf.cast(seed, tf.int64), size, photos,
                                                   BLUR_SPACES[blur_key])
    blur = tf.cond(jpeg, lambda: tf.image.stateless_random_jpeg_quality(blur, 60, 95, jpeg_key),
                   lambda: blur)
    return tf.ensure_shape(blur, [size, size, 3]), tf.ensure_shape(sharp, [size, size, 3])


def make_train_dataset(*, crop_size=64, batch_size=4, model_type="color", seed=0, start_step=0,
                       num_shards=1, shard_index=0, blur_key="blur"):
    """Endless batches of synthetic pairs, position-addressable like `data.make_train_dataset`.

    Pair k of step s has index s·batch_size + k and key (seed, index); shard i yields pairs
    i·b … (i+1)·b − 1 of each global batch (b = batch_size / num_shards). blur_key: as
    `render_pair`'s.
    Returns: tf.data.Dataset of (blur, sharp) float32 [b, crop_size, crop_size, C] in [0, 1]
    (C 3, or 1 for gray / lstm, as in `srn_tf.preprocess.to_model_input`).
    Raises ValueError if num_shards does not divide batch_size.
    """
    from srn_tf.model import image_channels
    channels = image_channels(model_type)
    per_shard, rest = divmod(batch_size, num_shards)
    if rest:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the shards ({num_shards})")
    photos = tf.constant(training_photos())
    seed = int(seed)

    def pair(local):
        step = start_step + local // per_shard
        index = step * batch_size + shard_index * per_shard + local % per_shard
        return render_pair(tf.stack([tf.constant(seed, tf.int64), index]), crop_size, photos,
                           blur_key)

    ds = tf.data.Dataset.range(np.iinfo(np.int64).max)
    ds = ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(per_shard, drop_remainder=True)
    ds = ds.map(lambda b, s: (to_model_input(b, channels), to_model_input(s, channels)))
    return ds.prefetch(tf.data.AUTOTUNE)


def validation_pairs(count, size=128, seed=0):
    """`count` fixed synthetic pairs that training never sees (indices −1 … −count).

    Returns a list of (blur, sharp) uint8 numpy arrays [size, size, 3].
    """
    photos = tf.constant(training_photos())
    render = tf.function(lambda key: render_pair(key, size, photos))
    return [tuple(v.numpy() for v in render(tf.constant([seed, _VALIDATION_BASE - i], tf.int64)))
            for i in range(count)]


def contact_sheet(path, rows=3, columns=4, size=96, seed=0):
    """Writes a PNG of rows × columns pairs (blurry left, sharp right, 2 px gaps); returns path."""
    from srn_tf.image_io import write_png
    pairs = validation_pairs(rows * columns, size, seed)
    gap = 2
    tile_w = 2 * size + 3 * gap
    sheet = np.full((rows * (size + gap) + gap, columns * tile_w, 3), 255, np.uint8)
    for i, (blur, sharp) in enumerate(pairs):
        top, left = gap + (i // columns) * (size + gap), (i % columns) * tile_w + gap
        sheet[top:top + size, left:left + size] = blur
        sheet[top:top + size, left + size + gap:left + 2 * size + gap] = sharp
    write_png(path, sheet)
    return path
