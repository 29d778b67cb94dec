"""Summaries over seeds, and the paired interval that decides whether two losses differ."""

import numpy as np
from scipy import stats


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def paired_difference(values, baseline, confidence=0.95):
    """Mean of ``values - baseline`` over paired seeds, with its t confidence interval.

    Returns ``{"mean", "low", "high", "n"}``; the interval is NaN for fewer
    than 2 pairs. A difference is real when the interval excludes 0.

    Example:

    >>> d = paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.91])
    >>> round(d["mean"], 4), d["low"] > 0
    (0.0167, True)
    """
    differences = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    n = len(differences)
    mean = float(differences.mean())
    if n < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "n": n}
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * differences.std(ddof=1) / np.sqrt(n)
    return {"mean": mean, "low": float(mean - half), "high": float(mean + half), "n": n}


UNTESTED = "untested (one seed, no interval)"


def verdict(difference):
    """ "higher", "lower" or "no difference": where the paired interval lies against 0.

    `UNTESTED` where there is no interval (one pair): one seed decides nothing.
    """
    if np.isnan(difference["low"]):
        return UNTESTED
    if difference["low"] > 0:
        return "higher"
    if difference["high"] < 0:
        return "lower"
    return "no difference"
