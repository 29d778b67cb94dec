"""Every example in examples/ runs at its smoke size on the backends its header claims.

Each runs as a user runs it, `python examples/NAME.py ...`, in its own
process on this session's backend; the checks read what it prints and
writes. Not timed.
"""

import re
import sys

import pytest

from tests.helpers.processes import run


def example(name, *args):
    return run(sys.executable, f"examples/{name}.py", *args, timeout=900).stdout


def test_custom_training_loop_matches_fit():
    out = example("custom_training_loop", "--epochs", "2", "--samples", "1024", "--loss", "arcface")
    rows = re.findall(r"^\s+(\d+) \| ([\d.]+)\s+\| ([\d.]+)$", out, re.M)
    assert len(rows) == 2, out
    fit_losses = [float(r[1]) for r in rows]
    loop_losses = [float(r[2]) for r in rows]
    assert fit_losses[1] < fit_losses[0]  # it trains
    assert loop_losses == pytest.approx(fit_losses, rel=1e-4)
    difference = float(re.search(r"largest weight difference between the two runs: (\S+)", out)[1])
    assert difference < 1e-4, out


def test_segmentation_trains_with_void_pixels_and_channels_first_logits():
    out = example("segmentation", "--epochs", "2", "--images", "128")
    assert "of the pixels are void" in out
    results = re.findall(
        r"^(\S+): loss ([\d.]+) -> ([\d.]+); IoU .*; mean IoU ([\d.]+)$", out, re.M
    )
    assert [r[0] for r in results] == ["wsoftmax", "cross-entropy"], out
    for _, first, last, mean_iou in results:
        assert float(last) < float(first) and 0.0 <= float(mean_iou) <= 1.0


def test_retrieval_scores_unseen_classes_and_draws_the_curve(fashion_mnist, tmp_path):
    out = example("retrieval", "--epochs", "1", "--limit", "2000", "--out", str(tmp_path))
    rows = re.findall(
        r"^(\S+) \| (backbone|head FC) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)$", out, re.M
    )
    assert len(rows) == 4, out
    assert all(0.0 < float(r[2]) <= 1.0 for r in rows)  # Recall@1
    assert (tmp_path / "retrieval_roc.png").stat().st_size > 10_000
