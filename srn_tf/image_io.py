"""Reading and writing image files: one decoder (`decode`) for deblur, evaluate and training.

An image is what an image viewer shows. `decode` reads a file with Pillow, in any format Pillow
reads (its registry of plugins: PNG, JPEG/JFIF, TIFF, WebP, AVIF, GIF, BMP, …; HEIC/HEIF too when
the pillow-heif plugin is installed, `pip install pillow-heif`), told by its content, not its
name, and returns its pixels as uint8 or uint16 arrays H×W×C:

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

Size: any image whose deblurring fits in this machine's memory is read (`check_memory`: the
decoded image, its result and one working copy, against the physical memory less what
TensorFlow and one tile of the network take); Pillow's own decompression-bomb limit (89 MP, an
error above 179 MP) is lifted for srn-tf's reads only. Pixels are converted in strips and turned
into place, so a photo is held once as Pillow decodes it and once as the array, never more.

Anything else (32-bit integer or float images, modes such as LAB or HSV, camera raw files, files
Pillow cannot read, images too large for the memory) raises `ImageReadError` naming the file,
the reason and what to do. Writing is atomic (a temporary file renamed into place), and the
files get the permissions any file the user creates gets (0666 less umask).
"""

import contextlib
import dataclasses
import functools
import io
import os
import struct
import tempfile
import threading
import zlib

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from srn_tf.errors import ImageReadError

try:   # optional: HEIC/HEIF, the iPhone's photo format (pip install pillow-heif)
    import pillow_heif
except ImportError:
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

_EXIF_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Files in a folder that are not the user's: macOS's .DS_Store and ._ files (and every name
# starting with a dot, hidden on macOS and Linux), Windows' own hidden Thumbs.db and desktop.ini.
_SYSTEM_FILES = ("thumbs.db", "ehthumbs.db", "desktop.ini")
# Camera raw files: Pillow would read some (TIFF-based: DNG, NEF, …) as their small preview.
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf",
                  ".orf", ".rw2", ".rwl", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc",
                  ".mrw", ".mos")
_HEIF_EXTENSIONS = (".heic", ".heif", ".hif", ".heics", ".heifs")


def image_extensions():
    """The file name extensions Pillow reads (lower case, with the dot, sorted), from its registry
    of plugins (`PIL.Image.registered_extensions`, the formats it can open): .png, .jpg, .jfif,
    .avif, .webp, .tif, …, and .heic/.heif with pillow-heif. What the web demo offers to upload;
    folders are listed by `list_images`, which does not look at extensions."""
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                        if fmt in Image.OPEN))


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


# Turning H×W×C pixels as a viewer does for an EXIF orientation tag (views, no copy); _UNDO[o]
# turns back (each turn is its own inverse but the quarter turns 6 and 8).
_TURNS = {2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
          5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
          7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2), 8: lambda a: np.rot90(a, 1)}
_UNDO = {**{o: o for o in _TURNS}, 6: 8, 8: 6}
_STRIP_BYTES = 16 * 2**20   # pixels converted from Pillow's storage this many bytes at a time


def _orient(pixels, orientation):
    """Turns H×W×C pixels as a viewer does for an EXIF orientation tag (1–8): a new array."""
    return np.ascontiguousarray(_TURNS[orientation](pixels)) if orientation in _TURNS else pixels


# srn-tf's image size limit: a photo is refused when its peak memory while deblurred does not fit
# in the machine's memory less RESERVED_MEMORY. The peak is PEAK_COPIES × its decoded size,
# counted with at least 3 channels (a grey photo given to a color model is deblurred as RGB):
# the decoded image, its result and Pillow's copy while decoding or encoding; 16-bit colour or
# grey + alpha, which TensorFlow's PNG encoder writes from two copies of its own, DEEP_COPIES.
# Measured with benchmarks/large_photo.py (network stubbed): an 8-bit RGB 12000×9000 JPEG turned
# by EXIF peaks at 7.4 bytes/pixel (2.5 × 3), an RGBA PNG at 11.3 (2.8 × 4), a grey PNG at 5.3
# (1.8 × 3), a 4000×3000 16-bit RGB PNG at 26.6 (4.4 × 6). The reserve is TensorFlow with the
# model and the network on its tiles at the default memory budget: 889 MiB after the imports and
# the model, +670 MiB for a 2400×1800 photo (large_photo.py --network), rounded up.
PEAK_COPIES = 3
DEEP_COPIES = 5
RESERVED_MEMORY = 2 * 2**30


@functools.cache
def machine_memory():
    """Bytes of memory this process can have: the physical memory, or a container's (cgroup)
    limit when lower; None where neither can be read (e.g. Windows). Read once."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                limits.append(int(f.read()))
        except (OSError, ValueError):      # absent, or "max": no limit
            pass
    return min(limits) if limits else None


def _peak_bytes_per_pixel(channels, sample_bytes):
    copies = DEEP_COPIES if sample_bytes == 2 and channels > 1 else PEAK_COPIES
    return copies * max(channels, 3) * sample_bytes


def max_pixels(channels, sample_bytes, memory=None):
    """The most pixels (all frames together) of an image with `channels` (1–4) samples of
    `sample_bytes` (1 or 2) each that srn-tf reads: see PEAK_COPIES. `memory`: bytes, default
    `machine_memory()`. None where the memory cannot be read (then there is no limit)."""
    memory = machine_memory() if memory is None else memory
    if memory is None:
        return None
    return max(0, memory - RESERVED_MEMORY) // _peak_bytes_per_pixel(channels, sample_bytes)


def check_memory(name, width, height, channels, sample_bytes, frames=1):
    """Raises ImageReadError naming `name` when the image is larger than `max_pixels` allows:
    the memory it needs, the machine's, and the largest part that fits."""
    limit = max_pixels(channels, sample_bytes)
    pixels = width * height * frames
    if limit is None or pixels <= limit:
        return
    need = pixels * _peak_bytes_per_pixel(channels, sample_bytes) + RESERVED_MEMORY
    kind = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    several = f" in {frames} frames" if frames > 1 else ""
    raise ImageReadError(
        f"cannot read image {name}: {width}×{height} pixels ({_megapixels(pixels)} MP{several}, "
        f"{8 * sample_bytes}-bit {kind}) need about {need / 2**30:.1f} GiB of memory to deblur, "
        f"more than this machine's {machine_memory() / 2**30:.1f} GiB; cut it into parts of at "
        f"most {_megapixels(limit)} MP (or scale it down), or use a machine with more memory")


def _megapixels(pixels):
    return f"{pixels / 1e6:.0f}" if pixels >= 10**7 else f"{pixels / 1e6:.2g}"


_PILLOW_LIMIT = threading.RLock()


@contextlib.contextmanager
def _without_pillow_limit():
    """Pillow's decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`: a warning above 89 MP, an
    error above 179 MP) lifted while srn-tf opens a file: `check_memory` is srn-tf's limit. The
    setting is Pillow's, for the whole process: a lock keeps srn-tf's threads from restoring it
    under one another, and it is restored at once."""
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _layout(image, deep):
    """(channels, bytes per sample) of what `decode` gives for an open Pillow image."""
    mode = image.mode
    channels = {"1": 1, "L": 1, "LA": 2, "La": 2, "P": 4 if "transparency" in image.info else 3,
                "PA": 4, "RGB": 3, "RGBX": 3, "YCbCr": 3, "CMYK": 3, "RGBA": 4,
                "RGBa": 4}.get(mode, len(image.getbands()))
    return channels, 2 if deep or mode.startswith("I;16") else 1


def _strip_converter(frame):
    """(f(Pillow strip of `frame`) → uint8/uint16 h×W×C array, C, dtype, ICC profile kept or
    None) for one Pillow frame; ValueError for a mode srn-tf does not take."""
    icc = frame.info.get("icc_profile") or None
    mode = frame.mode
    if mode == "CMYK":      # to sRGB, with the file's own CMYK profile when it has one
        if not icc:
            return (lambda strip: np.asarray(strip.convert("RGB"))), 3, np.uint8, None
        profiles = ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB")
        return (lambda strip: np.asarray(ImageCms.profileToProfile(strip, *profiles,
                                                                   outputMode="RGB"))), 3, \
            np.uint8, None
    if mode.startswith("I;16"):
        return (lambda strip: np.asarray(strip).astype(np.uint16)[:, :, None]), 1, np.uint16, icc
    target = {"P": "RGBA" if "transparency" in frame.info else "RGB", "PA": "RGBA",
              "RGBa": "RGBA", "La": "LA", "1": "L", "RGBX": "RGB", "YCbCr": "RGB"}.get(mode, mode)
    if target not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"pixel mode {mode} is not supported (8- or 16-bit grey, grey + alpha, "
                         "RGB, RGBA, palette and CMYK are); save it as an 8- or 16-bit PNG")
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[target]

    def convert(strip):
        array = np.asarray(strip if strip.mode == target else strip.convert(target))
        return array[:, :, None] if array.ndim == 2 else array
    return convert, channels, np.uint8, icc


def _pixels(frame, orientation):
    """One Pillow frame → (uint8/uint16 H×W×C array turned as a viewer shows it (EXIF
    `orientation`), ICC profile kept or None).

    A frame over _STRIP_BYTES is converted strip by strip into an array already turned: besides
    Pillow's own storage of the frame, only the result and one strip are held (np.asarray of the
    whole frame would hold Pillow's bytes of it as well, and turning it a third copy). A smaller
    one is converted whole (no strip copies: what training decodes)."""
    convert, channels, dtype, icc = _strip_converter(frame)
    width, height = frame.size
    rows = max(1, _STRIP_BYTES // (4 * width))     # Pillow holds up to 4 bytes a pixel
    if rows >= height:
        return _orient(convert(frame), orientation), icc
    shape = (width, height) if orientation in (5, 6, 7, 8) else (height, width)
    pixels = np.empty(shape + (channels,), dtype)
    stored = _TURNS[_UNDO[orientation]](pixels) if orientation in _TURNS else pixels
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        stored[top:bottom] = convert(frame.crop((0, top, width, bottom)))
    return pixels, icc


def _is_deep(image, head):
    """Whether an open image is a 16-bit colour (or grey + alpha) PNG or TIFF, whose pixels Pillow
    would reduce to 8 bits (16-bit grey Pillow keeps); `head`: the file's first 25 bytes."""
    if image.mode.startswith("I;16"):
        return False
    if image.format == "PNG":       # IHDR's bit depth: after the signature, IHDR's length and
        return head[:8] == _PNG_SIGNATURE and head[24:25] == b"\x10"   # type, width and height
    return image.format == "TIFF" and max(image.tag_v2.get(258, (8,)) or (8,)) == 16


def _deep_colour(image, data):
    """The uint16 H×W×C pixels of a 16-bit colour PNG or TIFF (`_is_deep`) from its bytes: PNGs
    by OpenCV (libpng; it gives grey + alpha as BGRA), TIFFs by tifffile."""
    if image.format == "PNG":
        import cv2
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None or pixels.dtype != np.uint16:
            raise ValueError("not a PNG that libpng decodes to 16 bits (truncated or corrupt?)")
        if data[25] == 4:               # IHDR colour type 4: grey + alpha, which libpng gives as BGRA
            return np.ascontiguousarray(pixels[:, :, [0, 3]])
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4
                            else cv2.COLOR_BGR2RGB)
    import tifffile                   # a scikit-image dependency
    pixels = tifffile.imread(io.BytesIO(data), key=0)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _unreadable_reason(name):
    """What to say of a file Pillow cannot identify: its hint by extension, if any."""
    if os.path.splitext(name)[1].lower() in _HEIF_EXTENSIONS and pillow_heif is None:
        return ("not an image file Pillow can read: HEIC/HEIF photos need the pillow-heif "
                "plugin (pip install pillow-heif)")
    return "not an image file Pillow can read (empty, truncated or another format)"


def decode(source, name="image"):
    """Decodes an image file → `Decoded` (see the module docstring).

    source: the file's bytes, or a binary file object open on it (`read_file`: then only the
      header is read before the size is checked, and the file is read once). `name` (the path)
      is used in messages, and its extension for camera raw files.
    Raises ImageReadError for a corrupt, truncated, unsupported or too large file
    (`check_memory`), or a camera raw file.
    """
    if os.path.splitext(name)[1].lower() in RAW_EXTENSIONS:
        raise ImageReadError(
            f"cannot read image {name}: a camera raw file, which srn-tf does not develop (Pillow "
            "would read only its small preview); export it from your raw developer (darktable, "
            "RawTherapee, Lightroom, …) as a 16-bit TIFF or PNG and deblur that")
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        head = stream.read(25)
        stream.seek(0)
        with contextlib.ExitStack() as stack:
            with _without_pillow_limit():
                image = stack.enter_context(Image.open(stream))
                count = getattr(image, "n_frames", 1)
            deep = _is_deep(image, head)
            channels, sample_bytes = _layout(image, deep)
            check_memory(name, *image.size, channels, sample_bytes, count)
            if count > 1 and deep:
                raise ValueError(f"16-bit files of several frames ({count}) are not supported; "
                                 "save each frame as a 16-bit PNG")
            if image.width * image.height > (Image.MAX_IMAGE_PIXELS or np.inf):
                stack.enter_context(_without_pillow_limit())   # Pillow checks again as it loads
            orientation = _orientation(image)
            if deep:
                stream.seek(0)
                frames, durations = [_orient(_deep_colour(image, stream.read()),
                                             orientation)], [None]
                icc = image.info.get("icc_profile") or None
            else:
                frames, durations, icc = [], [], None
                for index in range(count):
                    image.seek(index)
                    pixels, frame_icc = _pixels(image, orientation)
                    icc = icc or frame_icc
                    frames.append(pixels)
                    durations.append(image.info.get("duration", 100))
            loop = image.info.get("loop", 0)
        channels = max(f.shape[2] for f in frames)
        if channels in (2, 4) and any(f.shape[2] != channels for f in frames):   # alpha in some
            frames = [f if f.shape[2] == channels else np.concatenate(
                [np.broadcast_to(f, f.shape[:2] + (channels - 1,)),
                 np.full(f.shape[:2] + (1,), np.iinfo(f.dtype).max, f.dtype)], axis=2)
                for f in frames]
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, UnidentifiedImageError,
            ImageCms.PyCMSError) as e:
        if isinstance(e, UnidentifiedImageError):   # its text names a BytesIO object, not the file
            message = _unreadable_reason(name)
        elif isinstance(e, MemoryError):
            message = "not enough memory to decode it; cut it into parts or scale it down"
        else:
            message = getattr(e, "message", None) or str(e) or type(e).__name__
        raise ImageReadError(f"cannot read image {name}: {message}") from e
    if count == 1:
        return Decoded(frames, icc)
    return Decoded(frames, icc, durations, loop)


def read_file(path):
    """Reads and decodes an image file → `Decoded`; raises ImageReadError naming the file (as
    `decode`, and when it cannot be opened)."""
    try:
        with open(path, "rb") as f:
            return decode(f, os.fspath(path))
    except OSError as e:          # (decode's own OSErrors are ImageReadErrors already)
        raise ImageReadError(f"cannot read image {path}: {e.strerror or e}") from e


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
    through tf.numpy_function, or TensorFlow's PNG decoder for the files `tf_decoder` finds it
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
        with _without_pillow_limit(), Image.open(path) as image:
            width, height = image.size
            if _orientation(image) in (5, 6, 7, 8):
                width, height = height, width
            return height, width
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError):
        return None


def tf_decoder(path):
    """Which of TensorFlow's decoders gives `decode_rgb8`'s pixels of the file at `path`: "png8"
    or "png16" (`tf.io.decode_png`, channels=3, with that dtype; 16-bit values then reduced as
    `to_rgb8` does), "jpeg" (`tf.io.decode_jpeg`, channels=3, dct_method="INTEGER_ACCURATE"), or
    None when only `decode_rgb8` itself will do. Reads the header only.

    "png8"/"png16" for a still PNG (no APNG frames): libpng and Pillow agree on every colour
    type and bit depth (grey repeated, palettes expanded, alpha and tRNS dropped, 1/2/4-bit grey
    scaled to 8 bits). "jpeg" for an RGB or grey JPEG: both are libjpeg-turbo, and with the
    accurate integer DCT (Pillow's; TensorFlow's default differs by up to 40 grey levels) and
    fancy upsampling they agree on every value, baseline or progressive, any chroma
    subsampling (tests/test_data.py checks each). An ICC profile does not change
    `decode_rgb8`'s pixels. None for files whose EXIF orientation is not 1 (turned), CMYK/YCCK
    JPEGs, other formats, animated PNGs, and files whose header Pillow cannot read (decode_rgb8
    then names the fault).
    """
    try:
        with Image.open(path) as image:
            if getattr(image, "n_frames", 1) != 1 or _orientation(image) != 1:
                return None
            if image.format == "JPEG":
                return "jpeg" if image.mode in ("RGB", "L") else None
            if image.format != "PNG":
                return None
            image.fp.seek(24)                 # IHDR's bit depth (see _deep_colour)
            return "png16" if image.fp.read(1) == b"\x10" else "png8"
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


def _as_pillow(frame):
    """uint8 H×W×C (C in 1..4) or uint16 H×W×1 → a Pillow image (L, LA, RGB, RGBA, I;16)."""
    return Image.fromarray(np.ascontiguousarray(frame[:, :, 0] if frame.shape[2] == 1 else frame))


def ordinary_mode(folder=False):
    """The permission bits a plain open()/mkdir() gives under the current umask (0666 or 0777 less
    umask): for files and folders made with tempfile (0600 / 0700) and renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def write_with(path, write):
    """Calls write(binary file) on a temporary file in `path`'s folder and renames it to `path`
    when complete, so a reader never sees a half-written file. The file gets the mode an
    ordinary write gives (0666 less umask), or the mode of the file it replaces."""
    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777 if os.path.isfile(path) else ordinary_mode()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = path      # a write through the descriptor names no file (a full disk)
        raise


def write_bytes(path, payload):
    """Writes `payload` to `path` atomically (`write_with`)."""
    write_with(path, lambda f: f.write(payload))


def write_png(path, image, icc_profile=None, compress_level=6):
    """Writes a uint8/uint16 image (H×W or H×W×C, C in 1..4) as a PNG of the same bit depth,
    atomically (`write_with`), with `icc_profile` attached (iCCP chunk) when given.

    `compress_level` is zlib's, 0–9, for 8-bit and grey images (Pillow's default 6; the pixels do
    not depend on it): 1 writes a 512² photo about 3.5× faster into a file about 15 % larger.

    Pillow encodes what it holds (8-bit grey, grey + alpha, RGB, RGBA; 16-bit grey) straight into
    the file, with one copy of the pixels at most (RGB: 4 bytes a pixel); 16-bit colour, which
    Pillow would reduce to 8 bits, goes through OpenCV's encoder (libpng). 16-bit grey + alpha,
    a PNG colour type neither writes, is written as 16-bit RGBA with the grey in R, G and B
    (which every viewer shows the same)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype == np.uint8 or image.shape[2] == 1:
        picture = _as_pillow(image)
        write_with(path, lambda f: picture.save(f, "PNG", icc_profile=icc_profile,
                                                compress_level=compress_level))
        return
    import cv2
    if image.shape[2] == 2:
        image = image[:, :, [0, 0, 0, 1]]
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(
        image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV cannot encode a {image.shape} {image.dtype} PNG")
    end_of_ihdr = 8 + 8 + 13 + 4
    iccp = (_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
            if icc_profile else b"")
    write_with(path, lambda f: f.writelines(
        [memoryview(encoded)[:end_of_ihdr], iccp, memoryview(encoded)[end_of_ihdr:]]))


def write_image(path, decoded):
    """Writes a `Decoded` as PNG, atomically: a still image with `write_png`; several frames
    (uint8) as an animated PNG (APNG) with their durations (ms) and loop count. The ICC profile
    is attached either way."""
    if not decoded.animated:
        write_png(path, decoded.frames[0], decoded.icc_profile)
        return
    frames = [_as_pillow(f) for f in decoded.frames]
    write_with(path, lambda f: frames[0].save(
        f, "PNG", save_all=True, append_images=frames[1:], duration=list(decoded.durations),
        loop=decoded.loop, icc_profile=decoded.icc_profile))


def _is_hidden(name):
    return name.startswith(".") or name.lower() in _SYSTEM_FILES


def list_images(folder):
    """The files of a folder of images: every file directly in `folder`, sorted by name, whatever
    its extension (Pillow tells formats by content, so a file that is no image is named when it
    fails to read rather than passed over). Left out: subfolders, and hidden files (names that
    start with a dot, such as macOS's .DS_Store and ._ files and srn-tf's own temporary files;
    Windows' Thumbs.db, ehthumbs.db and desktop.ini)."""
    with os.scandir(folder) as entries:
        return sorted(e.path for e in entries if e.is_file() and not _is_hidden(e.name))
