"""Flax reward nets mirroring imitation's `imitation.rewards.reward_nets`.

Every net maps a batch `(obs, act, next_obs, done)` to one reward per
transition. Wrappers hold the wrapped net in a field named `base` (or
`members` for an ensemble), so a wrapper's parameters sit under that name and
stripping a wrapper is taking a subtree.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_expert.networks import Conv

RUNNING_NORM_EPS = 1e-5
EMA_DECAY = 0.99


def _mlp(x: jax.Array, hid_sizes: Sequence[int]) -> jax.Array:
    """imitation's build_mlp: ReLU hidden layers, one scalar output per row."""
    for size in hid_sizes:
        x = nn.relu(nn.Dense(size)(x))
    return nn.Dense(1)(x)[..., 0]


def _flat(x: jax.Array) -> jax.Array:
    return x.reshape((x.shape[0], -1)).astype(jnp.float32)


class BasicRewardNet(nn.Module):
    """MLP over the chosen inputs, concatenated (discrete actions one-hot)."""

    n_actions: int = 0  # number of discrete actions; 0 for a Box action space
    use_state: bool = True
    use_action: bool = True
    use_next_state: bool = False
    use_done: bool = False
    hid_sizes: Sequence[int] = (32, 32)

    @nn.compact
    def __call__(self, obs, act, next_obs, done) -> jax.Array:
        inputs = []
        if self.use_state:
            inputs.append(_flat(obs))
        if self.use_action:
            action = jax.nn.one_hot(act, self.n_actions) if self.n_actions else _flat(act)
            inputs.append(action.reshape((action.shape[0], -1)))
        if self.use_next_state:
            inputs.append(_flat(next_obs))
        if self.use_done:
            inputs.append(jnp.asarray(done, jnp.float32).reshape((-1, 1)))
        if not inputs:
            raise ValueError("BasicRewardNet needs one of use_state/action/next_state/done")
        return _mlp(jnp.concatenate(inputs, axis=-1), self.hid_sizes)


def _hwc(image: jax.Array, hwc_format: bool, scale: float) -> jax.Array:
    """A batch of images as scaled float (..., height, width, channels)."""
    image = jnp.asarray(image, jnp.float32) / scale
    return image if hwc_format else jnp.moveaxis(image, -3, -1)


def _build_cnn(x, hid_channels, kernel_size: int, stride: int, out_size: int) -> jax.Array:
    """imitation's build_cnn: 'same' convolutions with ReLU, a global average pool, a dense
    layer of out_size outputs."""
    for channels in hid_channels:
        x = nn.relu(Conv(channels, kernel_size, stride, padding="SAME")(x))
    return nn.Dense(out_size)(x.mean(axis=(-3, -2)))


class CnnRewardNet(nn.Module):
    """imitation's CnnRewardNet: a CNN over the chosen images stacked on channels.

    imitation's build_cnn: 3x3 'same' convolutions with ReLU, a global average
    pool and one dense layer with an output per action (and per done flag),
    read at the transition's. Images are scaled by `obs_scale` (imitation's
    SB3 preprocessing divides by 255; MinAtar's 0/1 grids take 1).
    """

    n_actions: int = 0  # number of discrete actions; use_action needs them
    use_state: bool = True
    use_action: bool = True
    use_next_state: bool = False
    use_done: bool = False
    hwc_format: bool = True  # images are (height, width, channels); False: (c, h, w)
    hid_channels: Sequence[int] = (32, 32)
    kernel_size: int = 3
    stride: int = 1
    obs_scale: float = 255.0

    @nn.compact
    def __call__(self, obs, act, next_obs, done) -> jax.Array:
        if not (self.use_state or self.use_next_state):
            raise ValueError("CnnRewardNet must take current or next state as input")
        if self.use_action and not self.n_actions:
            raise ValueError("CnnRewardNet can only use Discrete actions (n_actions > 0)")
        used = [
            image for on, image in ((self.use_state, obs), (self.use_next_state, next_obs)) if on
        ]
        x = jnp.concatenate([_hwc(i, self.hwc_format, self.obs_scale) for i in used], axis=-1)
        per_action = self.n_actions if self.use_action else 1
        out_size = per_action * (2 if self.use_done else 1)
        out = _build_cnn(x, self.hid_channels, self.kernel_size, self.stride, out_size)
        index = jnp.asarray(act, jnp.int32) if self.use_action else jnp.zeros(out.shape[:1], int)
        if self.use_done:
            index = index + per_action * jnp.asarray(done, jnp.int32)
        return jnp.take_along_axis(out, index.reshape((-1, 1)), axis=-1)[:, 0]


class ShapedRewardNet(nn.Module):
    """base reward + discount * (1 - done) * potential(next_obs) - potential(obs).

    The potential is an MLP over flattened observations (imitation's
    BasicPotentialMLP), or with `potential_cnn` a CNN over images
    (BasicPotentialCNN: potential_hid_sizes are its channels).
    """

    base: nn.Module
    potential_hid_sizes: Sequence[int] = (32, 32)
    discount_factor: float = 0.99
    potential_cnn: bool = False
    hwc_format: bool = True  # CNN potential: images are (h, w, c); False: (c, h, w)
    obs_scale: float = 255.0  # CNN potential: images are divided by this

    @nn.compact
    def __call__(self, obs, act, next_obs, done) -> jax.Array:
        if self.potential_cnn:
            potential = _CnnPotential(self.potential_hid_sizes, self.hwc_format, self.obs_scale,
                                      name="potential")  # fmt: skip
        else:
            potential = _Potential(self.potential_hid_sizes, name="potential")
        not_done = 1.0 - jnp.asarray(done, jnp.float32)
        shaping = self.discount_factor * not_done * potential(next_obs) - potential(obs)
        return self.base(obs, act, next_obs, done) + shaping


class _Potential(nn.Module):
    hid_sizes: Sequence[int]

    @nn.compact
    def __call__(self, obs) -> jax.Array:
        return _mlp(_flat(obs), self.hid_sizes)


class _CnnPotential(nn.Module):
    hid_channels: Sequence[int]
    hwc_format: bool
    obs_scale: float

    @nn.compact
    def __call__(self, obs) -> jax.Array:
        return _build_cnn(_hwc(obs, self.hwc_format, self.obs_scale), self.hid_channels, 3, 1, 1)[
            ..., 0
        ]


def BasicShapedRewardNet(
    n_actions: int = 0,
    use_state: bool = True,
    use_action: bool = True,
    use_next_state: bool = False,
    use_done: bool = False,
    reward_hid_sizes: Sequence[int] = (32,),
    potential_hid_sizes: Sequence[int] = (32, 32),
    discount_factor: float = 0.99,
) -> ShapedRewardNet:
    """imitation's BasicShapedRewardNet: a BasicRewardNet shaped by an MLP potential."""
    base = BasicRewardNet(
        n_actions, use_state, use_action, use_next_state, use_done, tuple(reward_hid_sizes)
    )
    return ShapedRewardNet(base, tuple(potential_hid_sizes), discount_factor)


class NormalizedRewardNet(nn.Module):
    """Normalizes the base reward by running ('running') or EMA ('ema') statistics.

    Statistics live in the `batch_stats` collection. A call normalizes with the
    current statistics, then (with update_stats=True and the collection
    mutable) merges the batch's raw rewards into them, as imitation does.
    """

    base: nn.Module
    normalize_output_layer: str = "running"  # 'running' or 'ema'

    @nn.compact
    def __call__(self, obs, act, next_obs, done, update_stats: bool = False, **kwargs):
        reward = self.base(obs, act, next_obs, done, **kwargs)
        mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((), jnp.float32))
        var = self.variable("batch_stats", "var", lambda: jnp.ones((), jnp.float32))
        count = self.variable("batch_stats", "count", lambda: jnp.zeros((), jnp.float32))
        normalized = (reward - mean.value) / jnp.sqrt(var.value + RUNNING_NORM_EPS)
        if update_stats:
            if self.normalize_output_layer == "running":
                mean.value, var.value = _chan_merge(mean.value, var.value, count.value, reward)
            else:
                n_batches = self.variable("batch_stats", "num_batches", lambda: jnp.zeros(()))
                inv_lr = self.variable("batch_stats", "inv_learning_rate", lambda: jnp.zeros(()))
                inv_lr.value = inv_lr.value + EMA_DECAY**n_batches.value
                mean.value, var.value = _ema_update(mean.value, var.value, inv_lr.value, reward)
                n_batches.value = n_batches.value + 1
            count.value = count.value + reward.shape[0]
        elif self.normalize_output_layer == "ema":
            self.variable("batch_stats", "num_batches", lambda: jnp.zeros(()))
            self.variable("batch_stats", "inv_learning_rate", lambda: jnp.zeros(()))
        return normalized


def _chan_merge(mean, var, count, batch):
    """Chan et al.'s parallel mean/variance merge (imitation's RunningNorm)."""
    batch_mean, batch_var, batch_count = batch.mean(), batch.var(), batch.shape[0]
    delta = batch_mean - mean
    total = count + batch_count
    new_mean = mean + delta * batch_count / total
    m2 = var * count + batch_var * batch_count + delta**2 * count * batch_count / total
    return new_mean, m2 / total


def _ema_update(mean, var, inv_learning_rate, batch):
    """imitation's EMANorm: a bias-corrected exponential moving mean and variance."""
    learning_rate = 1.0 / inv_learning_rate
    delta_mean = batch.mean() - mean
    new_mean = mean + learning_rate * delta_mean
    delta_var = batch.var() + (1 - learning_rate) * delta_mean**2 - var
    return new_mean, var + learning_rate * delta_var


class RewardEnsemble(nn.Module):
    """Several reward nets; the reward is their mean."""

    members: Sequence[nn.Module]

    def moments(self, obs, act, next_obs, done) -> tuple[jax.Array, jax.Array]:
        """Mean and (ddof=1) variance across members."""
        rewards = jnp.stack([m(obs, act, next_obs, done) for m in self.members])
        return rewards.mean(0), rewards.var(0, ddof=1)

    def __call__(self, obs, act, next_obs, done) -> jax.Array:
        return self.moments(obs, act, next_obs, done)[0]


class AddSTDRewardWrapper(nn.Module):
    """mean + alpha * std of an ensemble (alpha < 0: pessimistic)."""

    base: RewardEnsemble
    default_alpha: float = 0.0

    @nn.compact
    def __call__(self, obs, act, next_obs, done, alpha: float | None = None) -> jax.Array:
        mean, var = self.base.moments(obs, act, next_obs, done)
        alpha = self.default_alpha if alpha is None else alpha
        return mean + alpha * jnp.sqrt(var)
