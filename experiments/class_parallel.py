"""Per-device memory of a class-split head against a replicated one (JAX, ModelParallel).

For each class count C, FC width D and device count, lowers one training
step (forward, W-Softmax, backward, Adam update) of ``WSoftmaxHead(C,
units=D)`` on a global batch of N, in two layouts: the classifier split by
classes over the devices (`WSoftmaxHead.get_layout_map`, mesh 1 x devices),
and the data-parallel baseline that replicates it (mesh devices x 1). Reports
the bytes per device of the parameters and of Adam's state (from the
layouts), of XLA's temporaries (`compiled.memory_analysis()`), and, where
``--time`` asks and the replicated weights fit, the median step time.
``--chunk-sizes`` adds the fused head and loss (`WSoftmaxHead.fused_loss`)
split by classes in the same way, each device chunking its own classes.
Step time and peak memory on every backend: `experiments.fused_cost`. On a
CPU, give it virtual devices:

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \\
        python -m experiments.class_parallel --out reports/class_parallel
"""

import json
import math
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from experiments import cli, reporting
from keras_wsoftmax import WSoftmax, WSoftmaxHead

LAYOUTS = ["class-split", "replicated"]


def step_function(model, optimizer, loss, on_logits=None):
    """One training step, written with Keras's public stateless API.

    `on_logits`, if given, maps the logits before the loss (a test uses it
    to force a gather and check that it is seen).
    """
    import jax

    def step(trainable, non_trainable, optimizer_state, x, y):
        def loss_of(trainable):
            logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            if on_logits is not None:
                logits = on_logits(logits)
            # In the variables' scope, as fit() computes its losses: a fused loss
            # reads the head's classifier, which must be the traced one.
            mapping = zip(model.trainable_variables, trainable, strict=True)
            with keras.StatelessScope(state_mapping=mapping):
                return loss(y, logits)

        value, grads = jax.value_and_grad(loss_of)(trainable)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return value, trainable, optimizer_state

    return step


def distribution_for(layout, head, devices):
    mesh_shape = (1, len(devices)) if layout == "class-split" else (len(devices), 1)
    mesh = keras.distribution.DeviceMesh(mesh_shape, ["batch", "model"], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    if layout == "class-split":
        head.get_layout_map(mesh, layout_map=layout_map)
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def abstract_arrays(variables, distribution, weights):
    """`jax.ShapeDtypeStruct`s of `variables` with the layouts `distribution` gives them.

    Nothing is allocated. An optimizer slot takes the layout of its weight
    (in `weights`), as Keras lays it out; other variables their own.
    """
    import jax

    by_slot_prefix = {w.path.replace("/", "_"): w for w in weights}
    found = []
    for variable in variables:
        name = variable.path.split("/")[-1]
        owner = next((w for prefix, w in by_slot_prefix.items() if name.startswith(prefix)), None)
        layout = distribution.get_variable_layout(owner if owner is not None else variable)
        found.append(
            jax.ShapeDtypeStruct(variable.shape, variable.dtype, sharding=layout.backend_layout)
        )
    return found


def per_device_bytes(shapes_and_shardings):
    return sum(
        math.prod(sharding.shard_shape(shape)) * 4 for shape, sharding in shapes_and_shardings
    )


def measure(num_classes, units, batch, devices, layout, repeats, timed, chunk_size=None):
    """One row; with `chunk_size`, the fused head and loss (`WSoftmaxHead.fused_loss`)."""
    import jax

    keras.backend.clear_session()
    keras.distribution.set_distribution(None)
    output_mode = "logits" if chunk_size is None else "features"
    head = WSoftmaxHead(num_classes, units=units, name="head", output_mode=output_mode)
    model = keras.Sequential([keras.Input((units,)), head])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    distribution = distribution_for(layout, head, devices)
    keras.distribution.set_distribution(distribution)
    loss = WSoftmax(0.2) if chunk_size is None else head.fused_loss(WSoftmax(0.2), chunk_size)
    step = step_function(model, optimizer, loss)

    weights = model.trainable_variables
    trainable = abstract_arrays(weights, distribution, weights)
    optimizer_state = abstract_arrays(optimizer.variables, distribution, weights)
    # The head's random state (its seed generator), replicated.
    non_trainable = abstract_arrays(model.non_trainable_variables, distribution, weights)
    data_sharding = distribution.get_data_layout((batch, units)).backend_layout
    label_sharding = distribution.get_data_layout((batch,)).backend_layout
    x = jax.ShapeDtypeStruct((batch, units), "float32", sharding=data_sharding)
    y = jax.ShapeDtypeStruct((batch,), "int32", sharding=label_sharding)
    compiled = jax.jit(step).lower(trainable, non_trainable, optimizer_state, x, y).compile()
    analysis = compiled.memory_analysis()
    row = {
        "classes": num_classes,
        "units": units,
        "batch": batch,
        "devices": len(devices),
        "layout": layout if chunk_size is None else f"fused, chunks of {chunk_size:,}",
        "parameter_bytes": per_device_bytes((t.shape, t.sharding) for t in trainable),
        "optimizer_bytes": per_device_bytes(
            (s.shape, s.sharding) for s in optimizer_state if len(s.shape) > 0
        ),
        "temp_bytes": int(analysis.temp_size_in_bytes),
        "all_gathers": compiled.as_text().count(" all-gather("),
        "step_ms": None,
    }
    if timed:
        row["step_ms"] = time_step(
            compiled, model, optimizer, (trainable, non_trainable, optimizer_state), x, y, repeats
        )
    keras.distribution.set_distribution(None)
    return row


def time_step(compiled, model, optimizer, lowered, x, y, repeats):
    """Median wall time of the compiled step on real arrays laid out as `lowered`.

    `lowered`: the abstract trainable, non-trainable and optimizer arrays
    the step was lowered with.
    """
    import jax

    rng = np.random.default_rng(0)
    variables = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)
    arrays = [
        [jax.device_put(np.asarray(v.value), s.sharding) for v, s in zip(vs, ss, strict=True)]
        for vs, ss in zip(variables, lowered, strict=True)
    ]
    xs = jax.device_put(rng.normal(size=x.shape).astype(np.float32), x.sharding)
    classes = lowered[0][-1].shape[-1]
    ys = jax.device_put(rng.integers(0, classes, y.shape).astype(np.int32), y.sharding)
    jax.block_until_ready(compiled(*arrays, xs, ys))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*arrays, xs, ys))
        seconds.append(time.perf_counter() - start)
    return 1e3 * statistics.median(seconds)


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--classes", type=int, nargs="+", default=[100_000, 1_000_000], help="class counts C"
    )
    p.add_argument("--units", type=int, nargs="+", default=[128, 512], help="FC widths D")
    p.add_argument("--batch", type=int, default=512, help="global batch N")
    p.add_argument(
        "--devices", type=int, nargs="+", default=[1, 2, 4], help="device counts of the meshes"
    )
    p.add_argument("--time", action="store_true", help="also time the steps (see below)")
    p.add_argument(
        "--time-max-classes",
        type=int,
        default=100_000,
        help="time only the configurations with at most this many classes (replicated "
        "weights of every device are real arrays in this one process)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed steps per row (with --time)")
    p.add_argument(
        "--chunk-sizes",
        type=int,
        nargs="+",
        default=[],
        help="also the fused head and loss (WSoftmaxHead.fused_loss), classes split as in "
        "class-split, at each of these chunk sizes",
    )
    p.add_argument("--out", type=Path, default=Path("runs/class_parallel"))
    args = p.parse_args(argv)
    if keras.backend.backend() != "jax":
        raise SystemExit(
            "error: class_parallel measures keras.distribution on JAX: KERAS_BACKEND=jax"
        )
    import jax

    available = jax.devices()
    if max(args.devices) > len(available):
        raise SystemExit(
            f"error: --devices asks for {max(args.devices)} devices and JAX sees "
            f"{len(available)}; on a CPU set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={max(args.devices)}."
        )
    rows = []
    for num_classes in args.classes:
        for units in args.units:
            for count in args.devices:
                timed = args.time and num_classes <= args.time_max_classes
                devices = available[:count]
                for layout in LAYOUTS:
                    rows.append(
                        measure(
                            num_classes, units, args.batch, devices, layout, args.repeats, timed
                        )
                    )
                    print(json.dumps(rows[-1]), flush=True)
                for chunk_size in args.chunk_sizes:
                    rows.append(
                        measure(
                            *(num_classes, units, args.batch, devices, "class-split"),
                            *(args.repeats, timed, chunk_size),
                        )
                    )
                    print(json.dumps(rows[-1]), flush=True)
    table = results_table(rows)
    print("\n" + table)
    reporting.write_report(
        args.out,
        "class_parallel",
        "Class-split head against a replicated one: bytes per device",
        args,
        {"rows": rows, "device_kind": available[0].device_kind},
        f"- Devices: {len(available)} x {available[0].device_kind}\n"
        f"- Step: `WSoftmaxHead(C, units=D)` on D inputs, global batch {args.batch}, "
        "W-Softmax 0.2, Adam; lowered with `jax.jit(...).lower(...).compile()`\n\n"
        "Parameters and Adam's state per device are computed from the layouts (float32); "
        "temporaries are XLA's `memory_analysis().temp_size_in_bytes`. 'class-split' is "
        "`WSoftmaxHead.get_layout_map` on a 1 x devices mesh, 'replicated' is data "
        "parallelism on devices x 1, 'fused' the head's FC features and "
        "`head.fused_loss(WSoftmax(0.2), chunk_size)` with the classes split as in "
        "'class-split' (each device chunking its own). All-gathers counts the all-gather ops in the compiled "
        "step. Step times (where measured) are medians, comparable within this run only.\n\n"
        f"{table}\n",
    )
    return rows


def mib(size):
    return f"{size / 2**20:,.1f} MiB"


def results_table(rows):
    header = ["C", "D", "devices", "layout", "params / device", "Adam / device"]
    header += ["temporaries / device", "total / device", "all-gathers", "step (ms)"]
    body = [
        [
            f"{r['classes']:,}",
            r["units"],
            r["devices"],
            r["layout"],
            mib(r["parameter_bytes"]),
            mib(r["optimizer_bytes"]),
            mib(r["temp_bytes"]),
            mib(r["parameter_bytes"] + r["optimizer_bytes"] + r["temp_bytes"]),
            r["all_gathers"],
            "-" if r["step_ms"] is None else f"{r['step_ms']:.1f}",
        ]
        for r in rows
    ]
    return reporting.markdown_table(header, body)


if __name__ == "__main__":
    main()
