"""Stand-in weights for parity checks across backends: deterministic (numpy, seeded), so any
process draws the same ones without a weight file, and image-like, so uint8 results are not
clipped flat. Imports numpy only (tests/test_backends.py, benchmarks/gpu_backends.py, which runs
where there is no TensorFlow and no pytest)."""

import numpy as np


def stand_in_weights(model, seed):
    """Sets weights into `model` (from `build_srn`, any backend) and returns it: kernels
    N(0, (0.7/√fan_in)²) × 0.3 (fan_in of a transposed conv: its input channels), biases
    U(−0.02, 0.02), the ConvLSTM kernel N(0, 0.05²) (50× its init's σ, so the cell matters), and
    1 added on the centre taps that carry each image channel from enc1_1's input to dec1_0's
    output. Variables are drawn in the order of their paths."""
    rng = np.random.default_rng(seed)
    channels = model.input_shape[-1]
    for variable in sorted(model.weights, key=lambda v: v.path):
        shape = tuple(variable.shape)
        if variable.path.endswith("bias"):
            value = rng.uniform(-0.02, 0.02, shape)
        elif "convLSTM" in variable.path:
            value = rng.normal(0.0, 0.05, shape)
        else:
            transposed = variable.path.startswith("dec") and shape[0] == 4
            fan_in = shape[0] * shape[1] * (shape[3] if transposed else shape[2])
            value = rng.normal(0.0, 0.7 / np.sqrt(fan_in), shape) * 0.3
            if variable.path in ("enc1_1/kernel", "dec1_0/kernel"):
                for c in range(channels):
                    value[2, 2, c, c] += 1.0
        variable.assign(value.astype(np.float32))
    return model
