"""Import of the 2018 release's TF1 checkpoints into the Keras model, and any-weights loading.

The name map is data: a Keras variable `<layer path>/<kernel|bias>` is the checkpoint's
`g_net/<layer path>/<weights|biases>` (`enc1_2/conv1/kernel` ↔ `g_net/enc1_2/conv1/weights`,
`convLSTM/LSTM_conv/bias` ↔ `g_net/convLSTM/LSTM_conv/biases`). Layouts are the same on both sides,
the transposed convs' [4, 4, out, in] included, so values are copied as they are.

Reading and writing the release's checkpoints needs the TensorFlow package (`tf.train`), on any
Keras backend: the values are read as numpy arrays and set into the model, so a model on JAX or
PyTorch imports them too. Loading `.keras` files needs no TensorFlow.

Command line:
  srn-convert --tf1_checkpoint=checkpoints/lstm --output=srn_lstm.keras
"""

import logging
import os
import re
import zipfile
import zlib

from srn_tf.backend import lazy_tensorflow
from srn_tf.errors import CheckpointError
from srn_tf.model import MODEL_TYPES, build_srn, check_model_type, model_type_of

tf = lazy_tensorflow("reading or writing the release's TF1 checkpoints (convert them to .keras "
                     "where TensorFlow is installed: srn-convert)")

TF1_SCOPE = "g_net"
TF1_VARIABLE_NAMES = {"kernel": "weights", "bias": "biases"}
# Training-only variables of a release checkpoint, which an importer skips.
TF1_IGNORED = re.compile(r"(/Adam(_1)?$)|(^beta[12]_power$)|(global_step$)")

# Where to get weights, said by every "no weights" message: the checkout's checkpoints/README.md
# as an absolute path (right from any working directory), or the README section when installed.
_CHECKPOINTS_README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   "checkpoints", "README.md")
WEIGHTS_HELP = (_CHECKPOINTS_README if os.path.isfile(_CHECKPOINTS_README)
                else "srn-tf's README (\"Weights\")")
# What every "no weights" message says, in one sentence.
WEIGHTS_ADVICE = ("SRN needs trained weights: a copy of the 2018 release's models, unpacked as "
                  f"{WEIGHTS_HELP} explains (e.g. checkpoints/lstm/checkpoint), or a model you "
                  "trained with srn-train (train.py), which writes checkpoints/train_color/model.keras")
# A training run's folder (srn_tf.train_lib): its settings and, once the run ends, its model.
RUN_CONFIG_FILE = "config.json"
RUN_MODEL_FILE = "model.keras"

log = logging.getLogger(__name__)


def tf1_name(keras_path):
    """'enc1_2/conv1/kernel' → 'g_net/enc1_2/conv1/weights'."""
    scope, leaf = keras_path.rsplit("/", 1)
    return f"{TF1_SCOPE}/{scope}/{TF1_VARIABLE_NAMES[leaf]}"


def tf1_name_map(model):
    """{Keras variable path: TF1 checkpoint name} for every weight of `model`."""
    return {v.path: tf1_name(v.path) for v in model.weights}


def state_file_checkpoint(folder):
    """The file name of the latest checkpoint named in `folder`'s `checkpoint` state file, or None.

    The state file is TensorFlow's text proto (`model_checkpoint_path: "…"`). It is read here
    rather than with tf.train.get_checkpoint_state so that one written on another system reads
    the same: a UTF-8 byte-order mark, CRLF line ends, and absolute paths of the machine that
    wrote it, with `/` or `\\` (escaped as `\\\\`) separators: only the last component is used,
    looked up in `folder`.
    """
    path = os.path.join(folder, "checkpoint")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        found = re.search(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', f.read(),
                          re.MULTILINE)
    if not found or not found.group(1):
        return None
    return re.split(r"[\\/]+", found.group(1).replace("\\\\", "\\"))[-1] or None


def check_weights_exist(path):
    """Raises CheckpointError, pointing to checkpoints/README.md, when `path` (a file, folder or
    checkpoint prefix) does not exist or is an empty folder: no weights were put there yet."""
    path = os.fspath(path)
    if os.path.exists(path + ".index") or (os.path.exists(path) and not (
            os.path.isdir(path) and not os.listdir(path))):
        return
    state = "does not exist" if not os.path.exists(path) else "is an empty folder"
    raise CheckpointError(f"{path} {state}: no weights there yet. {WEIGHTS_ADVICE}")


def run_model_file(path):
    """The `.keras` file to load for `path`: `path` itself, or for a training run's folder (what
    `srn-train` writes into its workdir) its `model.keras`.

    Raises CheckpointError for a run folder whose run has not ended yet (no model.keras).
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    model = os.path.join(path, RUN_MODEL_FILE)
    if os.path.isfile(model):
        return model
    if os.path.isfile(os.path.join(path, RUN_CONFIG_FILE)):
        raise CheckpointError(
            f"{path} is a training run that has not ended: {RUN_MODEL_FILE} is written there when "
            "it completes (its ckpt-N files are for resuming it). Run the same training command "
            "to finish it, or pass another model")
    return path


def resolve_checkpoint_prefix(path):
    """A checkpoint prefix from a prefix or from a folder holding a `checkpoint` state file.

    Raises CheckpointError when there is none.
    """
    path = os.fspath(path)
    check_weights_exist(path)
    if os.path.isdir(path):
        name = state_file_checkpoint(path)
        if name is None:
            raise CheckpointError(
                f"{path} is a folder but holds no TF checkpoint state file ('checkpoint'); expected "
                "the release's layout (checkpoint, deblur.model-523000.index, "
                "deblur.model-523000.data-00000-of-00001) or pass the prefix "
                "(…/deblur.model-523000) itself")
        path = os.path.join(path, name)
    if not os.path.exists(path + ".index"):
        raise CheckpointError(
            f"no TF checkpoint at {path}: {path}.index does not exist. Pass a prefix such as "
            "checkpoints/lstm/deblur.model-523000 or the folder holding the 'checkpoint' file")
    return path


def _read_shapes(prefix):
    load_checkpoint = tf.train.load_checkpoint   # imports TensorFlow (BackendError without it)
    try:
        reader = load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"cannot read the TF checkpoint {prefix} (missing or truncated "
                              f"file?): {e}") from e
    return reader, reader.get_variable_to_shape_map()


def _guess_type(shapes):
    """The release type whose variables `shapes` holds, or None (another network)."""
    first = shapes.get(f"{TF1_SCOPE}/enc1_1/weights")
    if first is None or len(first) != 4:
        return None
    if f"{TF1_SCOPE}/convLSTM/LSTM_conv/weights" in shapes:
        return "lstm"
    return {6: "color", 2: "gray"}.get(first[2])


def detect_model_type(path):
    """"color", "gray" or "lstm" for a release checkpoint (prefix or folder), from its variables.

    Raises CheckpointError when the checkpoint is not one of SRN's.
    """
    prefix = resolve_checkpoint_prefix(path)
    _, shapes = _read_shapes(prefix)
    model_type = _guess_type(shapes)
    if model_type is None:
        names = sorted(n for n in shapes if not TF1_IGNORED.search(n))
        raise CheckpointError(
            f"{prefix} is not an SRN-DeblurNet checkpoint: expected variables such as "
            f"{TF1_SCOPE}/enc1_1/weights [5, 5, 6 or 2, 32]; found {len(names)} variables, e.g. "
            f"{names[:5]}")
    return model_type


def load_tf1_checkpoint(model, path):
    """Copies a release checkpoint's weights into a model made by `build_srn`.

    Args:
      model: keras.Model from `build_srn` (its type must match the checkpoint's).
      path: checkpoint prefix (`…/deblur.model-523000`) or a folder with a `checkpoint` state file
        (its latest checkpoint is used).
    Returns:
      The {Keras path: TF1 name} map used (every mapping is also logged at INFO).
    Raises:
      CheckpointError naming what was expected, what was found and which type the checkpoint looks
      like, if any variable is missing or has another shape, or the file cannot be read. The model
      is left unchanged in that case.
    """
    prefix = resolve_checkpoint_prefix(path)
    reader, shapes = _read_shapes(prefix)
    name_map = tf1_name_map(model)
    expected_shapes = {v.path: tuple(v.shape) for v in model.weights}
    problems = []
    for keras_path, name in name_map.items():
        expected = expected_shapes[keras_path]
        found = shapes.get(name)
        if found is None:
            problems.append(f"{name}: missing (expected shape {list(expected)})")
        elif tuple(found) != expected:
            problems.append(f"{name}: shape {list(found)}, expected {list(expected)}")
    unused = sorted(set(shapes) - set(name_map.values()) - {n for n in shapes if TF1_IGNORED.search(n)})
    if problems:
        looks_like = _guess_type(shapes)
        details = (f"{len(problems)} of {len(name_map)} variables do not fit: " +
                   "; ".join(problems[:8]) + (" …" if len(problems) > 8 else ""))

        def message(hint):
            looks = (f"it looks like a '{looks_like}' checkpoint: load it with {hint}"
                     if looks_like else "it does not look like any SRN-DeblurNet checkpoint")
            return f"{prefix} does not fit a '{model_type_of(model)}' model; {looks}. {details}"
        raise CheckpointError(message(f"build_srn('{looks_like}')"),
                              message(f"--model_type={looks_like}"))
    try:
        values = {keras_path: reader.get_tensor(name) for keras_path, name in name_map.items()}
    except (tf.errors.OpError, IndexError) as e:   # IndexError: "Read less bytes than requested"
        raise CheckpointError(f"cannot read the weights of {prefix} (truncated or corrupt data "
                              f"file?): {getattr(e, 'message', e)}") from e
    for variable in model.weights:
        variable.assign(values[variable.path])
        log.info("%s <- %s %s", variable.path, name_map[variable.path], list(variable.shape))
    if unused:
        log.warning("%d checkpoint variables not used: %s", len(unused), unused)
    return name_map


def save_tf1_checkpoint(model, prefix):
    """Writes `model`'s weights as a release checkpoint (the inverse of `load_tf1_checkpoint`):
    the release's variable names (`tf1_name_map`), layouts unchanged, and a `checkpoint` state
    file beside it, so the 2018 code (`tf.compat.v1.train.Saver` on its `g_net` scope) and
    `load_model` read it. Weights only: no Adam slots or global_step.

    Args:
      model: keras.Model from `build_srn` (or `load_model`).
      prefix: checkpoint prefix to write, e.g. `checkpoints/mine/deblur.model-2000`.
    Returns: the prefix written.
    """
    v1 = tf.compat.v1
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    values = {tf1_name(v.path): v.numpy() for v in model.weights}
    with tf.Graph().as_default(), v1.Session() as session:
        variables = [v1.Variable(value, name=name) for name, value in values.items()]
        session.run(v1.variables_initializer(variables))
        return v1.train.Saver(variables).save(session, prefix, write_meta_graph=False)


def is_saved_model(path):
    """True for a folder holding a SavedModel (`saved_model.pb`), e.g. one `srn_tf.export` wrote."""
    return os.path.isfile(os.path.join(os.fspath(path), "saved_model.pb"))


def is_tf1_checkpoint(path):
    """True for a TF checkpoint prefix or a folder holding a `checkpoint` state file."""
    path = os.fspath(path)
    return (os.path.isfile(os.path.join(path, "checkpoint")) if os.path.isdir(path)
            else os.path.exists(path + ".index"))


def check_keras_archive(path):
    """Raises CheckpointError unless `path` is a complete .keras file (a zip archive).

    A `.keras` file is a zip holding config.json, metadata.json and model.weights.h5 (Keras 3's
    format). An interrupted download or copy (no zip directory at the end, or a member whose
    CRC does not match) is named as such, instead of Keras's "File not found".
    """
    problem = None
    try:
        if not zipfile.is_zipfile(path):
            problem = "not a zip archive"
        else:
            with zipfile.ZipFile(path) as archive:
                missing = {"config.json", "model.weights.h5"} - set(archive.namelist())
                bad = archive.testzip()
            if missing:
                problem = f"it lacks {sorted(missing)}"
            elif bad:
                problem = f"its member {bad} is corrupt"
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        problem = str(e)
    if problem:
        raise CheckpointError(f"{path} is not a complete .keras file (truncated download or "
                              f"copy?): {problem}. Copy or save it again")


def load_model(weights, model_type=None):
    """A ready model from a `.keras` file or an original TF1 checkpoint (folder or prefix).

    Args:
      weights: path of a `.keras` file saved by this project, a training run's folder (its
        model.keras), or a release checkpoint.
      model_type: for TF1 checkpoints, overrides the type detected from the variables.
    Raises:
      CheckpointError (a ValueError) saying what was wrong with `weights`: a path that does not
      exist or an empty folder (pointing to checkpoints/README.md), a truncated or corrupt
      `.keras` file (`check_keras_archive`), a checkpoint that does not fit.
    """
    weights = run_model_file(weights)
    if weights.endswith(".keras"):
        if not os.path.isfile(weights):
            raise CheckpointError(f"no such .keras file: {weights}")
        check_keras_archive(weights)
        import keras
        try:
            return keras.models.load_model(weights)
        except (ValueError, TypeError, KeyError, OSError) as e:
            raise CheckpointError(f"cannot load the .keras file {weights}: {e}") from e
    if is_tf1_checkpoint(weights):
        model_type = model_type or detect_model_type(weights)
        check_model_type(model_type)
        model = build_srn(model_type)
        load_tf1_checkpoint(model, weights)
        return model
    check_weights_exist(weights)
    raise CheckpointError(
        f"cannot load weights from {weights}: expected a .keras file, or an original release "
        "checkpoint (a folder with a 'checkpoint' file, or a prefix such as "
        "checkpoints/lstm/deblur.model-523000)")


if __name__ == "__main__":   # python -m srn_tf.convert: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.convert"))
