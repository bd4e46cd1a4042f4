"""Reward nets on disk and imitation's `load_reward(reward_type, reward_path, **kwargs)`.

A reward-net directory holds `reward_net.json` (the module chain as class
names and constructor arguments, plus the spaces it was trained on) and an
Orbax checkpoint of its variables. Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_expert import envs
from jaxrl_expert.atomic_files import read_versioned_json
from jaxrl_expert.checkpoints import restore_arrays, save_arrays_and_json
from jaxrl_expert.rewards.nets import (
    AddSTDRewardWrapper,
    BasicRewardNet,
    CnnRewardNet,
    NormalizedRewardNet,
    RewardEnsemble,
    ShapedRewardNet,
)

SPEC_FILE = "reward_net.json"
FORMAT_VERSION = 1
_CLASSES = {
    cls.__name__: cls
    for cls in (
        BasicRewardNet,
        CnnRewardNet,
        ShapedRewardNet,
        NormalizedRewardNet,
        RewardEnsemble,
        AddSTDRewardWrapper,
    )
}
REWARD_TYPES = (
    "RewardNet_shaped",
    "RewardNet_unshaped",
    "RewardNet_normalized",
    "RewardNet_unnormalized",
    "RewardNet_std_added",
    "zero",
)


def module_spec(module: nn.Module) -> dict[str, Any]:
    """The module chain as JSON: class name, plain arguments, wrapped nets."""
    if type(module).__name__ not in _CLASSES:
        raise TypeError(f"cannot serialize {type(module).__name__}; known: {sorted(_CLASSES)}")
    spec: dict[str, Any] = {"class": type(module).__name__, "kwargs": {}}
    for field in dataclasses.fields(module):
        if field.name in ("parent", "name"):
            continue
        value = getattr(module, field.name)
        if field.name == "base":
            spec["base"] = module_spec(value)
        elif field.name == "members":
            spec["members"] = [module_spec(m) for m in value]
        else:
            spec["kwargs"][field.name] = list(value) if isinstance(value, tuple) else value
    return spec


def module_from_spec(spec: dict[str, Any]) -> nn.Module:
    cls = _CLASSES.get(spec.get("class"))
    if cls is None:
        raise ValueError(
            f"unknown reward net class {spec.get('class')!r}; known: {sorted(_CLASSES)}"
        )
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["kwargs"].items()}
    if "base" in spec:
        kwargs["base"] = module_from_spec(spec["base"])
    if "members" in spec:
        kwargs["members"] = tuple(module_from_spec(m) for m in spec["members"])
    return cls(**kwargs)


def _dummy_batch(observation_space: envs.Space, action_space: envs.Space):
    obs = jnp.zeros((1, *observation_space.shape), jnp.float32)
    if isinstance(action_space, envs.Discrete):
        act = jnp.zeros((1,), jnp.int32)
    else:
        act = jnp.zeros((1, *action_space.shape), jnp.float32)
    return obs, act, obs, jnp.zeros((1,), bool)


def init_reward_net(
    net: nn.Module, key: jax.Array, observation_space: envs.Space, action_space: envs.Space
) -> dict:
    """Fresh variables for `net` on these spaces."""
    return net.init(key, *_dummy_batch(observation_space, action_space))


def save_reward_net(
    path: str,
    net: nn.Module,
    variables: dict,
    observation_space: envs.Space,
    action_space: envs.Space,
) -> None:
    """Writes a reward-net directory atomically (replacing an existing one)."""
    spec = {
        "format_version": FORMAT_VERSION,
        "module": module_spec(net),
        "observation_space": observation_space.to_json(),
        "action_space": action_space.to_json(),
    }
    save_arrays_and_json(path, dict(variables), SPEC_FILE, spec)


def load_reward_net(path: str) -> tuple[nn.Module, dict, dict]:
    """(module, variables, spec file contents) of a saved reward net."""
    if not os.path.isdir(path):
        raise ValueError(f"reward_path={path!r} is not a reward-net directory: it does not exist")
    saved = read_versioned_json(os.path.join(path, SPEC_FILE), FORMAT_VERSION, "reward-net spec")
    try:  # a hand-edited or foreign spec: unknown classes or arguments, impossible sizes
        net = module_from_spec(saved["module"])
        obs_space = envs.space_from_json(saved["observation_space"])
        act_space = envs.space_from_json(saved["action_space"])
        key = jax.random.PRNGKey(0)
        target = jax.eval_shape(lambda: init_reward_net(net, key, obs_space, act_space))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ValueError(
            f"{os.path.join(path, SPEC_FILE)!r} does not describe a reward net we can build: "
            f"{type(e).__name__}: {first_line}"
        ) from None
    try:
        variables = restore_arrays(path, target)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ValueError(f"reward net arrays under {path!r} don't match {SPEC_FILE}: {e}") from None
    return net, variables, saved


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: jax.jit(reward) works
class LearnedReward:
    """A loaded reward: `reward(obs, act, next_obs, done)` on batches, pure and jittable.

    With `update_stats` (RewardNet_normalized), `apply_and_update(stats, ...)`
    also returns the statistics merged with the batch; `stats` starts as
    `initial_stats` and is threaded through training by the caller.
    """

    apply: Callable  # (stats, obs, act, next_obs, done, update) -> (rewards, stats)
    initial_stats: Any
    update_stats: bool
    observation_space: Any
    action_space: Any

    def __call__(self, obs, act, next_obs, done) -> jax.Array:
        return self.apply(self.initial_stats, obs, act, next_obs, done, False)[0]

    def apply_and_update(self, stats, obs, act, next_obs, done):
        return self.apply(stats, obs, act, next_obs, done, self.update_stats)


def _strip(net: nn.Module, variables: dict) -> tuple[nn.Module, dict]:
    """The wrapped net and its variables, one wrapper layer down."""
    sub = {
        collection: tree["base"]
        for collection, tree in variables.items()
        if isinstance(tree, dict) and "base" in tree
    }
    return net.base, sub


def _chain(net: nn.Module) -> list[str]:
    names = []
    while net is not None:
        names.append(type(net).__name__)
        net = getattr(net, "base", None)
    return names


def load_reward(reward_type: str, reward_path: str | None, **kwargs: Any) -> LearnedReward:
    """imitation's load_reward for our nets; the returned reward is pure and jittable."""
    if reward_type not in REWARD_TYPES:
        raise ValueError(f"reward_type={reward_type!r} is unknown; allowed: {list(REWARD_TYPES)}")
    allowed = {
        "RewardNet_normalized": {"update_stats"},
        "RewardNet_std_added": {"alpha", "update_stats"},
    }.get(reward_type, set())
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"load_reward_kwargs {unknown} not accepted by reward_type={reward_type!r}; "
            f"allowed: {sorted(allowed)}"
        )
    if reward_type == "zero":
        return _zero_reward()
    if reward_path is None or not os.path.exists(reward_path):
        raise ValueError(f"reward_path={reward_path!r} does not exist (reward_type={reward_type})")
    net, variables, saved = load_reward_net(reward_path)
    chain = _chain(net)
    update_stats = bool(kwargs.get("update_stats", False))
    call_kwargs: dict[str, Any] = {}
    if reward_type == "RewardNet_shaped" and not isinstance(net, ShapedRewardNet):
        raise ValueError(
            f"{reward_path!r}: RewardNet_shaped needs a shaped net outermost; got {chain}"
        )
    if reward_type == "RewardNet_unshaped" and isinstance(net, ShapedRewardNet):
        net, variables = _strip(net, variables)
    if reward_type == "RewardNet_normalized" and not isinstance(net, NormalizedRewardNet):
        raise ValueError(
            f"{reward_path!r}: RewardNet_normalized needs a NormalizedRewardNet outermost; "
            f"got {chain}"
        )
    if reward_type == "RewardNet_unnormalized":
        while isinstance(net, NormalizedRewardNet):
            net, variables = _strip(net, variables)
    if reward_type == "RewardNet_std_added":
        inner = net.base if isinstance(net, NormalizedRewardNet) else net
        if not isinstance(inner, AddSTDRewardWrapper):
            raise ValueError(
                f"{reward_path!r}: RewardNet_std_added needs an AddSTDRewardWrapper outermost "
                f"(optionally under NormalizedRewardNet); got {chain}"
            )
        if "alpha" in kwargs:
            call_kwargs["alpha"] = float(kwargs["alpha"])
    if update_stats and not isinstance(net, NormalizedRewardNet):
        raise ValueError(f"update_stats=True needs a NormalizedRewardNet outermost; got {chain}")
    return _net_reward(net, variables, update_stats, call_kwargs, saved)


def _net_reward(net, variables, update_stats, call_kwargs, saved) -> LearnedReward:
    params = variables["params"]
    stats = {k: v for k, v in variables.items() if k != "params"}
    normalized = isinstance(net, NormalizedRewardNet)

    def apply(stats, obs, act, next_obs, done, update):
        kwargs = dict(call_kwargs)
        if normalized:
            kwargs["update_stats"] = update
        if update:
            rewards, new = net.apply(
                {"params": params, **stats}, obs, act, next_obs, done, mutable=list(stats), **kwargs
            )
            return rewards, dict(new)
        return net.apply({"params": params, **stats}, obs, act, next_obs, done, **kwargs), stats

    return LearnedReward(
        apply=apply,
        initial_stats=stats,
        update_stats=update_stats,
        observation_space=envs.space_from_json(saved["observation_space"]),
        action_space=envs.space_from_json(saved["action_space"]),
    )


def _zero_reward() -> LearnedReward:
    def apply(stats, obs, act, next_obs, done, update):
        return jnp.zeros((obs.shape[0],), jnp.float32), stats

    return LearnedReward(apply, {}, False, None, None)
