"""The one functional environment interface every backend implements.

An environment is a pair of pure functions over an `EnvState` pytree:
`reset(key) -> state` and `step(state, action) -> state`. Both jit and vmap.
The state carries the last transition's reward and its done flag split into
`terminated` (a true end: do not bootstrap) and `truncated` (a time limit:
bootstrap from `final_obs`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@dataclasses.dataclass(frozen=True)
class Box:
    """A box of arrays; bounds are flat tuples so the space stays hashable.

    `dtype` is the observations' storage type: 'float32', or 'uint8' for
    images (kept as uint8 on device and on disk; a policy scales them by
    `high`).
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    shape: tuple[int, ...]
    dtype: str = "float32"

    @classmethod
    def from_bounds(
        cls, low: Any, high: Any, shape: tuple[int, ...], dtype: str = "float32"
    ) -> Box:
        low = np.broadcast_to(np.asarray(low, np.float32), shape)
        high = np.broadcast_to(np.asarray(high, np.float32), shape)
        return cls(tuple(low.ravel().tolist()), tuple(high.ravel().tolist()), tuple(shape), dtype)

    @property
    def is_image(self) -> bool:
        """Height x width x channels of uint8: what a CNN policy takes."""
        return self.dtype == "uint8" and len(self.shape) == 3

    @property
    def low_array(self) -> np.ndarray:
        return np.asarray(self.low, np.float32).reshape(self.shape)

    @property
    def high_array(self) -> np.ndarray:
        return np.asarray(self.high, np.float32).reshape(self.shape)

    def to_json(self) -> dict:
        spec = {"type": "Box", "low": list(self.low), "high": list(self.high)}
        spec["shape"] = list(self.shape)
        if self.dtype != "float32":  # float32 spaces keep the layout they always had
            spec["dtype"] = self.dtype
        return spec


@dataclasses.dataclass(frozen=True)
class Discrete:
    """A finite set of actions {0, ..., n-1}."""

    n: int
    shape: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {"type": "Discrete", "n": self.n}


Space = Box | Discrete
BOX_DTYPES = ("float32", "uint8")


def space_from_json(spec: dict) -> Space:
    """Inverse of `Space.to_json` (used by saved policies' metadata)."""
    if spec["type"] == "Discrete":
        return Discrete(int(spec["n"]))
    if spec["type"] == "Box":
        dtype = spec.get("dtype", "float32")
        if dtype not in BOX_DTYPES:
            raise ValueError(f"Box dtype {dtype!r} is invalid; allowed: {BOX_DTYPES}")
        return Box(tuple(spec["low"]), tuple(spec["high"]), tuple(spec["shape"]), dtype)
    raise ValueError(f"unknown space type {spec['type']!r}; allowed: 'Box', 'Discrete'")


@struct.dataclass
class EnvState:
    """Everything an environment carries between steps.

    `episode_*` belong to the episode the last transition is part of: on a
    done step they hold the finished episode's totals while `obs` is already
    the first observation of the next episode. `reward`/`episode_return` are
    what the agent trains on (a learned reward when one is swapped in);
    `true_reward`/`true_episode_return` are always the ground truth.
    """

    core: Any  # backend physics state
    obs: jax.Array  # observation to act on
    reward: jax.Array  # reward of the last transition (float32)
    true_reward: jax.Array  # ground-truth reward of the last transition
    terminated: jax.Array  # last transition ended the episode for real (bool)
    truncated: jax.Array  # last transition hit a time limit (bool)
    final_obs: jax.Array  # true next observation of the last transition, before any reset
    time: jax.Array  # steps taken in the current episode (int32)
    episode_return: jax.Array  # return (of `reward`) of the last transition's episode
    true_episode_return: jax.Array  # ground-truth return of that episode
    episode_length: jax.Array  # length of the last transition's episode (int32)
    key: jax.Array  # randomness for stochastic dynamics and resets

    @property
    def done(self) -> jax.Array:
        return jnp.logical_or(self.terminated, self.truncated)


def initial_state(core: Any, obs: jax.Array, key: jax.Array) -> EnvState:
    """The state right after a reset: no transition yet (uint8 observations stay uint8)."""
    obs = jnp.asarray(obs)
    obs = obs if obs.dtype == jnp.uint8 else obs.astype(jnp.float32)
    return EnvState(
        core=core,
        obs=obs,
        reward=jnp.zeros((), jnp.float32),
        true_reward=jnp.zeros((), jnp.float32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        final_obs=obs,
        time=jnp.zeros((), jnp.int32),
        episode_return=jnp.zeros((), jnp.float32),
        true_episode_return=jnp.zeros((), jnp.float32),
        episode_length=jnp.zeros((), jnp.int32),
        key=key,
    )


class Env(Protocol):
    """What `envs.make` returns. Implementations are immutable and hashable.

    `max_episode_steps` is the horizon: an episode that has not terminated is
    truncated after this many `step` calls (env steps, so a Brax env with
    action_repeat > 1 takes that many times more physics steps). The sampler
    sizes its buffers by it and the renderer plays at most that many steps.
    """

    observation_space: Box
    action_space: Space
    max_episode_steps: int

    def reset(self, key: jax.Array) -> EnvState: ...

    def step(self, state: EnvState, action: jax.Array) -> EnvState: ...
