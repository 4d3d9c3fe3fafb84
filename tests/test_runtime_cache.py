"""The other runtimes' conversion is paid once per weights (issue 24): the ONNX model is cached
on disk, atomically, keyed by the weights' content."""

import os

import numpy as np
import pytest

from srn_tf import runtimes
from srn_tf.model import build_srn


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(runtimes.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture(scope="module")
def model():
    return build_srn("gray")


def test_converted_once_per_weights(cache, model):
    conversions = []

    def convert():
        conversions.append(None)
        return b"onnx bytes %d" % len(conversions)
    assert runtimes.cached_onnx(model, convert) == b"onnx bytes 1"
    assert runtimes.cached_onnx(model, convert) == b"onnx bytes 1"   # from the cache
    assert len(conversions) == 1 and len(os.listdir(cache)) == 1
    weights = model.get_weights()
    try:
        changed = [w.copy() for w in weights]
        changed[-1] += np.float32(1e-3)                # one bias of the output conv
        model.set_weights(changed)
        assert runtimes.cached_onnx(model, convert) == b"onnx bytes 2"   # other weights
    finally:
        model.set_weights(weights)
    assert len(conversions) == 2 and len(os.listdir(cache)) == 2
    assert runtimes.cached_onnx(model, convert) == b"onnx bytes 1"


def test_entries_of_another_graph_or_policy_are_not_read(cache, model):
    """NC: an entry an earlier srn-tf wrote from a mixed-policy model (key without the graph
    version: weights and versions alone) made every later deblur with the same weights fail in
    OpenVINO; a model under another dtype policy has its own entry too."""
    import keras
    from srn_tf import __version__
    old_key = runtimes.weights_key(model, __version__, runtimes._version("tensorflow"),
                                   runtimes._version("tf2onnx"), runtimes.ONNX_OPSET)
    os.makedirs(cache)
    (cache / f"{old_key}.onnx").write_bytes(b"a version 1 graph")
    assert runtimes.cached_onnx(model, lambda: b"float32 graph") == b"float32 graph"
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_srn("gray")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(model.get_weights())
    assert runtimes.cached_onnx(mixed, lambda: b"mixed graph") == b"mixed graph"
    assert runtimes.cached_onnx(model, lambda: b"converted again") == b"float32 graph"


def test_a_failed_write_leaves_no_partial_file(cache, model, monkeypatch):
    def fail(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(runtimes.os, "replace", fail)
    assert runtimes.cached_onnx(model, lambda: b"converted") == b"converted"
    assert os.listdir(cache) == []                     # neither the entry nor a temporary file


def test_an_unwritable_cache_only_costs_the_conversion(tmp_path, model, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(runtimes.CACHE_ENV, str(blocked))
    assert runtimes.cached_onnx(model, lambda: b"converted") == b"converted"


def test_least_recently_used_entries_go(tmp_path):
    for k in range(5):
        path = tmp_path / f"{k}.onnx"
        path.write_bytes(b"x")
        os.utime(path, (1000 + k, 1000 + k))
    runtimes._prune(str(tmp_path), 3)
    assert sorted(os.listdir(tmp_path)) == ["2.onnx", "3.onnx", "4.onnx"]


@pytest.mark.slow
def test_a_second_model_with_the_same_weights_skips_the_conversion(cache, model, monkeypatch):
    import srn_tf
    calls = []
    convert = runtimes.onnx_proto

    def counted(function):
        calls.append(None)
        return convert(function)
    monkeypatch.setattr(runtimes, "onnx_proto", counted)
    image = np.random.default_rng(0).integers(0, 256, (24, 40), dtype=np.uint8)
    first = srn_tf.deblur(model, image, runtime="onnxruntime")
    again = build_srn("gray")
    again.set_weights(model.get_weights())       # a new process would load the same weights
    second = srn_tf.deblur(again, image, runtime="onnxruntime")
    assert len(calls) == 1 and np.array_equal(first, second)
