"""One real run per study on a few hundred samples, offline: the models train and measure.

The orchestration (plans, resume, pairing, findings) is tested without
training in `test_experiments_runner.py`.
"""

import json
import math

import numpy as np
import pytest

from experiments import (
    alpha_grid,
    demo,
    factors,
    features_2d,
    glyphs,
    noisy_labels,
    overfitting,
    partial_fc_accuracy,
    protocol,
    regime_map,
    runner,
    subcenter_accuracy,
    unseen_classes,
    width,
)
from tests.helpers.backends import BACKEND

pytestmark = pytest.mark.slow  # real training runs of every study

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
    argv = [*QUICK, "--seeds", "1", "--alphas", "0.3", "--modes", "plain", "--no-literal"]
    (row,) = alpha_grid.main([*argv, "--out", str(tmp_path)])
    assert (row["mode"], row["loss"]) == ("plain", "wsoftmax-0.3")
    assert all_finite([row[k] for k in row if k.endswith("_deg") or k.endswith("accuracy")])
    assert 0 <= row["dead_feature_fraction"] <= 1
    assert (tmp_path / "alpha_grid.png").stat().st_size > 0


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_width(tmp_path):
    argv = [*QUICK, "--seeds", "1", "--widths", "10", "--losses", "cross-entropy"]
    (row,) = width.main([*argv, "--out", str(tmp_path)])
    assert all_finite([row["test_accuracy"], row["mean_epoch_seconds"]])
    # FC 1600 x 10 + bias, classifier 10 x 10; FLOPs as counted by head_flops.
    assert row["head_parameters"] == 16_110 and row["flops"] == 32020 + 200 + 40
    report = (tmp_path / "width.md").read_text()
    assert "| **10** |" in report and "## Findings" in report


@harness
def test_width_on_the_synthetic_task(tmp_path):
    argv = ["--dataset", "synthetic-30", "--epochs", "2", "--verbose", "0", "--seeds", "1"]
    argv += ["--widths", "30", "--losses", "cross-entropy", "--out", str(tmp_path)]
    (row,) = width.main(argv)
    # MLP: FC 512 x units + bias, classifier units x 30.
    assert row["head_parameters"] == 512 * 30 + 30 + 30 * 30
    # Two epochs on 3,000 samples of 30 classes learn the task well above chance (1/30).
    assert row["test_accuracy"] > 0.2, row["test_accuracy"]
    report = (tmp_path / "width.md").read_text()
    assert "an MLP (two ReLU layers of 512" in report and "synthetic(30)" in report


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_features_2d(tmp_path):
    panels = features_2d.main([*QUICK, "--alphas", "0.3", "--out", str(tmp_path)])
    ((alpha, accuracy, features),) = panels
    assert alpha == 0.3 and math.isfinite(accuracy)
    assert features.shape == (256, 2) and np.all(np.isfinite(features))
    assert (tmp_path / "features_2d.png").stat().st_size > 0
    assert "| W-Softmax 0.3 |" in (tmp_path / "features_2d.md").read_text()


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_overfitting(tmp_path):
    argv = [*QUICK, "--seeds", "1", "--sizes", "64", "--losses", "arcface"]
    (row,) = overfitting.main([*argv, "--out", str(tmp_path)])
    assert all_finite([row["test_accuracy"], row["gap"], row["ece"], row["nll"]])
    assert row["epochs_trained"] == 1 and 0 <= row["train_accuracy"] <= 1


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_unseen_classes(tmp_path):
    argv = [*QUICK, "--seeds", "1", "--losses", "cross-entropy"]
    (row,) = unseen_classes.main([*argv, "--out", str(tmp_path)])
    for name in ["fc_recall_at_1", "fc_map", "backbone_recall_at_1", "backbone_map"]:
        assert 0 <= row[name] <= 1
    assert "FC Recall@1 (%)" in (tmp_path / "unseen_classes.md").read_text()


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_noisy_labels(tmp_path):
    argv = [*QUICK, "--seeds", "1", "--rates", "0.4", "--losses", "cosface"]
    (row,) = noisy_labels.main([*argv, "--out", str(tmp_path)])
    assert (row["rate"], row["loss"]) == (0.4, "cosface") and all_finite([row["nll"]])
    (run,) = json.loads((tmp_path / "noisy_labels.json").read_text())["runs"]
    assert 0.3 < run["replaced_fraction"] < 0.5


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_subcenter_accuracy(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--rates", "0.4", "--losses", "cross-entropy"]
    argv += ["--clean-losses", "cross-entropy", "--clean-angle", "60"]
    rows = subcenter_accuracy.main([*argv, "--out", str(tmp_path)])
    assert [(r["rate"], r["subcenters"]) for r in rows] == [(0.4, 1), (0.4, 3)]
    assert all_finite([rows[1]["test_accuracy_diff"]["mean"], rows[1]["test_accuracy_diff"]["low"]])
    runs = json.loads((tmp_path / "subcenter_accuracy.json").read_text())["runs"]
    assert sorted((r["seed"], r["subcenters"]) for r in runs) == [(0, 1), (0, 3), (1, 1), (1, 3)]
    # The recipe ran on the K = 3 runs only, and its shares are shares.
    cleaning = [r["cleaning"] for r in runs if r["subcenters"] == 3]
    assert len(cleaning) == 2 and all(0 <= c["dropped_fraction"] <= 1 for c in cleaning)
    assert all("cleaning" not in r for r in runs if r["subcenters"] == 1)
    assert "The recipe at noise 0.4" in (tmp_path / "subcenter_accuracy.md").read_text()
    # A run cleaned at one angle is not reused for another.
    with pytest.raises(
        SystemExit, match=r"other settings \(clean_angle: \[60.0\] there, \[50.0\] now"
    ):
        subcenter_accuracy.main([*argv, "--clean-angle", "50", "--out", str(tmp_path), "--resume"])
    # An angle that keeps too few samples to train on is an error naming it, not a crash.
    with pytest.raises(ValueError, match=r"kept 0 of 256 training samples at --clean-angle 0 "):
        subcenter_accuracy.main(
            [*argv, "--seeds", "1", "--clean-angle", "0", "--out", str(tmp_path / "0")]
        )


@harness
def test_partial_fc_accuracy(tmp_path):
    argv = ["--classes", "300", "--rates", "1", "0.5", "--per-class", "4", "--test-per-class", "2"]
    argv += ["--units", "16", "--epochs", "2", "--seeds", "2", "--verbose", "0"]
    rows = partial_fc_accuracy.main([*argv, "--losses", "arcface", "--out", str(tmp_path)])
    assert [(r["loss"], r["sample_rate"]) for r in rows] == [("arcface", 1.0), ("arcface", 0.5)]
    assert all_finite([rows[1]["test_accuracy_diff"]["mean"], rows[1]["test_accuracy_diff"]["low"]])
    runs = json.loads((tmp_path / "partial_fc_accuracy.json").read_text())["runs"]
    pairs = sorted((r["seed"], r["sample_rate"]) for r in runs)
    assert pairs == [(0, 0.5), (0, 1), (1, 0.5), (1, 1)]
    for run in runs:  # the fused loss trained; accuracy is over every class of the test set
        assert len(run["epoch_loss"]) == 2 and run["epoch_loss"][1] < run["epoch_loss"][0], run
        assert 0 <= run["test_accuracy"] <= 1 and run["head_units"] == 16
    assert "sample rate 0.5 against 1" in (tmp_path / "partial_fc_accuracy.md").read_text()
    # A run is keyed by its rate: a task of another size is not reused for it.
    other_task = [*argv, "--classes", "200", "--losses", "arcface", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"other settings \(classes: \[300\] there, \[200\] now"):
        partial_fc_accuracy.main([*other_task, "--resume"])


@harness
@pytest.mark.usefixtures("fashion_mnist")
def test_protocol(tmp_path):
    argv = [*QUICK, "--epochs", "2", "--seeds", "1", "--modes", "plain"]
    (row,) = protocol.main([*argv, "--losses", "wsoftmax-0.2", "--out", str(tmp_path)])
    assert (row["mode"], row["loss"]) == ("plain", "wsoftmax-0.2")
    assert all_finite([row["test_accuracy"], row["gap"], row["compactness_deg"], row["ece"]])
    (run,) = json.loads((tmp_path / "protocol.json").read_text())["runs"]
    assert run["epochs_trained"] == 2


@harness
def test_regime_map(tmp_path):
    argv = ["--classes", "10", "--per-class", "50", "--seeds", "1", "--verbose", "0"]
    (row,) = regime_map.main([*argv, "--losses", "cross-entropy", "--out", str(tmp_path)])
    # 30 epochs (1,500 samples seen per class) on 500 samples of 10 classes: far above chance.
    assert row["cell"] == "10x50" and row["test_accuracy"] > 0.5, row["test_accuracy"]
    assert (tmp_path / "regime_map.png").stat().st_size > 0


@harness
def test_factors(tmp_path):
    argv = ["--classes", "10", "--per-class", "50", "--seeds", "1", "--verbose", "0"]
    argv += ["--settings", "independent", "--losses", "cross-entropy"]
    (row,) = factors.main([*argv, "--out", str(tmp_path)])
    # 30 epochs on 500 samples of 10 one-mode classes, one ReLU layer of 256: far above chance.
    assert row["cell"] == "10x50 independent" and row["test_accuracy"] > 0.5, row["test_accuracy"]
    (run,) = json.loads((tmp_path / "factors.json").read_text())["runs"]
    assert (run["modes"], run["noise"], run["dropout"], run["depth"], run["hidden"]) == (
        1,
        1.2,
        0.0,
        1,
        256,
    )


@harness
def test_glyphs(tmp_path):
    argv = ["--per-class", "2", "--seeds", "1", "--seen-per-class", "4", "--verbose", "0"]
    (row,) = glyphs.main([*argv, "--losses", "cross-entropy", "--out", str(tmp_path)])
    assert row["cell"] == "2 per class" and 0.0 <= row["test_accuracy"] <= 1.0
    (run,) = json.loads((tmp_path / "glyphs.json").read_text())["runs"]
    assert (run["per_class"], run["epochs"]) == (2, 2)
    assert (
        "124 characters drawn in every installed font face" in (tmp_path / "glyphs.md").read_text()
    )


@harness
def test_regime_map_takes_fewer_seeds_where_seeds_at_says():
    parse = runner.parser(regime_map.STUDY).parse_args
    argv = ["--classes", "10", "300", "--per-class", "20", "--seeds", "3", "--seed", "1"]
    args = parse([*argv, "--seeds-at", "300=2"])
    args.scale = 16.0  # what runner.main sets before planning
    cells = [(cell.group, cell.seed) for cell in regime_map.plan(args, None)]
    assert cells == [("10x20", 1), ("10x20", 2), ("10x20", 3), ("300x20", 1), ("300x20", 2)]
    assert "seeds 1 to 3 at 10 classes; seeds 1 to 2 at 300 classes" in regime_map.preamble(
        args, None, ""
    )
    for bad in ["300", "300=0", "x=5"]:
        with pytest.raises(SystemExit):
            parse([*argv, "--seeds-at", bad])


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
