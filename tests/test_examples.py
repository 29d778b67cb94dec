"""Every example in examples/ runs at its smoke size on the backends its header claims.

Each runs as a user runs it, `python examples/NAME.py ...`, in its own
process on this session's backend; the checks read what it prints and
writes. Not timed.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers.backends import BACKEND
from tests.helpers.processes import ROOT, run

pytestmark = pytest.mark.slow  # the examples, each in a process of its own


@pytest.fixture(scope="module", autouse=True)
def keras_cache_with_fashion_mnist(tmp_path_factory):
    """A Keras home whose dataset cache links the Debian package's Fashion-MNIST.

    What the examples' headers tell an offline user to do, in a home of its
    own: `keras.datasets.fashion_mnist.load_data()` then reads the files
    instead of downloading them.
    """
    from experiments import data

    home = tmp_path_factory.mktemp("keras_home")
    idx_dir = data.find_idx_dir()
    if idx_dir is not None:
        (home / "datasets").mkdir()
        (home / "datasets" / "fashion-mnist").symlink_to(idx_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        yield


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


def test_image_classification_logs_the_geometry_to_tensorboard(fashion_mnist, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = example(
        "image_classification",
        *("--epochs", "2", "--limit", "1024", "--test-limit", "512", "--logdir", str(tmp_path)),
    )
    losses = re.findall(r"^  \((\S+): training loss ([\d.]+) -> ([\d.]+)\)$", out, re.M)
    assert [name for name, _, _ in losses] == ["wsoftmax", "cross-entropy"], out
    assert all(float(last) < float(first) for _, first, last in losses), out
    for name, _, _ in losses:
        events = EventAccumulator(str(tmp_path / name / "validation"))
        events.Reload()
        tags = events.Tags()["tensors"]
        for tag in ["compactness_deg", "separation_min_deg", "separation_mean_deg", "ece"]:
            assert len(events.Tensors(f"epoch_{tag}")) == 2, (name, tags)  # one per epoch
        assert "epoch_accuracy" in tags


def test_transfer_learning_warms_the_margin_up_then_fine_tunes(fashion_mnist):
    out = example(
        "transfer_learning",
        *("--limit", "640", "--shots", "32", "--head-epochs", "3", "--fine-tune-epochs", "1"),
        *("--test-limit", "480"),  # whole batches of 128 and 32: one compilation each
    )
    source_accuracy = re.search(
        r"pretrained on the source task .*: training accuracy (\S+)$", out, re.M
    )
    assert float(source_accuracy[1]) > 0.3, out  # it trains: chance is 0.2
    alphas = re.findall(r"AlphaScheduler setting alpha to (\S+)\.", out)
    assert [float(a) for a in alphas] == pytest.approx([0.2 / 3, 0.4 / 3], rel=1e-5), out
    rows = re.findall(r"^(.+) \| ([\d.]+) \(([\d.]+)\) \| ([\d.]+) \(([\d.]+)\)$", out, re.M)
    assert [r[0] for r in rows] == ["wsoftmax (alpha 0 -> 0.2)", "cross-entropy"], out
    assert all(0.0 <= float(value) <= 1.0 for row in rows for value in row[1:])


def test_keras_hub_backbone_trains_and_round_trips(fashion_mnist):
    out = example("keras_hub_backbone", "--epochs", "2", "--limit", "1000")
    rows = re.findall(
        r"^(\S+): training loss per epoch (\[.*\]); test accuracy ([\d.]+)$", out, re.M
    )
    assert [r[0] for r in rows] == ["wsoftmax", "cross-entropy"], out
    for _, losses, _ in rows:
        first, last = json.loads(losses)
        assert last < first
    differences = re.findall(r"largest logit difference (\S+); loss (\w+)$", out, re.M)
    assert [loss for _, loss in differences] == ["WSoftmax", "SparseCategoricalCrossentropy"]
    assert all(float(d) < 1e-5 for d, _ in differences), out


def test_identities_trains_with_partial_fc_and_verifies_unseen_identities():
    out = example(
        "identities",
        *("--identities", "500", "--per-identity", "4", "--unseen", "100", "--epochs", "2"),
        *("--sample-rate", "0.5", "--batch-size", "128"),
    )
    assert "250 identities a step (sample_rate 0.5)" in out, out
    losses = json.loads(re.search(r"sampled loss per epoch: (\[.*\])", out)[1])
    assert losses[1] < losses[0], out
    rows = dict(re.findall(r"^\s+(raw inputs|FC features) \| +([\d.]+) \| +[\d.]+$", out, re.M))
    assert set(rows) == {"raw inputs", "FC features"} and all(
        0 <= float(v) <= 1 for v in rows.values()
    )


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.ModelParallel runs on JAX only")
def test_many_classes_splits_the_classifier_over_four_devices():
    out = example("many_classes", "--classes", "4000", "--epochs", "2")
    assert "classifier (64, 4000), sharding P(None, 'model')" in out, out
    per_device, whole = map(
        float,
        re.search(
            r"classifier per device: (\S+) MiB \(one device would hold (\S+) MiB\)", out
        ).groups(),
    )
    assert per_device == pytest.approx(whole / 4, rel=1e-2)  # printed to 3 decimals
    losses = json.loads(re.search(r"loss per epoch (\[.*\])", out)[1])
    assert losses[1] < losses[0], out


def test_many_classes_names_its_backend_before_importing_keras():
    """On another backend it says so in one line, not with Keras's traceback."""
    done = subprocess.run(
        [sys.executable, "examples/many_classes.py", "--classes", "10"],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == "", done
    assert done.stderr == "keras.distribution.ModelParallel runs on JAX: KERAS_BACKEND=jax\n"
