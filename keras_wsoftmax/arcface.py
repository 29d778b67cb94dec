"""The ArcFace loss (additive angular margin; Deng et al. 2019).

On scaled cosines ``z_j = s cos(theta_j)``, ArcFace adds an angle ``m`` to
the target's: cross-entropy of ``s cos(theta_y + m)`` against the other
logits as they are. Past ``theta_y + m = pi`` that target would grow again
with the angle, so it switches to a fallback there (`arcface`).
"""

import math

import keras
from keras import ops

from keras_wsoftmax._inputs import Parameter
from keras_wsoftmax._margin import MarginLoss, Target, margin_losses
from keras_wsoftmax._types import Tensor
from keras_wsoftmax.sizing import DEFAULT_SCALE, checked_scale

DEFAULT_ARCFACE_MARGIN = 0.5
"""`ArcFace`'s default angular margin `m`, in radians."""

# The derivative takes sin(theta) at least this: the smallest sine a float32
# cosine below 1 has, so it decides only cos = 1 exactly.
SIN_FLOOR = math.sqrt(2.0**-23)


def _margin(margin):
    return Parameter("margin", margin, 0.0, math.pi)


def arcface(
    y_true: Tensor,
    y_pred: Tensor,
    margin: float | Tensor = DEFAULT_ARCFACE_MARGIN,
    scale: float = DEFAULT_SCALE,
    easy_margin: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
    """Per-sample ArcFace loss of scaled cosines `y_pred` for labels `y_true`.

    With ``y`` the target class and ``z_j = s cos(theta_j)`` the logits of
    one sample (`keras_wsoftmax.WSoftmaxHead`'s, whose scale must be `scale`),
    the target logit becomes

        f(theta_y) = s cos(theta_y + m)         where cos(theta_y) > cos(pi - m),
                     s (cos(theta_y) - m sin m)  past it (InsightFace's fallback),

    and ``loss = softplus(logsumexp_{j != y}(z_j) - f(theta_y))``. Both
    pieces fall as ``theta_y`` grows, so the target always gains from a
    smaller angle; at the switch the fallback lies ``s (cos m + m sin m - 1)``
    lower (0.117 s at m = 0.5): a step down, as in InsightFace.
    With ``easy_margin=True`` the margin applies only where
    ``cos(theta_y) > 0`` and the target is ``s cos(theta_y)`` elsewhere (a
    step up at 90 degrees). ``margin = 0`` is sparse softmax cross-entropy.

    The gradient is finite everywhere: ``d f / d z_y = sin(theta_y + m) /
    sin(theta_y)`` takes ``sin(theta_y)`` at least the smallest sine of a
    float32 cosine below 1 (3.5e-4), which decides only ``cos = 1`` exactly,
    where the true derivative is infinite (the fallback's is 1). A dead
    (all-zero) feature vector has cosines 0 at the head: a finite gradient.

    Args:
        y_true: Integer class ids of shape ``(...,)`` or ``(..., 1)``, or
            one-hot labels of the same shape as `y_pred` (the shape decides).
        y_pred: Scaled cosines of shape ``(..., C)``, rank >= 2, ``C >= 2``.
        margin: The angular margin ``0 <= m < pi``, in radians: a number,
            or a scalar tensor (which gets its gradient). Defaults to 0.5,
            ArcFace's (28.6 degrees).
        scale: The head's scale ``s``: the logits are ``s cos(theta)``.
            Defaults to `keras_wsoftmax.DEFAULT_SCALE` (16), the head's
            default below 100 classes; pass the head's, ``head.scale``.
        easy_margin: Switch at 90 degrees to the plain cosine instead.
        ignore_class: Optional class id whose samples get loss 0 and
            gradient 0, as in `keras_wsoftmax.wsoftmax`.
        axis: The class axis of `y_pred` (and of one-hot `y_true`).

    Returns:
        Losses of the logits' shape without the class axis. Bad labels, and
        a target logit beyond ``+-scale`` (the head's scale is not the
        loss's), raise `ValueError` when eager and give that sample a NaN
        loss when compiled; other inputs as in `keras_wsoftmax.wsoftmax`.

    Example:

    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[6.0, 1.0, -2.0], [2.0, 9.0, 8.0]])
    >>> print(keras.ops.convert_to_numpy(arcface(y_true, y_pred, margin=0.5)).round(4))
    [2.948 6.448]
    """
    scale = checked_scale(scale)
    target = target_for(scale, bool(easy_margin))
    return margin_losses(y_true, y_pred, target, (_margin(margin),), ignore_class, axis, scale)


def target_for(scale, easy_margin):
    """ArcFace's new target logit ``s cos(theta_y + m)`` on cosines of scale `scale` (a float)."""

    def target(z_y, m):
        cos_m, sin_m = (
            (math.cos(m), math.sin(m)) if isinstance(m, float) else (ops.cos(m), ops.sin(m))
        )
        cos = ops.clip(z_y / scale, -1.0, 1.0)
        sin = ops.sqrt(1.0 - cos * cos)  # |cos| <= 1, so cos * cos <= 1 in floats too
        angular = cos * cos_m - sin * sin_m  # cos(theta + m)
        margined = ops.greater(cos, 0.0 if easy_margin else -cos_m)  # cos(pi - m) = -cos m
        past = cos if easy_margin else cos - m * sin_m
        slope = ops.where(
            margined, cos_m + cos * sin_m / ops.maximum(sin, SIN_FLOOR), 1.0
        )  # d f / d z_y = d cos(theta + m) / d cos(theta) = sin(theta + m) / sin(theta)

        def partials():  # d f / d m
            past_partial = 0.0 if easy_margin else -(sin_m + m * cos_m)
            return (scale * ops.where(margined, -(sin * cos_m + cos * sin_m), past_partial),)

        # Automatic differentiation of sqrt(1 - cos^2) gives NaN at cos = 1.
        value = scale * ops.where(margined, angular, past)
        return Target(value, slope, partials, differentiable=False)

    return target


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class ArcFace(MarginLoss):
    """ArcFace loss: cross-entropy with an additive angular margin on the target.

    The target logit ``s cos(theta_y)`` becomes ``s cos(theta_y + margin)``
    (with a fallback past ``theta_y + margin = pi``; see
    `keras_wsoftmax.arcface`), on the scaled cosines of
    `keras_wsoftmax.WSoftmaxHead`, reduced like any Keras loss.

    Args:
        margin: The angular margin in radians, ``0 <= margin < pi``.
            Defaults to 0.5.
        scale: The head's scale: pass ``head.scale``. Defaults to
            `keras_wsoftmax.DEFAULT_SCALE` (16), the head's default below
            100 classes only (`keras_wsoftmax.recommended_scale`).
        easy_margin: Apply the margin only where ``cos(theta_y) > 0``.
            Defaults to False (InsightFace's fallback).
        ignore_class: Optional class id to ignore (segmentation's "void").
        reduction: As in every Keras loss (default ``"sum_over_batch_size"``).
        name: Name of the loss instance.
        dtype: The dtype of the loss's computations, as in every Keras loss.
        axis: The class axis of the logits. Defaults to -1.

    Example:

    >>> loss = ArcFace(margin=0.5)
    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[6.0, 1.0, -2.0], [2.0, 9.0, 8.0]])
    >>> print(f"{float(loss(y_true, y_pred)):.4f}")
    4.6980

    Usage with the `compile()` API, the head and the loss on one scale:

    ```python
    head = WSoftmaxHead(num_classes)  # scale=recommended_scale(num_classes)
    model = keras.Sequential([backbone, head])
    model.compile(optimizer="adam", loss=ArcFace(0.5, scale=head.scale))
    ```
    """

    function = staticmethod(arcface)
    parameters = ("margin", "scale", "easy_margin")

    def __init__(
        self,
        margin: float = DEFAULT_ARCFACE_MARGIN,
        scale: float = DEFAULT_SCALE,
        easy_margin: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "arcface",
        dtype: str | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(ignore_class, reduction, name, dtype, axis)
        self.margin = _margin(margin).checked()
        self.scale = checked_scale(scale)
        self.easy_margin = bool(easy_margin)

    def fused_target(self):
        return target_for(self.scale, self.easy_margin), (self.margin,), self.scale
