"""Smoke tests of the performance benchmark scripts at tiny sizes."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from backend_utils import BACKEND

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))

import head_cost  # noqa: E402
import loss_speed  # noqa: E402
import train_step  # noqa: E402
from test_examples import needs_fashion_mnist  # noqa: E402


def test_loss_speed_prints_ratios(capsys):
    rows = loss_speed.main(["--sizes", "8x3", "16x5", "--repeats", "2"])
    assert [(r["n"], r["c"]) for r in rows] == [(8, 3), (16, 5)]
    for row in rows:
        assert math.isfinite(row["time_ratio"]) and row["time_ratio"] > 0
        assert all(v > 0 for v in row["median_ms"].values())
        assert row["memory_bytes"]["wsoftmax"] > 0 and row["memory_bytes"]["cross_entropy"] > 0
        assert row["min_bytes"] == 2 * 4 * row["n"] * row["c"] + 4 * row["n"]
    out = capsys.readouterr().out
    assert "| 8 x 3 |" in out and "| 16 x 5 |" in out


def test_train_step_prints_the_ratio(tmp_path, capsys):
    result = train_step.main(
        ["--steps", "2", "--batch-size", "8", "--repeats", "1", "--json", str(tmp_path / "r.json")]
    )
    assert set(result["seconds"]) == {"cross_entropy", "wsoftmax"}
    assert all(len(s) == 2 for s in result["seconds"].values())
    assert math.isfinite(result["ratio"]) and result["ratio"] > 0
    assert json.loads((tmp_path / "r.json").read_text())["ratio"] == result["ratio"]
    assert "| ratio W-Softmax / CE |" in capsys.readouterr().out


def test_head_flops_counts_the_matrix_products():
    # 1600 -> 10 -> 10 classes: FC 2*1600*10 + 20, classifier 2*10*10, norm 30 + 10.
    assert head_cost.head_flops(1600, 10, 10) == 32020 + 200 + 40
    assert head_cost.head_flops(1600, 10, 10, normalize=False) == 32020 + 200


@needs_fashion_mnist
def test_head_cost_reports_savings(tmp_path):
    quick = ["--epochs", "1", "--limit", "256", "--test-limit", "256", "--verbose", "0"]
    summary = head_cost.main(
        [*quick, "--seeds", "1", "--widths", "10", "1024", "--out", str(tmp_path)]
    )
    assert [r["units"] for r in summary] == [10, 1024]
    # FC 1600 x units + bias, classifier units x 10.
    assert [r["head_parameters"] for r in summary] == [16_110, 1_649_664]
    report = (tmp_path / "head_cost.md").read_text()
    assert "At min_units = 10 against 1024 units" in report and "fewer head parameters" in report


@pytest.mark.skipif(
    BACKEND != "jax", reason="runs JAX and PyTorch itself; once, in the JAX session"
)
def test_gpu_script_runs_at_tiny_sizes_on_cpu(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), SIZES="8x3", COMPILE_SIZES="8x3", TRAIN_STEPS="2")
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    tables = (tmp_path / "tables.log").read_text()
    assert tables.count("| 8 x 3 |") == 3  # JAX, PyTorch eager, torch.compile
    assert tables.count("| ratio W-Softmax / CE |") == 2  # train_step on JAX and PyTorch
    correctness = (tmp_path / "correctness.txt").read_text()
    assert correctness.count("relative error of the loss") == 2
    for name in ["jax.json", "torch.json", "torch_compile.json", "environment.txt"]:
        assert (tmp_path / name).stat().st_size > 0, name
