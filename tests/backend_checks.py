"""Runs srn-tf's checks on one Keras backend, in its own process (a backend is fixed per process),
for tests/test_backends.py, which writes the inputs and asserts on what this writes.

  python tests/backend_checks.py --backend=jax INPUT_DIR OUTPUT_DIR [--no_tensorflow]

INPUT_DIR holds `inputs.npz`, OUTPUT_DIR `spec.json` (see test_backends.backend_inputs and
run_backend). This computes, with
the code under test on this backend, and writes to OUTPUT_DIR `results.npz` (arrays) and
`results.json` (facts): the three levels of the release's weights for each model type, deblurred
images (whole; for color also tiled, uint16, grey, bfloat16; for lstm RGBA), the release's resize on many sizes, the loss,
the identity initialisation's levels (lstm), parameter counts, `get_config` round trips, whether
TensorFlow was imported, `.keras` files saved on this backend, what training says without
TensorFlow (the --no_tensorflow process), and one training step
(`srn_tf.train_step.BackendStep`) from each of the reference's training states in
`train_inputs.npz` (spec "train"). It asserts nothing itself:
expected values come from the test process (TensorFlow and the TF1 reference graph).

--no_tensorflow makes `import tensorflow` fail before anything runs, as on a machine without it.
"""

import json
import os
import sys
import time

if "--no_tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None        # `import tensorflow` raises ImportError

import numpy as np  # noqa: E402

import srn_tf  # noqa: E402  (sets the backend from --backend)
import keras  # noqa: E402


def _tensorflow_imported():
    return sys.modules.get("tensorflow") is not None     # (None: the --no_tensorflow block)


def main(input_dir, output_dir):
    from srn_tf import baselines, init, layers, losses
    from srn_tf.model import build_model
    results, facts = {}, {"backend": keras.backend.backend(),
                          "tensorflow_after_import": _tensorflow_imported(), "seconds": {}}
    clock = time.perf_counter()

    def timed(what):   # seconds each part took, for the test's report
        nonlocal clock
        facts["seconds"][what] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
    inputs = np.load(os.path.join(input_dir, "inputs.npz"))
    with open(os.path.join(output_dir, "spec.json")) as f:
        spec = json.load(f)

    models = {}
    for model_type in ("color", "gray", "lstm"):
        # The release's weights: a TF1 checkpoint where TensorFlow is here, else the .keras file
        # the convert command wrote from it.
        models[model_type] = srn_tf.load_model(
            spec["release"][model_type]["tf1" if spec["read_tf1"] else "keras"])
    facts["param_counts"] = {t: m.count_params() for t, m in models.items()}
    facts["param_counts"].update({t: build_model(t).count_params()
                                  for t in baselines.BASELINE_TYPES})
    timed("load and build")

    # The release's resize, on the sizes the test process chose.
    for k, size in enumerate(spec["resize_sizes"]):
        results[f"resize_{k}"] = keras.ops.convert_to_numpy(
            layers.resize_with_ops(inputs[f"resize_input_{k}"], size))

    # The loss on fixed outputs.
    outputs = [inputs[f"loss_output_{i}"] for i in range(3)]
    total, per_level = losses.multiscale_l2(inputs["loss_sharp"], outputs)
    results["loss"] = np.array([float(total)] + [float(v) for v in per_level])
    timed("resize and loss")

    # get_config → from_config for every custom layer.
    facts["configs_round_trip"] = {}
    for layer in (layers.ScaleResize(0.5, name="s"), layers.ResizeLike(name="r"),
                  layers.StopGradient(name="g"), layers.ResBlock(32, 5, name="b"),
                  layers.ConvLSTMCell(128, 3, 1.0, name="c")):
        config = layer.get_config()
        facts["configs_round_trip"][type(layer).__name__] = (
            type(layer).from_config(config).get_config() == config)

    photo = inputs["photo"]
    for model_type, model in models.items():
        for i, level in enumerate(model(inputs[f"levels_input_{model_type}"])):
            results[f"levels_{model_type}_{i}"] = keras.ops.convert_to_numpy(level)
        model.save(os.path.join(output_dir, f"{model_type}.keras"))
        timed(f"{model_type} levels")
        results[f"deblur_{model_type}"] = srn_tf.deblur(model, photo, tile=0)
        if model_type == "color":   # the options, once: tiles, uint16, grey, bfloat16
            results["tiled_color"] = srn_tf.deblur(model, photo, tile=(48, 64), overlap=16)
            results["deblur_uint16_color"] = srn_tf.deblur(model, photo.astype(np.uint16) * 257,
                                                           tile=0)
            results["deblur_grey_color"] = srn_tf.deblur(model, photo[:, :, 0], tile=0)
            results["deblur_bfloat16_color"] = srn_tf.deblur(model, photo, tile=0,
                                                             precision="bfloat16")
        if model_type == "lstm":    # RGB + alpha, the colour as three grey images
            results["deblur_rgba_lstm"] = srn_tf.deblur(model, inputs["photo_rgba"], tile=0)
        timed(f"{model_type} deblur")

    fresh = init.identity_init(srn_tf.build_srn("lstm"))   # the twinned ConvLSTM too
    for i, level in enumerate(fresh(inputs["identity_input"])):
        results[f"identity_{i}"] = keras.ops.convert_to_numpy(level)
    timed("identity init")

    if "train" in spec:
        train_steps(input_dir, spec["train"], results)
        timed("train steps")

    for name, path in spec.get("other_backends_keras", {}).items():   # saved on another backend
        model = srn_tf.load_model(path)
        results[f"other_{name}"] = keras.ops.convert_to_numpy(
            model(inputs[f"levels_input_{name.split('_')[-1]}"])[-1])

    if not spec["read_tf1"]:   # what training says where TensorFlow is missing
        from srn_tf import train_lib
        from srn_tf.errors import BackendError
        try:
            train_lib.train_and_evaluate(train_lib.TrainConfig(
                workdir=os.path.join(output_dir, "no_training")))
            facts["training_without_tensorflow"] = "trained"
        except BackendError as e:
            facts["training_without_tensorflow"] = str(e)
        facts["training_without_tensorflow_wrote"] = os.path.exists(
            os.path.join(output_dir, "no_training"))
    if not spec["read_tf1"]:   # what a TF1 checkpoint says where TensorFlow is missing
        try:
            srn_tf.load_model(spec["release"]["gray"]["tf1"])
            facts["tf1_without_tensorflow"] = "loaded"
        except ValueError as e:
            facts["tf1_without_tensorflow"] = str(e)
    facts["tensorflow_at_end"] = _tensorflow_imported()
    np.savez(os.path.join(output_dir, "results.npz"), **results)
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(facts, f)


def train_steps(input_dir, spec, results):
    """For each step k of spec["steps"]: the reference's state before step k (weights, Adam's m
    and v by TF1 name, in `train_inputs.npz` as "k|name", "k|name/Adam", "k|name/Adam_1") loaded
    into a model and train.py's optimizer (the release recipe, float32), ONE `BackendStep` on
    batch k ("k|blur", "k|sharp"); writes the per-level losses ("train_k_levels") and the weights,
    m and v after it under the same keys with a "train_" prefix."""
    from srn_tf import train_lib
    from srn_tf.convert import tf1_name_map
    from srn_tf.model import build_srn
    from srn_tf.train_step import BackendStep
    inputs = np.load(os.path.join(input_dir, "train_inputs.npz"))
    config = train_lib.TrainConfig(
        data="/data/GOPRO_Large", model_type=spec["model_type"],
        train_steps=spec["decay_steps"], clip_lstm_grad_norm=spec["clip"]).resolved()
    model = build_srn(spec["model_type"])
    optimizer = train_lib.make_optimizer(config, spec["decay_steps"])
    optimizer.build(model.trainable_variables)
    step = BackendStep(model, optimizer, config.clip_lstm_grad_norm)
    names = tf1_name_map(model)
    slots = {}
    for v in model.trainable_variables:
        index = optimizer._get_variable_index(v)
        slots[names[v.path]] = (v, optimizer._momentums[index], optimizer._velocities[index])
    for k in spec["steps"]:
        for name, variables in slots.items():
            for suffix, variable in zip(("", "/Adam", "/Adam_1"), variables):
                variable.assign(inputs[f"{k}|{name}{suffix}"])
        optimizer.iterations.assign(k)
        _, levels, _ = step(inputs[f"{k}|blur"], inputs[f"{k}|sharp"])
        results[f"train_{k}_levels"] = np.array(levels)
        for name, variables in slots.items():
            for suffix, variable in zip(("", "/Adam", "/Adam_1"), variables):
                results[f"train_{k}|{name}{suffix}"] = keras.ops.convert_to_numpy(variable)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*arguments)
