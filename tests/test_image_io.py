"""One decoder for every command: each mode as a viewer shows it, eagerly and inside tf.data.

Expected pixels come from Pillow's own conversions (Image.convert, ImageOps.exif_transpose) or
from the arrays the test wrote, never from srn_tf.image_io itself.
"""

import os
import stat
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageCms, ImageOps

from srn_tf import preprocess
from srn_tf.image_io import ImageReadError, image_size, read_file, read_image, write_png

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


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
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "huge.png")
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 1000          # 4096 pixels: over twice the limit, Pillow refuses
    try:
        with pytest.raises(ImageReadError, match=r"huge\.png.*exceeds limit"):
            read_image(tmp_path / "huge.png")
    finally:
        Image.MAX_IMAGE_PIXELS = limit


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
    for array in (RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16),
                  RNG.integers(0, 256, (5, 6, 2), dtype=np.uint8)):
        write_png(str(tmp_path / "x.png"), array)
        np.testing.assert_array_equal(read_image(tmp_path / "x.png"), array)


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
