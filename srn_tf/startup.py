"""What happens before TensorFlow is imported: its start-up lines kept out of the console.

`import srn_tf` calls `quiet_tensorflow_import()` before anything imports TensorFlow. Unless
`--verbose` is on the command line or the user set TF_CPP_MIN_LOG_LEVEL, it sets
TF_CPP_MIN_LOG_LEVEL=2 (TensorFlow's C++ INFO and WARNING lines off; ERRORs stay) and imports
TensorFlow with file descriptor 2 sent to a temporary file, so the lines TensorFlow prints before
its logging starts (oneDNN, "Could not find cuda drivers", the CPU feature guard) and the CUDA
platform's `failed call to cuInit` "error" on machines without a GPU are not shown. Should the
import fail, what it printed is replayed on stderr.

This module imports nothing of srn-tf.
"""

import os
import sys
import tempfile

VERBOSE_FLAG = "verbose"


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


def quiet_tensorflow_import():
    """Imports TensorFlow and initialises its device platforms with fd 2 sent to a file.

    Does nothing when TensorFlow is already imported, `--verbose` is in sys.argv, or the user set
    TF_CPP_MIN_LOG_LEVEL (then TensorFlow prints what that level lets through).
    """
    if ("tensorflow" in sys.modules or verbose_requested(sys.argv)
            or "TF_CPP_MIN_LOG_LEVEL" in os.environ):
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()   # cuInit happens here: its "error" is captured too
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
