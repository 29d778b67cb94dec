"""End-to-end smoke tests of the example scripts on a few hundred samples, offline."""

import gzip
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import benchmark  # noqa: E402
import data  # noqa: E402
import demo  # noqa: E402
import features_2d  # noqa: E402
import unit_sweep  # noqa: E402

QUICK = ["--epochs", "1", "--limit", "256", "--test-limit", "256", "--verbose", "0"]

needs_fashion_mnist = pytest.mark.skipif(
    data.find_idx_dir() is None and not os.environ.get("CI"),
    reason="apt-get install -y dataset-fashion-mnist (CI installs it)",
)


def all_finite(values):
    return all(math.isfinite(v) for v in values)


@needs_fashion_mnist
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
        assert run["head_units"] == 10


@needs_fashion_mnist
def test_benchmark(tmp_path):
    argv = [*QUICK, "--seeds", "2", "--alphas", "0", "0.3", "--out", str(tmp_path)]
    summary = benchmark.main(argv)
    # Two head modes x (two alphas + the literal bias).
    assert {(r["mode"], r["variant"], r["alpha"]) for r in summary} == {
        (mode, variant, alpha)
        for mode in ("cosine", "plain")
        for variant, alpha in [("ours", 0.0), ("ours", 0.3), ("literal", 0.2)]
    }
    for row in summary:
        assert row["seeds"] == 2
        assert all_finite(
            [
                row[k]
                for k in row
                if k.endswith("_deg") or "accuracy" in k and k != "accuracy_by_seed"
            ]
        )
    report = (tmp_path / "benchmark.md").read_text()
    assert report.count("\n| cosine |") == 3 and report.count("\n| plain |") == 3
    assert "## Verdict" in report and "literal bias alpha=0.2" in report
    stored = json.loads((tmp_path / "benchmark.json").read_text())
    assert len(stored["runs"]) == 12
    assert (tmp_path / "benchmark.png").stat().st_size > 0


@needs_fashion_mnist
def test_unit_sweep(tmp_path):
    summary = unit_sweep.main(
        [*QUICK, "--seeds", "2", "--widths", "2", "10", "--out", str(tmp_path)]
    )
    assert [(r["alpha"], r["units"]) for r in summary] == [(0.0, 2), (0.0, 10), (0.2, 2), (0.2, 10)]
    assert all(all_finite([r["test_accuracy"], r["epoch_seconds"]]) for r in summary)
    assert summary[1]["head_parameters"] > summary[0]["head_parameters"]
    report = (tmp_path / "unit_sweep.md").read_text()
    assert "| **10** |" in report and "## Findings" in report
    assert (tmp_path / "unit_sweep.png").stat().st_size > 0


@needs_fashion_mnist
def test_features_2d(tmp_path):
    panels = features_2d.main([*QUICK, "--alphas", "0", "0.3", "--out", str(tmp_path)])
    assert [alpha for alpha, _, _ in panels] == [0.0, 0.3]
    for _, accuracy, features in panels:
        assert features.shape == (256, 2) and np.all(np.isfinite(features))
        assert math.isfinite(accuracy)
    assert (tmp_path / "features_2d.png").stat().st_size > 0
    report = (tmp_path / "features_2d.md").read_text()
    assert "| cross-entropy |" in report and "| W-Softmax 0.3 |" in report


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_tfds_builder_serves_idx_files_in_order(tmp_path):
    rng = np.random.default_rng(0)
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    arrays = {}
    for split, count in [("train", 30), ("test", 12)]:
        images = rng.integers(0, 256, (count, 28, 28))
        labels = rng.integers(0, 10, count)
        write_idx(idx_dir / data.IDX_FILES[split][0], images)
        write_idx(idx_dir / data.IDX_FILES[split][1], labels)
        arrays[split] = (images, labels)
    x_train, y_train, x_test, y_test, num_classes = data.load(
        data_dir=idx_dir, limit=20, tfds_dir=tmp_path / "tfds"
    )
    assert (
        num_classes == 10 and x_train.shape == (20, 28, 28, 1) and x_test.shape == (12, 28, 28, 1)
    )
    np.testing.assert_array_equal(y_train, arrays["train"][1][:20])
    np.testing.assert_array_equal(y_test, arrays["test"][1])
    np.testing.assert_allclose(x_train[..., 0], arrays["train"][0][:20] / 255.0, rtol=1e-6)


def test_missing_data_dir_says_what_is_missing(tmp_path):
    with pytest.raises(data.DataUnavailable, match=r"does not hold the four Fashion-MNIST IDX"):
        data.load(data_dir=tmp_path)


def test_offline_without_files_prints_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "absent")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(data, "_as_arrays", offline)
    with pytest.raises(SystemExit) as exit_info:
        data.load_or_exit("fashion_mnist")
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "apt-get install -y dataset-fashion-mnist" in message and "--data-dir" in message
    assert "Traceback" not in message
