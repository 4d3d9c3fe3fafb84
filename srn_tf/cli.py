"""How every srn-tf command runs: quiet start-up, the Keras backend, and one-line errors.

Start-up: `import srn_tf` (which every command does first) sets the Keras backend from
`--backend` and imports its framework without its start-up lines unless `--verbose` is given
(`srn_tf.backend.select_backend`, `quiet_backend_import`).

Commands: a script runs its absl `main` through `run`:

    from srn_tf import cli
    ...
    if __name__ == "__main__":
        cli.run(main)

`run(main)` is `absl.app.run(main)` plus:
  * the absl boolean flag `--verbose` and the flag `--backend=tensorflow|jax|torch` (defined by
    `run` for every command; `import srn_tf` has already acted on --backend, `run` checks that
    Keras runs on it);
  * Python and absl logging at WARNING (INFO with `--verbose`: e.g. the per-variable mapping of a
    TF1 checkpoint import), written plain (`PlainFormatter`: `warning: …`, `error: …`);
  * the project's known failures as ONE line `error: <message>` on stderr and exit status 1, no
    traceback: BackendError, CheckpointError, DataError, ImageReadError, TrainingError,
    VideoError (their
    messages say what was wrong, which file and what to do), OSError (`describe_os_error`: a
    full disk, a denied permission, a missing folder, named by path) and TensorFlow's "No space
    left on device" OpErrors. Any other exception is a bug and keeps its traceback; `--verbose`
    shows the traceback of known failures too.

`error_message(exc)` is that line's text (without "error: "), or None for an exception that is not
a known failure: other front ends (the demo) use it to report failures with the same words. Hints
in it are command-line flags (CheckpointError.command_line_message: `--model_type=gray`, where
the Python API's message says `build_srn('gray')`).
"""

import errno
import logging
import re
import sys

from srn_tf.backend import BACKEND_FLAG, BACKENDS, VERBOSE_FLAG, BackendError, check_backend


def describe_os_error(exc):
    """One sentence for an OSError: what happened, to which path, what to do."""
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        writing = f" while writing {exc.filename}" if exc.filename else ""
        return f"{what}{writing}: free some space or write to another disk"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied:{where}: choose a path you can read/write"
    if exc.errno == errno.EROFS:
        return f"read-only file system:{where}: choose another output path"
    if exc.errno == errno.ENOENT:
        return f"no such file or folder:{where}"
    if exc.errno == errno.ENOTDIR:
        return f"not a folder:{where}"
    if exc.errno == errno.EISDIR:
        return f"is a folder, expected a file:{where}"
    reason = exc.strerror or str(exc)
    return f"{reason}:{where}" if where else reason


def _known_errors():
    """The known failures' classes of the modules imported so far (a module that was never
    imported raised none, and importing the TensorFlow-only ones would import TensorFlow)."""
    homes = {"srn_tf.convert": "CheckpointError", "srn_tf.data": "DataError",
             "srn_tf.image_io": "ImageReadError", "srn_tf.train_lib": "TrainingError",
             "srn_tf.video": "VideoError"}
    return (BackendError,) + tuple(getattr(sys.modules[module], name)
                                   for module, name in homes.items() if module in sys.modules)


def _disk_full_op_error(exc):
    """TensorFlow's file writers report ENOSPC as an OpError (e.g. ResourceExhaustedError);
    False whenever TensorFlow was not imported (then nothing raised one)."""
    if "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf
    message = getattr(exc, "message", "")
    return isinstance(exc, tf.errors.OpError) and "No space left on device" in message


def is_disk_full(exc):
    """True for an OSError ENOSPC/EDQUOT or TensorFlow's "No space left on device" OpError."""
    return ((isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
            or _disk_full_op_error(exc))


def disk_full_message(output):
    """The sentence for a full disk while a command writes its --output `output`."""
    return (f"no space left on device while writing {output}; free some space or choose "
            "another --output")


def error_message(exc):
    """The one-line text for a known failure `exc`, or None when `exc` is not one (a bug)."""
    if isinstance(exc, _known_errors()):
        return getattr(exc, "command_line_message", None) or str(exc)   # hints as flags
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if _disk_full_op_error(exc):
        path = re.search(r"(/(?!job:)[^\s;]+?)(\.tempstate\d+)?(;|\s|$)", exc.message)
        where = f" while writing {path.group(1)}" if path else ""
        return f"no space left on device{where}: free some space or write to another disk"
    return None


class PlainFormatter(logging.Formatter):
    """Log records as the commands' own lines: `warning: …`, `error: …`, other levels the
    message alone (no absl/glog `E1130 02:50:31.566904 … file.py:145]` prefix)."""

    def format(self, record):
        message = super().format(record)
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        return f"warning: {message}" if record.levelno >= logging.WARNING else message


class _BelowProgressBars:
    """A stream for log lines that tqdm's progress bars step aside for (`tqdm.write`), so a
    warning never starts in the middle of a bar's line."""

    def write(self, text):
        from tqdm import tqdm
        tqdm.write(text, file=sys.stderr, end="")

    def flush(self):
        sys.stderr.flush()

    def close(self):     # logging's shutdown closes handlers' streams; stderr stays open
        pass


def run(main):
    """absl.app.run(main) with quiet logging and one-line errors (see the module docstring)."""

    from absl import app, flags
    if VERBOSE_FLAG not in flags.FLAGS:
        flags.DEFINE_boolean(VERBOSE_FLAG, False, "show TensorFlow's start-up messages, INFO logs "
                             "(e.g. the per-variable mapping of a checkpoint import) and the "
                             "tracebacks of known failures")
    if BACKEND_FLAG not in flags.FLAGS:
        from srn_tf.backend import current_backend
        default = current_backend() if current_backend() in BACKENDS else BACKENDS[0]
        flags.DEFINE_enum(BACKEND_FLAG, default, list(BACKENDS),
                          "Keras backend to run on (default: KERAS_BACKEND, else tensorflow); "
                          "read before Keras is imported")

    def wrapped(argv):
        verbose = flags.FLAGS[VERBOSE_FLAG].value
        try:
            check_backend(flags.FLAGS[BACKEND_FLAG].value)
        except BackendError as e:
            sys.exit(f"error: {e}")
        level = logging.INFO if verbose else logging.WARNING
        logging.getLogger().setLevel(level)
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.WARNING)
        handler = absl_logging.get_absl_handler()
        handler.setFormatter(PlainFormatter())
        handler.python_handler.setStream(_BelowProgressBars())
        try:
            return main(argv)
        except Exception as e:   # noqa: BLE001  (known failures become one line; others re-raise)
            message = error_message(e)
            if message is None or verbose:
                raise
            sys.stderr.flush()
            sys.exit(f"error: {message}")

    app.run(wrapped)
