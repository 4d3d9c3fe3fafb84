"""The exact SRN on JAX and PyTorch: each backend's checks run in one subprocess
(tests/backend_checks.py, a Keras backend is fixed per process); this process (TensorFlow)
writes the inputs and holds the expected values: the TF1 reference graph's levels
(tests/tf1_reference.py), `tf.raw_ops.ResizeBilinear`, and srn-tf's own results on TensorFlow
where the claim is "as TensorFlow does".

The weights are `tests/stand_in.py`'s (image-like, non-zero biases, a ConvLSTM that matters),
written as a release checkpoint (`save_tf1_checkpoint`, the release's names and layouts). The
JAX process runs as on a machine without TensorFlow (`import tensorflow` fails): it loads the
`.keras` files made from those checkpoints (lstm's by the convert command). The PyTorch process
has TensorFlow and imports the release checkpoints itself; it also loads the `.keras` files the
JAX process saved.
"""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf1_reference
from conftest import ROOT, run_script
from stand_in import stand_in_weights
from srn_tf import build_srn, deblur, load_model
from srn_tf.baselines import PARAM_COUNTS as BASELINE_COUNTS
from srn_tf.convert import save_tf1_checkpoint
from srn_tf.model import PARAM_COUNTS
from test_train_exact import CLIP_NORM, DECAY_STEPS
from test_train_resync import BOUNDS as STEP_BOUNDS, step_figures

MODEL_TYPES = ("color", "gray", "lstm")
TOLERANCE = 1e-5            # levels against the TF1 graph; .keras files across backends
RESIZE_TOLERANCE = 1e-6     # the release's resize against TensorFlow's op
# Source and target sizes of the resize check: the network's (÷2, ÷4, ×2 and the ConvLSTM state's
# ÷4 of a level) on even and odd sizes, and arbitrary up- and downsizing.
RESIZE_SIZES = [((96, 160), (24, 40)), ((96, 160), (48, 80)), ((48, 80), (96, 160)),
                ((12, 20), (6, 10)), ((6, 10), (24, 40)), ((45, 81), (11, 20)),
                ((45, 81), (23, 41)), ((23, 41), (45, 81)), ((7, 5), (30, 2)), ((1, 1), (3, 4)),
                ((33, 17), (1, 1)), ((19, 37), (19, 37)), ((64, 48), (47, 95))]
LEVELS_SHAPE = (1, 48, 80)  # the parity input (and the identity init's: one set of shapes to
                            # compile on JAX)
# The deblurred photo: 18,432 values, too few to resolve the ≥ 99.99 % of uint8 values equal to
# TensorFlow's that the backends reach (benchmarks/gpu_backends.py measures it on 184,320 values,
# benchmarks/inference.py at 720p); here ≥ 99.9 % and never more than one grey level apart.
PHOTO_SHAPE = (64, 96)
EQUAL_SHARE = 0.999


def _photo():
    from test_inference import photo
    return photo(*PHOTO_SHAPE)


@pytest.fixture(scope="session")
def backend_inputs(tmp_path_factory):
    """The inputs of both backend processes: (folder, spec, arrays, TF1 reference levels)."""
    folder = tmp_path_factory.mktemp("backend_inputs")
    rng = np.random.default_rng(11)
    arrays, release, reference = {}, {}, {}
    for k, (source, _) in enumerate(RESIZE_SIZES):
        arrays[f"resize_input_{k}"] = rng.random((2,) + source + (3,), dtype=np.float32)
    arrays["loss_sharp"] = rng.random((2, 64, 96, 3), dtype=np.float32)
    for i, scale in enumerate((4, 2, 1)):
        arrays[f"loss_output_{i}"] = rng.random((2, 64 // scale, 96 // scale, 3), dtype=np.float32)
    arrays["photo"] = _photo()
    arrays["photo_rgba"] = np.concatenate(
        [_photo(), rng.integers(0, 256, PHOTO_SHAPE + (1,), dtype=np.uint8)], axis=2)
    arrays["identity_input"] = rng.random(LEVELS_SHAPE + (1,), dtype=np.float32)
    for seed, model_type in enumerate(MODEL_TYPES):
        model = stand_in_weights(build_srn(model_type), seed)
        tf1_folder = str(folder / f"tf1_{model_type}")
        prefix = save_tf1_checkpoint(model, os.path.join(tf1_folder, "deblur.model-1"))
        images = rng.random(LEVELS_SHAPE + (model.input_shape[-1],), dtype=np.float32)
        arrays[f"levels_input_{model_type}"] = images
        reference[model_type] = tf1_reference.levels(prefix, model_type, images)
        keras_file = str(folder / f"release_{model_type}.keras")
        if model_type == "lstm":     # written by the convert command, as a user would
            result = run_script("-m", "srn_tf.commands.convert", f"--tf1_checkpoint={tf1_folder}",
                                f"--output={keras_file}")
            assert result.returncode == 0, result.stderr
        else:
            load_model(tf1_folder).save(keras_file)
        release[model_type] = {"tf1": tf1_folder, "keras": keras_file}
    np.savez(folder / "inputs.npz", **arrays)
    spec = {"resize_sizes": [target for _, target in RESIZE_SIZES], "release": release}
    return folder, spec, arrays, reference


# One training step per backend from the release reference's state (test_train_resync.py's
# bounds): the lstm model with the ConvLSTM's clipping on (all of the step's parts), steps 0 and 1
# (Adam's first step, and one with its slots and bias correction under way).
TRAIN_CASE = dict(model_type="lstm", clip=CLIP_NORM, decay_steps=DECAY_STEPS, steps=[0, 1])


@pytest.fixture(scope="session")
def train_reference(start, release_states, backend_inputs):
    """The reference's `tf1_reference.train(..., states=True)` for TRAIN_CASE (conftest's
    release_states, shared with test_train_exact.py and test_train_resync.py: the states before
    steps 0 and 1 do not depend on how many steps follow); its states before each step of
    TRAIN_CASE written to the backend inputs' train_inputs.npz (for backend_checks.train_steps)."""
    _, batches, _ = start[TRAIN_CASE["model_type"]]
    reference = release_states[TRAIN_CASE["model_type"], TRAIN_CASE["clip"]]
    trace, arrays = reference[2], {}
    for k in TRAIN_CASE["steps"]:
        arrays[f"{k}|blur"], arrays[f"{k}|sharp"] = batches[k]
        arrays.update({f"{k}|{name}": value for name, value in trace[k].items()
                       if name.startswith("g_net/")})
    np.savez(backend_inputs[0] / "train_inputs.npz", **arrays)
    return reference


def user_environment():
    """The environment a user runs commands in: no KERAS_BACKEND or TF_CPP_MIN_LOG_LEVEL (srn-tf
    quiets TensorFlow itself; conftest.run_script sets the level, which lets TensorFlow's
    pre-logging lines through)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}


def run_command(*args):
    """Runs `python <args>` in the repository as a user would (`user_environment`)."""
    import subprocess
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=user_environment(),
                          capture_output=True, text=True, timeout=600)


def run_backend(backend, folder, spec, output, no_tensorflow):
    """Runs tests/backend_checks.py on `backend`; returns (arrays, facts) it wrote."""
    import subprocess
    (output / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, os.path.join(ROOT, "tests", "backend_checks.py"),
               f"--backend={backend}", str(folder), str(output)]
    if no_tensorflow:
        command.append("--no_tensorflow")
    env = user_environment()
    # One OpenMP thread for PyTorch: on a 2-core machine shared with other jobs its spinning
    # threads made the process 10x slower (results do not depend on it).
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(output / "results.json") as f:
        facts = json.load(f)
    facts["stderr"] = result.stderr
    print(f"{backend} process: seconds per part {facts['seconds']}")
    return dict(np.load(output / "results.npz")), facts


@pytest.fixture(scope="session")
def jax_results(backend_inputs, train_reference, tmp_path_factory):
    """JAX, as on a machine without TensorFlow: the release's weights from .keras files."""
    folder, spec, _, _ = backend_inputs
    output = tmp_path_factory.mktemp("jax_results")
    return run_backend("jax", folder, dict(spec, read_tf1=False, train=TRAIN_CASE), output,
                       True) + (output,)


@pytest.fixture(scope="session")
def torch_results(backend_inputs, jax_results, tmp_path_factory):
    """PyTorch with TensorFlow installed: the release's TF1 checkpoints read directly; the .keras
    files the JAX process saved loaded too."""
    folder, spec, _, _ = backend_inputs
    output = tmp_path_factory.mktemp("torch_results")
    saved_by_jax = {f"jax_{t}": str(jax_results[2] / f"{t}.keras") for t in ("color", "lstm")}
    return run_backend("torch", folder, dict(spec, read_tf1=True, train=TRAIN_CASE,
                                             other_backends_keras=saved_by_jax), output, False
                       ) + (output,)


@pytest.fixture(scope="session")
def tensorflow_deblurred(backend_inputs):
    """srn-tf's results on TensorFlow for the photo, per model type."""
    _, spec, arrays, _ = backend_inputs
    made = {}
    for model_type in MODEL_TYPES:
        model = load_model(spec["release"][model_type]["keras"])
        made[f"deblur_{model_type}"] = deblur(model, arrays["photo"], tile=0)
        if model_type == "color":
            made["tiled_color"] = deblur(model, arrays["photo"], tile=(48, 64), overlap=16)
            made["deblur_uint16_color"] = deblur(model, arrays["photo"].astype(np.uint16) * 257,
                                                 tile=0)
            made["deblur_grey_color"] = deblur(model, arrays["photo"][:, :, 0], tile=0)
        if model_type == "lstm":
            made["deblur_rgba_lstm"] = deblur(model, arrays["photo_rgba"], tile=0)
    return made


BACKENDS = ["jax", "torch"]
pytestmark = pytest.mark.slow     # each backend's process takes about a minute on 2 cores


@pytest.fixture(params=BACKENDS)
def results(request):
    return request.getfixturevalue(f"{request.param}_results")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_same_model_and_parameter_counts(results):
    arrays, facts, _ = results
    assert facts["param_counts"] == {**PARAM_COUNTS, **BASELINE_COUNTS}
    assert all(facts["configs_round_trip"].values()) and len(facts["configs_round_trip"]) == 5


def test_tensorflow_is_not_imported_by_the_model(results):
    _, facts, _ = results
    assert facts["tensorflow_after_import"] is False
    if facts["backend"] == "jax":   # .keras weights only: TensorFlow never needed
        assert facts["tensorflow_at_end"] is False
    assert "oneDNN" not in facts["stderr"] and "cuda" not in facts["stderr"].lower()


def test_release_resize_equals_tensorflows(results, backend_inputs):
    arrays, _, _ = results
    _, spec, inputs, _ = backend_inputs
    for k, size in enumerate(spec["resize_sizes"]):
        expected = tf.raw_ops.ResizeBilinear(images=inputs[f"resize_input_{k}"], size=size,
                                             align_corners=False, half_pixel_centers=False)
        assert arrays[f"resize_{k}"].shape == tuple(expected.shape), k
        assert np.abs(arrays[f"resize_{k}"] - expected.numpy()).max() <= RESIZE_TOLERANCE, k
    # half-pixel centres (TF 2's resize, PyTorch's interpolate) would be far off
    half = tf.image.resize(inputs["resize_input_0"], RESIZE_SIZES[0][1]).numpy()
    assert np.abs(arrays["resize_0"] - half).max() > 100 * RESIZE_TOLERANCE


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_release_weights_reproduce_the_tf1_graph(results, backend_inputs, model_type):
    arrays, _, _ = results
    for level, theirs in enumerate(backend_inputs[3][model_type]):
        ours = arrays[f"levels_{model_type}_{level}"]
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= TOLERANCE, f"level {level}"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_keras_file_saved_here_loads_on_tensorflow(results, backend_inputs, model_type):
    arrays, _, output = results
    model = keras.models.load_model(str(output / f"{model_type}.keras"))
    images = backend_inputs[2][f"levels_input_{model_type}"]
    for level, ours in enumerate(model(images)):
        assert np.abs(ours.numpy() - arrays[f"levels_{model_type}_{level}"]).max() <= TOLERANCE


def test_keras_file_saved_on_jax_loads_on_torch(torch_results):
    arrays, _, _ = torch_results
    for model_type in ("color", "lstm"):
        difference = arrays[f"other_jax_{model_type}"] - arrays[f"levels_{model_type}_2"]
        assert np.abs(difference).max() <= TOLERANCE


@pytest.mark.parametrize("name", ["deblur_color", "deblur_gray", "deblur_lstm", "tiled_color",
                                  "deblur_uint16_color", "deblur_grey_color",
                                  "deblur_rgba_lstm"])
def test_deblurred_as_on_tensorflow(results, tensorflow_deblurred, name):
    arrays, _, _ = results
    ours, theirs = arrays[name], tensorflow_deblurred[name]
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if ours.dtype == np.uint8:   # (16-bit steps are 257 times finer: float rounding flips more)
        assert (ours == theirs).mean() >= EQUAL_SHARE, (ours != theirs).sum()
    assert np.abs(ours.astype(int) - theirs).max() <= 1
    if name == "deblur_rgba_lstm":
        np.testing.assert_array_equal(ours[:, :, 3], theirs[:, :, 3])
    assert len(np.unique(ours)) > 10


def test_bfloat16_runs_close_to_float32(results, tensorflow_deblurred):
    arrays, _, _ = results
    difference = np.abs(arrays["deblur_bfloat16_color"].astype(int) -
                        tensorflow_deblurred["deblur_color"])
    assert difference.mean() < 1.0 and difference.max() <= 8 and difference.any()


def test_loss_is_the_release_loss(results, backend_inputs):
    arrays, _, _ = results
    inputs = backend_inputs[2]
    per_level = []
    for i in range(3):
        output = inputs[f"loss_output_{i}"]
        target = tf.raw_ops.ResizeBilinear(images=inputs["loss_sharp"], size=output.shape[1:3],
                                           align_corners=False, half_pixel_centers=False).numpy()
        per_level.append(np.mean((target.astype(np.float64) - output) ** 2))
    np.testing.assert_allclose(arrays["loss"], [sum(per_level)] + per_level, rtol=1e-5)


def test_identity_init_returns_its_input(results, backend_inputs):
    arrays, _, _ = results
    images = backend_inputs[2]["identity_input"]
    for level, scale in enumerate((0.25, 0.5, 1.0)):
        size = [round(images.shape[1] * scale), round(images.shape[2] * scale)]
        expected = tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False,
                                             half_pixel_centers=False).numpy()
        assert np.abs(arrays[f"identity_{level}"] - expected).max() <= 1e-6


def test_one_training_step_is_the_release_one(results, train_reference):
    """`BackendStep` (JAX: jax.value_and_grad, PyTorch: autograd; the loss, clipping and Adam in
    Keras) from the reference's state k, against its state k + 1: within the bounds
    test_train_resync.py proves for the TensorFlow step (JAX without TensorFlow installed)."""
    arrays, facts, _ = results
    ref_losses, _, trace = train_reference
    figures = []
    for k in TRAIN_CASE["steps"]:
        ours = {name: tuple(arrays[f"train_{k}|{name}{suffix}"]
                            for suffix in ("", "/Adam", "/Adam_1"))
                for name in trace[k] if name.startswith("g_net/") and "Adam" not in name}
        figures.append(step_figures(k, trace[k], trace[k + 1], ours, arrays[f"train_{k}_levels"],
                                    ref_losses[k], TRAIN_CASE["decay_steps"]))
    print(facts["backend"], figures)
    assert all(f[key] <= bound for f in figures for key, bound in STEP_BOUNDS.items()), figures
    assert all(f["own_move"] > 0.5 for f in figures), figures     # each step does move weights


def summaries(workdir, tag):
    """{step: value} of a run's TensorBoard summaries `tag`: "blur" → [PNG bytes] of the batch's
    first three blurry crops, "loss/total" → the step's loss."""
    found = {}
    for name in sorted((workdir / "train").iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(name)):
            for value in event.summary.value:
                if value.tag == tag:
                    array = tf.make_ndarray(value.tensor)
                    found[event.step] = list(array[2:]) if tag == "blur" else float(array)
    return found


@pytest.fixture(scope="module")
def tensorflow_run(tmp_path_factory):
    """(GoPro tree, TensorFlow's run of tests/backend_training.py's config, uninterrupted)."""
    from test_data import make_gopro_tree
    from srn_tf import train_lib
    import backend_training
    root = tmp_path_factory.mktemp("gopro")
    make_gopro_tree(root, split="train", size=(48, 64))
    make_gopro_tree(root, split="test", size=(32, 48), frames=1, seed=1)
    workdir = tmp_path_factory.mktemp("tensorflow_run")
    result = train_lib.train_and_evaluate(backend_training.run_config(str(root), str(workdir)))
    assert result["step"] == backend_training.STEPS
    return root, workdir


def test_training_resumes_as_an_uninterrupted_run(backend, tensorflow_run, tmp_path):
    """train.py's loop on JAX and PyTorch (tests/backend_training.py, one process): the same
    batches as TensorFlow's loop for the same seed (the summaries' crops), and a run stopped after
    2 of 4 steps and resumed takes the steps of an uninterrupted one: the same per-step losses
    and the same final weights, bit for bit."""
    import subprocess
    root, tensorflow_workdir = tensorflow_run
    env = user_environment()
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "backend_training.py"),
                             f"--backend={backend}", str(root), str(tmp_path),
                             str(tensorflow_workdir)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads((tmp_path / "results.json").read_text())
    assert facts["backend"] == backend
    assert facts["stopped"]["stopped_by"] == "SIGTERM" and facts["stopped"]["step"] == 2
    assert "ckpt-2.npz" in facts["checkpoints_when_stopped"]
    assert facts["resumed"]["step"] == 4 and not facts["resumed"]["stopped_by"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    crops = summaries(straight, "blur")
    assert len(crops) == 4 and crops == summaries(resumed, "blur") == summaries(
        tensorflow_workdir, "blur")
    losses = summaries(straight, "loss/total")
    assert len(losses) == 4 and losses == summaries(resumed, "loss/total")
    for a, b in zip(load_model(str(straight / "model.keras")).get_weights(),
                    load_model(str(resumed / "model.keras")).get_weights()):
        np.testing.assert_array_equal(a, b)
    # what only TensorFlow's loop has: one message each, before anything is written
    refusals = facts["refusals"]
    assert refusals["distribute"].startswith("--distribute=mirrored is tf.distribute: it needs "
                                             "--backend=tensorflow")
    if backend == "torch":
        assert refusals["jit_compile"].startswith("--jit_compile compiles the TensorFlow step")
    assert refusals["tensorflow_workdir"].endswith(
        "holds a run trained with --backend=tensorflow, whose checkpoints this backend does not "
        "read; resume it with --backend=tensorflow, or choose another --workdir")
    assert not facts["refused_workdir_written"]


def test_tf1_checkpoint_without_tensorflow_says_so(jax_results):
    _, facts, _ = jax_results
    message = facts["tf1_without_tensorflow"]
    assert "needs TensorFlow" in message and "srn-convert" in message
    assert "\n" not in message


def test_training_without_tensorflow_says_so(jax_results):
    """train.py's loop reads its data with tf.data: where TensorFlow is missing, one sentence
    before anything is written (benchmarks/gpu_training.py is the way to train there)."""
    _, facts, _ = jax_results
    message = facts["training_without_tensorflow"]
    assert message.startswith("--backend=jax training (its data pipeline is tf.data; the CPU "
                              "package, tensorflow-cpu, is enough) needs TensorFlow")
    assert "\n" not in message and not facts["training_without_tensorflow_wrote"]


def test_deblur_command_on_jax(tmp_path, backend_inputs, tensorflow_deblurred):
    """deblur.py --backend=jax: the result PNG as srn_tf.deblur's on TensorFlow, and nothing on
    stderr (no TensorFlow or JAX start-up lines)."""
    from srn_tf.image_io import read_image, write_png
    _, spec, arrays, _ = backend_inputs
    source, target = tmp_path / "photo.png", tmp_path / "sharp.png"
    write_png(str(source), arrays["photo"])
    result = run_command("deblur.py", "--backend=jax", f"--input={source}",
                         f"--output={target}", f"--weights={spec['release']['color']['keras']}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [   # the path it chose (this suite's CPU report: AVX2)
        "network: float32 on keras (JAX), the fastest accurate path for this CPU (no avx512_bf16 "
        "or amx_bf16)", f"wrote {target}"]
    assert not any(line for line in result.stderr.splitlines()   # only the progress bar
                   if not line.startswith("deblurring")), result.stderr
    ours = read_image(str(target))
    assert (ours == tensorflow_deblurred["deblur_color"]).mean() >= EQUAL_SHARE


def test_tensorflow_only_features_say_so_in_one_line(tmp_path, backend_inputs):
    spec = backend_inputs[1]
    result = run_command("-m", "srn_tf.commands.export", "--backend=torch",
                        f"--weights={spec['release']['color']['keras']}",
                        f"--output={tmp_path / 'exported'}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("error: exporting (SavedModel, LiteRT, ONNX) needs Keras's "
                             "TensorFlow backend, not torch: run it with --backend=tensorflow\n")
    assert not (tmp_path / "exported").exists()
