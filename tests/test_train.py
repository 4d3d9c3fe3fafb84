import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf1_reference
from conftest import ROOT, run_script
from srn_tf import multi_worker, train_lib
from srn_tf.losses import multiscale_l2
from srn_tf.image_io import write_png
from test_data import make_gopro_tree

TINY = dict(batch_size=2, crop_size=32, checkpoint_every=3, summary_every=2, eval_every=1000,
            eval_images=2)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    make_gopro_tree(root, split="train", size=(48, 64))
    make_gopro_tree(root, split="test", size=(32, 48), frames=1, seed=1)
    return str(root)


def tiny_config(root, workdir, **overrides):
    return train_lib.TrainConfig(**{"data": root, "workdir": str(workdir), **TINY, **overrides})


def final_weights(workdir):
    return keras.models.load_model(os.path.join(workdir, "model.keras")).get_weights()


# The loop's mechanics (resume, signals, strategies) do not depend on the network: the train.py
# runs below train the CNN baseline, 3x faster than SRN (48 → 16 s for 60 tiny steps on 2 cores),
# unless they name a model_type; SRN's own step is proven exact by test_train_exact.py and
# test_train_resync.py, and in-process tests here train SRN.
LOOP_MODEL = "cnn"


def loop_options(root, workdir, steps, **extra):
    return {**TINY, "model_type": LOOP_MODEL, "data": root, "workdir": str(workdir),
            "train_steps": steps, "export_saved_model": False, **extra}


def flags(root, workdir, steps, **extra):
    """train.py's flags for the loop_options."""
    return [f"--{k}={v}" for k, v in loop_options(root, workdir, steps, **extra).items()]


def loop_config(root, workdir, steps, **extra):
    """The TrainConfig train.py makes of `flags(root, workdir, steps, **extra)`, for runs in this
    process (no start-up) that a train.py run is compared with."""
    return train_lib.TrainConfig(**loop_options(root, workdir, steps, **extra))


def test_learning_rate_follows_the_release_formula():
    config = train_lib.TrainConfig(data="x", learning_rate=1e-4).resolved()
    steps = 524_000
    for step in (0, 1000, 262_000, 500_000, 524_000):   # float32, as the release computed it
        expected = 1e-4 * (1 - step / steps) ** 0.3
        assert float(train_lib.learning_rate_schedule(config, steps)(step)) == pytest.approx(
            expected, rel=1e-5, abs=1e-12)
    assert train_lib.total_steps(config, num_pairs=2103) == 4000 * (2103 // 16) == 524_000


def test_recipes():
    release = train_lib.TrainConfig(data="/data/GOPRO_Large").resolved()
    assert (release.batch_size, release.crop_size, release.learning_rate, release.epochs,
            release.lr_decay_power, release.mixed_precision) == (16, 256, 1e-4, 4000, 0.3, False)
    assert release.init == "xavier"        # the release's Xavier init everywhere
    cpu = train_lib.TrainConfig(batch_size=4).resolved()
    assert cpu.batch_size == 4 and cpu.train_steps == train_lib.CPU_RECIPE["train_steps"]
    assert (cpu.init, cpu.data) == (train_lib.CPU_RECIPE["init"], train_lib.CPU_RECIPE["data"])
    assert train_lib.TrainConfig(model_type="cnn").resolved().init == "xavier"
    assert train_lib.TrainConfig(data="synthetic").resolved().batch_size == 4   # the CPU recipe
    mixed = train_lib.TrainConfig(data="synthetic,embedded:0.3", epochs=3).resolved()
    with pytest.raises(train_lib.TrainingError, match="give --train_steps"):
        train_lib.total_steps(mixed, None)


def test_synthetic_data_trains(tmp_path, embedded_dir):
    result = train_lib.train_and_evaluate(train_lib.TrainConfig(
        data="synthetic", init="identity", workdir=str(tmp_path / "w"), train_steps=3,
        batch_size=2, crop_size=32, eval_images=1, validate_every=0, export_saved_model=False))
    assert result["step"] == 3 and np.isfinite(result["psnr"])
    # it trained: the identity init no longer returns its input (Adam's first steps move every
    # weight by about the learning rate, so held-out PSNR first dips: README's learning curves)
    model = keras.models.load_model(result["keras_path"])
    images = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    assert np.abs(model(images)[-1] - images).max() > 1e-3


def test_the_model_kept_is_the_step_best_on_validation(tmp_path):
    root = tmp_path / "d"
    make_gopro_tree(root, split="train", size=(48, 64))
    make_gopro_tree(root, split="test", size=(32, 48), frames=1, seed=1)
    make_gopro_tree(root, split="val", size=(32, 48), frames=1, same=True, seed=2)
    workdir = tmp_path / "w"
    # Validation pairs whose blurry image is the sharp one: the identity at step 0 is perfect
    # (up to the truncation to uint8 of its 1e-7 error: 74.5 dB, below the input's 100, so no
    # step qualifies and the best PSNR is kept) and every step of training on noise pairs moves
    # away from it.
    result = train_lib.train_and_evaluate(tiny_config(
        str(root), workdir, init="identity", train_steps=4, validate_every=2,
        learning_rate=1e-3, export_saved_model=False))
    assert result["selected_step"] == 0 and result["validation"]["psnr"] > 60.0
    record = json.loads((workdir / "best" / "best.json").read_text())
    assert record == result["validation"] and not record["qualifies"]
    history = json.loads((workdir / "validation.json").read_text())
    assert [(e["step"], e["kept"], e["qualifies"]) for e in history] == [
        (0, True, False), (2, False, False), (4, False, False)]
    assert "kept until a step qualifies" in history[0]["reason"]
    assert all("step 0 has the higher PSNR" in e["reason"] and e["reason"].endswith("not kept")
               for e in history[1:]), history
    events = {int(name.split("-")[1].split(".")[0]) for name in os.listdir(workdir / "best")
              if name.startswith("ckpt-")}
    assert events == {0}
    # the model written is step 0's, the identity: held-out output = input
    assert result["psnr"] == pytest.approx(result["psnr_blurry"], abs=1e-3)
    assert result["psnr_last_step"] != pytest.approx(result["psnr"], abs=1e-3)
    model = keras.models.load_model(result["keras_path"])
    images = np.random.default_rng(0).random((1, 32, 48, 3), dtype=np.float32)
    np.testing.assert_allclose(model(images)[-1], images, atol=1e-6)
    # a resumed run keeps the record; without a val split, asking to validate fails up front
    again = train_lib.train_and_evaluate(tiny_config(
        str(root), workdir, init="identity", train_steps=6, validate_every=2,
        learning_rate=1e-3, export_saved_model=False))
    assert again["selected_step"] == 0
    # resuming with another start or data order is refused, nothing written
    before = sorted(os.listdir(workdir))
    for change, flag in ((dict(init="xavier"), "--init=identity"),
                         (dict(crop_size=16), "--crop_size=32")):
        with pytest.raises(train_lib.TrainingError, match=f"holds a run with {flag}"):
            train_lib.train_and_evaluate(tiny_config(
                str(root), workdir, **{"init": "identity", "train_steps": 8, **change}))
    assert sorted(os.listdir(workdir)) == before
    shutil.rmtree(root / "val")
    with pytest.raises(train_lib.TrainingError, match="has no 'val' split"):
        train_lib.train_and_evaluate(tiny_config(str(root), tmp_path / "x", validate_every=2))
    # a folder pair is one set of pairs whatever split is asked: no validation split either
    pairs = root / "pairs"
    shutil.copytree(root / "train" / "GOPR0000_00_00", pairs)
    with pytest.raises(train_lib.TrainingError, match="no 'val' split"):
        train_lib.train_and_evaluate(tiny_config(str(pairs), tmp_path / "x", validate_every=2))
    assert not (tmp_path / "x").exists()


def figures(psnr, ssim, psnr_blurry=25.0, ssim_blurry=0.80):
    return dict(psnr=psnr, ssim=ssim, psnr_blurry=psnr_blurry, ssim_blurry=ssim_blurry)


def test_a_step_is_kept_only_when_better_than_the_input_on_both_measures():
    """Issue 22: PSNR and SSIM both at least the input's, then the highest PSNR; a step with a
    higher PSNR but an SSIM below the input's is not kept (the +0.05 dB, SSIM −0.03 case)."""
    steps = [(0, figures(25.0, 0.80)),            # identity init: the input itself, qualifies
             (100, figures(25.3, 0.79)),          # higher PSNR, SSIM below the input's
             (200, figures(25.2, 0.81)),          # both above: kept
             (300, figures(25.1, 0.82)),          # qualifies, lower PSNR
             (400, figures(24.9, 0.85)),          # PSNR below the input's
             (500, figures(25.2, 0.83)),          # equal PSNR: the earlier step stays
             (600, figures(25.25, None, ssim_blurry=None)),   # SSIM undefined: PSNR decides
             (700, figures(25.4, 0.79996))]      # SSIM below by less than half the last digit
    record, kept = None, []
    for step, f in steps:
        keep, reason = train_lib.validation_verdict(f, record)
        assert reason.endswith("kept") and (reason.endswith("not kept") != keep), reason
        if keep:
            record = {"step": step, **f, "qualifies": train_lib.qualifies(f)}
            kept.append(step)
    assert kept == [0, 200, 600, 700]
    assert "SSIM below the input's" in train_lib.validation_verdict(steps[1][1], None)[1]
    assert "PSNR below" in train_lib.validation_verdict(steps[4][1], None)[1]
    assert not train_lib.qualifies(figures(25.0, 0.7999))
    # Without a qualifying step (no identity init) the best PSNR is kept until one qualifies
    bad = {"step": 0, **figures(20.0, 0.5), "qualifies": False}
    assert train_lib.validation_verdict(figures(21.0, 0.6), bad)[0]
    assert not train_lib.validation_verdict(figures(19.0, 0.7), bad)[0]
    assert train_lib.validation_verdict(figures(25.0, 0.8), {**bad, "psnr": 30.0})[0]
    good = {"step": 0, **figures(25.0, 0.8), "qualifies": True}
    assert not train_lib.validation_verdict(figures(30.0, 0.7), good)[0]


def test_array_checkpoints_keep_the_latest_and_refuse_what_is_not_theirs(tmp_path):
    """The .npz state of the JAX and PyTorch loops (srn_tf.train_step.ArrayCheckpoints; Keras
    variables on any backend, so tested here on TensorFlow's)."""
    from srn_tf.train_step import ArrayCheckpoints
    variables = [keras.Variable(np.full((2, 3), 1.0, np.float32), name="a"),
                 keras.Variable(np.int64(0), name="step")]
    store = ArrayCheckpoints(variables, str(tmp_path / "w"), max_to_keep=2)
    assert store.latest_checkpoint is None
    for step in (1, 2, 3):
        variables[0].assign(np.full((2, 3), float(step), np.float32))
        variables[1].assign(step)
        store.save(step)
    assert sorted(os.listdir(tmp_path / "w")) == ["ckpt-2.npz", "ckpt-3.npz"]
    assert store.latest_checkpoint.endswith("ckpt-3.npz")
    store.restore(str(tmp_path / "w" / "ckpt-2.npz"))
    assert float(variables[0][0, 0]) == 2.0 and int(variables[1]) == 2
    other = ArrayCheckpoints(variables[:1], str(tmp_path / "w"))
    with pytest.raises(ValueError, match="holds 2 variables, not the 1 of"):
        other.restore(store.latest_checkpoint)
    reshaped = ArrayCheckpoints([keras.Variable(np.zeros(6, np.float32)), variables[1]],
                                str(tmp_path / "w"))
    with pytest.raises(ValueError, match=r"has shape \(2, 3\), not \(6,\)"):
        reshaped.restore(store.latest_checkpoint)
    data = (tmp_path / "w" / "ckpt-3.npz").read_bytes()
    (tmp_path / "w" / "ckpt-3.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="cannot be read"):
        store.restore(store.latest_checkpoint)


def test_lstm_clipping_of_loss_scaled_gradients_is_that_of_the_unscaled_ones():
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=shape), tf.float32) for shape in ((3, 3), (4,), (5,))]
    mask = [True, False, True]
    plain = train_lib.clip_lstm_gradients(grads, mask, 0.5)
    assert np.sqrt(sum(float(tf.reduce_sum(g * g)) for g, m in zip(plain, mask) if m)) == \
        pytest.approx(0.5, rel=1e-6)                          # clipped: the norm was ~3.5
    np.testing.assert_array_equal(plain[1], grads[1])         # not an LSTM gradient: unchanged
    scale = 32768.0                                           # mixed_float16's first loss scale
    scaled = train_lib.clip_lstm_gradients([g * scale for g in grads], mask, 0.5, scale)
    for a, b in zip(scaled, plain):
        np.testing.assert_allclose(a.numpy() / scale, b.numpy(), rtol=1e-6)


def test_per_level_loss_uses_the_legacy_resize():
    rng = np.random.default_rng(0)
    sharp = rng.random((2, 32, 48, 3), dtype=np.float32)
    outputs = [rng.random((2, 32 // s, 48 // s, 3), dtype=np.float32) for s in (4, 2, 1)]
    total, levels = multiscale_l2(tf.constant(sharp), outputs)
    # Without half-pixel centres, a 1/s downscale samples every s-th pixel exactly.
    expected = [np.mean((sharp[:, ::s, ::s] - o) ** 2) for s, o in zip((4, 2, 1), outputs)]
    np.testing.assert_allclose([float(v) for v in levels], expected, rtol=1e-6)
    assert float(total) == pytest.approx(sum(expected), rel=1e-6)


def test_loss_goes_down_and_outputs_are_written(tiny_root, tmp_path):
    result = train_lib.train_and_evaluate(tiny_config(
        tiny_root, tmp_path / "w", train_steps=40, learning_rate=3e-4, crop_size=16,
        summary_every=5, checkpoint_every=20))
    events = tf.compat.v1.train.summary_iterator
    losses = []
    for name in sorted(os.listdir(tmp_path / "w" / "train")):
        for event in events(str(tmp_path / "w" / "train" / name)):
            for value in event.summary.value:
                if value.tag == "loss/total":
                    losses.append(float(tf.make_ndarray(value.tensor)))
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    assert os.path.isfile(result["keras_path"])
    assert os.path.isfile(os.path.join(result["saved_model"], "saved_model.pb"))
    assert {"psnr", "psnr_blurry", "ssim", "ssim_blurry"} <= set(result)
    assert sorted(n for n in os.listdir(tmp_path / "w") if n.startswith("ckpt-20"))


def test_resume_after_a_stop_is_bit_exact_with_the_data_moved_and_named_another_way(
        tiny_root, tmp_path, monkeypatch):
    straight = train_lib.train_and_evaluate(tiny_config(tiny_root, tmp_path / "a", train_steps=6,
                                                        export_saved_model=False,
                                                        model_type=LOOP_MODEL))
    data = tmp_path / "data"              # the same files as tiny_root, elsewhere
    shutil.copytree(tiny_root, data)

    class StopAfterThreeSteps(train_lib._StopRequest):
        polls = 0

        @property
        def signal(self):
            StopAfterThreeSteps.polls += 1
            return "SIGTERM" if StopAfterThreeSteps.polls >= 3 else None

        @signal.setter
        def signal(self, value):
            pass

    monkeypatch.setattr(train_lib, "_StopRequest", StopAfterThreeSteps)
    first = train_lib.train_and_evaluate(tiny_config(str(data), tmp_path / "b", train_steps=6,
                                                     export_saved_model=False, checkpoint_every=5,
                                                     model_type=LOOP_MODEL))
    assert first["stopped_by"] == "SIGTERM" and first["step"] == 3
    assert tf.train.latest_checkpoint(str(tmp_path / "b")).endswith("ckpt-3")
    monkeypatch.undo()
    # BH-27: the data moved together with its run (the old place is gone), then named relatively
    # with a trailing slash: the same command resumes, and ends where an unbroken run ends
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    data.rename(moved / "data")
    (tmp_path / "b").rename(moved / "b")
    monkeypatch.chdir(moved)
    second = train_lib.train_and_evaluate(tiny_config("data/", "b", train_steps=6,
                                                      export_saved_model=False,
                                                      model_type=LOOP_MODEL))
    assert second["step"] == straight["step"] == 6
    for a, b in zip(final_weights(tmp_path / "a"), final_weights(moved / "b")):
        np.testing.assert_array_equal(a, b)


def write_folder_pair(root, count=3, size=(40, 40), seed=0):
    """BH-27's input: <root>/blur and <root>/sharp with `count` random PNG pairs."""
    rng = np.random.default_rng(seed)
    for sub in ("blur", "sharp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for i in range(count):
            write_png(os.path.join(root, sub, f"{i:03d}.png"),
                      rng.integers(0, 256, size + (3,), dtype=np.uint8))
    return str(root)


def test_the_same_data_under_any_name_is_the_same_run(tmp_path, monkeypatch, caplog):
    """BH-27: a run's data is known by what it is (names and sizes of its files), not by how its
    path was spelled; other data is refused, saying how to resume."""
    monkeypatch.chdir(tmp_path)
    write_folder_pair(tmp_path / "pairs")
    workdir = tmp_path / "run"
    workdir.mkdir()
    tf.train.Checkpoint(v=tf.Variable(1.0)).save(str(workdir / "ckpt"))   # a run under way

    def config(source):
        return tiny_config(source, workdir, train_steps=4).resolved()

    def check(source):
        return train_lib._check_workdir(config(source), train_lib.data_fingerprint(config(source)))

    first = config(str(tmp_path / "pairs"))
    train_lib.write_run_config(first, train_lib.data_fingerprint(first))
    os.symlink(tmp_path / "pairs", tmp_path / "link")
    for spelling in ("pairs", "pairs/", "./pairs", str(tmp_path / "pairs") + "/", "link",
                     "link/"):
        assert check(spelling)["data"] == str(tmp_path / "pairs"), spelling
    shutil.copytree(tmp_path / "pairs", tmp_path / "moved" / "pairs")
    shutil.rmtree(tmp_path / "pairs")                     # moved: the old place is gone
    assert check("moved/pairs")["model_type"] == "color"
    # other data: one image re-encoded (another size), or a pair more
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "moved" / "pairs", other)
    write_png(str(other / "blur" / "001.png"), np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(train_lib.TrainingError) as refused:
        check("other")
    message = str(refused.value)
    hashes = re.findall(r"3 pairs, sha256 ([0-9a-f]{16})", message)
    assert message.startswith(f"{workdir} holds a run on other data (its --data="
                              f"{tmp_path / 'pairs'}: 3 pairs, sha256 ") and "; --data=other: " in message
    assert len(hashes) == 2 and hashes[0] != hashes[1], message
    assert message.endswith("give the run's data to resume it (any path to the same files will "
                            "do: relative, a symlink, a moved copy), or another --workdir")
    write_folder_pair(tmp_path / "more", count=4)
    with pytest.raises(train_lib.TrainingError, match="holds a run on other data"):
        check("more")
    # a config.json of an older srn-tf (no fingerprint): its path, where it still exists, is
    # fingerprinted; where it is gone, the data given is taken to be it, moved (with a warning)
    saved = json.loads((workdir / "config.json").read_text())
    del saved["data_fingerprint"]
    for old, given, accepted in ((str(tmp_path / "moved" / "pairs"), "moved/pairs/", True),
                                 (str(tmp_path / "more"), "moved/pairs", False),
                                 (str(tmp_path / "gone"), "moved/pairs", True)):
        (workdir / "config.json").write_text(json.dumps({**saved, "data": old}))
        caplog.clear()
        if accepted:
            check(given)
        else:
            with pytest.raises(train_lib.TrainingError, match="holds a run on other data"):
                check(given)
        assert ("not there any more" in caplog.text) == old.endswith("gone")


def test_figures_on_training_pairs_are_never_called_held_out(tmp_path):
    """BH-27's side note: a folder pair, or a GoPro root without test/, is evaluated on its
    training pairs; held_out says so and every line names them training-pair figures."""
    write_folder_pair(tmp_path / "pairs", count=2)
    make_gopro_tree(tmp_path / "gopro", split="train", sequences=1, frames=1, size=(32, 32))
    for source in ("pairs", "gopro"):
        config = tiny_config(str(tmp_path / source), tmp_path / "w").resolved()
        examples, held_out = train_lib._eval_examples(config, 6)
        assert (len(examples), held_out) == ({"pairs": 2, "gopro": 1}[source], False)
    make_gopro_tree(tmp_path / "gopro", split="test", sequences=1, frames=1, size=(32, 32))
    assert train_lib._eval_examples(tiny_config(str(tmp_path / "gopro"), tmp_path / "w"), 6)[1]
    assert (train_lib.eval_label(False), train_lib.eval_label(True)) == ("training-pair",
                                                                         "held-out")


@pytest.mark.slow
def test_sigterm_saves_and_the_rerun_finishes_identically(tiny_root, tmp_path):
    workdir = tmp_path / "k"
    command = [sys.executable, "train.py"] + flags(tiny_root, str(workdir), 60,
                                                    checkpoint_every=5)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (workdir / "ckpt-5.index").exists():   # wait until training is under way
        assert process.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[1]
    assert process.returncode == 1 and "stopped by SIGTERM" in output, output[-2000:]
    stopped_at = int(tf.train.latest_checkpoint(str(workdir)).rsplit("-", 1)[1])
    assert 5 <= stopped_at < 60
    resumed = run_script("train.py", *flags(tiny_root, str(workdir), 60))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = run_script("train.py", *flags(tiny_root, str(tmp_path / "s"), 60))
    assert straight.returncode == 0, straight.stderr[-2000:]
    for a, b in zip(final_weights(tmp_path / "s"), final_weights(workdir)):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path):
    with pytest.raises(train_lib.TrainingError) as e:
        train_lib.train_and_evaluate(tiny_config(tiny_root, tmp_path / "n", train_steps=50,
                                                 learning_rate=1e30, checkpoint_every=1))
    message = str(e.value)
    step = int(message.split(" at step ")[1].split(";")[0])
    assert "the loss became" in message and step >= 2
    latest = tf.train.latest_checkpoint(str(tmp_path / "n"))
    assert latest.endswith(f"ckpt-{step - 1}") and latest in message


def test_init_from_a_tf1_checkpoint(tiny_root, tmp_path):
    images = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    prefix, _ = tf1_reference.write_checkpoint(str(tmp_path), "color", images)
    result = train_lib.train_and_evaluate(tiny_config(
        tiny_root, tmp_path / "ft", train_steps=1, learning_rate=0.0, init_from=prefix,
        export_saved_model=False))
    reader = tf.train.load_checkpoint(prefix)
    model = keras.models.load_model(result["keras_path"])
    np.testing.assert_array_equal(model.get_layer("enc1_2").conv1.kernel.numpy(),
                                  reader.get_tensor("g_net/enc1_2/conv1/weights"))


def test_bad_inputs_fail_before_anything_is_written(tiny_root, tmp_path):
    workdir = tmp_path / "w"

    def fails(match, **overrides):
        before = sorted(os.listdir(workdir)) if workdir.exists() else None
        config = tiny_config(tiny_root, workdir, train_steps=1)
        with pytest.raises((train_lib.TrainingError, ValueError), match=match):
            train_lib.train_and_evaluate(train_lib.dataclasses.replace(config, **overrides))
        assert (sorted(os.listdir(workdir)) if workdir.exists() else None) == before

    fails("does not exist", data=str(tmp_path / "missing"))
    fails("neither a GoPro root", data=str(tmp_path))
    fails("has no 'validation' split", split="validation")
    fails("--distribute must be one of", distribute="tpu")
    with pytest.MonkeyPatch.context() as patch:      # BH-30: said before anything is written
        patch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"index": 0')
        fails("TF_CONFIG is not valid JSON", distribute="multi_worker")
    file = tmp_path / "file.txt"
    file.write_text("x")
    fails("cannot write the workdir", workdir=str(file / "sub"))
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"model_type": "lstm", "seed": 0}))
    fails("holds a run of a 'lstm' model")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single_device_run(tiny_root, tmp_path_factory):
    """Final weights of one device; and of one device fed other batches (data seed 1)."""
    runs = []
    for seed in (0, 1):   # in this process: train.py's train_and_evaluate, without its start-up
        workdir = str(tmp_path_factory.mktemp("single"))
        train_lib.train_and_evaluate(loop_config(tiny_root, workdir, 4, batch_size=4, seed=seed))
        runs.append(final_weights(workdir))
    return runs


def difference_stats(weights, reference):
    """(mean |difference|, share of values differing by more than 1e-6) over all weights."""
    diffs = np.concatenate([np.abs(a - b).ravel() for a, b in zip(weights, reference)])
    return diffs.mean(), (diffs > 1e-6).mean()


def assert_same_training(weights, runs):
    """Same batches and steps: only the order of float sums differs. Adam's m/√v can turn that
    into a full step's difference on a near-zero gradient, so the largest difference says little;
    require nearly all values to agree, and check that other batches would fail the same bound."""
    reference, other_batches = runs
    mean, share = difference_stats(weights, reference)
    assert mean < 1e-7 and share < 1e-3, (mean, share)
    other_mean, other_share = difference_stats(other_batches, reference)
    assert other_mean > 100 * 1e-7 and other_share > 0.5, (other_mean, other_share)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_takes_the_same_steps(tiny_root, tmp_path,
                                                             single_device_run):
    result = run_script("tests/run_training.py", "--logical_cpus=2", "--",
                        *flags(tiny_root, str(tmp_path / "m"), 4, batch_size=4,
                               distribute="mirrored"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_training(final_weights(tmp_path / "m"), single_device_run)
    odd = run_script("tests/run_training.py", "--logical_cpus=2", "--",
                     *flags(tiny_root, str(tmp_path / "odd"), 4, batch_size=3,
                            distribute="mirrored"))
    assert odd.returncode != 0 and "does not divide across 2 replicas" in odd.stderr
    assert not (tmp_path / "odd").exists()


@pytest.mark.slow
def test_mirrored_lstm_clipping_clips_the_whole_batch_gradient(tiny_root, tmp_path):
    """--clip_lstm_grad_norm with two replicas clips the norm of the global batch's ConvLSTM
    gradient, as one device does (it clipped each replica's share before the optimizer summed
    them: with this always-active clip, 3 steps then differ in most LSTM weights)."""
    strong = dict(batch_size=4, model_type="lstm", clip_lstm_grad_norm=1e-4)
    train_lib.train_and_evaluate(loop_config(tiny_root, tmp_path / "one", 3, **strong))
    two = run_script("tests/run_training.py", "--logical_cpus=2", "--",
                     *flags(tiny_root, str(tmp_path / "two"), 3, distribute="mirrored", **strong))
    assert two.returncode == 0, two.stderr[-3000:]
    mean, share = difference_stats(final_weights(tmp_path / "two"), final_weights(tmp_path / "one"))
    assert mean < 1e-7 and share < 1e-3, (mean, share)


@pytest.mark.slow
def test_multi_worker_strategy_on_two_processes_takes_the_same_steps(tiny_root, tmp_path,
                                                                     single_device_run):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "train.py"] + flags(tiny_root, str(tmp_path / "mw"), 4, batch_size=4,
                                                 distribute="multi_worker"),
            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True))
    outputs = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert_same_training(final_weights(tmp_path / "mw"), single_device_run)


CLUSTER = {"worker": ["localhost:12345", "localhost:12346"]}


@pytest.mark.parametrize("tf_config,what", [
    ('{"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, "task": {"type": "worker", '
     '"index": 0}', "is not valid JSON (Expecting ',' delimiter at character 102)"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 5}}),
     '"task" → "index" is 5: its "cluster" has 2 "worker" tasks, index 0 to 1'),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": "1"}}),
     '"task" → "index" is "1": its "cluster" has 2 "worker" tasks, index 0 to 1'),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "ps", "index": 0}}),
     '"task" → "type" is "ps", not a job of its "cluster" (worker)'),
    (json.dumps({"cluster": CLUSTER, "task": {"index": 0}}),
     'has no "task" object with a "type" and an "index"'),
    (json.dumps({"task": {"type": "worker", "index": 0}}),
     'has no "cluster" object naming its tasks'),
    (json.dumps({"cluster": {"worker": "localhost:12345"}, "task": {"type": "worker", "index": 0}}),
     '"cluster" → "worker" is "localhost:12345", not a list of "host:port" addresses'),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}),
     '"cluster" → "worker" is ["localhost"], not a list of "host:port" addresses'),
    (json.dumps({"cluster": {**CLUSTER, "ps": ["h:1"]}, "task": {"type": "worker", "index": 0}}),
     'has a "ps" job in its "cluster": multi_worker training runs "chief" and "worker" tasks only'),
    (json.dumps({"cluster": {"worker": ["h:1", "h:1"]}, "task": {"type": "worker", "index": 0}}),
     '"cluster" lists h:1 more than once'),
    ("[1, 2]", "is not a JSON object"),
])
def test_a_malformed_tf_config_is_one_line_naming_it(tf_config, what):
    """BH-30: was a 46-line traceback ending in json.decoder.JSONDecodeError, or TensorFlow's
    "The `task_id` 5 exceeds the maximum id of worker"."""
    with pytest.raises(train_lib.TrainingError) as raised:
        multi_worker.read_tf_config(tf_config)
    assert str(raised.value) == f"TF_CONFIG {what}; expected JSON such as {multi_worker.EXAMPLE}"
    assert "\n" not in str(raised.value)


def test_a_worker_that_never_comes_is_named_within_the_timeout(caplog):
    """BH-30: worker 0 waited silently and forever for worker 1; now it says what it waits for and
    gives up after --worker_timeout naming the missing worker and its address."""
    me, missing = free_port(), free_port()
    cluster = multi_worker.read_tf_config(json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{me}", f"127.0.0.1:{missing}"]},
        "task": {"type": "worker", "index": 0}}))
    caplog.set_level("INFO", logger=multi_worker.__name__)
    start = time.monotonic()
    with pytest.raises(train_lib.TrainingError) as raised:
        multi_worker.wait_for_cluster(cluster, timeout=1.0)
    assert time.monotonic() - start < 4.0
    assert str(raised.value) == (
        f"worker 1 at 127.0.0.1:{missing} did not come within 1 s (--worker_timeout=1; worker 1: "
        "connection refused): start it with its TF_CONFIG \"task\", correct the address in "
        "TF_CONFIG, or give a longer --worker_timeout")
    assert caplog.messages == [f"worker 0 (127.0.0.1:{me}): waiting for worker 1 at "
                               f"127.0.0.1:{missing}, at most 1 s (--worker_timeout)"]
    # a worker that is up (here: a listening socket) ends the wait at once; this task's own
    # port taken by another program is said as such
    with socket.create_server(("127.0.0.1", missing)):
        start = time.monotonic()
        multi_worker.wait_for_cluster(cluster, timeout=30.0)
        assert time.monotonic() - start < 2.0
    with socket.create_server(("", me)):
        with pytest.raises(train_lib.TrainingError, match=f"port {me} cannot be opened here"):
            multi_worker.wait_for_cluster(cluster, timeout=1.0)


@pytest.mark.slow
def test_a_waiting_worker_stops_on_sigterm_or_gives_up_in_one_line(tiny_root, tmp_path):
    """BH-30 through train.py: SIGTERM ends a worker waiting for another (it slept on, SIGTERM
    ignored, until kill -9), with one line and nothing written; --worker_timeout ends the wait
    with one line naming the missing worker."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}   # the command's
    runs = {}                                                                    # console alone
    for name, timeout in (("term", 120), ("timeout", 2)):
        ports = [free_port(), free_port()]
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": 0}})
        workdir = tmp_path / name
        runs[name] = (subprocess.Popen(
            [sys.executable, "train.py", *flags(tiny_root, str(workdir), 2,
                                                distribute="multi_worker",
                                                worker_timeout=timeout)],
            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True), ports, workdir)
    process, (me, missing), workdir = runs["term"]
    line = process.stderr.readline()          # the first line it says: what it waits for
    assert line == (f"worker 0 (127.0.0.1:{me}): waiting for worker 1 at 127.0.0.1:{missing}, "
                    "at most 2 min (--worker_timeout)\n"), line
    process.send_signal(signal.SIGTERM)
    start = time.monotonic()
    rest = process.communicate(timeout=60)[1]
    assert time.monotonic() - start < 20 and process.returncode == 130, rest
    assert rest == (f"interrupted: while worker 0 waited for worker 1 at 127.0.0.1:{missing}; "
                    "nothing was written\n")
    assert not workdir.exists()
    process, (me, missing), workdir = runs["timeout"]
    output = process.communicate(timeout=120)[1]
    assert process.returncode == 1, output
    assert output.splitlines() == [
        f"worker 0 (127.0.0.1:{me}): waiting for worker 1 at 127.0.0.1:{missing}, "
        "at most 2 s (--worker_timeout)",
        f"error: worker 1 at 127.0.0.1:{missing} did not come within 2 s (--worker_timeout=2; "
        "worker 1: connection refused): start it with its TF_CONFIG \"task\", correct the address "
        "in TF_CONFIG, or give a longer --worker_timeout"], output
    assert not workdir.exists()


@pytest.mark.slow
def test_sigterm_to_one_worker_stops_every_worker_after_the_same_step(tiny_root, tmp_path):
    """A scheduler's SIGTERM to one worker: both stop after the same step and say so (the other
    worker would wait for it in the next step's collective), and the chief's checkpoint is that
    step's."""
    ports = [free_port(), free_port()]
    workdir = tmp_path / "mw"
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
             "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "train.py"] + flags(tiny_root, str(workdir), 500, batch_size=4,
                                                 checkpoint_every=2, distribute="multi_worker"),
            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.time() + 300
        while not (workdir / "ckpt-2.index").exists():     # training is under way
            assert all(w.poll() is None for w in workers) and time.time() < deadline
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=120)[1] for w in workers]
    finally:
        for w in workers:       # a worker left waiting for the other in a collective
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers] == [1, 1], outputs[0][-2000:] + outputs[1][-2000:]
    steps = [int(re.search(r"at step (\d+); run the same command to resume", o).group(1))
             for o in outputs]
    assert steps[0] == steps[1] < 500, outputs
    assert "stopped by SIGTERM at step" in outputs[1]
    assert "stopped by another worker's stop at step" in outputs[0]
    assert tf.train.latest_checkpoint(str(workdir)).endswith(f"ckpt-{steps[0]}")


def test_a_stop_while_the_model_is_saved_leaves_no_half_written_file(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM during the final save: model.keras is the old whole file or absent,
    never a torn one that would pass for a finished run's model."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = str(tmp_path / "model.keras")
    train_lib.save_model_file(model, path)
    whole = open(path, "rb").read()
    assert keras.models.load_model(path).get_weights()[0].shape == (2, 1)

    def torn(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt
    monkeypatch.setattr(keras.Model, "save", torn)
    with pytest.raises(KeyboardInterrupt):
        train_lib.save_model_file(model, path)
    assert open(path, "rb").read() == whole and os.listdir(tmp_path) == ["model.keras"]
