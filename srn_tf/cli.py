"""How every srn-tf command runs: its help, quiet logging, one-line errors, prompt interrupts.

The commands (`srn_tf.commands.*`, installed as `srn-deblur`, `srn-train`, …, and the checkout's
`deblur.py`, `train.py`, `evaluate.py`) each end with

    def run():
        cli.run(main, define_flags, __doc__)

`run(main, define_flags, doc)` is `absl.app.run(main)` plus:
  * `--help` (`-h`, `--helpshort`, `-?`) prints `doc` and the command's own flags and exits 0;
    `--helpfull` adds absl's; a bad or missing flag is one line `error: … (see --help)`, exit 1;
  * the absl boolean flag `--verbose` and the flag `--backend=tensorflow|jax|torch` (defined
    here for every command; `import srn_tf` has already acted on --backend, `run` checks that
    Keras runs on it, `srn_tf.backend`);
  * Python and absl logging at WARNING (INFO with `--verbose`: e.g. the per-variable mapping of a
    TF1 checkpoint import), written plain (`PlainFormatter`: `warning: …`, `error: …`);
  * the project's known failures (`srn_tf.errors`) as ONE line `error: <message>` on stderr and
    exit status 1, no traceback. Any other exception is a bug and keeps its traceback;
    `--verbose` shows the traceback of known failures too;
  * Ctrl-C and SIGTERM end the command with one line, `interrupted: <what was finished>` (the
    message of the `srn_tf.errors.Interrupted` a command raised, else nothing more), and exit
    status 130; a command with its own handlers (training checkpoints before it stops) keeps them.

This module sits above the library: it imports `srn_tf.errors` and `srn_tf.backend` only, and no
library module imports it.
"""

import logging
import signal
import sys

from srn_tf.backend import BACKEND_FLAG, BACKENDS, VERBOSE_FLAG, check_backend, current_backend
from srn_tf.errors import BackendError, Interrupted, error_message
HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "-?")
HELPFULL_ARGS = ("--helpfull", "-helpfull")
INTERRUPTED_STATUS = 130   # 128 + SIGINT, as shells report a command ended by Ctrl-C


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


def _command_help(doc, full):
    """The help text: the command's docstring, then its flags (all of absl's too when `full`)."""
    from absl import flags
    values = flags.FLAGS
    if full:
        listed = values.get_help()
    else:   # srn-tf's own flags (not absl's --logtostderr, --flagfile, … nor TensorFlow's)
        modules = sorted((m for m in values.flags_by_module_dict()
                          if m.split(".")[0] in ("srn_tf", "__main__")),
                         key=lambda m: m in ("srn_tf.cli_flags", __name__))   # command first
        listed = "\n".join(values.module_help(m) for m in modules)
        listed = "\n".join(line for line in listed.splitlines() if line.strip())
    return f"{(doc or '').strip()}\n\nflags:\n{listed}\n"


def _parse_flags(doc):
    """An absl flags parser: help exits 0, a flag error is one line and exit status 1."""
    from absl import flags

    def parse(argv):
        options = argv[1:argv.index("--")] if "--" in argv else argv[1:]
        if any(a in HELP_ARGS + HELPFULL_ARGS for a in options):
            sys.stdout.write(_command_help(doc, any(a in HELPFULL_ARGS for a in options)))
            sys.exit(0)
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            sys.exit(f"error: {e} (see --help)")
    return parse


def _interrupt_on_sigterm():
    """SIGTERM (timeout, Slurm, Kubernetes, the demo's host) ends a command as Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)


def run(main, define_flags=None, doc=None):
    """Runs a command's absl `main(argv)`: see the module docstring. `define_flags()` defines its
    flags (called once, before parsing); `doc` is its help text (default: `__main__`'s)."""
    from absl import app, flags
    if VERBOSE_FLAG not in flags.FLAGS:
        flags.DEFINE_boolean(VERBOSE_FLAG, False, "show TensorFlow's start-up messages, INFO logs "
                             "(e.g. the per-variable mapping of a checkpoint import) and the "
                             "tracebacks of known failures")
    if BACKEND_FLAG not in flags.FLAGS:
        default = current_backend() if current_backend() in BACKENDS else BACKENDS[0]
        flags.DEFINE_enum(BACKEND_FLAG, default, list(BACKENDS),
                          "Keras backend to run on (default: KERAS_BACKEND, else tensorflow); "
                          "read before Keras is imported")
    if define_flags is not None:
        define_flags()
    doc = doc if doc is not None else sys.modules["__main__"].__doc__

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
        _interrupt_on_sigterm()
        try:
            return main(argv)
        except KeyboardInterrupt as e:
            sys.stderr.flush()
            what = str(e) if isinstance(e, Interrupted) else ""
            print("interrupted" + (f": {what}" if what else ""), file=sys.stderr)
            sys.exit(INTERRUPTED_STATUS)
        except Exception as e:   # noqa: BLE001  (known failures become one line; others re-raise)
            message = error_message(e)
            if message is None or verbose:
                raise
            sys.stderr.flush()
            sys.exit(f"error: {message}")

    app.run(wrapped, flags_parser=_parse_flags(doc))
