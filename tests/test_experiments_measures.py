"""The studies' own measures: retrieval, likelihood and the paired interval."""

import numpy as np
import pytest
from scipy import stats

from experiments import reporting
from experiments.geometry import calibration, retrieval
from experiments.statistics import UNTESTED, mean_std, paired_difference, verdict


def brute_force_retrieval(features, labels):
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    hits, aps = [], []
    for q in range(len(labels)):
        others = [i for i in range(len(labels)) if i != q]
        ranked = sorted(others, key=lambda i: -float(unit[q] @ unit[i]))
        relevant = [labels[i] == labels[q] for i in ranked]
        hits.append(relevant[0])
        precisions = [np.mean(relevant[: k + 1]) for k, r in enumerate(relevant) if r]
        aps.append(np.mean(precisions) if precisions else 0.0)
    return np.mean(hits), np.mean(aps)


def test_retrieval_matches_brute_force():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4))
    labels = rng.integers(0, 3, 60)
    got = retrieval(features, labels, chunk=7)
    recall, average_precision = brute_force_retrieval(features, labels)
    assert got["recall_at_1"] == pytest.approx(recall)
    assert got["map"] == pytest.approx(average_precision)


def test_calibration_nll_is_the_cross_entropy():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    labels = np.array([0, 2])
    expected = np.mean(
        [np.log(np.exp(row).sum()) - row[label] for row, label in zip(logits, labels, strict=True)]
    )
    assert calibration(logits, labels)["nll"] == pytest.approx(expected)


def test_paired_difference_is_the_paired_t_interval():
    a = np.array([0.91, 0.90, 0.93, 0.92, 0.90])
    b = np.array([0.90, 0.90, 0.91, 0.90, 0.91])
    d = paired_difference(a, b)
    test = stats.ttest_rel(a, b)
    low, high = test.confidence_interval(0.95)
    assert (d["low"], d["high"], d["n"]) == (pytest.approx(low), pytest.approx(high), 5)
    assert verdict(d) == ("higher" if low > 0 else "lower" if high < 0 else "no difference")
    assert verdict({"low": -0.1, "high": 0.2}) == "no difference"
    assert verdict({"low": 0.1, "high": 0.2}) == "higher"
    assert verdict({"low": -0.3, "high": -0.2}) == "lower"


def test_one_pair_has_no_interval():
    d = paired_difference([1.0], [0.5])
    assert d["mean"] == 0.5 and np.isnan(d["low"]) and verdict(d) == UNTESTED
    assert reporting.difference_cell({"x_diff": d}, "x", 100) == "+50.00 [one seed]"
    assert mean_std([3.0]) == (3.0, 0.0)
