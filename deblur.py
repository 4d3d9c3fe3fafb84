"""Deblur a photo, a folder of photos (or video frames), or a video with SRN.

The checkout's entry point of `srn-deblur` (srn_tf/commands/deblur.py): `python deblur.py --help`.
"""

from srn_tf.commands.deblur import run

if __name__ == "__main__":
    run()
