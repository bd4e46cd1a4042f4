"""Running statistics and Stable-Baselines3 VecNormalize semantics, as pure functions.

Observation statistics belong to the policy (saved with it); reward statistics
belong to training (they shape the learning signal, not the behaviour).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    """Mean and variance of everything seen so far (SB3's RunningMeanStd)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # float32: a weight, starts at 1e-4 as in SB3

    @classmethod
    def create(cls, shape: tuple[int, ...] = ()) -> RunningMeanStd:
        return cls(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.asarray(1e-4, jnp.float32),
        )

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Merges a batch (leading axes are samples) with Chan's parallel algorithm."""
        batch = batch.reshape((-1, *self.mean.shape)).astype(jnp.float32)
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        batch_count = jnp.asarray(batch.shape[0], jnp.float32)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count
        m2 = m2 + jnp.square(delta) * self.count * batch_count / total
        return RunningMeanStd(mean=mean, var=m2 / total, count=total)

    def normalize(self, x: jax.Array, epsilon: float, clip: float) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + epsilon), -clip, clip)


@struct.dataclass
class RewardNormState:
    """VecNormalize's reward state: running variance of the discounted return per env."""

    return_rms: RunningMeanStd
    returns: jax.Array  # (n_envs,) discounted return accumulated in the running episode

    @classmethod
    def create(cls, n_envs: int) -> RewardNormState:
        return cls(RunningMeanStd.create(()), jnp.zeros((n_envs,), jnp.float32))


def normalize_reward(
    state: RewardNormState,
    rewards: jax.Array,
    dones: jax.Array,
    *,
    gamma: float,
    epsilon: float,
    clip_reward: float,
) -> tuple[RewardNormState, jax.Array]:
    """One vectorized step of VecNormalize: update, scale by the return's std, clip, reset."""
    returns = state.returns * gamma + rewards
    return_rms = state.return_rms.update(returns)
    scaled = jnp.clip(rewards / jnp.sqrt(return_rms.var + epsilon), -clip_reward, clip_reward)
    returns = jnp.where(dones, 0.0, returns)
    return RewardNormState(return_rms, returns), scaled
