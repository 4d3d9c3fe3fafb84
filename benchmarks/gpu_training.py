"""Training SRN on a GPU with JAX or PyTorch (no TensorFlow there): steps per second of the
release recipe, then a resumable training run on the project's own photos.

  python benchmarks/gpu_training.py --backend=jax --out=$OUT --minutes=8        # the GPU machine
  python benchmarks/gpu_training.py --backend=jax --out=$OUT --resume=.gpu_run  # the next call
  python benchmarks/gpu_training.py --backend=torch --smoke --out=/tmp/smoke    # tiny, any CPU

1. Speed: the release's training step (`srn_tf.train_step.BackendStep`: multi-scale L2 on
   legacy-resized targets, stop-gradient between scales, Adam with the release's β/ε and
   polynomial decay) on the color model, batch --batch_size (16) × --speed_crop² (256²), Xavier
   init, in float32 and in mixed_bfloat16, on random batches (the time does not depend on the
   content): steps/s and examples/s over --speed_steps steps after two warm-up steps (the first
   compiles on JAX), each step synchronised by its loss coming back to numpy. "float32" is each
   framework's default arithmetic for float32 convolutions (TF32 on Ampere and Hopper GPUs in
   JAX and PyTorch, as in TensorFlow), not the `highest` precision of the parity checks.
2. Training: the color model from identity initialisation (`--init=identity`: step 0 is the
   input), mixed_bfloat16, batch --batch_size of --crop² crops (128²), Adam on the release's decay
   from --learning_rate (2e-4, the CPU recipes') to 0 over --train_steps; pairs: random crops of
   the embedded dataset's training pairs (`blur`, six photos, six blurs each), drawn by a numpy
   generator seeded with (--seed, step), so a resumed run sees the batches an uninterrupted one
   would. (Not train.py's tf.data pipeline, which needs TensorFlow; the synthetic pairs are
   TensorFlow ops too, so they are not in this run.) Every --validate_every steps the model is
   validated on the embedded `val` photos and kept by `train_lib.validation_verdict` (PSNR and
   SSIM both at least the input's, then the highest PSNR), as train.py keeps it. The call stops
   after --minutes of training and reports, as the CPU recipes are: held-out PSNR and SSIM of the
   kept model and of the last step on the embedded test photos against the input's, the kept
   step, the time.

Resuming across calls: each call writes under --out the run's state (weights, Adam's slots and
step, the kept weights, the validation history), split into `state.partN` files of at most 15.5 MiB (7 for the color model)
(a device call gives back at most 8 files of 16 MiB), and `report.json`; give those files' folder
to the next call as --resume (copied into the checkout, e.g. `.gpu_run/`, and carried there).

Needs the embedded dataset in data/embedded (git-ignored, 45 MiB; made by any srn-train run or
`srn-data --make=embedded` on a machine with TensorFlow; carry it: the device tool's
carry=["data/embedded"]). Keras and the project must be importable as for
benchmarks/gpu_backends.py. Prints the device and every figure; timings are the machine's only.
"""

import argparse
import io
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

PART_BYTES = 31 * 2 ** 19       # 15.5 MiB a state part: the device tool gives back 8 files of 16 MiB


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "torch"), required=True)
    parser.add_argument("--out", default=os.environ.get("OUT"), help="where to write (default $OUT)")
    parser.add_argument("--resume", help="a folder of an earlier call's state.part* files")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--speed_crop", type=int, default=256)
    parser.add_argument("--speed_steps", type=int, default=20)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--train_steps", type=int, default=None,
                        help="the schedule's length (default 20,000; --smoke: 4)")
    parser.add_argument("--validate_every", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=8.0, help="training time of this call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.out:
        parser.error("give --out (or set $OUT)")
    if args.smoke:
        args.batch_size, args.speed_crop, args.speed_steps, args.crop = 2, 32, 2, 32
        args.validate_every = 2
    args.train_steps = args.train_steps or (4 if args.smoke else 20000)
    return args


def device_name(backend):
    if backend == "jax":
        import jax
        device = jax.devices()[0]
        return f"{device.platform}: {getattr(device, 'device_kind', device)}"
    import torch
    return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"


def build(model_type, init, config, policy):
    import keras
    from srn_tf import train_lib
    from srn_tf.init import apply_init
    from srn_tf.model import build_model
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(config.seed)
    model = build_model(model_type)
    apply_init(model, init)
    optimizer = train_lib.make_optimizer(config, config.train_steps)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def speed(args):
    """{precision: {steps_per_s, examples_per_s}} of the release's step at batch × speed_crop²."""
    import numpy as np
    from srn_tf import train_lib
    from srn_tf.train_step import BackendStep
    config = train_lib.TrainConfig(data="/data/GOPRO_Large", train_steps=10 ** 6).resolved()
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.speed_crop, args.speed_crop, 3)
    blur, sharp = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    figures = {}
    for policy in ("float32", "mixed_bfloat16"):
        model, optimizer = build("color", "xavier", config, policy)
        step = BackendStep(model, optimizer)
        for _ in range(2):
            step(blur, sharp)
        start = time.perf_counter()
        for _ in range(args.speed_steps):
            loss = float(step(blur, sharp)[0])
        seconds = time.perf_counter() - start
        figures[policy] = {"steps_per_s": args.speed_steps / seconds,
                           "examples_per_s": args.speed_steps * args.batch_size / seconds,
                           "final_loss": loss}
        print(f"speed {policy}: {figures[policy]['steps_per_s']:.2f} steps/s, "
              f"{figures[policy]['examples_per_s']:.1f} examples/s "
              f"(batch {args.batch_size} × {args.speed_crop}², {args.speed_steps} steps)",
              flush=True)
    return figures


def load_pairs(split):
    """[(blur, sharp) uint8 H×W×3] of the embedded dataset's `split` ('blur' images)."""
    from srn_tf import embedded, sources
    from srn_tf.image_io import read_image
    folder = embedded.default_dir()
    if not os.path.isdir(os.path.join(folder, split)):
        sys.exit(f"{folder}/{split} is missing: make the embedded dataset where TensorFlow is "
                 "(srn-data --make=embedded) and carry data/embedded")
    return [(read_image(p.blur)[:, :, :3], read_image(p.sharp)[:, :, :3])
            for p in sources.gopro_pairs(folder, split, "blur")]


def batch(pairs, step, size, crop, seed):
    """The batch of `step`: a function of (seed, step) alone. float32 [size, crop, crop, 3] × 2."""
    import numpy as np
    rng = np.random.default_rng([seed, step])
    blurs, sharps = [], []
    for index in rng.integers(len(pairs), size=size):
        blur, sharp = pairs[index]
        top = rng.integers(blur.shape[0] - crop + 1)
        left = rng.integers(blur.shape[1] - crop + 1)
        blurs.append(blur[top:top + crop, left:left + crop])
        sharps.append(sharp[top:top + crop, left:left + crop])
    return (np.stack(blurs).astype(np.float32) / 255, np.stack(sharps).astype(np.float32) / 255)


def write_state(out, arrays, record):
    """arrays (name → numpy) and record (JSON) as `state.partN` files of ≤ PART_BYTES."""
    import numpy as np
    buffer = io.BytesIO()
    np.savez(buffer, record=np.frombuffer(json.dumps(record).encode(), np.uint8), **arrays)
    data = buffer.getvalue()
    for name in os.listdir(out):
        if name.startswith("state.part"):
            os.remove(os.path.join(out, name))
    for k in range(0, len(data), PART_BYTES):
        with open(os.path.join(out, f"state.part{k // PART_BYTES}"), "wb") as f:
            f.write(data[k:k + PART_BYTES])


def read_state(folder):
    import numpy as np
    parts = sorted((n for n in os.listdir(folder) if n.startswith("state.part")),
                   key=lambda n: int(n[len("state.part"):]))
    if not parts:
        sys.exit(f"--resume={folder} holds no state.part files")
    data = b"".join(open(os.path.join(folder, n), "rb").read() for n in parts)
    with np.load(io.BytesIO(data)) as saved:
        arrays = {k: saved[k] for k in saved.files}
    return arrays, json.loads(arrays.pop("record").tobytes())


def train(args, report):
    import keras
    from keras import ops
    from srn_tf import train_lib
    from srn_tf.model import rebuild
    from srn_tf.train_step import BackendStep
    config = train_lib.TrainConfig(
        data="embedded", learning_rate=args.learning_rate, train_steps=args.train_steps,
        batch_size=args.batch_size, crop_size=args.crop, seed=args.seed).resolved()
    model, optimizer = build("color", "identity", config, "mixed_bfloat16")
    variables = list(model.weights) + list(optimizer.variables)
    record = {"best": None, "history": [], "seconds": 0.0, "calls": 0}
    best_weights = None
    if args.resume:
        arrays, record = read_state(args.resume)
        for i, v in enumerate(variables):
            v.assign(arrays[f"state_{i}"])
        best_weights = [arrays[f"best_{i}"] for i in range(len(model.weights))]
    step_fn = BackendStep(model, optimizer)
    train_pairs, val_pairs, test_pairs = (load_pairs(s) for s in ("train", "val", "test"))
    if args.smoke:
        val_pairs, test_pairs = val_pairs[:1], test_pairs[:1]
    step = int(ops.convert_to_numpy(optimizer.iterations))

    def validate():
        nonlocal best_weights
        figures = train_lib.evaluate_images(model, val_pairs)
        keep, reason = train_lib.validation_verdict(figures, record["best"])
        print(f"step {step}: validation {reason}", flush=True)
        entry = {"step": step, **figures, "qualifies": train_lib.qualifies(figures)}
        record["history"].append({**entry, "kept": keep, "reason": reason})
        if keep:
            record["best"] = entry
            best_weights = [ops.convert_to_numpy(w) for w in model.weights]

    if record["best"] is None:
        validate()        # step 0: the input itself
    start = time.perf_counter()
    losses = []
    while step < args.train_steps and time.perf_counter() - start < 60 * args.minutes:
        losses.append(float(step_fn(*batch(train_pairs, step, args.batch_size, args.crop,
                                           args.seed))[0]))
        step += 1
        if step % args.validate_every == 0 or step == args.train_steps:
            validate()
    seconds = time.perf_counter() - start
    record["seconds"] += seconds
    record["calls"] += 1
    last = train_lib.evaluate_images(rebuild(model), test_pairs)
    current = [ops.convert_to_numpy(w) for w in model.weights]
    model.set_weights(best_weights)
    kept = train_lib.evaluate_images(rebuild(model), test_pairs)
    report["training"] = {
        "step": step, "train_steps": args.train_steps, "seconds_this_call": seconds,
        "seconds_all_calls": record["seconds"], "calls": record["calls"],
        "steps_per_s": (len(losses) / seconds) if losses else None,
        "mean_loss_this_call": (sum(losses) / len(losses)) if losses else None,
        "kept_step": record["best"]["step"], "kept_qualifies": record["best"]["qualifies"],
        "validation_kept": record["best"], "held_out_kept": kept, "held_out_last_step": last,
        "recipe": {"batch": args.batch_size, "crop": args.crop, "lr": args.learning_rate,
                   "init": "identity", "policy": "mixed_bfloat16", "data": "embedded train"}}
    print(f"trained to step {step} of {args.train_steps} ({seconds / 60:.1f} min this call, "
          f"{record['seconds'] / 60:.1f} in all); kept step {record['best']['step']}", flush=True)
    for name, figures in (("kept", kept), ("last step", last)):
        print(f"held-out (embedded test photos) {name}: PSNR {figures['psnr']:.2f} dB (input "
              f"{figures['psnr_blurry']:.2f}), SSIM {figures['ssim']:.4f} (input "
              f"{figures['ssim_blurry']:.4f})", flush=True)
    model.set_weights(current)
    arrays = {f"state_{i}": ops.convert_to_numpy(v) for i, v in enumerate(variables)}
    arrays.update({f"best_{i}": w for i, w in enumerate(best_weights)})
    write_state(args.out, arrays, record)
    keras.mixed_precision.set_global_policy("float32")


def main():
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.makedirs(args.out, exist_ok=True)
    import srn_tf  # noqa: F401  (the backend, quietly)
    report = {"backend": args.backend, "device": device_name(args.backend),
              "smoke": args.smoke, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{args.backend} on {report['device']}", flush=True)
    report["speed"] = speed(args)
    train(args, report)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.out}/report.json and the run's state.part* files")


if __name__ == "__main__":
    main()
