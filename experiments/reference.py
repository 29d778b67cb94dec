"""Float64 NumPy references of the losses: the oracle of the tests and of the device check."""

import numpy as np


def _parts(logits, labels, alpha):
    """Target mask, z_y, softmax of the negatives and the softplus argument, at the limits too.

    Negatives all -inf: their log-sum-exp is -inf and their softmax 0 (the
    limit: nothing to beat). z_y = +-inf: the margin term -(1 - alpha sign
    z_y) z_y is -inf or +inf. A +inf negative has no finite value: NaN.
    """
    z = np.asarray(logits, dtype=np.float64)
    is_target = np.arange(z.shape[-1]) == np.asarray(labels)[..., None]
    z_y = np.where(is_target, z, 0.0).sum(-1)
    negatives = np.where(is_target, -np.inf, z)
    peak = negatives.max(-1, keepdims=True)
    peak = np.where(peak == -np.inf, 0.0, peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.exp(negatives - peak)
        total = weights.sum(-1)
        log_partition = np.log(total) + peak[..., 0]
        margin = log_partition - (1.0 - alpha * np.sign(z_y)) * z_y
        softmax = np.where(total[..., None] > 0, weights / total[..., None], 0.0)
    return is_target, z_y, softmax, margin


def wsoftmax(logits, labels, alpha):
    """softplus(logsumexp_{j != y} z_j - z_y + alpha |z_y|), per sample."""
    return np.logaddexp(0.0, _parts(logits, labels, alpha)[3])


def cross_entropy(logits, labels):
    return wsoftmax(logits, labels, 0.0)


def wsoftmax_grad(logits, labels, alpha):
    """d loss / d z: -(1 - alpha sign z_y) s on y, s softmax_{j != y} z_j elsewhere."""
    is_target, z_y, negative_softmax, margin = _parts(logits, labels, alpha)
    s = 1.0 / (1.0 + np.exp(-margin))
    target_grad = -(1.0 - alpha * np.sign(z_y)) * s
    return np.where(is_target, target_grad[..., None], s[..., None] * negative_softmax)


def literal_wsoftmax(logits, labels, alpha):
    """The paper taken literally: negatives biased by alpha * z_y, not |z_y|."""
    is_target, z_y, _, margin = _parts(logits, labels, alpha)
    return np.logaddexp(0.0, margin - alpha * np.abs(z_y) + alpha * z_y)


def _softmax_cross_entropy(logits, labels):
    z = np.asarray(logits, dtype=np.float64)
    log_partition = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    return log_partition - np.take_along_axis(z, np.asarray(labels)[..., None], -1)[..., 0]


def cosface(logits, labels, scale, margin):
    """Cross-entropy of s cos(theta_j) with s m taken from the target logit."""
    z = np.asarray(logits, dtype=np.float64)
    is_target = np.arange(z.shape[-1]) == np.asarray(labels)[..., None]
    return _softmax_cross_entropy(np.where(is_target, z - scale * margin, z), labels)


def arcface(logits, labels, scale, margin):
    """Cross-entropy with the target logit s cos(theta_y + m), or s (cos theta_y - m sin m)
    where theta_y + m > pi."""
    cos = np.clip(np.asarray(logits, dtype=np.float64) / scale, -1.0, 1.0)
    theta = np.arccos(cos)
    target = np.where(
        theta + margin <= np.pi, np.cos(theta + margin), cos - margin * np.sin(margin)
    )
    is_target = np.arange(cos.shape[-1]) == np.asarray(labels)[..., None]
    return _softmax_cross_entropy(scale * np.where(is_target, target, cos), labels)


def label_smoothing(logits, labels, smoothing):
    """Cross-entropy against (1 - eps) one-hot + eps / C."""
    z = np.asarray(logits, dtype=np.float64)
    num_classes = z.shape[-1]
    log_softmax = z - z.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    one_hot = np.arange(num_classes) == np.asarray(labels)[..., None]
    target = (1 - smoothing) * one_hot + smoothing / num_classes
    return -(target * log_softmax).sum(-1)
