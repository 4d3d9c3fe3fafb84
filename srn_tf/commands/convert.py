"""Convert an original SRN-DeblurNet release checkpoint into a .keras file.

  srn-convert --tf1_checkpoint=checkpoints/lstm --output=srn_lstm.keras

--tf1_checkpoint is the release's folder (holding its `checkpoint` state file) or a prefix such
as checkpoints/lstm/deblur.model-523000; the model type (color, gray, lstm) is detected from the
variables. --verbose logs every variable's mapping.
"""

from absl import flags

from srn_tf import cli
from srn_tf.convert import detect_model_type, load_model
from srn_tf.model import MODEL_TYPES


def define_flags():
    flags.DEFINE_string("tf1_checkpoint", None, "release checkpoint: folder or prefix")
    flags.DEFINE_string("output", None, "the .keras file to write")
    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES), "override the detected type")
    flags.mark_flags_as_required(["tf1_checkpoint", "output"])


def main(argv):
    del argv
    values = flags.FLAGS
    model_type = values.model_type or detect_model_type(values.tf1_checkpoint)
    model = load_model(values.tf1_checkpoint, model_type)
    model.save(values.output)
    print(f"wrote {values.output}: a '{model_type}' model"
          f"{'' if values.model_type else ' (type detected)'}, {model.count_params():,} parameters")


def run():
    """The `srn-convert` command."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
