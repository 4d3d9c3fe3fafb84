"""Side-by-side evaluation of deblurring models on paired data: the logic behind `evaluate.py`.

Images are read by `srn_tf.image_io` at their own bit depth and channels (grey stays grey, 16-bit
stays 16-bit; alpha is not scored). Metrics are those of `srn_tf.metrics` (scikit-image, the
release's MATLAB conventions; peak 255 or 65535 by bit depth, PSNR capped at 100 dB, SSIM not
defined below its 11×11 window) and every mean says how many images it covers. Pairs whose sizes
differ are refused before any work; unreadable images are named and skipped. Outputs: a table,
`results.csv` (one row per image and model), `summary.json` (strict JSON: null where a figure is
not defined), a per-image PSNR plot and, on request, the deblurred images (at their own bit depth)
and one comparison strip per image.

Where the data are video sequences (pair names `<sequence>/<frame>` in frame order: a GoPro root,
TFDS GoPro, the held-out clips `--data=clips`), each model's flicker is measured per sequence too:
the warping error of Lai et al. (`srn_tf.temporal.WarpingError`: the optical flow of the blurry
input frames, occlusions masked), for the input, every model and the sharp frames. With
`consistency` > 0 every model also gets a row for its results in the consistent mode
(`srn_tf.temporal.ConsistentFilter`, restarted at each sequence).
"""

import collections
import csv
import dataclasses
import json
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from srn_tf import classical, data, metrics, runtimes, sources
from srn_tf.backend import lazy_tensorflow
from srn_tf.convert import (CheckpointError, is_saved_model, is_tf1_checkpoint, load_model,
                            resolve_checkpoint_prefix, run_model_file)
from srn_tf.errors import DataError
from srn_tf.image_io import ImageReadError, image_size, read_image, split_alpha, to_rgb8, write_png
from srn_tf.inference import deblur
from srn_tf.model import model_type_of
from srn_tf.temporal import ConsistentFilter, WarpingError

tf = lazy_tensorflow("evaluating a SavedModel")

log = logging.getLogger(__name__)

BLURRY = "blurry"
# GoPro test-set figures published for the release's weights (PSNR dB, SSIM), by model type:
# shown only for the release's checkpoint (RELEASE_CHECKPOINT) scored on all GOPRO_TEST_PAIRS
# pairs of GoPro's test split (`published_applies`).
PUBLISHED = {"lstm": (30.19, 0.9334)}
RELEASE_CHECKPOINT = "deblur.model-523000"
GOPRO_TEST_PAIRS = 1111


@dataclasses.dataclass
class Restorer:
    """A named way of turning a blurry image into a restored one."""
    name: str
    restore: callable                 # (uint8/uint16 [H, W, C], kernel or None) → same dtype, shape
    source: str = ""
    model_type: str = ""
    published: tuple = None           # (PSNR, SSIM) published for it on GoPro, if any
    precision: str = "—"              # how a network ran: "float32", "bfloat16 openvino", ...


def _eight_bit_rgb(restore):
    """Wraps a restorer that takes uint8 H×W×3 only (a SavedModel, the classical methods) for any
    image: 16-bit input is run at 8 bits (round(v / 257)) and scaled back (× 257); grey input is
    run as RGB and averaged back to one channel."""
    def adapted(image, kernel):
        out = restore(to_rgb8(image), kernel)
        if image.shape[2] == 1:
            out = np.round(out.mean(axis=2, keepdims=True))
        return (out.astype(np.uint16) * 257 if image.dtype == np.uint16 else out).astype(
            image.dtype)
    return adapted


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

    restorer = Restorer(method, _eight_bit_rgb(restore), source="non-blind")
    return restorer


def load_restorer(spec, model_type=None, psf=None, **options):
    """A Restorer for `spec`: "blurry", "wiener", "richardson_lucy", a TF1 checkpoint, a .keras
    file or an exported SavedModel.

    `options` (tile, overlap, precision, jit_compile, runtime) go to `srn_tf.deblur` for Keras
    models, with precision float32 unless given ("auto" is resolved by
    `srn_tf.runtimes.choose`): evaluation figures are compared with the release's; the
    Restorer's `precision` says how it ran. A SavedModel runs as it was exported (float32).
    `psf`: a .npy kernel for the classical methods where the data has none."""
    if spec == BLURRY:
        return Restorer(BLURRY, lambda image, kernel: image, source="the blurry input itself")
    if spec in classical.METHODS:
        return _classical(spec, psf)
    spec = run_model_file(spec)   # a training run's folder: its model.keras
    name = _display_name(spec)
    if is_saved_model(spec):
        try:
            loaded = tf.saved_model.load(spec)
        except (tf.errors.OpError, ValueError, IndexError, OSError) as e:  # IndexError: short read
            raise CheckpointError(f"cannot load the SavedModel {spec} (truncated or corrupt "
                                  f"files?): {getattr(e, 'message', e)}") from e
        serve = loaded.signatures["serving_default"]
        return Restorer(name, _eight_bit_rgb(lambda image, kernel: serve(images=tf.constant(
            image[None]))["deblurred"].numpy()[0]), source=spec,
            model_type=loaded.model_type.numpy().decode(), precision="float32 export")
    model = load_model(spec, model_type)
    kind = model_type_of(model)
    release = (is_tf1_checkpoint(spec) and
               os.path.basename(resolve_checkpoint_prefix(spec)) == RELEASE_CHECKPOINT)
    published = PUBLISHED.get(kind) if release else None
    choice = runtimes.choose(options.get("runtime", runtimes.AUTO),
                             options.get("precision", "float32"), options.get("jit_compile", False))
    options = {**options, "runtime": choice.runtime, "precision": choice.precision}
    return Restorer(name, lambda image, kernel: deblur(model, image, **options), source=spec,
                    model_type=kind, published=published,
                    precision=choice.precision + ("" if choice.runtime == "keras"
                                                  else f" {choice.runtime}"))


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


def check_sizes(pairs):
    """Refuses, before any work, pairs whose images differ in size (from the file headers, EXIF
    orientation applied): one DataError listing them all. Unreadable headers are left to the
    decoding, which names and skips them. Returns the pairs, those whose names clash (a.jpg and
    a.png in one folder) named with their file extension (a.jpg, a.png), so no result overwrites
    another."""
    counts = collections.Counter(p.name for p in pairs)
    pairs = [dataclasses.replace(p, name=p.name + os.path.splitext(p.blur)[1])
             if counts[p.name] > 1 else p for p in pairs]
    problems = []
    for pair in pairs:
        sizes = image_size(pair.blur), image_size(pair.sharp)
        if None not in sizes and sizes[0] != sizes[1]:
            problems.append(f"{pair.blur} ({sizes[0][0]}×{sizes[0][1]}) and {pair.sharp} "
                            f"({sizes[1][0]}×{sizes[1][1]}) differ in size")
    if problems:
        raise DataError(f"pairs of different sizes ({len(problems)}):\n  "
                             + "\n  ".join(problems) + "\nA blurry image and its sharp image "
                             "must have the same size; fix or remove these pairs.")
    return pairs


def _colour(pair):
    """(blur, sharp) colour arrays of a pair (alpha left out), checked to match."""
    (blur, blur_alpha), (sharp, sharp_alpha) = (split_alpha(read_image(p))
                                                for p in (pair.blur, pair.sharp))
    if blur_alpha is not None or sharp_alpha is not None:
        log.warning("%s: the alpha channel is not scored", pair.name)
    if blur.shape != sharp.shape or blur.dtype != sharp.dtype:
        raise ImageReadError(
            f"{pair.blur} ({blur.shape[2]} channels, {blur.dtype.itemsize * 8}-bit) and "
            f"{pair.sharp} ({sharp.shape[2]} channels, {sharp.dtype.itemsize * 8}-bit) differ: "
            "save both as grey or both as RGB, at one bit depth")
    return blur, sharp


def _examples(source, split, blur_key, tfds_data_dir):
    """(number of pairs or None, iterator of (name, blur, sharp, kernel)): images as read
    (uint8/uint16 H×W×C, C 1 or 3) and the true kernel or None; an unreadable image yields
    (name, error message naming the file, None, None)."""
    if isinstance(source, str) and source.startswith(sources.TFDS_PREFIX):
        dataset = data.make_eval_dataset(source, split=split, tfds_data_dir=tfds_data_dir)
        count = int(dataset.cardinality())
        return (count if count >= 0 else None,
                ((e["name"].numpy().decode(), e["blur"].numpy(), e["sharp"].numpy(), None)
                 for e in dataset))
    pairs = check_sizes(sources.resolve_pairs(source, split, blur_key))

    def read():
        for pair in pairs:
            try:
                blur, sharp = _colour(pair)
            except ImageReadError as e:
                yield pair.name, str(e), None, None
                continue
            yield pair.name, blur, sharp, true_kernel(pair)
    return len(pairs), read()


def is_video_source(source):
    """True for sources whose pairs are frames of videos in order: a GoPro root (not a folder
    pair or data list), TFDS GoPro, the held-out clips; the embedded photos' blurs are not."""
    return source not in (None, "embedded") and sources.has_splits(source)


class _Sequences:
    """The warping error of every row, per sequence, fed image by image in order."""

    def __init__(self, labels):
        self.labels = labels + ["sharp frames"]
        self.per_sequence = {}        # sequence → [E_warp per label]
        self._sequence, self._measure = None, None

    def add(self, name, blur, outputs, sharp):
        sequence = name.rsplit("/", 1)[0] if "/" in name else ""
        if sequence != self._sequence:
            self._finish()
            self._sequence, self._measure = sequence, WarpingError()
        self._measure.add(blur, *outputs, sharp)

    def _finish(self):
        if self._measure is not None and self._measure.pairs:
            self.per_sequence[self._sequence] = self._measure.values

    def means(self):
        """{label: mean E_warp over the sequences}, {sequence: {label: E_warp}}."""
        self._finish()
        table = {s: dict(zip(self.labels, v)) for s, v in self.per_sequence.items()}
        return ({label: float(np.mean([v[label] for v in table.values()])) for label in
                 self.labels} if table else {}), table


def evaluate(restorers, source=None, *, split="test", blur_key="blur", output_dir="eval_out",
             save_images=False, limit=None, tfds_data_dir=None, consistency=0.0,
             warping_error=None):
    """Runs every restorer on every pair of `source`; writes and returns the summary.

    Args:
      restorers: list of Restorer (the blurry input is always added first, as the floor).
      source: see `srn_tf.sources.resolve_pairs` (default: the embedded test split).
      output_dir: folder for results.csv, summary.json, psnr_per_image.png (+ images/, strips/).
      save_images: also write each model's results and a comparison strip per image.
      limit: evaluate only the first `limit` pairs.
      consistency: > 0: each model's results also in the consistent mode of this strength, as a
        row of its own ("<name> consistent").
      warping_error: measure flicker per sequence; None: where the source is video
        (`is_video_source`).
    Returns:
      The summary dict (`summarise`). Raises DataError before any work for pairs of different
      sizes; unreadable pairs are skipped and listed in summary["skipped"].
    """
    restorers = _unique_names([load_restorer(BLURRY)] +
                              [r for r in restorers if r.name != BLURRY])
    steady = {r.name: ConsistentFilter(consistency) for r in restorers[1:]} if consistency else {}
    labels = [r.name for r in restorers] + [f"{name} consistent" for name in steady]
    if warping_error is None:
        warping_error = is_video_source(source) or bool(steady)
    sequences = _Sequences(labels) if warping_error else None
    os.makedirs(output_dir, exist_ok=True)
    rows, skipped, sequence = [], [], None
    count, examples = _examples(source, split, blur_key, tfds_data_dir)
    if limit is not None and count is not None:
        count = min(count, limit)
    for index, (name, blur, sharp, kernel) in enumerate(tqdm(examples, desc="evaluating",
                                                             unit="image", total=count)):
        if limit is not None and index >= limit:
            break
        if sharp is None:
            log.warning("skipped %s: unreadable (listed at the end)", name)
            skipped.append({"image": name, "error": blur})
            continue
        if steady and name.rsplit("/", 1)[0] != sequence:    # a new sequence starts afresh
            sequence = name.rsplit("/", 1)[0]
            for consistent in steady.values():
                consistent.reset()
        panels, outputs = [], {}
        for r in restorers:
            start = time.perf_counter()
            restored = r.restore(blur, kernel)
            results = [(r.name, restored, time.perf_counter() - start)]
            if r.name in steady:
                start = time.perf_counter()
                steadied = steady[r.name].filter(blur, restored)
                results.append((f"{r.name} consistent", steadied,
                                results[0][2] + time.perf_counter() - start))
            for label, image, seconds in results:
                row = {"image": name, "model": label, "psnr": metrics.psnr(sharp, image),
                       "ssim": metrics.ssim(sharp, image), "seconds": seconds}
                rows.append(row)
                outputs[label] = image
                panels.append((label, image, row["psnr"]))
                if save_images and label != BLURRY:
                    path = os.path.join(output_dir, "images", label, name + ".png")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    write_png(path, image)
        if sequences is not None:
            sequences.add(name, blur, [outputs[label] for label in labels], sharp)
        if save_images:
            path = os.path.join(output_dir, "strips", name + ".png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_png(path, comparison_strip(panels + [("sharp", sharp, None)]))
    if not published_applies(source, split, blur_key, len({row["image"] for row in rows}),
                             skipped):
        restorers = [dataclasses.replace(r, published=None) for r in restorers]
    restorers += [dataclasses.replace(r, name=f"{r.name} consistent", published=None,
                                      source=f"{r.source}, consistent mode {consistency:g}")
                  for r in restorers if r.name in steady]
    summary = summarise(rows, restorers, skipped, sequences)
    _write_outputs(output_dir, rows, summary)
    return summary


def published_applies(source, split, blur_key, images, skipped):
    """True when a run scored GoPro's whole test set (its 1,111 pairs of `blur`, none skipped),
    the data the release's published figures are for."""
    gopro = isinstance(source, str) and (source == sources.TFDS_PREFIX + "gopro" or
                                         os.path.isdir(os.path.join(source, "test")))
    return (gopro and split == "test" and blur_key == "blur" and not skipped and
            images == GOPRO_TEST_PAIRS)


def summarise(rows, restorers, skipped, sequences=None):
    """Per-model means from the per-image rows, every one taken with `metrics.mean`.

    Per model: "psnr" (mean over every image; PSNR is capped at 100 dB, so none is left out),
    "psnr_images", "psnr_at_cap" (images at the cap), "ssim" (None when defined for none) over
    "ssim_images" (SSIM is not defined below 11×11), "delta_psnr_vs_blurry", "seconds_per_image",
    "precision" (how a network ran, `Restorer.precision`), and with `sequences` (`_Sequences`)
    "warping_error" (the mean over the sequences, None where not measured); the summary then has
    "warping_error_per_sequence" (the sharp frames' too).
    """
    blurry = {row["image"]: row["psnr"] for row in rows if row["model"] == BLURRY}
    models = {}
    for r in restorers:
        mine = [row for row in rows if row["model"] == r.name]
        psnr, psnr_images = metrics.mean(row["psnr"] for row in mine)
        ssim, ssim_images = metrics.mean(row["ssim"] for row in mine)
        delta = metrics.mean(row["psnr"] - blurry[row["image"]] for row in mine)[0]
        models[r.name] = {
            "source": r.source, "model_type": r.model_type, "precision": r.precision,
            "images": len(mine), "psnr": psnr, "psnr_images": psnr_images,
            "psnr_at_cap": sum(row["psnr"] >= metrics.PSNR_CAP for row in mine),
            "ssim": ssim, "ssim_images": ssim_images, "delta_psnr_vs_blurry": delta,
            "seconds_per_image": float(np.mean([row["seconds"] for row in mine])) if mine else 0.0,
            "published_gopro": list(r.published) if r.published else None}
    flicker, per_sequence = sequences.means() if sequences is not None else ({}, {})
    for name, m in models.items():
        m["warping_error"] = flicker.get(name)
    extra = ({"warping_error_per_sequence": per_sequence,
              "warping_error_sharp": flicker.get("sharp frames"),
              "warping_error_definition": "Lai et al. 2018 (ECCV): mean squared difference of "
                                          "each output frame and the previous one warped onto it "
                                          "by the DIS optical flow of the blurry input frames, "
                                          "occlusions masked by a forward-backward check; values "
                                          "in [0, 1], means over pairs, then over sequences"}
             if per_sequence else {})
    return {"models": models, "skipped": skipped, "images_evaluated": len(blurry), **extra,
            "metrics": f"scikit-image on the images as stored (8- or 16-bit, grey or RGB, alpha "
                       f"not scored): PSNR (peak 255 or 65535 by bit depth, whole image, capped at "
                       f"{metrics.PSNR_CAP:g} dB); SSIM (Gaussian σ=1.5, K1 0.01, K2 0.03, "
                       f"population covariance, per channel averaged; not defined below "
                       f"{metrics.SSIM_WINDOW}×{metrics.SSIM_WINDOW})"}


def format_table(summary):
    flicker = "warping_error_per_sequence" in summary
    lines = [f"{'model':24s} {'precision':16s} {'PSNR':>7s} {'SSIM':>7s} {'ΔPSNR':>7s} "
             f"{'s/image':>8s}" + (f" {'E_warp×1e3':>10s}" if flicker else "")
             + "  release's published figure (GoPro test)"]

    def number(value, spec, width=7):
        return f"{'n/a':>{width}s}" if value is None else format(value, spec)
    for name, m in summary["models"].items():
        published = ("%.2f / %.4f" % tuple(m["published_gopro"])) if m["published_gopro"] else ""
        e_warp = m["warping_error"] * 1e3 if m.get("warping_error") is not None else None
        lines.append(f"{name[:24]:24s} {m['precision']:16s} {number(m['psnr'], '7.2f')} "
                     f"{number(m['ssim'], '7.4f')} "
                     f"{number(m['delta_psnr_vs_blurry'], '+7.2f')} "
                     f"{m['seconds_per_image']:8.3f}"
                     + (f" {number(e_warp, '10.3f', 10)}" if flicker else "") + f"  {published}")
    if flicker:
        lines.append(f"{'sharp frames':24s} {'':16s} {'':7s} {'':7s} {'':7s} {'':8s} "
                     f"{summary['warping_error_sharp'] * 1e3:10.3f}")
    count = summary["images_evaluated"]
    notes = [f"{count} image{'s' * (count != 1)} in every PSNR mean"]
    capped = {n: m["psnr_at_cap"] for n, m in summary["models"].items() if m["psnr_at_cap"]}
    if capped:
        notes.append(f"PSNR capped at {metrics.PSNR_CAP:g} dB for " + ", ".join(
            f"{k} of {name}" for name, k in capped.items()))
    ssim_counts = {m["ssim_images"] for m in summary["models"].values()}
    if ssim_counts != {count}:
        notes.append(f"SSIM over {', '.join(map(str, sorted(ssim_counts)))} of them (not defined "
                     f"below {metrics.SSIM_WINDOW}×{metrics.SSIM_WINDOW})")
    if summary["skipped"]:
        notes.append(f"{len(summary['skipped'])} skipped (unreadable)")
    if flicker:
        notes.append(f"E_warp: Lai et al.'s warping error (flicker, lower is steadier), mean over "
                     f"{len(summary['warping_error_per_sequence'])} sequence(s)")
    lines.append("; ".join(notes))
    lines += [f"{name}: {m['source']}" for name, m in summary["models"].items()
              if m["source"].startswith("non-blind")]
    return "\n".join(lines)


def comparison_strip(panels, height=256):
    """Panels side by side, each scaled to `height` px, with its name and PSNR written on it.

    panels: (label, uint8/uint16 H×W×C image, PSNR or None); shown as 8-bit RGB."""
    from PIL import Image, ImageDraw
    tiles = []
    for label, image, psnr in panels:
        h, w = image.shape[:2]
        tile = Image.fromarray(to_rgb8(image)).resize((max(1, round(w * height / h)), height))
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
        json.dump(summary, f, indent=1, allow_nan=False)
    plot_psnr(rows, os.path.join(output_dir, "psnr_per_image.png"))


def plot_psnr(rows, path):
    """Scatter of each model's per-image PSNR against the blurry input's, with y = x (PSNR at
    the 100 dB cap where an image is restored exactly)."""
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
    if blurry:   # an empty legend is a matplotlib warning on the console
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":   # python -m srn_tf.evaluate_lib: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.evaluate_lib"))
