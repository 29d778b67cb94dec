"""What a margin loss takes, made uniform: logits, labels, parameters, validity, eager errors.

`standardize` turns the caller's arguments into the few tensors the losses'
math needs (`Inputs`), and raises a `ValueError` that names the bad value when
the values are at hand. Inside a compiled function nothing can raise: the
validity mask then makes a bad sample's loss NaN (the caller applies it).
"""

import math
import numbers
from typing import Any, NamedTuple

import keras
from keras import ops

from keras_wsoftmax._backend import as_tensor, eager_numpy, hand_mask_to_reduction
from keras_wsoftmax._checks import checked_number

_HALF_DTYPES = ("float16", "bfloat16")


class Parameter(NamedTuple):
    """A loss's margin parameter, ``low <= value < high``: a number, or a scalar tensor.

    A number is checked where the loss is made or called; a tensor (a
    learnable or scheduled margin) gets its gradient, and its range check
    raises when eager and gives NaN losses when compiled.
    """

    name: str
    value: Any
    low: float
    high: float
    why: str = ""

    def checked(self, value=None):
        """`value` (default: this parameter's) as a float, or `ValueError` naming the range."""
        high = "1" if self.high == 1 else "pi" if self.high == math.pi else f"{self.high:g}"
        return checked_number(
            self.name,
            self.value if value is None else value,
            integer=False,
            in_range=lambda v: self.low <= v < self.high,
            expected=f"a real number with {self.low:g} <= {self.name} < {high}",
            why=self.why,
        )

    def standardized(self, dtype):
        """The value as a float or a scalar tensor of `dtype`, and the tensor's range check (or None)."""
        if isinstance(self.value, numbers.Real) or not hasattr(self.value, "dtype"):
            return self.checked(), None
        value = ops.cast(ops.convert_to_tensor(self.value), dtype)
        if tuple(value.shape) != ():
            raise ValueError(
                f"{self.name} must be a scalar; received a tensor of shape {value.shape}."
            )
        return value, ops.logical_and(
            ops.greater_equal(value, self.low), ops.less(value, self.high)
        )


class Targets(NamedTuple):
    """Each sample's target class and whether its loss counts, from its label.

    is_target: Boolean ``(..., C)``, each sample's target class, for one-hot
        labels; None for class ids (the loss places them as fits the backend).
    class_ids: int32 ``(..., 1)`` for a gather of the target logit, or None
        for one-hot labels (the target logit is then a masked sum).
    valid: Boolean ``(...,)``: label (and tensor parameters) valid, or ignored;
        None when eager values were checked and all are.
    kept: Boolean ``(...,)``, False where the label is `ignore_class`; None
        without `ignore_class`.
    """

    is_target: Any
    class_ids: Any
    valid: Any
    kept: Any


class Inputs(NamedTuple):
    """The loss's inputs, standardized.

    logits: ``(..., C)``, float32 or wider.
    parameters: The loss's parameters, each a float or a scalar tensor of
        the logits' dtype.
    targets: The labels' `Targets`.
    """

    logits: Any
    parameters: tuple
    targets: Targets


def standardize(y_true, y_pred, parameters, ignore_class, axis=-1):
    """The loss's arguments as `Inputs`, classes last; raises on bad values when eager.

    Logits at ignored positions are replaced by 0: whatever they hold (an
    fp16 overflow, a masked-out region), the loss there is 0 and so is its
    gradient.
    """
    logits = as_tensor(y_pred)
    labels = as_tensor(y_true)
    dtype = keras.backend.standardize_dtype(logits.dtype)
    if dtype in _HALF_DTYPES or not keras.backend.is_float_dtype(dtype):
        logits = ops.cast(logits, "float32")
    logits, labels = _classes_last(logits, labels, axis)
    standardized = tuple(parameter.standardized(logits.dtype) for parameter in parameters)
    labels, one_hot = _standardize_labels(labels, logits)
    targets = standardize_targets(
        labels, one_hot, logits.shape[-1], ignore_class, parameters, standardized
    )
    if targets.kept is not None:
        logits = ops.where(ops.expand_dims(targets.kept, axis=-1), logits, 0.0)
    return Inputs(logits, tuple(value for value, _ in standardized), targets)


def standardize_targets(labels, one_hot, num_classes, ignore_class, parameters=(), standardized=()):
    """The `Targets` of labels (class ids, or one-hot when `one_hot`); raises on bad values when eager.

    `parameters` and `standardized` (their ``Parameter.standardized``
    values and range checks) fold a tensor parameter's range into the
    validity. Both the unfused losses and the fused one take their labels
    through here.
    """
    is_target, class_ids, valid = _target(labels, one_hot, num_classes)
    for _, ok in standardized:
        if ok is not None:
            valid = ops.logical_and(valid, ok)
    kept = None
    if ignore_class is not None:
        kept = ops.logical_not(_is_ignored(labels, one_hot, is_target, ignore_class))
        valid = ops.logical_or(valid, ops.logical_not(kept))
    values = tuple(value for value, _ in standardized)
    if _raise_if_invalid_eagerly(labels, one_hot, num_classes, valid, parameters, values):
        valid = None  # every sample checked valid: nothing to mask
    return Targets(is_target, class_ids, valid, kept)


def masked(losses, targets):
    """`losses` NaN where `targets` is not valid, 0 where not kept and masked for Keras's reduction."""
    if targets.valid is not None:
        losses = ops.where(targets.valid, losses, math.nan)
    if targets.kept is not None:
        losses = ops.where(targets.kept, losses, 0.0)
        hand_mask_to_reduction(losses, targets.kept)
    return losses


def _classes_last(logits, labels, axis):
    """Moves the class axis of the logits (and of labels of the logits' rank) last."""
    rank = len(logits.shape)
    axis = checked_number(
        "axis",
        axis,
        integer=True,
        in_range=lambda a: -rank <= a < rank,
        expected=f"an integer in [{-rank}, {rank}) for logits of shape {tuple(logits.shape)}",
    )
    axis %= rank
    if axis == rank - 1:
        return logits, labels
    if len(labels.shape) == rank:  # one-hot, or class ids with a size-1 class axis
        labels = ops.moveaxis(labels, axis, -1)
    return ops.moveaxis(logits, axis, -1), labels


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


def _raise_if_invalid_eagerly(y_true, one_hot, num_classes, valid, parameters, values):
    """Names a bad parameter or the first bad label when the values are at hand (not traced).

    Returns True when the values were at hand (and so all valid), False when traced.
    """
    valid = eager_numpy(valid)
    if valid is None:
        return False
    if valid.all():
        return True
    for parameter, value in zip(parameters, values, strict=True):
        if not isinstance(value, float):
            parameter.checked(float(ops.convert_to_numpy(value)))
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
