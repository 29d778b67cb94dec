import csv

import keras
import numpy as np
import pytest

from keras_wsoftmax import ArcFace, FeatureGeometry, WSoftmax, WSoftmaxHead
from keras_wsoftmax.geometry import (
    angle_degrees,
    expected_calibration_error,
    feature_geometry,
    subcenter_angles,
)
from tests.helpers.blobs import NUM_CLASSES, NUM_FEATURES, blob_model, blobs


def test_geometry_of_two_known_classes():
    # Class 0 at 0 and 20 degrees, class 1 at 90 and 110: means at 10 and 100 degrees.
    angles = np.radians([0.0, 20.0, 90.0, 110.0])
    features = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    geometry = feature_geometry(features, [0, 0, 1, 1])
    assert geometry["compactness_deg"] == pytest.approx(10.0)
    assert geometry["separation_min_deg"] == pytest.approx(90.0)
    assert geometry["separation_mean_deg"] == pytest.approx(90.0)
    assert geometry["dead_feature_fraction"] == 0.0


def test_dead_features_are_counted_and_left_out():
    features = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    geometry = feature_geometry(features, [0, 0, 1, 1])
    assert geometry["dead_feature_fraction"] == 0.25 and geometry["compactness_deg"] == 0.0


def test_separation_agrees_with_angles_pair_by_pair():
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((60, 5)), np.repeat(np.arange(6), 10)
    means = [features[labels == c].mean(axis=0) for c in range(6)]
    angles = [angle_degrees(a, b) for i, a in enumerate(means) for b in means[i + 1 :]]
    geometry = feature_geometry(features, labels)
    assert geometry["separation_min_deg"] == pytest.approx(min(angles))
    assert geometry["separation_mean_deg"] == pytest.approx(np.mean(angles))


def test_separation_of_many_wide_classes_fits_in_memory():
    # Pairs by broadcasting would need 2000 x 2000 x 2000 float64 (64 GB).
    features = np.random.default_rng(0).standard_normal((4000, 2000))
    geometry = feature_geometry(features, np.arange(4000) % 2000)
    assert 0 < geometry["separation_min_deg"] <= geometry["separation_mean_deg"] < 180


def test_geometry_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes; received 1"):
        feature_geometry(np.ones((3, 2)), [4, 4, 4])


def test_ece_by_hand():
    # Confidences 0.9 (right), 0.9 (wrong), 0.6 (right): bins (13/15, 14/15] and (8/15, 9/15].
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = np.array([0, 1, 1])
    expected = (2 / 3) * abs(0.5 - 0.9) + (1 / 3) * abs(1.0 - 0.6)
    ece = expected_calibration_error(np.log(probabilities), labels)
    assert ece == pytest.approx(expected)
    # One bin holds everything: |accuracy - mean confidence|.
    assert expected_calibration_error(np.log(probabilities), labels, bins=1) == pytest.approx(
        abs(2 / 3 - 0.8)
    )


def trained(callbacks, epochs=3):
    model = blob_model()
    model.compile(keras.optimizers.Adam(1e-2), loss=WSoftmax(0.2))
    x, y = blobs(256)
    history = model.fit(x, y, epochs=epochs, batch_size=64, callbacks=callbacks, verbose=0)
    return model, history


def test_callback_logs_at_the_chosen_epochs_and_after_the_last():
    x_val, y_val = blobs(128, seed=5)
    model, history = trained([FeatureGeometry((x_val, y_val), every=2)], epochs=3)
    keys = ["val_compactness_deg", "val_separation_min_deg", "val_separation_mean_deg", "val_ece"]
    for key in keys:
        assert len(history.history[key]) == 2  # epochs 2 and 3 (the last)
    # The last values are the geometry of the trained model, computed by hand.
    head = model.layers[-1]
    backbone = keras.Model(model.inputs, head.input)
    logits, features = head(backbone.predict(x_val, verbose=0), return_features=True)
    expected = feature_geometry(keras.ops.convert_to_numpy(features), y_val)
    assert history.history["val_compactness_deg"][-1] == pytest.approx(
        expected["compactness_deg"], rel=1e-5
    )
    ece = expected_calibration_error(keras.ops.convert_to_numpy(logits), y_val)
    assert history.history["val_ece"][-1] == pytest.approx(ece, rel=1e-5, abs=1e-7)
    assert history.history["val_compactness_deg"][0] != history.history["val_compactness_deg"][1]


def test_csv_logger_records_the_callback(tmp_path):
    path = tmp_path / "log.csv"
    trained([FeatureGeometry(blobs(64, seed=5)), keras.callbacks.CSVLogger(str(path))], epochs=2)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert all(float(row["val_separation_min_deg"]) > 0 for row in rows)


def test_callback_needs_one_head_and_a_positive_period():
    with pytest.raises(ValueError, match="every must be a positive integer; received every=0"):
        FeatureGeometry(blobs(8), every=0)
    model = keras.Sequential([keras.Input((NUM_FEATURES,)), keras.layers.Dense(5)])
    model.compile("adam", loss=WSoftmax(0.2))
    x, y = blobs(32)
    with pytest.raises(ValueError, match="exactly one WSoftmaxHead"):
        model.fit(x, y, epochs=1, callbacks=[FeatureGeometry((x, y))], verbose=0)


# Sub-centers: each sample's angle to its class's dominant one ----------------


def test_subcenter_angles_match_a_direct_computation():
    rng = np.random.default_rng(3)
    head = WSoftmaxHead(4, units=6, subcenters=3)
    head.build((None, 5))
    features = rng.normal(size=(40, 6))
    features[7] = 0.0  # no direction: NaN, and not counted for the dominant one
    labels = rng.integers(0, 4, 40)
    angles, dominant = subcenter_angles(head, features, labels)
    weights = keras.ops.convert_to_numpy(head.classifier).astype(np.float64).reshape(6, 4, 3)
    for c in range(4):
        votes = np.zeros(3, int)
        for i in np.flatnonzero((labels == c) & (np.arange(40) != 7)):
            votes[np.argmin([angle_degrees(features[i], weights[:, c, k]) for k in range(3)])] += 1
        assert dominant[c] == np.argmax(votes)
    kept = np.arange(40) != 7
    expected = [
        angle_degrees(f, weights[:, y, dominant[y]])
        for f, y in zip(features[kept], labels[kept], strict=True)
    ]
    np.testing.assert_allclose(angles[kept], expected, rtol=1e-9)
    assert np.isnan(angles[7])


def test_mislabelled_samples_lie_far_from_the_dominant_subcenter():
    """The paper's cleaning signal, on the blobs with a quarter of the labels wrong."""
    x, y = blobs(1024, seed=4)
    noisy = np.random.default_rng(5).random(len(y)) < 0.25
    labels = np.where(noisy, (y + 1 + y % 3) % NUM_CLASSES, y)
    model = blob_model(subcenters=3)
    model.compile(keras.optimizers.Adam(3e-3), loss=ArcFace(0.3))
    model.fit(x, labels, epochs=6, batch_size=64, verbose=0)
    head = model.layers[-1]
    backbone = keras.Sequential(model.layers[:-1])
    angles, _ = subcenter_angles(head, head.features(backbone.predict(x, verbose=0)), labels)
    # Ranked by angle, a mislabelled sample comes after a clean one in most pairs.
    after = np.mean(angles[noisy][:, None] > angles[~noisy][None, :])
    assert after > 0.9, (after, np.median(angles[noisy]), np.median(angles[~noisy]))


@pytest.mark.parametrize(
    "features, labels, match",
    [
        (np.zeros((3, 5)), [0, 1, 2], r"shape \(N, 6\).*received shape \(3, 5\)"),
        (np.zeros((3, 6)), [0, 1], r"2 labels for 3 feature vectors"),
        (np.zeros((2, 6)), [0, 4], r"Label 4 at index 1 is not a class id in \[0, 4\)"),
        (np.zeros((2, 6)), [0.5, 1], r"Label 0.5 at index 0"),
    ],
)
def test_subcenter_angles_name_bad_input(features, labels, match):
    head = WSoftmaxHead(4, units=6, subcenters=2)
    head.build((None, 5))
    with pytest.raises(ValueError, match=match):
        subcenter_angles(head, features, np.array(labels))
    with pytest.raises(ValueError, match="built head"):
        subcenter_angles(WSoftmaxHead(4, units=6), np.zeros((1, 6)), [0])


def test_head_outputs_of_a_features_head_are_its_logits_of_every_class():
    """A fused model's head (output_mode="features") gives the same three as a logits head."""
    from keras_wsoftmax.geometry import head_outputs

    x = np.random.default_rng(0).standard_normal((10, 4)).astype("float32")
    found = []
    for output_mode in ("logits", "features"):
        keras.utils.set_random_seed(1)
        head = WSoftmaxHead(7, units=5, output_mode=output_mode, subcenters=2)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6), head])
        found.append(head_outputs(keras.Model(model.inputs, head.input), head, x, batch_size=4))
    for logits_head, features_head in zip(*found, strict=True):
        np.testing.assert_allclose(features_head, logits_head, rtol=1e-6)
    assert found[1][0].shape == (10, 7) and found[1][1].shape == (10, 5)
