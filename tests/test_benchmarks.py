"""Smoke tests of the performance benchmark scripts at tiny sizes."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import loss_speed  # noqa: E402


def test_loss_speed_prints_ratios(capsys):
    rows = loss_speed.main(["--sizes", "8x3", "16x5", "--repeats", "2"])
    assert [(r["n"], r["c"]) for r in rows] == [(8, 3), (16, 5)]
    for row in rows:
        assert math.isfinite(row["time_ratio"]) and row["time_ratio"] > 0
        assert all(v > 0 for v in row["median_ms"].values())
        assert row["memory_bytes"]["wsoftmax"] > 0 and row["memory_bytes"]["cross_entropy"] > 0
    out = capsys.readouterr().out
    assert "| 8 x 3 |" in out and "| 16 x 5 |" in out
