"""seals' fixed-horizon classic control variants.

seals removes early termination so that episode length leaks no reward
information (important when the reward is learned): episodes always run
their full horizon.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_expert.envs.base import Box, EnvState
from jaxrl_expert.envs.classic import GymnaxEnv

SEALS_CLASSIC_IDS = ("seals/CartPole-v0", "seals/MountainCar-v0")


class SealsCartPole(GymnaxEnv):
    """CartPole-v1 dynamics; never terminates; reward 1 while upright and centred, else 0."""

    def __init__(self) -> None:
        super().__init__("CartPole-v1", max_steps_in_episode=500)  # seals' horizon
        big = np.finfo(np.float32).max
        self.observation_space = Box.from_bounds(-big, big, (4,))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        state = super().step(state, action)
        core = state.core
        theta = (core.theta + jnp.pi) % (2 * jnp.pi) - jnp.pi
        core = core.replace(theta=theta)
        upright = (jnp.abs(core.x) < self.params.x_threshold) & (
            jnp.abs(theta) < self.params.theta_threshold_radians
        )
        obs = self._env.get_obs(core).astype(jnp.float32)
        return state.replace(
            core=core,
            obs=obs,
            final_obs=obs,
            reward=upright.astype(jnp.float32),
            terminated=jnp.zeros((), bool),
        )


class SealsMountainCar(GymnaxEnv):
    """MountainCar-v0 with a fixed 200-step horizon; the goal is an absorbing state.

    After the goal is reached the observation repeats and the reward is 0.
    """

    def __init__(self) -> None:
        super().__init__("MountainCar-v0", max_steps_in_episode=200)  # seals' horizon

    def reset(self, key: jax.Array) -> EnvState:
        state = super().reset(key)
        return state.replace(core=(state.core, jnp.zeros((), bool)))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        inner, absorbed = state.core
        stepped = super().step(state.replace(core=inner), action)
        goal = stepped.terminated
        new_inner = jax.tree.map(
            lambda old, new: jnp.where(absorbed, old, new), inner, stepped.core
        )
        obs = jnp.where(absorbed, state.obs, stepped.obs)
        return stepped.replace(
            core=(new_inner, absorbed | goal),
            obs=obs,
            final_obs=obs,
            reward=jnp.where(absorbed, 0.0, stepped.reward),
            terminated=jnp.zeros((), bool),
        )
