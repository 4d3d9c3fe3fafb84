"""Train SRN-DeblurNet (or a baseline), or resume a run.

  srn-train                                   # embedded data, the CPU recipe (~9 min on 2 cores)
  srn-train --recipe=cpu_long                 # longer, part synthetic; resumable
  srn-train --data=/data/GOPRO_Large          # the release's recipe on GoPro
  srn-train --data=tfds:gopro --model_type=lstm --distribute=mirrored
  srn-train --backend=jax --data=/data/GOPRO_Large   # the same loop on JAX (or torch)

A run resumes from the latest checkpoint in --workdir: run the same command again (the same data
under any path will do: relative, a symlink, moved with its workdir; config.json records what the
data is). Unset recipe flags take the recipe's value (--recipe): the release's (batch 16, 256²
crops, lr 1e-4 → 0 with power 0.3 over 4,000 epochs) when --data is a download, the CPU recipe
(identity init, 4 × 64², 1,000 steps, the model kept chosen on the embedded validation photos) on
builtin data. The user guide: docs/training.md.
"""

import dataclasses
import logging
import sys

from absl import flags

from srn_tf import cli, multi_worker, sources, train_lib
from srn_tf.init import INITS
from srn_tf.model import TRAINABLE_TYPES


def define_flags():
    flags.DEFINE_string("data", None, "GoPro root, data list, folder pair, tfds:gopro, embedded, "
                        "synthetic, or a mix by weight such as synthetic,embedded:0.3; default: the "
                        "CPU recipe's")
    flags.DEFINE_enum("recipe", None, list(train_lib.RECIPES),
                      "the defaults of the recipe flags below: release (the 2018 release's; the default "
                      "when --data is a download), cpu (the default on builtin data), cpu_long "
                      "(≤ 2.5 h on 2 cores, resumable)")
    flags.DEFINE_enum("model_type", "color", list(TRAINABLE_TYPES),
                      "SRN type (color, gray, lstm) or a baseline (cnn, autoencoder)")
    flags.DEFINE_string("workdir", None, "checkpoints, TensorBoard logs, final model "
                        "(default checkpoints/train_<model_type>)")
    flags.DEFINE_integer("batch_size", None, "global batch size (release: 16)")
    flags.DEFINE_integer("crop_size", None, "square crop side in pixels (release: 256)")
    flags.DEFINE_float("learning_rate", None, "initial learning rate (release: 1e-4)")
    flags.DEFINE_float("lr_decay_power", None, "polynomial decay power (release: 0.3)")
    flags.DEFINE_float("end_learning_rate", None, "final learning rate (release: 0)")
    flags.DEFINE_integer("epochs", None, "epochs of pairs // batch steps each (release: 4000)")
    flags.DEFINE_integer("train_steps", None, "total steps; overrides --epochs")
    flags.DEFINE_enum("init", None, list(INITS), "xavier: the release's; zero_residual: every "
                      "ResBlock starts as the identity; identity: the whole network starts as the "
                      "identity (srn_tf/init.py). Default: the recipe's")
    flags.DEFINE_float("clip_lstm_grad_norm", 0.0, "clip the ConvLSTM's gradients to this global "
                       "norm; 0 = off (the release's option is 3)")
    flags.DEFINE_integer("seed", 0, "seed of the data order and crops")
    flags.DEFINE_string("split", "train", "GoPro / TFDS split to train on")
    flags.DEFINE_enum("blur_key", "blur", list(sources.BLUR_KEYS), "GoPro blur folder")
    flags.DEFINE_boolean("augment", False, "random flips / 90° rotations (not in the release)")
    flags.DEFINE_integer("crops_per_image", 1, "crops cut from each decoded pair")
    flags.DEFINE_boolean("cache", None, "keep decoded images in memory (default: on for embedded)")
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir for --data=tfds:gopro")
    flags.DEFINE_boolean("jit_compile", False, "compile the train step with XLA")
    flags.DEFINE_boolean("mixed_precision", None, "mixed_float16 on GPU, mixed_bfloat16 on CPU "
                         "(default: on for the CPU recipe, off for the release's)")
    flags.DEFINE_enum("distribute", "none", list(train_lib.DISTRIBUTE),
                      "mirrored: all local GPUs; multi_worker: from TF_CONFIG")
    flags.DEFINE_float("worker_timeout", 600.0, "multi_worker: seconds to wait for every task of "
                       "TF_CONFIG before giving up, naming the missing ones")
    flags.DEFINE_string("init_from", None, "start from an original TF1 checkpoint or a .keras file")
    flags.DEFINE_integer("checkpoint_every", 1000, "steps between checkpoints")
    flags.DEFINE_integer("summary_every", 20, "steps between TensorBoard summaries")
    flags.DEFINE_integer("eval_every", 1000, "steps between PSNR/SSIM evaluations on the test split "
                         "(on training pairs where the data has none)")
    flags.DEFINE_integer("validate_every", None, "steps between evaluations on the data's 'val' "
                         "split; the model kept is, of the steps whose PSNR and SSIM are both at least "
                         "the blurry input's (step 0 included), the one with the highest PSNR; why "
                         "each step was kept or not: <workdir>/validation.json. 0: keep the last "
                         "step's. Default: the recipe's")
    flags.DEFINE_integer("eval_images", 6, "test-split images (training pairs where the data has no "
                         "test split) evaluated during training and at the end")
    flags.DEFINE_boolean("export_saved_model", True, "write a SavedModel at the end")


def main(argv):
    del argv
    for module in (train_lib, multi_worker):    # their progress; not the other modules'
        logging.getLogger(module.__name__).setLevel(logging.INFO)
    names = [field.name for field in dataclasses.fields(train_lib.TrainConfig)]
    config = train_lib.TrainConfig(**{name: flags.FLAGS[name].value for name in names})
    result = train_lib.train_and_evaluate(config)
    if result.get("stopped_by"):
        sys.exit(f"stopped by {result['stopped_by']} at step {result['step']}; run the same "
                 "command to resume")
    label = train_lib.eval_label(result["held_out"])
    images = result["eval_images"]
    kept = (f"the model of step {result['selected_step']}" if "selected_step" in result
            else "the model")
    print(f"{label} PSNR {result['psnr']:.2f} dB (blurry "
          f"input {result['psnr_blurry']:.2f}), SSIM {result['ssim']:.4f} (blurry "
          f"{result['ssim_blurry']:.4f}) of {kept} on {images} image{'s' * (images != 1)}, "
          f"{result['step']} steps run")
    if "selected_step" in result:
        chosen = result["validation"]
        ssim = "n/a" if chosen["ssim"] is None else f"{chosen['ssim']:.4f}"
        blurry = "n/a" if chosen["ssim_blurry"] is None else f"{chosen['ssim_blurry']:.4f}"
        why = ("the highest PSNR of the steps with PSNR and SSIM both at least the input's"
               if chosen["qualifies"] else "NO step had both PSNR and SSIM at least the input's: "
               "the highest PSNR")
        print(f"kept the model of step {result['selected_step']}: validation PSNR "
              f"{chosen['psnr']:.2f} dB (blurry {chosen['psnr_blurry']:.2f}), SSIM {ssim} "
              f"(blurry {blurry}), {why}" +
              (f"; the last step's {label} PSNR was {result['psnr_last_step']:.2f} dB"
               if "psnr_last_step" in result else ""))
    if "keras_path" in result:   # the chief's; other workers of a multi-worker run write none
        print(f"model: {result['keras_path']}" +
              (f", SavedModel: {result['saved_model']}" if "saved_model" in result else ""))


def run():
    """The `srn-train` command (and the checkout's train.py)."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
