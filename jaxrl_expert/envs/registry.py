"""`make(env_id, **kwargs)`: the one way to build an environment."""

from __future__ import annotations

from typing import Any

from jaxrl_expert.envs.base import Env
from jaxrl_expert.envs.brax import BRAX_NAMES, SEALS_BRAX_IDS, BraxEnv, seals_brax_kwargs
from jaxrl_expert.envs.classic import GYMNAX_IDS, GymnaxEnv
from jaxrl_expert.envs.seals import SEALS_CLASSIC_IDS, SealsCartPole, SealsMountainCar
from jaxrl_expert.envs.wrappers import AutoReset, TimeLimit

BRAX_IDS = tuple(f"brax/{name}" for name in BRAX_NAMES)
ENV_IDS = GYMNAX_IDS + SEALS_CLASSIC_IDS + BRAX_IDS + SEALS_BRAX_IDS


def is_brax(env_id: str) -> bool:
    return env_id in BRAX_IDS or env_id in SEALS_BRAX_IDS


def make(env_id: str, **kwargs: Any) -> Env:
    """Builds `env_id` with auto-reset and episode bookkeeping.

    kwargs: gymnax EnvParams fields for classic control; `backend`,
    `episode_length`, `action_repeat` and Brax constructor arguments for Brax.
    """
    if env_id in GYMNAX_IDS:
        raw = GymnaxEnv(env_id, **kwargs)
    elif env_id in SEALS_CLASSIC_IDS:
        if kwargs:
            raise ValueError(f"env_kwargs {sorted(kwargs)} not allowed: {env_id} takes none")
        raw = SealsCartPole() if env_id == "seals/CartPole-v0" else SealsMountainCar()
    elif env_id in BRAX_IDS:
        raw = BraxEnv(env_id.removeprefix("brax/"), **kwargs)
    elif env_id in SEALS_BRAX_IDS:
        name, seals_kwargs = seals_brax_kwargs(env_id)
        raw = BraxEnv(name, **{**seals_kwargs, **kwargs})
    else:
        raise ValueError(f"unknown env_id {env_id!r}; known ids: {', '.join(ENV_IDS)}")
    return AutoReset(TimeLimit(raw, raw.max_episode_steps))
