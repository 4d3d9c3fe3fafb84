"""A local web page for trying SRN: drop a photo or a short clip, compare before and after.

  srn-demo                       # then open http://127.0.0.1:7860; weights from checkpoints/
  srn-demo --checkpoints_dir=my_weights --host=0.0.0.0 --port=8080

The page lists the weights in --checkpoints_dir (.keras files, training runs' model.keras, the
release's checkpoint folders). Ctrl-C stops it and removes its temporary folder.
"""

from absl import flags

from srn_tf import cli, demo


def define_flags():
    flags.DEFINE_string("checkpoints_dir", "checkpoints", "folder the weights are listed from")
    flags.DEFINE_string("host", "127.0.0.1", "address to listen on (0.0.0.0: every interface; "
                        "anyone who can reach it can use the page)")
    flags.DEFINE_integer("port", 7860, "port to listen on")
    flags.DEFINE_integer("max_upload_mb", demo.DEFAULT_MAX_UPLOAD_MB, "larger uploads are refused")


def main(argv):
    del argv
    values = flags.FLAGS
    demo.serve(values.checkpoints_dir, values.host, values.port, values.max_upload_mb)


def run():
    """The `srn-demo` command."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
