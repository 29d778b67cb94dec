"""End-to-end smoke tests of the studies on a few hundred samples, offline."""

import json
import math

import numpy as np
import pytest

from experiments import (
    alpha_grid,
    demo,
    features_2d,
    noisy_labels,
    overfitting,
    unseen_classes,
    width,
)
from tests.helpers.backends import BACKEND

QUICK = ["--epochs", "1", "--limit", "256", "--test-limit", "256", "--verbose", "0"]

# The studies' harness (flags, plans, resume, tables, figures) is the same Python on
# every backend, and their reports run on TensorFlow: each study's smoke test runs
# there. On every backend: the demo and test_same_command_same_numbers (a study
# end to end, deterministic), besides the package's own tests of the losses.
harness = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="the study harness runs on TensorFlow (see above)"
)


def all_finite(values):
    return all(math.isfinite(v) for v in values)


@pytest.mark.usefixtures("fashion_mnist")
def test_demo(tmp_path):
    runs = demo.main([*QUICK, "--out", str(tmp_path)])
    assert len(runs) == 2
    for name in ["demo.md", "demo.json", "demo.png", "wsoftmax_model.keras"]:
        assert (tmp_path / name).stat().st_size > 0, name
    report = (tmp_path / "demo.md").read_text()
    assert "| W-Softmax (alpha=0.2) |" in report and "| cross-entropy |" in report
    assert "Command: `KERAS_BACKEND=" in report and "Date:" in report
    for run in runs.values():
        assert all_finite([run["test_accuracy"], run["test_cross_entropy"], *run["epoch_seconds"]])
        assert run["head_units"] == 160  # WSoftmaxHead(10)'s default width


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_alpha_grid(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--alphas", "0", "0.3", "--out", str(tmp_path)]
    summary = alpha_grid.main(argv)
    # Two head modes x (two alphas + the literal bias).
    assert {(r["mode"], r["loss"]) for r in summary} == {
        (mode, key)
        for mode in ("cosine", "plain")
        for key in ["wsoftmax-0", "wsoftmax-0.3", "literal-0.2"]
    }
    for row in summary:
        assert row["seeds"] == [0, 1]
        assert all_finite([row[k] for k in row if k.endswith("_deg") or k.endswith("accuracy")])
        # Paired to alpha = 0 of the same head: every other row has an interval.
        assert ("test_accuracy_diff" in row) == (row["loss"] != "wsoftmax-0")
    report = (tmp_path / "alpha_grid.md").read_text()
    assert report.count("\n| cosine |") == 3 and report.count("\n| plain |") == 3
    assert "## Findings" in report and "literal bias 0.2" in report
    stored = json.loads((tmp_path / "alpha_grid.json").read_text())
    assert len(stored["runs"]) == 12
    assert (tmp_path / "alpha_grid.png").stat().st_size > 0


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_width(tmp_path):
    summary = width.main(
        [*QUICK, "--seeds", "2", "--widths", "2", "10", "1024", "--out", str(tmp_path)]
    )
    assert [(r["loss"], r["units"]) for r in summary] == [
        (loss, units) for loss in ("cross-entropy", "wsoftmax-0.2") for units in (2, 10, 1024)
    ]
    assert all(all_finite([r["test_accuracy"], r["mean_epoch_seconds"]]) for r in summary)
    # FC 1600 x units + bias, classifier units x 10; FLOPs as counted by head_flops.
    assert [r["head_parameters"] for r in summary[:3]] == [3_222, 16_110, 1_649_664]
    assert summary[1]["flops"] == 32020 + 200 + 40
    # Paired to the widest head: every narrower width has an interval.
    assert ["test_accuracy_diff" in r for r in summary[:3]] == [True, True, False]
    report = (tmp_path / "width.md").read_text()
    assert "| **10** |" in report and "## Findings" in report
    assert (
        "the smallest width from which every accuracy interval to 1024 units includes 0" in report
    )
    assert "fewer head parameters" in report
    assert (tmp_path / "width.png").stat().st_size > 0


@harness
def test_width_on_the_synthetic_task(tmp_path):
    argv = ["--dataset", "synthetic-30", "--epochs", "2", "--verbose", "0", "--seeds", "2"]
    summary = width.main([*argv, "--widths", "30", "120", "--out", str(tmp_path)])
    assert [(r["loss"], r["units"]) for r in summary] == [
        (loss, units) for loss in ("cross-entropy", "wsoftmax-0.2") for units in (30, 120)
    ]
    # MLP: FC 512 x units + bias, classifier units x 30.
    assert [r["head_parameters"] for r in summary[:2]] == [
        512 * 30 + 30 + 30 * 30,
        512 * 120 + 120 + 120 * 30,
    ]
    # Two epochs on 3,000 samples of 30 classes learn the task well above chance (1/30).
    assert all(r["test_accuracy"] > 0.2 for r in summary), [r["test_accuracy"] for r in summary]
    report = (tmp_path / "width.md").read_text()
    assert "an MLP (two ReLU layers of 512" in report and "synthetic(30)" in report
    assert "| **30** |" in report
    # A third seed resumes from that report: 8 runs kept, 4 new, the same summary for seeds 0-1.
    resumed = width.main(
        [*argv, "--seeds", "3", "--widths", "30", "120", "--resume", "--out", str(tmp_path)]
    )
    runs = json.loads((tmp_path / "width.json").read_text())["runs"]
    assert sum("reused_from" in r for r in runs) == 8 and len(runs) == 12
    assert [r["seeds"] for r in resumed] == [[0, 1, 2]] * 4
    assert "8 of these 12 runs are reused (`--resume`)" in (tmp_path / "width.md").read_text()


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_features_2d(tmp_path):
    panels = features_2d.main([*QUICK, "--alphas", "0", "0.3", "--out", str(tmp_path)])
    assert [alpha for alpha, _, _ in panels] == [0.0, 0.3]
    for _, accuracy, features in panels:
        assert features.shape == (256, 2) and np.all(np.isfinite(features))
        assert math.isfinite(accuracy)
    assert (tmp_path / "features_2d.png").stat().st_size > 0
    report = (tmp_path / "features_2d.md").read_text()
    assert "| cross-entropy |" in report and "| W-Softmax 0.3 |" in report


PEERS = ["cross-entropy", "wsoftmax-0.2", "cosface", "arcface", "label-smoothing"]


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_overfitting(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--sizes", "64", "128", "--losses", *PEERS]
    summary = overfitting.main([*argv, "--out", str(tmp_path)])
    assert [(r["size"], r["loss"]) for r in summary] == [(s, k) for s in (64, 128) for k in PEERS]
    for row in summary:
        assert all_finite([row["test_accuracy"], row["gap"], row["ece"], row["nll"]])
        assert ("gap_diff" in row) == (row["loss"] != "cross-entropy")
    runs = json.loads((tmp_path / "overfitting.json").read_text())["runs"]
    # Each seed draws its own subset, and every loss of a seed gets the same one.
    assert len(runs) == 2 * 2 * len(PEERS)
    report = (tmp_path / "overfitting.md").read_text()
    assert "| 64 | CosFace m=0.35 |" in report and "Δ test accuracy [95% CI]" in report
    assert (tmp_path / "overfitting.png").stat().st_size > 0


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_unseen_classes(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--losses", "cross-entropy", "arcface"]
    summary = unseen_classes.main([*argv, "--out", str(tmp_path)])
    assert [r["loss"] for r in summary] == ["cross-entropy", "arcface"]
    for row in summary:
        for name in ["fc_recall_at_1", "fc_map", "backbone_recall_at_1", "backbone_map"]:
            assert 0 <= row[name] <= 1
    assert "fc_map_diff" in summary[1]
    report = (tmp_path / "unseen_classes.md").read_text()
    assert "| ArcFace m=0.5 |" in report and "FC Recall@1 (%)" in report
    assert (tmp_path / "unseen_classes.png").stat().st_size > 0


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_noisy_labels(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--rates", "0.4", "--losses", "cross-entropy", "cosface"]
    summary = noisy_labels.main([*argv, "--out", str(tmp_path)])
    assert [(r["rate"], r["loss"]) for r in summary] == [(0.4, "cross-entropy"), (0.4, "cosface")]
    runs = json.loads((tmp_path / "noisy_labels.json").read_text())["runs"]
    assert all(0.3 < r["replaced_fraction"] < 0.5 for r in runs)
    assert "| 0.4 | CosFace m=0.35 |" in (tmp_path / "noisy_labels.md").read_text()


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_resume_keeps_the_runs_it_has_and_adds_the_rest(tmp_path):
    argv = [*QUICK, "--rates", "0.2", "--losses", "cross-entropy", "wsoftmax-0.5"]
    argv += ["--out", str(tmp_path)]
    noisy_labels.main([*argv, "--seeds", "1"])
    first = json.loads((tmp_path / "noisy_labels.json").read_text())["runs"]
    noisy_labels.main([*argv, "--seeds", "2", "--resume"])
    runs = json.loads((tmp_path / "noisy_labels.json").read_text())["runs"]
    assert [(r["seed"], r["loss"]) for r in runs] == [
        (s, k) for s in (0, 1) for k in ("cross-entropy", "wsoftmax-0.5")
    ]
    for earlier, kept in zip(first, runs[:2], strict=True):
        assert kept.pop("reused_from").endswith("`")  # the earlier report's date and command
        assert kept == earlier
    assert not any("reused_from" in r for r in runs[2:])
    assert "2 of these 4 runs are reused (`--resume`)" in (tmp_path / "noisy_labels.md").read_text()
    with pytest.raises(SystemExit, match=r"other settings \(epochs: \[1\] there, \[2\] now\)"):
        noisy_labels.main([*argv, "--seeds", "2", "--resume", "--epochs", "2"])


@pytest.mark.usefixtures("fashion_mnist")
def test_same_command_same_numbers(tmp_path):
    """The studies are deterministic on every backend: two runs, identical numbers."""
    argv = [*QUICK, "--seeds", "1", "--sizes", "128", "--losses", "cross-entropy", "wsoftmax-0.2"]
    first = overfitting.main([*argv, "--out", str(tmp_path / "a")])
    second = overfitting.main([*argv, "--out", str(tmp_path / "b")])
    for a, b in zip(first, second, strict=True):
        for key in ["test_accuracy", "train_accuracy", "compactness_deg", "ece", "nll"]:
            assert a[key] == b[key], key


def test_width_findings_need_every_wider_interval_to_hold_zero():
    def row(units, low, high):
        diff = None if low is None else {"mean": (low + high) / 2, "low": low, "high": high}
        return {
            "loss": "cross-entropy",
            "units": units,
            "test_accuracy_diff": diff,
            "head_parameters": units * 10,
            "flops": units * 20,
            "mean_epoch_seconds": 1.0,
        }

    # 10 units: one unstable seed widens the interval over 0; 20 units loses accuracy.
    summary = [row(10, -7.0, 1.0), row(20, -0.9, -0.3), row(40, -0.4, 0.1), row(1024, None, None)]
    (line,) = width.findings(summary, smallest=10, widest=1024)
    assert "includes 0 is 40 units" in line
