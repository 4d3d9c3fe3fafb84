"""Compare deblurring models side by side on paired data: PSNR, SSIM, time.

The checkout's entry point of `srn-evaluate` (srn_tf/commands/evaluate.py): `python evaluate.py --help`.
"""

from srn_tf.commands.evaluate import run

if __name__ == "__main__":
    run()
