"""The class-sharded head and loss under keras.distribution.ModelParallel, on 4 CPU devices."""

import json

import keras
import numpy as np
import pytest

from keras_wsoftmax import WSoftmax, WSoftmaxHead
from tests.entry_points.class_parallel_fit import NUM_CLASSES, SUBCENTERS
from tests.helpers.backends import BACKEND
from tests.helpers.processes import run_module

pytestmark = pytest.mark.slow  # four devices, in processes of their own

jax_only = pytest.mark.skipif(
    BACKEND != "jax", reason="keras.distribution.ModelParallel runs on JAX only (tests below)"
)
FOUR_CPU_DEVICES = {
    "KERAS_BACKEND": "jax",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
}


def fit(out, mesh, heads, *option):
    """Trains `heads` on `mesh` in one process; `(info, arrays)` of each."""
    run_module(
        "tests.entry_points.class_parallel_fit",
        *(mesh, ",".join(heads), out, *option),
        env=FOUR_CPU_DEVICES,
    )
    found = {}
    for head in heads:
        info = json.loads((out / f"{mesh}-{head}.json").read_text())
        with np.load(out / f"{mesh}-{head}.npz") as arrays:
            found[head] = info, {k: arrays[k] for k in arrays.files}
    return found


def full_size_collectives(info):
    """Collectives that move something with all the classes: gathered logits or classifier.

    All the classes' logits, or all their sub-centers' (a head with SUBCENTERS per class).
    """
    every = {NUM_CLASSES, NUM_CLASSES * SUBCENTERS}
    return [c for c in info["collectives"] if c["op"] == "all-gather" or every & set(c["dims"])]


HEADS = ["cosine", "plain", "cosine-cosface", "cosine-arcface"]
# The fused head and loss, each device chunking its own classes.
HEADS += ["fused-plain", "fused-cosine-arcface"]
# Sub-center heads: a class's sub-centers on one device, unfused and fused.
HEADS += ["sub-cosine-arcface", "fused-sub-cosine"]
# Partial FC: each device samples its own classes (and keeps a class's sub-centers).
SAMPLED = "sampled-sub-cosine-arcface"
HEADS += [SAMPLED]


@pytest.fixture(scope="module")
def every_run(tmp_path_factory):
    """Every head on both meshes and on one device: three processes, not one per run."""
    if BACKEND != "jax":
        pytest.skip("keras.distribution.ModelParallel runs on JAX only")
    out = tmp_path_factory.mktemp("class_parallel")
    split = {mesh: fit(out, mesh, HEADS) for mesh in ["1x4", "2x2"]}
    one = fit(out, "one", HEADS, "--load", "2x2")
    return {head: (one[head], {mesh: split[mesh][head] for mesh in split}) for head in HEADS}


@pytest.fixture(params=HEADS)
def runs(request, every_run):
    return every_run[request.param]


@jax_only
def test_classifier_and_logits_are_split_by_classes(runs, request):
    _, split = runs
    for info, _ in split.values():
        assert info["classifier_sharding"] == "P(None, 'model')"
    fused = request.node.callspec.params["runs"].startswith(("fused-", "sampled-"))
    # The logits split by classes; the FC features a fused loss takes by samples only.
    expected = "P('batch',)" if fused else "P('batch', 'model')"
    assert split["2x2"][0]["output_sharding"] == expected


@jax_only
def test_training_on_a_split_classifier_equals_one_device(runs, request):
    """ignore_class and sample weights included: labels -1 every 7th sample, weights 0.5 to 2."""
    if request.node.callspec.params["runs"] == SAMPLED:
        pytest.skip("each device samples its own classes, not one device's sample: below")
    (one_info, one_arrays), split = runs
    for info, arrays in split.values():
        np.testing.assert_allclose(info["losses"], one_info["losses"], rtol=1e-5)
        for key in one_arrays:
            if key.startswith("weight_"):
                # Summation order differs across devices, and Adam divides by
                # sqrt(v), which magnifies that float32 rounding where a
                # class's gradient is tiny (the entry point's epsilon bounds
                # that): the floor scales with the weights.
                want = one_arrays[key]
                atol = 1e-5 * np.abs(want).max()
                np.testing.assert_allclose(arrays[key], want, rtol=1e-5, atol=atol)
    # It trained: the comparison is not between two no-ops.
    assert one_info["losses"][-1] < 0.9 * one_info["losses"][0]


@jax_only
def test_partial_fc_trains_on_a_split_classifier(every_run):
    """Each device's sample of its own classes: the loss falls on every mesh, as on one device."""
    (one_info, _), split = every_run[SAMPLED]
    for info in [one_info] + [info for info, _ in split.values()]:
        assert np.all(np.isfinite(info["losses"]))
        assert info["losses"][-1] < 0.9 * info["losses"][0], info["losses"]


@jax_only
def test_the_loss_reduces_split_logits_without_gathering_them(runs):
    _, split = runs
    for info, _ in split.values():
        assert info["collectives"], "the split step needs cross-device reductions"
        assert full_size_collectives(info) == []
        # What crosses devices is per-sample: the max, the sum and z_y of each row.
        assert all(c["op"] == "all-reduce" for c in info["collectives"])


@jax_only
def test_the_check_sees_gathered_logits(tmp_path):
    """Controls: gathered logits, and a fused loss chunking all classes as one block."""
    for info, _ in fit(tmp_path, "2x2", ["cosine", "fused-plain"], "--gather").values():
        collectives = info["collectives"]
        assert any(c["op"] == "all-gather" and NUM_CLASSES in c["dims"] for c in collectives)


@jax_only
def test_saved_under_model_parallel_loads_on_one_device(runs):
    (_, one_arrays), split = runs
    expected = split["2x2"][1]["predictions"]
    np.testing.assert_allclose(
        one_arrays["loaded_predictions"], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )


@pytest.mark.skipif(BACKEND != "torch", reason="about the torch backend")
def test_keras_has_no_distribution_on_torch():
    """Keras 3.15 ships no keras.distribution backend for torch: not even a device list.

    The limit is Keras's; the README says to split classes on JAX. If Keras
    lifts it, this fails, and the class-split tests should run on torch too.
    """
    with pytest.raises(AttributeError, match="list_devices"):
        keras.distribution.list_devices()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="about the TensorFlow backend")
def test_keras_model_parallel_on_tensorflow_is_a_prototype():
    """Keras 3.15's TensorFlow distribution (DTensor) is marked "DO NOT USE" and lacks
    `distribute_tensor`: a layout for a layer's output fails at the first call.

    If Keras completes it, this fails, and the class-split tests should run
    on TensorFlow too.
    """
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((1, len(devices)), ["batch", "model"], devices)
    head = WSoftmaxHead(40, units=8, name="head")
    distribution = keras.distribution.ModelParallel(
        layout_map=head.get_layout_map(mesh), batch_dim_name="batch"
    )
    keras.distribution.set_distribution(distribution)
    try:
        model = keras.Sequential([keras.Input((4,)), head])
        model.compile("adam", loss=WSoftmax(0.2))
        with pytest.raises(AttributeError, match="distribute_tensor"):
            model.fit(np.ones((8, 4), "float32"), np.arange(8), verbose=0)
    finally:
        keras.distribution.set_distribution(None)


def test_layout_map_names_the_missing_axis():
    devices = ["cpu:0"]
    mesh = keras.distribution.DeviceMesh((1, 1), ["data", "classes"], devices)
    with pytest.raises(ValueError, match="no axis 'model'; its axes are \\['data', 'classes'\\]"):
        WSoftmaxHead(10).get_layout_map(mesh)
    layout_map = WSoftmaxHead(10, name="ids").get_layout_map(
        mesh, model_parallel_dim_name="classes", data_parallel_dim_name="data"
    )
    assert layout_map["model/ids/classifier"].axes == (None, "classes")
    assert layout_map["model/ids/output"].axes == ("data", "classes")
    assert layout_map["model/ids/kernel"] is None  # replicated: the FC layer is small
    assert layout_map["model/other_ids/classifier"] is None


@jax_only
def test_memory_benchmark_halves_the_split_weights(tmp_path):
    run_module(
        "experiments.class_parallel",
        *("--classes", 400, "--units", 8, "--batch", 16, "--devices", 1, 2),
        *("--time", "--repeats", 1, "--chunk-sizes", 64, "--out", tmp_path),
        env=FOUR_CPU_DEVICES,
    )
    rows = json.loads((tmp_path / "class_parallel.json").read_text())["rows"]
    by = {(r["devices"], r["layout"]): r for r in rows}
    fused = by[1, "fused, chunks of 64"]
    assert fused["parameter_bytes"] == by[1, "replicated"]["parameter_bytes"]
    assert fused["temp_bytes"] < by[1, "replicated"]["temp_bytes"]
    # Split like the class-split head, each device chunking its own classes.
    split_fused = by[2, "fused, chunks of 64"]
    assert split_fused["parameter_bytes"] == by[2, "class-split"]["parameter_bytes"]
    assert split_fused["temp_bytes"] < by[2, "class-split"]["temp_bytes"]
    one, split, replicated = by[1, "class-split"], by[2, "class-split"], by[2, "replicated"]
    # FC 8 x 8 + 8 replicated, classifier 8 x 400 split: 4 bytes each.
    assert one["parameter_bytes"] == 4 * (64 + 8 + 3200)
    assert split["parameter_bytes"] == 4 * (64 + 8 + 1600)
    assert replicated["parameter_bytes"] == one["parameter_bytes"]
    assert split["optimizer_bytes"] == 2 * split["parameter_bytes"]
    assert all(r["all_gathers"] == 0 and r["step_ms"] > 0 for r in rows)
    assert "| 400 | 8 | 2 | class-split |" in (tmp_path / "class_parallel.md").read_text()
