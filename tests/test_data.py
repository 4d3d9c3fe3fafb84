import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageCms

from conftest import ROOT
from srn_tf import data, preprocess, sources
from srn_tf.errors import DataError
from srn_tf.image_io import decode_rgb8, write_png


def make_gopro_tree(root, split="train", sequences=2, frames=3, size=(48, 64), same=False, seed=0):
    """A tiny GoPro-layout tree; with same=True the blurry images equal the sharp ones."""
    rng = np.random.default_rng(seed)
    for s in range(sequences):
        seq = os.path.join(root, split, f"GOPR{s:04d}_00_00")
        for key in ("blur", "blur_gamma", "sharp"):
            os.makedirs(os.path.join(seq, key), exist_ok=True)
        for f in range(frames):
            sharp = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            blur = sharp if same else rng.integers(0, 256, size + (3,), dtype=np.uint8)
            write_png(os.path.join(seq, "sharp", f"{f:06d}.png"), sharp)
            write_png(os.path.join(seq, "blur", f"{f:06d}.png"), blur)
            write_png(os.path.join(seq, "blur_gamma", f"{f:06d}.png"), blur)
    return str(root)


@pytest.fixture
def identical_tree(tmp_path):
    return make_gopro_tree(tmp_path, same=True)


def first_batches(ds, n):
    return [tuple(t.numpy() for t in batch) for batch in ds.take(n)]


@pytest.mark.parametrize("augment", [False, True])
def test_crops_stay_aligned(identical_tree, augment):
    ds = data.make_train_dataset(identical_tree, crop_size=32, batch_size=4, seed=1,
                                 augment=augment, crops_per_image=2)
    for blur, sharp in first_batches(ds, 6):
        assert blur.shape == sharp.shape == (4, 32, 32, 3) and blur.dtype == np.float32
        np.testing.assert_array_equal(blur, sharp)
        assert 0.0 <= blur.min() and blur.max() <= 1.0


def test_same_seed_same_batches_other_seed_others(tmp_path):
    root = make_gopro_tree(tmp_path)
    a = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=2, seed=5), 5)
    b = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=2, seed=5), 5)
    c = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=2, seed=6), 5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0], y[0])
    assert any(not np.array_equal(x[0], z[0]) for x, z in zip(a, c))


def test_start_step_resumes_the_stream_exactly(tmp_path):
    root = make_gopro_tree(tmp_path)
    full = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=4, seed=9), 6)
    resumed = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=4, seed=9,
                                                    start_step=4), 2)
    for x, y in zip(full[4:], resumed):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])


@pytest.mark.parametrize("crops_per_image", [1, 2])
def test_shards_are_slices_of_the_global_batch(tmp_path, crops_per_image):
    root = make_gopro_tree(tmp_path)
    kwargs = dict(crop_size=16, batch_size=8, seed=4, crops_per_image=crops_per_image)
    full = first_batches(data.make_train_dataset(root, **kwargs), 3)
    shards = [first_batches(data.make_train_dataset(root, num_shards=2, shard_index=i, **kwargs), 3)
              for i in range(2)]
    for step in range(3):
        joined = np.concatenate([shards[0][step][0], shards[1][step][0]])
        np.testing.assert_array_equal(joined, full[step][0])
    with pytest.raises(ValueError, match="multiple of crops_per_image"):
        data.make_train_dataset(root, batch_size=6, crops_per_image=4)


def test_each_epoch_visits_every_pair_in_a_new_order(tmp_path):
    root = make_gopro_tree(tmp_path, sequences=2, frames=4, size=(16, 16))
    pairs = sources.resolve_pairs(root)
    sharps = {preprocess.decode_pair(p.blur, p.sharp)[1].numpy().tobytes(): p.name for p in pairs}
    ds = data.make_train_dataset(root, crop_size=16, batch_size=1, seed=3)
    order = [sharps[(np.round(s[0] * 255)).astype(np.uint8).tobytes()]
             for _, s in first_batches(ds, 3 * len(pairs))]
    epochs = [order[i * 8:(i + 1) * 8] for i in range(3)]
    assert all(sorted(e) == sorted(sharps.values()) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_cache_gives_the_same_batches(tmp_path):
    root = make_gopro_tree(tmp_path)
    plain = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=2, seed=2), 4)
    cached = first_batches(data.make_train_dataset(root, crop_size=16, batch_size=2, seed=2,
                                                   cache=True), 4)
    for x, y in zip(plain, cached):
        np.testing.assert_array_equal(x[0], y[0])


def test_grayscale_uses_the_luma_weights(identical_tree):
    ds = data.make_train_dataset(identical_tree, crop_size=48, batch_size=1, seed=0,
                                 model_type="lstm")
    blur, _ = first_batches(ds, 1)[0]
    assert blur.shape == (1, 48, 48, 1)
    pairs = sources.resolve_pairs(identical_tree)
    rgbs = [preprocess.decode_pair(p.blur, p.sharp)[0].numpy()[:, :, :].astype(np.float64) / 255
            for p in pairs]
    # The crop is 48 wide in a 64-wide image: compare with every horizontal offset.
    candidates = [(rgb @ [0.2989, 0.587, 0.114])[:, x:x + 48] for rgb in rgbs for x in range(17)]
    assert min(np.abs(c - blur[0, :, :, 0]).max() for c in candidates) < 1e-3


def test_crops_per_image(tmp_path):
    root = make_gopro_tree(tmp_path, sequences=1, frames=2)
    ds = data.make_train_dataset(root, crop_size=16, batch_size=8, seed=0, crops_per_image=4)
    blur, sharp = first_batches(ds, 1)[0]
    assert blur.shape == (8, 16, 16, 3)
    assert len({b.tobytes() for b in blur}) == 8   # different windows


def test_ops_give_the_same_result_eagerly_and_in_tf_data(tmp_path):
    root = make_gopro_tree(tmp_path, sequences=1, frames=1)
    pair = sources.resolve_pairs(root)[0]
    seed = tf.constant([4, 2], tf.int64)

    def ops(blur_path, sharp_path):
        blur, sharp = preprocess.decode_pair(blur_path, sharp_path)
        gray = preprocess.to_model_input(blur, 1)
        cb, cs = preprocess.random_crop_pair(blur, sharp, 24, seed)
        ab, as_ = preprocess.augment_pair(cb, cs, seed)
        return blur, gray, cb, cs, ab, as_

    eager = ops(tf.constant(pair.blur), tf.constant(pair.sharp))
    in_data = next(iter(tf.data.Dataset.from_tensors((pair.blur, pair.sharp)).map(ops)))
    for e, d in zip(eager, in_data):
        np.testing.assert_array_equal(e.numpy(), d.numpy())


def test_data_list_in_the_release_format(tmp_path):
    root = make_gopro_tree(tmp_path)
    lines = ["GOPR0000_00_00/sharp/000001.png GOPR0000_00_00/blur/000001.png",
             "", "GOPR0001_00_00/sharp/000000.png GOPR0001_00_00/blur/000000.png"]
    (tmp_path / "train" / "list.txt").write_text("\n".join(lines) + "\n")
    pairs = sources.resolve_pairs(str(tmp_path / "train" / "list.txt"))
    assert [p.name for p in pairs] == ["GOPR0000_00_00/blur/000001",
                                       "GOPR0001_00_00/blur/000000"]
    assert pairs[0].sharp == os.path.join(root, "train", "GOPR0000_00_00/sharp/000001.png")


def test_data_list_errors_list_every_bad_line(tmp_path):
    make_gopro_tree(tmp_path)
    (tmp_path / "train" / "list.txt").write_text(
        "GOPR0000_00_00/sharp/000001.png\n"
        "GOPR0000_00_00/sharp/000009.png GOPR0000_00_00/blur/000009.png\n")
    with pytest.raises(DataError) as e:
        sources.resolve_pairs(str(tmp_path / "train" / "list.txt"))
    message = str(e.value)
    assert "list.txt:1: expected 'sharp_path blur_path'" in message
    assert "list.txt:2: " in message and "000009.png does not exist" in message


def test_unpaired_images_are_listed(tmp_path):
    make_gopro_tree(tmp_path)
    os.remove(tmp_path / "train" / "GOPR0000_00_00" / "sharp" / "000001.png")
    os.remove(tmp_path / "train" / "GOPR0001_00_00" / "blur" / "000002.png")
    with pytest.raises(DataError) as e:
        sources.resolve_pairs(str(tmp_path))
    message = str(e.value)
    assert "GOPR0000_00_00/blur/000001.png (no sharp image)" in message
    assert "GOPR0001_00_00/sharp/000002.png (no blurry image)" in message


def test_folder_pair_source_and_its_errors(tmp_path):
    for key in ("blur", "sharp"):
        (tmp_path / key).mkdir()
        write_png(str(tmp_path / key / "a.png"), np.zeros((20, 20, 3), np.uint8))
    assert [p.name for p in sources.resolve_pairs(str(tmp_path))] == ["a"]
    write_png(str(tmp_path / "blur" / "b.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(DataError, match=r"blur/b.png \(no sharp image\)"):
        sources.resolve_pairs(str(tmp_path))


def test_folder_pairs_take_every_format_and_name_other_files(tmp_path):
    """BH-29 for evaluate/train: .avif and .jfif pairs are found as deblur.py finds them; hidden
    files are left out, and a file that is no image is named (unpaired, or unreadable)."""
    from PIL import Image
    for key in ("blur", "sharp"):
        (tmp_path / key).mkdir()
        for name in ("a.png", "b.avif"):
            Image.fromarray(np.full((20, 24, 3), 90, np.uint8)).save(tmp_path / key / name)
        Image.fromarray(np.full((20, 24, 3), 90, np.uint8)).save(tmp_path / key / "c.jfif",
                                                                 format="JPEG")
        (tmp_path / key / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    pairs = sources.check_pairs(sources.resolve_pairs(str(tmp_path)))
    assert [(p.name, os.path.basename(p.blur)) for p in pairs] == [
        ("a", "a.png"), ("b", "b.avif"), ("c", "c.jfif")]
    (tmp_path / "blur" / "notes.txt").write_text("not a photo")
    with pytest.raises(DataError, match=r"blur/notes.txt \(no sharp image\)"):
        sources.resolve_pairs(str(tmp_path))
    (tmp_path / "sharp" / "notes.txt").write_text("not a photo")
    with pytest.raises(DataError, match=r"blur/notes.txt \(not a readable image\)"):
        sources.check_pairs(sources.resolve_pairs(str(tmp_path)))


def test_empty_and_unknown_sources(tmp_path):
    (tmp_path / "blur").mkdir()
    (tmp_path / "sharp").mkdir()
    with pytest.raises(DataError, match="holds no image pairs"):
        sources.resolve_pairs(str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        sources.resolve_pairs(str(tmp_path / "nowhere"))
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="neither a GoPro root"):
        sources.resolve_pairs(str(tmp_path / "other"))


def test_gopro_root_without_the_split(tmp_path):
    root = make_gopro_tree(tmp_path, split="train")
    with pytest.raises(DataError, match="has no 'test' split"):
        sources.resolve_pairs(root, split="test")


def test_images_smaller_than_the_crop_and_unreadable_headers(tmp_path):
    root = make_gopro_tree(tmp_path, size=(48, 64))
    bad = tmp_path / "train" / "GOPR0001_00_00" / "sharp" / "000000.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError) as e:
        data.make_train_dataset(root, crop_size=56)
    message = str(e.value)
    assert "(48×64, smaller than the 56×56 crop)" in message
    assert f"{bad} (not a readable image)" in message


def test_corrupt_png_is_named_when_the_pipeline_hits_it(tmp_path):
    root = make_gopro_tree(tmp_path, sequences=1, frames=2)
    bad = tmp_path / "train" / "GOPR0000_00_00" / "blur" / "000001.png"
    bad.write_bytes(bad.read_bytes()[:200])    # a valid header, a truncated body
    # and a broken checksum of the pixel data, which Pillow lets pass but libpng (TensorFlow's
    # decoder of plain PNGs) refuses: named too, as the pipeline's own decoder finds it
    crc = tmp_path / "train" / "GOPR0000_00_00" / "sharp" / "000000.png"
    body = bytearray(crc.read_bytes())
    at = body.index(b"IDAT")
    body[at + 4 + int.from_bytes(body[at - 4:at], "big")] ^= 0xFF
    crc.write_bytes(bytes(body))
    pairs = sources.resolve_pairs(root)
    ds = data.make_train_dataset(pairs, crop_size=16, batch_size=2, seed=0)
    with pytest.raises(DataError) as raised:
        with data.naming_unreadable_files(pairs):
            for _ in ds.take(4):
                pass
    assert f"corrupt or unreadable images (2):\n  {crc}\n  {bad}\n" in str(raised.value)


def test_eval_dataset_is_full_size_in_a_stable_order(tmp_path):
    root = make_gopro_tree(tmp_path, split="test", size=(20, 30))
    examples = list(data.make_eval_dataset(root, split="test"))
    names = [e["name"].numpy().decode() for e in examples]
    assert names == sorted(names) and len(names) == 6
    assert names[0] == "GOPR0000_00_00/000000"
    assert examples[0]["blur"].shape == (20, 30, 3) and examples[0]["sharp"].dtype == tf.uint8


def test_blur_gamma_key(tmp_path):
    root = make_gopro_tree(tmp_path)
    pairs = sources.resolve_pairs(root, blur_key="blur_gamma")
    assert "/blur_gamma/" in pairs[0].blur


# ---- NC2: the pipeline decodes as image_io does, at TensorFlow's speed, and never hangs --------

ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2))   # (x0, y0, dx, dy) of the seven passes of an interlaced PNG


def raw_png(path, values, depth, colour_type, interlaced=False):
    """A PNG written byte by byte (not by Pillow nor TensorFlow): `values` H×W×C samples of
    `depth` bits (1, 2, 4, 8 or 16), Adam7-interlaced when asked."""
    def rows(image):
        if depth == 16:
            return b"".join(b"\x00" + row.astype(">u2").tobytes() for row in image)
        bits = np.unpackbits(image.astype(np.uint8)[..., None], axis=-1)[..., 8 - depth:]
        return b"".join(b"\x00" + np.packbits(row.ravel()).tobytes() for row in bits)
    passes = ([values[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7] if interlaced else [values])
    raw = b"".join(rows(p) for p in passes if p.size)

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload +
                struct.pack(">I", zlib.crc32(kind + payload)))
    height, width = values.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, int(interlaced))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def files_of_every_kind(folder):
    """{file name: the decoder `preprocess.decoder_of` must choose} for still images of every
    kind: plain PNGs and JPEGs for TensorFlow's decoders, and what only Pillow decodes as a viewer
    shows."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (19, 23, 3), dtype=np.uint8)
    kinds = {}

    def pil(name, image, decoder, **options):
        image.save(os.path.join(folder, name), **options)
        kinds[name] = decoder
    pil("rgb.png", Image.fromarray(rgb), preprocess.PNG8)
    pil("rgba.png", Image.fromarray(rng.integers(0, 256, (19, 23, 4), dtype=np.uint8)),
        preprocess.PNG8)
    pil("grey.png", Image.fromarray(rgb[:, :, 0]), preprocess.PNG8)
    pil("grey_alpha.png", Image.fromarray(rgb[:, :, :2].copy(), "LA"), preprocess.PNG8)
    palette = Image.fromarray(rgb).quantize(40)
    pil("palette.png", palette, preprocess.PNG8)
    pil("palette_trns.png", palette, preprocess.PNG8, transparency=3)
    pil("grey_trns.png", Image.fromarray(rgb[:, :, 0]), preprocess.PNG8, transparency=7)
    pil("bilevel.png", Image.fromarray(rgb[:, :, 0] > 128), preprocess.PNG8)
    pil("icc.png", Image.fromarray(rgb), preprocess.PNG8, icc_profile=ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes())
    for depth in (2, 4):
        raw_png(os.path.join(folder, f"grey{depth}.png"),
                rng.integers(0, 2 ** depth, (19, 23, 1)), depth, 0)
        kinds[f"grey{depth}.png"] = preprocess.PNG8
    raw_png(os.path.join(folder, "interlaced.png"), rgb, 8, 2, interlaced=True)
    kinds["interlaced.png"] = preprocess.PNG8
    for channels, colour_type in ((1, 0), (2, 4), (3, 2), (4, 6)):
        name = f"deep{channels}.png"
        raw_png(os.path.join(folder, name), rng.integers(0, 65536, (19, 23, channels)), 16,
                colour_type, interlaced=channels == 3)
        kinds[name] = preprocess.PNG16
    exif = Image.Exif()
    exif[0x0112] = 6                                    # turned: a viewer shows it 23×19
    pil("turned.png", Image.fromarray(rgb), preprocess.PILLOW, exif=exif.tobytes())
    # JPEGs: TensorFlow's decoder with the accurate integer DCT gives Pillow's values for RGB and
    # grey, baseline and progressive, every chroma subsampling and quality (its default DCT is off
    # by up to 40 grey levels at quality 100)
    pil("photo.jpg", Image.fromarray(rgb), preprocess.JPEG, quality=90)
    pil("best.jpg", Image.fromarray(rgb), preprocess.JPEG, quality=100, subsampling=0)
    pil("progressive.jpg", Image.fromarray(rgb), preprocess.JPEG, quality=75, progressive=True,
        subsampling=1)
    pil("grey.jpg", Image.fromarray(rgb[:, :, 0]), preprocess.JPEG, quality=85)
    pil("jpeg_named.png", Image.fromarray(rgb), preprocess.JPEG, format="JPEG")
    pil("turned.jpg", Image.fromarray(rgb), preprocess.PILLOW, exif=exif.tobytes())
    pil("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), preprocess.PILLOW)
    pil("bitmap.bmp", Image.fromarray(rgb), preprocess.PILLOW)
    pil("deep.tif", Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257), preprocess.PILLOW)
    pil("lossless.webp", Image.fromarray(rgb), preprocess.PILLOW, lossless=True)
    pil("palette.gif", palette, preprocess.PILLOW)
    return kinds


def test_the_pipeline_decodes_every_file_as_image_io_does(tmp_path):
    """NC2: TensorFlow's PNG decoder (no Python, in parallel) for the files where it gives
    `image_io.decode_rgb8`'s pixels, chosen per file from its header; Pillow for the rest. Every
    file decodes to decode_rgb8's pixels, inside tf.data."""
    kinds = files_of_every_kind(tmp_path)
    paths = [str(tmp_path / name) for name in kinds]
    assert [preprocess.decoder_of(p) for p in paths] == list(kinds.values())
    decode = preprocess.file_decoder(paths)
    decoded = tf.data.Dataset.range(len(paths)).map(decode, num_parallel_calls=4)
    for path, image in zip(paths, decoded):
        with open(path, "rb") as f:
            np.testing.assert_array_equal(image.numpy(), decode_rgb8(f.read(), path), path)
    # an animated PNG goes to Pillow, which refuses it by name (TensorFlow would take frame 1)
    frames = [Image.new("RGB", (8, 6), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "moving.png", save_all=True, append_images=frames[1:])
    assert preprocess.decoder_of(str(tmp_path / "moving.png")) == preprocess.PILLOW


def test_a_pipeline_of_plain_pngs_and_jpegs_runs_no_python(tmp_path):
    """NC2: plain PNGs and JPEGs never wait for the interpreter (neither for speed nor at exit);
    a source with one BMP has a Python decode in its graph, for that file only."""
    def python_calls(source):
        ds = data.make_train_dataset(source, crop_size=16, batch_size=2, seed=0)
        return b"PyFunc" in ds._as_serialized_graph().numpy()
    root = make_gopro_tree(tmp_path / "pngs", sequences=1, frames=2)
    assert not python_calls(root)
    sharp = tmp_path / "pngs" / "train" / "GOPR0000_00_00" / "sharp"
    Image.open(sharp / "000001.png").save(sharp / "000001.jpg", quality=95)
    os.remove(sharp / "000001.png")
    os.rename(sharp / "000001.jpg", sharp / "000001.png")     # a JPEG named .png
    assert not python_calls(root)
    Image.open(sharp / "000001.png").save(sharp / "000001.png", format="BMP")   # a BMP named .png
    assert python_calls(root)


TAKE_THREE = """
import sys
from srn_tf.data import make_train_dataset
kept = []
for source in sys.argv[1:]:
    pipe = make_train_dataset(source, crop_size=256, batch_size=16, seed=1)
    abandoned = iter(pipe)
    next(abandoned)
    del abandoned                          # an iterator abandoned mid-stream
    kept.append(iter(pipe))
    for _ in range(3):
        next(kept[-1])
print("done iterating; exiting", flush=True)
"""

ENDLESS = """
import sys
from srn_tf.data import make_train_dataset
for i, batch in enumerate(make_train_dataset(sys.argv[1], crop_size=256, batch_size=16, seed=1)):
    if i == 1:
        print("training", flush=True)
"""


def write_hd_pairs(root, ext, count=3):
    """NC2's input, smaller: `count` 1280×720 pairs of smooth noise in a folder pair."""
    rng = np.random.default_rng(0)
    for kind in ("blur", "sharp"):
        os.makedirs(os.path.join(root, kind), exist_ok=True)
        for i in range(count):
            small = Image.fromarray(rng.integers(0, 256, (45, 80, 3), dtype=np.uint8))
            small.resize((1280, 720), Image.BICUBIC).save(os.path.join(root, kind, f"{i}.{ext}"),
                                                          compress_level=1, quality=95)
    return str(root)


@pytest.mark.slow
def test_scripts_using_the_pipeline_end_promptly(tmp_path):
    """NC2: a script that took three batches and ended waited forever in the iterator's
    destructor, a Pillow decode in flight needing the interpreter. Now it ends when its last line
    has run, with plain PNGs (TensorFlow's decoder) and with BMPs (Pillow's, drained at exit),
    iterators abandoned mid-stream included; Ctrl-C ends an endless loop over a pipeline of JPEGs
    (TensorFlow's decoder)."""
    pngs, jpegs = write_hd_pairs(tmp_path / "png", "png"), write_hd_pairs(tmp_path / "jpg", "jpg")
    bmps = write_hd_pairs(tmp_path / "bmp", "bmp")
    env = dict(os.environ, PYTHONPATH=ROOT)
    take = subprocess.Popen([sys.executable, "-c", TAKE_THREE, pngs, bmps], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    endless = subprocess.Popen([sys.executable, "-c", ENDLESS, jpegs], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert endless.stdout.readline() == "training\n", endless.communicate()[1][-2000:]
        endless.send_signal(signal.SIGINT)
        start = time.monotonic()
        error = endless.communicate(timeout=60)[1]
        assert endless.returncode != 0 and "KeyboardInterrupt" in error, error[-2000:]
        assert time.monotonic() - start < 20
        assert take.stdout.readline() == "done iterating; exiting\n", take.communicate()[1]
        start = time.monotonic()
        take.wait(timeout=60)
        assert take.returncode == 0 and time.monotonic() - start < 20
    finally:
        for process in (take, endless):
            if process.poll() is None:
                process.kill()
