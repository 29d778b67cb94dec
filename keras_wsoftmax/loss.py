"""The W-Softmax loss (weights-biased softmax, Li and Wang 2020).

The paper biases the weight vector of every negative class toward the target
class, ``W_j -> W_j + alpha * W_y``, so each negative logit becomes
``z_j + alpha * z_y``. We bias by the target logit's magnitude instead,
``z_j + alpha * |z_y|``: identical whenever ``z_y >= 0``, and still a margin
when ``z_y < 0``, where the literal bias lowers the negative logits and lets a
misclassified sample drive its loss to zero (``docs/wsoftmax.md``).
"""

import math
import numbers

import keras
from keras import ops

DEFAULT_ALPHA = 0.2

_HALF_DTYPES = ("float16", "bfloat16")


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


def wsoftmax(y_true, y_pred, alpha=DEFAULT_ALPHA, ignore_class=None):
    """Per-sample W-Softmax loss of logits `y_pred` for labels `y_true`.

    With ``y`` the target class and ``z`` the logits of one sample,

        loss(z, y) = -log( exp(z_y) / (exp(z_y)
                           + sum_{j != y} exp(z_j + alpha * |z_y|)) )
                   = softplus( logsumexp_{j != y}(z_j) - z_y + alpha * |z_y| )

    It is softmax cross-entropy on logits whose negative classes are biased
    toward the target, which asks for a margin: the loss falls toward zero
    only when ``(1 - alpha) z_y > z_j`` for every ``j != y`` (if
    ``z_y >= 0``) or ``(1 + alpha) z_y > z_j`` (if ``z_y < 0``). It is never
    below cross-entropy, non-decreasing in `alpha`, and ``alpha = 0`` is
    exactly sparse softmax cross-entropy.

    Computed in one pass over the logits (O(N*C) time and memory), in float32
    for float16/bfloat16 logits, stably for large logits.

    Args:
        y_true: Integer class ids of shape ``(...,)`` or ``(..., 1)``, or
            one-hot labels of the same shape as `y_pred` (the shape decides).
        y_pred: Logits of shape ``(..., C)``, rank >= 2, ``C >= 2``.
        alpha: Margin parameter, ``0 <= alpha < 1``: a number, or a scalar
            tensor (a learnable alpha gets its gradient); a tensor alpha
            outside ``[0, 1)`` raises when eager and gives NaN losses when
            compiled.
        ignore_class: Optional class id whose samples get loss 0 and a Keras
            mask, as in `keras.losses.sparse_categorical_crossentropy` (a
            one-hot row is ignored when its hot class is `ignore_class`).

    Returns:
        Losses of shape ``y_pred.shape[:-1]``. A label that is not a class id
        in ``[0, C)`` (nor `ignore_class`), or a one-hot row that is not
        one-hot, raises `ValueError` when called eagerly and gives that
        sample a NaN loss inside a compiled function.

    Example:

    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> loss = wsoftmax(y_true, y_pred, alpha=0.2)
    >>> assert loss.shape == (2,)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if dtype in _HALF_DTYPES or not keras.backend.is_float_dtype(dtype):
        y_pred = ops.cast(y_pred, "float32")
    alpha, alpha_ok = _standardize_alpha(alpha, y_pred.dtype)
    y_true, one_hot = _standardize_labels(ops.convert_to_tensor(y_true), y_pred)
    is_target, class_ids, valid = _target(y_true, one_hot, y_pred.shape[-1])
    if alpha_ok is not None:
        valid = ops.logical_and(valid, alpha_ok)
    kept = None
    if ignore_class is not None:
        kept = ops.logical_not(_is_ignored(y_true, one_hot, is_target, ignore_class))
        valid = ops.logical_or(valid, ops.logical_not(kept))
    _raise_if_invalid_eagerly(y_true, one_hot, y_pred.shape[-1], valid, alpha)

    losses = _margin_losses(
        y_pred, ops.convert_to_tensor(alpha, y_pred.dtype), is_target, class_ids
    )
    losses = ops.where(valid, losses, math.nan)
    if kept is not None:
        losses = ops.where(kept, losses, 0.0)
        _hand_mask_to_reduction(losses, kept)
    return losses


def _margin_losses(logits, alpha, is_target, class_ids):
    """``softplus(logsumexp_{j != y} z_j - z_y + alpha |z_y|)`` with a hand-written gradient.

    With ``s = sigmoid(margin)`` and ``p_j = softmax_{j != y}(z)_j``:

        d loss / d z_j = s * p_j                          (j != y)
        d loss / d z_y = -(1 - alpha * sign(z_y)) * s
        d loss / d alpha = s * |z_y|

    Autodiff of the forward pass keeps the masked logits and, for the z_y
    gather, scatters into a fresh N x C buffer; this gradient reuses the
    forward's exponentials in one elementwise pass, as fused cross-entropy
    kernels do (``reports/performance.md`` has the measurements). Under
    `torch.compile` the plain composition is used instead: dynamo cannot
    trace Keras's custom-gradient `autograd.Function` and breaks the graph
    there, which measured several times slower than its own fusion.
    """
    if _torch_compiling():
        z_y = _target_logit(logits, is_target, class_ids)
        negatives = ops.where(is_target, -math.inf, logits)
        return ops.softplus(ops.logsumexp(negatives, axis=-1) - z_y + alpha * ops.abs(z_y))

    @ops.custom_gradient
    def forward(z, a):
        z_y = _target_logit(z, is_target, class_ids)
        negatives = ops.where(is_target, -math.inf, z)
        peak = ops.max(negatives, axis=-1, keepdims=True)
        weights = ops.exp(negatives - peak)
        total = ops.sum(weights, axis=-1)
        margin = ops.log(total) + ops.squeeze(peak, axis=-1) - z_y + a * ops.abs(z_y)

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow and JAX pass it alone; PyTorch by name
                (upstream,) = args
            s = ops.sigmoid(margin) * upstream
            target_grad = -(1.0 - a * ops.sign(z_y)) * s
            negative_grad = weights * ops.expand_dims(s / total, axis=-1)
            dz = ops.where(is_target, ops.expand_dims(target_grad, axis=-1), negative_grad)
            return dz, ops.sum(s * ops.abs(z_y))

        return ops.softplus(margin), grad

    return forward(logits, alpha)


def _target_logit(z, is_target, class_ids):
    if class_ids is None:
        return ops.sum(ops.where(is_target, z, 0.0), axis=-1)
    return ops.squeeze(ops.take_along_axis(z, class_ids, axis=-1), axis=-1)


def _torch_compiling():
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()


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


def _hand_mask_to_reduction(losses, kept):
    """Attaches `kept` as the Keras mask that `Loss.__call__` reduces with.

    This is how Keras's own `sparse_categorical_crossentropy` makes
    ``sum_over_batch_size`` average over the kept samples only. Keras exposes
    no public setter for it, so this is the one private import of the package;
    the ignore_class tests compare with `SparseCategoricalCrossentropy` under
    every reduction and fail if Keras moves or changes it.
    """
    from keras.src.backend import set_keras_mask

    set_keras_mask(losses, mask=kept)


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

    Class ids are None for one-hot labels (z_y is then a masked sum).
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
    is_target = ops.equal(class_ids, ops.arange(num_classes, dtype="int32"))
    return is_target, class_ids, valid


def _is_ignored(y_true, one_hot, is_target, ignore_class):
    if not one_hot:
        return ops.equal(y_true, ops.cast(ignore_class, y_true.dtype))
    if 0 <= ignore_class < is_target.shape[-1]:
        return is_target[..., ignore_class]
    return ops.zeros_like(is_target[..., 0])


def _raise_if_invalid_eagerly(y_true, one_hot, num_classes, valid, alpha):
    """Names a bad alpha or the first bad label when the values are at hand (not traced)."""
    valid = _eager_numpy(valid)
    if valid is None or valid.all():
        return
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
    elif _torch_compiling():
        return None
    return ops.convert_to_numpy(x)


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class WSoftmax(keras.losses.Loss):
    """W-Softmax loss: cross-entropy with negatives biased toward the target.

    ``loss = softplus(logsumexp_{j != y}(z_j) - z_y + alpha * |z_y|)`` per
    sample (see `keras_wsoftmax.wsoftmax`), reduced like any Keras loss. It
    takes logits, as `SparseCategoricalCrossentropy(from_logits=True)` does,
    and ``alpha = 0`` is exactly that loss; larger `alpha` asks for a larger
    margin between the target logit and the others.

    Args:
        alpha: Margin parameter, ``0 <= alpha < 1``. Defaults to 0.2.
        ignore_class: Optional class id to ignore, for example the "void"
            class (-1 or 255) of segmentation maps.
        reduction: Type of reduction to apply to the loss: `"sum"`,
            `"sum_over_batch_size"` (default), `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`, as in Keras.
        name: Name of the loss instance.
        dtype: The dtype of the loss's computations. Defaults to `None`, which
            means `keras.backend.floatx()`; float16/bfloat16 are computed in
            float32.

    Examples:

    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> loss = WSoftmax(alpha=0.2)
    >>> value = loss(y_true, y_pred)

    Usage with the `compile()` API:

    ```python
    model.compile(optimizer="adam", loss=WSoftmax(alpha=0.2),
                  metrics=["accuracy"])
    ```

    `alpha` is a Python float that compiled steps hold as a constant. To
    change it during training use `keras_wsoftmax.AlphaScheduler`, which
    also has Keras trace the steps again; ``loss.alpha = 0.3`` (validated)
    between `fit()` calls reaches compiled steps after `model.compile()`.
    """

    def __init__(
        self,
        alpha=DEFAULT_ALPHA,
        ignore_class=None,
        reduction="sum_over_batch_size",
        name="wsoftmax",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = alpha
        self.ignore_class = ignore_class

    @property
    def alpha(self):
        """The margin parameter, a float in [0, 1); assignable."""
        return self._alpha

    @alpha.setter
    def alpha(self, value):
        self._alpha = validate_alpha(value)

    def call(self, y_true, y_pred):
        return wsoftmax(y_true, y_pred, alpha=self._alpha, ignore_class=self.ignore_class)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "ignore_class": self.ignore_class})
        return config
