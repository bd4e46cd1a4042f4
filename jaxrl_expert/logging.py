"""Console lines, a progress bar, TensorBoard scalars and metrics.jsonl, between jitted chunks."""

from __future__ import annotations

import json
import logging as std_logging
import math
import os
import sys

import numpy as np
from absl import logging
from tqdm import tqdm

METRICS_FILE = "metrics.jsonl"
# What the console line calls each algorithm's losses (TensorBoard and metrics.jsonl: all).
CONSOLE_LOSSES = {"policy_loss": "pg", "value_loss": "vf", "entropy": "entropy",
                  "approx_kl": "kl", "actor_loss": "actor", "critic_loss": "critic",
                  "ent_coef": "ent_coef"}  # fmt: skip


def _summary_writer_class() -> type:
    """tensorboardX's SummaryWriter, imported without torch.

    tensorboardX imports torch whenever it is installed (the sb3 extra brings
    it) only to accept torch tensors, which we never pass: about 2 s per
    process. A None entry in sys.modules makes that optional import fail fast.
    """
    blocked = "torch" not in sys.modules
    if blocked:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        from tensorboardX import SummaryWriter
    finally:
        if blocked:
            del sys.modules["torch"]
    return SummaryWriter


def summarize(totals: dict) -> dict[str, float]:
    """Chunk means from the sums a chunk returns (episode means are NaN if none ended,
    losses NaN if no iteration updated the networks)."""
    totals = {name: float(np.asarray(value)) for name, value in totals.items()}
    totals.pop("first_nonfinite_iteration", None)
    episodes, updates = totals["episodes"], totals.get("updates", totals["iterations"])
    summary = {
        "episode_return_mean": totals["episode_return_sum"] / episodes if episodes else math.nan,
        "true_episode_return_mean": (
            totals["true_episode_return_sum"] / episodes if episodes else math.nan
        ),
        "episode_length_mean": totals["episode_length_sum"] / episodes if episodes else math.nan,
        "episodes": episodes,
    }
    for name in loss_names(totals):
        summary[name] = totals[name] / updates if updates else math.nan
    return summary


def loss_names(totals: dict) -> list[str]:
    """The algorithm's losses among a chunk's metrics (what is not an episode sum or count)."""
    counts = {
        "episodes",
        "episode_return_sum",
        "true_episode_return_sum",
        "episode_length_sum",
        "iterations",
        "updates",
        "first_nonfinite_iteration",
    }
    return [name for name in totals if name not in counts and not name.endswith("_mean")]


def _finite(value: float) -> float | None:
    """JSON has no NaN: a mean over no episodes is written as null."""
    return None if math.isnan(value) else value


class TrainLogger:
    """Writes one console line, one TensorBoard point and one metrics.jsonl line per log point.

    metrics.jsonl is appended to, so a resumed run continues it; a line a
    killed run left half-written is dropped first.
    """

    def __init__(self, log_dir: str, label: str = "", resumed_timesteps: int = 0) -> None:
        self.label = f"{label} | " if label else ""  # e.g. "seed_1", in multi-seed runs
        # A resumed run logs again what came after its checkpoint (a fresh one, all):
        # earlier points past it go, so each timestep is logged once.
        self.writer = _summary_writer_class()(
            os.path.join(log_dir, "tb"), purge_step=resumed_timesteps + 1
        )
        self.metrics_path = os.path.join(log_dir, METRICS_FILE)
        _drop_records_after(self.metrics_path, resumed_timesteps)

    def log(self, timesteps: int, summary: dict[str, float], steps_per_second: float) -> None:
        for name, value in summary.items():
            if not math.isnan(value):
                self.writer.add_scalar(f"train/{name}", value, timesteps)
        self.writer.add_scalar("time/steps_per_second", steps_per_second, timesteps)
        record = {
            "timesteps": int(timesteps),
            "episode_return_mean": _finite(summary["episode_return_mean"]),
            "true_episode_return_mean": _finite(summary["true_episode_return_mean"]),
            "episode_length_mean": _finite(summary["episode_length_mean"]),
            "episodes": int(summary["episodes"]),
            "losses": {name: _finite(summary[name]) for name in loss_names(summary)},
            "steps_per_second": float(steps_per_second),
        }
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
        episodes = (
            f"return {summary['episode_return_mean']:.2f} | "
            f"true return {summary['true_episode_return_mean']:.2f} | "
            f"length {summary['episode_length_mean']:.1f}"
            if summary["episodes"]
            else "no episode ended"
        )
        losses = " | ".join(
            f"{short} {summary[name]:.{5 if name == 'approx_kl' else 4}f}"
            for name, short in CONSOLE_LOSSES.items()
            if name in summary
        )
        with tqdm.external_write_mode(file=sys.stderr):  # the line goes above the bar
            logging.info(
                "%stimesteps %d | %.0f steps/s | %s | %s",
                self.label,
                timesteps,
                steps_per_second,
                episodes,
                losses,
            )

    def log_eval(self, timesteps: int, stats: dict[str, float]) -> None:
        for name in ("return_mean", "len_mean", "monitor_return_mean"):
            self.writer.add_scalar(f"eval/{name}", stats[name], timesteps)

    def close(self) -> None:
        self.writer.close()


def _drop_records_after(path: str, timesteps: int) -> None:
    """Keeps the whole records up to `timesteps`: a killed writer's unfinished last
    line goes, and a resumed run appends what follows its checkpoint."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]  # the part after the last newline is unfinished
    lines = [line for line in lines if json.loads(line)["timesteps"] <= timesteps]
    with open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def read_metrics(run_dir: str) -> list[dict]:
    """A run's metrics.jsonl records, one per timestep in increasing order.

    A resumed run logs again the points after its checkpoint: the last record
    of a timestep wins. A cut-off last line (a run killed mid-write) is skipped.
    """
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"run_dir={run_dir!r} has no {METRICS_FILE}; is it a train_rl log_dir?")
    with open(path) as f:
        lines = f.read().splitlines()
    records = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{path}: line {number} is not a JSON object: {line[:80]!r}") from None
        records[record["timesteps"]] = record
    return [records[t] for t in sorted(records)]


class ProgressBar:
    """A tqdm bar over timesteps (rate, ETA, latest mean return) for a person at a terminal.

    `enabled=None` shows it only when stderr is a TTY, so logs and CI output
    stay free of carriage-return noise.
    """

    def __init__(self, total_timesteps: int, timesteps: int, enabled: bool | None) -> None:
        self._bar = tqdm(
            total=total_timesteps,
            initial=timesteps,
            desc="timesteps",
            unit="steps",
            unit_scale=True,
            dynamic_ncols=True,
            file=sys.stderr,
            disable=not (sys.stderr.isatty() if enabled is None else enabled),
        )

    def update(self, timesteps: int, summaries: list[dict[str, float]]) -> None:
        """Moves to `timesteps`; `summaries` (one per seed, or none) set the shown return."""
        returns = [s["episode_return_mean"] for s in summaries if s["episodes"]]
        if returns:
            self._bar.set_postfix_str(f"return {np.mean(returns):.2f}", refresh=False)
        self._bar.update(timesteps - self._bar.n)

    def close(self) -> None:
        self._bar.close()


class _QuietDependencies(std_logging.Filter):
    """Keeps this package's INFO lines; from JAX, Orbax and others only warnings and errors
    (not JAX's probing of absent TPU backends, nor Orbax's per-save chatter)."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or _PACKAGE_DIR in record.pathname


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def configure_console() -> None:
    """INFO-level console logging for our progress lines only (CLIs; train_rl(verbose=True))."""
    logging.set_verbosity(logging.INFO)
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _QuietDependencies) for f in handler.filters):
        handler.addFilter(_QuietDependencies())
