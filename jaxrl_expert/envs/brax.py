"""Brax environments (physics only; we never use `brax.training`)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_expert.envs.base import Box, EnvState, initial_state

BRAX_NAMES = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)
BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
# Brax envs whose `step` takes actions in [-1, 1] and rescales them to the
# actuator range itself (brax/envs/<name>.py: "Scale action from [-1,1] to
# actuator limits"); the others pass actions to the actuators as they are.
RESCALED_ACTION_NAMES = ("humanoid", "humanoidstandup", "inverted_pendulum", "pusher")

# seals' MuJoCo v1 variants: fixed horizon (no early termination) and the
# position kept in the observation.
_SEALS_BRAX = {
    "seals/Ant-v1": ("ant", True),
    "seals/HalfCheetah-v1": ("halfcheetah", False),
    "seals/Hopper-v1": ("hopper", True),
    "seals/Humanoid-v1": ("humanoid", True),
    "seals/Swimmer-v1": ("swimmer", False),
    "seals/Walker2d-v1": ("walker2d", True),
}
SEALS_BRAX_IDS = tuple(_SEALS_BRAX)


def seals_brax_kwargs(env_id: str) -> tuple[str, dict[str, Any]]:
    """The Brax env name and constructor kwargs that make a seals-style variant."""
    name, has_termination = _SEALS_BRAX[env_id]
    kwargs: dict[str, Any] = {"exclude_current_positions_from_observation": False}
    if has_termination:
        kwargs["terminate_when_unhealthy"] = False
    return name, kwargs


class _NumpyWithLegacyClip:
    """jax.numpy, but `clip` still takes the `a_min`/`a_max` names JAX 0.10 removed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)

    @staticmethod
    def clip(x: Any, a_min: Any = None, a_max: Any = None, **kwargs: Any) -> jax.Array:
        return jnp.clip(x, kwargs.pop("min", a_min), kwargs.pop("max", a_max), **kwargs)


def _patch_brax_fluid() -> None:
    """Brax 0.14's fluid forces (swimmer) call jnp.clip(a_min=...); give that module a shim."""
    from brax import fluid

    if not isinstance(fluid.jp, _NumpyWithLegacyClip):
        fluid.jp = _NumpyWithLegacyClip()


def _action_space(name: str, env: Any) -> Box:
    """The actions `env.step` expects: [-1, 1] where Brax rescales, else the actuator range.

    Unlimited actuators (ctrllimited false) get [-1, 1] too.
    """
    if name in RESCALED_ACTION_NAMES:
        return Box.from_bounds(-1.0, 1.0, (env.action_size,))
    ctrl_range = np.asarray(env.sys.actuator.ctrl_range, np.float32)
    limited = (
        np.asarray(env.sys.actuator_ctrllimited, bool)
        if hasattr(env.sys, "actuator_ctrllimited")
        else np.ones(len(ctrl_range), bool)
    )
    low = np.where(limited, ctrl_range[:, 0], -1.0)
    high = np.where(limited, ctrl_range[:, 1], 1.0)
    return Box.from_bounds(low, high, (env.action_size,))


class BraxEnv:
    """A Brax env; each step applies the action `action_repeat` times, summing rewards."""

    def __init__(
        self,
        name: str,
        backend: str = "generalized",
        episode_length: int = 1000,
        action_repeat: int = 1,
        **kwargs: Any,
    ) -> None:
        from brax import envs as brax_envs  # slow import; only when a Brax env is asked for

        _patch_brax_fluid()

        if backend not in BRAX_BACKENDS:
            raise ValueError(
                f"env_kwargs.backend={backend!r} is not allowed; use one of {BRAX_BACKENDS}"
            )
        if not (isinstance(episode_length, int) and episode_length > 0):
            raise ValueError(
                f"env_kwargs.episode_length={episode_length!r}; must be a positive int"
            )
        if not (isinstance(action_repeat, int) and action_repeat > 0):
            raise ValueError(f"env_kwargs.action_repeat={action_repeat!r}; must be a positive int")
        try:
            self._env = brax_envs.get_environment(name, backend=backend, **kwargs)
        except TypeError as e:
            raise ValueError(f"env_kwargs {sorted(kwargs)} rejected by brax/{name}: {e}") from None
        self.action_repeat = action_repeat
        # Brax's EpisodeWrapper counts physics steps: each env step is action_repeat of them.
        self.max_episode_steps = math.ceil(episode_length / action_repeat)
        big = np.finfo(np.float32).max
        # Brax's `observation_size` runs reset op by op (hundreds of tiny compiles, seconds).
        obs = jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs
        self.observation_space = Box.from_bounds(-big, big, (obs.shape[-1],))
        self.action_space = _action_space(name, self._env)

    def viewer_system(self) -> Any:
        """The Brax `System` for `brax.io.html.render`, timed at one frame per env step."""
        return self._env.sys.tree_replace({"opt.timestep": self._env.dt * self.action_repeat})

    def reset(self, key: jax.Array) -> EnvState:
        key, reset_key = jax.random.split(key)
        core = self._env.reset(reset_key)
        return initial_state(core, core.obs, key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        def physics_step(core, _):
            core = self._env.step(core, action)
            return core, core.reward

        core, rewards = jax.lax.scan(physics_step, state.core, None, length=self.action_repeat)
        obs = jnp.asarray(core.obs, jnp.float32)
        return state.replace(
            core=core,
            obs=obs,
            final_obs=obs,
            reward=jnp.sum(rewards).astype(jnp.float32),
            terminated=core.done > 0.5,
            truncated=jnp.zeros((), bool),
            time=state.time + 1,
        )
