"""Deblurring image files and folders: the logic behind `deblur.py`."""

import collections
import dataclasses
import logging
import os
import tempfile

from tqdm import tqdm

from srn_tf.errors import ImageReadError, Interrupted
from srn_tf.image_io import image_extensions, list_images, read_file, write_image
from srn_tf.inference import deblur_with
from srn_tf.model import model_type_of
from srn_tf.video import frame_restorer
from srn_tf.video_io import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

def _output_names(inputs):
    """Output file names for `inputs` that never collide: `<stem>.png`, and where two inputs share
    a stem (IMG_0001.jpg, IMG_0001.png) the PNG keeps `<stem>.png` and the others get
    `<name>.png` (IMG_0001.jpg.png). Raises ValueError naming any clash that remains."""
    names = [os.path.basename(p) for p in inputs]
    stems = [os.path.splitext(n)[0] + ".png" for n in names]
    # casefold: two names differing in case are one file on macOS and Windows file systems
    counts = collections.Counter(s.casefold() for s in stems)
    outputs = [stem if counts[stem.casefold()] == 1 or name == stem else name + ".png"
               for name, stem in zip(names, stems)]
    clashes = [o for o, n in collections.Counter(o.casefold() for o in outputs).items() if n > 1]
    if clashes:
        clashing = [p for p, o in zip(inputs, outputs) if o.casefold() in clashes]
        raise ValueError(f"these inputs would give results of one name ({', '.join(clashes)}): "
                         f"{clashing}; rename one of them")
    return outputs


def plan_outputs(input_path, output):
    """[(input file, output PNG)] for a file or a folder of images; checked before any work.

    A folder's inputs are all its files (`srn_tf.image_io.list_images`: whatever their
    extension, hidden files left out); those that turn out not to be images are named and skipped
    by `deblur_files`. `output` is a folder (created if needed: results are named after their
    inputs, see `_output_names`), or, for a single input image, a file name ending in .png: that
    file. Raises ValueError when the input does not exist or holds no file, when `output` is an
    existing file that cannot be one (a folder input, or not a .png), names another image format,
    when an output would overwrite an input, or when its folder cannot be written.
    """
    single = not os.path.isdir(input_path)
    if not single:
        inputs = list_images(input_path)
        if not inputs:
            raise ValueError(f"no files in {input_path} (hidden files, such as .DS_Store, are "
                             "left out; subfolders are not searched)")
    elif os.path.isfile(input_path):
        inputs = [input_path]
    else:
        raise ValueError(f"--input {input_path} does not exist")
    extension = os.path.splitext(output)[1].lower()
    if os.path.isdir(output):
        as_file = False
    elif single and extension == ".png":
        as_file = True
    elif os.path.exists(output):
        raise ValueError(f"--output {output} is an existing file, not a folder: give a folder "
                         "for the results" + (", or a .png file name" if single else ""))
    elif extension in image_extensions():
        raise ValueError(f"--output {output}: results are PNG files; "
                         + ("name the output .png, or give a folder" if single else
                            "give a folder for the results of a folder of images"))
    else:
        as_file = False
    if as_file:
        plan = [(inputs[0], output)]
    else:
        plan = [(p, os.path.join(output, name)) for p, name in zip(inputs, _output_names(inputs))]
    real_inputs = {os.path.realpath(p) for p in inputs}
    clashes = [out for _, out in plan if os.path.realpath(out) in real_inputs]
    if clashes:
        raise ValueError(f"refusing to overwrite input images: {clashes[:3]}; choose another "
                         "--output")
    _check_writable(os.path.dirname(os.path.abspath(output)) if as_file else output, output)
    return plan


def _check_writable(folder, output):
    """Raises ValueError naming --output `output` unless a file can be created in `folder` (or,
    when it does not exist yet, in its nearest existing parent, where it will be created): tried
    with a temporary file, so permissions, read-only file systems and root's rights are all as
    the real write sees them."""
    existing = os.path.abspath(folder)
    while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ValueError(f"--output {output}: cannot write in {existing} ({e.strerror}); "
                         "choose another --output") from e


def deblur_decoded(restore, model_type, decoded, name):
    """The deblurred `Decoded` of a decoded file: every frame through
    `srn_tf.inference.deblur_with(restore, model_type, frame)` (same size, dtype and channels,
    alpha carried through), the ICC profile and frame timing kept. What deblur.py and the web
    demo write (`srn_tf.image_io.write_image`). Raises ImageReadError naming `name` when a frame
    cannot be deblurred."""
    try:
        frames = [deblur_with(restore, model_type, frame) for frame in decoded.frames]
    except ValueError as e:
        raise ImageReadError(f"cannot deblur {name}: {e}") from e
    return dataclasses.replace(decoded, frames=frames)


def deblur_file(restore, model_type, source, target):
    """Deblurs one image file into the PNG `target` (`deblur_decoded`, `write_image`): same size
    and bit depth, alpha carried through, the input's ICC profile attached; every frame of an
    animated file (GIF, APNG, WebP) into an animated PNG with the same frame timing. The input's
    pixels are let go before the result is encoded. Returns the number of frames.

    Raises ImageReadError naming `source` when it cannot be read or deblurred.
    """
    restored = deblur_decoded(restore, model_type, read_file(source), source)
    write_image(target, restored)
    return len(restored.frames)


def tile_progress_bar():
    """A `progress(done, total)` callback for `srn_tf.deblur` that shows a tqdm bar of the tiles
    of one image while it is deblurred in more than one tile (and nothing otherwise)."""
    bar = None

    def progress(done, total):
        nonlocal bar
        if total < 2:
            return
        if bar is None:
            bar = tqdm(total=total, desc="tiles", unit="tile", leave=False)
        bar.update(done - bar.n)
        if done == total:
            bar.close()
            bar = None
    return progress


def deblur_files(model, input_path, output, temporal_state=False, skip_existing=False,
                 consistency=0.0, warping_error=None, **options):
    """Deblurs every image of `input_path` (file or folder) into PNGs (see `plan_outputs`).

    `options` go to `srn_tf.deblur` (tile, overlap, precision, jit_compile). With
    `temporal_state` (lstm models) a folder is a video's frames: deblurred in name order with the
    ConvLSTM state carried from one to the next (`srn_tf.video.TemporalDeblurrer`); with
    `consistency` > 0 (the consistent mode) or a `warping_error` to feed, a folder is a video's
    frames in name order too (`srn_tf.video.frame_restorer`). Every output
    name is checked before the first image is deblurred. Files that are not readable images
    (of a folder: any file, see `plan_outputs`) are reported by path with the reason and skipped;
    the others are done. With `skip_existing`, inputs whose
    output file exists are left as they are (a rerun after an interruption finishes the rest).
    Returns (written output paths, skipped input paths, inputs left out because their output
    existed). Raises `srn_tf.errors.Interrupted` on Ctrl-C/SIGTERM, saying how many images were
    finished (each result is written whole or not at all).
    """
    if not temporal_state:   # a second bar, tiles done / total, for images deblurred in tiles
        options = {"progress": tile_progress_bar(), **options}
    restore = frame_restorer(model, temporal_state, consistency, warping_error, **options)
    model_type = model_type_of(model)
    plan = plan_outputs(input_path, output)
    os.makedirs(os.path.dirname(os.path.abspath(plan[0][1])), exist_ok=True)
    existing = [source for source, target in plan if skip_existing and os.path.exists(target)]
    plan = [(source, target) for source, target in plan if source not in existing]
    written, skipped = [], []
    try:
        for source, target in tqdm(plan, desc="deblurring", unit="image"):
            try:
                if os.path.splitext(source)[1].lower() in VIDEO_EXTENSIONS:
                    raise ImageReadError(f"{source} is a video, not an image: deblur it on its "
                                         f"own (--input={source})")
                frames = deblur_file(restore, model_type, source, target)
            except ImageReadError as e:
                log.error("skipped: %s", e)
                skipped.append(source)
                continue
            if frames > 1:
                log.warning("%s: all %d frames deblurred into the animated PNG %s", source,
                            frames, target)
            written.append(target)
    except KeyboardInterrupt:
        folder = os.path.dirname(plan[0][1]) or "."
        rest = len(plan) - len(written) - len(skipped)
        raise Interrupted(f"{len(written)} of {len(plan)} image(s) deblurred into {folder}, "
                          f"{rest} not done; run the same command with --skip_existing to do "
                          "the rest") from None
    return written, skipped, existing


if __name__ == "__main__":   # python -m srn_tf.deblur_lib: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.deblur_lib"))
