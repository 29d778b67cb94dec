"""Smoke tests of the cost benchmarks at tiny sizes."""

import json
import math

import pytest

from experiments import correctness, determinism_cost, fused_cost, loss_speed, train_step
from experiments.models import head_flops
from tests.helpers.backends import BACKEND
from tests.helpers.processes import run

pytestmark = pytest.mark.slow  # the benchmarks end to end, some in processes of their own


def test_loss_speed_prints_ratios(capsys):
    rows = loss_speed.main(["--sizes", "8x3", "16x5", "--repeats", "2"])
    assert [(r["n"], r["c"]) for r in rows] == [(8, 3), (16, 5)]
    for row in rows:
        assert set(row["time_ratio"]) == {"wsoftmax", "cosface", "arcface"}
        assert all(math.isfinite(r) and r > 0 for r in row["time_ratio"].values())
        assert all(v > 0 for v in row["median_ms"].values())
        assert all(v > 0 for v in row["memory_bytes"].values()), row["memory_bytes"]
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
    assert head_flops(1600, 10, 10) == 32020 + 200 + 40
    assert head_flops(1600, 10, 10, normalize=False) == 32020 + 200


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the studies' determinism costs on TensorFlow")
def test_determinism_cost_times_both_modes_in_their_own_processes():
    result = determinism_cost.main(["--steps", "2", "--batch-size", "8", "--repeats", "1"])
    assert [len(result["seconds"][mode]) for mode in ("on", "off")] == [2, 2]
    assert math.isfinite(result["ratio"]) and result["ratio"] > 0


def test_correctness_check_finds_float32_errors_only():
    loss_error, grad_error = correctness.main(["--size", "64x10"])
    assert 0 <= loss_error < 1e-5 and 0 <= grad_error < 1e-5


@pytest.mark.skipif(
    BACKEND != "jax", reason="runs JAX and PyTorch itself; once, in the JAX session"
)
def test_gpu_script_runs_at_tiny_sizes_on_cpu(tmp_path):
    small = {"SIZES": "8x3", "COMPILE_SIZES": "8x3", "CHECK_SIZE": "64x10", "TRAIN_STEPS": "2"}
    run("bash", "experiments/gpu.sh", env={"OUT": str(tmp_path), **small}, timeout=900)
    tables = (tmp_path / "tables.log").read_text()
    assert tables.count("| 8 x 3 |") == 3  # JAX, PyTorch eager, torch.compile
    assert tables.count("| ratio W-Softmax / CE |") == 2  # train_step on JAX and PyTorch
    correctness = (tmp_path / "correctness.txt").read_text()
    assert correctness.count("relative error of the loss") == 2
    for name in ["jax.json", "torch.json", "torch_compile.json", "environment.txt"]:
        assert (tmp_path / name).stat().st_size > 0, name


@pytest.mark.parametrize("in_turn", [[], ["--in-turn"]], ids=["together", "in-turn"])
def test_fused_cost_times_both_heads_from_the_same_weights(tmp_path, in_turn):
    argv = ["--classes", "3000", "--units", "8", "--batch", "32", "--chunk-size", "700", *in_turn]
    (row,) = fused_cost.main([*argv, "--repeats", "2", "--out", str(tmp_path)])
    # Same weights, same batch: the warm-up losses agree.
    assert row["first_loss"]["fused"] == pytest.approx(row["first_loss"]["unfused"], rel=1e-5)
    assert row["time_ratio"] > 0 and len(row["seconds"]["fused"]) == 2
    report = (tmp_path / f"fused_cost_{BACKEND}.md").read_text()
    assert "| 3,000 | 8 | 700 (600) |" in report  # 3,000 in 5 equal chunks


def test_fused_cost_times_subcenters_beside_one(tmp_path):
    argv = ["--classes", "900", "--units", "8", "--batch", "32", "--chunk-size", "300"]
    (row,) = fused_cost.main([*argv, "--subcenters", "3", "--repeats", "2", "--out", str(tmp_path)])
    assert set(row["step_ms"]) == {"unfused", "fused", "unfused_k3", "fused_k3"}
    # Same weights at each K, same batch: the fused and unfused warm-up losses agree.
    first = row["first_loss"]
    assert first["fused_k3"] == pytest.approx(first["unfused_k3"], rel=1e-5)
    assert first["fused_k3"] != pytest.approx(first["fused"], rel=1e-3)  # other weights
    assert row["subcenter_time_ratio"]["fused"] > 0
    report = (tmp_path / f"fused_cost_{BACKEND}.md").read_text()
    assert "Sub-centers, timed in the same run" in report and "| 900 | 8 | 3 |" in report


def test_fused_cost_times_partial_fc_beside_the_full_softmax(tmp_path):
    argv = ["--classes", "900", "--units", "8", "--batch", "32", "--chunk-size", "300"]
    argv += ["--sample-rates", "0.5", "0.1", "--repeats", "2", "--out", str(tmp_path)]
    (row,) = fused_cost.main(argv)
    assert set(row["step_ms"]) == {"unfused", "fused", "fused_r0.5", "fused_r0.1"}
    # The same weights and batch: a softmax over fewer negatives has a smaller loss.
    first = row["first_loss"]
    assert first["fused_r0.1"] < first["fused_r0.5"] < first["fused"]
    assert set(row["sampled_time_ratio"]) == {"0.5", "0.1"}
    report = (tmp_path / f"fused_cost_{BACKEND}.md").read_text()
    assert "Partial FC (`sample_rate`), timed in the same run" in report
    assert "| 900 | 8 | 0.1 |" in report
