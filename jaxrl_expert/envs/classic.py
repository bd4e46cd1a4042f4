"""Classic control and MinAtar through gymnax, without gymnax's own auto-reset.

We call gymnax's `reset_env`/`step_env` directly so that time limits and
resets are handled once, for every backend, by `wrappers.py`. MinAtar's
10x10 grids of 0/1 channels are served as uint8 images.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import types
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_expert.envs.base import Box, Discrete, EnvState, Space, initial_state

# gymnax's (subpackage, class) for each id (gymnax.make's registry, for the ids we serve).
_GYMNAX_CLASSES = {
    "CartPole-v1": ("classic_control", "CartPole"),
    "Pendulum-v1": ("classic_control", "Pendulum"),
    "Acrobot-v1": ("classic_control", "Acrobot"),
    "MountainCar-v0": ("classic_control", "MountainCar"),
    "MountainCarContinuous-v0": ("classic_control", "ContinuousMountainCar"),
    "Breakout-MinAtar": ("minatar", "MinBreakout"),
    "SpaceInvaders-MinAtar": ("minatar", "MinSpaceInvaders"),
    "Asterix-MinAtar": ("minatar", "MinAsterix"),
    "Freeway-MinAtar": ("minatar", "MinFreeway"),
}
GYMNAX_IDS = tuple(_GYMNAX_CLASSES)
MINATAR_IDS = tuple(i for i, (package, _) in _GYMNAX_CLASSES.items() if package == "minatar")


def _gymnax_modules(package: str = "classic_control") -> tuple[types.ModuleType, types.ModuleType]:
    """gymnax's `package` (classic_control or minatar) and spaces modules, without
    gymnax's package __init__s.

    Those import every gymnax env, and with them seaborn, pandas and
    matplotlib: about 3 s of a 10 s training run. Empty stand-ins for the
    two parent packages serve the import, then are removed, so a later
    `import gymnax` imports the real package (reusing these modules).
    Imported on first use: gymnax's import starts the XLA backend, which must
    wait for jax.distributed.initialize() in multi-process runs.
    """
    wanted = (f"gymnax.environments.{package}", "gymnax.environments.spaces")
    if all(name in sys.modules for name in wanted):
        return sys.modules[wanted[0]], sys.modules[wanted[1]]
    root = importlib.util.find_spec("gymnax").submodule_search_locations[0]
    stand_ins = {}
    for name, path in (
        ("gymnax", root),
        ("gymnax.environments", os.path.join(root, "environments")),
    ):
        if name not in sys.modules:
            stand_ins[name] = sys.modules[name] = types.ModuleType(name)
            stand_ins[name].__path__ = [path]
    try:
        return tuple(importlib.import_module(name) for name in wanted)
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _convert_space(space: Any, image: bool = False) -> Space:
    _, gymnax_spaces = _gymnax_modules()
    if isinstance(space, gymnax_spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gymnax_spaces.Box):
        dtype = "uint8" if image else "float32"
        return Box.from_bounds(space.low, space.high, tuple(space.shape), dtype)
    raise TypeError(f"unsupported gymnax space {space!r}")


def _check_param(env_id: str, name: str, value: Any, default: Any) -> None:
    """One line when an env_kwargs value cannot stand for gymnax's default of that field."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if name == "max_steps_in_episode":
        if not (number and value == int(value) and value >= 1):
            raise ValueError(
                f"env_kwargs max_steps_in_episode={value!r} is invalid for {env_id}; "
                "must be an int >= 1 (the time limit in steps)"
            )
    elif isinstance(default, int | float) and not isinstance(default, bool) and not number:
        raise ValueError(
            f"env_kwargs {name}={value!r} is invalid for {env_id}; must be a number "
            f"(gymnax's default: {default!r})"
        )


class GymnaxEnv:
    """A gymnax environment behind the `Env` interface (no time limit, no reset)."""

    def __init__(self, env_id: str, **params: Any) -> None:
        package, name = _GYMNAX_CLASSES[env_id]
        module, _ = _gymnax_modules(package)
        self._env = getattr(module, name)()
        self._image = package == "minatar"
        default_params = self._env.default_params
        known = {f.name for f in dataclasses.fields(default_params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"env_kwargs {unknown} are not parameters of {env_id}; allowed: {sorted(known)}"
            )
        for name, value in params.items():
            _check_param(env_id, name, value, getattr(default_params, name))
        self.params = default_params.replace(**params)
        # The horizon is the params' (env_kwargs max_steps_in_episode can change it).
        self.max_episode_steps = int(self.params.max_steps_in_episode)
        self.params = self.params.replace(max_steps_in_episode=self.max_episode_steps)
        self.observation_space = _convert_space(
            self._env.observation_space(self.params), image=self._image
        )
        self.action_space = _convert_space(self._env.action_space(self.params))

    def _env_action(self, action: jax.Array) -> jax.Array:
        # gymnax's 1-d continuous envs expect a scalar action.
        if isinstance(self.action_space, Box) and self.action_space.shape == (1,):
            return action.reshape(())
        return action

    def reset(self, key: jax.Array) -> EnvState:
        key, reset_key = jax.random.split(key)
        obs, core = self._env.reset_env(reset_key, self.params)
        return initial_state(core, self._obs(obs), key)

    def _obs(self, obs: jax.Array) -> jax.Array:
        return obs.astype(jnp.uint8) if self._image else jnp.asarray(obs, jnp.float32)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        key, step_key = jax.random.split(state.key)
        obs, core, reward, terminated, _ = self._env.step_env(
            step_key, state.core, self._env_action(action), self.params
        )
        obs = self._obs(obs)
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
