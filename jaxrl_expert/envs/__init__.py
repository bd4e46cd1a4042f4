"""Functional environments over gymnax, seals-style variants and Brax."""

from jaxrl_expert.envs.base import Box, Discrete, Env, EnvState, Space, space_from_json
from jaxrl_expert.envs.registry import ENV_IDS, is_brax, make

__all__ = [
    "ENV_IDS",
    "Box",
    "Discrete",
    "Env",
    "EnvState",
    "Space",
    "is_brax",
    "make",
    "space_from_json",
]
