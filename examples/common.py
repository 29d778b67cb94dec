"""What the example scripts share: arguments, the CNN, training, geometry, reports."""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_wsoftmax
from keras_wsoftmax import WSoftmaxHead


def parser(description, epochs, out):
    """Arguments every example takes; scripts add their own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="fashion_mnist", help="TFDS image-classification dataset")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST IDX files")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use only the first N training samples")
    p.add_argument("--test-limit", type=int, help="use only the first N test samples")
    p.add_argument("--out", type=Path, default=Path(out), help="folder for the report files")
    p.add_argument("--verbose", type=int, default=1, help="Keras verbosity: 0, 1 or 2")
    return p


def cnn(input_shape, num_classes, seed, **head_kwargs):
    """The Keras MNIST example CNN, with `WSoftmaxHead` as its classifier.

    Each call starts from a cleared Keras session and the given seed, so runs
    in one process do not pile up state or share random streams.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            WSoftmaxHead(num_classes, **head_kwargs),
        ]
    )


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each training epoch, in seconds."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train(model, loss, data, args, validate=False):
    """Fits `model` with `loss`; returns test metrics, epoch times and history."""
    x_train, y_train, x_test, y_test, _ = data
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=loss,
        metrics=[
            "accuracy",
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
        ],
    )
    timer = EpochTimer()
    history = model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(x_test, y_test) if validate else None,
        callbacks=[timer],
        verbose=args.verbose,
    )
    _, accuracy, cross_entropy = model.evaluate(x_test, y_test, verbose=0)
    head = model.layers[-1]
    return {
        "test_accuracy": float(accuracy),
        "test_cross_entropy": float(cross_entropy),
        "epoch_seconds": timer.seconds,
        "mean_epoch_seconds": float(np.mean(timer.seconds)),
        "head_units": head.units,
        "head_parameters": int(head.count_params()),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }


def fc_features(model, x):
    """The head's FC activations for inputs `x`."""
    head = model.layers[-1]
    backbone = keras.Model(model.inputs, head.input)
    return keras.ops.convert_to_numpy(head.features(backbone.predict(x, verbose=0)))


def angle_degrees(a, b):
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def feature_geometry(features, labels):
    """The paper's two claims, measured as angles (degrees) on FC features.

    compactness: mean angle between a feature and its class mean (smaller is
    more compact); separation_min / separation_mean: minimum and mean angle
    between two class means (larger is more separated). All-zero features
    (every ReLU off) have no direction and are left out.
    """
    features = np.asarray(features, dtype=np.float64)
    alive = np.linalg.norm(features, axis=-1) > 0
    features, labels = features[alive], np.asarray(labels)[alive]
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    index = np.searchsorted(classes, labels)
    pairs = angle_degrees(means[:, None, :], means[None, :, :])[np.triu_indices(len(classes), k=1)]
    return {
        "compactness_deg": float(angle_degrees(features, means[index]).mean()),
        "separation_min_deg": float(pairs.min()),
        "separation_mean_deg": float(pairs.mean()),
        "dead_feature_fraction": float(1.0 - alive.mean()),
    }


def provenance():
    """The command, backend, versions, machine and date behind a set of numbers."""
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gib = float("nan")
    return {
        "command": " ".join(
            [f"KERAS_BACKEND={keras.backend.backend()}", "python"]
            + [shlex.quote(a) for a in sys.argv]
        ),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "keras_wsoftmax": keras_wsoftmax.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {memory_gib:.0f} GiB, "
        f"{platform.platform()}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def provenance_markdown(info):
    return "\n".join(
        [
            f"- Command: `{info['command']}`",
            f"- Backend: {info['backend']} (Keras {info['keras']}, keras-wsoftmax "
            f"{info['keras_wsoftmax']}, Python {info['python']})",
            f"- Machine: {info['machine']}",
            f"- Date: {info['date']}",
        ]
    )


def budget_markdown(args, dataset, seeds=1):
    """The training budget line of a report."""
    x_train, _, x_test = dataset[:3]
    seed_text = (
        f"seed {args.seed}" if seeds == 1 else f"seeds {args.seed} to {args.seed + seeds - 1}"
    )
    return (
        f"- Budget per run: {args.epochs} epochs, batch {args.batch_size}, {len(x_train)} "
        f"training and {len(x_test)} test samples; Adam 1e-3; {seed_text}"
    )


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out, stem, title, args, numbers, markdown):
    """`{stem}.json` (provenance, arguments, numbers) and `{stem}.md` (title, provenance, body)."""
    info = provenance()
    write_json(out / f"{stem}.json", {"provenance": info, "args": vars(args), **numbers})
    (out / f"{stem}.md").write_text(f"# {title}\n\n{provenance_markdown(info)}\n{markdown}")


def write_json(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def mean_std_cell(row, key, scale=1.0, digits=1):
    """`key` (mean) ± `key + "_std"` of a summary row, as a table cell."""
    return f"{scale * row[key]:.{digits}f} ± {scale * row[key + '_std']:.{digits}f}"


def plot_mean_std(ax, x, rows, key, scale=1.0, **style):
    """Error bars of `key` (mean) and `key + "_std"` across summary rows."""
    ax.errorbar(
        x,
        [scale * r[key] for r in rows],
        yerr=[scale * r[key + "_std"] for r in rows],
        capsize=3,
        **style,
    )


def save_figure(fig, axes, title, path):
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
