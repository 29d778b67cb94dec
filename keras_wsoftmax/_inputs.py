"""What the loss takes, made uniform: logits, labels, alpha, validity, eager errors.

`standardize` turns the caller's arguments into the few tensors the loss's
math needs (`Inputs`), and raises a `ValueError` that names the bad value when
the values are at hand. Inside a compiled function nothing can raise: the
validity mask then makes a bad sample's loss NaN (the caller applies it).
"""

import numbers
from typing import Any, NamedTuple

import keras
from keras import ops

_HALF_DTYPES = ("float16", "bfloat16")


class Inputs(NamedTuple):
    """The loss's inputs, standardized.

    logits: ``(..., C)``, float32 or wider.
    alpha: A float, or a scalar tensor of the logits' dtype.
    is_target: Boolean ``(..., C)``, each sample's target class, for one-hot
        labels; None for class ids (the loss places them as fits the backend).
    class_ids: int32 ``(..., 1)`` for a gather of the target logit, or None
        for one-hot labels (the target logit is then a masked sum).
    valid: Boolean ``(...,)``: label (and tensor alpha) valid, or ignored;
        None when eager values were checked and all are.
    kept: Boolean ``(...,)``, False where the label is `ignore_class`; None
        without `ignore_class`.
    """

    logits: Any
    alpha: Any
    is_target: Any
    class_ids: Any
    valid: Any
    kept: Any


def validate_alpha(alpha):
    """Returns `alpha` as a float, or raises `ValueError` unless 0 <= alpha < 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(
            f"alpha must be a real number in [0, 1); received alpha={alpha!r} "
            f"of type {type(alpha).__name__}."
        )
    alpha = float(alpha)
    if not (0.0 <= alpha < 1.0):
        raise ValueError(
            f"alpha must satisfy 0 <= alpha < 1; received alpha={alpha!r}. "
            "alpha is the size of the margin: alpha < 0 would turn it into a "
            "slack that scores below cross-entropy, and at alpha >= 1 a "
            "positive target logit gets no gradient (its coefficient in the "
            "loss is 1 - alpha)."
        )
    return alpha


def standardize(y_true, y_pred, alpha, ignore_class, axis=-1):
    """The loss's arguments as `Inputs`, classes last; raises on bad values when eager.

    Logits at ignored positions are replaced by 0: whatever they hold (an
    fp16 overflow, a masked-out region), the loss there is 0 and so is its
    gradient.
    """
    logits = _as_tensor(y_pred)
    labels = _as_tensor(y_true)
    dtype = keras.backend.standardize_dtype(logits.dtype)
    if dtype in _HALF_DTYPES or not keras.backend.is_float_dtype(dtype):
        logits = ops.cast(logits, "float32")
    logits, labels = _classes_last(logits, labels, axis)
    alpha, alpha_ok = _standardize_alpha(alpha, logits.dtype)
    labels, one_hot = _standardize_labels(labels, logits)
    num_classes = logits.shape[-1]
    is_target, class_ids, valid = _target(labels, one_hot, num_classes)
    if alpha_ok is not None:
        valid = ops.logical_and(valid, alpha_ok)
    kept = None
    if ignore_class is not None:
        kept = ops.logical_not(_is_ignored(labels, one_hot, is_target, ignore_class))
        valid = ops.logical_or(valid, ops.logical_not(kept))
    if _raise_if_invalid_eagerly(labels, one_hot, num_classes, valid, alpha):
        valid = None  # every sample checked valid: nothing to mask
    if kept is not None:
        logits = ops.where(ops.expand_dims(kept, axis=-1), logits, 0.0)
    return Inputs(logits, alpha, is_target, class_ids, valid, kept)


def torch_compiling():
    """Whether this runs inside `torch.compile`'s tracing (False off PyTorch)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()


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


def _as_tensor(x):
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


def _classes_last(logits, labels, axis):
    """Moves the class axis of the logits (and of labels of the logits' rank) last."""
    rank = len(logits.shape)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -rank <= axis < rank:
        raise ValueError(
            f"axis must be an integer in [{-rank}, {rank}) for logits of shape "
            f"{tuple(logits.shape)}; received axis={axis!r}."
        )
    axis = int(axis) % rank
    if axis == rank - 1:
        return logits, labels
    if len(labels.shape) == rank:  # one-hot, or class ids with a size-1 class axis
        labels = ops.moveaxis(labels, axis, -1)
    return ops.moveaxis(logits, axis, -1), labels


def _standardize_alpha(alpha, dtype):
    """`alpha` as a float or a scalar tensor of `dtype`, and its range check.

    A Python number is validated here. A tensor's check comes back as a
    boolean tensor, folded into the samples' validity: one host read per
    eager call covers labels and alpha, and a compiled function gets NaN
    losses for an alpha out of range.
    """
    if isinstance(alpha, numbers.Real) or not hasattr(alpha, "dtype"):
        return validate_alpha(alpha), None
    alpha = ops.cast(ops.convert_to_tensor(alpha), dtype)
    if tuple(alpha.shape) != ():
        raise ValueError(f"alpha must be a scalar; received a tensor of shape {alpha.shape}.")
    return alpha, ops.logical_and(ops.greater_equal(alpha, 0.0), ops.less(alpha, 1.0))


def _standardize_labels(y_true, y_pred):
    """Labels as class ids of shape (...,), or one-hot of shape (..., C)."""
    pred_shape = tuple(y_pred.shape)
    true_shape = tuple(y_true.shape)
    if len(pred_shape) < 2:
        raise ValueError(
            "Logits need rank >= 2 with classes on the last axis, (..., C); "
            f"received logits of shape {pred_shape}."
        )
    num_classes = pred_shape[-1]
    if num_classes is None or num_classes < 2:
        raise ValueError(
            "Logits need a known number of classes C >= 2 on the last axis; "
            f"received logits of shape {pred_shape}."
        )
    if _compatible(true_shape, pred_shape):
        return y_true, True
    if _compatible(true_shape, pred_shape[:-1]):
        return y_true, False
    if _compatible(true_shape, pred_shape[:-1] + (1,)):
        return ops.squeeze(y_true, axis=-1), False
    raise ValueError(
        f"Labels of shape {true_shape} do not fit logits of shape "
        f"{pred_shape}: expected class ids of shape {pred_shape[:-1]} or "
        f"{pred_shape[:-1] + (1,)}, or one-hot labels of shape {pred_shape}."
    )


def _compatible(shape_a, shape_b):
    return len(shape_a) == len(shape_b) and all(
        a is None or b is None or a == b for a, b in zip(shape_a, shape_b, strict=False)
    )


def _target(y_true, one_hot, num_classes):
    """Mask of each sample's target class (..., C), class ids for a gather, validity.

    The mask is None for class ids, the class ids None for one-hot labels.
    """
    if one_hot:
        is_target = ops.equal(y_true, 1)
        is_binary = ops.logical_or(is_target, ops.equal(y_true, 0))
        valid = ops.logical_and(
            ops.all(is_binary, axis=-1),
            ops.equal(ops.sum(ops.cast(is_target, "int32"), axis=-1), 1),
        )
        return is_target, None, valid
    # Validity from the labels alone (O(N), not a pass over the logits); an
    # invalid label is replaced by class 0 so that the gather stays in range,
    # and its loss is set to NaN by the caller.
    valid = ops.logical_and(ops.greater_equal(y_true, 0), ops.less(y_true, num_classes))
    if keras.backend.is_float_dtype(y_true.dtype):
        valid = ops.logical_and(valid, ops.equal(y_true, ops.floor(y_true)))
    class_ids = ops.where(valid, y_true, 0)
    class_ids = ops.expand_dims(ops.cast(class_ids, "int32"), -1)
    return None, class_ids, valid


def _is_ignored(y_true, one_hot, is_target, ignore_class):
    if not one_hot:
        return ops.equal(y_true, ops.cast(ignore_class, y_true.dtype))
    if 0 <= ignore_class < is_target.shape[-1]:
        return is_target[..., ignore_class]
    return ops.zeros_like(is_target[..., 0])


def _raise_if_invalid_eagerly(y_true, one_hot, num_classes, valid, alpha):
    """Names a bad alpha or the first bad label when the values are at hand (not traced).

    Returns True when the values were at hand (and so all valid), False when traced.
    """
    valid = _eager_numpy(valid)
    if valid is None:
        return False
    if valid.all():
        return True
    if not isinstance(alpha, float):
        validate_alpha(float(ops.convert_to_numpy(alpha)))
    index = tuple(int(axis[0]) for axis in (~valid).nonzero())
    label = ops.convert_to_numpy(y_true)[index]
    if one_hot:
        raise ValueError(
            f"The one-hot label at index {index} is {label.tolist()}, which is "
            f"not one-hot: expected {num_classes} entries, exactly one equal "
            "to 1 and the others 0."
        )
    raise ValueError(
        f"Label {label.item()!r} at index {index} is not a class id: expected "
        f"an integer in [0, {num_classes}) for logits with C={num_classes} "
        "classes, or ignore_class."
    )


def _eager_numpy(x):
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
