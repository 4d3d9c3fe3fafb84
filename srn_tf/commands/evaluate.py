"""Compare deblurring models side by side on paired data: PSNR, SSIM, time.

  srn-evaluate --weights=checkpoints/lstm,checkpoints/train_color
  srn-evaluate --weights=blurry,exported/srn --data=/data/GOPRO_Large --save_images

--weights: comma-separated original TF1 checkpoints (folder or prefix), .keras files, training
runs' folders, SavedModel folders exported by srn-tf, `blurry`, `wiener`, `richardson_lucy`.
The blurry input is always evaluated as the floor. The user guide: docs/evaluation.md.
"""

import os
import sys

from absl import flags

from srn_tf import cli, cli_flags, evaluate_lib, sources
from srn_tf.model import MODEL_TYPES


def define_flags():
    flags.DEFINE_list("weights", ["blurry"], "models to compare (comma-separated): TF1 checkpoints, "
                      ".keras files, SavedModels, blurry, wiener, richardson_lucy")
    flags.DEFINE_string("psf", None, ".npy blur kernel for wiener / richardson_lucy where the data "
                        "records none (default: an assumed Gaussian)")
    flags.DEFINE_string("data", None, "GoPro root, data list, folder pair, tfds:gopro, clips (the "
                        "held-out video clips); default: the embedded dataset's test split")
    flags.DEFINE_string("split", "test", "split of a GoPro root / TFDS dataset")
    flags.DEFINE_enum("blur_key", "blur", list(sources.BLUR_KEYS), "GoPro blur folder")
    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES), "type of TF1 checkpoints, if not detected")
    flags.DEFINE_string("output_dir", "eval_out", "folder for results.csv, summary.json and plots")
    flags.DEFINE_boolean("save_images", False, "write deblurred images and comparison strips")
    flags.DEFINE_integer("limit", None, "evaluate only the first N pairs")
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir for --data=tfds:gopro")
    flags.DEFINE_float("consistency", 0.0, "video sequences: also score every model in the "
                       "consistent mode of this strength (0 = off; docs/video.md)")
    flags.DEFINE_boolean("warping_error", None, "measure flicker (Lai et al.'s warping error) per "
                         "sequence; default: where the data are videos (GoPro, tfds:gopro, clips)")
    cli_flags.define_inference_flags(precision="float32")   # comparable with the release


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    options, choice = cli_flags.inference_options()
    restorers = [evaluate_lib.load_restorer(w, FLAGS.model_type, psf=FLAGS.psf, **options)
                 for w in FLAGS.weights]
    if any(r.precision != evaluate_lib.Restorer.precision for r in restorers):
        print(choice)       # a network runs (not only --weights=blurry or a classical method)
    summary = evaluate_lib.evaluate(
        restorers, FLAGS.data, split=FLAGS.split, blur_key=FLAGS.blur_key,
        output_dir=FLAGS.output_dir, save_images=FLAGS.save_images, limit=FLAGS.limit,
        tfds_data_dir=FLAGS.tfds_data_dir, consistency=FLAGS.consistency,
        warping_error=FLAGS.warping_error)
    print(evaluate_lib.format_table(summary))
    print(f"per image: {FLAGS.output_dir}/results.csv; summary: {FLAGS.output_dir}/summary.json")
    if FLAGS.save_images:   # only the folders written (none of images/ when only blurry ran)
        written = [os.path.join(FLAGS.output_dir, "images", r.name) for r in restorers]
        written = [folder for folder in written if os.path.isdir(folder)]
        strips = os.path.join(FLAGS.output_dir, "strips")
        if written:
            print(f"deblurred images: {', '.join(written)}")
        if os.path.isdir(strips):
            print(f"comparison strips: {strips}")
    if summary["skipped"]:
        skipped = summary["skipped"]
        were = "pair was" if len(skipped) == 1 else "pairs were"
        sys.exit(f"error: {len(skipped)} {were} unreadable and skipped (left out of the means; "
                 "fix or remove them and run again):\n  " + "\n  ".join(s["error"] for s in skipped))


def run():
    """The `srn-evaluate` command (and the checkout's evaluate.py)."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
