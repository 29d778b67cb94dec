"""The W-Softmax loss (weights-biased softmax, Li and Wang 2020).

The paper biases the weight vector of every negative class toward the target
class, ``W_j -> W_j + alpha * W_y``, so each negative logit becomes
``z_j + alpha * z_y``. We bias by the target logit's magnitude instead,
``z_j + alpha * |z_y|``: identical whenever ``z_y >= 0``, and still a margin
when ``z_y < 0``, where the literal bias lowers the negative logits and lets a
misclassified sample drive its loss to zero (``docs/wsoftmax.md``).
"""

import keras
from keras import ops

from keras_wsoftmax._inputs import Parameter
from keras_wsoftmax._margin import MarginLoss, Target, margin_losses
from keras_wsoftmax._types import Tensor

DEFAULT_ALPHA = 0.2
"""`WSoftmax`'s default `alpha`, the size of its margin."""

_WHY = (
    "alpha is the size of the margin: alpha < 0 would turn it into a slack that scores "
    "below cross-entropy, and at alpha >= 1 a positive target logit gets no gradient "
    "(its coefficient in the loss is 1 - alpha)."
)


def _alpha(alpha):
    """`alpha` as the loss's `Parameter`: ``0 <= alpha < 1``, a number or a scalar tensor."""
    return Parameter("alpha", alpha, 0.0, 1.0, _WHY)


def validate_alpha(alpha: float) -> float:
    """Returns `alpha` as a float, or raises `ValueError` unless ``0 <= alpha < 1``."""
    return _alpha(alpha).checked()


def wsoftmax(
    y_true: Tensor,
    y_pred: Tensor,
    alpha: float | Tensor = DEFAULT_ALPHA,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
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
    >>> y_pred = np.array([[6.0, 1.0, -2.0], [2.0, 9.0, 8.0]])
    >>> print(keras.ops.convert_to_numpy(wsoftmax(y_true, y_pred, alpha=0.2)).round(4))
    [0.0232 1.1728]
    >>> print(keras.ops.convert_to_numpy(wsoftmax(y_true, y_pred, alpha=0.0)).round(4))
    [0.007  0.3139]
    """
    return margin_losses(y_true, y_pred, _target, (_alpha(alpha),), ignore_class, axis)


def _target(z_y, alpha):
    """``z_y - alpha |z_y|``, written ``(1 - alpha sign z_y) z_y``.

    The product has a limit at ``z_y = +-inf``, where ``z_y - alpha |z_y|``
    is ``inf - inf = NaN``.
    """
    slope = 1.0 - alpha * ops.sign(z_y)
    return Target(slope * z_y, slope, lambda: (-ops.abs(z_y),))


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class WSoftmax(MarginLoss):
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

    >>> loss = WSoftmax(alpha=0.2)
    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[6.0, 1.0, -2.0], [2.0, 9.0, 8.0]])
    >>> print(f"{float(loss(y_true, y_pred)):.4f}")
    0.5980

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

    function = staticmethod(wsoftmax)
    parameters = ("alpha",)

    def __init__(
        self,
        alpha: float = DEFAULT_ALPHA,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "wsoftmax",
        dtype: str | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(ignore_class, reduction, name, dtype, axis)
        self.alpha = alpha

    @property
    def alpha(self) -> float:
        """The margin parameter, a float in [0, 1); assignable."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = validate_alpha(value)

    def fused_target(self):
        return _target, (self._alpha,), None
