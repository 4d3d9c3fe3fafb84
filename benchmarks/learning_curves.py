"""Held-out learning curves of train.py runs, and their figures on validation pairs.

  python benchmarks/learning_curves.py \
      --runs="identity, embedded=checkpoints/trial_a;zero_residual, mix=checkpoints/trial_b" \
      --output=docs/learning_curves [--validation_pairs=24]

For each run (label=workdir): the held-out PSNR that train.py logged every --eval_every steps
(TensorBoard `eval/psnr`, the embedded test split: photos never trained on, and never used to
choose anything) → `<output>.csv` (label, step, psnr, ssim, psnr_blurry, ssim_blurry) and
`<output>.png` (PSNR against step, the blurry input's PSNR as a line). Then each run's final
`model.keras` on two validation sets, the figures to choose a recipe on: `--validation_pairs`
synthetic validation pairs (128², indices training never reaches) and the embedded training photos
blurred afresh (new trajectories and noise), printed as a table with the held-out gain beside.
"""

import csv
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("runs", None, "label=workdir pairs separated by ;", required=True)
flags.DEFINE_string("output", "docs/learning_curves", "path of the CSV and PNG, without suffix")
flags.DEFINE_integer("validation_pairs", 24, "synthetic validation pairs (0: skip)")
FLAGS = flags.FLAGS
FIELDS = ("psnr", "ssim", "psnr_blurry", "ssim_blurry")


def read_eval(workdir):
    """{step: {field: value}} from a run's eval/ TensorBoard events."""
    folder = os.path.join(workdir, "eval")
    points = {}
    for name in sorted(os.listdir(folder)):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                field = value.tag.split("/", 1)[-1]
                if value.tag.startswith("eval/") and field in FIELDS:
                    points.setdefault(event.step, {})[field] = float(tf.make_ndarray(value.tensor))
    return points


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
    rows, blurry = [], []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, workdir in runs:
        points = read_eval(workdir)
        steps = sorted(points)
        for step in steps:
            rows.append({"label": label, "step": step, **points[step]})
        blurry += [points[s]["psnr_blurry"] for s in steps]
        ax.plot(steps, [points[s]["psnr"] for s in steps], marker="o", label=label)
    ax.axhline(np.mean(blurry), color="k", linestyle="--", label="blurry input")
    ax.set_xlabel("training step (batch 4 × 64²)")
    ax.set_ylabel("held-out PSNR (dB), embedded test split")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    fig.savefig(FLAGS.output + ".png", dpi=110)
    with open(FLAGS.output + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["label", "step", *FIELDS])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"wrote {FLAGS.output}.png and {FLAGS.output}.csv")
    if not FLAGS.validation_pairs:
        return
    from srn_tf import synthetic, train_lib
    from srn_tf.convert import load_model
    validation = {"synthetic": synthetic.validation_pairs(FLAGS.validation_pairs, size=128),
                  "photos": training_photo_validation()}
    print("PSNR gain over the blurry input (dB): validation sets, then the held-out test split")
    print(f"{'run':32s} {'synthetic':>10s} {'train photos':>13s} {'mean':>6s} {'held-out':>9s}")
    for label, workdir in runs:
        model = load_model(os.path.join(workdir, "model.keras"))
        gains = []
        for pairs in validation.values():
            figures = train_lib.evaluate_images(model, pairs)
            gains.append(figures["psnr"] - figures["psnr_blurry"])
        last = [r for r in rows if r["label"] == label][-1]
        print(f"{label:32s} {gains[0]:+10.2f} {gains[1]:+13.2f} {np.mean(gains):+6.2f} "
              f"{last['psnr'] - last['psnr_blurry']:+9.2f}")


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
    app.run(main)
