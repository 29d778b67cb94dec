"""The few things tests need per backend: gradients and compiled functions."""

import keras
import numpy as np

BACKEND = keras.backend.backend()
ALL_BACKENDS = ("tensorflow", "jax", "torch")


def grad_of_sum(fn, x):
    """Gradient of sum(fn(x)) with respect to x, as a NumPy array."""
    x = np.asarray(x, dtype=np.float32)
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: fn(t).sum())(x))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            total = tf.reduce_sum(fn(t))
        return tape.gradient(total, t).numpy()
    if BACKEND == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).sum().backward()
        return t.grad.numpy()
    raise NotImplementedError(BACKEND)


def compiled(fn):
    """`fn` compiled the way the backend compiles training steps."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "torch":
        import torch

        return torch.compile(fn, fullgraph=True)
    raise NotImplementedError(BACKEND)
