import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The suite runs as on a CPU without native bfloat16, whatever this one is: precision "auto" (the
# default of srn_tf.deblur and srn-deblur) is then float32, the release's exact path that the
# exactness tests compare with. tests/test_fast_default.py simulates the other CPUs.
CPUINFO = os.path.join(ROOT, "tests", "cpuinfo")
os.environ["SRN_TF_CPUINFO"] = os.path.join(CPUINFO, "avx2.txt")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tf1_reference  # noqa: E402

REAL_BLUR_DIR = os.path.join(ROOT, "..", "shared", "data", "real_blur")

# Input of the exactness checks: non-square, batch 2.
REFERENCE_SHAPE = (2, 96, 160)


@pytest.fixture(scope="session")
def tf1_checkpoints(tmp_path_factory):
    """{model_type: (folder, prefix, inputs, reference outputs)} from the graph-mode reference."""
    rng = np.random.default_rng(7)
    made = {}
    for model_type, channels in (("color", 3), ("gray", 1), ("lstm", 1)):
        folder = tmp_path_factory.mktemp(f"tf1_{model_type}")
        images = rng.random(REFERENCE_SHAPE + (channels,), dtype=np.float32)
        prefix, outputs = tf1_reference.write_checkpoint(str(folder), model_type, images)
        made[model_type] = (str(folder), prefix, images, outputs)
    return made


def run_script(*args, cwd=ROOT):
    """Runs `python <args>` in the repository; returns the CompletedProcess (text output)."""
    import subprocess
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="session")
def embedded_dir():
    """The embedded dataset, materialised in data/embedded (once; later runs reuse it)."""
    from srn_tf import embedded
    return embedded.ensure_materialised()


def near_identity_model(model_type="color", perturbation=0.3, seed=0):
    """A model whose output is its input plus a random multi-scale perturbation.

    Stands in for trained weights where a test needs image-like outputs: every kernel is its
    Glorot init × `perturbation`, plus identity taps that carry the blurry channels from enc1_1
    through the additive skips to dec1_0.
    """
    import keras
    from srn_tf import build_srn
    keras.utils.set_random_seed(seed)
    model = build_srn(model_type)
    for v in model.weights:
        if v.path.endswith("kernel"):
            v.assign(v.numpy() * perturbation)
    channels = model.input_shape[-1]
    for name in ("enc1_1", "dec1_0"):
        kernel = model.get_layer(name).kernel
        value = kernel.numpy()
        for c in range(channels):
            value[2, 2, c, c] += 1.0
        kernel.assign(value)
    return model


@pytest.fixture(scope="session")
def start(tmp_path_factory):
    """Training exactness: {model_type: (TF1 checkpoint prefix of the initial weights, batches,
    {name: weights})} for color and lstm (tests/test_train_exact.py, test_train_resync.py)."""
    import tensorflow as tf
    from test_train_exact import make_batches
    made = {}
    for model_type in ("color", "lstm"):
        batches = make_batches(model_type)
        folder = str(tmp_path_factory.mktemp(f"start_{model_type}"))
        prefix, _ = tf1_reference.write_checkpoint(folder, model_type, batches[0][0])
        reader = tf.train.load_checkpoint(prefix)
        initial = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
                   if n.startswith("g_net/") and "Adam" not in n}
        made[model_type] = (prefix, batches, initial)
    return made


@pytest.fixture(scope="session")
def release_states(start):
    """{(model_type, clip norm): tf1_reference.train(..., states=True)} for every exactness case,
    run once for both test files: (losses, final weights, the K + 1 training states)."""
    from test_train_exact import CASES, DECAY_STEPS
    return {(model_type, clip): tf1_reference.train(start[model_type][0], model_type,
                                                    start[model_type][1], DECAY_STEPS,
                                                    clip_lstm=clip, states=True)
            for model_type, clip in CASES}


@pytest.fixture
def video_identity(monkeypatch):
    """srn_tf.video's network → the identity (the video tests' stand-in for the network, so that
    they look at the video plumbing only; the temporal options still run); returns the list of
    frames it was given."""
    from srn_tf import video
    seen = []

    def restorer(model, temporal_state=False, **options):
        def restore(frames):
            seen.extend(frames)
            return frames
        return restore
    monkeypatch.setattr(video, "_network_restorer", restorer)
    return seen
