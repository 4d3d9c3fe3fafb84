"""The release's training step on JAX and PyTorch: what `train_lib.make_train_step` does on
TensorFlow, with only the gradient computation written per backend.

Shared by both backends, in `keras.ops` and Keras: the forward pass in training mode (the network
of `srn_tf.model`, whose `StopGradient` layers stop the gradient between scales), the loss
(`srn_tf.losses.multiscale_l2`: Σ over the three levels of the mean squared error against the
sharp image resized with the release's bilinear resize), the ConvLSTM's gradient clipping
(`clip_by_global_norm`) and the optimizer (`train_lib.make_optimizer`: Adam with the release's
β1 0.9, β2 0.999, ε 1e-8 rounded to float32 as TF1 computed them, on the release's polynomial
decay). Per backend only how the gradients are taken:

  JAX      `jax.value_and_grad` of the model's `stateless_call`, the optimizer's
           `stateless_apply`, the whole step under one `jax.jit` (compiled once per batch shape);
  PyTorch  `torch.autograd.grad` of the loss of an eager forward pass, then `apply_gradients`.

Either way the model's and the optimizer's Keras variables hold the new values after each call, so
checkpoints, validation and the final model are written from them as on TensorFlow.
tests/test_backends.py takes one step on each backend from the release reference's training state
and checks it against the reference's next state within the bounds tests/test_train_resync.py
proves for the TensorFlow step.
"""

import os
import tempfile
import zipfile

import keras
import numpy as np
from keras import ops

from srn_tf.losses import multiscale_l2
from srn_tf.model import as_levels


def clip_by_global_norm(tensors, clip_norm):
    """`tf.clip_by_global_norm(tensors, clip_norm)[0]` in keras.ops: every tensor × clip_norm /
    max(‖tensors‖, clip_norm), ‖·‖ the L2 norm of all their values together (float32)."""
    norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(t, "float32"))) for t in tensors))
    scale = clip_norm * ops.minimum(1.0 / norm, 1.0 / clip_norm)
    return [t * ops.cast(scale, t.dtype) for t in tensors]


def clip_lstm(grads, mask, clip_norm):
    """The release's `--clip_lstm_grad_norm` on one device: the gradients where `mask` is True
    (the ConvLSTM's variables) clipped together to global norm `clip_norm`, the others as they
    are. No-op for clip_norm 0 or an empty mask."""
    if not clip_norm or not any(mask):
        return list(grads)
    clipped = iter(clip_by_global_norm([g for g, m in zip(grads, mask) if m], clip_norm))
    return [next(clipped) if m else g for g, m in zip(grads, mask)]


def lstm_mask(model):
    """[bool per trainable variable]: True for the ConvLSTM's (their paths start `convLSTM/`)."""
    return [v.path.startswith("convLSTM/") for v in model.trainable_variables]


def forward_loss(model, blur, sharp):
    """(total loss, [3 per-level losses], finest output float32) of `model` on a batch in
    training mode: blur, sharp float32 [N, H, W, C] in [0, 1] of the running backend."""
    outputs = as_levels(model(blur, training=True))
    total, levels = multiscale_l2(sharp, outputs)
    return total, levels, ops.cast(outputs[-1], "float32")


class BackendStep:
    """One release training step on the running Keras backend (JAX or PyTorch).

    `step(blur, sharp)`: float32 numpy (or backend) arrays [N, H, W, C] in [0, 1] → (total loss,
    [3 per-level losses], the finest output [N, H, W, C]) as numpy float32; the model's weights
    and the optimizer's slots and step count are updated in place. `optimizer` must be built on
    `model.trainable_variables` (Keras Adam from `train_lib.make_optimizer`; no loss scaling:
    on these backends mixed precision is bfloat16, which needs none).
    Raises ValueError on the TensorFlow backend (its step is `train_lib.make_train_step`).
    """

    def __init__(self, model, optimizer, clip_lstm_grad_norm=0.0):
        self.model, self.optimizer = model, optimizer
        self.mask = lstm_mask(model)
        self.clip = float(clip_lstm_grad_norm or 0.0)
        backend = keras.backend.backend()
        if backend == "jax":
            self._step = self._jax_step()
        elif backend == "torch":
            self._step = self._torch_step
        else:
            raise ValueError(f"BackendStep runs on JAX or PyTorch, not {backend}: use "
                             "train_lib.make_train_step")

    def __call__(self, blur, sharp):
        total, levels, finest = self._step(ops.convert_to_tensor(blur, "float32"),
                                           ops.convert_to_tensor(sharp, "float32"))
        numpy = ops.convert_to_numpy
        return numpy(total), [numpy(level) for level in levels], numpy(finest)

    def _jax_step(self):
        import jax
        model, optimizer = self.model, self.optimizer

        def loss(trainable, non_trainable, blur, sharp):
            outputs, non_trainable = model.stateless_call(trainable, non_trainable, blur,
                                                          training=True)
            outputs = as_levels(outputs)
            total, levels = multiscale_l2(sharp, outputs)
            return total, (levels, ops.cast(outputs[-1], "float32"), non_trainable)

        gradients = jax.value_and_grad(loss, has_aux=True)

        @jax.jit
        def pure_step(state, blur, sharp):
            trainable, non_trainable, slots = state
            (total, (levels, finest, non_trainable)), grads = gradients(
                trainable, non_trainable, blur, sharp)
            grads = clip_lstm(grads, self.mask, self.clip)
            trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
            return (trainable, non_trainable, slots), total, levels, finest

        def step(blur, sharp):
            variables = (model.trainable_variables, model.non_trainable_variables,
                         optimizer.variables)
            state = tuple([v.value for v in group] for group in variables)
            state, total, levels, finest = pure_step(state, blur, sharp)
            for group, values in zip(variables, state):
                for variable, value in zip(group, values):
                    variable.assign(value)
            return total, levels, finest
        return step

    def _torch_step(self, blur, sharp):
        import torch
        variables = self.model.trainable_variables
        total, levels, finest = forward_loss(self.model, blur, sharp)
        grads = torch.autograd.grad(total, [v.value for v in variables])
        grads = clip_lstm(grads, self.mask, self.clip)
        with torch.no_grad():
            self.optimizer.apply_gradients(zip(grads, variables))
        return total.detach(), [level.detach() for level in levels], finest.detach()


class ArrayCheckpoints:
    """Checkpoints of Keras variables as `.npz` files, for the backends without
    `tf.train.Checkpoint` (JAX, PyTorch): what `tf.train.CheckpointManager` does for the
    TensorFlow loop, with the same interface (`save(checkpoint_number)`, `latest_checkpoint`,
    `restore(path)`).

    `variables`: the Keras variables saved (the model's weights, and for a training state the
    optimizer's variables: Adam's m and v and its step count), in a fixed order; each is stored
    under its index (not its path: Keras numbers the names of a second optimizer or model built
    in one process), and a file with another count or shapes of variables is refused.
    `<folder>/ckpt-<number>.npz`, written to a temporary file and renamed (a stop while writing
    leaves the earlier ones whole); the `max_to_keep` highest numbers are kept.
    """

    PREFIX, SUFFIX = "ckpt-", ".npz"

    def __init__(self, variables, folder, max_to_keep=3):
        self.variables, self.folder, self.max_to_keep = list(variables), folder, max_to_keep

    @classmethod
    def numbers(cls, folder):
        """{checkpoint number: path} of the checkpoints in `folder` (none when it is missing)."""
        found = {}
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                number = name[len(cls.PREFIX):-len(cls.SUFFIX)]
                if name.startswith(cls.PREFIX) and name.endswith(cls.SUFFIX) and number.isdigit():
                    found[int(number)] = os.path.join(folder, name)
        return found

    @property
    def latest_checkpoint(self):
        """The path of the highest-numbered checkpoint, or None."""
        found = self.numbers(self.folder)
        return found[max(found)] if found else None

    def _keys(self):
        return [f"v{i}" for i in range(len(self.variables))]

    def save(self, checkpoint_number):
        """Writes every variable's value as checkpoint `checkpoint_number`; returns its path."""
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"{self.PREFIX}{int(checkpoint_number)}{self.SUFFIX}")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=self.SUFFIX, dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{key: ops.convert_to_numpy(v)
                               for key, v in zip(self._keys(), self.variables)})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        found = self.numbers(self.folder)
        for number in sorted(found)[:-self.max_to_keep]:
            os.remove(found[number])
        return path

    def restore(self, path):
        """Assigns the values saved in `path`. Raises ValueError when the file cannot be read
        (truncated, not an .npz) or holds other variables than these."""
        try:
            with np.load(path) as saved:
                arrays = {key: saved[key] for key in saved.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path} cannot be read ({e})") from e
        if sorted(arrays) != sorted(self._keys()):
            raise ValueError(f"{path} holds {len(arrays)} variables, not the "
                             f"{len(self.variables)} of this model and optimizer")
        for key, variable in zip(self._keys(), self.variables):
            if tuple(arrays[key].shape) != tuple(variable.shape):
                raise ValueError(f"{path}: variable {key[1:]} ({variable.path}) has shape "
                                 f"{arrays[key].shape}, not {tuple(variable.shape)}")
            variable.assign(arrays[key])
