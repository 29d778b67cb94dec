"""One writer for every study's report: markdown, JSON and PNG figures, with provenance."""

import datetime
import json
import os
import platform
import shlex
import sys


def provenance():
    """The command, backend, versions, machine and date behind a set of numbers."""
    import keras  # here, not at the top: a study's --help loads no backend

    import keras_wsoftmax

    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gib = float("nan")
    return {
        "command": " ".join(
            [f"KERAS_BACKEND={keras.backend.backend()}", "python"]
            + [shlex.quote(a) for a in sys.orig_argv[1:]]
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


def budget_markdown(epochs, batch_size, dataset, seeds):
    """The training budget line of a report."""
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]} to {seeds[-1]}"
    return (
        f"- Budget per run: {epochs} epochs, batch {batch_size}, {len(dataset.x_train)} "
        f"training and {len(dataset.x_test)} test samples; Adam 1e-3; {seed_text}"
    )


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std_cell(row, key, scale=1.0, digits=1):
    """`key` (mean) ± `key + "_std"` of a summary row, as a table cell."""
    return f"{scale * row[key]:.{digits}f} ± {scale * row[key + '_std']:.{digits}f}"


def difference_cell(row, key, scale=1.0, digits=2):
    """The paired difference ``key + "_diff"`` of a summary row as ``+0.12 [-0.05, +0.29]``.

    "-" where the row has none (the baseline's own row), ``+0.12 [one seed]``
    where it has no interval.
    """
    from experiments import statistics  # here, not at the top: it imports SciPy

    difference = row.get(key + "_diff")
    if difference is None:
        return "-"
    if statistics.verdict(difference) == statistics.UNTESTED:
        return f"{scale * difference['mean']:+.{digits}f} [one seed]"
    return (
        f"{scale * difference['mean']:+.{digits}f} "
        f"[{scale * difference['low']:+.{digits}f}, {scale * difference['high']:+.{digits}f}]"
    )


def plot_mean_std(ax, x, rows, key, scale=1.0, **style):
    """Error bars of `key` (mean) and `key + "_std"` across summary rows."""
    ax.errorbar(
        x,
        [scale * r[key] for r in rows],
        yerr=[scale * r[key + "_std"] for r in rows],
        capsize=3,
        **style,
    )


def finish_figure(fig, axes, title, legend=True):
    """Grid, legends and title on every panel: the look all reports share."""
    for ax in axes:
        ax.grid(alpha=0.3)
        if legend and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_report(out, stem, title, args, numbers, markdown, figures=None):
    """Writes `{stem}.md`, `{stem}.json` and each figure as `{name}.png` in `out`.

    The markdown starts with the title and the provenance; the JSON holds the
    provenance, the arguments and `numbers`. `figures` maps a file stem to a
    matplotlib figure, closed once saved. Returns the provenance.
    """
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    info = provenance()
    payload = {"provenance": info, "args": vars(args), **numbers}
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (out / f"{stem}.md").write_text(f"# {title}\n\n{provenance_markdown(info)}\n{markdown}")
    for name, fig in (figures or {}).items():
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)
    written = [f"{stem}.md", f"{stem}.json", *(f"{name}.png" for name in figures or {})]
    print(f"\nwrote {', '.join(str(out / name) for name in written)}")
    return info
