"""The CosFace loss (large margin cosine loss; Wang et al. 2018), also called AM-Softmax.

On scaled cosines ``z_j = s cos(theta_j)``, CosFace takes a cosine margin
``m`` from the target: cross-entropy of ``s (cos(theta_y) - m)`` against
the other logits as they are.
"""

import math

import keras

from keras_wsoftmax._inputs import Parameter
from keras_wsoftmax._margin import MarginLoss, Target, margin_losses
from keras_wsoftmax._types import Tensor
from keras_wsoftmax.sizing import DEFAULT_SCALE, checked_scale

DEFAULT_COSFACE_MARGIN = 0.35
"""`CosFace`'s default cosine margin `m`."""


def _margin(margin):
    return Parameter("margin", margin, 0.0, math.inf)


def cosface(
    y_true: Tensor,
    y_pred: Tensor,
    margin: float | Tensor = DEFAULT_COSFACE_MARGIN,
    scale: float = DEFAULT_SCALE,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
    """Per-sample CosFace loss of scaled cosines `y_pred` for labels `y_true`.

    With ``y`` the target class and ``z_j = s cos(theta_j)`` the logits of
    one sample (`keras_wsoftmax.WSoftmaxHead`'s, whose scale must be `scale`),

        loss(z, y) = -log( exp(z_y - s m) / (exp(z_y - s m) + sum_{j != y} exp(z_j)) )
                   = softplus( logsumexp_{j != y}(z_j) - z_y + s m )

    The loss falls toward zero only when ``cos(theta_y) - m > cos(theta_j)``
    by a growing gap: a margin of ``m`` in cosine. ``margin = 0`` is sparse
    softmax cross-entropy. The gradient is that of cross-entropy on the
    shifted logits: ``-sigmoid(.)`` on the target, ``sigmoid(.)`` times the
    negatives' softmax elsewhere.

    Args:
        y_true: Integer class ids of shape ``(...,)`` or ``(..., 1)``, or
            one-hot labels of the same shape as `y_pred` (the shape decides).
        y_pred: Scaled cosines of shape ``(..., C)``, rank >= 2, ``C >= 2``.
        margin: The cosine margin ``m >= 0``: a number, or a scalar tensor
            (which gets its gradient). Defaults to 0.35, CosFace's.
        scale: The head's scale ``s``: the logits are ``s cos(theta)``.
            Defaults to `keras_wsoftmax.DEFAULT_SCALE` (16), the head's
            default below 100 classes; pass the head's, ``head.scale``.
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
    >>> print(keras.ops.convert_to_numpy(cosface(y_true, y_pred, margin=0.35)).round(4))
    [1.0691 4.6125]
    """
    scale = checked_scale(scale)
    return margin_losses(
        y_true, y_pred, target_for(scale), (_margin(margin),), ignore_class, axis, scale
    )


def target_for(scale):
    """CosFace's new target logit ``z_y - s m`` on cosines of scale `scale` (a checked float)."""

    def target(z_y, m):
        return Target(z_y - scale * m, 1.0, lambda: (-scale,))

    return target


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class CosFace(MarginLoss):
    """CosFace (AM-Softmax) loss: cross-entropy with a cosine margin on the target.

    ``loss = softplus(logsumexp_{j != y}(z_j) - z_y + scale * margin)`` per
    sample on the scaled cosines of `keras_wsoftmax.WSoftmaxHead` (see
    `keras_wsoftmax.cosface`), reduced like any Keras loss.

    Args:
        margin: The cosine margin ``m >= 0``. Defaults to 0.35.
        scale: The head's scale: pass ``head.scale``. Defaults to
            `keras_wsoftmax.DEFAULT_SCALE` (16), the head's default below
            100 classes only (`keras_wsoftmax.recommended_scale`).
        ignore_class: Optional class id to ignore (segmentation's "void").
        reduction: As in every Keras loss (default ``"sum_over_batch_size"``).
        name: Name of the loss instance.
        dtype: The dtype of the loss's computations, as in every Keras loss.
        axis: The class axis of the logits. Defaults to -1.

    Example:

    >>> loss = CosFace(margin=0.35)
    >>> y_true = np.array([0, 1])
    >>> y_pred = np.array([[6.0, 1.0, -2.0], [2.0, 9.0, 8.0]])
    >>> print(f"{float(loss(y_true, y_pred)):.4f}")
    2.8408

    Usage with the `compile()` API, the head and the loss on one scale:

    ```python
    head = WSoftmaxHead(num_classes)  # scale=recommended_scale(num_classes)
    model = keras.Sequential([backbone, head])
    model.compile(optimizer="adam", loss=CosFace(0.35, scale=head.scale))
    ```
    """

    function = staticmethod(cosface)
    parameters = ("margin", "scale")

    def __init__(
        self,
        margin: float = DEFAULT_COSFACE_MARGIN,
        scale: float = DEFAULT_SCALE,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosface",
        dtype: str | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(ignore_class, reduction, name, dtype, axis)
        self.margin = _margin(margin).checked()
        self.scale = checked_scale(scale)

    def fused_target(self):
        return target_for(self.scale), (self.margin,), self.scale
