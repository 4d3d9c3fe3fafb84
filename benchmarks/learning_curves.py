"""Learning curves of train.py runs: held-out and validation PSNR against step, and what each
run's kept model reaches.

  python benchmarks/learning_curves.py \
      --runs="identity, embedded=checkpoints/trial_a;identity, mix=checkpoints/trial_b" \
      --output=docs/learning_curves [--validation_pairs=24]

For each run (label=workdir): the PSNR that train.py logged (TensorBoard) on the embedded *test*
split every --eval_every steps (photos never trained on, never used to choose anything) and on
the *validation* split every --validate_every steps (other photos, which choose the model kept)
→ `<output>.csv` (label, split, step, psnr, ssim, psnr_blurry, ssim_blurry) and `<output>.png`
(PSNR gain over the blurry input against step, one panel per split, the kept step marked). Then a
table per run: the step kept, its validation gain, the held-out gain of the kept model
(`model.keras`, evaluated here on the test split) and of the last step (logged), and the gain on
two more sets: the embedded training photos blurred afresh (the training distribution) and
`--validation_pairs` synthetic pairs (128², indices training never reaches).
"""

import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import srn_tf  # noqa: E402,F401  (TensorFlow without its start-up lines unless --verbose)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from srn_tf import cli  # noqa: E402

flags.DEFINE_string("runs", None, "label=workdir pairs separated by ;", required=True)
flags.DEFINE_string("output", "docs/learning_curves", "path of the CSV and PNG, without suffix")
flags.DEFINE_integer("validation_pairs", 24, "synthetic validation pairs (0: skip)")
FLAGS = flags.FLAGS
FIELDS = ("psnr", "ssim", "psnr_blurry", "ssim_blurry")
SPLITS = {"eval": "held out: embedded test split (never used to choose)",
          "validation": "validation split (chooses the model kept)"}


def read_scalars(workdir, split):
    """{step: {field: value}} from a run's TensorBoard events of `split` ("eval": the test split,
    "validation": the val split)."""
    folder = os.path.join(workdir, split)
    points = {}
    if not os.path.isdir(folder):
        return points
    for name in sorted(os.listdir(folder)):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                field = value.tag.split("/", 1)[-1]
                if value.tag.startswith(f"{split}/") and field in FIELDS:
                    points.setdefault(event.step, {})[field] = float(tf.make_ndarray(value.tensor))
    return points


def kept_step(workdir):
    """The step of the model train.py kept (best on validation), or None (the last one)."""
    path = os.path.join(workdir, "best", "best.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)["step"]


def parse_runs(text):
    runs = []
    for item in text.split(";"):
        label, _, workdir = item.rpartition("=")
        if not label or not os.path.isdir(workdir):
            raise app.UsageError(f"--runs: {item!r} is not label=<existing workdir>")
        runs.append((label.strip(), workdir))
    return runs


def main(argv):
    del argv
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = parse_runs(FLAGS.runs)
    rows = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for (split, title), ax in zip(SPLITS.items(), axes):
        for i, (label, workdir) in enumerate(runs):
            points = read_scalars(workdir, split)
            steps = sorted(points)
            rows += [{"label": label, "split": split, "step": s, **points[s]} for s in steps]
            gains = [points[s]["psnr"] - points[s]["psnr_blurry"] for s in steps]
            line, = ax.plot(steps, gains, marker="o", markersize=3, label=label)
            kept = kept_step(workdir)
            if split == "validation" and kept in points:
                ax.plot([kept], [gains[steps.index(kept)]], marker="*", markersize=14,
                        color=line.get_color(), linestyle="none")
        ax.axhline(0.0, color="k", linestyle="--", linewidth=1, label="blurry input")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR gain over the blurry input (dB)")
    axes[1].legend(fontsize=8, title="★ the step kept", title_fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    fig.savefig(FLAGS.output + ".png", dpi=110)
    with open(FLAGS.output + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["label", "split", "step", *FIELDS])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"wrote {FLAGS.output}.png and {FLAGS.output}.csv")
    summarise(runs)


def summarise(runs):
    """Prints each run's kept step and its gains (dB) on each set."""
    from srn_tf import sources, synthetic, train_lib
    from srn_tf.convert import load_model
    from srn_tf.image_io import read_image
    test = [(read_image(p.blur)[:, :, :3], read_image(p.sharp)[:, :, :3])
            for p in sources.resolve_pairs(None, split="test")]
    sets = {"train photos": training_photo_validation()}
    if FLAGS.validation_pairs:
        sets["synthetic"] = synthetic.validation_pairs(FLAGS.validation_pairs, size=128)
    print("PSNR gain over the blurry input (dB) of each run's kept model (model.keras)")
    print(f"{'run':36s} {'kept':>6s} {'val.':>6s} {'held-out':>9s} {'last step':>10s} " +
          " ".join(f"{name:>12s}" for name in sets))
    for label, workdir in runs:
        model = load_model(os.path.join(workdir, "model.keras"))

        def gain(pairs):
            figures = train_lib.evaluate_images(model, pairs)
            return figures["psnr"] - figures["psnr_blurry"]
        validation, held_out = read_scalars(workdir, "validation"), read_scalars(workdir, "eval")
        kept = kept_step(workdir)
        kept_gain = (validation[kept]["psnr"] - validation[kept]["psnr_blurry"]
                     if kept in validation else float("nan"))
        last = held_out[max(held_out)] if held_out else None
        last_gain = last["psnr"] - last["psnr_blurry"] if last else float("nan")
        print(f"{label:36s} {kept if kept is not None else '-':>6} {kept_gain:+6.2f} "
              f"{gain(test):+9.2f} {last_gain:+10.2f} " +
              " ".join(f"{gain(pairs):+12.2f}" for pairs in sets.values()))


def training_photo_validation():
    """The 6 embedded training photos blurred afresh (seed 99: trajectories and noise no training
    pair has; the photos themselves were trained on): (blur, sharp) uint8 pairs."""
    from srn_tf import embedded
    pairs = []
    for p, name in enumerate(embedded.PHOTOS["train"]):
        sharp = embedded.load_photo(name)
        blurred = embedded.synthesize(sharp, np.random.default_rng([99, p]))
        pairs.append((blurred["blur"], sharp))
    return pairs


if __name__ == "__main__":
    cli.run(main)   # --verbose, quiet logging, one-line errors
