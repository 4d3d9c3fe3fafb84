"""The embedded dataset: real photographs shipped inside scikit-image, blurred the way GoPro was.

GoPro's blurry frames are averages of 7–13 consecutive sharp frames of a hand-held 240 fps camera;
the middle frame is the sharp target. Here each photo plays the middle frame: the camera moves along
a random smooth trajectory (a sub-pixel quadratic path of 4–16 px and a small rotation, up to ±0.6°
at the end points), one warped frame per half pixel of travel, averaged as stored (GoPro's `blur`)
and, for `blur_gamma`, in linear light (γ = 2.2), with mild Gaussian noise (σ 0.5–2 grey levels).
Each frame's trajectory (dx, dy in pixels, angle in degrees) and its translation-only blur kernel
are saved beside it.

What it is: real image content with synthetic, physically plausible camera-shake blur, enough to see
training learn and to compare methods on equal terms, with no download. What it is not: GoPro (no
moving objects, no depth-dependent blur, small images), so its figures are not GoPro figures.

The split is by photo: test photos are never seen in training. A third split, `val`, holds other
photos (matplotlib's colour portrait of Grace Hopper and scikit-image's grey photos, as RGB; centre
crops of at most `VAL_SIDE`² so that validating often is cheap): train.py chooses which step's
model to keep on it, never on the test split. Written in the GoPro layout:
  <dir>/{train,val,test}/<photo>/{blur,blur_gamma,sharp}/NNNNNN.png, .../kernel/NNNNNN.npy,
  .../trajectory/NNNNNN.json
Made once (`srn-data --make=embedded`), or automatically the first time a command needs it, in
`default_dir()` (`data/embedded` of a source checkout).
"""

import json
import logging
import os
import shutil
import tempfile

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.errors import DataError
from srn_tf.image_io import ordinary_mode, write_png

tf = lazy_tensorflow("making the embedded dataset")

log = logging.getLogger(__name__)

PHOTOS = {
    "train": ("astronaut", "motorcycle_left", "motorcycle_right", "hubble_deep_field", "retina",
              "immunohistochemistry"),
    "test": ("chelsea", "coffee", "rocket"),
    "val": ("grace_hopper", "camera", "brick", "grass", "gravel", "moon", "coins"),
}
FRAMES_PER_PHOTO = {"train": 6, "test": 2, "val": 2}
GOPRO_SPLIT_IDS = {"train": 0, "test": 1, "val": 2}      # part of each photo's random seed
MAX_SIDE = 512            # photos are downscaled so that their longer side is at most this
VAL_SIDE = 256            # validation photos: their centre crop of at most this side
GAMMA = 2.2
VERSION = "2"             # bump when the recipe changes: the materialised copy is then remade
DATA_ENV = "SRN_TF_DATA"     # where to keep the embedded dataset, if set


def default_dir():
    """Where the embedded dataset lives: `$SRN_TF_DATA/embedded` if set; else `data/embedded` of
    the source checkout the package runs from; else (an installed package, whose folder may not be
    writable) `$XDG_CACHE_HOME/srn_tf/embedded`, by default `~/.cache/srn_tf/embedded`."""
    if os.environ.get(DATA_ENV):
        return os.path.join(os.environ[DATA_ENV], "embedded")
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(checkout, "data", "README.md")):
        return os.path.join(checkout, "data", "embedded")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache"))
    return os.path.join(cache, "srn_tf", "embedded")


def load_photo(name):
    """A photo shipped with scikit-image (or matplotlib's `grace_hopper`) as uint8 H×W×3, grey ones
    repeated to RGB, the longer side at most MAX_SIDE (antialiased)."""
    import skimage.data
    from skimage.transform import rescale
    stereo = {"motorcycle_left": 0, "motorcycle_right": 1}
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image
        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        with Image.open(path) as image:
            photo = np.asarray(image.convert("RGB"))
    else:
        photo = (skimage.data.stereo_motorcycle()[stereo[name]] if name in stereo
                 else getattr(skimage.data, name)())
    if photo.ndim == 2:
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    scale = MAX_SIDE / max(photo.shape[:2])
    if scale < 1:
        photo = rescale(photo, scale, channel_axis=2, anti_aliasing=True, preserve_range=True)
        photo = np.round(photo).astype(np.uint8)
    return np.ascontiguousarray(photo[:, :, :3])


def random_trajectory(rng):
    """A smooth camera path: array [F, 3] of (dx px, dy px, angle °), F odd, middle frame 0.

    Quadratic in time t ∈ [−1, 1]: a random direction of travel, a random bend, and a rotation that
    grows linearly; frames are spaced at most half a pixel apart so the average is smooth.
    """
    length = rng.uniform(4.0, 16.0)
    direction = rng.uniform(0, 2 * np.pi)
    velocity = 0.5 * length * np.array([np.cos(direction), np.sin(direction)])
    bend = rng.normal(0.0, length / 6.0, size=2)
    spin = rng.uniform(-0.6, 0.6)
    num_frames = 2 * int(np.ceil(length)) + 1
    t = np.linspace(-1.0, 1.0, num_frames)[:, None]
    shifts = t * velocity + (t ** 2 - (t ** 2).mean()) * bend   # mean shift ~0: sharp is centred
    shifts -= shifts[num_frames // 2]                           # the middle frame is the photo
    return np.concatenate([shifts, t * spin], axis=1)


def _warp_frames(image, trajectory):
    """Frame f = image moved by (dx, dy) and turned by angle about the centre: [F, H, W, C]."""
    h, w = image.shape[:2]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    transforms = []
    for dx, dy, angle in trajectory:
        a = np.deg2rad(angle)
        cos, sin = np.cos(a), np.sin(a)
        # output pixel p ← input pixel R⁻¹(p − c − d) + c
        tx = cx - cos * (cx + dx) - sin * (cy + dy)
        ty = cy + sin * (cx + dx) - cos * (cy + dy)
        transforms.append([cos, sin, tx, -sin, cos, ty, 0.0, 0.0])
    frames = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.repeat(tf.constant(image[None], tf.float32), len(trajectory), axis=0),
        transforms=tf.constant(transforms, tf.float32), output_shape=[h, w],
        interpolation="BILINEAR", fill_mode="NEAREST", fill_value=0.0)
    return frames.numpy()


def kernel_from_trajectory(trajectory):
    """The translation part of the blur as a normalised 2-D kernel (odd size, centre = no shift).

    Convolving the sharp image with it (true convolution, e.g. scipy.signal.convolve) approximates
    the blurry image; the small rotation is left out.
    """
    shifts = trajectory[:, :2]
    radius = int(np.ceil(np.abs(shifts).max())) + 1
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1))
    for dx, dy in shifts:   # bilinear splat of each frame's shift
        x, y = dx + radius, dy + radius
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    return kernel / kernel.sum()


def synthesize(sharp, rng):
    """Blurs a uint8 photo along a random trajectory.

    Returns {"blur", "blur_gamma": uint8 like `sharp`, "kernel": float [k, k],
    "trajectory": [F, 3] (dx, dy, angle°), "noise_sigma": grey levels}.
    """
    trajectory = random_trajectory(rng)
    frames = _warp_frames(sharp.astype(np.float32) / 255.0, trajectory)
    sigma = rng.uniform(0.5, 2.0)
    noise = rng.normal(0.0, sigma / 255.0, size=sharp.shape)
    stored = frames.mean(axis=0)
    linear = (frames ** GAMMA).mean(axis=0) ** (1.0 / GAMMA)

    def quantise(x):
        return np.round(np.clip(x + noise, 0.0, 1.0) * 255.0).astype(np.uint8)

    return {"blur": quantise(stored), "blur_gamma": quantise(linear),
            "kernel": kernel_from_trajectory(trajectory), "trajectory": trajectory,
            "noise_sigma": sigma}


# zlib level of the PNGs written to the caches below (materialise, ensure_clips): made once on
# first use, read often; level 1 encodes 3.5× faster than the default 6 (about 8 s less for the
# embedded dataset on 2 cores), the files about 15 % larger, the pixels the same.
CACHE_COMPRESSION = 1

# Held-out hand-held clips (`handheld_clip`, `clips`): frames per clip and frame size.
CLIP_FRAMES = 24
CLIP_SIZE = (192, 256)


def handheld_clip(photo, count=CLIP_FRAMES, size=CLIP_SIZE, rng=None):
    """A synthetic hand-held clip of a photo, with sharp truth: (sharp, blurry) lists of `count`
    uint8 frames of `size` (height, width).

    A window pans slowly across the photo (a smooth curve, about 3 px a frame on the embedded
    photos, whole pixels) and every frame is blurred with its own random camera-shake trajectory
    and noise, exactly as the embedded dataset is (`synthesize`): the blur changes from frame to
    frame, as in a real hand-held video.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    height, width = size
    span_y, span_x = photo.shape[0] - height, photo.shape[1] - width
    t = np.linspace(0.0, 1.0, count)
    start = rng.uniform(0.0, 0.3, size=2)
    path_y = span_y * (start[0] + 0.4 * t + 0.1 * np.sin(np.pi * t))
    path_x = span_x * (start[1] + 0.5 * t)
    sharp, blurry = [], []
    for y, x in zip(np.round(path_y).astype(int), np.round(path_x).astype(int)):
        frame = np.ascontiguousarray(photo[y:y + height, x:x + width])
        sharp.append(frame)
        blurry.append(synthesize(frame, rng)["blur"])
    return sharp, blurry


def clips(split="test", seed=0, count=CLIP_FRAMES, size=CLIP_SIZE):
    """One `handheld_clip` per photo of `split` ("test": photos never trained on), always the
    same for a seed: list of (photo name, sharp frames, blurry frames)."""
    rng = np.random.default_rng(seed)
    return [(name, *handheld_clip(load_photo(name), count, size, rng)) for name in PHOTOS[split]]


CLIPS = "clips"   # the name of the held-out clips as a data source (`srn-evaluate --data=clips`)


def clips_dir():
    """Where the held-out clips are written: `clips/` beside the embedded dataset's folder."""
    return os.path.join(os.path.dirname(default_dir()), "embedded_clips")


def ensure_clips(directory=None, seed=0):
    """`directory` (default `clips_dir()`) holding the held-out clips (`clips("test")`) in GoPro's
    layout, `test/<photo>/{blur,sharp}/NNNNNN.png`, written first if missing or out of date."""
    directory = directory or clips_dir()
    tag = f"{VERSION} clips seed={seed} frames={CLIP_FRAMES} size={CLIP_SIZE}\n"
    tag_path = os.path.join(directory, "VERSION")
    if os.path.isfile(tag_path):
        with open(tag_path) as fh:
            if fh.read() == tag:
                return directory
    log.warning("writing the held-out clips to %s (once; a few seconds)", directory)
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".clips-", dir=parent)
    os.chmod(tmp, ordinary_mode(folder=True))
    try:
        for name, sharp, blurry in clips("test", seed):
            for key, frames in (("sharp", sharp), ("blur", blurry)):
                os.makedirs(os.path.join(tmp, "test", name, key))
                for k, frame in enumerate(frames):
                    write_png(os.path.join(tmp, "test", name, key, f"{k:06d}.png"), frame,
                              compress_level=CACHE_COMPRESSION)
        with open(os.path.join(tmp, "VERSION"), "w") as fh:
            fh.write(tag)
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        os.rename(tmp, directory)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return directory


def materialise(directory=None, seed=0, frames_per_photo=None):
    """Writes the whole dataset to `directory` (default: `default_dir()`) atomically: built aside,
    then renamed in, replacing an earlier embedded dataset there.

    Raises DataError (nothing written) if `directory` holds anything else."""
    directory = directory or default_dir()
    frames_per_photo = frames_per_photo or FRAMES_PER_PHOTO
    if (os.path.isdir(directory) and os.listdir(directory) and
            not os.path.isfile(os.path.join(directory, "VERSION"))):
        raise DataError(f"{directory} is not empty and holds no embedded dataset (no VERSION "
                        "file): nothing was written there; choose a new or empty folder")
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".embedded-", dir=parent)
    os.chmod(tmp, ordinary_mode(folder=True))   # not mkdtemp's 0700: it is renamed into place
    try:
        for split, photos in PHOTOS.items():
            for p, photo_name in enumerate(photos):
                sharp = load_photo(photo_name)
                if split == "val":
                    sharp = _centre_crop(sharp, VAL_SIDE)
                rng = np.random.default_rng([seed, p, GOPRO_SPLIT_IDS[split]])
                seq = os.path.join(tmp, split, photo_name)
                for sub in ("blur", "blur_gamma", "sharp", "kernel", "trajectory"):
                    os.makedirs(os.path.join(seq, sub))
                for f in range(frames_per_photo[split]):
                    example = synthesize(sharp, rng)
                    stem = f"{f:06d}"
                    write_png(os.path.join(seq, "sharp", stem + ".png"), sharp,
                              compress_level=CACHE_COMPRESSION)
                    for key in ("blur", "blur_gamma"):
                        write_png(os.path.join(seq, key, stem + ".png"), example[key],
                                  compress_level=CACHE_COMPRESSION)
                    np.save(os.path.join(seq, "kernel", stem + ".npy"), example["kernel"])
                    with open(os.path.join(seq, "trajectory", stem + ".json"), "w") as fh:
                        json.dump({"dx_dy_angle_deg": example["trajectory"].round(4).tolist(),
                                   "noise_sigma_grey_levels": round(example["noise_sigma"], 4)},
                                  fh)
        with open(os.path.join(tmp, "VERSION"), "w") as fh:
            fh.write(_version_tag(seed, frames_per_photo))
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        os.rename(tmp, directory)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return directory



def _centre_crop(image, side):
    top, left = max(0, (image.shape[0] - side) // 2), max(0, (image.shape[1] - side) // 2)
    return np.ascontiguousarray(image[top:top + side, left:left + side])


def _version_tag(seed, frames_per_photo):
    return (f"{VERSION} seed={seed} frames={sorted(frames_per_photo.items())} "
            f"photos={sorted(PHOTOS.items())}\n")


def ensure_materialised(directory=None, seed=0):
    """`directory` (default: `default_dir()`), after writing the dataset there if it is missing or
    out of date."""
    directory = directory or default_dir()
    tag_path = os.path.join(directory, "VERSION")
    if os.path.isfile(tag_path):
        with open(tag_path) as fh:
            if fh.read() == _version_tag(seed, FRAMES_PER_PHOTO):
                return directory
    log.warning("writing the embedded dataset to %s (once; a few seconds)", directory)
    return materialise(directory, seed)
