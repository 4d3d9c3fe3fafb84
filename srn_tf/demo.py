"""A local web page for trying SRN: drop a photo or a short clip, compare before and after.

  srn-demo                       # http://127.0.0.1:7860, weights from checkpoints/
  srn-demo --checkpoints_dir=my_weights --host=0.0.0.0 --port=8080

A Gradio page (https://www.gradio.app). The weights are picked from what `--checkpoints_dir`
holds: `.keras` files (`x.keras`, a training run's `<run>/model.keras`) and the original release's
checkpoint folders (`<name>/checkpoint`, the type detected from the variables). A photo goes
through deblur.py's own path (`srn_tf.image_io.read_file`, `srn_tf.deblur_lib.deblur_decoded`,
`srn_tf.image_io.write_image`), so the full-size download is the file deblur.py writes for the
same photo and weights, byte for byte: same bit depth, alpha, ICC profile, and every frame of an
animated GIF/APNG/WebP. A video goes through `srn_tf.video.deblur_video`, as in deblur.py. Bad
files and weights get the command line's messages. Uploads, results and Gradio's cache live in one temporary folder, removed on
exit; nothing else is read or written on a visitor's behalf.
"""

import dataclasses
import glob
import html
import os
import shutil
import signal
import tempfile
import threading
import time

import numpy as np

from srn_tf import metrics, runtimes, video, video_io
from srn_tf.convert import RUN_CONFIG_FILE, WEIGHTS_ADVICE, is_tf1_checkpoint, load_model
from srn_tf.deblur_lib import deblur_decoded
from srn_tf.errors import error_message
from srn_tf.image_io import image_extensions, read_file, read_image, to_rgb8, write_image
from srn_tf.restore import PRECISIONS
from srn_tf.tiling import DEFAULT_MEMORY_BUDGET, DEFAULT_OVERLAP, plan_tiles
from srn_tf.model import model_type_of

DEFAULT_MAX_UPLOAD_MB = 100
VIDEO_BATCH_SIZE = 4      # deblur.py's --batch_size default
# Tiling choices of the page → `tile` of `srn_tf.deblur` (None: chosen from the memory budget).
TILING = {"auto (whole up to 1280×720 pixels, tiles above)": None, "whole image": 0,
          "256 × 256 tiles": 256, "512 × 512 tiles": 512, "1024 × 1024 tiles": 1024}
CSS = "#error b { color: var(--error-text-color, #b91c1c); }"


def upload_types():
    """Gradio `file_types` of the image boxes: every extension Pillow reads, and any file whose
    name says image/* (e.g. .heic without its plugin), which the page then names with the
    reader's reason rather than Gradio's list of extensions."""
    return list(image_extensions()) + ["image"]


def find_weights(checkpoints_dir):
    """Weights under `checkpoints_dir`, as paths relative to it, sorted.

    `.keras` files directly in it or one folder down (a `train.py` run's `<run>/model.keras`), and
    folders holding an original release checkpoint (a `checkpoint` state file; training runs'
    own checkpoints, next to their `config.json`, are left out: their `model.keras` is listed).
    """
    found = [os.path.relpath(p, checkpoints_dir) for pattern in ("*.keras", "*/*.keras")
             for p in glob.glob(os.path.join(glob.escape(checkpoints_dir), pattern))]
    found += [name for name in os.listdir(checkpoints_dir)
              if is_tf1_checkpoint(os.path.join(checkpoints_dir, name))
              and not os.path.exists(os.path.join(checkpoints_dir, name, RUN_CONFIG_FILE))]
    return sorted(found)


def no_weights_message(checkpoints_dir):
    """The page's message when `checkpoints_dir` holds no weights: the commands' advice, and
    where the page looks (`srn-demo --checkpoints_dir=FOLDER`)."""
    return (f"no weights in {checkpoints_dir}. {WEIGHTS_ADVICE}. Put them in {checkpoints_dir}, "
            "or start the demo with --checkpoints_dir=FOLDER, then reload the page")


@dataclasses.dataclass
class Result:
    """What one run gives the page: `before`/`after` (uint8 RGB for the slider, images only: the
    first frame of an animated one) or `video` (a path), the full-size `output_path` to download,
    and `summary` (Markdown)."""
    summary: str
    output_path: str
    before: np.ndarray = None
    after: np.ndarray = None
    video: str = None


class Deblurrer:
    """The page's work, without the page: loads the chosen weights (one model kept) and deblurs
    uploads into a folder of its own.

    Args:
      checkpoints_dir: where the weights are listed from (`find_weights`).
      work_dir: folder for the results (each run gets a subfolder).
    """

    def __init__(self, checkpoints_dir, work_dir):
        self.checkpoints_dir = checkpoints_dir
        self.work_dir = work_dir
        self._lock = threading.Lock()
        self._loaded = (None, None)     # ((path, mtime), model)
        self._traced = set()            # (choice, mtime, how it ran) run at least once

    def weights_choices(self):
        """`find_weights` of the checkpoints folder; [] when it does not exist."""
        return find_weights(self.checkpoints_dir) if os.path.isdir(self.checkpoints_dir) else []

    def model(self, choice):
        """The model of a `weights_choices()` entry, loaded once (again when the file changes).

        Raises CheckpointError (a ValueError) as `srn_tf.load_model` does, or ValueError when
        `choice` is not one of the listed weights.
        """
        if not choice:
            raise ValueError(no_weights_message(self.checkpoints_dir))
        if choice not in self.weights_choices():
            raise ValueError(f"no weights {choice} in {self.checkpoints_dir}; pick one of the list "
                             "(press ↻ rescan after adding weights)")
        path = os.path.join(self.checkpoints_dir, choice)
        key = (path, os.path.getmtime(path))
        with self._lock:
            if self._loaded[0] != key:
                self._loaded = (None, None)
                self._loaded = (key, load_model(path))
            return self._loaded[1]

    def run(self, upload, reference, choice, precision="auto", tiling=None, progress=None):
        """Deblurs an uploaded image or video.

        Args:
          upload: path of the image (any file `read_file` takes, animated ones too) or video
            (`video_io.is_video`).
          reference: path of a sharp image of the same size, or None; gives PSNR/SSIM (uint8, as
            `srn_tf.metrics`) of the input and of the result. Ignored for videos; refused for an
            animated image.
          choice: an entry of `weights_choices()`.
          precision: "auto" (`srn_tf.runtimes.choose`: bfloat16 where the CPU runs it natively,
            with the runtime fastest there), "float32" or "bfloat16"; the summary says which ran.
          tiling: a key of `TILING` (None: auto).
          progress: f(fraction, desc=...) or None.
        Returns:
          A `Result`; the image result is written as deblur.py writes it (`deblur_decoded`,
          `write_image`: the same PNG, byte for byte, for the same file, weights and tiling).
        Raises:
          ValueError with the command line's message (`srn_tf.errors.error_message`; for other
          ValueErrors, such as a VideoError, their text) for a bad file or bad weights, the
          upload's temporary path shortened to its file name. Other exceptions are bugs and pass.
        """
        progress = progress or (lambda *args, **kwargs: None)
        if not upload:
            raise ValueError("no file given: drop an image or a video on the upload box")
        try:
            return self._run(upload, reference, choice, precision, tiling, progress)
        except Exception as e:   # noqa: BLE001  (known failures become one message; bugs pass)
            message = error_message(e) or (str(e) if isinstance(e, ValueError) else None)
            if message is None:
                raise
            for path in (upload, reference):
                if path:
                    message = message.replace(path, os.path.basename(path))
            raise ValueError(message) from e

    def _run(self, upload, reference, choice, precision, tiling, progress):
        tile = TILING.get(tiling)
        path = runtimes.choose(precision=precision)
        options = {"tile": tile, "precision": path.precision, "runtime": path.runtime}
        ran = f"{path.precision} on {path.runtime}"
        progress(0.0, desc="loading weights")
        model = self.model(choice)
        model_type = model_type_of(model)
        model_line = (f"**model** {model_type}, {model.count_params():,} parameters, from "
                      f"`{choice}`")
        out_dir = tempfile.mkdtemp(prefix="run-", dir=self.work_dir)
        stem = os.path.splitext(os.path.basename(upload))[0]
        if video_io.is_video(upload):
            # Written as deblur.py writes into a folder: <stem> in the upload's container when
            # it holds the result, else .mp4 (the page plays .mp4 and .webm), else .mkv.
            progress(0.05, desc="deblurring")
            start = time.perf_counter()
            written = video.deblur_video(model, upload, out_dir + os.sep, VIDEO_BATCH_SIZE,
                                         **options)
            seconds = time.perf_counter() - start
            note = f"  \n**not kept** {written.not_kept}" if written.not_kept else ""
            return Result(summary=f"{model_line}  \n**time** {seconds:.2f} s for {written} "
                          f"({ran}){note}", output_path=written.path, video=written.path)
        progress(0.05, desc="reading the image")
        decoded = read_file(upload)
        blurry = decoded.frames[0]
        if reference and decoded.animated:
            raise ValueError(f"the image {upload} is animated ({len(decoded.frames)} frames): a "
                             "sharp reference is compared with a still image only; leave it out")
        sharp = read_image(reference) if reference else None
        if sharp is not None and (sharp.shape, sharp.dtype) != (blurry.shape, blurry.dtype):
            raise ValueError(f"the sharp reference {reference} is {sharp.shape} {sharp.dtype}, "
                             f"the image {upload} {blurry.shape} {blurry.dtype}: give a reference "
                             "of the same size, channels and bit depth")
        progress(0.1, desc="deblurring")
        start = time.perf_counter()
        deblurred = deblur_decoded(video.frame_restorer(model, **options), model_type, decoded,
                                   upload)
        seconds = time.perf_counter() - start
        restored = deblurred.frames[0]
        height, width = blurry.shape[:2]
        tiles = (tile, tile) if tile else (
            (0, 0) if tile == 0 else plan_tiles(height, width, DEFAULT_MEMORY_BUDGET,
                                                DEFAULT_OVERLAP))
        how = "whole image" if not any(tiles) else f"tiles of {tiles[0]}×{tiles[1]}"
        first = (choice, os.path.getmtime(os.path.join(self.checkpoints_dir, choice)), ran)
        note = "" if first in self._traced else "; the first run also builds TensorFlow's graph"
        self._traced.add(first)
        frames = (f"{len(decoded.frames)} frames of " if decoded.animated else "")
        lines = [model_line, f"**time** {seconds:.2f} s for {frames}{width}×{height} "
                             f"({ran}, {how}{note})"]
        if decoded.animated:
            lines.append("every frame is in the download (an animated PNG); the slider shows "
                         "the first")
        if sharp is not None:
            progress(0.9, desc="PSNR/SSIM")
            lines.append(self._scores(blurry, restored, sharp))
        output = os.path.join(out_dir, f"{stem}_deblurred.png")
        write_image(output, deblurred)
        return Result(summary="  \n".join(lines), output_path=output,
                      before=to_rgb8(blurry), after=to_rgb8(restored))

    @staticmethod
    def _scores(blurry, restored, sharp):
        def scores(image):
            ssim = metrics.ssim(sharp, image)
            return (f"{metrics.psnr(sharp, image):.2f} dB / "
                    + ("n/a (smaller than SSIM's window)" if ssim is None else f"{ssim:.4f}"))
        return (f"**PSNR / SSIM** against the sharp reference: result {scores(restored)}, "
                f"input {scores(blurry)}")


def build_app(deblurrer, max_upload_mb=DEFAULT_MAX_UPLOAD_MB):
    """The Gradio page around a `Deblurrer`. Needs GRADIO_TEMP_DIR set before gradio is imported
    (`serve` does it)."""
    import gradio as gr

    choices = deblurrer.weights_choices()
    with gr.Blocks(title="srn-tf demo", analytics_enabled=False) as app:
        gr.Markdown("## srn-tf: SRN-DeblurNet (Tao et al., CVPR 2018)\nDrop a blurry photo or a "
                    f"short video (up to {max_upload_mb} MB), pick the weights, press *Deblur*.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="blurry photo or video", elem_id="upload",
                                 file_types=upload_types() + list(video_io.VIDEO_EXTENSIONS))
                reference = gr.File(label="sharp reference (optional: PSNR/SSIM)",
                                    elem_id="reference", file_types=upload_types())
                with gr.Row():
                    weights = gr.Dropdown(choices, value=choices[0] if choices else None,
                                          label=f"weights in {deblurrer.checkpoints_dir}",
                                          elem_id="weights", scale=4)
                    refresh = gr.Button("↻ rescan", elem_id="rescan", scale=1)
                here = runtimes.choose()
                precision = gr.Radio([runtimes.AUTO, *PRECISIONS], value=runtimes.AUTO,
                                     label=f"precision (auto: {here.precision} on "
                                           f"{here.runtime} on this CPU; float32: the "
                                           "release's exact path)", elem_id="precision")
                tiling = gr.Dropdown(list(TILING), value=next(iter(TILING)), label="tiling",
                                     elem_id="tiling")
                run = gr.Button("Deblur", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                summary = gr.Markdown(no_weights_message(deblurrer.checkpoints_dir)
                                      if not choices else "", elem_id="summary")
                slider = gr.ImageSlider(label="before | after", format="png", type="numpy",
                                        elem_id="slider", buttons=["fullscreen"])
                result_video = gr.Video(label="deblurred video", elem_id="video", visible=False)
                download = gr.File(label="full-size result", elem_id="download")

        def on_run(upload, reference, choice, precision, tiling,
                   progress=gr.Progress(track_tqdm=True)):
            try:
                result = deblurrer.run(upload, reference, choice, precision, tiling, progress)
            except ValueError as e:
                return (None, gr.update(value=None, visible=False), None,
                        f"<div id='error'><b>error:</b> {html.escape(str(e))}</div>")
            is_video = result.video is not None
            return (None if is_video else (result.before, result.after),
                    gr.update(value=result.video, visible=is_video),
                    result.output_path, result.summary)

        def on_rescan():
            found = deblurrer.weights_choices()
            return (gr.update(choices=found, value=found[0] if found else None),
                    "" if found else no_weights_message(deblurrer.checkpoints_dir))

        run.click(on_run, [upload, reference, weights, precision, tiling],
                  [slider, result_video, download, summary])
        refresh.click(on_rescan, [], [weights, summary])
    return app


def serve(checkpoints_dir="checkpoints", host="127.0.0.1", port=7860,
          max_upload_mb=DEFAULT_MAX_UPLOAD_MB):
    """Starts the page and blocks until interrupted; the temporary folder is removed at the end."""
    work_dir = tempfile.mkdtemp(prefix="srn_demo_")
    os.environ["GRADIO_TEMP_DIR"] = os.path.join(work_dir, "gradio")   # uploads, Gradio's cache
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        deblurrer = Deblurrer(checkpoints_dir, work_dir)
        app = build_app(deblurrer, max_upload_mb)
        try:
            app.queue().launch(server_name=host, server_port=port, quiet=True, css=CSS,
                               max_file_size=max_upload_mb * 2**20, prevent_thread_lock=True)
        except OSError as e:   # Gradio's words name its own settings, not this command's flags
            raise OSError(f"cannot listen on {host}:{port}: the port is taken or the address is "
                          "not one of this machine's; choose another --port or --host") from e
        found = len(deblurrer.weights_choices())
        print(runtimes.choose())   # the page's default, precision "auto"
        print(f"srn-tf demo on http://{host}:{port} ({found} weights in {checkpoints_dir}; "
              f"uploads up to {max_upload_mb} MB; temporary files in {work_dir}). Ctrl-C stops it.",
              flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        app.close()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(f"stopped; removed {work_dir}")


if __name__ == "__main__":   # python -m srn_tf.demo: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.demo"))
