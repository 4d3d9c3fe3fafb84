"""The failures srn-tf reports to its users, and their one-line wording.

Every known failure is one of the exception types below (each a ValueError or RuntimeError, so
Python callers can catch them as such), an OSError, or TensorFlow's "No space left on device"
OpError. `error_message(exc)` gives the line a command prints for it (`error: <line>`, exit status
1, no traceback; `srn_tf.cli.run`), or None for any other exception, which is a bug and keeps its
traceback. The web demo shows the same words.

This module imports nothing of srn-tf (and not TensorFlow), so every layer of the package can
raise these errors and the command runner can know them all without an import circle.
"""

import errno
import re
import sys


class BackendError(ValueError):
    """A feature that needs another Keras backend or TensorFlow, or an unknown backend: the
    message says which, and what to run instead."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit the model.

    str(error) speaks to Python callers (hints such as `build_srn('gray')`);
    `command_line_message` is the same message with the hints as command-line flags
    (`--model_type=gray`), which the commands print.
    """

    def __init__(self, message, command_line_message=None):
        super().__init__(message)
        self.command_line_message = command_line_message or message


class DataError(ValueError):
    """A data source that cannot be used as it is; the message lists the offending paths."""


class ImageReadError(ValueError):
    """An image file that is missing, unreadable, corrupt or of an unsupported kind (the message
    names it and says why)."""


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


class VideoError(ValueError):
    """A video that cannot be read or written; the message names it."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while a command worked; the message says what was finished and how to
    go on (e.g. "3 of 10 images deblurred into out/; run again with --skip_existing …")."""


KNOWN_ERRORS = (BackendError, CheckpointError, DataError, ImageReadError, TrainingError, VideoError)


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


def _disk_full_op_error(exc):
    """TensorFlow's file writers report ENOSPC as an OpError (e.g. ResourceExhaustedError).
    Looked up without importing TensorFlow: where it was never imported, no such error exists."""
    tf = sys.modules.get("tensorflow")
    return (tf is not None and isinstance(exc, tf.errors.OpError)
            and "No space left on device" in getattr(exc, "message", ""))


def is_disk_full(exc):
    """True for an OSError ENOSPC/EDQUOT or TensorFlow's "No space left on device" OpError."""
    return ((isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
            or _disk_full_op_error(exc))


def disk_full_message(output):
    """The sentence for a full disk while a command writes its --output `output`."""
    return (f"no space left on device while writing {output}; free some space or choose "
            "another --output")


def error_message(exc):
    """The one-line text for a known failure `exc` (without "error: "), or None when `exc` is
    not one (a bug). Hints in it are command-line flags (`CheckpointError.command_line_message`)."""
    if isinstance(exc, KNOWN_ERRORS):
        return getattr(exc, "command_line_message", None) or str(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if _disk_full_op_error(exc):
        path = re.search(r"(/(?!job:)[^\s;]+?)(\.tempstate\d+)?(;|\s|$)", exc.message)
        where = f" while writing {path.group(1)}" if path else ""
        return f"no space left on device{where}: free some space or write to another disk"
    return None


# The library modules a user may run with `python -m` by mistake (earlier docs did), and the
# command each one backs.
COMMAND_OF_MODULE = {"srn_tf.convert": "convert", "srn_tf.data": "data", "srn_tf.demo": "demo",
                     "srn_tf.export": "export", "srn_tf.deblur_lib": "deblur",
                     "srn_tf.evaluate_lib": "evaluate", "srn_tf.train_lib": "train"}


def not_a_command(module):
    """What `python -m <module>` says for a library module of COMMAND_OF_MODULE (it ran nothing
    and exited 0): the command to run instead. Used as `raise SystemExit(not_a_command(...))`."""
    command = COMMAND_OF_MODULE[module]
    return (f"error: {module} is srn-tf's library, not a command: nothing was done; run "
            f"srn-{command} (or python -m srn_tf.commands.{command}) with the same flags")

