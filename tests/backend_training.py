"""Runs srn-tf's training loop on one Keras backend, in its own process, for
tests/test_backends.py (which asserts on what this writes):

  python tests/backend_training.py --backend=jax DATA OUTPUT_DIR TENSORFLOW_WORKDIR

Three runs of `train_lib.train_and_evaluate` on DATA (a tiny GoPro tree), the release recipe in
float32, 4 steps of 2 × 32² crops, on the CNN baseline (the loop is the same for every model;
SRN's step is checked on its own by test_one_training_step_is_the_release_one, and JAX compiles
the small model in seconds): one uninterrupted (OUTPUT_DIR/straight), one stopped after 2
steps as SIGTERM would stop it and then resumed by the same call (OUTPUT_DIR/resumed). Writes
OUTPUT_DIR/results.json (each call's result, the checkpoint files) and the final weights of both
as OUTPUT_DIR/<run>/model.keras (the runs' own files), and what TrainingError says to
--distribute=mirrored, to --jit_compile (PyTorch) and to resuming TENSORFLOW_WORKDIR (a TensorFlow run's).
It asserts nothing itself.
"""

import json
import os
import sys

import srn_tf  # noqa: F401  (sets the backend from --backend)

STEPS = 4


def run_config(data_root, workdir):
    """The runs' TrainConfig (also TensorFlow's run in tests/test_backends.py)."""
    from srn_tf import train_lib
    return train_lib.TrainConfig(
        data=data_root, workdir=workdir, model_type="cnn", train_steps=STEPS, batch_size=2,
        crop_size=32, summary_every=1, eval_every=1000, eval_images=1, checkpoint_every=1000,
        export_saved_model=False)


def main(data_root, output, tensorflow_workdir):
    import keras
    from srn_tf import train_lib

    def config(workdir):
        return run_config(data_root, os.path.join(output, workdir))

    class StopAfterTwoSteps(train_lib._StopRequest):
        polls = 0

        @property
        def signal(self):
            StopAfterTwoSteps.polls += 1
            return "SIGTERM" if StopAfterTwoSteps.polls >= 2 else None

        @signal.setter
        def signal(self, value):
            pass

    results = {"backend": keras.backend.backend()}
    results["straight"] = train_lib.train_and_evaluate(config("straight"))
    plain = train_lib._StopRequest
    train_lib._StopRequest = StopAfterTwoSteps
    results["stopped"] = train_lib.train_and_evaluate(config("resumed"))
    results["checkpoints_when_stopped"] = sorted(os.listdir(os.path.join(output, "resumed")))
    train_lib._StopRequest = plain
    results["resumed"] = train_lib.train_and_evaluate(config("resumed"))
    results["refusals"] = {}
    refused = [("distribute", {"distribute": "mirrored"}),
               ("tensorflow_workdir", {"workdir": tensorflow_workdir})]
    if results["backend"] == "torch":     # (JAX's step is always compiled: no refusal there)
        refused.append(("jit_compile", {"jit_compile": True}))
    for name, change in refused:
        try:
            train_lib.train_and_evaluate(train_lib.dataclasses.replace(config("refused"),
                                                                       **change))
            results["refusals"][name] = None
        except train_lib.TrainingError as e:
            results["refusals"][name] = str(e)
    results["refused_workdir_written"] = os.path.exists(os.path.join(output, "refused"))
    with open(os.path.join(output, "results.json"), "w") as f:
        json.dump(results, f, default=str)


if __name__ == "__main__":
    main(*[a for a in sys.argv[1:] if not a.startswith("--")])
