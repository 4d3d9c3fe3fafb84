"""Which Keras backend srn-tf runs on, chosen before Keras is imported, and quiet start-up.

Keras 3 runs one model on TensorFlow, JAX or PyTorch; the backend is fixed when Keras is first
imported, from the environment variable KERAS_BACKEND or else `~/.keras/keras.json` (Keras's own
rules; default tensorflow). srn-tf's commands take `--backend=tensorflow|jax|torch`, which must act
before that import: `import srn_tf` (the first thing every command does) calls
`select_backend(sys.argv)`, which sets KERAS_BACKEND from a `--backend` on the command line
(`--backend=jax` or `--backend jax`; it wins over the environment variable), and then imports the
backend's framework quietly (`quiet_backend_import`).

This module imports neither Keras nor any framework at import time, and of srn-tf only
`srn_tf.errors`: with it, the lowest layer of the package.
"""

import contextlib
import json
import os
import sys
import tempfile
import warnings

from srn_tf.errors import BackendError

BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_FLAG = "backend"
VERBOSE_FLAG = "verbose"
# Whether the user set TensorFlow's log level: read before anything else runs (JAX sets it to 1
# when it is imported, and so would hide the user's choice from a later look).
_USER_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ


# Packages Keras and TensorFlow import at start-up whenever they are installed, for integrations
# srn-tf's commands never use (scikit-learn and pandas adapters, IPython's file editor,
# matplotlib's image gallery, TF Lite's JAX converter): about 2.6 of 8 s of a command's start on
# 2 cores (`python -X importtime -c "import tensorflow"`, 2026-12-07). A command imports its
# framework without them (`lean_start_up`); a Python program that imports srn_tf is left as it is.
START_UP_EXTRAS = ("sklearn", "pandas", "IPython", "matplotlib", "jax")
# The checkout's scripts; the installed commands are srn-*; "-m" while `python -m
# srn_tf.commands.<name>` imports the package.
COMMAND_SCRIPTS = ("deblur.py", "train.py", "evaluate.py")


def is_command(argv0=None):
    """True when this process runs one of srn-tf's commands (from `sys.argv[0]`)."""
    name = os.path.basename(sys.argv[0] if argv0 is None and sys.argv else argv0 or "")
    return name in COMMAND_SCRIPTS or name.startswith("srn-") or name == "-m"


@contextlib.contextmanager
def lean_start_up(backend):
    """In a command's process, the framework and Keras are imported with START_UP_EXTRAS (the
    ones not yet imported, and never the backend's own framework) looking uninstalled; they import
    normally afterwards (matplotlib for srn-evaluate's plot, pandas for the demo's Gradio)."""
    blocked = ([m for m in START_UP_EXTRAS if m != backend and m not in sys.modules]
               if is_command() else [])
    for module in blocked:
        sys.modules[module] = None          # `import module` raises ImportError
    try:
        yield
    finally:
        for module in blocked:
            if sys.modules.get(module, 0) is None:
                del sys.modules[module]


def _flag_values(argv, name):
    """The values given to the absl flag `--name` in argv, in order: `--name=v`, `-name=v`,
    `--name v` and `-name v` (absl's forms for a non-boolean flag), up to a `--`."""
    values = []
    args = list(argv[1:])
    for index, arg in enumerate(args):
        if arg == "--":
            break
        for prefix in (f"--{name}", f"-{name}"):
            if arg.startswith(prefix + "="):
                values.append(arg[len(prefix) + 1:])
            elif arg == prefix and index + 1 < len(args):
                values.append(args[index + 1])
    return values


def requested_backend(argv):
    """The backend named by the last `--backend` in argv, or None when there is none.

    Raises BackendError for a value that is not one of BACKENDS.
    """
    values = _flag_values(argv, BACKEND_FLAG)
    if not values:
        return None
    if values[-1] not in BACKENDS:
        raise BackendError(f"--backend={values[-1]}: choose one of {', '.join(BACKENDS)}")
    return values[-1]


def verbose_requested(argv):
    """True when argv turns absl's boolean --verbose on (the last occurrence wins, as in absl)."""
    verbose = False
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in ("--verbose", "-verbose", "--verbose=true", "--verbose=1", "--verbose=True"):
            verbose = True
        elif arg in ("--noverbose", "-noverbose", "--verbose=false", "--verbose=0",
                     "--verbose=False"):
            verbose = False
    return verbose


def _keras_config_backend():
    """The backend in Keras's config file (`$KERAS_HOME/keras.json`, else `~/.keras/keras.json`),
    or None; the file Keras itself reads when KERAS_BACKEND is not set."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def current_backend():
    """The Keras backend in use ("tensorflow", "jax", "torch", ...), or the one Keras will pick
    when it has not been imported yet (KERAS_BACKEND, Keras's config file, else tensorflow)."""
    if "keras" in sys.modules:
        import keras
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND") or _keras_config_backend() or "tensorflow"


def select_backend(argv=None):
    """Sets KERAS_BACKEND from `--backend` in `argv` (default sys.argv) before Keras is imported.

    Returns the backend srn-tf will run on. A `--backend` that is not one of BACKENDS is left to
    the command's own flag parsing (which prints one line); one given after Keras was imported
    with another backend is left to `check_backend`.
    """
    try:
        wanted = requested_backend(sys.argv if argv is None else argv)
    except BackendError:
        wanted = None
    if wanted and "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = wanted
    return current_backend()


def check_backend(wanted):
    """Raises BackendError unless Keras runs on `wanted` (a command's --backend value)."""
    if wanted not in BACKENDS:
        raise BackendError(f"--backend={wanted}: choose one of {', '.join(BACKENDS)}")
    running = current_backend()
    if running != wanted:
        raise BackendError(f"--backend={wanted}, but Keras was already imported with the "
                           f"{running} backend; set KERAS_BACKEND={wanted} before starting")


def require_tensorflow_backend(feature, hint="run it with --backend=tensorflow"):
    """Raises BackendError (one sentence) unless Keras runs on TensorFlow: for the features that
    are TensorFlow graphs (SavedModel/LiteRT/ONNX export, the ONNX runtimes, training)."""
    running = current_backend()
    if running != "tensorflow":
        raise BackendError(f"{feature} needs Keras's TensorFlow backend, not {running}: {hint}")


def import_tensorflow(feature):
    """TensorFlow, imported quietly (`quiet_tensorflow_import`), for a feature that needs the
    package on any backend (reading the release's TF1 checkpoints). Raises BackendError naming
    `feature` when TensorFlow is not installed."""
    try:
        quiet_tensorflow_import()
        import tensorflow as tf
    except ImportError as e:
        raise BackendError(f"{feature} needs TensorFlow, which is not installed here ({e}): "
                           "python -m pip install tensorflow, or do it on a machine that has "
                           "it") from e
    return tf


def quiet_tensorflow_import():
    """Imports TensorFlow and initialises its device platforms with fd 2 sent to a file.

    Unless `--verbose` is on the command line or the user set TF_CPP_MIN_LOG_LEVEL, it sets
    TF_CPP_MIN_LOG_LEVEL=2 (TensorFlow's C++ INFO and WARNING lines off; ERRORs stay) and imports
    TensorFlow with file descriptor 2 sent to a temporary file, so the lines TensorFlow prints
    before its logging starts (oneDNN, "Could not find cuda drivers", the CPU feature guard) and
    the CUDA platform's `failed call to cuInit` "error" on machines without a GPU are not shown.
    Should the import fail, what it printed is replayed on stderr. Does nothing when TensorFlow is
    already imported.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose_requested(sys.argv) or _USER_TF_LOG_LEVEL:
        import tensorflow  # noqa: F401
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

    def initialise():
        import tensorflow as tf
        tf.config.list_physical_devices()   # cuInit happens here: its "error" is captured too
    _captured(initialise)


def _captured(function):
    """Runs function() with file descriptor 2 sent to a temporary file; replays what was written
    there on stderr should it raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            function()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_keras_tensorflow_import():
    """Makes the import of TensorFlow that Keras itself does on any backend quiet too.

    Keras imports TensorFlow, where it is installed, the first time it serializes an object
    (`get_config`, `model.save`: its `keras.src.utils.module_utils.tensorflow`, a lazy module),
    also on JAX and PyTorch; that import would print TensorFlow's start-up lines. This wraps that
    lazy module's import with `quiet_tensorflow_import` (which raises ImportError where TensorFlow
    is missing, as Keras expects). A Keras without that lazy module is left as it is.
    """
    try:
        from keras.src.utils import module_utils
        lazy = module_utils.tensorflow
        keras_initialize = lazy.initialize
    except (ImportError, AttributeError):
        return

    def initialize():
        quiet_tensorflow_import()
        keras_initialize()
    lazy.initialize = initialize


def quiet_backend_import(backend=None):
    """Imports the framework of `backend` (default: `current_backend()`) without its start-up
    lines, unless `--verbose` is on the command line: TensorFlow as `quiet_tensorflow_import`;
    JAX and PyTorch with fd 2 captured and their Python warnings of the import silenced (e.g.
    JAX's "no GPU/TPU found, falling back to CPU")."""
    backend = backend or current_backend()
    if backend == "tensorflow":
        quiet_tensorflow_import()
        return
    if backend not in ("jax", "torch") or backend in sys.modules or verbose_requested(sys.argv):
        return

    def initialise():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if backend == "jax":
                import jax
                jax.devices()                 # platform discovery logs here
            else:
                import torch  # noqa: F401
    _captured(initialise)


class _LazyTensorFlow:
    """Stands for the `tensorflow` module in the modules that use it in some functions only:
    TensorFlow is imported (quietly, `import_tensorflow`) at the first attribute looked up."""

    def __init__(self, feature):
        self._feature = feature

    def __getattr__(self, name):
        return getattr(import_tensorflow(self._feature), name)


def lazy_tensorflow(feature):
    """`tensorflow`, imported at its first use (see `_LazyTensorFlow`): `tf =
    lazy_tensorflow("exports")` at the top of a module lets `import srn_tf.<module>` run without
    TensorFlow; `feature` names what needs it in the error where it is not installed."""
    return _LazyTensorFlow(feature)
