"""Functional environments over gymnax, seals-style variants, Brax and Gymnasium."""

from jaxrl_expert.envs.base import Box, Discrete, Env, EnvState, Space, space_from_json
from jaxrl_expert.envs.host import HostEnv
from jaxrl_expert.envs.registry import ENV_BACKENDS, ENV_IDS, is_brax, make, resolve_backend

__all__ = [
    "ENV_BACKENDS",
    "ENV_IDS",
    "Box",
    "Discrete",
    "Env",
    "EnvState",
    "HostEnv",
    "Space",
    "is_brax",
    "make",
    "resolve_backend",
    "space_from_json",
]
