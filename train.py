"""Train SRN-DeblurNet (or a baseline), or resume a run.

The checkout's entry point of `srn-train` (srn_tf/commands/train.py): `python train.py --help`.
"""

from srn_tf.commands.train import run

if __name__ == "__main__":
    run()
