"""Video files through ffmpeg (the one bundled with imageio-ffmpeg): what a file is, how its frames
are read and written so that the result is the same video in every property a player uses.

* `is_video(path)`: any file ffmpeg reads as a video is one, whatever its extension; images stay
  images.
* `probe(path)` → `VideoInfo`: timing, size as shown (rotation applied), sample aspect ratio,
  field order, pixel format and bit depth, the colour description (matrix, primaries, transfer,
  range) and HDR metadata, read from ffmpeg's description of the file and of its first decoded
  frame (`showinfo`).
* `coding(output_path, info)` → `Coding`: the one place that decides how frames go through ffmpeg
  both ways (RGB pipe of 8 or 16 bits; the input's matrix and range for YUV→RGB and back; the
  container's encoder, pixel format, tags, sample aspect ratio, field order, HDR metadata) and
  what cannot be kept. The pre-flight check (`check_output`), the `Decoder` and the `Encoder` all
  take it.
* `Decoder` and `Encoder`: ffmpeg processes read and fed by their own threads through bounded
  queues, so that decoding and encoding overlap the network while memory stays flat.
* `verify(path, ...)`: a written file reads back with the frames and duration expected.

Every path goes to ffmpeg as `file:<absolute path>`, so that no file name is taken for a protocol
("Talk: part 1.mp4") or an option ("-clip.mp4").
"""

import dataclasses
import fractions
import functools
import logging
import os
import queue
import re
import subprocess
import tempfile
import threading

import numpy as np

from srn_tf.errors import VideoError, disk_full_message
from srn_tf.image_io import image_extensions, ordinary_mode

log = logging.getLogger(__name__)

# Extensions taken for videos without looking inside; other files that are not images are
# probed (`is_video`).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".ts",
                    ".3gp", ".3g2", ".wmv", ".asf", ".flv", ".f4v", ".mpg", ".mpeg", ".m2v",
                    ".vob", ".ogv", ".mxf", ".dv", ".y4m")

# The containers results are written in: extension → (encoder of 8-bit video, encoder of 10- and
# 12-bit video or None). WebM takes only VP8/VP9/AV1; the others H.264 and HEVC (HDR phones and
# cameras record HEVC Main 10).
CONTAINERS = {**{ext: ("libx264", "libx265")
                 for ext in (".mp4", ".m4v", ".mov", ".mkv", ".ts", ".mts", ".m2ts")},
              ".webm": ("libvpx-vp9", "libvpx-vp9"), ".avi": ("libx264", None)}
_APPLE = (".mp4", ".m4v", ".mov")   # HEVC tagged hvc1, as Apple's players require

# Colour matrices (ffmpeg's colorspace tag → the name ffmpeg's scaler takes)
_SCALER_MATRICES = {"bt709": "bt709", "fcc": "fcc", "bt470bg": "bt470", "smpte170m": "smpte170m",
                    "smpte240m": "smpte240m", "bt2020nc": "bt2020"}
_UNTAGGED = (None, "unknown", "unspecified", "reserved")
_RGB_FORMATS = ("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "x2rgb", "x2bgr", "pal8")

WAIT_LIMIT = 600   # seconds: the longest ffmpeg may take for one frame, either way

_END = object()    # the end of a frame queue


def _exe():
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_path(path):
    """`path` as ffmpeg must be given a local file: `file:` and the absolute path, so that no
    name is read as a protocol (`Talk: part 1.mp4`) or an option (`-v.mp4`)."""
    return "file:" + os.path.abspath(os.fspath(path))


def run_ffmpeg(*args, timeout=WAIT_LIMIT):
    """Runs ffmpeg with `args`; returns (exit status, stdout text, stderr text). Raises
    VideoError when it runs longer than `timeout` seconds."""
    try:
        result = subprocess.run([_exe(), "-hide_banner", "-nostdin", *args],
                                capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        files = [a[len("file:"):] for a in args if str(a).startswith("file:")]
        raise VideoError(f"ffmpeg did not finish within {timeout} s on {', '.join(files)}; the "
                         "file may be damaged") from e
    return result.returncode, result.stdout, result.stderr


def ffmpeg_reason(text):
    """The first lines of ffmpeg's error output (run with -loglevel error), without the
    "[muxer @ 0x…]" prefixes."""
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", line).strip() for line in text.splitlines()]
    return " / ".join([line for line in lines if line][:2]) or "no reason given"


# ----------------------------------------------------------------------------------- is_video

def _image_extensions():
    return set(image_extensions()) - set(VIDEO_EXTENSIONS)


def is_video(path):
    """True when `path` is a video file.

    A name ending in one of `VIDEO_EXTENSIONS` is a video, one ending in an image extension (the
    project's or any Pillow reads) is not; any other existing file is a video when Pillow cannot
    open it and ffmpeg finds a video stream in it that is not a still image (`.mts`, `.m2ts`,
    `.3gp`, … under any name). A missing path is not a video (it is then reported as a missing
    image or folder).
    """
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension in VIDEO_EXTENSIONS:
        return True
    if extension in _image_extensions() or not os.path.isfile(path):
        return False
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path):
            return False
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    _, _, text = run_ffmpeg("-i", ffmpeg_path(path), timeout=60)
    found = re.search(r"^Input #0, ([^ ]+), from", text, re.M)
    still = found is not None and (found.group(1) == "image2" or found.group(1).endswith("_pipe"))
    return not still and any(_is_video_stream(line) for line in _input_lines(text))


# -------------------------------------------------------------------------------------- probe

@dataclasses.dataclass
class VideoInfo:
    """What `probe` reads of a video file (its first video stream).

    rate: the frame rate ffmpeg emits decoded frames at (its `tbr`; for variable-frame-rate files
      this is not the average `fps`), frames per second as a Fraction (NTSC rates exact).
    average_rate: frames per second over the whole file (ffmpeg's `fps`), as a float.
    size: (width, height) in pixels as shown: the rotation of the file's display matrix applied
      (ffmpeg's autorotate, which the decoder applies too).
    duration: seconds, from the container header (0 when unknown).
    other_streams: ffmpeg's lines for the streams that are not the first video stream (audio,
      subtitles, data, further video such as cover art), which the output keeps.
    codec: ffmpeg's name of the video codec ("h264", "hevc", …).
    pixel_format: the decoded frames' pixel format ("yuv420p", "yuv420p10le", …); depth: its bits
      per component (8, 10, 12, 16).
    color_range, matrix, primaries, transfer: the decoded frames' colour description, ffmpeg's
      names ("tv"/"pc"; "bt709", "bt2020nc", …; "bt709", "bt2020", …; "bt709", "smpte2084",
      "arib-std-b67", …), None where the file does not say.
    sample_aspect: the pixel aspect ratio players stretch by (Fraction; None when unknown).
    field_order: "tff" or "bff" for interlaced frames, None for progressive.
    rotation: degrees counter-clockwise of the display matrix (0 when none); the decoded frames
      and `size` are already upright.
    mastering: {"r", "g", "b", "wp": (x, y) chromaticities, "min", "max": cd/m²} of HDR mastering
      display metadata, or None; light: (MaxCLL, MaxFALL) cd/m², or None.
    dolby_vision: True when the stream carries a Dolby Vision configuration.
    """
    rate: fractions.Fraction
    average_rate: float
    size: tuple
    duration: float
    other_streams: list
    codec: str = ""
    pixel_format: str = "yuv420p"
    depth: int = 8
    color_range: str = None
    matrix: str = None
    primaries: str = None
    transfer: str = None
    sample_aspect: fractions.Fraction = None
    field_order: str = None
    rotation: float = 0.0
    mastering: dict = None
    light: tuple = None
    dolby_vision: bool = False


def _is_video_stream(line):
    """True for ffmpeg's line of a video stream that is not a cover picture (its `V`)."""
    return ": Video: " in line and "(attached pic)" not in line


def _stream_block(lines, stream):
    """The lines of ffmpeg's description from the stream line `stream` to the next stream."""
    stripped = [line.strip() for line in lines]
    start = stripped.index(stream)
    end = next((i for i in range(start + 1, len(lines)) if stripped[i].startswith("Stream #")),
               len(lines))
    return "\n".join(lines[start:end])


def _input_lines(text):
    """The lines of ffmpeg's description of its input (before "Stream mapping" / "Output #0")."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("Stream mapping:", "Output #")):
            break
        lines.append(line)
    return lines


def _exact_rate(value):
    """A rate as ffmpeg prints it (2 decimals) → Fraction; 29.97 → 30000/1001 and the like."""
    rate = fractions.Fraction(value).limit_denominator(1000)
    ntsc = round(value * 1.001)
    if ntsc and abs(value - ntsc / 1.001) < 0.006 and abs(value - ntsc) > 0.006:
        return fractions.Fraction(ntsc * 1000, 1001)
    return rate


def _rate(line, unit):
    found = re.search(rf"([\d.]+)(k?) {unit}\b", line)
    return float(found.group(1)) * (1000 if found.group(2) else 1) if found else None


@functools.lru_cache(maxsize=None)
def _pixel_depths():
    """{pixel format: bits of its deepest component}, from `ffmpeg -pix_fmts`."""
    _, listing, _ = run_ffmpeg("-pix_fmts", timeout=60)
    depths = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 5 and re.fullmatch(r"\d+(-\d+)*", fields[4]):
            depths[fields[1]] = max(int(d) for d in fields[4].split("-"))
    return depths


def _chromaticity(name, text):
    found = re.search(rf"\b{name}\(([\d.]+)[, ]\s*([\d.]+)\)", text)
    return (float(found.group(1)), float(found.group(2))) if found else None


def _mastering(text):
    found = re.search(r"Mastering display metadata: (.*)", text, re.I)
    if not found or "has_primaries:1" not in found.group(1):
        return None
    line = found.group(1)
    points = {k: _chromaticity(k, line) for k in ("r", "g", "b", "wp")}
    low = re.search(r"min_luminance=([\d.]+)", line)
    high = re.search(r"max_luminance=([\d.]+)", line)
    if None in points.values() or not (low and high) or "has_luminance:1" not in line:
        return None
    return {**points, "min": float(low.group(1)), "max": float(high.group(1))}


def probe(path):
    """VideoInfo of the video file `path` (str or os.PathLike).

    One ffmpeg run describes the file and decodes its first frame (`showinfo`): a file whose
    first frame cannot be decoded is refused here. Raises VideoError when ffmpeg finds no video
    stream or cannot decode it.
    """
    _, _, text = run_ffmpeg("-i", ffmpeg_path(path), "-map", "0:V:0?", "-frames:v", "1",
                            "-vf", "showinfo", "-f", "null", "-")
    described = _input_lines(text)
    streams = [line.strip() for line in described if line.strip().startswith("Stream #")]
    video = next((line for line in streams if _is_video_stream(line)), None)
    if video is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise VideoError(f"cannot read video {path}: ffmpeg finds no video stream ({last})")
    frame = re.search(r"\bn:\s*0 .*?fmt:(\S+).*?sar:(\d+)/(\d+) s:(\d+)x(\d+) i:(\w)", text)
    if frame is None:
        log.info("ffmpeg on %s: %s", path, text)
        raise VideoError(f"cannot read video {path}: truncated or not a video ffmpeg can decode")
    # the first frame's side data and colour lines come before the second frame's line
    first = text[frame.end():]
    second = re.search(r"\] n:\s*\d", first)
    first = first[:second.start()] if second else first
    colour = dict(re.findall(r"\b(color_range|color_space|color_primaries|color_trc):(\S+)",
                             first))
    tag = {k: (None if v in _UNTAGGED else v) for k, v in colour.items()}
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", "\n".join(described))
    side = _stream_block(described, video)
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", side)
    light = re.search(r"MaxCLL=(\d+), MaxFALL=(\d+)", first)
    average = _rate(video, "fps")
    tbr = _rate(video, "tbr")
    sar = fractions.Fraction(int(frame.group(2)), int(frame.group(3))) \
        if int(frame.group(2)) and int(frame.group(3)) else None
    return VideoInfo(
        rate=_exact_rate(tbr or average or 25.0), average_rate=average or tbr or 25.0,
        size=(int(frame.group(4)), int(frame.group(5))),
        duration=(int(duration.group(1)) * 3600 + int(duration.group(2)) * 60
                  + float(duration.group(3))) if duration else 0.0,
        other_streams=[line for line in streams if line != video],
        codec=re.search(r": Video: (\w+)", video).group(1),
        pixel_format=frame.group(1), depth=_pixel_depths().get(frame.group(1), 8),
        color_range=tag.get("color_range"), matrix=tag.get("color_space"),
        primaries=tag.get("color_primaries"), transfer=tag.get("color_trc"),
        sample_aspect=sar, field_order={"T": "tff", "B": "bff"}.get(frame.group(6)),
        rotation=float(rotation.group(1)) if rotation else 0.0, mastering=_mastering(first),
        light=(int(light.group(1)), int(light.group(2))) if light else None,
        dolby_vision="DOVI configuration" in side)


# ------------------------------------------------------------------------------------- coding

@dataclasses.dataclass
class Coding:
    """How one input's frames go through ffmpeg into one output file (`coding`).

    pipe_format: the raw frames between ffmpeg and the network: "rgb24" (uint8 [H, W, 3]) or
      "rgb48le" (uint16 [H, W, 3], for inputs of more than 8 bits kept deep).
    decode_filter, encode_filter: ffmpeg filter chains YUV → RGB (the input's matrix and range)
      and RGB → YUV (the same matrix and range, the output pixel format, colour tags, sample
      aspect ratio, field order).
    encoder_args: ffmpeg output options of the video stream (codec, quality, codec parameters).
    lost: what of the input's description the output cannot keep, one phrase each (empty when
      everything is kept).
    """
    pipe_format: str
    decode_filter: str
    encode_filter: str
    encoder_args: list
    lost: list

    @property
    def dtype(self):
        return np.dtype("<u2") if self.pipe_format == "rgb48le" else np.dtype(np.uint8)


def _matrix(info):
    """(the scaler's matrix, the colorspace tag written, a phrase of what is lost or None): the
    input's matrix; for an untagged (or RGB-coded) input the one players assume, BT.709 for HD
    (wider than 1024 or taller than 576 lines) and BT.601 below."""
    if info.matrix in _SCALER_MATRICES:
        return _SCALER_MATRICES[info.matrix], info.matrix, None
    width, height = info.size
    default = "bt709" if width > 1024 or height > 576 else "smpte170m"
    if info.matrix == "bt2020c":
        return "bt2020", "bt2020nc", ("its constant-luminance BT.2020 matrix becomes BT.2020 "
                                      "non-constant (the only one ffmpeg's scaler has)")
    if info.matrix in (None, "gbr"):
        return _SCALER_MATRICES[default], default, None
    return (_SCALER_MATRICES[default], default,
            f"its {info.matrix} colour matrix is read and written as {default} (ffmpeg's scaler "
            f"has no {info.matrix})")


def _x265_hdr(info):
    """x265 parameters of the input's HDR10 static metadata (ST 2086 units: chromaticities in
    1/50000, luminance in 1/10000 cd/m²)."""
    params = []
    if info.mastering:
        m = info.mastering
        xy = "".join(f"{key}({round(m[name][0] * 50000)},{round(m[name][1] * 50000)})"
                     for key, name in (("G", "g"), ("B", "b"), ("R", "r"), ("WP", "wp")))
        params.append(f"master-display={xy}L({round(m['max'] * 10000)},{round(m['min'] * 10000)})")
    if info.light:
        params.append(f"max-cll={info.light[0]},{info.light[1]}")
    return params


def coding(output_path, info):
    """The `Coding` of the video `info` (a `probe` result) into `output_path`, whose extension is
    one of `CONTAINERS`: the one place that decides codec, pixel format, pipe and filters, so the
    pre-flight check, the decoder and the encoder agree.

    Kept: the colour matrix and range (decoded to RGB and encoded back with the same matrix, so
    the colours a player shows are the input's; an untagged input gets the matrix players assume
    for its size, now tagged), the primaries and transfer tags, the sample aspect ratio, the
    rotation (frames are decoded upright and written upright, untagged: they show the same in
    every player), the field order of interlaced video (H.264), bit depths of 10 and 12 (HEVC
    Main 10/12, or VP9 profile 2 in WebM; the network runs on uint16 frames) and HDR10 mastering
    and light-level metadata (HEVC). What is not kept is listed in `lost`.
    """
    extension = os.path.splitext(output_path)[1].lower()
    codec8, deep_codec = CONTAINERS[extension]
    lost = []
    depth = 8
    if info.depth > 8 and deep_codec is None:
        lost.append(f"its {info.depth}-bit colour is written as 8-bit ({extension} takes no "
                    "deeper codec here; .mp4, .mkv and .webm keep it)")
    elif info.depth > 8:
        depth = 10 if info.depth <= 10 else 12
        if info.depth > 12:
            lost.append(f"its {info.depth}-bit colour is written as 12-bit, the most "
                        f"{deep_codec} takes")
    codec = codec8 if depth == 8 else deep_codec
    width, height = info.size
    chroma = "420" if width % 2 == 0 and height % 2 == 0 else "444"
    pixel_format = f"yuv{chroma}p" + (f"{depth}le" if depth > 8 else "")
    pipe_format = "rgb48le" if depth > 8 else "rgb24"
    matrix, matrix_tag, matrix_lost = _matrix(info)
    lost += [matrix_lost] if matrix_lost else []
    # RGB-coded video (PNG, QuickTime Animation, lossless RGB H.264...) is full range as RGB
    # is; its result is ordinary limited-range YUV
    rgb_coded = info.matrix == "gbr" or info.pixel_format.startswith(_RGB_FORMATS)
    in_range = None if rgb_coded else info.color_range
    out_range = in_range or "tv"
    decode = (f"scale=in_color_matrix={matrix}" + (f":in_range={in_range}" if in_range else "")
              + f",format={pipe_format}")
    tags = [f"colorspace={matrix_tag}", f"range={out_range}"]
    tags += [f"color_primaries={info.primaries}"] if info.primaries else []
    tags += [f"color_trc={info.transfer}"] if info.transfer else []
    args = ["-c:v:0", codec]   # ":v:0": the first video stream only, not copied cover art
    if codec == "libx264":
        args += ["-crf:v:0", "10"]
    elif codec == "libx265":
        params = ["log-level=error"] + _x265_hdr(info)
        args += ["-crf:v:0", "12", "-x265-params:v:0", ":".join(params)]
        args += ["-tag:v:0", "hvc1"] if extension in _APPLE else []
    else:
        args += ["-crf:v:0", "20", "-b:v:0", "0", "-row-mt:v:0", "1"]
    if info.field_order and codec == "libx264":
        tags.append(f"field_mode={info.field_order}")
        args += ["-flags:v:0", "+ildct+ilme"]
    elif info.field_order:
        lost.append(f"its interlaced frames are written as progressive frames ({codec} codes "
                    "no interlaced video here; .mp4 or .mkv of 8-bit video keep it)")
    if (info.mastering or info.light) and codec != "libx265":
        lost.append(f"its HDR mastering-display and light-level metadata ({codec} takes none "
                    "here; 10-bit video in .mp4 or .mkv keeps it)")
    if info.dolby_vision:
        lost.append("its Dolby Vision metadata (the base layer and its colour tags are kept)")
    if any(c in info.pixel_format for c in ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap")) \
            or info.pixel_format.startswith("ya"):
        lost.append("its alpha channel (transparency)")
    # 2×2 averages for 4:2:0 chroma, rounded: of ffmpeg's scaler flags, the ones whose round
    # trip (decode, encode, decode) moves edges (testsrc) and flat colours least
    encode = (f"scale=out_color_matrix={matrix}:out_range={out_range}:flags=area+accurate_rnd,"
              f"format={pixel_format},setparams={':'.join(tags)}")
    if info.sample_aspect:
        encode += f",setsar={info.sample_aspect.numerator}/{info.sample_aspect.denominator}"
    return Coding(pipe_format, decode, encode, args, lost)


# ---------------------------------------------------------------------- output file and check

def temporary_beside(path, tag):
    """A new empty file beside `path` (same folder and extension, hidden name, ordinary
    permissions, not mkstemp's 0600: it is renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{tag}-", suffix=os.path.splitext(path)[1],
                               dir=os.path.dirname(os.path.abspath(path)))
    os.fchmod(fd, ordinary_mode())
    os.close(fd)
    return tmp


def other_streams_args():
    """ffmpeg arguments that map the first video stream of input 0 and every stream of input 1
    but its first video stream (not a cover picture: `V`), i.e. audio, subtitles, cover art…,
    copied; options of the stream encoded name it `:v:0`."""
    return ["-map", "0:v:0", "-map", "1", "-map", "-1:V:0", "-c", "copy"]


def check_output(input_path, output_path, info):
    """The `Coding` of `input_path` (described by `info`) into `output_path`, after checking
    that the file can be written; called before the first frame is deblurred.

    Encodes one frame with that coding and the input's other streams into a file beside
    `output_path` (so the folder's permissions, the container's codec and stream support and
    free space for a start are all tried by ffmpeg itself) and removes it. Raises VideoError
    when `output_path` is the input, not a video container of `CONTAINERS`, or cannot be written.
    """
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise VideoError(f"refusing to overwrite the input video {input_path}; choose another "
                         "--output")
    if os.path.splitext(output_path)[1].lower() not in CONTAINERS:
        raise VideoError(f"--output {output_path} is not a video file name: use one of "
                         f"{', '.join(CONTAINERS)}, or a folder")
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    plan = coding(output_path, info)
    try:
        tmp = temporary_beside(output_path, "check")
    except OSError as e:
        raise VideoError(f"cannot write {output_path}: {e.strerror} in its folder") from e
    width, height = info.size
    try:
        status, _, text = run_ffmpeg(
            "-loglevel", "error", "-f", "lavfi",
            "-i", f"color=size={width}x{height}:rate={info.rate},format={plan.pipe_format}",
            "-i", ffmpeg_path(input_path), *other_streams_args(),
            "-filter:v:0", plan.encode_filter, *plan.encoder_args, "-frames:v", "1",
            "-t", "0.05", "-y", ffmpeg_path(tmp))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if status and "No space left on device" in text:
        raise VideoError(disk_full_message(output_path))
    if status:
        raise VideoError(f"cannot write {output_path} with the input's {len(info.other_streams)} "
                         f"other stream(s) (nothing was deblurred): ffmpeg says: "
                         f"{ffmpeg_reason(text)}. Choose another folder or extension (.mkv holds "
                         "any codec and stream)")
    return plan


def is_folder_name(output):
    """True when `output` names a folder: an existing one, a name ending in a path separator,
    or a name without extension (as for images)."""
    output = os.fspath(output)
    return (os.path.isdir(output) or output.endswith(("/", os.sep))
            or not os.path.splitext(os.path.basename(output))[1])


def choose_output(input_path, output, info):
    """(the output file, its `Coding`): `output` when it names a file; in a folder
    `<folder>/<input's stem><extension>`, the extension the input's when its container is one
    of `CONTAINERS` and can hold the result, else .mp4, else .mkv (which holds any stream).
    Everything is checked by `check_output`; raises its VideoError for the last one tried."""
    if not is_folder_name(output):
        return output, check_output(input_path, output, info)
    stem, extension = os.path.splitext(os.path.basename(input_path))
    extensions = [e for e in dict.fromkeys((extension.lower(), ".mp4", ".mkv"))
                  if e in CONTAINERS]
    for i, extension in enumerate(extensions):
        candidate = os.path.join(output, stem + extension)
        try:
            return candidate, check_output(input_path, candidate, info)
        except VideoError:
            if i == len(extensions) - 1 or os.path.realpath(candidate) == os.path.realpath(
                    input_path):
                raise


# ---------------------------------------------------------------------- decoder and encoder

class _Process:
    """An ffmpeg process in its own session (a terminal's Ctrl-C reaches only Python, which
    stops it), its messages in a temporary file."""

    def __init__(self, args, **pipes):
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args],
            stderr=self.log, start_new_session=True, **pipes)

    def messages(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def why(self):
        """Why ffmpeg stopped, as a phrase: its first error lines, or how it ended."""
        text, status = self.messages(), self.process.returncode
        if text.strip() or status is None:
            return f"ffmpeg says: {ffmpeg_reason(text)}"
        return (f"ffmpeg was killed (signal {-status})" if status < 0 else
                f"ffmpeg ended with exit status {status}")

    def stop(self):
        """Kills ffmpeg if it still runs; waits for it."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:   # pragma: no cover  (a killed process ends)
            pass
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        self.log.close()


def _put(target, item, stop):
    """Puts `item` in the bounded queue `target`, waiting while it is full; False when `stop`
    was set meanwhile."""
    while not stop.is_set():
        try:
            target.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


class Decoder:
    """Frames of a video's first stream, decoded by ffmpeg as `coding` says and read ahead by a
    thread into a queue of at most `ahead` frames (memory stays flat).

    `frames()` yields uint8 or uint16 (`coding.dtype`) arrays [H, W, 3] at the constant `rate`
    ffmpeg emits (a variable-frame-rate video's frames repeat as long as they last). Raises
    VideoError for a file ffmpeg cannot decode, or stops decoding, with its reason. `close()`
    stops ffmpeg and the thread (also midway, e.g. on Ctrl-C).
    """

    def __init__(self, path, info, plan, ahead):
        self._path = path
        self._shape = (info.size[1], info.size[0], 3)
        self._dtype = plan.dtype
        self._queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._ffmpeg = _Process(["-i", ffmpeg_path(path), "-map", "0:V:0", "-vf",
                                 plan.decode_filter, "-fps_mode", "cfr", "-r", str(info.rate),
                                 "-f", "rawvideo", "-pix_fmt", plan.pipe_format, "pipe:1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self._thread = threading.Thread(target=self._read, name="video-decoder", daemon=True)
        self._thread.start()

    def _read(self):
        size = int(np.prod(self._shape)) * self._dtype.itemsize
        count = 0
        try:
            while not self._stop.is_set():
                data = self._ffmpeg.process.stdout.read(size)
                if len(data) < size:
                    break
                frame = np.frombuffer(data, self._dtype).reshape(self._shape)
                if not _put(self._queue, frame, self._stop):
                    return
                count += 1
            status = self._ffmpeg.process.wait()
            if status and not self._stop.is_set():
                log.info("ffmpeg decoding %s: %s", self._path, self._ffmpeg.messages())
                _put(self._queue, VideoError(
                    f"cannot read video {self._path}: truncated or not a video ffmpeg can "
                    "decode" if not count else
                    f"cannot read video {self._path} to its end (frame {count + 1}): "
                    f"{self._ffmpeg.why()}"), self._stop)
        except Exception as e:   # noqa: BLE001  (handed to the main thread, which raises it)
            _put(self._queue, e, self._stop)
        _put(self._queue, _END, self._stop)

    def frames(self):
        while True:
            try:
                item = self._queue.get(timeout=WAIT_LIMIT)
            except queue.Empty:
                raise VideoError(f"ffmpeg gave no frame of {self._path} for {WAIT_LIMIT} s; "
                                 "stopped") from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self):
        self._stop.set()
        self._ffmpeg.stop()
        self._thread.join(timeout=10)


class Encoder:
    """ffmpeg encoding frames into the video file `path` as `coding` says, fed by a thread from
    a queue of at most `ahead` frames (so encoding overlaps the network; memory stays flat).

    `send(frame)` queues a uint8/uint16 array [H, W, 3] (`coding.dtype`); `finish()` waits for
    the file to be complete. Both raise VideoError (naming `output_name`, the file the user
    asked for) when ffmpeg fails, with its reason; a full disk gets the usual sentence.
    `close()` stops ffmpeg and the thread (also midway, e.g. on Ctrl-C).
    """

    def __init__(self, path, output_name, info, plan, ahead):
        self._output = output_name
        self._dtype = plan.dtype
        self._queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self.error = None
        width, height = info.size
        self._ffmpeg = _Process(["-f", "rawvideo", "-pix_fmt", plan.pipe_format,
                                 "-s", f"{width}x{height}", "-framerate", str(info.rate),
                                 "-i", "pipe:0", "-filter:v", plan.encode_filter,
                                 *plan.encoder_args, "-y", ffmpeg_path(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._write, name="video-encoder", daemon=True)
        self._thread.start()

    def _failure(self):
        if "No space left on device" in self._ffmpeg.messages():
            return VideoError(disk_full_message(self._output))
        return VideoError(f"cannot write {self._output}: {self._ffmpeg.why()}")

    def _write(self):
        stdin = self._ffmpeg.process.stdin
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is _END:
                    break
                stdin.write(memoryview(item).cast("B"))
            stdin.close()
            if self._ffmpeg.process.wait() and not self._stop.is_set():
                self.error = self._failure()
        except OSError as e:   # BrokenPipeError: ffmpeg stopped; ENOSPC never reaches here
            if not self._stop.is_set():
                self._ffmpeg.process.wait()
                self.error = self._failure() if self._ffmpeg.process.returncode else \
                    VideoError(f"cannot write {self._output}: {e}")

    def _hand_over(self, item):
        waited = 0.0
        while True:
            if not self._thread.is_alive():
                raise self.error or VideoError(f"cannot write {self._output}: ffmpeg stopped")
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
                if waited > WAIT_LIMIT:
                    raise VideoError(f"ffmpeg took no frame for {WAIT_LIMIT} s while writing "
                                     f"{self._output}; stopped") from None

    def send(self, frame):
        frame = np.ascontiguousarray(frame, dtype=self._dtype)
        self._hand_over(frame)

    def finish(self):
        self._hand_over(_END)
        waited = 0.0
        while self._thread.is_alive() and waited < WAIT_LIMIT:
            self._thread.join(timeout=0.5)
            waited += 0.5
        if self._thread.is_alive():
            raise VideoError(f"ffmpeg did not finish writing {self._output} within "
                             f"{WAIT_LIMIT} s; stopped")
        if self.error:
            raise self.error

    def close(self):
        self._stop.set()
        self._ffmpeg.stop()
        self._thread.join(timeout=10)


# ------------------------------------------------------------------------------------- verify

def verify(path, output_name, frames, rate):
    """Raises VideoError unless the video file `path` opens, its first frame decodes, its video
    stream holds `frames` frames (packets, read to the end) and it lasts at least
    (`frames` − 1) / `rate` seconds: a result is reported only when it reads back. `output_name`
    is the file the user asked for, named in the message."""
    status, out, text = run_ffmpeg("-loglevel", "error", "-i", ffmpeg_path(path), "-map", "0:v:0",
                                   "-c", "copy", "-f", "null", "-progress", "pipe:1", "-nostats",
                                   "-", timeout=WAIT_LIMIT + frames / 10)
    counts = re.findall(r"^frame=(\d+)", out, re.M)
    found = int(counts[-1]) if counts else 0
    problem = None
    if status or found != frames:
        problem = (f"ffmpeg reads {found} of the {frames} frames written"
                   + (f" ({ffmpeg_reason(text)})" if text.strip() else ""))
    else:
        try:
            seconds = probe(path).duration
        except VideoError:
            seconds, problem = 0, "its first frame does not decode"
        if seconds and seconds < (frames - 1) / float(rate) - 0.01:
            problem = f"it lasts {seconds:.2f} s, not {frames / float(rate):.2f} s"
    if problem:
        raise VideoError(f"the video written for {output_name} does not read back: {problem}; "
                         "it was not kept")
