"""The actor-critic (SB3 MlpPolicy and CnnPolicy), its action distributions, SAC's Q networks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "gelu": nn.gelu, "silu": nn.silu}
# "gaussian": SB3's diagonal Gaussian, one learned log_std per action dimension.
# "tanh_normal": Brax's tanh-squashed Normal whose scale is a network output.
DISTRIBUTIONS = ("gaussian", "tanh_normal")
_LOG_2PI = math.log(2 * math.pi)
# Convolutional torsos for image observations: (features, kernel, stride) per layer,
# then the flattened output through an optional ReLU Dense layer.
# "nature_cnn": SB3's NatureCNN for 84x84 Atari frames (Mnih et al. 2015).
# "minatar_cnn": MinAtar's (Young & Tian 2019) one 3x3 layer for 10x10 grids.
CNN_TORSOS = {
    "nature_cnn": (((32, 8, 4), (64, 4, 2), (64, 3, 1)), 512),
    "minatar_cnn": (((16, 3, 1),), None),
}
TORSOS = ("mlp", *CNN_TORSOS)


def cnn_min_size(kind: str) -> int:
    """The smallest image side a CNN torso takes (each VALID conv leaves at least 1)."""
    size = 1
    for _, kernel, stride in reversed(CNN_TORSOS[kind][0]):
        size = (size - 1) * stride + kernel
    return size


@struct.dataclass
class ActionDistribution:
    """Categorical (logits), diagonal Gaussian, or tanh-squashed Normal over actions.

    For "tanh_normal" the distribution's actions are the raw, pre-tanh samples
    (what PPO stores and scores); `squash` maps them into [-1, 1].
    """

    kind: str = struct.field(pytree_node=False)  # "categorical" or one of DISTRIBUTIONS
    loc: jax.Array  # logits, or the Normal's mean
    log_std: jax.Array  # unused for categorical actions

    def sample(self, key: jax.Array) -> jax.Array:
        if self.kind == "categorical":
            return jax.random.categorical(key, self.loc)
        return self.loc + jnp.exp(self.log_std) * jax.random.normal(key, self.loc.shape)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.loc, axis=-1) if self.kind == "categorical" else self.loc

    def log_prob(self, action: jax.Array) -> jax.Array:
        if self.kind == "categorical":
            logp = jax.nn.log_softmax(self.loc)
            return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), -1)[..., 0]
        z = (action - self.loc) * jnp.exp(-self.log_std)
        logp = jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)
        if self.kind == "tanh_normal":  # change of variables through tanh
            logp = logp - jnp.sum(tanh_log_det_jacobian(action), axis=-1)
        return logp

    def entropy(self, key: jax.Array | None = None) -> jax.Array:
        """Exact, except tanh_normal's: Brax's one-sample estimate (needs `key`)."""
        if self.kind == "categorical":
            logp = jax.nn.log_softmax(self.loc)
            return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        entropy = self.log_std + 0.5 * (_LOG_2PI + 1.0)
        entropy = jnp.sum(jnp.broadcast_to(entropy, self.loc.shape), axis=-1)
        if self.kind == "tanh_normal":
            entropy = entropy + jnp.sum(tanh_log_det_jacobian(self.sample(key)), axis=-1)
        return entropy

    def squash(self, action: jax.Array) -> jax.Array:
        """The action in the policy's output range ([-1, 1] for tanh_normal)."""
        return jnp.tanh(action) if self.kind == "tanh_normal" else action


def tanh_log_det_jacobian(x: jax.Array) -> jax.Array:
    """log |d tanh(x) / dx|, in the overflow-free form 2 (log 2 - x - softplus(-2x))."""
    return 2.0 * (math.log(2.0) - x - jax.nn.softplus(-2.0 * x))


def _dense(features: int, gain: float, ortho_init: bool) -> nn.Dense:
    if ortho_init:  # SB3: orthogonal weights with per-layer gain, zero bias
        return nn.Dense(features, kernel_init=nn.initializers.orthogonal(gain))
    return nn.Dense(features)


class Conv(nn.Module):
    """A 2-d convolution over (..., height, width, channels) with nn.Conv's parameters
    (`kernel` (k, k, in, out), `bias`) and padding ('VALID' or 'SAME').

    On CPU it runs as image patches times the kernel matrix: XLA's CPU convolution is
    about 10x slower inside a loop, and every training step runs inside one.
    """

    features: int
    kernel_size: int
    stride: int = 1
    padding: str = "VALID"
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if jax.default_backend() != "cpu":
            lead = x.shape[:-3]
            y = jax.lax.conv_general_dilated(
                x.reshape((-1, *x.shape[-3:])), kernel, (s, s), self.padding,
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )  # fmt: skip
            return y.reshape((*lead, *y.shape[1:])) + bias
        if self.padding == "SAME":  # XLA's: output ceil(n / s), the extra pad at the end
            pads = []
            for n in x.shape[-3:-1]:
                total = max((-(-n // s) - 1) * s + k - n, 0)
                pads.append((total // 2, total - total // 2))
            x = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + pads + [(0, 0)])
        out_h, out_w = ((n - k) // s + 1 for n in x.shape[-3:-1])
        patches = [
            x[..., i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s, :]
            for i in range(k)
            for j in range(k)
        ]  # in the kernel's (row, column, channel) order
        return jnp.concatenate(patches, axis=-1) @ kernel.reshape(-1, self.features) + bias


class CnnTorso(nn.Module):
    """A CNN_TORSOS entry over (..., height, width, channels) floats -> (..., features)."""

    kind: str
    ortho_init: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        layers, dense = CNN_TORSOS[self.kind]
        init = {"kernel_init": nn.initializers.orthogonal(math.sqrt(2))} if self.ortho_init else {}
        for features, kernel, stride in layers:
            x = nn.relu(Conv(features, kernel, stride, **init)(x))
        x = x.reshape((*x.shape[:-3], -1))
        return x if dense is None else nn.relu(_dense(dense, math.sqrt(2), self.ortho_init)(x))


class ActorCritic(nn.Module):
    """Policy and value MLPs, as SB3's `net_arch=dict(pi=..., vf=...)`, on a torso.

    torso "mlp": the observation (flattened over its `obs_ndim` axes) feeds both
    MLPs. A CNN torso (CNN_TORSOS) turns images into features first: one shared
    by both heads (`share_torso`, SB3's share_features_extractor) or one each.
    `vf_sizes=None`: a policy without a value head (SAC's actor; its critics
    are Q networks outside the policy), whose value is reported as 0.
    """

    action_dim: int  # number of discrete actions, or the flat size of a Box action
    distribution: str  # "categorical" or one of DISTRIBUTIONS
    pi_sizes: Sequence[int] = (64, 64)
    vf_sizes: Sequence[int] | None = (64, 64)
    activation: str = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    torso: str = "mlp"  # one of TORSOS
    share_torso: bool = True
    obs_ndim: int = 1

    def _features(self, obs: jax.Array, name: str | None) -> jax.Array:
        if self.torso == "mlp":
            return obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1))
        return CnnTorso(self.torso, self.ortho_init, name=name)(obs)

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[ActionDistribution, jax.Array]:
        act = ACTIVATIONS[self.activation]
        hidden_gain = math.sqrt(2)
        features = self._features(obs, "torso" if self.share_torso else "pi_torso")
        pi = features
        for size in self.pi_sizes:
            pi = act(_dense(size, hidden_gain, self.ortho_init)(pi))
        if self.distribution == "tanh_normal":
            # Brax: the head outputs (loc, scale); scale = softplus + 0.001 (0.69 at init).
            out = _dense(2 * self.action_dim, 0.01, self.ortho_init)(pi)
            loc, raw_scale = jnp.split(out, 2, axis=-1)
            log_std = jnp.log(jax.nn.softplus(raw_scale) + 0.001)
        else:
            loc = _dense(self.action_dim, 0.01, self.ortho_init)(pi)
        if self.vf_sizes is None:
            value = jnp.zeros(features.shape[:-1], jnp.float32)
        else:
            vf = features if self.share_torso else self._features(obs, "vf_torso")
            for size in self.vf_sizes:
                vf = act(_dense(size, hidden_gain, self.ortho_init)(vf))
            value = _dense(1, 1.0, self.ortho_init)(vf)[..., 0]
        if self.distribution == "categorical":
            log_std = jnp.zeros((), jnp.float32)
        elif self.distribution == "gaussian":
            log_std = self.param(
                "log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,)
            )
        return ActionDistribution(self.distribution, loc, log_std), value


class QNetworks(nn.Module):
    """`n` independent Q(s, a) MLPs (SAC's twin critics), evaluated as one batched MLP.

    A CNN torso (CNN_TORSOS) turns image observations into features first, one for
    all n (SB3's critic shares its features extractor); "mlp" flattens the
    observation's `obs_ndim` axes. Returns the n Q-values stacked on a leading
    axis: (n, *batch).
    """

    sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    n: int = 2
    torso: str = "mlp"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        if self.torso == "mlp":
            obs = obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1))
        else:
            obs = CnnTorso(self.torso, ortho_init=False, name="torso")(obs)
        mlp = nn.vmap(
            _Mlp,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            axis_size=self.n,
        )
        return mlp(self.sizes, self.activation)(jnp.concatenate([obs, action], axis=-1))


class _Mlp(nn.Module):
    sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
        return nn.Dense(1)(x)[..., 0]
