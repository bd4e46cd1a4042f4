"""The actor-critic (SB3's MlpPolicy shape) and its action distributions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_expert.envs import Box, Discrete, Space

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "gelu": nn.gelu, "silu": nn.silu}


@struct.dataclass
class ActionDistribution:
    """Categorical (logits) or diagonal Gaussian (mean, log_std) over actions."""

    discrete: bool = struct.field(pytree_node=False)
    loc: jax.Array  # logits, or the Gaussian mean
    log_std: jax.Array  # unused for discrete actions

    def sample(self, key: jax.Array) -> jax.Array:
        if self.discrete:
            return jax.random.categorical(key, self.loc)
        return self.loc + jnp.exp(self.log_std) * jax.random.normal(key, self.loc.shape)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.loc, axis=-1) if self.discrete else self.loc

    def log_prob(self, action: jax.Array) -> jax.Array:
        if self.discrete:
            logp = jax.nn.log_softmax(self.loc)
            return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), -1)[..., 0]
        z = (action - self.loc) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def entropy(self) -> jax.Array:
        if self.discrete:
            logp = jax.nn.log_softmax(self.loc)
            return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        entropy = self.log_std + 0.5 * math.log(2 * math.pi * math.e)
        return jnp.sum(jnp.broadcast_to(entropy, self.loc.shape), axis=-1)


def _dense(features: int, gain: float, ortho_init: bool) -> nn.Dense:
    if ortho_init:  # SB3: orthogonal weights with per-layer gain, zero bias
        return nn.Dense(features, kernel_init=nn.initializers.orthogonal(gain))
    return nn.Dense(features)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs, as SB3's `net_arch=dict(pi=..., vf=...)`."""

    action_dim: int  # number of discrete actions, or the flat size of a Box action
    discrete: bool
    pi_sizes: Sequence[int] = (64, 64)
    vf_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[ActionDistribution, jax.Array]:
        act = ACTIVATIONS[self.activation]
        hidden_gain = math.sqrt(2)
        pi = obs
        for size in self.pi_sizes:
            pi = act(_dense(size, hidden_gain, self.ortho_init)(pi))
        loc = _dense(self.action_dim, 0.01, self.ortho_init)(pi)
        vf = obs
        for size in self.vf_sizes:
            vf = act(_dense(size, hidden_gain, self.ortho_init)(vf))
        value = _dense(1, 1.0, self.ortho_init)(vf)[..., 0]
        if self.discrete:
            log_std = jnp.zeros((), jnp.float32)
        else:
            log_std = self.param(
                "log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,)
            )
        return ActionDistribution(self.discrete, loc, log_std), value


def make_actor_critic(
    action_space: Space,
    pi_sizes: Sequence[int],
    vf_sizes: Sequence[int],
    activation: str,
    ortho_init: bool,
    log_std_init: float,
) -> ActorCritic:
    """The network for an action space (Gaussian actions are flat vectors)."""
    if isinstance(action_space, Discrete):
        action_dim, discrete = action_space.n, True
    elif isinstance(action_space, Box):
        action_dim, discrete = math.prod(action_space.shape), False
    else:
        raise TypeError(f"unsupported action space {action_space!r}")
    return ActorCritic(
        action_dim=action_dim,
        discrete=discrete,
        pi_sizes=tuple(pi_sizes),
        vf_sizes=tuple(vf_sizes),
        activation=activation,
        ortho_init=ortho_init,
        log_std_init=log_std_init,
    )


def env_action(action: jax.Array, action_space: Space) -> jax.Array:
    """What the env receives: Gaussian samples reshaped and clipped to the Box bounds."""
    if isinstance(action_space, Box):
        action = action.reshape((*action.shape[:-1], *action_space.shape))
        return jnp.clip(action, action_space.low_array, action_space.high_array)
    return action


def make_act(network: ActorCritic, normalize_obs, action_space: Space):
    """`act(params, obs_rms, obs, key, deterministic)`: env actions from raw observations."""

    def act(params, obs_rms, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        dist, _ = network.apply(params, normalize_obs(obs_rms, obs))
        action = dist.mode() if deterministic else dist.sample(key)
        return env_action(action, action_space)

    return act
