"""Write the data srn-tf makes itself: the embedded dataset, or a contact sheet of synthetic pairs.

  srn-data embedded [--output=FOLDER] [--seed=0]
  srn-data synthetic_sheet [--output=docs/synthetic_pairs.png] [--size=96]

`embedded` writes the embedded real-photo dataset in GoPro's layout (commands that need it write
it by themselves on first use; see docs/data.md): to --output, else $SRN_TF_DATA/embedded, else
data/embedded of a checkout, else ~/.cache/srn_tf/embedded. `synthetic_sheet` draws blurry/sharp
pairs of `srn_tf.synthetic` side by side.
"""

import os
import sys

from absl import flags

from srn_tf import cli, embedded, synthetic

WHAT = ("embedded", "synthetic_sheet")


def define_flags():
    flags.DEFINE_string("output", None, "embedded: a new or empty folder, or an embedded dataset "
                        "to replace (default: see above); synthetic_sheet: the PNG to write "
                        "(default docs/synthetic_pairs.png)")
    flags.DEFINE_integer("seed", 0, "seed of the blur trajectories and noise")
    flags.DEFINE_integer("size", 96, "synthetic_sheet: side of each image in px")


def main(argv):
    values = flags.FLAGS
    if len(argv) != 2 or argv[1] not in WHAT:
        sys.exit(f"error: say what to write: srn-data {' | '.join(WHAT)} [flags] (see --help)")
    if argv[1] == "synthetic_sheet":
        path = values.output or os.path.join("docs", "synthetic_pairs.png")
        print(f"wrote {synthetic.contact_sheet(path, size=values.size, seed=values.seed)}")
        return
    out = embedded.materialise(values.output, values.seed)
    counts = {s: sum(len(os.listdir(os.path.join(out, s, p, "sharp"))) for p in embedded.PHOTOS[s])
              for s in embedded.PHOTOS}
    print(f"wrote {out}: {counts}")


def run():
    """The `srn-data` command."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
