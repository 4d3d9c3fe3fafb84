"""Temporal consistency of deblurred video: flicker measured, and a mode that reduces it.

Deblurring a video frame by frame, as SRN does, makes each frame's result depend on that frame's
blur alone; where the blur changes from frame to frame, details and edges change too, and the
result flickers. This module measures that and offers a remedy that needs no training.

**Warping error** (Lai et al., ECCV 2018, "Learning Blind Video Temporal Consistency", eq. 8):

    E_warp = 1/(T−1) · Σ_{t=2..T}  Σ_x M_t(x) · ‖O_t(x) − Ô_{t−1}(x)‖² / (C · Σ_x M_t(x))

O_t are the output frames in [0, 1] (C channels), Ô_{t−1} the previous output warped onto frame t
with the optical flow F_{t→t−1} computed on the *input* frames (so every method is judged with the
same flow), M_t the pixels that are visible in both frames: inside the frame after the flow and
passing the forward–backward check of Sundaram, Brox and Keutzer (ECCV 2010), as Lai et al. use it,

    |F_{t→t−1}(x) + F_{t−1→t}(x + F_{t→t−1}(x))|² ≤ 0.01 (|F_{t→t−1}(x)|² + |F_{t−1→t}(…)|²) + 0.5.

The flow is OpenCV's DIS (Kroeger et al., ECCV 2016; classical, no weights) on the grey input
frames. A sequence of identical frames, or of frames shifted by whole pixels where the flow is
exact, has zero error. Lower is steadier; the sharp frames of a clip show the error of true motion
blur-free content, the floor a method should approach, not cross.

**Consistent mode** (`ConsistentFilter`): a flow-guided recursive blend. Each frame's deblurred
result P_t is pulled towards the previous *consistent* output warped onto it, where the flow is
reliable (the mask M_t above, and inputs that agree after warping):

    O_t = P_t + strength · M_t · (Ô_{t−1} − P_t)

It starts afresh at the first frame and at a scene cut (fewer than `CUT_VISIBLE_FRACTION` of the
pixels visible in both frames), and holds one previous input and output only, so memory does not
grow with the clip. It trades a little sharpness (the warp resamples) for stability; the measured
figures are in docs/video.md.
"""

import numpy as np

FB_RELATIVE = 0.01      # forward–backward check (Sundaram et al. 2010), relative term
FB_ABSOLUTE = 0.5       # … and absolute term, pixels²
CUT_VISIBLE_FRACTION = 0.4
DEFAULT_STRENGTH = 0.5
PHOTOMETRIC_TOLERANCE = 0.1   # inputs that differ by more after warping (of 1) are not blended


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError("optical flow needs OpenCV: python -m pip install "
                          "opencv-python-headless") from e
    return cv2


def to_unit(frame):
    """uint8/uint16 H×W(×C) → float32 H×W×C in [0, 1] (÷ the dtype's max value)."""
    frame = np.asarray(frame)
    scale = np.float32(np.iinfo(frame.dtype).max) if frame.dtype.kind == "u" else np.float32(1)
    unit = frame.astype(np.float32) / scale
    return unit if unit.ndim == 3 else unit[:, :, None]


def flow_image(frame):
    """The 8-bit grey image the flow is computed on: H×W uint8 from any frame (mean of the colour
    channels; alpha, a fourth channel, left out)."""
    unit = to_unit(frame)
    grey = unit[:, :, :3].mean(axis=2) if unit.shape[2] >= 3 else unit[:, :, 0]
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


class FlowEstimator:
    """OpenCV's DIS optical flow (preset MEDIUM) between 8-bit grey frames.

    `flow(a, b)` → float32 [H, W, 2] (dx, dy): pixel x of `a` is at x + flow(x) in `b`.
    """

    def __init__(self):
        cv2 = _cv2()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow(self, a, b):
        return self._dis.calc(a, b, None)


def _grid(height, width):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def warp(image, flow):
    """`image` (H×W×C float32) sampled at x + flow(x): the backward warp, bilinear; pixels that
    fall outside are 0 (and masked by `visible`)."""
    cv2 = _cv2()
    xs, ys = _grid(*flow.shape[:2])
    warped = cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped if warped.ndim == 3 else warped[:, :, None]


def visible(backward, forward):
    """M_t, bool [H, W]: pixels of frame t that land inside frame t−1 through `backward`
    (F_{t→t−1}) and pass the forward–backward check with `forward` (F_{t−1→t})."""
    height, width = backward.shape[:2]
    xs, ys = _grid(height, width)
    x1, y1 = xs + backward[..., 0], ys + backward[..., 1]
    inside = (x1 >= 0) & (x1 <= width - 1) & (y1 >= 0) & (y1 <= height - 1)
    returned = warp(forward, backward)
    total = backward + returned
    limit = FB_RELATIVE * ((backward ** 2).sum(-1) + (returned ** 2).sum(-1)) + FB_ABSOLUTE
    return inside & ((total ** 2).sum(-1) <= limit)


class _FramePairs:
    """The flows and the visibility mask between consecutive input frames, one frame at a time."""

    def __init__(self):
        self._estimator = FlowEstimator()
        self._previous = None

    def reset(self):
        self._previous = None

    def next(self, input_frame):
        """(F_{t→t−1}, M_t) for this input frame and the one before, or None for the first."""
        grey = flow_image(input_frame)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return None
        backward = self._estimator.flow(grey, previous)
        forward = self._estimator.flow(previous, grey)
        return backward, visible(backward, forward)


class WarpingError:
    """E_warp of a stream of (input frame, output frame) pairs (see the module docstring).

    Call `add(input_frame, output_frame)` for each frame in order (uint8/uint16 or float in
    [0, 1], H×W or H×W×C, the same size within a sequence); `reset()` between sequences (the pair
    across is not counted, nor a pair across a scene cut: fewer than CUT_VISIBLE_FRACTION of the
    pixels visible in both frames); `value` is E_warp over the pairs so far (nan before two frames),
    `pairs` their number. Several outputs of one input (e.g. methods compared) can share the
    flow: `add(input_frame, out_a, out_b, …)`, then `values`.
    """

    def __init__(self):
        self._pairs = _FramePairs()
        self._previous_outputs = None
        self._sums = None
        self.pairs = 0

    def reset(self):
        self._pairs.reset()
        self._previous_outputs = None

    def add(self, input_frame, *outputs):
        outputs = [to_unit(o) for o in outputs]
        pair = self._pairs.next(input_frame)
        if self._sums is None:
            self._sums = np.zeros(len(outputs))
        if pair is not None and self._previous_outputs is not None:
            backward, mask = pair
            if mask.mean() < CUT_VISIBLE_FRACTION:   # a scene cut: no pair to compare
                self._previous_outputs = outputs
                return
            weight = mask.sum() * outputs[0].shape[2]
            for k, (current, previous) in enumerate(zip(outputs, self._previous_outputs)):
                difference = (current - warp(previous, backward)) * mask[:, :, None]
                self._sums[k] += float((difference ** 2).sum()) / max(weight, 1)
            self.pairs += 1
        self._previous_outputs = outputs

    @property
    def values(self):
        return [s / self.pairs if self.pairs else float("nan") for s in
                (self._sums if self._sums is not None else [0.0])]

    @property
    def value(self):
        return self.values[0]


def warping_error(input_frames, output_frames):
    """E_warp of one sequence: `output_frames` against the flow of `input_frames` (lists of
    frames as `WarpingError.add` takes them, the same length)."""
    if len(input_frames) != len(output_frames):
        raise ValueError(f"{len(input_frames)} input frames but {len(output_frames)} outputs")
    measure = WarpingError()
    for input_frame, output_frame in zip(input_frames, output_frames):
        measure.add(input_frame, output_frame)
    return measure.value


class ConsistentFilter:
    """The consistent mode: each deblurred frame pulled towards the previous output, warped by
    the flow of the inputs, where the flow is reliable (see the module docstring).

    `filter(input_frame, deblurred)` → the consistent output, same shape and dtype as
    `deblurred` (uint8/uint16 H×W×C; alpha, a 2nd/4th channel of grey+alpha/RGBA, passes
    through from `deblurred`). Frames in order; `reset()` at a known cut (cuts are also found:
    `cuts` counts them). `strength` in [0, 1]: 0 is frame by frame, 1 keeps the warped past
    wherever it is reliable.
    """

    def __init__(self, strength=DEFAULT_STRENGTH):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"the consistency strength must be in [0, 1], got {strength}")
        self.strength = float(strength)
        self._pairs = _FramePairs()
        self._previous_input = self._previous_output = None
        self.cuts = 0

    def reset(self):
        self._pairs.reset()
        self._previous_input = self._previous_output = None

    def filter(self, input_frame, deblurred):
        deblurred = np.asarray(deblurred)
        if deblurred.dtype.kind != "u":
            raise ValueError(f"expected uint8 or uint16 frames, got {deblurred.dtype}")
        current = to_unit(deblurred)
        colour = current.shape[2] - (current.shape[2] in (2, 4))   # alpha is not blended
        current_input = to_unit(input_frame)[:, :, :colour]
        pair = self._pairs.next(input_frame)
        result = current
        if pair is not None and self._previous_output is not None:
            backward, mask = pair
            if mask.mean() < CUT_VISIBLE_FRACTION:
                self.cuts += 1
            else:
                agree = np.abs(warp(self._previous_input, backward)
                               - current_input).max(axis=2) <= PHOTOMETRIC_TOLERANCE
                weight = (self.strength * (mask & agree))[:, :, None]
                result = current.copy()
                result[:, :, :colour] += weight * (warp(self._previous_output, backward)
                                                   - current[:, :, :colour])
        self._previous_input = current_input
        self._previous_output = result[:, :, :colour]
        scale = np.iinfo(deblurred.dtype).max
        out = np.clip(result * scale + 0.5, 0, scale).astype(deblurred.dtype)
        return out if deblurred.ndim == 3 else out[:, :, 0]
