"""One decoder for every command: each mode as a viewer shows it, eagerly and inside tf.data.

Expected pixels come from Pillow's own conversions (Image.convert, ImageOps.exif_transpose) or
from the arrays the test wrote, never from srn_tf.image_io itself.
"""

import os
import stat
import struct
import warnings
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageCms, ImageOps

from srn_tf import image_io, preprocess
from srn_tf.image_io import (ImageReadError, image_size, list_images, read_file, read_image,
                             write_image, write_png)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def strips_of_one_row(monkeypatch):
    """Every decode here converts (and turns) its pixels one row at a time, as a large photo is
    converted in strips: no strip boundary may show in any mode or orientation."""
    monkeypatch.setattr(image_io, "_STRIP_BYTES", 1)


def png16(path, array):
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA) written byte by byte, without our writer."""
    h, w, c = array.shape
    raw = b"".join(b"\x00" + array[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload +
                struct.pack(">I", zlib.crc32(kind + payload)))
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type,
                                                                  0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def in_tf_data(path):
    """What training's pipeline decodes: preprocess.decode_file inside a tf.data map."""
    ds = tf.data.Dataset.from_tensor_slices([str(path)]).map(preprocess.decode_file)
    return next(iter(ds)).numpy()


def rgb8(expected):
    """The 8-bit RGB reduction training uses, computed here: grey repeated, alpha dropped,
    16-bit v → nearest 8-bit level."""
    if expected.dtype == np.uint16:
        expected = np.round(expected / 257.0).astype(np.uint8)
    colour = expected[:, :, :1] if expected.shape[2] <= 2 else expected[:, :, :3]
    return np.repeat(colour, 3 // colour.shape[2], axis=2)


def pil_case(tmp_path, mode, fmt="PNG"):
    """A file of `mode`, and the H×W×C pixels Pillow itself shows for it."""
    image = Image.fromarray(RGB).convert(mode)
    if mode in ("LA", "RGBA"):
        image.putalpha(Image.fromarray(RNG.integers(0, 256, RGB.shape[:2], dtype=np.uint8)))
    if mode == "P":
        image.info["transparency"] = int(np.asarray(image)[0, 0])
    path = tmp_path / f"{mode}.{fmt.lower()}"
    options = {"transparency": image.info["transparency"]} if mode == "P" else {}
    image.save(path, fmt, **options, **({"lossless": True} if fmt == "WEBP" else {}))
    shown = Image.open(path)
    target = {"P": "RGBA", "1": "L", "CMYK": "RGB"}.get(shown.mode, shown.mode)
    expected = np.asarray(shown.convert(target))
    return path, expected[:, :, None] if expected.ndim == 2 else expected


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("LA", "PNG"), ("RGB", "PNG"),
                                      ("RGBA", "PNG"), ("P", "PNG"), ("1", "PNG"),
                                      ("CMYK", "JPEG"), ("RGB", "BMP"), ("RGB", "TIFF"),
                                      ("RGBA", "WEBP"), ("L", "TIFF"), ("P", "GIF"), ("RGB", "JPEG")])
def test_each_mode_eagerly_and_in_tf_data(tmp_path, mode, fmt):
    path, expected = pil_case(tmp_path, mode, fmt)
    got = read_image(path)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(in_tf_data(path), rgb8(expected))


def test_palette_transparency_is_alpha(tmp_path):
    path, expected = pil_case(tmp_path, "P")
    assert expected.shape[2] == 4 and (expected[:, :, 3] == 0).any()   # the case is not trivial


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_keeps_its_depth(tmp_path, channels):
    array = RNG.integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    png16(tmp_path / "x.png", array)
    got = read_image(tmp_path / "x.png")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, array)
    np.testing.assert_array_equal(in_tf_data(tmp_path / "x.png"), rgb8(array))


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_tiff_keeps_its_depth(tmp_path, channels):
    import tifffile
    array = RNG.integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "x.tif", array, photometric="rgb",
                     extrasamples=["unassalpha"] if channels == 4 else None)
    got = read_image(tmp_path / "x.tif")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, array)
    np.testing.assert_array_equal(in_tf_data(tmp_path / "x.tif"), rgb8(array))


def test_16_bit_grey_tiff(tmp_path):
    array = RNG.integers(0, 65536, (9, 7), dtype=np.uint16)
    Image.fromarray(array).save(tmp_path / "x.tif")
    got = read_image(tmp_path / "x.tif")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got[:, :, 0], array)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_a_viewer_turns_it(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    for fmt in ("JPEG", "PNG"):
        path = tmp_path / f"o.{fmt.lower()}"
        Image.fromarray(RGB).save(path, fmt, exif=exif.tobytes(), quality=95)
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        np.testing.assert_array_equal(read_image(path), expected)
        np.testing.assert_array_equal(in_tf_data(path), expected)
        assert image_size(str(path)) == expected.shape[:2]


def test_icc_profile_is_kept_and_written_back(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(RGB).save(tmp_path / "in.jpg", icc_profile=profile, quality=95)
    decoded = read_file(tmp_path / "in.jpg")
    assert decoded.icc_profile == profile
    write_png(str(tmp_path / "out.png"), decoded.frames[0], decoded.icc_profile)
    written = Image.open(tmp_path / "out.png")
    assert written.info["icc_profile"] == profile
    np.testing.assert_array_equal(np.asarray(written), decoded.frames[0])


def animated(path, fmt, count=5):
    frames = [Image.fromarray(np.full((6, 8, 3), 40 * i, np.uint8)) for i in range(count)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=70, loop=0,
                   lossless=True)
    return [np.asarray(f) for f in frames]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_files_give_every_frame_or_are_refused_by_path(tmp_path, fmt):
    path = tmp_path / f"a.{fmt.lower()}"
    frames = animated(path, fmt)
    decoded = read_file(path)
    assert len(decoded.frames) == 5 and decoded.durations == [70] * 5 and decoded.loop == 0
    for got, want in zip(decoded.frames, frames):
        np.testing.assert_array_equal(got[:, :, :3], want)
    with pytest.raises(ImageReadError, match=f"{path}.*animated.*5 frames"):
        read_image(path)
    with pytest.raises(tf.errors.OpError, match="animated"):
        in_tf_data(path)


def test_unsupported_and_corrupt_files_are_named(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ImageReadError, match=r"f\.tif.*mode F is not supported"):
        read_image(tmp_path / "f.tif")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageReadError, match=r"bad\.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ImageReadError, match=r"missing\.png"):
        read_image(tmp_path / "missing.png")


def png_header(path, width, height):
    """An 8-bit RGB PNG whose header says width × height, its pixel data cut short: what srn-tf
    reads of a file before it decodes the pixels, without writing 200 MP."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload +
                struct.pack(">I", zlib.crc32(kind + payload)))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                  0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def test_large_photos_are_read_whatever_pillows_limit(tmp_path, monkeypatch):
    """Phones' 50–200 MP photos: Pillow's decompression-bomb limit (here lowered to 20 pixels) is
    neither an error nor a warning in srn-tf's reads, and stays as it was for everyone else."""
    Image.fromarray(RGB).save(tmp_path / "photo.jpg", quality=95)          # 120 pixels
    frames = animated(tmp_path / "shake.gif", "GIF")                        # 48 pixels a frame
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # a DecompressionBombWarning fails the test
        assert read_image(tmp_path / "photo.jpg").shape == (12, 10, 3)
        assert image_size(str(tmp_path / "photo.jpg")) == (12, 10)
        assert len(read_file(tmp_path / "shake.gif").frames) == len(frames)
    assert Image.MAX_IMAGE_PIXELS == 20
    with pytest.raises(Image.DecompressionBombError):   # Pillow's own reads keep their limit
        Image.open(tmp_path / "photo.jpg")


def test_a_photo_too_large_for_the_memory_is_refused_in_srn_tfs_words(tmp_path, monkeypatch):
    """A 200 MP photo (16320×12240, a 200 MP phone's) on a machine of 3 GiB: 8-bit RGB peaks at 9
    bytes a pixel (PEAK_COPIES × 3), 1.7 GiB, and 2 GiB are kept for TensorFlow: refused before
    any pixel is decoded, saying what it needs, what there is, and the largest part that fits
    ((3 − 2) GiB / 9 bytes = 119 MP)."""
    png_header(tmp_path / "phone.png", 16320, 12240)
    monkeypatch.setattr(image_io, "machine_memory", lambda: 3 * 2**30)
    with pytest.raises(ImageReadError) as caught:
        read_file(tmp_path / "phone.png")
    assert str(caught.value) == (
        f"cannot read image {tmp_path / 'phone.png'}: 16320×12240 pixels (200 MP, 8-bit RGB) "
        "need about 3.7 GiB of memory to deblur, more than this machine's 3.0 GiB; cut it into "
        "parts of at most 119 MP (or scale it down), or use a machine with more memory")
    # With 64 GiB it is taken: what stops it then is its cut-short pixel data, not a limit.
    monkeypatch.setattr(image_io, "machine_memory", lambda: 64 * 2**30)
    with pytest.raises(ImageReadError) as caught:
        read_file(tmp_path / "phone.png")
    assert "memory" not in str(caught.value) and "bomb" not in str(caught.value)
    assert "limit" not in str(caught.value)


def test_pillow_reads_every_extension_of_its_registry(tmp_path):
    """What the demo offers to upload: Pillow's readable formats, not a hand list."""
    extensions = image_io.image_extensions()
    assert {".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".avif", ".webp", ".tif", ".tiff", ".bmp",
            ".gif", ".apng", ".qoi", ".ppm", ".tga"} <= set(extensions)
    assert ".pdf" not in extensions and ".palm" not in extensions   # Pillow writes these only
    assert all(e == e.lower() and e.startswith(".") for e in extensions)


def test_a_folder_lists_every_file_but_hidden_ones(tmp_path):
    """BH-29: a folder's inputs are its files whatever their names; what is no image is named
    when it fails to read. Hidden and the systems' own files, and subfolders, are left out."""
    names = ["a.jpg", "b.avif", "c.jfif", "d.heic", "notes.txt", "IMG_0001.AAE", "e"]
    for name in names + [".DS_Store", "._a.jpg", "Thumbs.db", "desktop.ini"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.png").write_bytes(b"x")
    assert list_images(str(tmp_path)) == [str(tmp_path / n) for n in sorted(names)]


def bh29_photos(folder):
    """BH-29's folder: a.jpg, b.avif, c.jfif and d.heic (a JPEG by content, an iPhone photo's
    name), 64×48; returns the pixels written."""
    y, x = np.mgrid[0:48, 0:64]
    pixels = np.stack([x * 4, y * 5, np.full_like(x, 90)], 2).astype(np.uint8)
    image = Image.fromarray(pixels)
    image.save(folder / "a.jpg")
    image.save(folder / "b.avif")
    image.save(folder / "c.jfif", format="JPEG")
    image.save(folder / "d.heic", format="JPEG")
    return pixels


def test_avif_jfif_and_a_jpeg_named_heic_read_by_content(tmp_path):
    """BH-29's files, each read as a viewer shows it (AVIF is lossy: near; the JPEGs, exact)."""
    pixels = bh29_photos(tmp_path)
    jpeg = np.asarray(Image.open(tmp_path / "a.jpg"))
    np.testing.assert_array_equal(read_image(tmp_path / "c.jfif"), jpeg)
    np.testing.assert_array_equal(read_image(tmp_path / "d.heic"), jpeg)
    avif = read_image(tmp_path / "b.avif")
    assert avif.shape == (48, 64, 3)
    assert np.abs(avif.astype(int) - pixels.astype(int)).mean() < 3


def test_heic_photos_read_with_the_plugin_and_named_without_it(tmp_path, monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif")   # requirements.txt installs it
    assert {".heic", ".heif"} <= set(image_io.image_extensions())
    image = Image.fromarray(np.full((48, 64, 3), (200, 40, 90), np.uint8))
    pillow_heif.from_pillow(image).save(tmp_path / "IMG_0001.HEIC", quality=95)
    got = read_image(tmp_path / "IMG_0001.HEIC")
    assert got.shape == (48, 64, 3)
    assert np.abs(got.astype(int) - (200, 40, 90)).max() <= 6
    # Without the plugin Pillow cannot tell a HEIC from noise: the message says what to install.
    (tmp_path / "d.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))
    monkeypatch.setattr(image_io, "pillow_heif", None)
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if "HEI" not in i])
    with pytest.raises(ImageReadError, match=r"d\.heic: .*pip install pillow-heif"):
        read_image(tmp_path / "d.heic")


def test_camera_raw_files_are_refused_not_read_as_their_preview(tmp_path):
    """A DNG is a TIFF to Pillow, which would give its small preview as the photo."""
    Image.fromarray(RGB).save(tmp_path / "IMG_0001.DNG", format="TIFF")
    with pytest.raises(ImageReadError, match=r"IMG_0001\.DNG: a camera raw file.*16-bit TIFF"):
        read_image(tmp_path / "IMG_0001.DNG")


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_png(str(tmp_path / "x.png"), RGB)
        (tmp_path / "ref").write_bytes(b"")            # what any program's plain write gives
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "x.png").st_mode) == \
        stat.S_IMODE(os.stat(tmp_path / "ref").st_mode) == 0o644
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), RGB)


def test_16_bit_and_grey_alpha_write_round_trip(tmp_path):
    """Each encoder (Pillow's for 8 bits and 16-bit grey, OpenCV's for 16-bit colour and alpha)
    keeps pixels, depth and the ICC profile; 16-bit grey + alpha comes back as RGBA with the grey
    in R, G and B (no encoder writes that PNG colour type)."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for array in (RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16),
                  RNG.integers(0, 65536, (5, 6, 2), dtype=np.uint16),
                  RNG.integers(0, 65536, (5, 6, 1), dtype=np.uint16),
                  RNG.integers(0, 256, (5, 6, 2), dtype=np.uint8),
                  RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)):
        expected = (array[:, :, [0, 0, 0, 1]] if array.dtype == np.uint16 and array.shape[2] == 2
                    else array)
        write_png(str(tmp_path / "x.png"), array)
        np.testing.assert_array_equal(read_image(tmp_path / "x.png"), expected)
        write_png(str(tmp_path / "p.png"), array, profile)
        decoded = read_file(tmp_path / "p.png")
        np.testing.assert_array_equal(decoded.frames[0], expected)
        assert decoded.icc_profile == profile == Image.open(tmp_path / "p.png").info["icc_profile"]


def test_png_compress_level_changes_the_size_not_the_pixels(tmp_path):
    """The embedded caches' level 1 (embedded.CACHE_COMPRESSION): same pixels, larger file."""
    smooth = np.cumsum(RNG.integers(0, 3, (64, 96, 3)), axis=1).clip(0, 255).astype(np.uint8)
    sizes = {}
    for level in (1, 9):
        write_png(str(tmp_path / f"{level}.png"), smooth, compress_level=level)
        np.testing.assert_array_equal(read_image(tmp_path / f"{level}.png"), smooth)
        sizes[level] = os.path.getsize(tmp_path / f"{level}.png")
    assert sizes[1] > sizes[9], sizes


def test_write_image_writes_every_frame(tmp_path):
    frames = animated(tmp_path / "a.gif", "GIF")
    write_image(str(tmp_path / "a.png"), read_file(tmp_path / "a.gif"))
    out = Image.open(tmp_path / "a.png")
    assert out.n_frames == 5 and out.info["duration"] == 70
    for i, frame in enumerate(frames):
        out.seek(i)
        np.testing.assert_array_equal(np.asarray(out.convert("RGB")), frame)


def test_other_atomic_writers_give_ordinary_permissions(tmp_path):
    """Exports and videos are renamed into place from tempfile's 0600 files: not any more."""
    from srn_tf import export, video_io
    old = os.umask(0o022)
    try:
        export._write_atomically(str(tmp_path / "m.tflite"), b"model")
        os.replace(video_io.temporary_beside(str(tmp_path / "clip.mp4"), "video"),
                   tmp_path / "clip.mp4")
    finally:
        os.umask(old)
    for name in ("m.tflite", "clip.mp4"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644, name
