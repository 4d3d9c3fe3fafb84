"""A graph-mode (tf.compat.v1) re-statement of the 2018 release's generator and training step,
for the tests.

Written from ../shared/docs/srn_reference.md, not from srn_tf's Keras code: variables are made with
`get_variable` under the release's `g_net/<scope>/{weights,biases}` names and layouts, the resizes
are TF1's `resize_bilinear`, and a Saver-V2 training checkpoint (with Adam slots, beta powers and a
global step) is written the way the release's trainer wrote one. `train` runs the release's
training steps ("Training as released") with TF1's own optimizer and learning-rate decay.
"""

import os

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def _resize(x, size):
    """The release's resize; its op returns float32, cast back to x's dtype (float64 checks)."""
    return tf.cast(v1.image.resize_bilinear(x, size, align_corners=False,
                                            half_pixel_centers=False), x.dtype)


def _conv(x, channels, scope, ksize=5, stride=1, relu=True):
    with v1.variable_scope(scope):
        w = v1.get_variable("weights", [ksize, ksize, int(x.shape[-1]), channels], x.dtype,
                            initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable("biases", [channels], x.dtype, initializer=v1.zeros_initializer())
        y = tf.nn.conv2d(x, w, [1, stride, stride, 1], "SAME") + b
        return tf.nn.relu(y) if relu else y


def _deconv(x, channels, scope):
    """slim.conv2d_transpose(x, channels, [4, 4], stride=2): weights [4, 4, out, in], ReLU."""
    with v1.variable_scope(scope):
        w = v1.get_variable("weights", [4, 4, channels, int(x.shape[-1])], x.dtype,
                            initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable("biases", [channels], x.dtype, initializer=v1.zeros_initializer())
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
            w = v1.get_variable("weights", [3, 3, 256, 512], x.dtype,
                                initializer=v1.truncated_normal_initializer(stddev=1e-3))
            b = v1.get_variable("biases", [512], x.dtype, initializer=v1.zeros_initializer())
            z = tf.nn.conv2d(tf.concat([x, h], 3), w, [1, 1, 1, 1], "SAME") + b
        i, j, f, o = tf.split(z, 4, axis=3)
        new_c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, tf.concat([new_c, new_h], 3)


def generator(inputs, model_type, stop_gradient=True):
    """The release's `generator`: inputs [N, H, W, C] (static shape) → three level outputs.

    stop_gradient=False (not the release) lets gradients flow from a level into the previous
    level's output; the training tests use it as a perturbation that must be detected.
    """
    n, h, w, c = (int(d) for d in inputs.shape)
    outputs = []
    with v1.variable_scope("g_net") as vs:
        inp_pred = inputs
        if model_type == "lstm":
            state = tf.zeros([n, int(round(h * 0.25)) // 4, int(round(w * 0.25)) // 4, 256],
                             inputs.dtype)
        for i in range(3):
            hi, wi = int(round(h * 0.5 ** (2 - i))), int(round(w * 0.5 ** (2 - i)))
            inp_blur = _resize(inputs, [hi, wi])
            inp_pred = _resize(inp_pred, [hi, wi])
            if stop_gradient:
                inp_pred = tf.stop_gradient(inp_pred)
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


def write_checkpoint(directory, model_type, images, seed=0, step=523000, kernel_gain=0.7):
    """Builds the generator, gives it random weights, writes a release-style training checkpoint.

    Weights: kernels ~ N(0, (kernel_gain/√fan_in)²), biases ~ U(−0.05, 0.05), the ConvLSTM kernel
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
                value = rng.normal(0.0, kernel_gain / np.sqrt(fan_in), shape)
            var.load(value.astype(np.float32), sess)
        global_step.load(step, sess)
        results = sess.run(outputs, {inputs: images})
        saver = v1.train.Saver()
        prefix = saver.save(sess, os.path.join(directory, "deblur.model"), global_step=step)
    return prefix, results


def levels(prefix, model_type, images):
    """The release's generator restored from the checkpoint `prefix` (only its `g_net` weights),
    run on `images` (float32 [N, H, W, C], H and W multiples of 16): its three level outputs as
    numpy arrays, coarsest first."""
    with tf.Graph().as_default(), v1.Session() as sess:
        inputs = v1.placeholder(tf.float32, images.shape)
        outputs = generator(inputs, model_type)
        v1.train.Saver(v1.trainable_variables()).restore(sess, prefix)
        return sess.run(outputs, {inputs: images})


# The release's optimiser and schedule ("Training as released").
LEARNING_RATE = 1e-4
LR_DECAY_POWER = 0.3
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


def train(init_checkpoint, model_type, batches, decay_steps, clip_lstm=0.0, dtype=tf.float32,
          learning_rate=LEARNING_RATE, epsilon=ADAM_EPSILON, half_pixel_targets=False,
          stop_gradient=True, states=False):
    """The release's training steps in graph mode, one `session.run` per batch.

    Loss = Σ over the three levels of mean((sharp resized to the level − level output)²), the
    sharp image resized with TF1's `resize_images(method=0)`; `tf.compat.v1.train.AdamOptimizer`
    (β1 0.9, β2 0.999, ε `epsilon`) on `polynomial_decay(1e-4, global_step, decay_steps,
    end_learning_rate=0, power=0.3)`, the global step starting at 0 and counted by `minimize`
    (so step n uses the rate of n). With `clip_lstm` > 0 (the release's option: 3), the gradients
    of the ConvLSTM's variables (every variable under `g_net/convLSTM/`, kernel and bias) are
    clipped together to that global norm with `tf.clip_by_global_norm`, the others left as they
    are, and all applied in one `apply_gradients`; the specification does not say which variables
    "the ConvLSTM's" are, and these two are all it has.

    `dtype` tf.float64 (not the release) runs the network, loss and Adam in float64 (the
    resizes still round to float32, their op's only output type), to tell rounding from
    algorithm. The other arguments are perturbations, not the release: `learning_rate` ≠ 1e-4,
    `epsilon` ≠ 1e-8,
    `half_pixel_targets=True` (targets resized with half-pixel centres, as TF 2's resize does),
    `stop_gradient=False` (gradients flow between levels).

    Args:
      init_checkpoint: TF1 checkpoint prefix (e.g. from `write_checkpoint`); only its `g_net`
        weights are read (its Adam slots, beta powers and step are not).
      batches: list of (blur, sharp) float32 [N, H, W, C] arrays, one per step, all one shape.
      decay_steps: the schedule's total steps (the release: epochs × (pairs // batch)).
      states: also return the whole training state before the first step and after each.
    Returns:
      (per-level losses [K, 3] of `dtype`, of every step's forward pass, coarsest first;
       {TF1 variable name: array of `dtype`} of the weights after the K steps), and with
      `states` a third element: K + 1 dicts {TF1 name: array} of every graph variable (weights,
      Adam slots `<name>/Adam` (m) and `<name>/Adam_1` (v), `beta1_power`, `beta2_power`,
      `global_step`), the first before any step, the k-th after k steps.
    """
    shape = batches[0][0].shape
    reader = tf.train.load_checkpoint(init_checkpoint)
    with tf.Graph().as_default(), v1.Session() as sess:
        blur = v1.placeholder(dtype, shape)
        sharp = v1.placeholder(dtype, shape)
        outputs = generator(blur, model_type, stop_gradient=stop_gradient)
        losses = []
        for output in outputs:
            size = [int(output.shape[1]), int(output.shape[2])]
            if half_pixel_targets:
                target = v1.image.resize_bilinear(sharp, size, half_pixel_centers=True)
            else:
                target = v1.image.resize_images(sharp, size, method=0)
            target = tf.cast(target, dtype)
            losses.append(tf.reduce_mean((target - output) ** 2))
        loss_total = tf.add_n(losses)
        weights = v1.trainable_variables()
        global_step = tf.Variable(0, dtype=tf.int32, trainable=False, name="global_step")
        lr = v1.train.polynomial_decay(learning_rate, global_step, decay_steps,
                                       end_learning_rate=0.0, power=LR_DECAY_POWER)
        optimizer = v1.train.AdamOptimizer(lr, beta1=ADAM_BETA1, beta2=ADAM_BETA2,
                                           epsilon=epsilon)
        if clip_lstm:
            grads_and_vars = optimizer.compute_gradients(loss_total, var_list=weights)
            in_lstm = [v.op.name.startswith("g_net/convLSTM/") for _, v in grads_and_vars]
            lstm = [gv for gv, m in zip(grads_and_vars, in_lstm) if m]
            others = [gv for gv, m in zip(grads_and_vars, in_lstm) if not m]
            clipped, _ = tf.clip_by_global_norm([g for g, _ in lstm], clip_lstm)
            train_op = optimizer.apply_gradients(
                list(zip(clipped, [v for _, v in lstm])) + others, global_step=global_step)
        else:
            train_op = optimizer.minimize(loss_total, global_step=global_step, var_list=weights)
        sess.run(v1.global_variables_initializer())
        for var in weights:
            var.load(reader.get_tensor(var.op.name).astype(dtype.as_numpy_dtype), sess)
        every = {v.op.name: v for v in v1.global_variables()}
        trace = [sess.run(every)] if states else None
        per_step = []
        for b, s in batches:
            per_step.append(sess.run([train_op, losses], {blur: b, sharp: s})[1])
            if states:
                trace.append(sess.run(every))
        final = sess.run({v.op.name: v for v in weights})
    if states:
        return np.asarray(per_step), final, trace
    return np.asarray(per_step), final
