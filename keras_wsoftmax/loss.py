"""The W-Softmax loss (weights-biased softmax, Li and Wang 2020).

The paper biases the weight vector of every negative class toward the target
class, ``W_j -> W_j + alpha * W_y``, so each negative logit becomes
``z_j + alpha * z_y``. We bias by the target logit's magnitude instead,
``z_j + alpha * |z_y|``: identical whenever ``z_y >= 0``, and still a margin
when ``z_y < 0``, where the literal bias lowers the negative logits and lets a
misclassified sample drive its loss to zero (``docs/wsoftmax.md``).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_wsoftmax._inputs import (
    hand_mask_to_reduction,
    standardize,
    torch_compiling,
    validate_alpha,
)

DEFAULT_ALPHA = 0.2


def wsoftmax(y_true, y_pred, alpha=DEFAULT_ALPHA, ignore_class=None, axis=-1):
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
        ignore_class: Optional class id whose samples get loss 0, gradient 0
            (whatever their logits) and a Keras mask, as in
            `keras.losses.sparse_categorical_crossentropy` (a one-hot row is
            ignored when its hot class is `ignore_class`).
        axis: The class axis of `y_pred` (and of one-hot `y_true`), as in
            Keras's cross-entropies: -1 (default) or, for channels-first
            segmentation, 1.

    Returns:
        Losses of the logits' shape without the class axis. A label that is
        not a class id in ``[0, C)`` (nor `ignore_class`), or a one-hot row
        that is not one-hot, raises `ValueError` when called eagerly and
        gives that sample a NaN loss inside a compiled function. Non-finite
        logits follow the formula's limits (``docs/wsoftmax.md``): -inf
        negatives contribute nothing, a NaN gives NaN for its sample only.

    Example:

    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> loss = wsoftmax(y_true, y_pred, alpha=0.2)
    >>> assert loss.shape == (2,)
    """
    inputs = standardize(y_true, y_pred, alpha, ignore_class, axis)
    if 0 in inputs.logits.shape[:-1]:
        # An empty batch: no row to take a maximum over. The sum is empty too,
        # and keeps the (empty) gradient connected to the logits.
        losses = ops.sum(inputs.logits, axis=-1)
    else:
        losses = _margin_losses(inputs.logits, inputs.alpha, inputs.is_target, inputs.class_ids)
    if inputs.valid is not None:
        losses = ops.where(inputs.valid, losses, math.nan)
    if inputs.kept is not None:
        losses = ops.where(inputs.kept, losses, 0.0)
        hand_mask_to_reduction(losses, inputs.kept)
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
    kernels do (``reports/performance.md`` has the measurements). A float
    `alpha` is a constant of the gradient, a tensor `alpha` gets its own.
    Under `torch.compile` the plain composition is used instead: dynamo
    cannot trace Keras's custom-gradient `autograd.Function` and breaks the
    graph there, which measured several times slower than its own fusion.
    """
    if torch_compiling():
        return ops.softplus(_differentiable_margin(logits, alpha, is_target, class_ids))
    learnable = not isinstance(alpha, float)
    alpha_input = (ops.convert_to_tensor(alpha, logits.dtype),) if learnable else ()

    @ops.custom_gradient
    def forward(z, *learnable_alpha):
        a = learnable_alpha[0] if learnable else alpha
        set_targets = _target_setter(z, is_target, class_ids)
        margin, z_y, slope, weights, total = _margin(z, a, set_targets, is_target, class_ids)

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow and JAX pass it alone; PyTorch by name
                (upstream,) = args
            s = ops.sigmoid(margin) * upstream
            # total >= 1 whenever a negative is finite (its peak adds exp(0));
            # 0 only when all are -inf, where the weights are 0 too.
            negative_grad = weights * ops.expand_dims(s / ops.maximum(total, 1.0), axis=-1)
            dz = set_targets(negative_grad, -slope * s)
            if not learnable:
                return dz
            # s = 0 at z_y = +-inf (loss 0 or the limit): 0, not 0 * inf.
            da = ops.where(ops.equal(s, 0.0), 0.0, s * ops.abs(z_y))
            return dz, ops.sum(da)

        return ops.softplus(margin), grad

    return forward(logits, *alpha_input)


def _margin(z, a, set_targets, is_target, class_ids):
    """The softplus argument ``logsumexp_{j != y} z_j - z_y + a |z_y|``, and its parts.

    Returns ``(margin, z_y, slope, weights, total)``: ``slope = 1 - a
    sign(z_y)`` (minus the margin's derivative in ``z_y``), the negatives'
    exponentials shifted by their maximum, and their sum. Limits of
    non-finite logits: negatives all -inf give ``logsumexp = -inf`` (nothing
    to beat: loss 0); ``z_y = +inf`` gives ``-inf`` and ``z_y = -inf`` gives
    ``+inf``, as the formula's limits (``docs/wsoftmax.md``, "Non-finite
    logits").
    """
    z_y = _target_logit(z, is_target, class_ids)
    negatives = set_targets(z, -math.inf)
    peak = ops.amax(negatives, axis=-1)  # ops.max trips torch.compile (dynamo) in Keras 3.15
    # All negatives -inf: shift by the lowest float instead, so that their
    # weights are exp(-inf) = 0, not exp(-inf + inf) = NaN.
    peak = ops.maximum(peak, _lowest(z.dtype))
    weights = ops.exp(negatives - ops.expand_dims(peak, axis=-1))
    total = ops.sum(weights, axis=-1)
    log_total = ops.log(total)  # log(0) = -inf: the limit
    slope = _slope(z_y, a)
    margin = log_total + peak - slope * z_y
    return margin, z_y, slope, weights, total


def _differentiable_margin(z, a, is_target, class_ids):
    """The margin by plain composition, for automatic differentiation (`torch.compile`).

    Built on `logsumexp`, whose gradient PyTorch's compiler fuses better
    than that of its parts. The target is masked with the lowest finite
    float rather than -inf: a row whose negatives are all -inf then has a
    finite `logsumexp` (that lowest float, far below any logit: the loss is
    its limit 0) and a gradient of 0, not NaN.
    """
    set_targets = _target_setter(z, is_target, class_ids)
    z_y = _target_logit(z, is_target, class_ids)
    negatives = set_targets(z, _lowest(z.dtype))
    return ops.logsumexp(negatives, axis=-1) - _slope(z_y, a) * z_y


def _slope(z_y, a):
    """``1 - a sign(z_y)``: times `z_y` it is ``z_y - a |z_y|``, with a limit at ``z_y = +-inf``.

    Written as a product rather than ``z_y - a * abs(z_y)``, which is
    ``inf - inf = NaN`` at ``z_y = +inf``.
    """
    return 1.0 - a * ops.sign(z_y)


def _lowest(dtype):
    return float(np.finfo(keras.backend.standardize_dtype(dtype)).min)


def _target_setter(z, is_target, class_ids):
    """A function ``(x, values) -> x`` with each sample's target entry set to `values`.

    `values` is a number or one value per sample. On eager PyTorch a scatter
    into a copy replaces comparing class ids with ``arange(C)`` and selecting
    with ``where``, two slow passes there (``reports/performance.md``,
    section 6); compilers (XLA, inductor) fuse the comparison and the
    selection into their neighbours instead.
    """
    shape = tuple(z.shape)
    if class_ids is not None and keras.backend.backend() == "torch" and not torch_compiling():
        # Rank 2 without reshapes: a Keras op's dispatch costs more than a
        # small tensor's arithmetic here (reports/performance.md, section 6).
        rows = math.prod(shape[:-1])
        flat = len(shape) == 2
        ids = ops.squeeze(class_ids, axis=-1) if flat else ops.reshape(class_ids, (rows,))
        index = ops.stack([ops.arange(rows, dtype="int32"), ids], axis=1)

        def set_targets(x, values):
            # A number is broadcast by the scatter itself.
            if flat:
                return ops.scatter_update(x, index, values)
            if not isinstance(values, float):
                values = ops.reshape(values, (rows,))
            flat_x = ops.reshape(x, (rows, shape[-1]))
            return ops.reshape(ops.scatter_update(flat_x, index, values), shape)

        return set_targets
    if is_target is None:
        is_target = ops.equal(class_ids, ops.arange(shape[-1], dtype="int32"))

    def set_targets(x, values):
        if not isinstance(values, float):
            values = ops.expand_dims(values, axis=-1)
        return ops.where(is_target, values, x)

    return set_targets


def _target_logit(z, is_target, class_ids):
    if class_ids is None:
        return ops.sum(ops.where(is_target, z, 0.0), axis=-1)
    return ops.squeeze(ops.take_along_axis(z, class_ids, axis=-1), axis=-1)


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
        axis: The class axis of the logits, as in
            `SparseCategoricalCrossentropy`. Defaults to -1.

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
        axis=-1,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = alpha
        self.ignore_class = ignore_class
        self.axis = axis

    @property
    def alpha(self):
        """The margin parameter, a float in [0, 1); assignable."""
        return self._alpha

    @alpha.setter
    def alpha(self, value):
        self._alpha = validate_alpha(value)

    def call(self, y_true, y_pred):
        return wsoftmax(
            y_true, y_pred, alpha=self._alpha, ignore_class=self.ignore_class, axis=self.axis
        )

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "ignore_class": self.ignore_class, "axis": self.axis})
        return config
