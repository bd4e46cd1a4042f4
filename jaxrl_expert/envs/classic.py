"""Classic control through gymnax, without gymnax's own auto-reset.

We call gymnax's `reset_env`/`step_env` directly so that time limits and
resets are handled once, for every backend, by `wrappers.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_expert.envs.base import Box, Discrete, EnvState, Space, initial_state

GYMNAX_IDS = (
    "CartPole-v1",
    "Pendulum-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
)


def _convert_space(space: Any) -> Space:
    from gymnax.environments import spaces as gymnax_spaces

    if isinstance(space, gymnax_spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gymnax_spaces.Box):
        return Box.from_bounds(space.low, space.high, tuple(space.shape))
    raise TypeError(f"unsupported gymnax space {space!r}")


class GymnaxEnv:
    """A gymnax environment behind the `Env` interface (no time limit, no reset)."""

    def __init__(self, env_id: str, **params: Any) -> None:
        import gymnax  # imported on first use: its import starts the XLA backend, which
        # must wait for jax.distributed.initialize() in multi-process runs

        self._env, default_params = gymnax.make(env_id)
        known = {f.name for f in dataclasses.fields(default_params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"env_kwargs {unknown} are not parameters of {env_id}; allowed: {sorted(known)}"
            )
        self.params = default_params.replace(**params)
        # The horizon is the params' (env_kwargs max_steps_in_episode can change it).
        self.max_episode_steps = int(self.params.max_steps_in_episode)
        self.observation_space = _convert_space(self._env.observation_space(self.params))
        self.action_space = _convert_space(self._env.action_space(self.params))

    def _env_action(self, action: jax.Array) -> jax.Array:
        # gymnax's 1-d continuous envs expect a scalar action.
        if isinstance(self.action_space, Box) and self.action_space.shape == (1,):
            return action.reshape(())
        return action

    def reset(self, key: jax.Array) -> EnvState:
        key, reset_key = jax.random.split(key)
        obs, core = self._env.reset_env(reset_key, self.params)
        return initial_state(core, obs, key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        key, step_key = jax.random.split(state.key)
        obs, core, reward, terminated, _ = self._env.step_env(
            step_key, state.core, self._env_action(action), self.params
        )
        obs = jnp.asarray(obs, jnp.float32)
        return state.replace(
            core=core,
            obs=obs,
            reward=jnp.asarray(reward, jnp.float32).reshape(()),
            terminated=jnp.asarray(terminated, bool).reshape(()),
            truncated=jnp.zeros((), bool),
            final_obs=obs,
            time=state.time + 1,
            key=key,
        )
