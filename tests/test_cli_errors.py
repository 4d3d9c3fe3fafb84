"""Every failure is one message and nothing is half-done (issue 11, kind 5), and the commands' own
console output (kind 6, NC 13). Inputs are made here, after the cases in ../shared/cases."""

import contextlib
import errno
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import ROOT
from srn_tf import errors, sources, train_lib
from srn_tf.errors import DataError
from srn_tf.convert import CheckpointError, load_model, resolve_checkpoint_prefix
from srn_tf.model import build_srn

TF_STARTUP = ("oneDNN", "cuda", "cuInit", "cpu_feature_guard", "absl::InitializeLog", "E0000",
              "I0000", "W0000")


def run_command(*args, cwd=ROOT):
    """`python <args>` as a user runs it: no TF_CPP_MIN_LOG_LEVEL of ours in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def one_error_line(result, *fragments):
    """Asserts exit 1 and a stderr that is exactly one 'error: …' line holding `fragments`."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_pairs(root, count=2, size=(48, 64)):
    rng = np.random.default_rng(0)
    for key in ("blur", "sharp"):
        os.makedirs(os.path.join(root, key), exist_ok=True)
    for i in range(count):
        for key in ("blur", "sharp"):
            image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            Image.fromarray(image).save(os.path.join(root, key, f"{i}.png"))
    return str(root)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """(good, truncated) .keras files: BH-10's interrupted download keeps the first bytes."""
    folder = tmp_path_factory.mktemp("keras")
    good, truncated = str(folder / "good.keras"), str(folder / "trunc.keras")
    build_srn("color").save(good)
    with open(good, "rb") as f:
        head = f.read(os.path.getsize(good) // 5)
    with open(truncated, "wb") as f:
        f.write(head)
    return good, truncated


def test_truncated_keras_file_is_named_as_such(keras_files, tmp_path):
    _, truncated = keras_files
    with pytest.raises(CheckpointError, match=r"trunc\.keras is not a complete \.keras file "
                       r"\(truncated download or copy\?\): not a zip archive"):
        load_model(truncated)
    # A zip whose weights member is damaged (bytes flipped inside it): its CRC says so.
    good, _ = keras_files
    damaged = str(tmp_path / "damaged.keras")
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("model.weights.h5")
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 4096
    with open(good, "rb") as f:
        raw = bytearray(f.read())
    raw[offset:offset + 64] = bytes(255 - b for b in raw[offset:offset + 64])
    with open(damaged, "wb") as f:
        f.write(raw)
    with pytest.raises(CheckpointError, match="member model.weights.h5 is corrupt"):
        load_model(damaged)


@pytest.mark.slow
def test_every_command_says_one_line_without_tensorflow_noise(keras_files, tmp_path):
    """BH-10 (a truncated .keras) and NC 3 (convert/export of a missing checkpoint) from every
    command that loads weights; NC 10 (a failed training run leaves no workdir); NC 13 (no
    TensorFlow start-up lines, no cuInit "error", no runpy warning)."""
    _, truncated = keras_files
    image = str(tmp_path / "in.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    pairs = write_pairs(tmp_path / "pairs")
    complete = "is not a complete .keras file"
    # the refusal alone: no "network: ..." line for a network that never ran (NC, 2026-12-08)
    refused = run_command("deblur.py", f"--input={image}", f"--output={tmp_path / 'o'}",
                          f"--weights={truncated}")
    one_error_line(refused, complete)
    assert refused.stdout == "", refused.stdout
    refused = run_command("evaluate.py", f"--weights={truncated}", f"--data={pairs}",
                          f"--output_dir={tmp_path / 'ev'}")
    one_error_line(refused, complete)
    assert refused.stdout == "", refused.stdout
    workdir = tmp_path / "run"
    one_error_line(run_command("train.py", f"--data={pairs}", "--crop_size=32", "--batch_size=2",
                               "--train_steps=2", f"--init_from={truncated}",
                               f"--workdir={workdir}", "--noexport_saved_model"), complete)
    assert not workdir.exists()                  # NC 10: the corrected command is not refused
    one_error_line(run_command("-m", "srn_tf.commands.convert", f"--tf1_checkpoint={tmp_path / 'nope'}",
                               f"--output={tmp_path / 'x.keras'}"), "nope does not exist",
                   "checkpoints/README.md")
    one_error_line(run_command("-m", "srn_tf.commands.export", f"--weights={tmp_path / 'nope.keras'}",
                               f"--output={tmp_path / 'exp'}"), "no such .keras file")
    assert not (tmp_path / "o").exists() and not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_deblur_output_is_the_project_own(keras_files, tmp_path):
    """NC 13: a successful deblur prints its result and a progress bar, no TensorFlow lines;
    --verbose lets them through."""
    good, _ = keras_files
    image = str(tmp_path / "in.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    result = run_command("deblur.py", f"--input={image}", f"--output={tmp_path / 'o'}",
                         f"--weights={good}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [word for word in TF_STARTUP if word in result.stderr], result.stderr
    verbose = run_command("deblur.py", f"--input={image}", f"--output={tmp_path / 'o2'}",
                          f"--weights={good}", "--verbose")
    assert verbose.returncode == 0 and "I0000" in verbose.stderr


def test_training_that_fails_before_its_first_step_leaves_the_workdir_alone(keras_files,
                                                                           tmp_path):
    # NC 10, in-process: an --init_from that cannot be loaded.
    _, truncated = keras_files
    pairs = write_pairs(tmp_path / "pairs")
    config = train_lib.TrainConfig(data=pairs, workdir=str(tmp_path / "run"), batch_size=2,
                                   crop_size=32, train_steps=2, eval_images=1,
                                   init_from=truncated, export_saved_model=False)
    with pytest.raises(CheckpointError, match="not a complete .keras file"):
        train_lib.train_and_evaluate(config)
    assert not (tmp_path / "run").exists()


def test_truncated_held_out_image_is_named(tmp_path):
    # NC 6: the blurry image of the only pair is a truncated PNG (its first 300 bytes).
    pairs = write_pairs(tmp_path / "ptrunc", count=1)
    path = os.path.join(pairs, "blur", "0.png")
    with open(os.path.join(pairs, "sharp", "0.png"), "rb") as f:
        head = f.read(300)
    with open(path, "wb") as f:
        f.write(head)
    config = train_lib.TrainConfig(data=pairs, workdir=str(tmp_path / "run"), batch_size=1,
                                   crop_size=32, train_steps=2, eval_images=1,
                                   export_saved_model=False)
    with pytest.raises(DataError, match=path):
        train_lib.train_and_evaluate(config)
    assert not (tmp_path / "run").exists()


def test_data_list_from_windows_reads_as_intended(tmp_path):
    # BH-13: Notepad's "UTF-8" (a byte-order mark, CRLF) and backslash separators.
    write_pairs(tmp_path / "SEQ_00", count=2)
    lines = [f"SEQ_00\\sharp\\{i}.png SEQ_00\\blur\\{i}.png" for i in range(2)]
    text = "\r\n".join(lines) + "\r\n"
    bom = tmp_path / "datalist_bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    plain = tmp_path / "datalist_plain.txt"
    plain.write_text(text.replace("\\", "/").replace("\r\n", "\n"))
    read = sources.data_list_pairs(str(bom))
    assert read == sources.data_list_pairs(str(plain))
    assert [os.path.relpath(p.blur, tmp_path) for p in read] == ["SEQ_00/blur/0.png",
                                                                 "SEQ_00/blur/1.png"]


def test_checkpoint_state_file_from_windows_reads_as_intended(tmp_path):
    # BH-13's other file: a release folder whose `checkpoint` state file was saved on Windows.
    prefix = tf.train.Checkpoint(v=tf.Variable(1.0)).save(str(tmp_path / "deblur.model"))
    name = os.path.basename(prefix)
    state = (f'model_checkpoint_path: "C:\\\\Users\\\\me\\\\srn\\\\lstm\\\\{name}"\r\n'
             f'all_model_checkpoint_paths: "C:\\\\Users\\\\me\\\\srn\\\\lstm\\\\{name}"\r\n')
    (tmp_path / "checkpoint").write_bytes(b"\xef\xbb\xbf" + state.encode())
    assert resolve_checkpoint_prefix(str(tmp_path)) == str(tmp_path / name)


def test_full_disk_and_other_os_errors_are_one_sentence():
    # NC 9: what cli.run prints for a full disk, a denied permission and TF's own ENOSPC.
    try:
        with open("/dev/full", "wb") as f:
            f.write(b"x")
    except OSError as e:
        e.filename = "out/photo.png"
        full = e
    assert full.errno == errno.ENOSPC
    assert errors.error_message(full) == ("no space left on device while writing out/photo.png: "
                                       "free some space or write to another disk")
    denied = PermissionError(errno.EACCES, "Permission denied", "/root/x.keras")
    assert errors.error_message(denied) == ("permission denied: /root/x.keras: choose a path you "
                                         "can read/write")
    saved_model = tf.errors.ResourceExhaustedError(
        None, None, "{{function_node SaveV2}} /mnt/small/.export-1/saved_model/variables/"
        "part-0.data-00000-of-00001.tempstate123; No space left on device [Op:SaveV2]")
    assert errors.error_message(saved_model) == (
        "no space left on device while writing /mnt/small/.export-1/saved_model/variables/"
        "part-0.data-00000-of-00001: free some space or write to another disk")
    assert errors.error_message(RuntimeError("a bug")) is None     # bugs keep their traceback


def test_hints_speak_the_users_language(tf1_checkpoints):
    # NC 16: a gray checkpoint loaded as color. Python callers read build_srn('gray'); the
    # commands (which print errors.error_message) read --model_type=gray.
    from srn_tf.convert import load_tf1_checkpoint
    with pytest.raises(CheckpointError) as raised:
        load_tf1_checkpoint(build_srn("color"), tf1_checkpoints["gray"][0])
    assert "it looks like a 'gray' checkpoint: load it with build_srn('gray')" in str(raised.value)
    line = errors.error_message(raised.value)
    assert "load it with --model_type=gray" in line and "build_srn" not in line


def test_release_figure_only_where_it_applies(tf1_checkpoints, tmp_path):
    # NC 15: the release's 30.19 / 0.9334 is for its lstm weights on GoPro's whole test set.
    from srn_tf import evaluate_lib
    restorer = evaluate_lib.load_restorer(tf1_checkpoints["lstm"][0])   # deblur.model-523000
    assert restorer.published == (30.19, 0.9334)
    assert evaluate_lib.load_restorer(tf1_checkpoints["color"][0]).published is None
    pairs = write_pairs(tmp_path / "pairs", count=1, size=(32, 48))
    summary = evaluate_lib.evaluate([restorer], pairs, output_dir=str(tmp_path / "ev"))
    assert summary["models"][restorer.name]["published_gopro"] is None
    assert "30.19" not in evaluate_lib.format_table(summary)
    gopro = tmp_path / "GOPRO_Large"
    (gopro / "test").mkdir(parents=True)
    applies = evaluate_lib.published_applies
    assert applies(str(gopro), "test", "blur", 1111, [])
    assert applies("tfds:gopro", "test", "blur", 1111, [])
    assert not applies(str(gopro), "test", "blur", 1110, [])            # --limit, or a subset
    assert not applies(str(gopro), "test", "blur_gamma", 1111, [])
    assert not applies(str(gopro), "test", "blur", 1111, [{"image": "x"}])
    assert not applies(pairs, "test", "blur", 1111, [])                 # a folder pair


def test_truncated_saved_model_is_one_message(tmp_path):
    # BH-10's kind for the third weights format evaluate.py takes: a SavedModel folder whose
    # variables file was cut short.
    from srn_tf import evaluate_lib
    module = tf.Module()
    module.v = tf.Variable(tf.zeros([100_000]))
    folder = str(tmp_path / "exported")
    tf.saved_model.save(module, folder)
    variables = next(p for p in (tmp_path / "exported" / "variables").iterdir()
                     if ".data-" in p.name)
    variables.write_bytes(variables.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot load the SavedModel .*exported "
                       r"\(truncated or corrupt files\?\)"):
        evaluate_lib.load_restorer(folder)


@contextlib.contextmanager
def mounted_tmpfs(mount, options):
    """A 1 MiB tmpfs at `mount` with mount `options` (needs root: the test is skipped otherwise)."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=1m{options}", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip(f"cannot mount a tmpfs ({options or 'rw'}) here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs, filled up."""
    with mounted_tmpfs(tmp_path / "small", "") as mount:
        with open(mount / "fill", "wb") as f:
            try:
                f.write(bytes(2 ** 21))
            except OSError:
                pass
        yield mount


def test_full_disk_names_the_file(full_disk, tmp_path):
    # NC 9: deblurring into a full filesystem: one sentence naming the file, no partial file.
    from srn_tf import deblur_lib
    image = str(tmp_path / "photo.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    output = full_disk / "out"
    with pytest.raises(OSError) as raised:
        deblur_lib.deblur_files(build_srn("color"), image, str(output))
    assert errors.error_message(raised.value) == (
        f"no space left on device while writing {output / 'photo.png'}: free some space or "
        "write to another disk")
    assert os.listdir(output) == []


def test_truncated_checkpoint_in_the_workdir_is_one_message(tmp_path):
    # The resume path of train.py: the workdir's latest checkpoint was cut short.
    import json
    pairs = write_pairs(tmp_path / "pairs")
    workdir = tmp_path / "run"
    workdir.mkdir()
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=build_srn("color")),
                                         str(workdir), max_to_keep=1)
    data_file = manager.save() + ".data-00000-of-00001"
    with open(data_file, "rb") as f:
        head = f.read(1000)
    with open(data_file, "wb") as f:
        f.write(head)
    (workdir / train_lib.CONFIG_FILE).write_text(json.dumps({"model_type": "color", "seed": 0}))
    config = train_lib.TrainConfig(data=pairs, workdir=str(workdir), batch_size=2, crop_size=32,
                                   train_steps=2, eval_images=1, export_saved_model=False)
    with pytest.raises(CheckpointError, match=r"cannot resume from .*ckpt-1 \(truncated or "
                       r"corrupt checkpoint\?\)"):
        train_lib.train_and_evaluate(config)


@pytest.mark.slow
def test_unusable_tiling_is_refused_before_loading_weights(tmp_path):
    # F2: --tile=50 used to load the model, then skip every image as "unreadable".
    from srn_tf.tiling import check_tiling
    for tile in (50, -16, (48, 40)):
        with pytest.raises(ValueError, match="multiples of 16"):
            check_tiling(tile)
    with pytest.raises(ValueError, match="overlap"):
        check_tiling(64, overlap=-1)
    with pytest.raises(ValueError, match="memory_budget_mb"):
        check_tiling(None, memory_budget=0)
    # A tile no larger than the overlap used to fall back silently to a 16-px step (a 400×300
    # image with --tile=128 became 216 tiles): refused, naming both flags.
    for tile in (128, (512, 128), 96):
        with pytest.raises(ValueError, match=r"--overlap=128: .* at least the overlap \+ 16"):
            check_tiling(tile)
    check_tiling(None), check_tiling(0), check_tiling((48, 64), overlap=0)   # usable ones pass
    check_tiling(144), check_tiling((512, 144))
    missing = str(tmp_path / "missing.keras")   # loading it would be another error
    expected = "error: --tile=50: tile sizes must be 0 (whole image) or positive multiples of 16"
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    for command in (["deblur.py", f"--input={image}", f"--output={tmp_path / 'o'}"],
                    ["-m", "srn_tf.commands.export", f"--output={tmp_path / 'exp'}"]):
        line = one_error_line(run_command(*command, f"--weights={missing}", "--tile=50"))
        assert line.startswith(expected), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.mark.slow
def test_every_command_hints_with_flags(tf1_checkpoints, tmp_path):
    # NC 16 / F3: a gray TF1 checkpoint given as --model_type=color; deblur.py used to print the
    # Python API's hint build_srn('gray').
    gray = tf1_checkpoints["gray"][0]
    image = str(tmp_path / "in.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    pairs = write_pairs(tmp_path / "pairs")
    hint = "it looks like a 'gray' checkpoint: load it with --model_type=gray"
    for command in (
            ["deblur.py", f"--input={image}", f"--output={tmp_path / 'o'}", f"--weights={gray}"],
            ["evaluate.py", f"--weights={gray}", f"--data={pairs}",
             f"--output_dir={tmp_path / 'ev'}"],
            ["train.py", f"--data={pairs}", "--crop_size=32", "--batch_size=2", "--train_steps=2",
             f"--init_from={gray}", f"--workdir={tmp_path / 'run'}", "--noexport_saved_model"],
            ["-m", "srn_tf.commands.export", f"--weights={gray}", f"--output={tmp_path / 'exp'}"]):
        line = one_error_line(run_command(*command, "--model_type=color"), hint)
        assert "build_srn" not in line, (command[0], line)


@pytest.mark.slow
def test_full_disk_during_export_and_video_names_the_output(full_disk, keras_files, tmp_path):
    # F5: export named TensorFlow's device (/job:localhost/...); F6: a video pointed to .mkv.
    import imageio_ffmpeg
    from srn_tf import video
    output = full_disk / "exported"
    line = one_error_line(run_command("-m", "srn_tf.commands.export", f"--weights={keras_files[0]}",
                                      f"--output={output}"))
    assert line == (f"error: no space left on device while writing {output}; free some space "
                    "or choose another --output")
    source = tmp_path / "in.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=10", "-frames:v", "5", "-pix_fmt", "yuv420p",
                    str(source)], check=True)
    target = full_disk / "v.mp4"
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(source), str(target))
    assert str(raised.value) == (f"no space left on device while writing {target}; free some "
                                 "space or choose another --output")
    assert sorted(os.listdir(full_disk)) == ["fill"]


@pytest.mark.slow
def test_commands_report_what_they_did_not_what_was_asked(tmp_path):
    # F9: evaluate --save_images with only the blurry input named images/<model>/, never written.
    # F7: train.py said "on 6 images" (--eval_images) where the data had 3 pairs.
    pairs = write_pairs(tmp_path / "pairs", count=3, size=(32, 48))
    result = run_command("evaluate.py", "--weights=blurry", f"--data={pairs}",
                         f"--output_dir={tmp_path / 'ev'}", "--save_images")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "ev" / "images").exists()
    assert "deblurred images" not in result.stdout
    assert f"comparison strips: {tmp_path / 'ev' / 'strips'}" in result.stdout
    result = run_command("train.py", f"--data={pairs}", "--crop_size=32", "--batch_size=2",
                         "--train_steps=1", "--eval_images=6", f"--workdir={tmp_path / 'run'}",
                         "--noexport_saved_model")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 3 images, 1 steps run" in result.stdout, result.stdout
    # a folder pair has no test split: its figures are said to be on training pairs
    assert "training-pair PSNR" in result.stdout and "not held-out" in result.stderr
    assert "held-out PSNR" not in result.stdout + result.stderr   # BH-27: the step's line too


@pytest.mark.slow
def test_log_lines_are_plain_and_name_the_file(keras_files, tmp_path):
    # F8: "E1130 02:50:31.566904 140171411581824 deblur_lib.py:145] skipped: ... cannot identify
    # image file <_io.BytesIO object at 0x7f…>" became a plain line naming the file.
    from srn_tf.image_io import ImageReadError, decode
    with pytest.raises(ImageReadError) as raised:
        decode(b"", "empty.png")
    assert str(raised.value) == ("cannot read image empty.png: not an image file Pillow can "
                                 "read (empty, truncated or another format)")
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "good.png")
    (folder / "bad.png").write_bytes(b"GIF89a not really")
    result = run_command("deblur.py", f"--input={folder}", f"--output={tmp_path / 'o'}",
                         f"--weights={keras_files[0]}")
    assert result.returncode == 1
    import re
    assert not re.search(r"[IWE]\d{4} \d\d:\d\d:\d\d", result.stderr), result.stderr
    assert re.search(r"(^|\r|\])error: skipped: cannot read image \S*bad\.png: not an image "
                     r"file Pillow can read", result.stderr, re.M), result.stderr
    assert "BytesIO" not in result.stderr


def test_unwritable_output_is_refused_before_the_model_runs(tmp_path):
    # Item 7: a read-only --output was found only when the first result was written.
    from srn_tf import deblur_lib
    with mounted_tmpfs(tmp_path / "ro", ",ro") as mount:
        image = tmp_path / "in.png"
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
        for output in (mount, mount / "new" / "folder", mount / "one.png"):
            with pytest.raises(ValueError, match=f"--output {output}: cannot write in {mount} "
                               r"\(Read-only file system\); choose another --output"):
                deblur_lib.plan_outputs(str(image), str(output))
        assert deblur_lib.plan_outputs(str(image), str(tmp_path / "o"))   # writable: accepted
        line = one_error_line(run_command("deblur.py", f"--input={image}", f"--output={mount}",
                                          f"--weights={tmp_path / 'missing.keras'}"))
        assert "Read-only file system" in line and "missing.keras" not in line


@pytest.mark.slow
def test_short_help_lists_the_inference_flags():
    # F11: absl's --helpshort shows the main module's key flags only; --tile etc. were hidden.
    for script in ("deblur.py", "evaluate.py"):
        text = run_command(script, "--helpshort").stdout
        for flag in ("--tile", "--overlap", "--memory_budget_mb", "--precision", "]jit_compile"):
            assert flag in text, (script, flag)
