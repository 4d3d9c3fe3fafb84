import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
