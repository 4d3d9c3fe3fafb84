"""Reading and writing image files: one decoder (`decode`) for deblur, evaluate and training.

An image is what an image viewer shows. `decode` reads a file with Pillow and returns its pixels
as uint8 or uint16 arrays H×W×C:

  * C = 1 grey (modes 1, L, I;16), 2 grey + alpha (LA), 3 RGB (RGB, YCbCr, CMYK, a palette
    without transparency), 4 RGB + alpha (RGBA, PA, a palette with transparency);
  * 16-bit PNGs and TIFFs (grey, grey + alpha, RGB, RGBA) stay uint16 (Pillow holds 16-bit
    colour in 8 bits, so those pixels come from TensorFlow's PNG decoder and tifffile); all else
    uint8;
  * the EXIF orientation is applied (the picture turned as a viewer turns it);
  * an embedded ICC profile is kept (returned with the pixels, and `write_png` attaches it to the
    result), so a viewer shows the result in the colours of the input; CMYK (e.g. CMYK JPEGs) is
    converted to sRGB, with the file's own CMYK profile when it has one;
  * animated files (GIF, APNG, WebP with more than one frame) give every frame, composited as a
    viewer shows them, with each frame's duration.

Anything else (32-bit integer or float images, modes such as LAB or HSV, files Pillow cannot read)
raises `ImageReadError` naming the file and the reason. Writing is atomic (a temporary file renamed
into place), and the files get the permissions any file the user creates gets (0666 less umask).
"""

import dataclasses
import io
import os
import struct
import tempfile
import zlib

import numpy as np
import tensorflow as tf
from PIL import Image, ImageCms, UnidentifiedImageError

from srn_tf.errors import ImageReadError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_EXIF_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class Decoded:
    """A decoded image file.

    frames: list of uint8/uint16 arrays H×W×C (C in 1..4, see the module docstring), one for a
      still image, all of one shape and dtype.
    icc_profile: the embedded ICC profile (bytes) the pixels are in, or None (sRGB).
    durations: milliseconds each frame is shown (animated files), else None.
    loop: animation loop count (0 = forever), else None.
    """
    frames: list
    icc_profile: bytes = None
    durations: list = None
    loop: int = None

    @property
    def animated(self):
        return len(self.frames) > 1


def _orientation(image):
    """The EXIF orientation tag (1–8, 1 = as stored) of an open Pillow image, from its header
    (a PNG's eXIf chunk counts when it comes before the pixels, as the PNG spec asks)."""
    if image.format == "PNG":   # Pillow's getexif() decodes a whole PNG to look for a late eXIf
        exif = Image.Exif()
        if image.info.get("exif"):
            exif.load(image.info["exif"])
        return exif.get(_EXIF_ORIENTATION, 1)
    return image.getexif().get(_EXIF_ORIENTATION, 1)


def _orient(pixels, orientation):
    """Turns H×W×C pixels as a viewer does for an EXIF orientation tag (1–8)."""
    turn = {2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
            5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
            7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2), 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turn[orientation](pixels)) if orientation in turn else pixels


def _pixels(frame):
    """One Pillow frame → (uint8/uint16 H×W×C array, ICC profile kept or None)."""
    icc = frame.info.get("icc_profile") or None
    mode = frame.mode
    if mode == "CMYK":
        if icc:
            frame = ImageCms.profileToProfile(frame, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                              ImageCms.createProfile("sRGB"), outputMode="RGB")
        else:
            frame = frame.convert("RGB")
        icc, mode = None, "RGB"
    elif mode == "P":
        mode = "RGBA" if "transparency" in frame.info else "RGB"
    elif mode in ("PA", "RGBa", "La"):
        mode = {"PA": "RGBA", "RGBa": "RGBA", "La": "LA"}[mode]
    elif mode in ("1", "RGBX", "YCbCr"):
        mode = {"1": "L", "RGBX": "RGB", "YCbCr": "RGB"}[mode]
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        array = np.asarray(frame).astype(np.uint16)
        return array[:, :, None], icc
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"pixel mode {frame.mode} is not supported (8- or 16-bit grey, grey + "
                         "alpha, RGB, RGBA, palette and CMYK are); save it as an 8- or 16-bit PNG")
    array = np.asarray(frame if frame.mode == mode else frame.convert(mode))
    return (array[:, :, None] if array.ndim == 2 else array), icc


def _deep_colour(image, data):
    """The uint16 H×W×C pixels of a 16-bit colour (or grey + alpha) PNG or TIFF, which Pillow
    would reduce to 8 bits; None for every other file."""
    if image.mode.startswith("I;16"):
        return None                       # 16-bit grey: Pillow keeps it
    if image.format == "PNG" and data[:8] == _PNG_SIGNATURE and data[24] == 16:
        # (IHDR's bit depth: after the signature, IHDR's length and type, width and height)
        return tf.io.decode_png(data, dtype=tf.uint16).numpy()
    if image.format == "TIFF" and max(image.tag_v2.get(258, (8,)) or (8,)) == 16:
        import tifffile                   # a scikit-image dependency
        pixels = tifffile.imread(io.BytesIO(data), key=0)
        return pixels[:, :, None] if pixels.ndim == 2 else pixels
    return None


def decode(data, name="image"):
    """Decodes the bytes of an image file → `Decoded` (see the module docstring).

    `name` (the path) is used in error messages. Raises ImageReadError for a corrupt, truncated
    or unsupported file.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            orientation = _orientation(image)
            count = getattr(image, "n_frames", 1)
            deep = _deep_colour(image, data)
            if count > 1 and deep is not None:
                raise ValueError(f"16-bit files of several frames ({count}) are not supported; "
                                 "save each frame as a 16-bit PNG")
            frames, durations, icc = [], [], None
            for index in range(count):
                image.seek(index)
                pixels, frame_icc = _pixels(image)
                icc = icc or frame_icc
                frames.append(pixels)
                durations.append(image.info.get("duration", 100))
            loop = image.info.get("loop", 0)
        if deep is not None:
            frames = [deep]
        channels = max(f.shape[2] for f in frames)
        if channels in (2, 4) and any(f.shape[2] != channels for f in frames):   # alpha in some
            frames = [f if f.shape[2] == channels else np.concatenate(
                [np.broadcast_to(f, f.shape[:2] + (channels - 1,)),
                 np.full(f.shape[:2] + (1,), np.iinfo(f.dtype).max, f.dtype)], axis=2)
                for f in frames]
        frames = [_orient(f, orientation) for f in frames]
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError,
            Image.DecompressionBombError, tf.errors.OpError, ImageCms.PyCMSError) as e:
        if isinstance(e, UnidentifiedImageError):   # its text names a BytesIO object, not the file
            message = "not an image file Pillow can read (empty, truncated or another format)"
        else:
            message = getattr(e, "message", None) or str(e) or type(e).__name__
        raise ImageReadError(f"cannot read image {name}: {message}") from e
    if count == 1:
        return Decoded(frames, icc)
    return Decoded(frames, icc, durations, loop)


def read_file(path):
    """Reads and decodes an image file → `Decoded`; raises ImageReadError naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(f"cannot read image {path}: {e.strerror or e}") from e
    return decode(data, os.fspath(path))


def read_image(path):
    """Reads a still image → uint8 (uint16 for 16-bit files) array H×W×C, C in 1..4.

    Raises ImageReadError naming the file when it is missing, not an image, corrupt, of an
    unsupported mode, or animated (more than one frame: use `read_file` to get every frame).
    """
    decoded = read_file(path)
    if decoded.animated:
        raise ImageReadError(f"{path} is animated ({len(decoded.frames)} frames); only still "
                             "images are taken here (deblur.py deblurs every frame of it)")
    return decoded.frames[0]


def to_rgb8(image):
    """uint8/uint16 H×W×C (C in 1..4) → uint8 H×W×3, as training uses images.

    Grey is repeated to R, G and B; alpha is dropped; 16-bit values v become round(v / 257), the
    nearest 8-bit level (65535 ↦ 255).
    """
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    colour = image[:, :, :1] if image.shape[2] <= 2 else image[:, :, :3]
    return np.ascontiguousarray(np.broadcast_to(colour, image.shape[:2] + (3,)))


def decode_rgb8(data, name="image"):
    """The bytes of a still image file → uint8 H×W×3 (`decode`, then `to_rgb8`).

    The pixels training's tf.data pipelines give (`srn_tf.preprocess.file_decoder`: this function
    through tf.numpy_function, or TensorFlow's PNG decoder for the files `tf_png_depth` finds it
    gives them for); ImageReadError as `decode`, and for an animated file.
    """
    decoded = decode(bytes(data), name)
    if decoded.animated:
        raise ImageReadError(f"{name} is animated ({len(decoded.frames)} frames); training and "
                             "evaluation take still images only")
    return to_rgb8(decoded.frames[0])


def image_size(path):
    """(height, width) as a viewer shows the image (EXIF orientation applied), read from the file
    header only; None when it is not a readable image."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if _orientation(image) in (5, 6, 7, 8):
                width, height = height, width
            return height, width
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError,
            Image.DecompressionBombError):
        return None


def tf_png_depth(path):
    """8 or 16: the dtype's bits with which TensorFlow's PNG decoder (`tf.io.decode_png`,
    channels=3) gives `decode_rgb8`'s pixels of the file at `path` (16-bit values then reduced as
    `to_rgb8` does); None when only `decode_rgb8` itself will do. Reads the header only.

    8 or 16 for a still PNG (no APNG frames) whose EXIF orientation, if any, is 1: for those
    libpng and Pillow agree on every colour type and bit depth (grey repeated, palettes expanded,
    alpha and tRNS dropped, 1/2/4-bit grey scaled to 8 bits: tests/test_data.py checks each), and
    an ICC profile does not change `decode_rgb8`'s pixels. None for other formats, animated or
    turned PNGs, and files whose header Pillow cannot read (decode_rgb8 then names the fault).
    """
    try:
        with Image.open(path) as image:
            if (image.format != "PNG" or getattr(image, "n_frames", 1) != 1
                    or _orientation(image) != 1):
                return None
            image.fp.seek(24)                 # IHDR's bit depth (see _deep_colour)
            return 16 if image.fp.read(1) == b"\x10" else 8
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError,
            Image.DecompressionBombError):
        return None


def split_alpha(image):
    """H×W×C → (colour H×W×1 or H×W×3, alpha H×W×1 or None): C 2 and 4 carry alpha last."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (2, 4):
        return image[:, :, :-1], image[:, :, -1:]
    return image, None


def _png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload +
            struct.pack(">I", zlib.crc32(kind + payload)))


def encode_png(image, icc_profile=None):
    """uint8/uint16 H×W or H×W×C (C in 1..4) → PNG bytes of the same bit depth, with the ICC
    profile (iCCP chunk) when given."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    encoded = tf.io.encode_png(image).numpy()
    if not icc_profile:
        return encoded
    end_of_ihdr = 8 + 8 + 13 + 4
    iccp = _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
    return encoded[:end_of_ihdr] + iccp + encoded[end_of_ihdr:]


def encode_animated_png(decoded_frames, durations, loop, icc_profile=None):
    """uint8 frames H×W×C (C in 1..4, one shape) → animated PNG (APNG) bytes with those frame
    durations (ms) and loop count."""
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    frames = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f, modes[f.shape[2]])
              for f in decoded_frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:],
                   duration=list(durations), loop=loop, icc_profile=icc_profile)
    return buffer.getvalue()


def ordinary_mode(folder=False):
    """The permission bits a plain open()/mkdir() gives under the current umask (0666 or 0777 less
    umask): for files and folders made with tempfile (0600 / 0700) and renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def write_bytes(path, payload):
    """Writes `payload` to `path` atomically: to a temporary file in the same folder, renamed into
    place when complete, so a reader never sees a half-written file. The file gets the mode an
    ordinary write gives (0666 less umask), or the mode of the file it replaces."""
    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777 if os.path.isfile(path) else ordinary_mode()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = path      # a write through the descriptor names no file (a full disk)
        raise


def write_png(path, image, icc_profile=None):
    """Writes a uint8/uint16 image (H×W or H×W×C, C in 1..4) as a PNG of the same bit depth,
    atomically (`write_bytes`), with `icc_profile` attached when given."""
    write_bytes(path, encode_png(image, icc_profile))


def list_images(folder):
    """Image files (by extension) directly in `folder`, sorted by name."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))
