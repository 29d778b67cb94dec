"""Step time and peak memory of the fused head and loss against the unfused head, on any backend.

For each class count C and FC width D, builds ``WSoftmaxHead(C, units=D)``
on D inputs twice with the same weights: one returns logits and is compiled
with ``WSoftmax(0.2)``, the other returns its FC features and is compiled
with ``head.fused_loss(WSoftmax(0.2), chunk_size)``; Adam (or plain SGD,
``--optimizer sgd``, whose update has one temporary: to tell the loss's
memory from Adam's); the backend's default compilation
(``jit_compile="auto"``). After a warm-up step each, it
times ``train_on_batch`` on one batch of N in alternating order and prints
the median step times and their ratio, fused / unfused. With ``--in-turn``
only one model is in memory at a time (the fused one takes the unfused
one's initial weights), each timed in a block of its own: for sizes where
two models and a step do not fit. With ``--subcenters K`` the same two
models with ``WSoftmaxHead(C, units=D, subcenters=K)`` (K class weights per
class, the class logit their largest) are timed in the same run, beside
them: what sub-centers cost, unfused and fused. With ``--sample-rates R
...`` the fused model keeping R of the classes a step (Partial FC:
``head.fused_loss(WSoftmax(0.2), chunk_size, sample_rate=R)``) is timed in
the same run too, beside the fused full softmax.

Peak memory of a step is what it allocates beyond what was in use before
it (the weights and the optimizer's state): on TensorFlow its allocator's
peak (``tf.config.experimental.get_memory_info("CPU:0")``, reset before the
step), on JAX and PyTorch the process's peak resident set (Linux's VmHWM,
reset through ``/proc/self/clear_refs``) less its resident set just before.
The largest over the timed steps is reported. XLA's own count of a JAX
step's temporaries: `experiments.class_parallel`.

    KERAS_BACKEND=tensorflow python -m experiments.fused_cost --out reports/fused
"""

import gc
import json
import os
import re
import statistics
import time
from pathlib import Path

from experiments import cli, reporting

VARIANTS = ["unfused", "fused"]


def variants(subcenters, sample_rates=()):
    """The variants a run times: ``unfused`` and ``fused``; with K > 1 each with K sub-centers
    (``fused_k3``); the fused one keeping each of `sample_rates` of the classes (``fused_r0.1``).
    """
    found = list(VARIANTS)
    if subcenters > 1:
        found += [f"{v}_k{subcenters}" for v in VARIANTS]
    return found + [f"fused_r{rate:g}" for rate in sample_rates]


def parse_variant(variant):
    """``(unfused or fused, sub-centers, sample rate)`` of a variant's name."""
    mode, *parts = variant.split("_")
    found = {"k": 1, "r": 1.0}
    for part in parts:
        found[part[0]] = type(found[part[0]])(part[1:])
    return mode, found["k"], found["r"]


BFC_SWITCH = "TF_CPU_ALLOCATOR_USE_BFC"  # TensorFlow's CPU allocator that keeps statistics
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}  # keras.optimizers' names


def _status_mib(field):
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


class ResidentPeak:
    """The process's peak resident set above its resident set at `reset` (JAX, PyTorch)."""

    described = "the process's resident set at its highest during a step, less the one before"

    def reset(self):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
        self.before = _status_mib("VmRSS")

    def mib(self):
        return _status_mib("VmHWM") - self.before


class TensorFlowPeak:
    """TensorFlow's allocator's peak above its use at `reset`.

    TensorFlow's CPU allocator keeps what a step frees for the next one, so
    the resident set stops moving after the first step; its own counts do not.
    Only its BFC allocator counts: TensorFlow picks it where oneDNN is on
    (by default on some x86 CPUs, not on an AMD EPYC without AVX-512) and
    otherwise only with ``TF_CPU_ALLOCATOR_USE_BFC=true`` before its first
    op (`main` sets it).
    """

    described = "TensorFlow's allocator's peak during a step, less its use before the step"

    def reset(self):
        import tensorflow as tf

        try:
            tf.config.experimental.reset_memory_stats("CPU:0")
        except ValueError as error:
            raise RuntimeError(
                f"TensorFlow keeps no allocator statistics here ({error}): set "
                f"{BFC_SWITCH}=true before TensorFlow's first op."
            ) from error
        self.before = tf.config.experimental.get_memory_info("CPU:0")["current"] / 2**20

    def mib(self):
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**20 - self.before


def peak_meter(backend):
    return TensorFlowPeak() if backend == "tensorflow" else ResidentPeak()


def measured_step(step, meter):
    """Seconds and peak MiB (by `meter`, above the use before it) of one call of `step`."""
    meter.reset()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    return seconds, meter.mib()


def model_for(variant, num_classes, units, chunk_size, optimizer="adam", weights=None):
    """The variant's model (unfused or fused, its sub-centers), compiled; with `weights` if given."""
    import keras

    from keras_wsoftmax import WSoftmax, WSoftmaxHead

    fused, subcenters, rate = parse_variant(variant)
    mode = "logits" if fused == "unfused" else "features"
    head = WSoftmaxHead(
        num_classes, units=units, output_mode=mode, subcenters=subcenters, name="head"
    )
    model = keras.Sequential([keras.Input((units,)), head])
    loss = WSoftmax(0.2)
    if fused == "fused":
        loss = head.fused_loss(loss, chunk_size, sample_rate=rate, seed=0)
    model.compile(getattr(keras.optimizers, OPTIMIZERS[optimizer])(1e-3), loss=loss)
    if weights is not None:
        model.set_weights(weights)
    return model


def timed_steps(model, x, y, times, seconds, peaks):
    """`times` timed `train_on_batch` steps of `model`, appended to `seconds` and `peaks`."""
    import keras

    meter = peak_meter(keras.backend.backend())
    for _ in range(times):
        took, peak = measured_step(lambda: model.train_on_batch(x, y), meter)
        seconds.append(took)
        peaks.append(peak)


def measure(
    num_classes,
    units,
    batch,
    chunk_size,
    repeats,
    in_turn=False,
    optimizer="adam",
    subcenters=1,
    sample_rates=(),
):
    import keras
    import numpy as np

    from keras_wsoftmax._fused import even_chunk_size

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, units)).astype(np.float32)
    y = rng.integers(0, num_classes, batch).astype(np.int32)
    timed = variants(subcenters, sample_rates)
    seconds, peaks = {v: [] for v in timed}, {v: [] for v in timed}
    first, weights, jit = {}, {}, None
    if in_turn:
        # One model in memory at a time, each timed in a block of its own.
        for variant in timed:
            k = parse_variant(variant)[1]  # the same weights for the same shapes
            model = model_for(variant, num_classes, units, chunk_size, optimizer, weights.get(k))
            weights.setdefault(k, model.get_weights())
            first[variant] = float(model.train_on_batch(x, y))  # warm-up
            timed_steps(model, x, y, repeats, seconds[variant], peaks[variant])
            jit = model.jit_compile
            del model
            keras.backend.clear_session()
            gc.collect()  # the model's weights and optimizer state go before the next
    else:
        models = {}
        for variant in timed:
            k = parse_variant(variant)[1]
            models[variant] = model_for(
                variant, num_classes, units, chunk_size, optimizer, weights.get(k)
            )
            weights.setdefault(k, models[variant].get_weights())
        del weights
        # The warm-up step: tracing and compilation stay out of the timings,
        # and its losses (same weights, same batch) must agree.
        first = {v: float(m.train_on_batch(x, y)) for v, m in models.items()}
        for r in range(repeats):
            for variant in timed if r % 2 == 0 else timed[::-1]:
                timed_steps(models[variant], x, y, 1, seconds[variant], peaks[variant])
        jit = models["fused"].jit_compile
        del models
        keras.backend.clear_session()
    row = {
        "classes": num_classes,
        "units": units,
        "batch": batch,
        "chunk_size": chunk_size,
        "chunk_made": even_chunk_size(num_classes, chunk_size),
        "jit_compile": jit,
        "in_turn": in_turn,
        "optimizer": optimizer,
        "first_loss": first,
        "seconds": seconds,
        "peak_mib": peaks,
        "subcenters": subcenters,
        "sample_rates": list(sample_rates),
        "step_ms": {v: 1e3 * statistics.median(seconds[v]) for v in timed},
        "max_peak_mib": {v: max(peaks[v]) for v in timed},
    }
    row["time_ratio"] = row["step_ms"]["fused"] / row["step_ms"]["unfused"]
    if subcenters > 1:
        # What K sub-centers cost over one, unfused and fused, in this run.
        row["subcenter_time_ratio"] = {
            v: row["step_ms"][f"{v}_k{subcenters}"] / row["step_ms"][v] for v in VARIANTS
        }
    if sample_rates:
        # Partial FC against the fused full softmax, in this run.
        row["sampled_time_ratio"] = {
            f"{r:g}": row["step_ms"][f"fused_r{r:g}"] / row["step_ms"]["fused"]
            for r in sample_rates
        }
    return row


def results_table(rows):
    header = ["C", "D", "chunk (as made)", "step unfused (ms)", "step fused (ms)"]
    header += ["ratio fused / unfused", "peak unfused", "peak fused", "classifier gradient (D x C)"]
    body = [
        [
            f"{r['classes']:,}",
            r["units"],
            f"{r['chunk_size']:,} ({r['chunk_made']:,})",
            f"{r['step_ms']['unfused']:,.0f}",
            f"{r['step_ms']['fused']:,.0f}",
            f"{r['time_ratio']:.2f}",
            f"{r['max_peak_mib']['unfused']:,.0f} MiB",
            f"{r['max_peak_mib']['fused']:,.0f} MiB",
            f"{4 * r['units'] * r['classes'] / 2**20:,.0f} MiB",
        ]
        for r in rows
    ]
    return reporting.markdown_table(header, body)


def subcenter_table(rows):
    """What K sub-centers cost over one, per row, in the same run ("" without sub-centers)."""
    rows = [r for r in rows if r["subcenters"] > 1]
    if not rows:
        return ""
    header = ["C", "D", "K", "step unfused K (ms)", "unfused K / 1", "step fused K (ms)"]
    header += ["fused K / 1", "peak unfused K", "peak fused K"]
    body = []
    for r in rows:
        k = r["subcenters"]
        body.append(
            [
                f"{r['classes']:,}",
                r["units"],
                k,
                f"{r['step_ms'][f'unfused_k{k}']:,.0f}",
                f"{r['subcenter_time_ratio']['unfused']:.2f}",
                f"{r['step_ms'][f'fused_k{k}']:,.0f}",
                f"{r['subcenter_time_ratio']['fused']:.2f}",
                f"{r['max_peak_mib'][f'unfused_k{k}']:,.0f} MiB",
                f"{r['max_peak_mib'][f'fused_k{k}']:,.0f} MiB",
            ]
        )
    return "\n\nSub-centers, timed in the same run:\n\n" + reporting.markdown_table(header, body)


def sampled_table(rows):
    """Partial FC's steps against the fused full softmax's, per row ("" without sample rates)."""
    rows = [r for r in rows if r["sample_rates"]]
    if not rows:
        return ""
    header = ["C", "D", "sample rate", "step (ms)", "/ fused full step", "peak", "peak fused full"]
    body = [
        [
            f"{r['classes']:,}",
            r["units"],
            f"{rate:g}",
            f"{r['step_ms'][f'fused_r{rate:g}']:,.0f}",
            f"{r['sampled_time_ratio'][f'{rate:g}']:.2f}",
            f"{r['max_peak_mib'][f'fused_r{rate:g}']:,.0f} MiB",
            f"{r['max_peak_mib']['fused']:,.0f} MiB",
        ]
        for r in rows
        for rate in r["sample_rates"]
    ]
    return "\n\nPartial FC (`sample_rate`), timed in the same run:\n\n" + reporting.markdown_table(
        header, body
    )


def write(args, backend, chunk_size, rows):
    jit = rows[0]["jit_compile"]
    order = (
        "one model in memory at a time, each timed in a block"
        if args.in_turn
        else "alternating, both models in memory at once"
    )
    reporting.write_report(
        args.out,
        f"fused_cost_{backend}",
        f"Fused head and loss against the unfused head: step time and peak memory ({backend})",
        args,
        {"rows": rows},
        f"- Step: `model.train_on_batch` of `WSoftmaxHead(C, units=D)` on D inputs, batch "
        f"{args.batch}, W-Softmax 0.2, {OPTIMIZERS[args.optimizer]}, `jit_compile={jit}` "
        "(Keras's default here); "
        f'fused: `output_mode="features"` and `head.fused_loss(WSoftmax(0.2), {chunk_size})`\n'
        f"- {args.repeats} timed steps per variant after a warm-up step each, {order}; "
        "medians, comparable within this run only\n\n"
        f"Peak: {peak_meter(backend).described} (the largest over the timed steps): what "
        "the step allocates beyond the weights and the optimizer's state, the optimizer's "
        "own temporaries and new values included. The classifier's gradient (D x C floats) "
        "is allocated by both.\n\n"
        f"{results_table(rows)}{subcenter_table(rows)}{sampled_table(rows)}\n",
    )


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--classes", type=int, nargs="+", default=[100_000, 1_000_000], help="class counts C"
    )
    p.add_argument("--units", type=int, nargs="+", default=[128, 512], help="FC widths D")
    p.add_argument("--batch", type=int, default=512, help="batch N")
    p.add_argument(
        "--chunk-size",
        type=int,
        help="at most this many classes per chunk (default: the package's DEFAULT_CHUNK_SIZE)",
    )
    p.add_argument("--repeats", type=int, default=4, help="timed steps per variant")
    p.add_argument(
        "--in-turn",
        action="store_true",
        help="one model in memory at a time, timed in blocks (default: both, alternating)",
    )
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="default adam")
    p.add_argument(
        "--subcenters",
        type=int,
        default=1,
        help="also time both models with this many sub-centers per class, in the same run",
    )
    p.add_argument(
        "--sample-rates",
        type=float,
        nargs="*",
        default=[],
        help="also time the fused model keeping these shares of the classes (Partial FC)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/fused_cost"))
    args = p.parse_args(argv)
    # Before TensorFlow's first op, which makes its CPU allocator (`TensorFlowPeak`).
    os.environ.setdefault(BFC_SWITCH, "true")
    # After parsing: --help loads no backend.
    import keras

    from keras_wsoftmax.head import DEFAULT_CHUNK_SIZE

    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    backend = keras.backend.backend()
    rows = []
    for num_classes in args.classes:
        for units in args.units:
            rows.append(
                measure(
                    *(num_classes, units, args.batch, chunk_size, args.repeats),
                    *(args.in_turn, args.optimizer, args.subcenters, args.sample_rates),
                )
            )
            shown = ("classes", "units", "step_ms", "time_ratio", "max_peak_mib", "first_loss")
            shown += ("subcenter_time_ratio",) if args.subcenters > 1 else ()
            shown += ("sampled_time_ratio",) if args.sample_rates else ()
            print(json.dumps({k: rows[-1][k] for k in shown}), flush=True)
            # After every row: a configuration that runs out of memory keeps the others.
            write(args, backend, chunk_size, rows)
    print("\n" + results_table(rows) + subcenter_table(rows) + sampled_table(rows))
    return rows


if __name__ == "__main__":
    main()
