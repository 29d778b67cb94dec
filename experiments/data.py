"""The studies' data: image classification through TFDS (offline by default), and a synthetic task.

`load("fashion_mnist")` serves Fashion-MNIST from the four IDX files of
Debian's `dataset-fashion-mnist` package (or a `--data-dir` holding them)
through a small TFDS builder of our own, with the official 60k/10k split:
TFDS's stock `fashion_mnist` builder rejects those files, whose gz checksums
differ from the ones it pins. Without the files it falls back to the stock
builder, which downloads as usual; any other TFDS image-classification name
goes to TFDS directly. ``load("synthetic-C")`` generates `synthetic(C)`, a
task whose class count is a free variable, and ``load("glyphs")`` renders
`glyphs()`, 124 characters in every installed font that has them: a real
many-class task made from what Debian's font packages ship.
"""

import gzip
import os
import string
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_NAMES = sorted(name for pair in IDX_FILES.values() for name in pair)
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

HOW_TO_GET_FASHION_MNIST = (
    "Fashion-MNIST is not on this machine and could not be downloaded. "
    "Install it offline with `apt-get install -y dataset-fashion-mnist` "
    f"(Debian/Ubuntu; files go to {DEBIAN_DIR}), or put the four files "
    f"{', '.join(IDX_NAMES)} "
    "(from the Fashion-MNIST GitHub repository, zalandoresearch/fashion-mnist) "
    "in a folder and pass it with --data-dir, or run once with a network "
    "connection so that TFDS can download and cache the dataset."
)


SYNTHETIC = "synthetic-"
GLYPHS = "glyphs"
FONT_DIR = Path("/usr/share/fonts")
# Digits, the Latin alphabet and the Latin-1 Supplement's 62 letters: 124
# classes, among them near twins (o, 0, O, ò, ó, ô, õ, ö, ø) that only a fine
# distinction tells apart.
GLYPH_CHARACTERS = (
    string.digits
    + string.ascii_letters
    + "".join(chr(c) for c in range(0xC0, 0x100) if chr(c).isalpha())
)
# Debian's packages of text fonts with these characters, for `glyphs` (about
# 150 MB installed): what the glyph study ran on.
GLYPH_FONT_PACKAGES = (
    "fonts-dejavu fonts-texgyre fonts-urw-base35 fonts-liberation2 fonts-freefont-ttf "
    "fonts-crosextra-carlito fonts-crosextra-caladea fonts-cmu fonts-lato fonts-open-sans "
    "fonts-roboto-unhinted fonts-noto-core fonts-linuxlibertine fonts-ebgaramond fonts-cantarell"
)
TFDS_DIR = Path("runs/tensorflow_datasets")


class Dataset(NamedTuple):
    """Train and test arrays: inputs float32 (images in [0, 1]), labels int32 class ids."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self):
        return self.x_train.shape[1:]


class DataUnavailable(RuntimeError):
    """The dataset is neither on disk nor downloadable; the message says what to do."""


def read_idx(path):
    """An IDX file (gzipped or not) as a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()}).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_idx_dir(data_dir=None):
    """The folder holding the four Fashion-MNIST IDX files, or None."""
    folder = Path(data_dir) if data_dir else DEBIAN_DIR
    if all((folder / name).exists() for name in IDX_NAMES):
        return folder
    if data_dir:
        raise DataUnavailable(
            f"--data-dir {data_dir} does not hold the four Fashion-MNIST IDX files "
            f"({', '.join(IDX_NAMES)})."
        )
    return None


class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST from local IDX files (the official 60k/10k split)."""

    VERSION = tfds.core.Version("1.0.0")

    def __init__(self, *, idx_dir, **kwargs):
        self._idx_dir = Path(idx_dir)
        super().__init__(**kwargs)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=FASHION_MNIST_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
            # Keep the IDX order, so that --limit N means the first N samples.
            disable_shuffling=True,
        )

    def _log_download_bytes(self):
        # TFDS's own line says "Downloading ... Unknown size": nothing is downloaded here.
        print(f"Preparing Fashion-MNIST from {self._idx_dir} into {self.data_dir} (once).")

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in IDX_FILES}

    def _generate_examples(self, split):
        images_file, labels_file = IDX_FILES[split]
        images = read_idx(self._idx_dir / images_file)
        labels = read_idx(self._idx_dir / labels_file)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": image[..., None], "label": int(label)}


def _as_arrays(builder_or_name, tfds_dir):
    if isinstance(builder_or_name, str):
        splits = tfds.load(
            builder_or_name,
            split=["train", "test"],
            as_supervised=True,
            batch_size=-1,
            data_dir=tfds_dir,
        )
        num_classes = (
            tfds.builder(builder_or_name, data_dir=tfds_dir).info.features["label"].num_classes
        )
    else:
        builder_or_name.download_and_prepare()
        splits = builder_or_name.as_dataset(
            split=["train", "test"], as_supervised=True, batch_size=-1
        )
        num_classes = builder_or_name.info.features["label"].num_classes
    (x_train, y_train), (x_test, y_test) = tfds.as_numpy(splits)
    return x_train, y_train, x_test, y_test, num_classes


def load(dataset="fashion_mnist", data_dir=None, limit=None, test_limit=None, tfds_dir=None):
    """Train and test arrays: images as float32 in [0, 1], labels as int32.

    `dataset` is a TFDS name, or ``"synthetic-C"`` for `synthetic(C)`. TFDS
    keeps its prepared copy in `tfds_dir`: by default ``$TFDS_DATA_DIR``,
    else `TFDS_DIR` (``runs/tensorflow_datasets`` under the working folder,
    which a clone's ``.gitignore`` ignores), not ``~/tensorflow_datasets``.

    Returns:
        A `Dataset`. `limit` and `test_limit` keep the first samples of the
        training and test sets.

    Raises:
        DataUnavailable: with a paragraph saying how to get the data.
    """
    if dataset.startswith(SYNTHETIC):
        return _first(synthetic(_synthetic_classes(dataset)), limit, test_limit)
    if dataset == GLYPHS:
        return _first(glyphs(), limit, test_limit)
    tfds_dir = tfds_dir or os.environ.get("TFDS_DATA_DIR") or TFDS_DIR
    idx_dir = find_idx_dir(data_dir) if dataset == "fashion_mnist" else None
    source = FashionMnistIdx(idx_dir=idx_dir, data_dir=tfds_dir) if idx_dir else dataset
    try:
        x_train, y_train, x_test, y_test, num_classes = _as_arrays(source, tfds_dir)
    except Exception as error:  # TFDS raises many kinds when offline
        if dataset == "fashion_mnist":
            raise DataUnavailable(HOW_TO_GET_FASHION_MNIST) from error
        raise DataUnavailable(
            f"TFDS could not load {dataset!r} ({type(error).__name__}: {error}). "
            "Check the name and the network, or use the offline default "
            "--dataset fashion_mnist."
        ) from error
    return _first(
        Dataset(
            _scale(x_train),
            y_train.astype(np.int32),
            _scale(x_test),
            y_test.astype(np.int32),
            num_classes,
        ),
        limit,
        test_limit,
    )


def _first(dataset, limit, test_limit):
    """`dataset` with only its first `limit` training and `test_limit` test samples (None: all)."""
    return dataset._replace(
        x_train=dataset.x_train[:limit],
        y_train=dataset.y_train[:limit],
        x_test=dataset.x_test[:test_limit],
        y_test=dataset.y_test[:test_limit],
    )


def synthetic(
    num_classes, seed=0, dim=32, modes=2, noise=1.0, train_per_class=100, test_per_class=100
):
    """A classification task whose class count is a free variable, for the width study.

    Each class is a mixture of `modes` Gaussians in ``R^dim``: the mode
    centres are drawn from ``N(0, I)``, and a sample takes one of its class's
    modes at random and adds ``N(0, noise^2 I)``. A class with two distant
    modes is not convex, so a linear classifier on the inputs cannot separate
    it: the network must learn features. More classes crowd the same space,
    so the task gets harder as `num_classes` grows, as real tasks with more
    classes do. Balanced: `train_per_class` and `test_per_class` samples of
    every class, shuffled. Fixed by `seed` (centres and samples). At the
    default noise a 15-epoch MLP is far from perfect at C = 10 (at noise
    0.5 every FC width reached 100%, which tells nothing about width).
    """
    num_classes = int(num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; received {num_classes}.")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, modes, dim))

    def draw(per_class):
        labels = rng.permutation(np.repeat(np.arange(num_classes), per_class))
        mode = rng.integers(0, modes, labels.size)
        x = centres[labels, mode] + noise * rng.standard_normal((labels.size, dim))
        return x.astype(np.float32), labels.astype(np.int32)

    (x_train, y_train), (x_test, y_test) = draw(train_per_class), draw(test_per_class)
    return Dataset(x_train, y_train, x_test, y_test, num_classes)


def font_faces(folder=FONT_DIR, characters=GLYPH_CHARACTERS):
    """The font files under `folder` (TrueType, OpenType) whose character map has every one of `characters`.

    Sorted by path; a collection (``.ttc``) or a file fontTools cannot read
    is left out.
    """
    from fontTools.ttLib import TTFont

    faces = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() not in (".ttf", ".otf"):
            continue
        try:
            with TTFont(path, lazy=True) as font:
                cmap = font.getBestCmap() or {}
        except Exception:  # a broken or unusual file is one face fewer, not a failed study
            continue
        if all(ord(c) in cmap for c in characters):
            faces.append(path)
    return faces


def render(character, face, size=28):
    """`character` drawn in the font file `face`, centred in a `size` x `size` grey image in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(face), size=round(0.75 * size))
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), character, font=font)
    draw.text(
        ((size - right - left) / 2, (size - bottom - top) / 2), character, fill=255, font=font
    )
    return np.asarray(image, dtype=np.float32)[..., None] / 255.0


def glyph_training_faces(faces, test_fraction=0.3):
    """How many of `faces` font faces `glyphs` trains on: all but `test_fraction` (at least one) of them."""
    return faces - max(1, round(test_fraction * faces))


def glyphs(seed=0, train_per_class=None, test_fraction=0.3, folder=FONT_DIR, size=28):
    """Characters in the installed fonts: a class per character, a sample per font face.

    Every face under `folder` that has all of `GLYPH_CHARACTERS` (124:
    digits, Latin letters, the Latin-1 Supplement's letters) draws each of
    them once (`render`). The faces are split, by `seed`, into training
    faces and test faces (`test_fraction` of them, at least one): the test
    set is every character in fonts never seen in training, so the task is
    to recognize a character in a new typeface. `train_per_class` keeps
    that many training faces per class, drawn per class by `seed` (None:
    all): few samples per class, each class from its own fonts.

    The samples are real artifacts (the type designs of Debian's font
    packages, `GLYPH_FONT_PACKAGES`), not a generator's draws; faces of one
    family (bold, italic, condensed) are separate samples, and a family can
    have faces on both sides of the split.

    Raises:
        DataUnavailable: where fewer than 2 faces have every character.
    """
    faces = font_faces(folder)
    if len(faces) < 2:
        raise DataUnavailable(
            f"{len(faces)} font files under {folder} have all {len(GLYPH_CHARACTERS)} characters; "
            f"install some text fonts: apt-get install -y {GLYPH_FONT_PACKAGES}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(faces))
    test_count = len(faces) - glyph_training_faces(len(faces), test_fraction)
    test_faces, train_faces = order[:test_count], order[test_count:]
    keep = len(train_faces) if train_per_class is None else train_per_class
    if not 1 <= keep <= len(train_faces):
        raise ValueError(
            f"train_per_class must be between 1 and the {len(train_faces)} training faces; "
            f"received {train_per_class}."
        )
    drawn = {}  # (face, class) -> image, each drawn once

    def split(pairs):
        x = np.stack(
            [drawn.setdefault(p, render(GLYPH_CHARACTERS[p[1]], faces[p[0]], size)) for p in pairs]
        )
        y = np.array([c for _, c in pairs], dtype=np.int32)
        shuffle = rng.permutation(len(y))
        return x[shuffle], y[shuffle]

    classes = range(len(GLYPH_CHARACTERS))
    train = [(f, c) for c in classes for f in rng.choice(train_faces, keep, replace=False)]
    test = [(f, c) for c in classes for f in test_faces]
    (x_train, y_train), (x_test, y_test) = split(train), split(test)
    return Dataset(x_train, y_train, x_test, y_test, len(GLYPH_CHARACTERS))


def _synthetic_classes(name):
    count = name[len(SYNTHETIC) :]
    if not count.isdigit() or int(count) < 2:
        raise ValueError(
            f"A synthetic dataset is named {SYNTHETIC}C with C an integer >= 2 classes; "
            f"received {name!r}."
        )
    return int(count)


def _scale(images):
    return images.astype(np.float32) / 255.0


def load_or_exit(*args, **kwargs):
    """`load`, or the how-to paragraph on stderr and exit status 2."""
    try:
        return load(*args, **kwargs)
    except DataUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def training_subset(dataset, size, seed):
    """`size` training samples drawn without replacement by `seed`; the test set unchanged.

    The draw depends on the seed alone, so every loss trained at one seed
    sees the same subset.
    """
    if not 0 < size <= len(dataset.y_train):
        raise ValueError(
            f"size must be in [1, {len(dataset.y_train)}] (the training set); received {size}."
        )
    chosen = np.sort(np.random.default_rng(seed).choice(len(dataset.y_train), size, replace=False))
    return dataset._replace(x_train=dataset.x_train[chosen], y_train=dataset.y_train[chosen])


def with_noisy_labels(dataset, fraction, seed):
    """`fraction` of the training labels replaced by classes drawn uniformly, fixed by `seed`.

    A replaced label is drawn from all classes, so about `fraction / C` of the
    chosen samples keep their label by chance (uniform label noise as usually
    defined). The test labels stay clean. Returns the dataset and the mask of
    the replaced samples.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]; received {fraction}.")
    rng = np.random.default_rng(seed)
    replaced = rng.random(len(dataset.y_train)) < fraction
    labels = dataset.y_train.copy()
    labels[replaced] = rng.integers(0, dataset.num_classes, int(replaced.sum()))
    return dataset._replace(y_train=labels), replaced


def split_classes(dataset, seen):
    """The dataset restricted to the classes in `seen` (relabelled 0..len(seen)-1), and the rest.

    Returns `(seen_dataset, unseen_x, unseen_y)`: a training task on the seen
    classes, and the test images of the other classes with their original
    labels, for retrieval of classes the model never saw.
    """
    seen = sorted(int(c) for c in seen)
    if len(seen) < 2 or not set(seen) < set(range(dataset.num_classes)):
        raise ValueError(
            f"seen must hold at least 2 and fewer than all of the {dataset.num_classes} "
            f"class ids; received {seen}."
        )
    relabel = np.full(dataset.num_classes, -1, dtype=np.int32)
    relabel[seen] = np.arange(len(seen), dtype=np.int32)
    in_train = relabel[dataset.y_train] >= 0
    in_test = relabel[dataset.y_test] >= 0
    seen_dataset = Dataset(
        dataset.x_train[in_train],
        relabel[dataset.y_train[in_train]],
        dataset.x_test[in_test],
        relabel[dataset.y_test[in_test]],
        len(seen),
    )
    return seen_dataset, dataset.x_test[~in_test], dataset.y_test[~in_test]
