"""Runs srn-train's main (train.py's) in this process after giving TensorFlow N logical CPU devices.

  python tests/run_training.py --logical_cpus=2 -- --data=... --distribute=mirrored ...

For the distribution tests: logical devices must be set before TensorFlow initialises them,
which the test process itself has long done.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402

if __name__ == "__main__":
    count = int(sys.argv[1].split("=")[1])
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    from absl import app  # noqa: E402
    from srn_tf.commands import train  # noqa: E402
    train.define_flags()
    app.run(train.main, argv=["train.py"] + sys.argv[3:])
