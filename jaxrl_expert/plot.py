"""Learning curves (episode return vs timesteps) from runs' metrics.jsonl.

    jaxrl-plot output/train_rl/CartPole-v1/run_a run_b --out=curves.png
    python -m jaxrl_expert.plot output/train_rl/CartPole-v1/run_a --out=curves.svg

Each LOG_DIR is a run, or a multi-seed run whose `seed_*/` runs each get a
curve. Solid lines are the ground-truth return; a dashed line in the same
colour is the return of the learned reward a run trained on, when it differs.
train_rl writes `{log_dir}/learning_curve.png` the same way when it finishes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import numpy as np
from absl import app, flags

from jaxrl_expert import cli, layout
from jaxrl_expert.atomic_files import write_atomic
from jaxrl_expert.logging import METRICS_FILE, configure_console, read_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LEARNING_CURVE_FILE = "learning_curve.png"


def preload() -> None:
    """Imports matplotlib on a thread (about a second) while the caller does other work."""
    threading.Thread(target=_import_matplotlib, daemon=True).start()


def _import_matplotlib() -> None:
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def find_runs(log_dir: str) -> list[str]:
    """The run directories of a log_dir: itself, or its seed_*/ subdirectories in seed order."""
    if os.path.isfile(os.path.join(log_dir, METRICS_FILE)):
        return [log_dir]
    runs = layout.existing_seed_dirs(log_dir).values()
    runs = [run for run in runs if os.path.isfile(os.path.join(run, METRICS_FILE))]
    if not runs:
        raise ValueError(
            f"log_dir={log_dir!r} holds no {METRICS_FILE}, neither itself nor in seed_*/ "
            "subdirectories; pass a train_rl log_dir"
        )
    return runs


def _column(records: list[dict], name: str) -> np.ndarray:
    return np.asarray([np.nan if r[name] is None else r[name] for r in records], np.float64)


def draw(runs: list[tuple[str, list[dict]]]) -> Figure:
    """One figure of (label, metrics records) runs; an empty label means the only run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # a second's import: when drawn
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)  # Agg, whatever backend pyplot uses in this process
    axes = figure.add_subplot()
    for index, (label, records) in enumerate(runs):
        timesteps = _column(records, "timesteps")
        true = _column(records, "true_episode_return_mean")
        learned = _column(records, "episode_return_mean")
        color = f"C{index % 10}"
        shown = ~np.isnan(true)  # log points where no episode ended have no return
        name = f"{label}: " if label else ""
        axes.plot(
            timesteps[shown], true[shown], color=color, marker=".", label=f"{name}ground truth"
        )
        if not np.allclose(learned, true, equal_nan=True):
            axes.plot(
                timesteps[shown], learned[shown], color=color, marker=".", linestyle="--",
                label=f"{name}learned reward",
            )  # fmt: skip
    if axes.lines:
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no episode ended yet", ha="center", transform=axes.transAxes)
    axes.set_xlabel("timesteps")
    axes.set_ylabel("mean episode return (training episodes)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def save(figure: Figure, out: str) -> None:
    """Writes the figure atomically, in the format `out`'s extension names."""
    extension = os.path.splitext(out)[1].lstrip(".").lower()
    allowed = sorted(figure.canvas.get_supported_filetypes())
    if extension not in allowed:
        raise ValueError(f"out={out!r} has an unsupported extension; allowed: {allowed}")
    write_atomic(out, lambda f: figure.savefig(f, format=extension))


def write_learning_curve(log_dir: str) -> str:
    """`{log_dir}/learning_curve.png` of a finished train_rl run (one curve per seed)."""
    runs = find_runs(log_dir)
    labels = [""] if runs == [log_dir] else [os.path.basename(run) for run in runs]
    out = os.path.join(log_dir, LEARNING_CURVE_FILE)
    save(draw([(label, read_metrics(run)) for label, run in zip(labels, runs, strict=True)]), out)
    return out


def _define_flags(module_name: str) -> None:
    """The command's flag (defined by `cli.run` only: train_rl imports this module)."""
    flags.DEFINE_string(
        "out", "learning_curves.png", "image to write (.png, .svg, .pdf, ...)",
        module_name=module_name,
    )  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("usage: jaxrl-plot LOG_DIR [LOG_DIR...] [--out=FILE]")
    out = flags.FLAGS.out
    try:
        runs = [(run, read_metrics(run)) for log_dir in argv[1:] for run in find_runs(log_dir)]
        save(draw(runs), out)
    except ValueError as e:  # a LOG_DIR without metrics or an unknown --out format
        raise app.UsageError(str(e)) from None
    print(out)


def main_console() -> None:
    """Console entry point (`jaxrl-plot`; `python -m jaxrl_expert.plot`)."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    main_console()
