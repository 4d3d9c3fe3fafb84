import numpy as np
import pytest

from conftest import run_script
from srn_tf.image_io import read_image, write_png
from srn_tf.model import build_srn


@pytest.fixture(scope="module")
def keras_weights(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("weights") / "color.keras")
    build_srn("color").save(path)
    return path


@pytest.mark.slow
def test_folder_with_one_corrupt_file(keras_weights, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    write_png(str(inputs / "a.png"), rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write_png(str(inputs / "b.png"), rng.integers(0, 256, (17, 16), dtype=np.uint8))
    (inputs / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    result = run_script("deblur.py", f"--input={inputs}", f"--output={tmp_path / 'out'}",
                        f"--weights={keras_weights}")
    assert result.returncode != 0
    assert "c.png" in result.stderr and "skipped" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert read_image(str(tmp_path / "out" / "a.png")).shape == (20, 30, 3)
    assert read_image(str(tmp_path / "out" / "b.png")).shape == (17, 16, 1)


@pytest.mark.slow
def test_without_weights_it_explains_how_to_get_them(tmp_path):
    result = run_script("deblur.py", f"--input={tmp_path}", f"--output={tmp_path}/o")
    assert result.returncode != 0
    assert "checkpoints/lstm" in result.stderr and "train.py" in result.stderr


def test_refuses_to_overwrite_inputs(tmp_path):
    from srn_tf.deblur_lib import plan_outputs
    write_png(str(tmp_path / "x.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="refusing to overwrite"):
        plan_outputs(str(tmp_path), str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        plan_outputs(str(tmp_path / "missing.png"), str(tmp_path / "o"))


def test_16_bit_png_round_trip(tmp_path):
    image = np.random.default_rng(1).integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    write_png(str(tmp_path / "x.png"), image)
    back = read_image(str(tmp_path / "x.png"))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]   # no temporary left behind
