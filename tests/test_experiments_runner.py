"""The studies' runner without training: a fake measured run stands in for `fit`.

What these check is orchestration: the plan (cells, losses, settings), the
records, resume, the pairing and findings, the report's files, and that
``--help`` loads no backend. One real run per study is in
`test_experiments_studies.py`.
"""

import json
import math
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

from experiments import (
    alpha_grid,
    comparison,
    factors,
    glyphs,
    noisy_labels,
    overfitting,
    protocol,
    regime_map,
    runner,
    subcenter_accuracy,
    unseen_classes,
    width,
)
from tests.helpers.backends import BACKEND

MEASURES = [
    "test_accuracy",
    "train_accuracy",
    "compactness_deg",
    "separation_min_deg",
    "separation_mean_deg",
    "dead_feature_fraction",
    "ece",
    "nll",
    "mean_epoch_seconds",
    *(f"{name}_{m}" for name in ("fc", "backbone") for m in ("recall_at_1", "map")),
]
# What the runner's plan passes to a run; an ArcFace run on the plain head must not happen.
SMALL = ["--limit", "64", "--test-limit", "64", "--verbose", "0"]


@pytest.fixture
def calls(monkeypatch):
    """Replaces `comparison.measured_run` by a fake: numbers fixed by the run's inputs, no fit."""
    made = []

    def fake(dataset, loss_key, seed, settings, train_accuracy=False, **model):
        made.append({"loss": loss_key, "seed": seed, "settings": settings, **model})
        text = f"{loss_key}|{seed}|{len(dataset.y_train)}|{settings.epochs}|{sorted(model.items())}"
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        result = {name: float(rng.uniform(0.5, 0.9)) for name in MEASURES}
        result["gap"] = result["train_accuracy"] - result["test_accuracy"]
        result.update({"epochs_trained": settings.epochs, "loss": loss_key, "seed": seed})
        return result, None

    monkeypatch.setattr(comparison, "measured_run", fake)
    return made


@pytest.fixture
def no_data(monkeypatch):
    """Fashion-MNIST's shape without reading it: 256 random images of 10 classes."""
    from experiments import cli, data

    rng = np.random.default_rng(0)

    def load(dataset, data_dir, limit, test_limit):
        images = rng.random((256, 28, 28, 1), dtype=np.float32)
        labels = rng.integers(0, 10, 256).astype(np.int32)
        return data.Dataset(images, labels, images[:64], labels[:64], 10)

    monkeypatch.setattr(data, "load_or_exit", load)
    return cli


def stored(path):
    return json.loads(path.read_text())


@pytest.mark.slow  # a process of its own
def test_help_is_quick_and_loads_no_backend():
    """``--help`` parses before anything imports Keras, TensorFlow or TFDS."""
    names = ["noisy_labels", "overfitting", "unseen_classes", "width", "alpha_grid"]
    names += ["protocol", "regime_map", "factors", "glyphs", "demo", "features_2d"]
    code = (
        "import sys, runpy\n"
        "for name in sys.argv[1:]:\n"
        "    sys.argv = [name, '--help']\n"
        "    try:\n"
        "        runpy.run_module('experiments.' + name, run_name='__main__')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'tensorflow_datasets', 'jax', 'torch')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith("[]"), done.stdout[-300:]
    assert done.stdout.count("usage:") == len(names)
    assert done.stderr == ""


@pytest.mark.usefixtures("no_data")
def test_plan_runs_every_loss_of_every_cell_with_its_records(tmp_path, calls):
    argv = [*SMALL, "--seeds", "2", "--rates", "0.2", "0.4", "--out", str(tmp_path)]
    summary = noisy_labels.main([*argv, "--losses", "cross-entropy", "wsoftmax-0.2"])
    assert [(c["seed"], c["loss"]) for c in calls] == [
        (s, k) for _ in (0.2, 0.4) for s in (0, 1) for k in ("cross-entropy", "wsoftmax-0.2")
    ]
    runs = stored(tmp_path / "noisy_labels.json")["runs"]
    assert [r["rate"] for r in runs] == [0.2] * 4 + [0.4] * 4
    assert all(0.0 < r["replaced_fraction"] < 0.7 for r in runs)
    # Paired by seed within each rate: the W-Softmax rows hold intervals, the baseline's none.
    for row in summary:
        assert ("test_accuracy_diff" in row) == (row["loss"] == "wsoftmax-0.2")
        assert row["seeds"] == [0, 1]
    report = (tmp_path / "noisy_labels.md").read_text()
    assert "| 0.4 | W-Softmax 0.2 |" in report and "## Findings" in report
    assert "- rate 0.2, W-Softmax 0.2: test accuracy" in report
    assert (tmp_path / "noisy_labels.png").stat().st_size > 0
    assert stored(tmp_path / "noisy_labels.json")["args"]["scale"] == 16.0  # the head's default


@pytest.mark.usefixtures("no_data")
def test_resume_reuses_what_the_report_holds_and_refuses_other_settings(tmp_path, calls):
    argv = [*SMALL, "--sizes", "32", "--losses", "cross-entropy", "arcface", "--out", str(tmp_path)]
    overfitting.main([*argv, "--seeds", "1"])
    first = stored(tmp_path / "overfitting.json")["runs"]
    calls.clear()
    overfitting.main([*argv, "--seeds", "2", "--resume"])
    assert [(c["seed"], c["loss"]) for c in calls] == [(1, "cross-entropy"), (1, "arcface")]
    runs = stored(tmp_path / "overfitting.json")["runs"]
    for earlier, kept in zip(first, runs[:2], strict=True):
        assert kept.pop("reused_from").endswith("`")  # the earlier report's date and command
        assert kept == earlier
    assert "2 of these 4 runs are reused (`--resume`)" in (tmp_path / "overfitting.md").read_text()
    # A flag that changes what a run computes cannot resume; one that picks runs can.
    with pytest.raises(SystemExit, match=r"other settings \(units: \[128\] there, \[64\] now\)"):
        overfitting.main([*argv, "--seeds", "2", "--resume", "--units", "64"])
    calls.clear()
    overfitting.main([*argv, "--seeds", "2", "--resume", "--sizes", "32", "48"])
    assert {c["seed"] for c in calls} == {0, 1} and len(calls) == 4  # only the new size


@pytest.mark.usefixtures("no_data")
def test_a_stopped_study_resumes_from_its_runs_so_far(tmp_path, calls, monkeypatch):
    argv = [*SMALL, "--seeds", "2", "--rates", "0.2", "--out", str(tmp_path)]
    argv += ["--losses", "cross-entropy", "cosface"]
    fake = comparison.measured_run

    def stops_at_the_third(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake(*args, **kwargs)

    monkeypatch.setattr(comparison, "measured_run", stops_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        noisy_labels.main(argv)
    assert not (tmp_path / "noisy_labels.json").exists()
    assert len(stored(tmp_path / "noisy_labels.partial.json")["runs"]) == 2
    monkeypatch.setattr(comparison, "measured_run", fake)
    calls.clear()
    noisy_labels.main([*argv, "--resume"])
    assert [(c["seed"], c["loss"]) for c in calls] == [(1, "cross-entropy"), (1, "cosface")]
    assert sum("reused_from" in r for r in stored(tmp_path / "noisy_labels.json")["runs"]) == 2
    assert not (tmp_path / "noisy_labels.partial.json").exists()


@pytest.mark.usefixtures("no_data")
def test_a_second_stop_keeps_the_runs_so_far_not_reached_again(tmp_path, calls, monkeypatch):
    argv = [
        *SMALL,
        "--rates",
        "0.2",
        "--losses",
        "cross-entropy",
        "cosface",
        "--out",
        str(tmp_path),
    ]
    fake = comparison.measured_run

    def stops_at(count):
        def measured_run(*args, **kwargs):
            if len(calls) == count:
                raise KeyboardInterrupt
            return fake(*args, **kwargs)

        return measured_run

    monkeypatch.setattr(comparison, "measured_run", stops_at(1))
    with pytest.raises(KeyboardInterrupt):
        noisy_labels.main([*argv, "--seed", "1", "--seeds", "1"])  # seed 1's cross-entropy
    calls.clear()
    monkeypatch.setattr(comparison, "measured_run", stops_at(1))
    with pytest.raises(KeyboardInterrupt):  # seed 0's cross-entropy, then a stop
        noisy_labels.main([*argv, "--seeds", "2", "--resume"])
    kept = stored(tmp_path / "noisy_labels.partial.json")["runs"]
    assert sorted((r["seed"], r["loss"]) for r in kept) == [
        (0, "cross-entropy"),
        (1, "cross-entropy"),
    ]


@pytest.mark.usefixtures("no_data")
def test_overfitting_settings_per_size(tmp_path, calls):
    overfitting.main([*SMALL, "--seeds", "1", "--sizes", "100", "--out", str(tmp_path)])
    settings = calls[0]["settings"]
    assert settings.epochs == 4000 and settings.fit_target == 0.99  # 400,000 samples seen
    assert settings.dropout == 0.0 and calls[0]["units"] == 128
    assert stored(tmp_path / "overfitting.json")["runs"][0]["epochs"] == 4000


@pytest.mark.usefixtures("no_data")
def test_alpha_grid_keys_modes_and_baseline(tmp_path, calls):
    argv = [*SMALL, "--seeds", "2", "--alphas", "0", "0.3", "--out", str(tmp_path)]
    summary = alpha_grid.main(argv)
    assert {(r["mode"], r["loss"]) for r in summary} == {
        (mode, key)
        for mode in ("cosine", "plain")
        for key in ["wsoftmax-0", "wsoftmax-0.3", "literal-0.2"]
    }
    assert {c["normalize"] for c in calls} == {True, False} and len(calls) == 12
    for row in summary:  # paired to alpha = 0 of the same head
        assert ("test_accuracy_diff" in row) == (row["loss"] != "wsoftmax-0")
    report = (tmp_path / "alpha_grid.md").read_text()
    assert report.count("\n| cosine |") == 3 and "literal bias 0.2" in report


@pytest.mark.usefixtures("no_data")
def test_protocol_trains_sgd_and_keeps_margins_on_cosines(tmp_path, calls):
    summary = protocol.main([*SMALL, "--seeds", "2", "--epochs", "8", "--out", str(tmp_path)])
    by_mode = {
        m: {c["loss"] for c in calls if c["normalize"] == (m == "cosine")}
        for m in ("cosine", "plain")
    }
    assert by_mode["cosine"] == set(protocol.LOSSES)
    assert by_mode["plain"] == {"cross-entropy", "wsoftmax-0.1", "wsoftmax-0.2", "wsoftmax-0.5"}
    assert len(summary) == 10
    optimizer = calls[0]["settings"].optimizer(10)  # 10 steps an epoch, 80 in all
    assert optimizer.weight_decay == 5e-4 and optimizer.momentum == 0.9
    rates = []
    for step in (0, 40, 41, 60, 61, 79):  # cut tenfold after 50% and 75% of the steps
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    assert rates == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005])
    assert "SGD, momentum 0.9" in (tmp_path / "protocol.md").read_text()


def test_the_report_names_the_runs_that_did_not_train():
    runs = [
        {"mode": "cosine", "seed": 2, "loss": "wsoftmax-0.5", "epoch_train_accuracy": [0.1] * 3},
        {"mode": "cosine", "seed": 2, "loss": "arcface", "epoch_train_accuracy": [0.3, 0.305]},
        {"mode": "cosine", "seed": 2, "loss": "cosface", "epoch_train_accuracy": [0.3, 0.32]},
        {"mode": "plain", "seed": 0, "loss": "cross-entropy", "epoch_train_accuracy": [0.99]},
        # Rose, then collapsed to chance by the last epoch.
        {"mode": "plain", "seed": 3, "loss": "arcface", "epoch_train_accuracy": [0.46, 0.5, 0.1]},
        # Rose and fell back a little: still above where it started.
        {"mode": "plain", "seed": 4, "loss": "arcface", "epoch_train_accuracy": [0.3, 0.5, 0.4]},
    ]
    assert comparison.did_not_train(runs, "mode") == [
        "- Did not train: mode cosine, seed 2, W-Softmax 0.5 (training accuracy 10.0% after "
        "epoch 1, at most 10.0% and 10.0% at the end of 3 epochs).",
        "- Did not train: mode cosine, seed 2, ArcFace m=0.5 (training accuracy 30.0% after "
        "epoch 1, at most 30.5% and 30.5% at the end of 2 epochs).",
        "- Did not train: mode plain, seed 3, ArcFace m=0.5 (training accuracy 46.0% after "
        "epoch 1, at most 50.0% and 10.0% at the end of 3 epochs).",
    ]


def test_regime_map_cells_budget_and_heatmap(tmp_path, calls):
    argv = ["--classes", "10", "30", "--per-class", "20", "100", "--seeds", "2", "--verbose", "0"]
    summary = regime_map.main([*argv, "--out", str(tmp_path)])
    assert [r["cell"] for r in summary[::3]] == ["10x20", "10x100", "30x20", "30x100"]
    epochs = {(c["units"], c["settings"].epochs) for c in calls}
    # 1500 samples seen per class: 75 epochs at 20 per class, 15 at 100.
    assert epochs == {(160, 75), (160, 15), (480, 75), (480, 15)}
    runs = stored(tmp_path / "regime_map.json")["runs"]
    assert {(r["classes"], r["per_class"]) for r in runs} == {
        (10, 20),
        (10, 100),
        (30, 20),
        (30, 100),
    }
    assert (tmp_path / "regime_map.png").stat().st_size > 0
    assert "recommended_units(C)" in (tmp_path / "regime_map.md").read_text()


def test_regime_map_takes_the_scale_from_the_class_count_where_asked(tmp_path, calls):
    argv = ["--classes", "10", "300", "--per-class", "20", "--seeds", "1", "--verbose", "0"]
    argv += ["--losses", "cross-entropy", "--scale-for-classes"]
    regime_map.main([*argv, "--out", str(tmp_path)])
    scales = [regime_map.scale_for_classes(c, 16.0) for c in (10, 300)]
    assert [c["settings"].scale for c in calls] == scales
    assert scales[0] == 16.0 and 20 < scales[1] < 21  # alpha 0.5 reaches 0.99 only above 16
    # At that scale the bound holds with equality: the target's best probability is 0.99.
    best = math.exp(scales[1] * (0.5 + 1 / 299)) / 299
    assert best / (1 + best) == pytest.approx(0.99)
    assert [r["scale"] for r in stored(tmp_path / "regime_map.json")["runs"]] == scales
    assert (
        "`scale_for_classes(C, 16)`: 16.0 at 10, 20.5 at 300 classes"
        in (tmp_path / "regime_map.md").read_text()
    )


def test_factors_plans_seed_by_seed_with_one_factor_changed_per_setting(tmp_path, calls):
    settings = ["map", "modes-1", "dropout-0", "depth-1x256"]
    argv = ["--classes", "10", "--per-class", "20", "--seeds", "2", "--settings", *settings]
    argv += ["--losses", "cross-entropy", "wsoftmax-0.2", "--verbose", "0"]
    summary = factors.main([*argv, "--out", str(tmp_path)])
    # Seed by seed: a stopped run holds whole seeds of every setting.
    assert [c["seed"] for c in calls[::2]] == [0] * 4 + [1] * 4
    assert [(c["mlp_shape"], c["settings"].dropout) for c in calls[:8:2]] == [
        ((2, 512), 0.5),
        ((2, 512), 0.5),
        ((2, 512), 0.0),
        ((1, 256), 0.5),
    ]
    assert {(c["units"], c["settings"].epochs) for c in calls} == {(160, 75)}
    runs = stored(tmp_path / "factors.json")["runs"]
    assert {r["setting"]: (r["modes"], r["noise"]) for r in runs} == {
        "map": (2, 1.0),
        "modes-1": (1, 1.0),
        "dropout-0": (2, 1.0),
        "depth-1x256": (2, 1.0),
    }
    assert [r["cell"] for r in summary[::2]] == [f"10x20 {name}" for name in settings]
    assert "| depth-1x256 | 2 | 1 | 0.5 | 1 x 256 |" in (tmp_path / "factors.md").read_text()


def test_width_default_losses_follow_the_package():
    from keras_wsoftmax import DEFAULT_ALPHA

    assert width.STUDY.losses[1] == f"wsoftmax-{DEFAULT_ALPHA:g}"


def test_every_study_is_declared_for_the_runner():
    for module in [
        alpha_grid,
        noisy_labels,
        overfitting,
        protocol,
        regime_map,
        factors,
        glyphs,
        unseen_classes,
        width,
    ]:
        assert isinstance(module.STUDY, runner.Study)
        parser = runner.parser(module.STUDY)
        assert parser.parse_args([]).out.as_posix() == f"runs/{module.STUDY.name}"


pytestmark = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="the runner is the same Python on every backend"
)


@pytest.mark.usefixtures("no_data")
def test_the_report_describes_the_loaded_data_not_a_cells(tmp_path, calls):
    import dataclasses

    argv = [*SMALL, "--seeds", "1", "--losses", "cross-entropy", "--out", str(tmp_path)]
    # Without its retrieval measures, which need a trained model.
    runner.main(dataclasses.replace(unseen_classes.STUDY, measure=None), argv)
    report = (tmp_path / "unseen_classes.md").read_text()
    # The fake data: 256 training images of 10 classes, 64 test images.
    (seen,) = re.findall(r"on (\d+) training images of classes", report)
    (unseen,) = re.findall(r"the (\d+) test images of the other classes", report)
    assert 0 < int(seen) < 256 and 0 < int(unseen) < 64


def test_the_cleaning_recipe_leaves_out_a_seed_whose_model_did_not_train():
    def run(seed, k, accuracy, trained=True, cleaned=None):
        r = {"loss": "arcface", "rate": 0.4, "subcenters": k, "seed": seed}
        r.update(test_accuracy=accuracy, epoch_train_accuracy=[0.3, 0.5 if trained else 0.3])
        if cleaned is not None:
            shares = dict.fromkeys(
                ["dropped_fraction", "dropped_replaced_fraction", "replaced_dropped_fraction"], 0.2
            )
            r["cleaning"] = {"test_accuracy": cleaned, **shares}
        return r

    runs = [run(seed, 1, 0.80) for seed in range(3)]
    runs += [run(0, 3, 0.10, trained=False, cleaned=0.80)]  # collapsed: the retrain is K = 1's
    runs += [run(1, 3, 0.82, cleaned=0.83), run(2, 3, 0.82, cleaned=0.85)]
    table, (row,) = subcenter_accuracy.cleaning_table(runs, base=1)
    assert row["seeds"] == 2 and row["untrained_seeds"] == [0]
    assert row["test_accuracy_diff"]["mean"] == pytest.approx(0.04)  # seeds 1 and 2 only
    assert table.splitlines()[-1].endswith("| 2 | 0 |")
    (line,) = subcenter_accuracy.findings([], [row], base=1)
    assert line.endswith("left out, seeds whose K = 3 model did not train: 0.")

    # No seed trained: the row stays, with no figures, and says so.
    collapsed = [run(seed, 1, 0.80) for seed in range(2)]
    collapsed += [run(seed, 3, 0.10, trained=False, cleaned=0.80) for seed in range(2)]
    table, (row,) = subcenter_accuracy.cleaning_table(collapsed, base=1)
    assert table.splitlines()[-1] == "| 0.4 | ArcFace m=0.5 | - | - | - | - | - | 0 | 0, 1 |"
    (line,) = subcenter_accuracy.findings([], [row], base=1)
    assert line == (
        "- The recipe at noise 0.4, ArcFace m=0.5: not measured: no seed's K = 3 model "
        "trained (seeds 0, 1)."
    )
