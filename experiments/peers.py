"""What the studies train that the package deliberately does not ship.

`LiteralWSoftmax` is the paper taken literally: a negative target logit
lowers every negative logit, so misclassified samples can reach zero loss
(`docs/wsoftmax.md`). `SparseLabelSmoothing` is Keras's own label smoothing,
which takes one-hot labels, on the class ids the studies use. CosFace and
ArcFace are the package's (`keras_wsoftmax.CosFace`, `keras_wsoftmax.ArcFace`).
"""

import math

import keras
from keras import ops


def _target_mask(y_true, y_pred):
    labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
    return labels, ops.one_hot(labels, ops.shape(y_pred)[-1]) > 0


def literal_wsoftmax(y_true, y_pred, alpha):
    """softplus(logsumexp_{j!=y} z_j + alpha z_y - z_y), per sample."""
    _, is_target = _target_mask(y_true, y_pred)
    z_y = ops.sum(ops.where(is_target, y_pred, 0.0), axis=-1)
    negatives = ops.logsumexp(ops.where(is_target, -math.inf, y_pred), axis=-1)
    return ops.softplus(negatives + alpha * z_y - z_y)


def label_smoothing(y_true, y_pred, smoothing=0.1):
    """Keras's own categorical cross-entropy with label smoothing, on class-id labels."""
    labels, _ = _target_mask(y_true, y_pred)
    one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1])
    return keras.losses.categorical_crossentropy(
        one_hot, y_pred, from_logits=True, label_smoothing=smoothing
    )


class LiteralWSoftmax(keras.losses.Loss):
    def __init__(self, alpha):
        super().__init__(name="literal_wsoftmax")
        self.alpha = alpha

    def call(self, y_true, y_pred):
        return literal_wsoftmax(y_true, y_pred, self.alpha)


class SparseLabelSmoothing(keras.losses.Loss):
    def __init__(self, smoothing=0.1):
        super().__init__(name="label_smoothing")
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        return label_smoothing(y_true, y_pred, self.smoothing)
