"""The losses users would pick instead of W-Softmax, for the studies (not exported).

Each takes the logits of `WSoftmaxHead`: with ``normalize=True`` they are
``z_j = s * cos(theta_j)``, the scaled cosines that CosFace and ArcFace are
defined on, so ``cos(theta_j) = z_j / s``. Labels are integer class ids.
`tests/test_peers.py` checks each against a float64 NumPy reference.
"""

import math

import keras
from keras import ops


def _target_mask(y_true, y_pred):
    labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
    return labels, ops.one_hot(labels, ops.shape(y_pred)[-1]) > 0


def cosface(y_true, y_pred, scale, margin=0.35):
    """CosFace / AM-Softmax: cross-entropy of ``s * (cos(theta_j) - m [j = y])``.

    Wang et al. 2018 (CosFace), Wang et al. 2018 (AM-Softmax): an additive
    cosine margin, here ``scale * margin`` subtracted from the target logit.
    """
    labels, is_target = _target_mask(y_true, y_pred)
    logits = ops.where(is_target, y_pred - scale * margin, y_pred)
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def arcface(y_true, y_pred, scale, margin=0.5):
    """ArcFace: cross-entropy with the target logit ``s * cos(theta_y + m)``.

    Deng et al. 2019, additive angular margin. Where ``theta_y + m > pi``,
    ``cos(theta_y + m)`` is no longer decreasing in ``theta_y``; the usual
    fallback (as in InsightFace's reference code) then uses
    ``cos(theta_y) - m * sin(m)``, which keeps the target logit decreasing
    in the angle and continuous at the switch.
    """
    labels, is_target = _target_mask(y_true, y_pred)
    cos = ops.clip(ops.cast(y_pred, "float32") / scale, -1.0, 1.0)
    # The floor keeps the square root's gradient finite (and clipped to 0) at |cos| = 1.
    sin = ops.sqrt(ops.clip(1.0 - cos * cos, 1e-12, 1.0))
    shifted = cos * math.cos(margin) - sin * math.sin(margin)
    target = ops.where(cos > math.cos(math.pi - margin), shifted, cos - margin * math.sin(margin))
    logits = scale * ops.where(is_target, target, cos)
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def label_smoothing(y_true, y_pred, smoothing=0.1):
    """Keras's own categorical cross-entropy with label smoothing, on class-id labels."""
    labels, _ = _target_mask(y_true, y_pred)
    one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1])
    return keras.losses.categorical_crossentropy(
        one_hot, y_pred, from_logits=True, label_smoothing=smoothing
    )


def literal_wsoftmax(y_true, y_pred, alpha):
    """The paper taken literally: softplus(logsumexp_{j!=y} z_j + alpha z_y - z_y).

    Deliberately not in the package: a negative target logit lowers every
    negative logit, so misclassified samples can reach zero loss.
    """
    _, is_target = _target_mask(y_true, y_pred)
    z_y = ops.sum(ops.where(is_target, y_pred, 0.0), axis=-1)
    negatives = ops.logsumexp(ops.where(is_target, -math.inf, y_pred), axis=-1)
    return ops.softplus(negatives + alpha * z_y - z_y)


class PeerLoss(keras.losses.Loss):
    """One of the functions above as a Keras loss, with its fixed keyword arguments."""

    def __init__(self, function, name, **kwargs):
        super().__init__(name=name)
        self.function = function
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred, **self.kwargs)
