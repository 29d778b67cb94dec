"""The few things tests need per backend: gradients and compiled functions."""

import keras
import numpy as np

BACKEND = keras.backend.backend()
ALL_BACKENDS = ("tensorflow", "jax", "torch")


def grad_of_sum(fn, x, jit=False):
    """Gradient of sum(fn(x)) with respect to x, as a NumPy array.

    With ``jit=True``, computed the way a compiled train step computes it:
    jax.jit, tf.function with XLA, or torch.compile of the forward pass.
    """
    x = np.asarray(x, dtype=np.float32)
    if BACKEND == "jax":
        import jax

        grad = jax.grad(lambda t: fn(t).sum())
        return np.asarray((jax.jit(grad) if jit else grad)(x))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def grad(t):
            with tf.GradientTape() as tape:
                tape.watch(t)
                total = tf.reduce_sum(fn(t))
            return tape.gradient(total, t)

        return (tf.function(grad, jit_compile=True) if jit else grad)(tf.constant(x)).numpy()
    if BACKEND == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        (torch.compile(fn, fullgraph=True) if jit else fn)(t).sum().backward()
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
