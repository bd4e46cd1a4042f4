"""EnvPool's Atari (C++, threaded) as the vector env behind a `HostEnv`.

`env_backend='envpool'` serves the same ids and `atari_wrapper` settings as
the Gymnasium path (SB3's AtariWrapper semantics: no-op starts, frame skip
with max-pooling, 84x84 grayscale with INTER_AREA, episodic life, FIRE on
reset, stacked frames) with EnvPool's own implementation of each step; the
spaces and the horizon come from the same Gymnasium probe, so a policy trained
on one backend plays on the other. `EnvPoolVector` speaks the Gymnasium
vector API `HostEnv` uses, in its same-step auto-reset mode: EnvPool resets a
finished env on its next step, which the adapter takes at once for the
finished envs only.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

ENVPOOL_EXTRA = "pip install -e '.[envpool]'"
# The Gymnasium kwargs of an ALE id EnvPool also takes (beside atari_wrapper and
# max_episode_steps, which every Atari id takes).
ENVPOOL_KWARGS = ("repeat_action_probability", "full_action_space")


def import_envpool() -> Any:
    """envpool, imported without changing the process's environment variables.

    (Its import sets MPLBACKEND=Agg, TPU_SKIP_MDS_QUERY=1 and others, which every
    child process would inherit: a notebook kernel without inline plots, a TPU VM
    without its metadata.)
    """
    before = dict(os.environ)
    try:
        return importlib.import_module("envpool")
    except ImportError:
        raise ValueError(f"env_backend 'envpool' needs EnvPool: {ENVPOOL_EXTRA}") from None
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update(before)


def envpool_task(env_id: str, spec: Any) -> str:
    """EnvPool's id of the ALE game a Gymnasium spec makes (`ALE/Breakout-v5` and
    `BreakoutNoFrameskip-v4` -> `Breakout-v5`)."""
    game = spec.kwargs.get("game", "")
    task = "".join(part.capitalize() for part in game.split("_")) + "-v5"
    if task not in import_envpool().list_all_envs():
        raise ValueError(f"env_backend 'envpool' has no Atari game for {env_id} ({task})")
    return task


class EnvPoolVector:
    """n copies of an EnvPool Atari game; (re)made seeded at each `reset(seed=...)`."""

    def __init__(self, task: str, n: int, settings: dict, options: dict) -> None:
        self.num_envs = n
        self._task, self._settings, self._options = task, settings, options
        self._pool: Any = None

    def reset(self, seed: list[int]) -> tuple[np.ndarray, dict]:
        """EnvPool seeds env i with seed + i at construction: a new pool per reset."""
        self.close()
        settings = self._settings
        self._pool = import_envpool().make(
            self._task,
            env_type="gymnasium",
            num_envs=self.num_envs,
            batch_size=self.num_envs,
            seed=int(seed[0] % (2**31 - self.num_envs)),
            noop_max=settings["noop_max"],
            frame_skip=settings["frame_skip"],
            img_height=settings["screen_size"],
            img_width=settings["screen_size"],
            gray_scale=True,
            use_inter_area_resize=True,
            episodic_life=settings["terminal_on_life_loss"],
            use_fire_reset=settings["fire_reset"],
            stack_num=settings["frame_stack"],
            reward_clip=False,  # HostEnv clips: the game's score stays the true reward
            **self._options,
        )
        obs, _ = self._pool.reset()
        return _channels_last(obs), {}

    def step(self, action: np.ndarray) -> tuple:
        obs, reward, terminated, truncated, _ = self._pool.step(action)
        obs, ended = _channels_last(obs), terminated | truncated
        info: dict[str, Any] = {"_final_obs": ended}
        if ended.any():  # the finished envs' resets, now (Gymnasium's same-step mode)
            ids = np.flatnonzero(ended)
            first, *_ = self._pool.step(np.zeros(len(ids), action.dtype), env_id=ids)
            info["final_obs"] = obs.copy()
            obs[ids] = _channels_last(first)
        return obs, reward.astype(np.float32), terminated, truncated, info

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _channels_last(obs: np.ndarray) -> np.ndarray:
    """EnvPool's (n, stack, height, width) frames as (n, height, width, stack)."""
    return np.ascontiguousarray(np.moveaxis(obs, 1, -1))
