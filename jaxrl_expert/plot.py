"""Learning curves (episode return vs timesteps) from runs' metrics.jsonl.

    jaxrl-plot output/train_rl/CartPole-v1/run_a run_b --out=curves.png
    python -m jaxrl_expert.plot output/train_rl/CartPole-v1/run_a --out=curves.svg

Each LOG_DIR is a run, or a multi-seed run whose `seed_*/` runs each get a
curve. The ground-truth return has its own panel; the return of a learned
reward a run trained on, when it differs, a second one. Without --out the
image goes next to the runs. train_rl writes `{log_dir}/learning_curve.png`
the same way when it finishes.
"""

from __future__ import annotations

import json
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


def draw(runs: list[tuple[str, list[dict]]], title: str = "") -> Figure:
    """One figure of (label, metrics records) runs; an empty label means the only run.

    The ground-truth return has its own panel; when a run trained on a learned
    reward whose return differs, that return gets a second panel (its scale
    is its own).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # a second's import: when drawn
    from matplotlib.figure import Figure

    curves = []
    for label, records in runs:
        true = _column(records, "true_episode_return_mean")
        learned = _column(records, "episode_return_mean")
        differs = not np.allclose(learned, true, equal_nan=True)
        curves.append((label, _column(records, "timesteps"), true, learned if differs else None))
    two = any(learned is not None for *_, learned in curves)
    figure = Figure(figsize=(12 if two else 8, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # Agg, whatever backend pyplot uses in this process
    panels = figure.subplots(1, 2 if two else 1, squeeze=False)[0]
    for index, (label, timesteps, true, learned) in enumerate(curves):
        shown = ~np.isnan(true)  # log points where no episode ended have no return
        style = {"color": f"C{index % 10}", "marker": ".", "label": label or "return"}
        panels[0].plot(timesteps[shown], true[shown], **style)
        if learned is not None:
            panels[1].plot(timesteps[shown], learned[shown], **style)
    panels[0].set_title("ground-truth return", fontsize="medium")
    if two:
        panels[1].set_title("learned-reward return (what PPO maximized)", fontsize="medium")
    for axes in panels:
        axes.set_xlabel("timesteps")
        axes.set_ylabel("mean episode return (training episodes)")
        axes.grid(alpha=0.3)
    if not panels[0].lines:
        panels[0].text(0.5, 0.5, "no episode ended yet", ha="center", transform=panels[0].transAxes)
    elif len(curves) > 1:  # below the panels: it never covers a curve
        figure.legend(handles=panels[0].lines, loc="outside lower center",
                      ncols=min(len(curves), 4), fontsize="small")  # fmt: skip
    if title:
        figure.suptitle(title)
    return figure


def title_of(run_dirs: list[str]) -> str:
    """The env ids the runs trained on (from their config.json), e.g. "seals/CartPole-v0"."""
    env_ids = []
    for run in run_dirs:
        try:
            with open(os.path.join(run, layout.CONFIG_FILE)) as f:
                env_id = json.load(f)["env_id"]
        except (OSError, ValueError, KeyError):
            continue
        if env_id not in env_ids:
            env_ids.append(env_id)
    return ", ".join(env_ids)


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
    curves = [(label, read_metrics(run)) for label, run in zip(labels, runs, strict=True)]
    title = f"{title_of(runs)}: {os.path.basename(os.path.abspath(log_dir))}"
    save(draw(curves, title), out)
    return out


def short_name(log_dir: str, run: str) -> str:
    """A run's legend name: its directory's name, `name/seed_i` for a seed of a multi-seed run."""
    name = os.path.basename(os.path.abspath(log_dir))
    return name if run == log_dir else f"{name}/{os.path.basename(run)}"


def default_out(log_dirs: list[str]) -> str:
    """Next to the runs: in the one log_dir, or in the directory the log_dirs share."""
    paths = [os.path.abspath(d) for d in log_dirs]
    where = paths[0] if len(paths) == 1 else os.path.commonpath(paths)
    return os.path.join(where, "learning_curves.png")


def _define_flags(module_name: str) -> None:
    """The command's flag (defined by `cli.run` only: train_rl imports this module)."""
    flags.DEFINE_string(
        "out", None, "image to write (.png, .svg, .pdf, ...); default: learning_curves.png "
        "in the LOG_DIR (or in the directory the LOG_DIRs share)", module_name=module_name,
    )  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("usage: jaxrl-plot LOG_DIR [LOG_DIR...] [--out=FILE]")
    log_dirs = argv[1:]
    out = flags.FLAGS.out or default_out(log_dirs)
    try:
        runs = [(log_dir, run) for log_dir in log_dirs for run in find_runs(log_dir)]
        curves = [(short_name(log_dir, run), read_metrics(run)) for log_dir, run in runs]
        save(draw(curves, title_of([run for _, run in runs])), out)
    except ValueError as e:  # a LOG_DIR without metrics or an unknown --out format
        raise app.UsageError(str(e)) from None
    print(out)


def main_console() -> None:
    """Console entry point (`jaxrl-plot`; `python -m jaxrl_expert.plot`)."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    main_console()
