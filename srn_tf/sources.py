"""Where blurry/sharp pairs come from: the file sources, listed and checked before any decoding.

Sources (`resolve_pairs`):
  * a GoPro root in its own layout, `<root>/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/NNNNNN.png`;
  * a data list in the release's format, one `sharp_path blur_path` pair a line, relative to a root;
  * a folder pair, `<root>/blur/*` and `<root>/sharp/*` matched by file name;
  * `"embedded"` (or None): the embedded real-photo dataset, materialised in GoPro layout on first use;
  * `"clips"`: the held-out hand-held clips (`srn_tf.embedded.clips`, test split only: video
    sequences with sharp truth, for the warping error);
  * `"tfds:gopro"`: the TFDS builder of `srn_tf.gopro_tfds` (read by `srn_tf.data`'s pipelines).

Structural problems are reported before any image is decoded, in one `DataError` that lists the
offending paths. The pipelines that decode, crop and mix these sources are `srn_tf.data`'s.
"""

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from srn_tf import embedded
from srn_tf.errors import DataError
from srn_tf.image_io import image_size, list_images

GOPRO_SPLITS = ("train", "test")
BLUR_KEYS = ("blur", "blur_gamma")
TFDS_PREFIX = "tfds:"
_SHOWN = 10   # offending paths listed in one message


@dataclasses.dataclass(frozen=True)
class Pair:
    """One training or test example: two image files of the same size and a stable name."""
    blur: str
    sharp: str
    name: str


def list_error(what, paths, hint):
    """A DataError saying `what` ({count}), listing the first offending `paths`, then `hint`."""
    shown = "\n  ".join(str(p) for p in paths[:_SHOWN])
    more = f"\n  … and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    return DataError(f"{what} ({len(paths)}):\n  {shown}{more}\n{hint}")


def _images_in(folder):
    return [os.path.basename(p) for p in list_images(folder)]


def _match_by_name(blur_dir, sharp_dir, prefix=""):
    """Pairs of same-named files; (pairs, unmatched paths). Every file of the two folders counts
    (`srn_tf.image_io.list_images`: whatever its extension, hidden files left out), so a file
    that is not an image is named, unpaired here or unreadable by `check_pairs`."""
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
        raise list_error(f"GoPro tree {split_dir} has unpaired images or missing folders", problems,
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
        raise list_error(f"data list {list_path} has bad lines", problems,
              f"Paths are relative to {root}; each line is 'sharp_path blur_path'.")
    return pairs


def folder_pairs(root):
    """Pairs of `<root>/blur/*` and `<root>/sharp/*`, matched by file name."""
    pairs, unmatched = _match_by_name(os.path.join(root, "blur"), os.path.join(root, "sharp"))
    if unmatched:
        raise list_error(f"folder pair {root} has unpaired images", unmatched,
              "Each image in blur/ needs a sharp/ image of the same file name, and the reverse.")
    return pairs


def resolve_pairs(source=None, split="train", blur_key="blur"):
    """The list of `Pair`s of a source (see the module docstring), not yet checked for sizes.

    Raises DataError for an unknown or empty source.
    """
    if source in (None, "embedded"):
        return gopro_pairs(embedded.ensure_materialised(), split, blur_key)
    if source == embedded.CLIPS:
        if split != "test" or blur_key != "blur":
            raise DataError(f"--data={embedded.CLIPS}: the held-out clips have a test split of "
                            "'blur' frames only")
        return gopro_pairs(embedded.ensure_clips(), split, blur_key)
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
    if source in (None, "embedded", embedded.CLIPS) or is_tfds(source):
        return True
    source = os.fspath(source)
    return not (os.path.isfile(source) or (os.path.isdir(os.path.join(source, "blur")) and
                                           os.path.isdir(os.path.join(source, "sharp"))))


def fingerprint(pairs):
    """What a list of pairs is, whatever its folder is called or wherever it was moved:
    "<N> pairs, sha256 <16 hex digits>" of each pair's name, its two files' extensions and byte
    sizes, in order (the order fixes a run's batches). One stat per file; no pixel is read.

    The same files give the same fingerprint through a relative path, a trailing slash, a symlink
    or a copy moved elsewhere; a pair added, removed, renamed or re-encoded gives another.
    Raises OSError for a file that cannot be read.
    """
    digest = hashlib.sha256()
    for pair in pairs:
        files = [f"{os.path.splitext(path)[1]}:{os.path.getsize(path)}"
                 for path in (pair.blur, pair.sharp)]
        digest.update("\0".join([pair.name, *files, "\n"]).encode())
    return f"{len(pairs)} pairs, sha256 {digest.hexdigest()[:16]}"


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
        raise list_error("unusable images", problems, "Fix or remove these files, or lower --crop_size.")
    return pairs


def is_tfds(source):
    return isinstance(source, str) and source.startswith(TFDS_PREFIX)
