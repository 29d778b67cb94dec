"""Measures of the studies beyond the package's own: retrieval and likelihood.

Compactness, separation and the ECE are the package's
(`keras_wsoftmax.geometry`), which users run on their data through the
`FeatureGeometry` callback; the studies add cosine retrieval on classes the
model never saw, and the test negative log-likelihood.
"""

import numpy as np

from keras_wsoftmax.geometry import expected_calibration_error, softmax


def calibration(logits, labels, bins=15):
    """ECE (`bins` bins) and mean negative log-likelihood of the softmax of `logits`."""
    labels = np.asarray(labels).reshape(-1)
    probabilities = softmax(logits)
    likelihood = probabilities[np.arange(len(labels)), labels]
    return {
        "ece": expected_calibration_error(logits, labels, bins),
        "nll": float(-np.mean(np.log(np.maximum(likelihood, np.finfo(np.float64).tiny)))),
    }


def retrieval(features, labels, chunk=512):
    """Recall@1 and mAP of cosine retrieval, each sample querying all the others.

    Recall@1: the share of queries whose nearest other sample (largest
    cosine) has the query's class. mAP: the mean over queries of the average
    precision of the ranking of all other samples, a sample being relevant
    when it has the query's class. All-zero features have cosine 0 with
    everything. Ties are broken by index order.

    Example:

    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> retrieval(features, np.array([0, 0, 1, 1]))
    {'recall_at_1': 1.0, 'map': 1.0}
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    unit = features / np.maximum(norms, 1e-12)
    n = len(labels)
    hits, average_precisions = [], []
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        similarity = unit[rows] @ unit.T
        similarity[np.arange(len(rows)), rows] = -np.inf  # a query does not retrieve itself
        order = np.argsort(-similarity, axis=1, kind="stable")[:, :-1]
        relevant = labels[order] == labels[rows, None]
        hits.append(relevant[:, 0])
        ranks = np.arange(1, n)
        precision_at_hits = np.cumsum(relevant, axis=1) / ranks
        count = relevant.sum(axis=1)
        average_precisions.append(
            np.where(
                count > 0, (precision_at_hits * relevant).sum(axis=1) / np.maximum(count, 1), 0
            )
        )
    return {
        "recall_at_1": float(np.concatenate(hits).mean()),
        "map": float(np.concatenate(average_precisions).mean()),
    }
