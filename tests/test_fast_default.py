"""Fast by default on every CPU (issue 24): precision and runtime chosen from the CPU's ISA report,
simulated here with SRN_TF_CPUINFO (tests/cpuinfo/: a CPU with AVX2 only, this AMD EPYC with
AVX-512-BF16, and the same with AMX flags added, as Intel Xeons since Sapphire Rapids report)."""

import importlib.util
import os

import numpy as np
import pytest

from conftest import CPUINFO, near_identity_model
from srn_tf import hardware, runtimes
from srn_tf.model import build_srn, model_type_of
from test_inference import photo

OPENVINO = all(importlib.util.find_spec(p) for p in ("openvino", "tf2onnx"))


@pytest.fixture
def cpu(monkeypatch):
    """cpu("amx") makes srn-tf read tests/cpuinfo/amx.txt as this machine's ISA report."""
    def simulate(name):
        monkeypatch.setenv(hardware.CPUINFO_ENV, os.path.join(CPUINFO, f"{name}.txt"))
    return simulate


def test_a_cpu_without_native_bfloat16_runs_float32(cpu):
    cpu("avx2")
    assert not hardware.native_bfloat16()
    choice = runtimes.choose()
    assert (choice.runtime, choice.precision) == ("keras", "float32")
    assert str(choice) == ("network: float32 on keras (TensorFlow), the fastest accurate path for "
                           "this CPU (no avx512_bf16 or amx_bf16)")
    # bfloat16 on openvino where asked for (emulated there: slow, but it runs)
    assert runtimes.choose("openvino").precision == "float32"
    assert runtimes.choose(precision="bfloat16").runtime == "keras"


def test_avx512_bf16_runs_bfloat16_on_keras(cpu):
    cpu("avx512_bf16")
    choice = runtimes.choose()
    assert (choice.runtime, choice.precision) == ("keras", "bfloat16")
    assert str(choice) == (
        "network: bfloat16 on keras (TensorFlow), the fastest accurate path for this CPU "
        "(avx512_bf16, no amx_bf16); --precision=float32 --runtime=keras is the release's exact "
        "path")


def test_amx_runs_bfloat16_on_openvino_where_it_can(cpu, monkeypatch):
    cpu("amx")
    choice = runtimes.choose()
    assert choice.precision == "bfloat16"
    assert choice.runtime == ("openvino" if OPENVINO else "keras")
    # XLA and the carried ConvLSTM state (--temporal_state) run on keras only
    assert runtimes.choose(jit_compile=True).runtime == "keras"
    assert runtimes.choose(keras_only=True).runtime == "keras"
    assert runtimes.choose(precision="float32").runtime == "keras"
    assert runtimes.choose("onnxruntime").precision == "float32"   # float32 only there
    monkeypatch.setattr(runtimes, "_installed", lambda *packages: False)
    assert runtimes.choose().runtime == "keras"


def test_what_was_asked_is_kept_and_said(cpu):
    cpu("avx512_bf16")
    choice = runtimes.choose("keras", "float32")
    assert (choice.runtime, choice.precision) == ("keras", "float32")
    assert str(choice) == "network: float32 on keras (TensorFlow), as asked"
    assert str(runtimes.choose(precision="float32")).endswith(
        "--precision=float32 as asked, the runtime chosen for this CPU (avx512_bf16, no amx_bf16)")
    # srn-evaluate's float32 when the user gave no --precision: its default, not "as asked"
    assert str(runtimes.choose(precision="float32", defaults=("precision",))).endswith(
        "--precision=float32 (this command's default), the runtime chosen for this CPU "
        "(avx512_bf16, no amx_bf16)")
    assert str(runtimes.choose("keras", "float32", defaults=("precision",))).endswith(
        "network: float32 on keras (TensorFlow), --precision=float32 (this command's default), "
        "--runtime=keras as asked")
    with pytest.raises(ValueError, match="onnxruntime runs float32 only"):
        runtimes.choose("onnxruntime", "bfloat16")
    with pytest.raises(ValueError, match="--runtime=fast: choose one of"):
        runtimes.choose("fast")


def test_the_default_of_deblur_is_the_choice(cpu):
    """srn_tf.deblur's defaults run what `choose` says: bfloat16 on AVX-512-BF16, float32 on a
    CPU without it (the release's exact result), whatever the CPU really is."""
    from srn_tf import deblur
    model = build_srn("gray")
    image = np.random.default_rng(0).integers(0, 256, (40, 56), dtype=np.uint8)
    exact = deblur(model, image, precision="float32", runtime="keras")
    fast = deblur(model, image, precision="bfloat16", runtime="keras")
    assert not np.array_equal(exact, fast)       # the two paths differ on this input
    cpu("avx2")
    assert np.array_equal(deblur(model, image), exact)
    cpu("avx512_bf16")
    assert np.array_equal(deblur(model, image), fast)


def test_evaluation_keeps_float32_and_says_so(cpu, tmp_path):
    """srn-evaluate's figures are compared with the release's: float32 unless asked, and the
    table names each row's precision."""
    from srn_tf import evaluate_lib
    cpu("avx512_bf16")
    path = str(tmp_path / "gray.keras")
    build_srn("gray").save(path)
    assert evaluate_lib.load_restorer(path).precision == "float32"
    assert evaluate_lib.load_restorer(path, precision="auto").precision == "bfloat16"
    restorer = evaluate_lib.load_restorer(path, precision="float32", runtime="onnxruntime")
    assert restorer.precision == "float32 onnxruntime"
    summary = evaluate_lib.summarise([], [restorer], [])
    header, row = evaluate_lib.format_table(summary).splitlines()[:2]
    assert "precision" in header and row.split()[1:3] == ["float32", "onnxruntime"]


def mixed_twin(model):
    """`model`'s weights in a model built as srn-train builds its own for mixed_bfloat16."""
    import keras
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_srn(model_type_of(model))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(model.get_weights())
    return mixed


@pytest.mark.parametrize("options", [dict(precision="bfloat16", runtime="keras"),
                                     dict(precision="float32", runtime="onnxruntime")])
def test_a_model_changed_between_calls_runs_with_its_new_weights(options):
    """The bfloat16 twin and the ONNX conversion hold copies of the weights: after the model
    changes (a training step, set_weights) deblur gives what a new model with those weights
    gives, not the first weights' result (it did: the copies were made once per model)."""
    from srn_tf import deblur
    image = photo(48, 64)
    model, other = near_identity_model("color", seed=0), near_identity_model("color", seed=1)
    first = deblur(model, image, tile=0, **options)
    model.set_weights(other.get_weights())
    again = deblur(model, image, tile=0, **options)
    assert not np.array_equal(again, first)
    np.testing.assert_array_equal(again, deblur(other, image, tile=0, **options))


def test_a_model_under_a_mixed_policy_runs_in_float32_where_asked(cpu):
    """A model built for mixed_bfloat16 training (srn-train's, mid-run): float32 on Keras is the
    float32 model's result exactly, and the runtimes convert a float32 graph (OpenVINO refused
    the bfloat16 one: "Element types for data batch and filters do not match", which stopped
    srn-train's first validation on a Xeon with AMX)."""
    from srn_tf import deblur
    image = photo(48, 64)
    model = near_identity_model("color")
    mixed = mixed_twin(model)
    exact = deblur(model, image, tile=0, precision="float32", runtime="keras")
    np.testing.assert_array_equal(deblur(mixed, image, tile=0, precision="float32",
                                         runtime="keras"), exact)
    np.testing.assert_array_equal(deblur(mixed, image, tile=0, runtime="onnxruntime"),
                                  deblur(model, image, tile=0, runtime="onnxruntime"))
    if OPENVINO:
        cpu("amx")                  # the automatic choice there: OpenVINO in bfloat16
        from skimage.metrics import peak_signal_noise_ratio
        fast = deblur(mixed, image, tile=0)
        assert peak_signal_noise_ratio(exact, fast, data_range=255) > 35


def test_training_validation_is_float32_on_keras_on_any_cpu(cpu):
    """The figures that choose srn-train's kept step: float32 on Keras with the model's current
    weights, whatever the CPU (simulated AMX: OpenVINO would be the automatic choice) or the
    model's mixed policy."""
    from srn_tf import train_lib
    cpu("amx")
    examples = [(photo(48, 64), photo(48, 64)[::-1].copy()), (photo(32, 48), photo(32, 48))]
    model, other = near_identity_model("color", seed=0), near_identity_model("color", seed=1)
    mixed = mixed_twin(model)
    assert train_lib.evaluate_images(mixed, examples) == train_lib.evaluate_images(model, examples)
    mixed.set_weights(other.get_weights())         # a training step later
    assert train_lib.evaluate_images(mixed, examples) == train_lib.evaluate_images(other, examples)
