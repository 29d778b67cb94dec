"""The studies' data: the offline TFDS builder and the per-seed transforms."""

import gzip
import os

import numpy as np
import pytest

from experiments import data


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
    dataset = data.load(data_dir=idx_dir, limit=20, tfds_dir=tmp_path / "tfds")
    assert dataset.num_classes == 10 and dataset.input_shape == (28, 28, 1)
    assert dataset.x_train.shape == (20, 28, 28, 1) and dataset.x_test.shape == (12, 28, 28, 1)
    np.testing.assert_array_equal(dataset.y_train, arrays["train"][1][:20])
    np.testing.assert_array_equal(dataset.y_test, arrays["test"][1])
    np.testing.assert_allclose(dataset.x_train[..., 0], arrays["train"][0][:20] / 255.0, rtol=1e-6)


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


def toy(num_train=1000, num_classes=10):
    rng = np.random.default_rng(0)
    return data.Dataset(
        rng.random((num_train, 4, 4, 1), dtype=np.float32),
        (np.arange(num_train) % num_classes).astype(np.int32),
        rng.random((50, 4, 4, 1), dtype=np.float32),
        (np.arange(50) % num_classes).astype(np.int32),
        num_classes,
    )


def test_training_subset_is_fixed_by_the_seed():
    full = toy()
    a, b, c = (data.training_subset(full, 100, seed) for seed in (3, 3, 4))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert len(a.y_train) == 100 and len(np.unique(a.x_train[:, 0, 0, 0])) == 100  # no repeats
    assert a.x_test is full.x_test
    with pytest.raises(ValueError, match=r"size must be in \[1, 1000\].*received 1001"):
        data.training_subset(full, 1001, 0)


def test_noisy_labels_replace_the_asked_share_uniformly():
    full = toy(20000)
    noisy, replaced = data.with_noisy_labels(full, 0.4, seed=1)
    assert abs(replaced.mean() - 0.4) < 0.02
    np.testing.assert_array_equal(noisy.y_train[~replaced], full.y_train[~replaced])
    # Uniform over all classes: about 1/C of the replaced keep their label by chance.
    kept = np.mean(noisy.y_train[replaced] == full.y_train[replaced])
    assert abs(kept - 0.1) < 0.02
    np.testing.assert_array_equal(noisy.y_test, full.y_test)
    again, _ = data.with_noisy_labels(full, 0.4, seed=1)
    np.testing.assert_array_equal(again.y_train, noisy.y_train)
    with pytest.raises(ValueError, match="fraction must be in"):
        data.with_noisy_labels(full, 1.5, 0)


def test_split_classes_relabels_the_seen_and_keeps_the_unseen_test_images():
    full = toy()
    seen, unseen_x, unseen_y = data.split_classes(full, [7, 2, 4])
    assert seen.num_classes == 3
    assert set(seen.y_train) == {0, 1, 2} and set(seen.y_test) == {0, 1, 2}
    assert len(seen.y_train) == 300 and set(unseen_y) == set(range(10)) - {2, 4, 7}
    assert len(unseen_x) == len(unseen_y) == 35
    with pytest.raises(ValueError, match="seen must hold at least 2"):
        data.split_classes(full, [3])


def test_synthetic_task_is_balanced_seeded_and_not_linearly_trivial():
    task = data.synthetic(7, seed=3, train_per_class=40, test_per_class=10)
    assert task.num_classes == 7 and task.input_shape == (32,)
    assert task.x_train.dtype == np.float32 and task.y_train.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(task.y_train), [40] * 7)
    np.testing.assert_array_equal(np.bincount(task.y_test), [10] * 7)
    again = data.synthetic(7, seed=3, train_per_class=40, test_per_class=10)
    np.testing.assert_array_equal(task.x_train, again.x_train)
    other = data.synthetic(7, seed=4, train_per_class=40, test_per_class=10)
    assert not np.array_equal(task.x_train, other.x_train)
    # Two modes per class: a class's samples sit around two centres, not one.
    noiseless = data.synthetic(7, seed=3, noise=0.0, train_per_class=40, test_per_class=10)
    points = np.unique(noiseless.x_train[noiseless.y_train == 0], axis=0)
    assert len(points) == 2


def test_synthetic_by_name_with_limits():
    task = data.load("synthetic-12", limit=100, test_limit=30)
    assert task.num_classes == 12
    assert task.x_train.shape == (100, 32) and task.x_test.shape == (30, 32)
    np.testing.assert_array_equal(task.x_train, data.synthetic(12).x_train[:100])


@pytest.mark.parametrize("name", ["synthetic-", "synthetic-1", "synthetic-ten"])
def test_synthetic_names_need_a_class_count(name):
    with pytest.raises(ValueError, match=r"synthetic-C with C an integer >= 2.*" + name):
        data.load(name)


def test_glyphs_are_characters_in_fonts_never_seen_in_training(tmp_path):
    faces = data.font_faces()
    if len(faces) < 3 and not os.environ.get("CI"):
        pytest.skip(f"apt-get install -y {data.GLYPH_FONT_PACKAGES}")
    task = data.glyphs(seed=1, train_per_class=2, test_fraction=0.05)
    classes = len(data.GLYPH_CHARACTERS)
    assert task.num_classes == classes == 124 and task.x_train.shape[1:] == (28, 28, 1)
    assert np.bincount(task.y_train, minlength=classes).tolist() == [2] * classes
    test_faces = max(1, round(0.05 * len(faces)))
    assert np.bincount(task.y_test, minlength=classes).tolist() == [test_faces] * classes
    images = np.concatenate([task.x_train, task.x_test])
    assert images.min() == 0.0 and images.max() == 1.0
    # Every glyph has ink (hairline faces draw it faint at 28 pixels: 0.23 at the least).
    assert (images.reshape(len(images), -1).max(axis=1) > 0.2).all()
    again = data.glyphs(seed=1, train_per_class=2, test_fraction=0.05)
    np.testing.assert_array_equal(again.x_train, task.x_train)
    np.testing.assert_array_equal(again.y_test, task.y_test)
    with pytest.raises(ValueError, match="train_per_class must be between 1 and the"):
        data.glyphs(train_per_class=len(faces))
    with pytest.raises(data.DataUnavailable, match="apt-get install -y fonts-dejavu"):
        data.glyphs(folder=tmp_path)


def test_load_glyphs_renders_the_glyph_task(monkeypatch):
    made = data.synthetic(3, train_per_class=4, test_per_class=2)
    monkeypatch.setattr(data, "glyphs", lambda: made)
    task = data.load("glyphs", limit=5, test_limit=3)
    np.testing.assert_array_equal(task.x_train, made.x_train[:5])
    assert len(task.y_test) == 3 and task.num_classes == 3
