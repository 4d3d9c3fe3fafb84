"""The tf.data pipelines that feed training and evaluation, and the mixtures of sources.

`make_train_dataset` reads any source (`srn_tf.sources`: GoPro, data lists, folder pairs, the
embedded data; `"tfds:gopro"`; `"synthetic"`, `srn_tf.synthetic`'s procedural pairs; or a
mixture by weight such as "synthetic,embedded:0.3") into batches of aligned random crops, float32
in [0, 1]; `make_eval_dataset` gives full-size uint8 pairs in a stable order. The per-example ops
are `srn_tf.preprocess`'s.
"""

import contextlib
import logging

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.errors import DataError
from srn_tf.model import image_channels
from srn_tf.preprocess import augment_pair, file_decoder, random_crop_pair, to_model_input
from srn_tf.sources import TFDS_PREFIX, check_pairs, is_tfds, list_error, resolve_pairs

tf = lazy_tensorflow("reading pairs through tf.data (training data, TFDS, --data=tfds:…)")

log = logging.getLogger(__name__)


@contextlib.contextmanager
def naming_unreadable_files(pairs):
    """Turns a decode error raised while iterating a pipeline of `pairs` into a DataError naming
    the corrupt file(s). tf.data's own error does not say which file failed."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError, tf.errors.NotFoundError,
            tf.errors.UnknownError):
        log.warning("an image failed to decode; looking for the file(s) at fault …")
        bad = _unreadable(pairs) if pairs else []
        if not bad:
            raise
        raise list_error("corrupt or unreadable images", bad,
                         "Replace or remove them and restart.") from None


def _unreadable(pairs):
    """Paths among `pairs` that the pipelines' decoders (`preprocess.file_decoder`) cannot
    decode: every file decoded once, in parallel."""
    paths = [path for pair in pairs for path in (pair.blur, pair.sharp)]
    decode = file_decoder(paths)
    read = tf.data.Dataset.range(len(paths)).map(lambda k: (k, tf.shape(decode(k))),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    decoded = {int(k) for k, _ in read.ignore_errors()}
    return [path for k, path in enumerate(paths) if k not in decoded]


# ---- pipelines --------------------------------------------------------------------------------

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
            from srn_tf import synthetic   # its photo patches load on first use only
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


def _pair_decoder(pairs):
    """A graph function pair index i → decoded (blur, sharp) uint8 [H, W, 3] of `pairs[i]`
    (`srn_tf.preprocess.file_decoder`: each file by the fastest decoder giving its pixels)."""
    decode = file_decoder([p.blur for p in pairs] + [p.sharp for p in pairs])
    return lambda i: (decode(i), decode(i + len(pairs)))


def _decoded_pairs(pairs):
    """tf.data.Dataset of the decoded (blur, sharp) uint8 [H, W, 3] of `pairs`, in order."""
    return tf.data.Dataset.range(len(pairs)).map(_pair_decoder(pairs),
                                                 num_parallel_calls=tf.data.AUTOTUNE)


def _decoder(pairs, cache):
    """A graph function pair index → decoded (blur, sharp) uint8 [H, W, 3].

    With `cache`, every pair is decoded once, now, and kept in memory (one flat uint8 variable).
    """
    if not cache:
        return _pair_decoder(pairs)
    images = [image.numpy() for pair in _decoded_pairs(pairs) for image in pair]
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

    if is_tfds(source):
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
    ds = ds.map(crops if is_tfds(source) else lambda local: crops(*position(local)),
                num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.batch(batch_size // num_shards, drop_remainder=True)
    ds = ds.map(lambda b, s: (to_model_input(b, channels), to_model_input(s, channels)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(source=None, *, split="test", blur_key="blur", tfds_data_dir=None):
    """Full-size pairs in a stable order: dicts {"name": str, "blur", "sharp": uint8 [H, W, 3]}.

    Iterate it inside `naming_unreadable_files(resolve_pairs(...))` to get corrupt files named.
    """
    if is_tfds(source):
        return _tfds_examples(source, split, tfds_data_dir)[0]
    pairs = _file_pairs(source, split, blur_key, 0)
    names = tf.data.Dataset.from_tensor_slices([p.name for p in pairs])
    ds = tf.data.Dataset.zip(names, _decoded_pairs(pairs))
    return ds.map(lambda n, pair: {"name": n, "blur": pair[0], "sharp": pair[1]}).prefetch(2)


if __name__ == "__main__":   # python -m srn_tf.data: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.data"))
