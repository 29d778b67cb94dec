"""The package's losses against Keras's sparse cross-entropy: forward + backward, side by side.

For each (N, C), times the gradient of the mean loss with respect to the
logits for `SparseCategoricalCrossentropy(from_logits=True)` and for each of
`WSoftmax`, `CosFace` and `ArcFace` on the same logits (scaled cosines,
within the default scale) and labels, compiled the way Keras trains on the
backend (JAX: jit; TensorFlow: XLA, as on a GPU, or a plain tf.function with
--no-xla, as on a CPU-only machine; PyTorch: eager, and `torch.compile` with
--torch-compile), alternating them, warm-up excluded, and reports median
times, each loss's ratio to cross-entropy, and the memory each needs.

    KERAS_BACKEND=jax python -m experiments.loss_speed
"""

import json
import re
import statistics
import time

import keras
import numpy as np

from experiments import cli
from keras_wsoftmax import DEFAULT_SCALE, ArcFace, CosFace, WSoftmax

DEFAULT_SIZES = ["256x10", "1024x1000", "4096x1000", "1024x32000"]
BACKEND = keras.backend.backend()
BYTES = {"f64": 8, "s64": 8, "u64": 8, "f32": 4, "s32": 4, "u32": 4, "f16": 2, "bf16": 2}
BYTES |= {"s16": 2, "u16": 2, "pred": 1, "s8": 1, "u8": 1}


BASELINE = "cross_entropy"
NAMES = {"cross_entropy": "CE", "wsoftmax": "W-Softmax", "cosface": "CosFace", "arcface": "ArcFace"}


def losses():
    return {
        BASELINE: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "wsoftmax": WSoftmax(0.2),
        "cosface": CosFace(),
        "arcface": ArcFace(),
    }


def gradient_function(loss, mode=None):
    """(logits, labels) -> d mean loss / d logits, compiled as Keras would in `mode`.

    `mode` defaults to jit (JAX), XLA (TensorFlow) or eager (PyTorch).
    """
    if BACKEND == "jax":
        import jax

        return jax.jit(jax.grad(lambda z, y: loss(y, z)))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def grad(z, y):
            with tf.GradientTape() as tape:
                tape.watch(z)
                value = loss(y, z)
            return tape.gradient(value, z)

        return tf.function(grad, jit_compile=mode != "tf.function")
    if BACKEND == "torch":
        import torch

        # torch.compile traces the forward; autograd runs its compiled backward.
        forward = torch.compile(lambda y, z: loss(y, z)) if mode == "torch.compile" else loss

        def grad(z, y):
            z = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(forward(y, z), z)
            return g

        return grad
    raise NotImplementedError(BACKEND)


def device_name():
    if BACKEND == "jax":
        import jax

        return jax.devices()[0].device_kind
    if BACKEND == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    return "cpu"


def block(x):
    """Waits for `x` to be computed: device work is asynchronous."""
    if BACKEND == "jax":
        x.block_until_ready()
    elif BACKEND == "torch" and x.is_cuda:
        import torch

        torch.cuda.synchronize()
    return x


def peak_bytes(fn, z, y):
    """Memory the compiled gradient needs beyond its inputs, where the backend says.

    JAX: XLA's temporary buffers plus the output. TensorFlow: the largest
    buffer in the optimized XLA program (the CPU runtime reports no peak).
    PyTorch: on a GPU, CUDA's peak allocation beyond the inputs; on the CPU,
    the profiler's largest allocation by one operator.
    """
    if BACKEND == "jax":
        analysis = fn.lower(z, y).compile().memory_analysis()
        return analysis.temp_size_in_bytes + analysis.output_size_in_bytes, "XLA temp + output"
    if BACKEND == "tensorflow":
        hlo = fn.experimental_get_compiler_ir(z, y)(stage="optimized_hlo")
        largest = 0
        for dtype, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", hlo):
            if dtype in BYTES:
                largest = max(
                    largest, BYTES[dtype] * int(np.prod([int(d) for d in dims.split(",") if d]))
                )
        return largest, "largest XLA buffer"
    import torch

    if z.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        block(fn(z, y))
        return torch.cuda.max_memory_allocated() - baseline, "CUDA peak beyond the inputs"
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        fn(z, y)
    largest = max((e.self_cpu_memory_usage for e in prof.events()), default=0)
    return largest, "largest operator allocation"


def measure(size, repeats, mode):
    if mode == "torch.compile":
        import torch

        torch._dynamo.reset()  # a fresh cache per size, not one recompile limit for all
    n, c = size
    rng = np.random.default_rng(0)
    # Scaled cosines: normal logits of spread 3, within the cosine losses' scale.
    z = rng.normal(size=(n, c)).astype(np.float32) * 3
    z = keras.ops.convert_to_tensor(np.clip(z, -DEFAULT_SCALE, DEFAULT_SCALE))
    y = keras.ops.convert_to_tensor(rng.integers(0, c, n).astype(np.int32))
    fns = {name: gradient_function(loss, mode) for name, loss in losses().items()}
    for fn in fns.values():
        for _ in range(3):
            block(fn(z, y))
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            block(fn(z, y))
            times[name].append(time.perf_counter() - start)
    memory = {}
    for name, fn in fns.items():
        # The CPU profiler cannot see inside torch.compile's kernels, and a
        # TensorFlow graph without XLA has no compiler IR to read.
        blind = (mode == "torch.compile" and not z.is_cuda) or mode == "tf.function"
        memory[name], memory["kind"] = (None, "n/a") if blind else peak_bytes(fn, z, y)
    median = {name: statistics.median(t) for name, t in times.items()}
    # The fewest bytes either loss must move: read the logits and labels once,
    # write the gradient once. Both are memory-bound, so bytes / time is the
    # figure to hold against the memory bandwidth.
    min_bytes = n * c * 4 * 2 + n * 4
    return {
        "n": n,
        "c": c,
        "median_ms": {k: 1e3 * v for k, v in median.items()},
        "time_ratio": {k: v / median[BASELINE] for k, v in median.items() if k != BASELINE},
        "min_bytes": min_bytes,
        "gb_per_s": {k: min_bytes / v / 1e9 for k, v in median.items()},
        "memory_bytes": {k: memory[k] for k in fns},
        "memory_kind": memory["kind"],
        "memory_ratio": {
            k: memory[k] / memory[BASELINE] if memory[BASELINE] else None
            for k in fns
            if k != BASELINE
        },
    }


def _mebibytes(size):
    return "n/a" if size is None else f"{size / 2**20:.2f} MiB"


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="NxC pairs")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per loss and size")
    p.add_argument("--torch-compile", action="store_true", help="torch.compile (PyTorch only)")
    p.add_argument(
        "--no-xla",
        action="store_true",
        help="tf.function without XLA (TensorFlow only): what Keras trains with on a "
        "CPU-only machine, where jit_compile='auto' turns XLA off",
    )
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    mode = {
        "jax": "jit",
        "tensorflow": "tf.function" if args.no_xla else "XLA",
        "torch": "torch.compile" if args.torch_compile else "eager",
    }[BACKEND]
    rows = []
    print(
        f"backend {BACKEND} ({mode}) on {device_name()}, keras {keras.__version__}, "
        f"{args.repeats} repeats"
    )
    others = [name for name in losses() if name != BASELINE]
    print(
        "| N x C | CE ms | "
        + " | ".join(f"{NAMES[k]} ms | {NAMES[k]} / CE" for k in others)
        + " | CE memory | "
        + " | ".join(f"{NAMES[k]} memory" for k in others)
        + " | CE GB/s |"
    )
    print("|---" * (4 + 3 * len(others)) + "|")
    for text in args.sizes:
        n, c = (int(v) for v in text.lower().split("x"))
        row = measure((n, c), args.repeats, mode)
        row["mode"] = mode
        rows.append(row)
        ms, mem = row["median_ms"], row["memory_bytes"]
        cells = [f"{n} x {c}", f"{ms[BASELINE]:.3f}"]
        cells += [f"{ms[k]:.3f} | {row['time_ratio'][k]:.2f}" for k in others]
        cells += [_mebibytes(mem[k]) for k in [BASELINE, *others]]
        cells.append(f"{row['gb_per_s'][BASELINE]:.1f}")
        print("| " + " | ".join(cells) + " |", flush=True)
    print(f"memory: {rows[0]['memory_kind']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"backend": BACKEND, "mode": mode, "device": device_name(), "rows": rows},
                f,
                indent=2,
            )
    return rows


if __name__ == "__main__":
    main()
