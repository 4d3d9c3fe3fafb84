import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_script
from srn_tf.convert import (CheckpointError, detect_model_type, load_model, load_tf1_checkpoint,
                            save_tf1_checkpoint, tf1_name_map)
from srn_tf.model import build_srn

TOLERANCE = 1e-5


@pytest.mark.parametrize("model_type", ["color", "gray", "lstm"])
def test_imported_checkpoint_reproduces_the_tf1_graph(tf1_checkpoints, model_type):
    folder, _, images, reference = tf1_checkpoints[model_type]
    model = build_srn(model_type)
    load_tf1_checkpoint(model, folder)
    outputs = model(images)
    for level, (ours, theirs) in enumerate(zip(outputs, reference)):
        assert ours.shape == theirs.shape
        assert np.abs(ours.numpy() - theirs).max() <= TOLERANCE, f"level {level}"
        assert np.abs(theirs).mean() > 0.05   # not a trivially small output


def test_written_tf1_checkpoint_holds_the_release_graphs_variables(tf1_checkpoints, tmp_path):
    """Keras → release format: every variable the release's graph saved (tests/tf1_reference.py's
    Saver), same name, shape and value; and it loads back (type detected) to the same outputs."""
    folder, prefix, images, reference = tf1_checkpoints["lstm"]
    written = save_tf1_checkpoint(load_model(folder), str(tmp_path / "deblur.model-7"))
    original, ours = tf.train.load_checkpoint(prefix), tf.train.load_checkpoint(written)
    trainable = [name for name in original.get_variable_to_shape_map()
                 if name.startswith("g_net/") and not name.endswith(("Adam", "Adam_1"))]
    assert sorted(ours.get_variable_to_shape_map()) == sorted(trainable)
    for name in trainable:
        np.testing.assert_array_equal(ours.get_tensor(name), original.get_tensor(name))
    again = load_model(str(tmp_path))                      # the state file points to it
    assert detect_model_type(str(tmp_path)) == "lstm"
    assert np.abs(again(images)[-1].numpy() - reference[-1]).max() <= TOLERANCE


def test_the_convlstm_matters_in_the_exactness_check(tf1_checkpoints):
    """Removing the ConvLSTM's contribution breaks the match by far more than the tolerance."""
    folder, _, images, reference = tf1_checkpoints["lstm"]
    model = build_srn("lstm")
    load_tf1_checkpoint(model, folder)
    kernel = model.get_layer("convLSTM").conv.kernel
    kernel.assign(tf.zeros_like(kernel))
    assert np.abs(model(images)[-1].numpy() - reference[-1]).max() > 100 * TOLERANCE


def test_prefix_and_folder_both_load(tf1_checkpoints):
    folder, prefix, images, _ = tf1_checkpoints["gray"]
    assert prefix.endswith("deblur.model-523000")
    a, b = build_srn("gray"), build_srn("gray")
    load_tf1_checkpoint(a, folder)
    load_tf1_checkpoint(b, prefix)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_every_variable_is_mapped_and_training_state_ignored(tf1_checkpoints):
    folder, prefix, _, _ = tf1_checkpoints["lstm"]
    names = set(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
    assert {"beta1_power", "beta2_power", "global_step", "g_net/enc1_1/weights/Adam"} <= names
    mapped = tf1_name_map(build_srn("lstm"))
    assert mapped["convLSTM/LSTM_conv/kernel"] == "g_net/convLSTM/LSTM_conv/weights"
    assert mapped["enc1_2/conv1/bias"] == "g_net/enc1_2/conv1/biases"
    model_names = {n for n in names if "Adam" not in n and n.startswith("g_net/")}
    assert set(mapped.values()) == model_names


@pytest.mark.parametrize("model_type", ["color", "gray", "lstm"])
def test_detect_model_type(tf1_checkpoints, model_type):
    folder, prefix, _, _ = tf1_checkpoints[model_type]
    assert detect_model_type(folder) == detect_model_type(prefix) == model_type


def test_gray_checkpoint_into_color_model_names_the_right_type(tf1_checkpoints):
    model = build_srn("color")
    before = model.get_layer("enc1_2").conv1.kernel.numpy()
    with pytest.raises(CheckpointError) as e:
        load_tf1_checkpoint(model, tf1_checkpoints["gray"][0])
    message = str(e.value)
    assert "'color' model" in message and "looks like a 'gray' checkpoint" in message
    assert "g_net/enc1_1/weights: shape [5, 5, 2, 32], expected [5, 5, 6, 32]" in message
    np.testing.assert_array_equal(model.get_layer("enc1_2").conv1.kernel.numpy(), before)


def test_gray_checkpoint_into_lstm_model_lists_the_missing_convlstm(tf1_checkpoints):
    with pytest.raises(CheckpointError, match=r"convLSTM/LSTM_conv/weights: missing.*"):
        load_tf1_checkpoint(build_srn("lstm"), tf1_checkpoints["gray"][0])


def test_checkpoint_of_another_network(tmp_path):
    tf.train.Checkpoint(w=tf.Variable(tf.zeros([3, 3]))).write(str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="not an SRN-DeblurNet checkpoint"):
        detect_model_type(str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="does not look like any SRN-DeblurNet checkpoint"):
        load_tf1_checkpoint(build_srn("color"), str(tmp_path / "other"))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        detect_model_type(str(tmp_path / "deblur.model-523000"))
    with pytest.raises(CheckpointError, match="is an empty folder: no weights there yet"):
        load_tf1_checkpoint(build_srn("color"), str(tmp_path))
    (tmp_path / "notes.txt").write_text("no checkpoint here")
    with pytest.raises(CheckpointError, match="holds no TF checkpoint state file"):
        load_tf1_checkpoint(build_srn("color"), str(tmp_path))


def test_truncated_data_file(tf1_checkpoints, tmp_path):
    folder = tmp_path / "truncated"
    shutil.copytree(tf1_checkpoints["color"][0], folder)
    data = next(p for p in folder.iterdir() if ".data-" in p.name)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    model = build_srn("color")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_tf1_checkpoint(model, str(folder))
    assert not np.any(model.get_layer("dec1_0").bias.numpy())   # left unchanged


def test_load_model_refuses_unknown_paths(tmp_path):
    # NC 1: the README's --weights=checkpoints/lstm before any weights were downloaded.
    # The hint is the checkout's checkpoints/README.md as an absolute path: right from any folder.
    guide = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "checkpoints", "README.md")
    with pytest.raises(CheckpointError, match=r"nothing does not exist: no weights there yet\. "
                       r"SRN needs trained weights: a copy of the 2018 release's models, unpacked as "
                       + re.escape(guide) + " explains"):
        load_model(str(tmp_path / "nothing"))
    assert os.path.isfile(guide)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="empty is an empty folder: .*checkpoints/README.md"):
        load_model(str(tmp_path / "empty"))
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(CheckpointError, match="expected a .keras file"):
        load_model(str(tmp_path / "notes.txt"))
    with pytest.raises(CheckpointError, match="no such .keras file"):
        load_model(str(tmp_path / "missing.keras"))


@pytest.mark.slow
def test_convert_command_writes_an_equivalent_keras_file(tf1_checkpoints, tmp_path):
    folder, _, images, reference = tf1_checkpoints["lstm"]
    output = str(tmp_path / "lstm.keras")
    result = run_script("-m", "srn_tf.commands.convert", f"--tf1_checkpoint={folder}", f"--output={output}")
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}: a 'lstm' model (type detected)" in result.stdout
    # NC 13: the per-variable mapping only with --verbose; no runpy "found in sys.modules" warning.
    assert "<- g_net/" not in result.stderr and "sys.modules" not in result.stderr
    loaded = load_model(output)
    assert np.abs(loaded(images)[-1].numpy() - reference[-1]).max() <= TOLERANCE
