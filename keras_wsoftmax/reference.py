"""Float64 NumPy references of the losses: the oracle of the tests and of the device check.

Written for clarity, not speed, and with no Keras: each loss is softmax
cross-entropy with the target logit replaced by ``f(z_y)`` (`margin_loss`), whose
derivative ``f'(z_y)`` gives the gradient (`margin_loss_grad`).
"""

import math

import numpy as np

# ArcFace's derivative takes sin(theta) at least this: the smallest sine a
# float32 cosine below 1 has, so it decides only cos = 1 exactly (the same
# convention as `keras_wsoftmax.arcface.SIN_FLOOR`; the tests pin the two).
SIN_FLOOR = math.sqrt(2.0**-23)


def _parts(logits, labels, new_target):
    """Target mask, z_y, softmax of the negatives and the softplus argument, at the limits too.

    Negatives all -inf: their log-sum-exp is -inf and their softmax 0 (the
    limit: nothing to beat). f(z_y) = +-inf: the margin is -inf or +inf. A
    +inf negative has no finite value: NaN.
    """
    z = np.asarray(logits, dtype=np.float64)
    is_target = np.arange(z.shape[-1]) == np.asarray(labels)[..., None]
    z_y = np.where(is_target, z, 0.0).sum(-1)
    negatives = np.where(is_target, -np.inf, z)
    peak = negatives.max(-1, keepdims=True)
    peak = np.where(peak == -np.inf, 0.0, peak)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        weights = np.exp(negatives - peak)
        total = weights.sum(-1)
        log_partition = np.log(total) + peak[..., 0]
        margin = log_partition - new_target(z_y)
        softmax = np.where(total[..., None] > 0, weights / total[..., None], 0.0)
    return is_target, z_y, softmax, margin


def margin_loss(logits, labels, new_target):
    """``softplus(logsumexp_{j != y} z_j - f(z_y))`` per sample, with ``f = new_target``."""
    with np.errstate(invalid="ignore"):
        return np.logaddexp(0.0, _parts(logits, labels, new_target)[3])


def margin_loss_grad(logits, labels, new_target, slope):
    """d loss / d z: ``-f'(z_y) s`` on y, ``s softmax_{j != y} z_j`` elsewhere (``s = sigmoid``)."""
    is_target, z_y, negative_softmax, m = _parts(logits, labels, new_target)
    with np.errstate(over="ignore", invalid="ignore"):
        s = 1.0 / (1.0 + np.exp(-m))
        target_grad = -slope(z_y) * s
    return np.where(is_target, target_grad[..., None], s[..., None] * negative_softmax)


# The losses' targets f(z_y) and slopes f'(z_y) --------------------------------


def wsoftmax_target(alpha):
    """``z_y - alpha |z_y|``, as ``(1 - alpha sign z_y) z_y`` (a limit at +-inf)."""
    return lambda z_y: (1.0 - alpha * np.sign(z_y)) * z_y, lambda z_y: 1.0 - alpha * np.sign(z_y)


def cosface_target(margin, scale):
    """``z_y - s m``."""
    return lambda z_y: z_y - scale * margin, np.ones_like


def arcface_target(margin, scale, easy_margin=False):
    """``s cos(theta_y + m)``; past the switch, ``s (cos theta_y - m sin m)`` or ``s cos theta_y``.

    The switch is at ``cos theta_y = cos(pi - m)`` (where ``theta_y + m``
    reaches pi), or at ``cos theta_y = 0`` with `easy_margin`.
    """

    def parts(z_y):
        cos = np.clip(np.asarray(z_y, np.float64) / scale, -1.0, 1.0)
        theta = np.arccos(cos)
        margined = cos > (0.0 if easy_margin else math.cos(math.pi - margin))
        past = cos if easy_margin else cos - margin * math.sin(margin)
        return cos, theta, margined, past

    def value(z_y):
        cos, theta, margined, past = parts(z_y)
        return scale * np.where(margined, np.cos(theta + margin), past)

    def slope(z_y):
        cos, theta, margined, _ = parts(z_y)
        # sin(theta + m) / sin(theta), with the floor on the sine alone.
        sin = np.maximum(np.sin(theta), SIN_FLOOR)
        return np.where(margined, math.cos(margin) + cos * math.sin(margin) / sin, 1.0)

    return value, slope


# The per-sample losses and their gradients -----------------------------------


def wsoftmax(logits, labels, alpha):
    """softplus(logsumexp_{j != y} z_j - z_y + alpha |z_y|), per sample."""
    return margin_loss(logits, labels, wsoftmax_target(alpha)[0])


def wsoftmax_grad(logits, labels, alpha):
    return margin_loss_grad(logits, labels, *wsoftmax_target(alpha))


def cross_entropy(logits, labels):
    return wsoftmax(logits, labels, 0.0)


def cosface(logits, labels, scale, margin):
    """Cross-entropy of s cos(theta_j) with s m taken from the target logit."""
    return margin_loss(logits, labels, cosface_target(margin, scale)[0])


def arcface(logits, labels, scale, margin, easy_margin=False):
    """Cross-entropy with the target logit s cos(theta_y + m), or its fallback past the switch."""
    return margin_loss(logits, labels, arcface_target(margin, scale, easy_margin)[0])


def literal_wsoftmax(logits, labels, alpha):
    """The paper taken literally: negatives biased by alpha * z_y, not |z_y|."""
    return margin_loss(logits, labels, lambda z_y: (1.0 - alpha) * z_y)


def label_smoothing(logits, labels, smoothing):
    """Cross-entropy against (1 - eps) one-hot + eps / C."""
    z = np.asarray(logits, dtype=np.float64)
    num_classes = z.shape[-1]
    log_softmax = z - z.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    one_hot = np.arange(num_classes) == np.asarray(labels)[..., None]
    target = (1 - smoothing) * one_hot + smoothing / num_classes
    return -(target * log_softmax).sum(-1)
