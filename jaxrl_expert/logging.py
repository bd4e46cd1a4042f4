"""Console lines and TensorBoard scalars, written between jitted chunks."""

from __future__ import annotations

import logging as std_logging
import math
import os

import numpy as np
from absl import logging
from tensorboardX import SummaryWriter


def summarize(totals: dict) -> dict[str, float]:
    """Chunk means from the sums a chunk returns (episode means are NaN if none ended)."""
    totals = {name: float(np.asarray(value)) for name, value in totals.items()}
    totals.pop("first_nonfinite_iteration", None)
    episodes, iterations = totals["episodes"], max(totals["iterations"], 1.0)
    summary = {
        "episode_return_mean": totals["episode_return_sum"] / episodes if episodes else math.nan,
        "true_episode_return_mean": (
            totals["true_episode_return_sum"] / episodes if episodes else math.nan
        ),
        "episode_length_mean": totals["episode_length_sum"] / episodes if episodes else math.nan,
        "episodes": episodes,
    }
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
        summary[name] = totals[name] / iterations
    return summary


class TrainLogger:
    """Writes one console line and one TensorBoard point per chunk."""

    def __init__(self, log_dir: str) -> None:
        self.writer = SummaryWriter(os.path.join(log_dir, "tb"))

    def log(self, timesteps: int, summary: dict[str, float], steps_per_second: float) -> None:
        for name, value in summary.items():
            if not math.isnan(value):
                self.writer.add_scalar(f"train/{name}", value, timesteps)
        self.writer.add_scalar("time/steps_per_second", steps_per_second, timesteps)
        episodes = (
            f"return {summary['episode_return_mean']:.2f} | "
            f"true return {summary['true_episode_return_mean']:.2f} | "
            f"length {summary['episode_length_mean']:.1f}"
            if summary["episodes"]
            else "no episode ended"
        )
        logging.info(
            "timesteps %d | %.0f steps/s | %s | pg %.4f | vf %.4f | entropy %.4f | kl %.5f",
            timesteps,
            steps_per_second,
            episodes,
            summary["policy_loss"],
            summary["value_loss"],
            summary["entropy"],
            summary["approx_kl"],
        )

    def log_eval(self, timesteps: int, stats: dict[str, float]) -> None:
        for name in ("return_mean", "len_mean", "monitor_return_mean"):
            self.writer.add_scalar(f"eval/{name}", stats[name], timesteps)

    def close(self) -> None:
        self.writer.close()


class _QuietDependencies(std_logging.Filter):
    """Drops Orbax's per-save INFO chatter; keeps its warnings and errors."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def configure_console() -> None:
    """INFO-level console logging for our progress lines only (CLI entry points)."""
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_QuietDependencies())
