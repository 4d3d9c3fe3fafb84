"""Deblur an image, a folder of images (or video frames), or a video with SRN.

  python deblur.py --input=photo.png --output=out/ --weights=checkpoints/lstm
  python deblur.py --input=clip.mp4 --output=clip_deblurred.mp4 --weights=checkpoints/lstm
"""

import os
import sys

from absl import app, flags

import srn_tf
from srn_tf import cli, cli_flags, deblur_lib, video

flags.DEFINE_string("input", None, "an image file, a folder of images or a video file")
flags.DEFINE_string("output", None, "folder for the deblurred PNGs (created if needed); for one "
                    "image, a .png file name; the output video file when --input is a video")
flags.DEFINE_integer("batch_size", 4, "video frames deblurred together")
flags.DEFINE_string("weights", None, "a .keras file, or an original release checkpoint (folder or "
                    "prefix such as checkpoints/lstm/deblur.model-523000)")
flags.DEFINE_enum("model_type", None, list(srn_tf.MODEL_TYPES),
                  "model type of a TF1 checkpoint, when it cannot be detected")
flags.DEFINE_boolean("temporal_state", False, "lstm models, videos and folders of frames: carry "
                     "the ConvLSTM state from one frame to the next (not in the release, which "
                     "starts every image afresh; see README)")
cli_flags.define_inference_flags()
flags.adopt_module_key_flags(cli_flags)   # --helpshort lists --tile, --precision...
flags.mark_flags_as_required(["input", "output"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not FLAGS.weights:
        raise app.UsageError(deblur_lib.NO_WEIGHTS_HELP)
    options = cli_flags.inference_options()   # a bad --tile is refused before anything loads
    try:
        if not video.is_video(FLAGS.input):
            deblur_lib.plan_outputs(FLAGS.input, FLAGS.output)   # refuse a bad --output first
        model = srn_tf.load_model(FLAGS.weights, FLAGS.model_type)
        if video.is_video(FLAGS.input):
            result = video.deblur_video(model, FLAGS.input, FLAGS.output, FLAGS.batch_size,
                                        FLAGS.temporal_state, **options)
            print(f"wrote {FLAGS.output}: {result}")
            return
        written, skipped = deblur_lib.deblur_files(model, FLAGS.input, FLAGS.output,
                                                   FLAGS.temporal_state,
                                                   **options)
    except ValueError as e:
        sys.exit(f"error: {cli.error_message(e) or e}")   # hints as flags (--model_type=gray)
    if len(written) == 1:
        print(f"wrote {written[0]}")
    elif written:
        print(f"wrote {len(written)} images to {os.path.dirname(written[0])}")
    if skipped:
        sys.exit(f"error: {len(skipped)} image(s) could not be read and were skipped: {skipped}")


if __name__ == "__main__":
    cli.run(main)
