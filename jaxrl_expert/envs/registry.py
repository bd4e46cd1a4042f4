"""`make(env_id, env_backend, **kwargs)`: the one way to build an environment."""

from __future__ import annotations

import difflib
from typing import Any

from jaxrl_expert.envs.base import Env
from jaxrl_expert.envs.brax import BRAX_NAMES, SEALS_BRAX_IDS, BraxEnv, seals_brax_kwargs
from jaxrl_expert.envs.classic import GYMNAX_IDS, GymnaxEnv
from jaxrl_expert.envs.host import HostEnv, gym_spec
from jaxrl_expert.envs.seals import SEALS_CLASSIC_IDS, SealsCartPole, SealsMountainCar
from jaxrl_expert.envs.wrappers import AutoReset, TimeLimit

BRAX_IDS = tuple(f"brax/{name}" for name in BRAX_NAMES)
ENV_IDS = GYMNAX_IDS + SEALS_CLASSIC_IDS + BRAX_IDS + SEALS_BRAX_IDS
# auto: our JAX port when the id has one, else Gymnasium; *_async: subprocess vector envs;
# envpool: EnvPool's Atari games (the Gymnasium ids and preprocessing, EnvPool's C++).
ENV_BACKENDS = ("auto", "jax", "gymnasium", "gymnasium_async", "envpool")
_VECTORIZERS = {"gymnasium": "sync", "gymnasium_async": "async", "envpool": "envpool"}


def is_brax(env_id: str) -> bool:
    return env_id in BRAX_IDS or env_id in SEALS_BRAX_IDS


def resolve_backend(env_id: str, env_backend: str = "auto") -> str:
    """The backend `make` uses for env_id: 'jax', 'gymnasium', 'gymnasium_async' or 'envpool'.

    Raises ValueError naming the id and the close matches of both registries
    when neither knows it (Gymnasium is imported only for ids we do not port).
    """
    if env_backend not in ENV_BACKENDS:
        raise ValueError(f"env_backend {env_backend!r} is invalid; must be one of {ENV_BACKENDS}")
    if env_backend == "jax" or (env_backend == "auto" and env_id in ENV_IDS):
        if env_id not in ENV_IDS:
            close = difflib.get_close_matches(env_id, ENV_IDS, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown env_id {env_id!r} for env_backend 'jax'{hint}")
        return "jax"
    try:
        gym_spec(env_id)
    except ValueError as e:
        if env_backend != "auto":
            raise
        close = difflib.get_close_matches(env_id, ENV_IDS, n=3)
        ours = f"; our JAX ports' close matches: {', '.join(map(repr, close))}" if close else ""
        raise ValueError(f"{e}{ours}") from None
    return "gymnasium" if env_backend == "auto" else env_backend


def make(
    env_id: str, env_backend: str = "auto", *, reset_to_first_state: bool = False, **kwargs: Any
) -> Env:
    """Builds `env_id` with auto-reset and episode bookkeeping.

    kwargs: gymnax EnvParams fields for classic control; `backend`,
    `episode_length`, `action_repeat` and Brax constructor arguments for Brax;
    `gymnasium.make` arguments for a Gymnasium env (see `resolve_backend`).
    reset_to_first_state: each env restarts from its first initial state
    (`AutoReset.to_first_state`, JAX envs only).
    """
    backend = resolve_backend(env_id, env_backend)
    if backend != "jax":
        if reset_to_first_state:
            raise ValueError(
                f"reset_to_first_state=True needs a JAX env; {env_id} steps on the host "
                f"({backend}), where the vector env resets each episode itself"
            )
        return HostEnv(env_id, vectorizer=_VECTORIZERS[backend], **kwargs)
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
    return AutoReset(TimeLimit(raw, raw.max_episode_steps), reset_to_first_state)
