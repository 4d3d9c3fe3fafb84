"""The web demo (srn_tf/demo.py): its work without the page, and the page in headless Chromium.

The browser test needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and is
skipped, saying so, without them. Screenshots of the page go to $SRN_DEMO_SCREENSHOTS, or to the
test's temporary folder.
"""

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import imageio_ffmpeg
import numpy as np
import pytest
import skimage
from PIL import Image
from skimage import data as skimage_data

import srn_tf
from conftest import ROOT, near_identity_model
from srn_tf import demo, metrics, runtimes
from srn_tf.image_io import ImageReadError, read_image, write_png


def _photo(path):
    """A real photo (scikit-image's chelsea) at 150×226: not a multiple of 16 either way."""
    image = skimage_data.chelsea()[::2, ::2]
    Image.fromarray(image).save(path)
    return image


def _without_addresses(text):
    """`text` with object addresses (0x7f…), which differ from one decode to the next, as 0x."""
    return re.sub(r"0x[0-9a-f]+", "0x", text)


def _library_message(path):
    """The message `read_image` (the command line's reader) gives for `path`, with the file's
    folder left out, as the page shows it (object addresses dropped)."""
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    return _without_addresses(str(caught.value).replace(str(path), os.path.basename(path)))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A checkpoints folder holding one small .keras model with image-like outputs."""
    folder = tmp_path_factory.mktemp("checkpoints")
    near_identity_model("color").save(folder / "small.keras")
    return folder


def test_find_weights_lists_keras_files_runs_and_release_folders(tmp_path):
    (tmp_path / "a.keras").write_bytes(b"")
    (tmp_path / "train_color").mkdir()
    for name in ("model.keras", "config.json", "checkpoint"):     # a train.py run
        (tmp_path / "train_color" / name).write_bytes(b"")
    (tmp_path / "lstm").mkdir()
    (tmp_path / "lstm" / "checkpoint").write_bytes(b"")            # a release checkpoint folder
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_bytes(b"")
    assert demo.find_weights(str(tmp_path)) == ["a.keras", "lstm", "train_color/model.keras"]


def test_errors_have_the_command_lines_words(checkpoints, tmp_path):
    deblurrer = demo.Deblurrer(str(checkpoints), str(tmp_path))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    with pytest.raises(ValueError) as caught:
        deblurrer.run(str(corrupt), None, "small.keras")
    assert _without_addresses(str(caught.value)) == _library_message(corrupt)

    bad = tmp_path / "weights"
    bad.mkdir()
    (bad / "broken.keras").write_bytes(b"junk")
    with pytest.raises(srn_tf.CheckpointError) as expected:
        srn_tf.load_model(bad / "broken.keras")
    with pytest.raises(ValueError) as caught:
        demo.Deblurrer(str(bad), str(tmp_path)).run(str(corrupt), None, "broken.keras")
    assert str(caught.value) == str(expected.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError) as caught:
        demo.Deblurrer(str(empty), str(tmp_path)).run(str(corrupt), None, None)
    message = str(caught.value)   # the commands' advice, in the page's terms (no --weights flag)
    assert str(empty) in message and "srn-train" in message and "--checkpoints_dir" in message
    assert "--weights" not in message

    with pytest.raises(ValueError, match="pick one of the list"):   # only listed weights load
        deblurrer.run(str(corrupt), None, "../elsewhere.keras")


@pytest.mark.slow
def test_reference_gives_psnr_and_ssim(checkpoints, tmp_path):
    blurry = _photo(tmp_path / "photo.png")
    sharp = np.clip(blurry.astype(int) + 9, 0, 255).astype(np.uint8)
    Image.fromarray(sharp).save(tmp_path / "sharp.png")
    result = demo.Deblurrer(str(checkpoints), str(tmp_path)).run(
        str(tmp_path / "photo.png"), str(tmp_path / "sharp.png"), "small.keras")
    restored = read_image(result.output_path)
    assert f"result {metrics.psnr(sharp, restored):.2f} dB / {metrics.ssim(sharp, restored):.4f}" \
        in result.summary
    assert f"input {metrics.psnr(sharp, blurry):.2f} dB" in result.summary
    assert "model** color, 6,881,251 parameters" in result.summary

    Image.fromarray(sharp[:64]).save(tmp_path / "small_sharp.png")
    with pytest.raises(ValueError, match="same size"):
        demo.Deblurrer(str(checkpoints), str(tmp_path)).run(
            str(tmp_path / "photo.png"), str(tmp_path / "small_sharp.png"), "small.keras")


def _bh23_inputs(folder):
    """BH-23's photo and its kind: {name: (path, ICC profile it carries or None)}.

    adobe.jpg: 96×64 saturated colours in Adobe RGB (1998), the profile of scikit-image's
    rocket.jpg (as cameras and editors write them); deep.png: 16-bit RGBA with that profile;
    scan.png: grey + alpha; shake.gif: 5 frames."""
    icc = Image.open(os.path.join(os.path.dirname(skimage.__file__), "data",
                                  "rocket.jpg")).info["icc_profile"]
    y, x = np.mgrid[0:64, 0:96]
    pixels = np.stack([x * 255 // 95, 255 - y * 255 // 63, np.full_like(x, 40)],
                      axis=2).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "adobe.jpg", quality=95, icc_profile=icc)
    deep = np.concatenate([pixels.astype(np.uint16) * 257 + 100,
                           (y * 1000).astype(np.uint16)[:, :, None]], axis=2)
    write_png(str(folder / "deep.png"), deep, icc)   # the writer its own test checks
    Image.fromarray(np.stack([pixels[:, :, 0], pixels[:, :, 1]], 2), "LA").save(folder / "scan.png")
    frames = [Image.fromarray(np.roll(pixels, 8 * i, axis=1)) for i in range(5)]
    frames[0].save(folder / "shake.gif", save_all=True, append_images=frames[1:], duration=90,
                   loop=0)
    return {"adobe.jpg": icc, "deep.png": icc, "scan.png": None, "shake.gif": None}


@pytest.mark.slow
def test_download_is_deblur_pys_file_byte_for_byte(checkpoints, tmp_path):
    """BH-23: the page's full-size download for a photo is the very file deblur.py writes for it
    with the same weights: the input's ICC profile (Adobe RGB: not dropped), its alpha, its bit
    depth (16-bit stays 16-bit) and every frame of an animated GIF."""
    from srn_tf.deblur_lib import deblur_files
    profiles = _bh23_inputs(tmp_path)
    deblurrer = demo.Deblurrer(str(checkpoints), str(tmp_path))
    model = deblurrer.model("small.keras")          # one model for both: one graph to trace
    for name, icc in profiles.items():
        result = deblurrer.run(str(tmp_path / name), None, "small.keras")
        written, skipped, _ = deblur_files(model, str(tmp_path / name), str(tmp_path / "cli"))
        assert not skipped
        with open(result.output_path, "rb") as download, open(written[0], "rb") as cli:
            assert download.read() == cli.read(), name
        out = Image.open(result.output_path)
        assert out.info.get("icc_profile") == icc, name
        if name == "adobe.jpg":   # BH-23's check: the profile's own description
            from PIL import ImageCms
            assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(
                io.BytesIO(out.info["icc_profile"]))).strip() == "Adobe RGB (1998)"
        if name == "deep.png":
            restored = read_image(result.output_path)
            assert restored.dtype == np.uint16 and restored.shape == (64, 96, 4)
            np.testing.assert_array_equal(restored[:, :, 3], read_image(tmp_path / name)[:, :, 3])
        if name == "scan.png":
            assert out.mode == "LA"
            np.testing.assert_array_equal(np.asarray(out)[:, :, 1],
                                          np.asarray(Image.open(tmp_path / name))[:, :, 1])
        if name == "shake.gif":
            assert out.n_frames == 5 and out.info["duration"] == 90
            assert "5 frames of 96×64" in result.summary and "every frame" in result.summary
            assert result.before.shape == result.after.shape == (64, 96, 3)
    with pytest.raises(ValueError, match="shake.gif is animated.*still image only"):
        deblurrer.run(str(tmp_path / "shake.gif"), str(tmp_path / "adobe.jpg"), "small.keras")


def test_uploads_take_every_format_pillow_reads():
    """The upload boxes offer Pillow's extensions (.avif, .jfif, …) and any image/* file (a .heic
    without its plugin, a camera raw), which the reader then names with the reason."""
    types = demo.upload_types()
    assert {".avif", ".jfif", ".png", ".jpg", ".webp", ".tif"} <= set(types) and "image" in types


@pytest.mark.slow
def test_video_goes_through_deblur_video(checkpoints, tmp_path):
    clip = str(tmp_path / "clip.mp4")
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(3)]
    writer = imageio_ffmpeg.write_frames(clip, (64, 48), fps=10, macro_block_size=1)
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()
    result = demo.Deblurrer(str(checkpoints), str(tmp_path)).run(clip, None, "small.keras")
    # named as deblur.py names a video written into a folder
    assert result.video == result.output_path and result.output_path.endswith("/clip.mp4")
    reader = imageio_ffmpeg.read_frames(result.output_path)
    assert next(reader)["size"] == (64, 48)
    assert len(list(reader)) == 3
    ran = runtimes.choose()   # the page's default, auto: what this machine runs fastest
    assert f"for 3 frames at 10 fps ({ran.precision} on {ran.runtime})" in result.summary


# ---------------------------------------------------------------------------- in a real browser

def _browser_paths():
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    return browser, shutil.which("chromedriver")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(checkpoints):
    """`srn-demo` (python -m srn_tf.commands.demo) on a free port, uploads limited to 1 MB; yields (url, process)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "srn_tf.commands.demo", f"--checkpoints_dir={checkpoints}",
         f"--port={port}", "--max_upload_mb=1"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env={**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
             "CUDA_VISIBLE_DEVICES": ""})   # the command's own quiet start-up
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the demo did not start: {process.stdout.read()}")
            time.sleep(0.5)
    yield url, process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    browser_path, driver_path = _browser_paths()
    if not (browser_path and driver_path):
        pytest.skip("the browser test needs Chromium and its driver (Debian: apt-get install "
                    "chromium chromium-driver; .ci/run installs them): not found on PATH")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# The upload box once the file is on the server: its name, and a link to the server's copy.
UPLOADED = "#upload td.filename[aria-label='{}'] ~ td a[href]"


def _fetch_png(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())))


@pytest.mark.slow
def test_page_in_chromium(server, browser, checkpoints, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    url, process = server
    # nothing from TensorFlow or Gradio before them: the page's default path, then the address
    assert process.stdout.readline() == ("network: float32 on keras (TensorFlow), the fastest "
                                         "accurate path for this CPU (no avx512_bf16 or "
                                         "amx_bf16)\n")
    first_line = process.stdout.readline()
    assert first_line.startswith(f"srn-tf demo on {url[:-1]} (1 weights in "), first_line
    work_dir = re.search(r"temporary files in (\S+)\)", first_line).group(1)
    shots = os.environ.get("SRN_DEMO_SCREENSHOTS") or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
    wait = WebDriverWait(browser, 60)

    def open_and_upload(path):
        browser.get(url)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]")))
        return browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]")

    photo_path = tmp_path / "cat.png"
    photo = _photo(photo_path)
    file_input = open_and_upload(photo_path)
    wait.until(ec.text_to_be_present_in_element_attribute((By.CSS_SELECTOR, "#weights input"),
                                                          "value", "small.keras"))
    browser.save_screenshot(os.path.join(shots, "demo_before.png"))
    file_input.send_keys(str(photo_path))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, UPLOADED.format("cat.png"))))
    browser.find_element(By.ID, "run").click()
    link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#download a[href]")))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(os.path.join(shots, "demo_after.png"))

    expected = srn_tf.deblur(srn_tf.load_model(checkpoints / "small.keras"), read_image(photo_path))
    assert f"/gradio_api/file={work_dir}/" in link.get_attribute("href")
    downloaded = _fetch_png(link.get_attribute("href"))
    assert downloaded.shape == photo.shape == (150, 226, 3)
    assert np.array_equal(downloaded, expected)
    before, after = [_fetch_png(img.get_attribute("src"))
                     for img in browser.find_elements(By.CSS_SELECTOR, "#slider img")]
    assert np.array_equal(before[..., :3], photo) and np.array_equal(after[..., :3], expected)
    summary = browser.find_element(By.ID, "summary").text
    assert re.search(r"model color, 6,881,251 parameters, from\s+small.keras", summary), summary
    ran = runtimes.choose()
    assert re.search(rf"time \d+\.\d\d s for 226×150 \({ran.precision} on {ran.runtime}, whole "
                     r"image; the first run also builds TensorFlow's graph\)", summary), summary

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    open_and_upload(corrupt).send_keys(str(corrupt))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, UPLOADED.format("corrupt.png"))))
    browser.find_element(By.ID, "run").click()
    error = wait.until(ec.presence_of_element_located((By.ID, "error")))
    assert _without_addresses(error.text) == "error: " + _library_message(corrupt)
    browser.save_screenshot(os.path.join(shots, "demo_error.png"))

    big = tmp_path / "big.png"          # over the 1 MB limit: refused by the page and the server
    big.write_bytes(os.urandom(1_100_000))
    open_and_upload(big).send_keys(str(big))
    assert wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".toast-body.error"),
                                                       "exceed the maximum allowed size"))
    request = urllib.request.Request(url + "gradio_api/upload", method="POST", headers={
        "Content-Type": "multipart/form-data; boundary=b"}, data=b"--b\r\nContent-Disposition: "
        b'form-data; name="files"; filename="big.png"\r\n\r\n' + big.read_bytes() + b"\r\n--b--\r\n")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    for outside in (checkpoints / "small.keras", photo_path):   # files it did not write: refused
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}gradio_api/file={outside}", timeout=10)
        assert refused.value.code == 403

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert not os.path.exists(work_dir)
