"""Side-by-side evaluation of deblurring models on paired data: the logic behind `evaluate.py`.

Metrics are those of `srn_tf.metrics` (scikit-image, the release's MATLAB conventions) on the RGB
uint8 results. Outputs: a table, `results.csv` (one row per image and model), `summary.json`, a
per-image PSNR plot and, on request, the deblurred images and one comparison strip per image.
"""

import csv
import dataclasses
import json
import logging
import os
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srn_tf import classical, data, metrics
from srn_tf.convert import is_tf1_checkpoint, load_model
from srn_tf.export import is_saved_model
from srn_tf.image_io import ImageReadError, read_image, write_png
from srn_tf.inference import deblur
from srn_tf.model import model_type_of

log = logging.getLogger(__name__)

BLURRY = "blurry"
# GoPro test-set figures published for the release's weights (PSNR dB, SSIM), by model type.
PUBLISHED = {"lstm": (30.19, 0.9334)}


@dataclasses.dataclass
class Restorer:
    """A named way of turning a blurry uint8 RGB image into a restored one."""
    name: str
    restore: callable                 # (uint8 [H, W, 3], true kernel or None) → uint8 [H, W, 3]
    source: str = ""
    model_type: str = ""
    published: tuple = None           # (PSNR, SSIM) published for it on GoPro, if any


def _classical(method, psf_path):
    """Wiener / Richardson–Lucy with the true kernel when known, else the given or assumed PSF;
    the restorer's `source` counts which PSF each image got."""
    fallback = np.load(psf_path) if psf_path else classical.assumed_psf()
    fallback_name = f"given PSF {psf_path}" if psf_path else "assumed Gaussian PSF (σ 1.5)"
    used = {"true kernel": 0, fallback_name: 0}

    def restore(image, kernel):
        used["true kernel" if kernel is not None else fallback_name] += 1
        restorer.source = "non-blind, " + ", ".join(f"{k}: {v} images" for k, v in used.items()
                                                    if v)
        return classical.deconvolve(method, image, kernel if kernel is not None else fallback)

    restorer = Restorer(method, restore, source="non-blind")
    return restorer


def load_restorer(spec, model_type=None, psf=None, **options):
    """A Restorer for `spec`: "blurry", "wiener", "richardson_lucy", a TF1 checkpoint, a .keras
    file or an exported SavedModel.

    `options` (tile, overlap, precision, jit_compile) go to `srn_tf.deblur` for Keras models; a
    SavedModel runs as it was exported. `psf`: a .npy kernel for the classical methods where the
    data has none."""
    if spec == BLURRY:
        return Restorer(BLURRY, lambda image, kernel: image, source="the blurry input itself")
    if spec in classical.METHODS:
        return _classical(spec, psf)
    name = _display_name(spec)
    if is_saved_model(spec):
        loaded = tf.saved_model.load(spec)
        serve = loaded.signatures["serving_default"]
        return Restorer(name, lambda image, kernel: serve(images=tf.constant(image[None]))[
            "deblurred"].numpy()[0], source=spec, model_type=loaded.model_type.numpy().decode())
    model = load_model(spec, model_type)
    kind = model_type_of(model)
    published = PUBLISHED.get(kind) if is_tf1_checkpoint(spec) else None
    return Restorer(name, lambda image, kernel: deblur(model, image, **options), source=spec,
                    model_type=kind, published=published)


def _display_name(spec):
    """The name of a model in tables: its file or folder name, or for what `train.py` writes
    (`<workdir>/model.keras`, `<workdir>/saved_model`) the workdir's name."""
    path = os.path.normpath(spec)
    name = os.path.basename(path)
    if name in ("model.keras", "saved_model") and os.path.dirname(path):
        return os.path.basename(os.path.dirname(path)) + ("" if name == "model.keras" else "_saved")
    return name


def _unique_names(restorers):
    seen = {}
    for r in restorers:
        count = seen.get(r.name, 0)
        seen[r.name] = count + 1
        if count:
            r.name = f"{r.name}_{count + 1}"
    return restorers


def true_kernel(pair):
    """The blur kernel recorded beside a pair (`<seq>/kernel/<frame>.npy`, as the embedded data
    keeps it), or None."""
    seq_dir, frame = os.path.dirname(os.path.dirname(pair.blur)), os.path.basename(pair.blur)
    path = os.path.join(seq_dir, "kernel", os.path.splitext(frame)[0] + ".npy")
    return np.load(path) if os.path.isfile(path) else None


def _examples(source, split, blur_key, tfds_data_dir):
    """(name, blur, sharp, kernel) with uint8 images and the true kernel or None; an unreadable
    image yields (name, error message, None, None)."""
    if isinstance(source, str) and source.startswith(data.TFDS_PREFIX):
        for e in data.make_eval_dataset(source, split=split, tfds_data_dir=tfds_data_dir):
            yield e["name"].numpy().decode(), e["blur"].numpy(), e["sharp"].numpy(), None
        return
    for pair in data.resolve_pairs(source, split, blur_key):
        try:
            blur, sharp = read_image(pair.blur), read_image(pair.sharp)
        except ImageReadError as e:
            yield pair.name, str(e), None, None
            continue
        yield pair.name, blur[:, :, :3], sharp[:, :, :3], true_kernel(pair)


def evaluate(restorers, source=None, *, split="test", blur_key="blur", output_dir="eval_out",
             save_images=False, limit=None, tfds_data_dir=None):
    """Runs every restorer on every pair of `source`; writes and returns the summary.

    Args:
      restorers: list of Restorer (the blurry input is always added first, as the floor).
      source: see `srn_tf.data.resolve_pairs` (default: the embedded test split).
      output_dir: folder for results.csv, summary.json, psnr_per_image.png (+ images/, strips/).
      save_images: also write each model's results and a comparison strip per image.
      limit: evaluate only the first `limit` pairs.
    Returns:
      The summary dict: per model mean PSNR/SSIM, Δ vs blurry, s/image, images covered.
    """
    restorers = _unique_names([load_restorer(BLURRY)] +
                              [r for r in restorers if r.name != BLURRY])
    os.makedirs(output_dir, exist_ok=True)
    rows, skipped = [], []
    examples = _examples(source, split, blur_key, tfds_data_dir)
    for index, (name, blur, sharp, kernel) in enumerate(tqdm(examples, desc="evaluating",
                                                             unit="image")):
        if limit is not None and index >= limit:
            break
        if sharp is None:
            log.error("skipped %s: %s", name, blur)
            skipped.append({"image": name, "error": blur})
            continue
        panels = []
        for r in restorers:
            start = time.perf_counter()
            restored = r.restore(blur, kernel)
            seconds = time.perf_counter() - start
            row = {"image": name, "model": r.name, "psnr": metrics.psnr(sharp, restored),
                   "ssim": metrics.ssim(sharp, restored), "seconds": seconds}
            rows.append(row)
            panels.append((r.name, restored, row["psnr"]))
            if save_images and r.name != BLURRY:
                path = os.path.join(output_dir, "images", r.name, name + ".png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_png(path, restored)
        if save_images:
            path = os.path.join(output_dir, "strips", name + ".png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_png(path, comparison_strip(panels + [("sharp", sharp, None)]))
    summary = summarise(rows, restorers, skipped)
    _write_outputs(output_dir, rows, summary)
    return summary


def summarise(rows, restorers, skipped):
    """Per-model means from the per-image rows."""
    blurry = {row["image"]: row["psnr"] for row in rows if row["model"] == BLURRY}
    models = {}
    for r in restorers:
        mine = [row for row in rows if row["model"] == r.name]
        finite = [row["psnr"] for row in mine if np.isfinite(row["psnr"])]
        deltas = [row["psnr"] - blurry[row["image"]] for row in mine
                  if np.isfinite(row["psnr"]) and np.isfinite(blurry[row["image"]])]
        models[r.name] = {
            "source": r.source, "model_type": r.model_type,
            "images": len(mine), "psnr": float(np.mean(finite)) if finite else float("nan"),
            "ssim": float(np.mean([row["ssim"] for row in mine])) if mine else float("nan"),
            "delta_psnr_vs_blurry": float(np.mean(deltas)) if deltas else float("nan"),
            "seconds_per_image": float(np.mean([row["seconds"] for row in mine])) if mine else 0.0,
            "published_gopro": list(r.published) if r.published else None}
    return {"models": models, "skipped": skipped, "images_evaluated": len(blurry),
            "metrics": "scikit-image: PSNR (peak 255, whole image); SSIM (Gaussian σ=1.5, K1 0.01,"
                       " K2 0.03, population covariance, per channel averaged), on uint8 RGB"}


def format_table(summary):
    lines = [f"{'model':24s} {'PSNR':>7s} {'SSIM':>7s} {'ΔPSNR':>7s} {'s/image':>8s}  "
             "published (GoPro)"]
    for name, m in summary["models"].items():
        published = ("%.2f / %.4f" % tuple(m["published_gopro"])) if m["published_gopro"] else ""
        lines.append(f"{name[:24]:24s} {m['psnr']:7.2f} {m['ssim']:7.4f} "
                     f"{m['delta_psnr_vs_blurry']:+7.2f} {m['seconds_per_image']:8.3f}  {published}")
    lines.append(f"{summary['images_evaluated']} images"
                 + (f", {len(summary['skipped'])} skipped (unreadable)" if summary["skipped"] else ""))
    lines += [f"{name}: {m['source']}" for name, m in summary["models"].items()
              if m["source"].startswith("non-blind")]
    return "\n".join(lines)


def comparison_strip(panels, height=256):
    """Panels side by side, each scaled to `height` px, with its name and PSNR written on it."""
    from PIL import Image, ImageDraw
    tiles = []
    for label, image, psnr in panels:
        h, w = image.shape[:2]
        tile = Image.fromarray(image).resize((max(1, round(w * height / h)), height))
        draw = ImageDraw.Draw(tile)
        text = label if psnr is None else f"{label}  {psnr:.2f} dB"
        draw.rectangle([0, 0, 8 + 7 * len(text), 16], fill=(0, 0, 0))
        draw.text((4, 3), text, fill=(255, 255, 255))
        tiles.append(np.asarray(tile))
    return np.concatenate(tiles, axis=1)


def _write_outputs(output_dir, rows, summary):
    with open(os.path.join(output_dir, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "model", "psnr", "ssim", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot_psnr(rows, os.path.join(output_dir, "psnr_per_image.png"))


def plot_psnr(rows, path):
    """Scatter of each model's per-image PSNR against the blurry input's, with y = x."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    blurry = {row["image"]: row["psnr"] for row in rows if row["model"] == BLURRY}
    fig, ax = plt.subplots(figsize=(5, 5))
    for model in dict.fromkeys(row["model"] for row in rows if row["model"] != BLURRY):
        points = [(blurry[r["image"]], r["psnr"]) for r in rows if r["model"] == model]
        ax.scatter(*zip(*points), label=model, s=14)
    if blurry:
        low, high = min(blurry.values()) - 1, max(blurry.values()) + 4
        ax.plot([low, high], [low, high], "k--", lw=0.8, label="= blurry")
    ax.set_xlabel("blurry input PSNR (dB)")
    ax.set_ylabel("model PSNR (dB)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
