"""What the losses need to know of the backend: tensors, tracing, and Keras's loss mask."""

import keras
from keras import ops


def as_tensor(x):
    """`x` as a tensor; a variable (Keras's or TensorFlow's) is read.

    TensorFlow's custom gradient refuses functions that read variables, and
    its gathers take no `ResourceVariable`; the other backends take them as
    they are.
    """
    if isinstance(x, keras.Variable):
        x = x.value
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(x, tf.Variable):
            return tf.convert_to_tensor(x)
    return ops.convert_to_tensor(x)


def torch_compiling():
    """Whether this runs inside `torch.compile`'s tracing (False off PyTorch)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()


def eager_numpy(x):
    """`x` as a NumPy array, or None inside a traced (compiled) function."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    elif backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    elif torch_compiling():
        return None
    return ops.convert_to_numpy(x)


def hand_mask_to_reduction(losses, kept):
    """Attaches `kept` as the Keras mask that `Loss.__call__` reduces with.

    This is how Keras's own `sparse_categorical_crossentropy` makes
    ``sum_over_batch_size`` average over the kept samples only. Keras exposes
    no public setter for it, so this is the one private import of the package;
    the ignore_class tests compare with `SparseCategoricalCrossentropy` under
    every reduction and fail if Keras moves or changes it.
    """
    from keras.src.backend import set_keras_mask

    set_keras_mask(losses, mask=kept)
