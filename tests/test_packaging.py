"""The project installs as a package (issue 11, kind 6: NC 14)."""

import os
import subprocess
import sys
import tomllib

from conftest import ROOT
from srn_tf.model import build_srn


def test_pyproject_and_requirements_agree():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["project"]["name"] == "srn-tf"
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "srn_tf.__version__"}
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert lines[-1] == "-e ."      # the README's `pip install -r requirements.txt` installs it


def test_import_from_any_folder_registers_the_layers(tmp_path):
    """`import srn_tf` from a folder outside the checkout, no PYTHONPATH (the package must be
    installed: `python -m pip install -r requirements.txt`, as the README says); after it,
    keras.models.load_model finds srn-tf's layers without srn_tf.load_model."""
    build_srn("lstm").save(str(tmp_path / "model.keras"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    code = ("import srn_tf, keras; m = keras.models.load_model('model.keras'); "
            "print(type(m.get_layer('convLSTM')).__name__, srn_tf.__file__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, ("srn_tf is not importable outside the checkout: install it "
                                    "with `python -m pip install -e .`\n" + result.stderr[-2000:])
    name, path = result.stdout.split()
    assert name == "ConvLSTMCell" and path == os.path.join(ROOT, "srn_tf", "__init__.py")
    # TensorFlow's start-up lines are not shown by `import srn_tf` either
    assert "I0000" not in result.stderr and "cuInit" not in result.stderr, result.stderr
