"""A graph-mode (tf.compat.v1) re-statement of the 2018 release's generator, for the tests.

Written from ../shared/docs/srn_reference.md, not from srn_tf's Keras code: variables are made with
`get_variable` under the release's `g_net/<scope>/{weights,biases}` names and layouts, the resizes
are TF1's `resize_bilinear`, and a Saver-V2 training checkpoint (with Adam slots, beta powers and a
global step) is written the way the release's trainer wrote one.
"""

import os

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def _resize(x, size):
    return v1.image.resize_bilinear(x, size, align_corners=False, half_pixel_centers=False)


def _conv(x, channels, scope, ksize=5, stride=1, relu=True):
    with v1.variable_scope(scope):
        w = v1.get_variable("weights", [ksize, ksize, int(x.shape[-1]), channels],
                            initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable("biases", [channels], initializer=v1.zeros_initializer())
        y = tf.nn.conv2d(x, w, [1, stride, stride, 1], "SAME") + b
        return tf.nn.relu(y) if relu else y


def _deconv(x, channels, scope):
    """slim.conv2d_transpose(x, channels, [4, 4], stride=2): weights [4, 4, out, in], ReLU."""
    with v1.variable_scope(scope):
        w = v1.get_variable("weights", [4, 4, channels, int(x.shape[-1])],
                            initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable("biases", [channels], initializer=v1.zeros_initializer())
        n, h, w_, _ = x.shape
        y = tf.nn.conv2d_transpose(x, w, [int(n), 2 * int(h), 2 * int(w_), channels],
                                   [1, 2, 2, 1], "SAME") + b
        return tf.nn.relu(y)


def _resblock(x, scope):
    with v1.variable_scope(scope):
        net = _conv(x, int(x.shape[-1]), "conv1")
        return x + _conv(net, int(x.shape[-1]), "conv2", relu=False)


def _conv_lstm(x, state):
    """BasicConvLSTMCell, 3×3, 128 filters, forget bias 1.0; state = concat([c, h])."""
    with v1.variable_scope("convLSTM"):
        c, h = tf.split(state, 2, axis=3)
        with v1.variable_scope("LSTM_conv"):
            w = v1.get_variable("weights", [3, 3, 256, 512],
                                initializer=v1.truncated_normal_initializer(stddev=1e-3))
            b = v1.get_variable("biases", [512], initializer=v1.zeros_initializer())
            z = tf.nn.conv2d(tf.concat([x, h], 3), w, [1, 1, 1, 1], "SAME") + b
        i, j, f, o = tf.split(z, 4, axis=3)
        new_c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, tf.concat([new_c, new_h], 3)


def generator(inputs, model_type):
    """The release's `generator`: inputs [N, H, W, C] (static shape) → three level outputs."""
    n, h, w, c = (int(d) for d in inputs.shape)
    outputs = []
    with v1.variable_scope("g_net") as vs:
        inp_pred = inputs
        if model_type == "lstm":
            state = tf.zeros([n, int(round(h * 0.25)) // 4, int(round(w * 0.25)) // 4, 256])
        for i in range(3):
            hi, wi = int(round(h * 0.5 ** (2 - i))), int(round(w * 0.5 ** (2 - i)))
            inp_blur = _resize(inputs, [hi, wi])
            inp_pred = tf.stop_gradient(_resize(inp_pred, [hi, wi]))
            net = tf.concat([inp_blur, inp_pred], axis=3)
            conv1_1 = _conv(net, 32, "enc1_1")
            conv1_4 = _resblock(_resblock(_resblock(conv1_1, "enc1_2"), "enc1_3"), "enc1_4")
            conv2_1 = _conv(conv1_4, 64, "enc2_1", stride=2)
            conv2_4 = _resblock(_resblock(_resblock(conv2_1, "enc2_2"), "enc2_3"), "enc2_4")
            conv3_1 = _conv(conv2_4, 128, "enc3_1", stride=2)
            conv3_4 = _resblock(_resblock(_resblock(conv3_1, "enc3_2"), "enc3_3"), "enc3_4")
            if model_type == "lstm":
                state = _resize(state, [hi // 4, wi // 4])
                deconv3_4, state = _conv_lstm(conv3_4, state)
            else:
                deconv3_4 = conv3_4
            deconv3_1 = _resblock(_resblock(_resblock(deconv3_4, "dec3_3"), "dec3_2"), "dec3_1")
            cat2 = _deconv(deconv3_1, 64, "dec2_4") + conv2_4
            deconv2_1 = _resblock(_resblock(_resblock(cat2, "dec2_3"), "dec2_2"), "dec2_1")
            cat1 = _deconv(deconv2_1, 32, "dec1_4") + conv1_4
            deconv1_1 = _resblock(_resblock(_resblock(cat1, "dec1_3"), "dec1_2"), "dec1_1")
            inp_pred = _conv(deconv1_1, c, "dec1_0", relu=False)
            outputs.append(inp_pred)
            if i == 0:
                vs.reuse_variables()
    return outputs


def write_checkpoint(directory, model_type, images, seed=0, step=523000):
    """Builds the generator, gives it random weights, writes a release-style training checkpoint.

    Weights: kernels ~ N(0, (0.7/√fan_in)²), biases ~ U(−0.05, 0.05), the ConvLSTM kernel
    ~ N(0, 0.1²) (100× its init, so the cell matters). The checkpoint also holds Adam slots,
    beta1_power/beta2_power and `global_step`, as a real one does.

    Args:
      directory: folder for `deblur.model-<step>.*` and the `checkpoint` state file.
      images: float32 array [N, H, W, C], H and W multiples of 16.
    Returns:
      (checkpoint prefix, list of the three level outputs as numpy arrays).
    """
    rng = np.random.default_rng(seed)
    with tf.Graph().as_default(), v1.Session() as sess:
        inputs = v1.placeholder(tf.float32, images.shape)
        outputs = generator(inputs, model_type)
        loss = tf.add_n([tf.reduce_mean(tf.square(o)) for o in outputs])
        global_step = tf.Variable(0, dtype=tf.int32, name="global_step", trainable=False)
        v1.train.AdamOptimizer(1e-4).minimize(loss, global_step=global_step,
                                              var_list=v1.trainable_variables())
        sess.run(v1.global_variables_initializer())
        for var in v1.trainable_variables():
            shape = var.shape.as_list()
            if var.op.name.endswith("biases"):
                value = rng.uniform(-0.05, 0.05, shape)
            elif "convLSTM" in var.op.name:
                value = rng.normal(0.0, 0.1, shape)
            else:
                fan_in = np.prod(shape[:2]) * (shape[3] if "dec" in var.op.name and shape[0] == 4
                                               else shape[2])
                value = rng.normal(0.0, 0.7 / np.sqrt(fan_in), shape)
            var.load(value.astype(np.float32), sess)
        global_step.load(step, sess)
        results = sess.run(outputs, {inputs: images})
        saver = v1.train.Saver()
        prefix = saver.save(sess, os.path.join(directory, "deblur.model"), global_step=step)
    return prefix, results
