"""The commands a newcomer types (issue 25): installed on the PATH, `--help` that succeeds,
one-line refusals, a training run's folder as weights, Ctrl-C that says what was finished."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
from absl import flags
from PIL import Image

from conftest import ROOT
from srn_tf import cli, deblur_lib
from srn_tf.convert import load_model
from srn_tf.errors import CheckpointError, Interrupted
from srn_tf.model import build_srn

TF_STARTUP = ("oneDNN", "cuda_drivers", "cuInit", "cpu_feature_guard", "I0000", "W0000")


def _scripts():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def _user_env():
    """The environment of a user's shell: no PYTHONPATH to the checkout, no quiet TF of ours."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}


@pytest.mark.slow
def test_installed_commands_answer_help_from_any_folder(tmp_path):
    """Every console script of pyproject.toml is on the PATH after `pip install` (the README's
    set-up installs the package), prints its usage and its own flags, and exits 0, from a
    folder outside the checkout."""
    scripts = _scripts()
    assert {"srn-deblur", "srn-train", "srn-evaluate", "srn-export", "srn-convert",
            "srn-demo"} <= set(scripts)
    missing = [name for name in scripts if shutil.which(name) is None]
    assert not missing, (f"{missing} not on the PATH: install the package (python -m pip "
                         "install -r requirements.txt, or pip install .)")
    processes = {name: subprocess.Popen([name, "--help"], cwd=tmp_path, env=_user_env(),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in scripts}
    own_flag = {"srn-deblur": "--input", "srn-train": "--recipe", "srn-evaluate": "--weights",
                "srn-export": "--format", "srn-convert": "--tf1_checkpoint",
                "srn-demo": "--checkpoints_dir", "srn-data": "--output"}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (name, err[-2000:])
        assert name in out and own_flag[name] in out and "--[no]verbose" in out, (name, out)
        assert "--logtostderr" not in out and "tt_check_filter" not in out, name   # not absl's/TF's
        assert not [w for w in TF_STARTUP if w in err], (name, err)


RUN_LIBRARY_MODULES = """
import runpy, sys
from srn_tf.errors import COMMAND_OF_MODULE
for module in COMMAND_OF_MODULE:
    sys.argv = [module, "--help"]
    try:
        runpy.run_module(module, run_name="__main__")
        print(module, 0, "returned")
    except SystemExit as stop:
        print(module, 1 if isinstance(stop.code, str) else stop.code, stop.code)
"""


@pytest.mark.slow
def test_library_modules_run_as_commands_say_which_command(tmp_path):
    """NC: `python -m srn_tf.convert ...` (earlier docs' form) ran nothing and exited 0: now each
    library module with a command says, in one line, which command to run, and exits 1. One
    process runs every module as __main__ (runpy, as `python -m` does); one real `python -m`."""
    result = subprocess.run([sys.executable, "-c", RUN_LIBRARY_MODULES], cwd=tmp_path,
                            env=_user_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(lines) == {"srn_tf.convert", "srn_tf.data", "srn_tf.demo", "srn_tf.export",
                          "srn_tf.deblur_lib", "srn_tf.evaluate_lib", "srn_tf.train_lib"}
    for module, said in lines.items():
        command = "srn-" + module.split(".")[1].removesuffix("_lib")
        assert said.startswith("1 error: ") and f"run {command} " in said, (module, said)
    real = subprocess.run([sys.executable, "-m", "srn_tf.export", "--weights=x.keras"],
                          cwd=tmp_path, env=_user_env(), capture_output=True, text=True,
                          timeout=300)
    assert real.returncode == 1 and real.stdout == ""
    assert real.stderr.strip().splitlines() == [
        "error: srn_tf.export is srn-tf's library, not a command: nothing was done; run "
        "srn-export (or python -m srn_tf.commands.export) with the same flags"], real.stderr


def test_the_checkout_scripts_are_the_installed_commands():
    scripts = _scripts()
    for script in ("deblur.py", "train.py", "evaluate.py"):
        with open(os.path.join(ROOT, script)) as f:
            text = f.read()
        module = scripts["srn-" + script[:-3]].split(":")[0]
        assert f"from {module} import run" in text, script


def _run_cli(monkeypatch, capsys, main, argv, define_flags=None):
    """`cli.run(main)` in this process with argv; returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["srn-test", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.run(main, define_flags, "srn-test: what it does.\n\n  srn-test --name=x")
    out, err = capsys.readouterr()
    code = exited.value.code
    if isinstance(code, str):      # sys.exit("error: …") prints the text and exits 1
        err, code = err + code + "\n", 1
    return code or 0, out, err


def test_help_exits_0_and_a_bad_flag_is_one_line(monkeypatch, capsys):
    if "srn_test_name" not in flags.FLAGS:
        flags.DEFINE_integer("srn_test_name", 3, "a flag of the test command",
                             module_name="srn_tf.commands.srn_test")
    called = []
    code, out, err = _run_cli(monkeypatch, capsys, called.append, ["--help"])
    assert code == 0 and not called
    assert out.startswith("srn-test: what it does.") and "--srn_test_name" in out
    assert "--[no]verbose" in out and "--logtostderr" not in out
    code, out, err = _run_cli(monkeypatch, capsys, called.append, ["--srn_test_name=abc"])
    lines = err.strip().splitlines()
    assert code == 1 and not called and len(lines) == 1
    assert lines[0].startswith("error: flag --srn_test_name=abc") and "see --help" in lines[0]


def test_an_interrupted_command_says_what_was_finished(monkeypatch, capsys):
    def main(argv):
        raise Interrupted("3 of 10 image(s) deblurred into out")
    code, out, err = _run_cli(monkeypatch, capsys, main, [])
    assert code == cli.INTERRUPTED_STATUS
    assert err.strip() == "interrupted: 3 of 10 image(s) deblurred into out"

    def bare(argv):
        raise KeyboardInterrupt
    code, out, err = _run_cli(monkeypatch, capsys, bare, [])
    assert code == cli.INTERRUPTED_STATUS and err.strip() == "interrupted"

    def terminated(argv):   # SIGTERM (timeout, job schedulers) ends a command as Ctrl-C does
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code, out, err = _run_cli(monkeypatch, capsys, terminated, [])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == cli.INTERRUPTED_STATUS and err.strip() == "interrupted"


def test_a_missing_weights_flag_is_one_line_that_says_where_weights_come_from(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)
    result = subprocess.run([sys.executable, "deblur.py", f"--input={image}",
                             f"--output={tmp_path / 'o'}"], cwd=ROOT, env=_user_env(),
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no --weights given")
    assert "checkpoints/README.md" in lines[0] and "srn-train" in lines[0]
    assert "--helpfull" not in result.stdout + result.stderr   # no usage text before it


def test_a_training_runs_folder_is_taken_as_its_model(tmp_path):
    """`--weights=checkpoints/train_color`, as the release's folder layout suggests: the run's
    model.keras; a run that has not ended says so (it holds only ckpt-N and a state file, which
    once gave "… '_CHECKPOINTABLE_OBJECT_GRAPH'")."""
    run = tmp_path / "train_color"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model_type": "color"}))
    (run / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    with pytest.raises(CheckpointError, match="training run that has not ended"):
        load_model(str(run))
    model = build_srn("gray")
    model.save(str(run / "model.keras"))
    loaded = load_model(str(run))
    assert loaded.input_shape[-1] == 1 and loaded.count_params() == model.count_params()


def _write_images(folder, count, size=16):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i:03d}.png")


def test_interrupted_folder_names_what_was_done_and_skip_existing_finishes_it(tmp_path):
    _write_images(tmp_path / "in", 4)
    model = build_srn("color")
    calls = []

    def restore_interrupted_at_the_third(batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return batch

    output = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deblur_lib, "frame_restorer",
                      lambda *a, **k: restore_interrupted_at_the_third)
        with pytest.raises(Interrupted) as interrupted:
            deblur_lib.deblur_files(model, str(tmp_path / "in"), str(output))
        assert str(interrupted.value) == (
            f"2 of 4 image(s) deblurred into {output}, 2 not done; run the same command with "
            "--skip_existing to do the rest")
        assert sorted(os.listdir(output)) == ["000.png", "001.png"]   # whole files only
        written, skipped, existing = deblur_lib.deblur_files(
            model, str(tmp_path / "in"), str(output), skip_existing=True)
    assert [os.path.basename(p) for p in written] == ["002.png", "003.png"] and not skipped
    assert [os.path.basename(p) for p in existing] == ["000.png", "001.png"]
    assert len(calls) == 5   # two before the interrupt, the interrupted one, two on the rerun


@pytest.mark.slow
def test_ctrl_c_on_a_folder_ends_promptly_with_one_line(tmp_path):
    """Ctrl-C while a folder is deblurred: one line, exit status 130, every result written
    whole; the rerun with --skip_existing finishes the rest."""
    _write_images(tmp_path / "in", 60, size=64)
    weights = tmp_path / "color.keras"
    build_srn("color").save(str(weights))

    def command(output):
        return [sys.executable, "deblur.py", f"--input={tmp_path / 'in'}", f"--output={output}",
                f"--weights={weights}"]
    output = tmp_path / "out"
    process = subprocess.Popen(command(output), cwd=ROOT, env=_user_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (output.is_dir() and len(os.listdir(output)) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)     # promptly: within a minute, not hours
    lines = [line for line in err.splitlines() if line.strip() and "deblurring" not in line]
    assert process.returncode == cli.INTERRUPTED_STATUS, err
    assert len(lines) == 1 and "Traceback" not in err, err
    said = re.fullmatch(r"interrupted: (\d+) of 60 image\(s\) deblurred into (.*), (\d+) "
                        r"not done; run the same command with --skip_existing to do the "
                        r"rest", lines[0])
    assert said and said.group(2) == str(output), lines[0]
    assert int(said.group(1)) == len(os.listdir(output)) < 60   # every result whole
    done = len(os.listdir(output))
    rerun = subprocess.run(command(output) + ["--skip_existing"], cwd=ROOT, env=_user_env(),
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"left {done} image(s) whose result exists" in rerun.stdout
    assert len(os.listdir(output)) == 60
