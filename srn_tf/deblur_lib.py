"""Deblurring image files and folders: the logic behind `deblur.py`."""

import logging
import os

from tqdm import tqdm

from srn_tf.image_io import ImageReadError, list_images, read_image, write_png
from srn_tf.inference import deblur_with
from srn_tf.model import model_type_of
from srn_tf.video import frame_restorer

log = logging.getLogger(__name__)

NO_WEIGHTS_HELP = """no --weights given. SRN needs trained weights; either
  * download the original release's models (color, gray, lstm; the lstm one scores 30.19 dB on
    GoPro) from the SRN-DeblurNet project page, unpack them into checkpoints/ so that e.g.
    checkpoints/lstm/checkpoint exists, and pass --weights=checkpoints/lstm; or
  * train one on the embedded data with `python train.py` and pass the .keras file it writes."""


def plan_outputs(input_path, output_dir):
    """[(input file, output PNG)] for a file or a folder of images.

    Raises ValueError when the input does not exist or holds no image, or when an output would
    overwrite an input.
    """
    if os.path.isdir(input_path):
        inputs = list_images(input_path)
        if not inputs:
            raise ValueError(f"no image files (.png, .jpg, ...) in {input_path}")
    elif os.path.isfile(input_path):
        inputs = [input_path]
    else:
        raise ValueError(f"--input {input_path} does not exist")
    plan = [(p, os.path.join(output_dir, os.path.splitext(os.path.basename(p))[0] + ".png"))
            for p in inputs]
    real_inputs = {os.path.realpath(p) for p in inputs}
    clashes = [out for _, out in plan if os.path.realpath(out) in real_inputs]
    if clashes:
        raise ValueError(f"refusing to overwrite input images: {clashes[:3]}; choose another "
                         "--output folder")
    return plan


def deblur_files(model, input_path, output_dir, temporal_state=False, **options):
    """Deblurs every image of `input_path` (file or folder) into PNGs in `output_dir`.

    `options` go to `srn_tf.deblur` (tile, overlap, precision, jit_compile). With
    `temporal_state` (lstm models) a folder is a video's frames: deblurred in name order with the
    ConvLSTM state carried from one to the next (`srn_tf.video.TemporalDeblurrer`). Unreadable
    images are reported by path and skipped. Returns the list of skipped paths.
    """
    restore = frame_restorer(model, temporal_state, **options)
    model_type = model_type_of(model)
    plan = plan_outputs(input_path, output_dir)
    os.makedirs(output_dir, exist_ok=True)
    skipped = []
    for source, target in tqdm(plan, desc="deblurring", unit="image"):
        try:
            image = read_image(source)
        except ImageReadError as e:
            log.error("skipped: %s", e)
            skipped.append(source)
            continue
        write_png(target, deblur_with(restore, model_type, image))
    return skipped
