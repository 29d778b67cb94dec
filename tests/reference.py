"""Float64 NumPy reference of the W-Softmax loss and its gradient."""

import numpy as np


def _parts(logits, labels, alpha):
    z = np.asarray(logits, dtype=np.float64)
    is_target = np.arange(z.shape[-1]) == np.asarray(labels)[..., None]
    z_y = np.where(is_target, z, 0.0).sum(-1)
    negatives = np.where(is_target, -np.inf, z)
    peak = negatives.max(-1, keepdims=True)
    weights = np.exp(negatives - peak)
    log_partition = np.log(weights.sum(-1)) + peak[..., 0]
    margin = log_partition - z_y + alpha * np.abs(z_y)
    return is_target, z_y, weights / weights.sum(-1, keepdims=True), margin


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
