"""Blurry/sharp pairs from any source, and the tf.data pipelines that feed training and evaluation.

Sources (`resolve_pairs`):
  * a GoPro root in its own layout, `<root>/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/NNNNNN.png`;
  * a data list in the release's format, one `sharp_path blur_path` pair a line, relative to a root;
  * a folder pair, `<root>/blur/*` and `<root>/sharp/*` matched by file name;
  * `"embedded"` (or None): the embedded real-photo dataset, materialised in GoPro layout on first use;
  * `"tfds:gopro"`: the TFDS builder of `srn_tf.gopro_tfds` (handled by the dataset functions).

Images are decoded by `srn_tf.image_io` (any mode it reads; 8-bit RGB for the pipelines), which
yield float32 in [0, 1]. Structural problems are reported before
any image is decoded, in one `DataError` that lists the offending paths.
"""

import contextlib
import dataclasses
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.image_io import IMAGE_EXTENSIONS, ImageReadError, decode_rgb8, image_size
from srn_tf.model import image_channels

tf = lazy_tensorflow("reading pairs through tf.data (training data, TFDS, --data=tfds:…)")

log = logging.getLogger(__name__)

GOPRO_SPLITS = ("train", "test")
BLUR_KEYS = ("blur", "blur_gamma")
TFDS_PREFIX = "tfds:"
_SHOWN = 10   # offending paths listed in one message


class DataError(ValueError):
    """A data source that cannot be used as it is; the message lists the offending paths."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """One training or test example: two image files of the same size and a stable name."""
    blur: str
    sharp: str
    name: str


def _fail(what, paths, hint):
    shown = "\n  ".join(str(p) for p in paths[:_SHOWN])
    more = f"\n  … and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    raise DataError(f"{what} ({len(paths)}):\n  {shown}{more}\n{hint}")


def _images_in(folder):
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))


def _match_by_name(blur_dir, sharp_dir, prefix=""):
    """Pairs of same-named files; (pairs, unmatched paths)."""
    blurs, sharps = set(_images_in(blur_dir)), set(_images_in(sharp_dir))
    pairs = [Pair(os.path.join(blur_dir, n), os.path.join(sharp_dir, n),
                  prefix + os.path.splitext(n)[0]) for n in sorted(blurs & sharps)]
    unmatched = ([f"{os.path.join(blur_dir, n)} (no sharp image)" for n in sorted(blurs - sharps)] +
                 [f"{os.path.join(sharp_dir, n)} (no blurry image)" for n in sorted(sharps - blurs)])
    return pairs, unmatched


def gopro_pairs(root, split="train", blur_key="blur"):
    """Pairs of a GoPro root (`GOPRO_Large` or a tree in its layout), named `<SEQ>/<frame>`."""
    if blur_key not in BLUR_KEYS:
        raise DataError(f"blur_key must be one of {BLUR_KEYS}, got {blur_key!r}")
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
        raise DataError(f"GoPro root {root} has no '{split}' split: {split_dir} does not exist. "
                        "Expected <root>/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/NNNNNN.png")
    pairs, problems = [], []
    for seq in sorted(os.listdir(split_dir)):
        seq_dir = os.path.join(split_dir, seq)
        if not os.path.isdir(seq_dir):
            continue
        blur_dir, sharp_dir = os.path.join(seq_dir, blur_key), os.path.join(seq_dir, "sharp")
        missing = [d for d in (blur_dir, sharp_dir) if not os.path.isdir(d)]
        if missing:
            problems += [f"{d} (missing folder)" for d in missing]
            continue
        seq_pairs, unmatched = _match_by_name(blur_dir, sharp_dir, prefix=f"{seq}/")
        pairs += seq_pairs
        problems += unmatched
    if problems:
        _fail(f"GoPro tree {split_dir} has unpaired images or missing folders", problems,
              "Every <SEQ> needs a 'sharp' and a '" + blur_key + "' folder with the same file names.")
    return pairs


def data_list_pairs(list_path, root=None):
    """Pairs of a release-style data list: lines `sharp_path blur_path`, relative to `root`.

    `root` defaults to the list file's folder. Blank lines and lines starting with # are skipped.
    Lists written on other systems read the same: UTF-8 with or without a byte-order mark, LF or
    CRLF line ends, `/` or `\\` between folder names.
    """
    root = os.path.dirname(os.path.abspath(list_path)) if root is None else root
    pairs, problems = [], []
    with open(list_path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 2:
                problems.append(f"{list_path}:{number}: expected 'sharp_path blur_path', got "
                                f"{line.strip()!r}")
                continue
            sharp, blur = (os.path.join(root, p.replace("\\", "/")) for p in fields)
            missing = [p for p in (sharp, blur) if not os.path.isfile(p)]
            problems += [f"{list_path}:{number}: {p} does not exist" for p in missing]
            if not missing:
                pairs.append(Pair(blur, sharp, os.path.splitext(fields[1].replace("\\", "/"))[0]))
    if problems:
        _fail(f"data list {list_path} has bad lines", problems,
              f"Paths are relative to {root}; each line is 'sharp_path blur_path'.")
    return pairs


def folder_pairs(root):
    """Pairs of `<root>/blur/*` and `<root>/sharp/*`, matched by file name."""
    pairs, unmatched = _match_by_name(os.path.join(root, "blur"), os.path.join(root, "sharp"))
    if unmatched:
        _fail(f"folder pair {root} has unpaired images", unmatched,
              "Each image in blur/ needs a sharp/ image of the same file name, and the reverse.")
    return pairs


def resolve_pairs(source=None, split="train", blur_key="blur"):
    """The list of `Pair`s of a source (see the module docstring), not yet checked for sizes.

    Raises DataError for an unknown or empty source.
    """
    if source in (None, "embedded"):
        from srn_tf import embedded
        return gopro_pairs(embedded.ensure_materialised(), split, blur_key)
    source = os.fspath(source)
    if os.path.isfile(source):
        pairs = data_list_pairs(source)
    elif os.path.isdir(os.path.join(source, "blur")) and os.path.isdir(os.path.join(source, "sharp")):
        pairs = folder_pairs(source)
    elif os.path.isdir(source) and any(os.path.isdir(os.path.join(source, s)) for s in GOPRO_SPLITS):
        pairs = gopro_pairs(source, split, blur_key)
    elif os.path.isdir(source):
        raise DataError(f"{source} is neither a GoPro root (with train/ or test/), nor a folder "
                        "pair (with blur/ and sharp/); give one of those, a data list file, "
                        "'embedded' or 'tfds:gopro'")
    else:
        raise DataError(f"data source {source} does not exist; give a GoPro root, a folder pair, "
                        "a data list file, 'embedded' or 'tfds:gopro'")
    if not pairs:
        raise DataError(f"data source {source} holds no image pairs")
    return pairs


def has_splits(source):
    """False for a folder pair or a data list: one set of pairs, whatever split is asked (so
    neither a test nor a validation split of their own); True for a GoPro root, the embedded data
    and TFDS."""
    if source in (None, "embedded") or _is_tfds(source):
        return True
    source = os.fspath(source)
    return not (os.path.isfile(source) or (os.path.isdir(os.path.join(source, "blur")) and
                                           os.path.isdir(os.path.join(source, "sharp"))))


def check_pairs(pairs, min_size=0):
    """Checks every pair from file headers only: readable, same size, at least `min_size` square.

    Raises one DataError listing every offending path. Returns the pairs.
    """
    if not pairs:
        raise DataError("the data source holds no image pairs")
    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda p: (image_size(p.blur), image_size(p.sharp)), pairs))
    problems = []
    for pair, (blur_size, sharp_size) in zip(pairs, sizes):
        for path, size in ((pair.blur, blur_size), (pair.sharp, sharp_size)):
            if size is None:
                problems.append(f"{path} (not a readable image)")
            elif min(size) < min_size:
                problems.append(f"{path} ({size[0]}×{size[1]}, smaller than the "
                                f"{min_size}×{min_size} crop)")
        if blur_size and sharp_size and blur_size != sharp_size:
            problems.append(f"{pair.blur} ({blur_size}) and {pair.sharp} ({sharp_size}) differ in size")
    if problems:
        _fail("unusable images", problems, "Fix or remove these files, or lower --crop_size.")
    return pairs


def find_unreadable(pairs):
    """Paths among `pairs` that `decode_pair` cannot decode (a full decode of every file)."""
    def bad(path):
        try:
            with open(path, "rb") as f:
                decode_rgb8(f.read(), path)
            return None
        except (OSError, ImageReadError):
            return path
    paths = [p for pair in pairs for p in (pair.blur, pair.sharp)]
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        return [p for p in pool.map(bad, paths) if p]


@contextlib.contextmanager
def naming_unreadable_files(pairs):
    """Turns a decode error raised while iterating a pipeline of `pairs` into a DataError naming
    the corrupt file(s). tf.data's own error does not say which file failed."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError, tf.errors.NotFoundError,
            tf.errors.UnknownError):
        log.warning("an image failed to decode; looking for the file(s) at fault …")
        bad = find_unreadable(pairs) if pairs else []
        if not bad:
            raise
        _fail("corrupt or unreadable images", bad, "Replace or remove them and restart.")


# ---- per-example ops (each works eagerly and inside tf.data) ---------------------------------

def decode_file(path):
    """Reads and decodes one still image file → uint8 [H, W, 3], eagerly or inside tf.data.

    The pixels are `srn_tf.image_io.decode_rgb8`'s (through tf.numpy_function): the one decoder
    deblur and evaluate use too, reduced to 8-bit RGB (grey repeated, alpha dropped, 16-bit v ↦
    round(v / 257)). A file it cannot decode raises an error naming it.
    """
    path = tf.convert_to_tensor(path, tf.string)
    def decode(data, name):   # bytes in tf.data, 0-d object arrays eagerly
        return decode_rgb8(np.asarray(data).item(), np.asarray(name).item().decode())
    image = tf.numpy_function(decode, [tf.io.read_file(path), path], tf.uint8, stateful=False)
    return tf.ensure_shape(image, [None, None, 3])


def decode_pair(blur_path, sharp_path):
    """Reads and decodes two image files → (blur, sharp) uint8 [H, W, 3] (`decode_file`)."""
    return decode_file(blur_path), decode_file(sharp_path)


def to_model_input(image, channels):
    """uint8 [..., H, W, 3] → float32 in [0, 1] with `channels` 3 (RGB) or 1 (the release's
    `tf.image.rgb_to_grayscale`)."""
    image = tf.cast(image, tf.float32) / 255.0
    return image if channels == 3 else tf.image.rgb_to_grayscale(image)


def random_crop_pair(blur, sharp, size, seed):
    """The same random `size`² window of both [H, W, C] images; `seed` a [2] int tensor.

    One offset is drawn and both images are sliced there (no copy of the full images).
    """
    height, width = tf.shape(blur)[0], tf.shape(blur)[1]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform([], seeds[0], 0, height - size + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[1], 0, width - size + 1, dtype=tf.int32)
    window = [size, size, None]
    return (tf.ensure_shape(blur[top:top + size, left:left + size], window),
            tf.ensure_shape(sharp[top:top + size, left:left + size], window))


def augment_pair(blur, sharp, seed):
    """The same random flip (left-right, up-down) and 90° rotation applied to both images."""
    stacked = tf.concat([blur, sharp], axis=-1)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    stacked = tf.image.stateless_random_flip_left_right(stacked, seeds[0])
    stacked = tf.image.stateless_random_flip_up_down(stacked, seeds[1])
    turns = tf.random.stateless_uniform([], seeds[2], 0, 4, dtype=tf.int32)
    stacked = tf.image.rot90(stacked, turns)
    return tf.split(stacked, 2, axis=-1)


# ---- pipelines --------------------------------------------------------------------------------

def _is_tfds(source):
    return isinstance(source, str) and source.startswith(TFDS_PREFIX)


SYNTHETIC = "synthetic"   # `srn_tf.synthetic`: procedural pairs, generated on the fly


def parse_mixture(source):
    """A mixed training source: `"synthetic"` or `"name[:weight],name[:weight],…"` → list of
    (name, weight), weights default 1. None for a plain (single, non-synthetic) source.

    Raises DataError for a weight that is not a positive number.
    """
    if not isinstance(source, str) or (source != SYNTHETIC and "," not in source):
        return None
    mixture = []
    for item in (i.strip() for i in source.split(",")):
        name, _, weight = item.rpartition(":")
        try:
            weight = float(weight) if name else 1.0
        except ValueError:          # a ':' of the name itself, as in tfds:gopro
            name, weight = item, 1.0
        name = name or item
        if not name or not weight > 0:
            raise DataError(f"--data {source!r}: {item!r} is not 'source' or 'source:weight' with "
                            "a positive weight, as in 'synthetic,embedded:0.3'")
        mixture.append((name, weight))
    return mixture


def mixture_batch_sizes(mixture, batch_size):
    """Crops of each source in every batch: batch_size split by weight (largest remainders).

    Raises DataError when a source would get no crop at this batch size."""
    total = sum(w for _, w in mixture)
    exact = [batch_size * w / total for _, w in mixture]
    sizes = [int(e) for e in exact]
    for k in sorted(range(len(exact)), key=lambda k: sizes[k] - exact[k])[:batch_size - sum(sizes)]:
        sizes[k] += 1
    empty = [name for (name, _), n in zip(mixture, sizes) if n == 0]
    if empty:
        raise DataError(f"with batch size {batch_size} the source(s) {empty} get no crop; raise "
                        "their weight or the batch size")
    return sizes


def is_builtin(source):
    """True for sources that need no download: the embedded data, synthetic pairs, or mixes of them."""
    mixture = parse_mixture(source)
    return all(name in (None, "embedded", SYNTHETIC) for name, _ in (mixture or [(source, 1)]))


def held_out_source(source):
    """The source whose test split measures a run on `source`: itself, or for a mixture its first
    file source, else the embedded data (synthetic pairs have no photos to hold out)."""
    mixture = parse_mixture(source)
    if mixture is None:
        return source
    return next((name for name, _ in mixture if name != SYNTHETIC), "embedded")


def _mixed_train_dataset(mixture, *, batch_size, num_shards, **kwargs):
    """Batches of `mixture`'s sources side by side: source k fills `mixture_batch_sizes`[k] crops
    of every batch (in mixture order), each its own position-addressable pipeline."""
    parts = []
    for (name, _), size in zip(mixture, mixture_batch_sizes(mixture, batch_size)):
        if size % num_shards:
            raise DataError(f"{size} crops of {name!r} per batch do not split across {num_shards} "
                            "shards; change the weights or the batch size")
        if name == SYNTHETIC:
            from srn_tf import synthetic
            parts.append(synthetic.make_train_dataset(
                batch_size=size, num_shards=num_shards,
                **{k: kwargs[k] for k in ("crop_size", "model_type", "seed", "start_step",
                                          "shard_index", "blur_key")}))
        else:
            parts.append(make_train_dataset(name, batch_size=size, num_shards=num_shards, **kwargs))
    if len(parts) == 1:
        return parts[0]
    return tf.data.Dataset.zip(*parts).map(
        lambda *batches: tuple(tf.concat([b[i] for b in batches], 0) for i in range(2)))


def _tfds_examples(source, split, data_dir, shuffle_seed=None):
    """(dataset of {"name", "blur", "sharp"} decoded uint8 examples, number of examples)."""
    import tensorflow_datasets as tfds
    from srn_tf import gopro_tfds  # noqa: F401  (registers the builder)
    read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed)
    ds, info = tfds.load(source[len(TFDS_PREFIX):], split=split, data_dir=data_dir, with_info=True,
                         shuffle_files=shuffle_seed is not None, read_config=read_config)
    ds = ds.map(lambda ex: {"name": tf.strings.join([ex["sequence"], ex["frame"]], "/"),
                            "blur": ex["blur"], "sharp": ex["sharp"]})
    return ds, info.splits[split].num_examples


def _file_pairs(source, split, blur_key, min_size):
    """Checked `Pair`s of a file source (or `source` itself when it is a list of pairs)."""
    pairs = source if isinstance(source, (list, tuple)) else resolve_pairs(source, split, blur_key)
    return check_pairs(pairs, min_size)


_TFDS_SHUFFLE_BUFFER = 64   # decoded full-size images held for shuffling a TFDS source


def _paths(pairs):
    return tf.data.Dataset.from_tensor_slices(([p.blur for p in pairs], [p.sharp for p in pairs]))


def _decoder(pairs, cache):
    """A graph function pair index → decoded (blur, sharp) uint8 [H, W, 3].

    With `cache`, every pair is decoded once, now, and kept in memory (one flat uint8 variable).
    """
    if not cache:
        blur_paths = tf.constant([p.blur for p in pairs])
        sharp_paths = tf.constant([p.sharp for p in pairs])
        return lambda i: decode_pair(tf.gather(blur_paths, i), tf.gather(sharp_paths, i))
    images = [image.numpy() for pair in _paths(pairs).map(
        decode_pair, num_parallel_calls=tf.data.AUTOTUNE) for image in pair]
    shapes = tf.constant([image.shape for image in images], tf.int64)
    offsets = tf.constant(np.cumsum([0] + [image.size for image in images]), tf.int64)
    flat = tf.Variable(np.concatenate([image.ravel() for image in images]), trainable=False)

    def image(k):
        return tf.reshape(flat[offsets[k]:offsets[k + 1]], shapes[k])
    return lambda i: (image(2 * i), image(2 * i + 1))


def _epoch_order(num_pairs, seed, epoch):
    """The pair order of one epoch: a permutation of range(num_pairs) fixed by (seed, epoch)."""
    noise = tf.random.stateless_uniform([num_pairs], tf.stack([tf.cast(seed, tf.int64), epoch]))
    return tf.argsort(noise, stable=True)


def make_train_dataset(source=None, *, crop_size=256, batch_size=16, model_type="color", seed=None,
                       split="train", blur_key="blur", augment=False, crops_per_image=1,
                       cache=False, start_step=0, num_shards=1, shard_index=0, tfds_data_dir=None):
    """The training pipeline: random aligned crops of pairs shuffled anew each epoch, forever.

    Every batch is a function of (seed, step) alone: the pairs of step s are positions
    s·P … (s+1)·P − 1 (P = batch_size / crops_per_image) of the endless stream of epochs, each epoch
    a permutation of the pairs drawn from (seed, epoch), and crop k of stream position j is cut with
    the stateless seed (seed, j·crops_per_image + k). So a run resumed at `start_step` sees exactly
    the batches an uninterrupted run would, and shards of a global batch need no coordination.

    Args:
      source: see `resolve_pairs`, or a list of `Pair`s, or "tfds:gopro"; or "synthetic"
        (`srn_tf.synthetic`), or a mixture "name[:weight],…" such as "synthetic,embedded:0.3":
        every batch then holds each source's share of crops (`mixture_batch_sizes`), each
        source addressed by (seed, step) as below.
      crop_size: side of the square crops, in pixels (the release: 256).
      batch_size: crops per global batch (the release: 16).
      model_type: "color" gives 3 channels, "gray"/"lstm" grayscale, 1 channel.
      seed: int; the same seed gives the same batches. None: a random seed.
      augment: random flips and 90° rotations, the same for both images (off in the release).
      crops_per_image: crops cut from each decoded pair (1 in the release); divides batch_size.
      cache: decode every pair once and keep it in memory (small datasets only).
      start_step: the first batch is that of this step.
      num_shards, shard_index: yield only this shard's contiguous slice of each global batch
        (batch_size / num_shards crops; shard i holds crops i·b … (i+1)·b − 1 of the global batch).
    Returns:
      tf.data.Dataset of (blur, sharp) float32 [batch_size / num_shards, crop_size, crop_size, C]
      in [0, 1]. Iterate it inside `naming_unreadable_files(pairs)` to get corrupt files named.
      For "tfds:gopro" the order comes from a shuffle buffer instead: deterministic for a seed, but
      a resumed run starts a fresh shuffle.
    """
    channels = image_channels(model_type)
    seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1) if seed is None else int(seed)
    mixture = parse_mixture(source)
    if mixture:
        return _mixed_train_dataset(
            mixture, crop_size=crop_size, batch_size=batch_size, model_type=model_type, seed=seed,
            split=split, blur_key=blur_key, augment=augment, crops_per_image=crops_per_image,
            cache=cache, start_step=start_step, num_shards=num_shards, shard_index=shard_index,
            tfds_data_dir=tfds_data_dir)
    pairs_per_step, rest = divmod(batch_size, crops_per_image)
    if rest or pairs_per_step % num_shards:
        raise ValueError(f"batch_size {batch_size} must be a multiple of crops_per_image "
                         f"({crops_per_image}) × shards ({num_shards})")
    per_shard = pairs_per_step // num_shards

    if _is_tfds(source):
        ds, size = _tfds_examples(source, split, tfds_data_dir, shuffle_seed=seed + start_step)
        ds = ds.map(lambda ex: (ex["blur"], ex["sharp"]))
        ds = (ds.cache() if cache else ds).shuffle(min(size, _TFDS_SHUFFLE_BUFFER),
                                                   seed=seed + start_step).repeat()
        ds = ds.shard(num_shards, shard_index).enumerate(start_step * pairs_per_step)
    else:
        pairs = _file_pairs(source, split, blur_key, crop_size)
        decode, num_pairs = _decoder(pairs, cache), len(pairs)

        def position(local):   # this shard's n-th pair → (stream position j, decoded pair)
            step = start_step + local // per_shard
            j = step * pairs_per_step + shard_index * per_shard + local % per_shard
            order = _epoch_order(num_pairs, seed, j // num_pairs)
            return j, decode(tf.gather(order, j % num_pairs))

        ds = tf.data.Dataset.range(np.iinfo(np.int64).max)

    def crops(j, pair):
        """uint8 crops [crops_per_image, crop, crop, 3] of both images."""
        blur, sharp = pair
        out_blur, out_sharp = [], []
        for k in range(crops_per_image):
            crop_seed = tf.stack([tf.constant(seed, tf.int64), j * crops_per_image + k])
            b, s = random_crop_pair(blur, sharp, crop_size, crop_seed)
            if augment:
                b, s = augment_pair(b, s, crop_seed + [0, 1 << 40])
            out_blur.append(b)
            out_sharp.append(s)
        return tf.stack(out_blur), tf.stack(out_sharp)

    # One map per pair (decode and crop together), then float conversion once per batch.
    ds = ds.map(crops if _is_tfds(source) else lambda local: crops(*position(local)),
                num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.batch(batch_size // num_shards, drop_remainder=True)
    ds = ds.map(lambda b, s: (to_model_input(b, channels), to_model_input(s, channels)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(source=None, *, split="test", blur_key="blur", tfds_data_dir=None):
    """Full-size pairs in a stable order: dicts {"name": str, "blur", "sharp": uint8 [H, W, 3]}.

    Iterate it inside `naming_unreadable_files(resolve_pairs(...))` to get corrupt files named.
    """
    if _is_tfds(source):
        return _tfds_examples(source, split, tfds_data_dir)[0]
    pairs = _file_pairs(source, split, blur_key, 0)
    names = tf.data.Dataset.from_tensor_slices([p.name for p in pairs])
    ds = tf.data.Dataset.zip(names, _paths(pairs).map(decode_pair, num_parallel_calls=tf.data.AUTOTUNE))
    return ds.map(lambda n, pair: {"name": n, "blur": pair[0], "sharp": pair[1]}).prefetch(2)
