"""Deblur a photo, a folder of photos (or video frames), or a video with SRN.

  srn-deblur --input=photo.jpg --output=out/ --weights=checkpoints/lstm
  srn-deblur --input=photos/ --output=out/ --weights=checkpoints/train_color
  srn-deblur --input=clip.mp4 --output=clip_deblurred.mp4 --weights=checkpoints/lstm

Results are PNGs named after their inputs (a video: a video). --weights is a .keras file, a
training run's folder, or the release's checkpoint folder. The user guide: docs/deblurring.md.
"""

import os
import sys

from absl import flags

from srn_tf import cli, cli_flags, deblur_lib, temporal, video, video_io
from srn_tf.convert import WEIGHTS_ADVICE, load_model
from srn_tf.errors import error_message
from srn_tf.model import MODEL_TYPES


def define_flags():
    flags.DEFINE_string("input", None, "an image file, a folder of images or a video file")
    flags.DEFINE_string("output", None, "folder for the deblurred PNGs (created if needed); for "
                        "one image, a .png file name; for a video, the video file to write "
                        "(.mp4, .mkv, .webm, ...) or a folder")
    flags.DEFINE_string("weights", None, "a .keras file, a training run's folder (its "
                        "model.keras), or an original release checkpoint (folder or prefix such "
                        "as checkpoints/lstm/deblur.model-523000)")
    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES),
                      "model type of a TF1 checkpoint, when it cannot be detected")
    flags.DEFINE_boolean("skip_existing", False, "leave out inputs whose result already exists "
                         "(to finish an interrupted folder)")
    flags.DEFINE_integer("batch_size", 4, "video frames deblurred together")
    flags.DEFINE_boolean("temporal_state", False, "lstm models, videos and folders of frames: "
                         "carry the ConvLSTM state from one frame to the next (not in the "
                         "release, which starts every image afresh; see docs/video.md)")
    flags.DEFINE_float("consistency", 0.0, "videos and folders of frames: the consistent mode's "
                       "strength in [0, 1], 0 = off: each result pulled towards the previous one, "
                       "warped by the optical flow where it is reliable (0.5: flicker about "
                       "halved; docs/video.md)")
    flags.DEFINE_boolean("warping_error", False, "videos and folders of frames: print the "
                         "flicker (Lai et al.'s warping error) of the input and of the result")
    cli_flags.define_inference_flags()
    flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    values = flags.FLAGS
    if not values.weights:
        sys.exit(f"error: no --weights given. {WEIGHTS_ADVICE}; pass it as --weights=PATH")
    # a bad --tile is refused before anything loads; the runtime and precision chosen are printed
    # once the weights have loaded
    options, choice = cli_flags.inference_options(keras_only=values.temporal_state)
    if not 0.0 <= values.consistency <= 1.0:
        sys.exit(f"error: --consistency={values.consistency}: give a strength in [0, 1] "
                 "(0 = off, 0.5 = the measured default of docs/video.md)")
    flicker = temporal.WarpingError() if values.warping_error else None
    temporal_options = {"temporal_state": values.temporal_state,
                        "consistency": values.consistency, "warping_error": flicker}
    is_video = video_io.is_video(values.input)
    try:
        if not is_video:
            deblur_lib.plan_outputs(values.input, values.output)   # refuse a bad --output first
        model = load_model(values.weights, values.model_type)
        print(choice)
        if is_video:
            result = video.deblur_video(model, values.input, values.output, values.batch_size,
                                        **temporal_options, **options)
            print(f"wrote {result.path}: {result}")
            _print_flicker(flicker)
            return
        written, skipped, existing = deblur_lib.deblur_files(
            model, values.input, values.output, skip_existing=values.skip_existing,
            **temporal_options, **options)
    except ValueError as e:
        sys.exit(f"error: {error_message(e) or e}")   # hints as flags (--model_type=gray)
    if existing:
        print(f"left {len(existing)} image(s) whose result exists (--skip_existing)")
    if len(written) == 1:
        print(f"wrote {written[0]}")
    elif written:
        print(f"wrote {len(written)} images to {os.path.dirname(written[0])}")
    _print_flicker(flicker)
    if skipped:
        sys.exit(f"error: {len(skipped)} file(s) could not be read as images and were skipped "
                 f"(each named above with the reason): {skipped}")


def _print_flicker(flicker):
    """The --warping_error line: the input's and the result's E_warp (srn_tf.temporal)."""
    if flicker is None:
        return
    if not flicker.pairs:
        print("warping error: needs two frames of one size or more")
        return
    before, after = flicker.values
    print(f"warping error (flicker; Lai et al. 2018, lower is steadier) over {flicker.pairs} "
          f"frame pairs: input {before * 1e3:.3f}e-3, result {after * 1e3:.3f}e-3 "
          f"({after / before - 1:+.0%})")


def run():
    """The `srn-deblur` command (and the checkout's deblur.py)."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
