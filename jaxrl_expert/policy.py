"""The one policy spec and factory: network, observation normalization and `act`.

A `PolicySpec` is frozen and hashable: everything about a policy except its
arrays. Training, evaluation, generation and loading all build the network,
normalize observations and turn network outputs into env actions through it
(Brax's `make_inference_fn` plays this role), and its JSON form is what a
policy directory's metadata holds. `Policy` is a pytree with the spec as a
static field, so `jax.jit(Policy.act)` compiles once per spec.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from jaxrl_expert import envs
from jaxrl_expert.networks import ActionDistribution, ActorCritic
from jaxrl_expert.normalize import RunningMeanStd

FORMAT_VERSION = 1  # of the JSON below (metadata.json of a policy directory)


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """What a policy is, apart from its parameters and observation statistics."""

    env_id: str  # the env it was trained in
    env_kwargs: str  # that env's kwargs, as sorted JSON (hashable)
    env_backend: str  # how that env was made (envs.ENV_BACKENDS)
    observation_space: envs.Box
    action_space: envs.Space
    pi_sizes: tuple[int, ...]
    vf_sizes: tuple[int, ...] | None  # None: no value head (a SAC actor)
    activation: str
    ortho_init: bool
    log_std_init: float
    distribution: str  # of Box actions (networks.DISTRIBUTIONS); Discrete ones are categorical
    torso: str  # networks.TORSOS: "mlp", or a CNN for image observations
    share_torso: bool  # a CNN torso shared by the policy and value heads
    norm_obs: bool  # observations are normalized by the policy's running statistics
    obs_epsilon: float
    clip_obs: float

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict, env: envs.Env) -> PolicySpec:
        """PPO's actor-critic, or SAC's actor (Brax's tanh-squashed Normal, default init)."""
        norm = config.normalize_kwargs
        if config.algo == "sac":
            sac = config.sac
            network = {"pi_sizes": tuple(sac.net_arch.pi), "vf_sizes": None,
                       "activation": sac.activation, "ortho_init": False,
                       "log_std_init": 0.0, "distribution": "tanh_normal",
                       "torso": torso_name(sac), "share_torso": True}  # fmt: skip
        else:
            ppo = config.ppo
            network = {"pi_sizes": tuple(ppo.net_arch.pi), "vf_sizes": tuple(ppo.net_arch.vf),
                       "activation": ppo.activation, "ortho_init": ppo.ortho_init,
                       "log_std_init": float(ppo.log_std_init),
                       "distribution": ppo.distribution,
                       "torso": torso_name(ppo),
                       "share_torso": ppo.share_features_extractor}  # fmt: skip
        return cls(
            env_id=config.env_id,
            env_kwargs=json.dumps(config.env_kwargs.to_dict(), sort_keys=True),
            env_backend=config.env_backend,
            observation_space=env.observation_space,
            action_space=env.action_space,
            **network,
            norm_obs=norm.norm_obs,
            obs_epsilon=float(norm.epsilon),
            clip_obs=float(norm.clip_obs),
        )

    def to_json(self) -> dict[str, Any]:
        """The metadata layout of a policy directory (format_version 1)."""
        return {
            "format_version": FORMAT_VERSION,
            "env_id": self.env_id,
            "env_kwargs": json.loads(self.env_kwargs),
            "env_backend": self.env_backend,
            "observation_space": self.observation_space.to_json(),
            "action_space": self.action_space.to_json(),
            "network": {
                "pi_sizes": list(self.pi_sizes),
                "vf_sizes": None if self.vf_sizes is None else list(self.vf_sizes),
                "activation": self.activation,
                "ortho_init": self.ortho_init,
                "log_std_init": self.log_std_init,
                "distribution": self.distribution,
                **self._torso_json(),
            },
            "obs_normalization": {
                "enabled": self.norm_obs,
                "epsilon": self.obs_epsilon,
                "clip_obs": self.clip_obs,
            },
        }

    def _torso_json(self) -> dict[str, Any]:
        """MLP policies keep the layout they had before CNN torsos existed."""
        if self.torso == "mlp":
            return {}
        return {"torso": self.torso, "share_torso": self.share_torso}

    @classmethod
    def from_json(cls, metadata: dict[str, Any]) -> PolicySpec:
        """Inverse of `to_json`; policies saved before `distribution` existed are Gaussian,
        before `env_backend` existed 'auto', before torsos existed MLPs."""
        network, norm = metadata["network"], metadata["obs_normalization"]
        return cls(
            env_id=metadata["env_id"],
            env_kwargs=json.dumps(metadata["env_kwargs"], sort_keys=True),
            env_backend=metadata.get("env_backend", "auto"),
            observation_space=envs.space_from_json(metadata["observation_space"]),
            action_space=envs.space_from_json(metadata["action_space"]),
            pi_sizes=tuple(int(s) for s in network["pi_sizes"]),
            vf_sizes=(
                None if network["vf_sizes"] is None else tuple(int(s) for s in network["vf_sizes"])
            ),
            activation=network["activation"],
            ortho_init=bool(network["ortho_init"]),
            log_std_init=float(network["log_std_init"]),
            distribution=network.get("distribution", "gaussian"),
            torso=network.get("torso", "mlp"),
            share_torso=bool(network.get("share_torso", True)),
            norm_obs=bool(norm["enabled"]),
            obs_epsilon=float(norm["epsilon"]),
            clip_obs=float(norm["clip_obs"]),
        )

    def differences(self, other: PolicySpec) -> list[str]:
        """Fields (other than the env's name and kwargs) in which two specs differ."""
        skip = {"env_id", "env_kwargs", "env_backend"}
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.name not in skip and getattr(self, f.name) != getattr(other, f.name)
        ]

    def make_env(self, env_backend: str | None = None) -> envs.Env:
        """The env this policy was trained in (made by another backend if given)."""
        backend = self.env_backend if env_backend is None else env_backend
        return envs.make(self.env_id, backend, **json.loads(self.env_kwargs))

    @functools.cached_property
    def network(self) -> ActorCritic:
        """The actor-critic (Gaussian/tanh actions are flat vectors)."""
        if isinstance(self.action_space, envs.Discrete):
            action_dim, distribution = self.action_space.n, "categorical"
        elif isinstance(self.action_space, envs.Box):
            action_dim, distribution = math.prod(self.action_space.shape), self.distribution
        else:
            raise TypeError(f"unsupported action space {self.action_space!r}")
        return ActorCritic(
            action_dim=action_dim,
            distribution=distribution,
            pi_sizes=self.pi_sizes,
            vf_sizes=self.vf_sizes,
            activation=self.activation,
            ortho_init=self.ortho_init,
            log_std_init=self.log_std_init,
            torso=self.torso,
            share_torso=self.share_torso,
            obs_ndim=len(self.observation_space.shape),
        )

    def init_params(self, key: jax.Array) -> Any:
        return self.network.init(key, jnp.zeros(self.observation_space.shape, jnp.float32))

    def init_obs_rms(self) -> RunningMeanStd:
        return RunningMeanStd.create(self.observation_space.shape)

    def normalize_obs(self, obs_rms: RunningMeanStd, obs: jax.Array) -> jax.Array:
        """What the network sees: raw observations, normalized and clipped ones, or
        uint8 images scaled into [0, 1] by the space's bound (on device)."""
        if self.norm_obs:
            return obs_rms.normalize(obs, self.obs_epsilon, self.clip_obs)
        if self.observation_space.dtype == "uint8":
            scale = max(self.observation_space.high)
            obs = obs.astype(jnp.float32)
            return obs if scale == 1.0 else obs / scale
        return obs

    def apply(
        self, params: Any, obs_rms: RunningMeanStd, obs: jax.Array
    ) -> tuple[ActionDistribution, jax.Array]:
        """(action distribution, value) for raw observations."""
        return self.network.apply(params, self.normalize_obs(obs_rms, obs))

    def env_action(self, dist: ActionDistribution, action: jax.Array) -> jax.Array:
        """What the env receives for a distribution's action.

        Gaussian samples are clipped to the Box bounds (SB3); tanh-squashed ones
        are rescaled from [-1, 1] to finite bounds. Box actions take the
        space's shape.
        """
        if not isinstance(self.action_space, envs.Box):
            return action
        if dist.kind == "tanh_normal":
            return self.unit_to_env(dist.squash(action))
        space = self.action_space
        action = action.reshape((*action.shape[:-1], *space.shape))
        return jnp.clip(action, space.low_array, space.high_array)

    def unit_to_env(self, action: jax.Array) -> jax.Array:
        """A flat Box action in [-1, 1] rescaled to the space's finite bounds, in its shape
        (an unbounded dimension passes unchanged)."""
        space = self.action_space
        action = action.reshape((*action.shape[:-1], *space.shape))
        low, high = space.low_array, space.high_array
        finite = np.isfinite(low) & np.isfinite(high)
        if np.all(finite & (low == -1.0) & (high == 1.0)):
            return action
        low, width = np.where(finite, low, 0.0), np.where(finite, high - low, 0.0)
        return jnp.where(finite, low + 0.5 * (action + 1.0) * width, action)

    def act(
        self,
        params: Any,
        obs_rms: RunningMeanStd,
        obs: jax.Array,
        key: jax.Array,
        deterministic: bool = False,
    ) -> jax.Array:
        """Env actions for raw observations (a batch or a single one)."""
        dist, _ = self.apply(params, obs_rms, obs)
        action = dist.mode() if deterministic else dist.sample(key)
        return self.env_action(dist, action)


def torso_name(section: ml_collections.ConfigDict) -> str:
    """networks.TORSOS entry of a config.ppo or config.sac section (policy, cnn)."""
    return "mlp" if section.policy == "mlp" else f"{section.cnn}_cnn"


@struct.dataclass
class Policy:
    """A policy's arrays with its spec; `act` is pure and jittable."""

    spec: PolicySpec = struct.field(pytree_node=False)
    params: Any
    obs_rms: RunningMeanStd

    @property
    def metadata(self) -> dict[str, Any]:
        return self.spec.to_json()

    @property
    def observation_space(self) -> envs.Box:
        return self.spec.observation_space

    @property
    def action_space(self) -> envs.Space:
        return self.spec.action_space

    def act(
        self, obs: Any, key: jax.Array | None = None, deterministic: bool = False
    ) -> jax.Array | np.ndarray | int:
        """Env actions for raw observations (one, or a batch on leading axes).

        Inside jit (traced observations) it returns a JAX array. Called with host
        data it runs one compiled program and returns what Gymnasium's `step`
        takes: a NumPy array, or an int for one Discrete action. `key` may be
        left out when deterministic.
        """
        if key is None:
            if not deterministic:
                raise ValueError("act needs a PRNG key to sample; or pass deterministic=True")
            key = _unused_key()  # the mode ignores it
        if not isinstance(obs, jax.Array):
            obs = np.asarray(obs)  # host data goes to the compiled call as is
        expected = tuple(self.spec.observation_space.shape)
        if obs.shape[obs.ndim - len(expected) :] != expected:
            raise ValueError(
                f"observation shape {obs.shape} does not fit this policy ({self.spec.env_id}): "
                f"it takes {expected} or a batch (n, *{expected})"
            )
        if isinstance(obs, jax.core.Tracer):
            return self.spec.act(self.params, self.obs_rms, obs, key, deterministic)
        action = np.asarray(_act(self.spec, self.params, self.obs_rms, obs, key, deterministic))
        if action.ndim == 0 and isinstance(self.spec.action_space, envs.Discrete):
            return int(action)
        return action

    def digest(self) -> str:
        """SHA-256 of the spec and every array: equal exactly when two policies are the same."""
        h = hashlib.sha256(json.dumps(self.spec.to_json(), sort_keys=True).encode())
        for leaf in jax.tree.leaves((self.params, self.obs_rms)):
            leaf = np.asarray(leaf)
            h.update(f"{leaf.dtype.str}{leaf.shape}".encode())
            h.update(np.ascontiguousarray(leaf).tobytes())
        return h.hexdigest()

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | int, None]:
        """SB3's `predict`: (actions, None) for host observations; a feed-forward
        policy has no recurrent state, so `state` and `episode_start` are ignored.
        Fits imitation's policy callables (`rollout.generate_trajectories`).
        Sampling draws its key from NumPy's global RNG (`np.random.seed` fixes it),
        as SB3 draws from torch's.
        """
        del state, episode_start
        key = None if deterministic else _host_key(np.random.randint(2**31))
        return self.act(observation, key, deterministic), None


@functools.cache
def _unused_key() -> jax.Array:
    """One device key for deterministic host calls (a device array passes to jit fastest)."""
    return jax.random.PRNGKey(0)


def _host_key(seed: int) -> np.ndarray | jax.Array:
    """`jax.random.PRNGKey(seed)` without a device call where the key is threefry's
    [0, seed] (the default): host acting pays about 0.2 ms per PRNGKey call."""
    if jax.config.jax_default_prng_impl == "threefry2x32" and 0 <= seed < 2**32:
        return np.array([0, seed], np.uint32)
    return jax.random.PRNGKey(seed)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _act(spec: PolicySpec, params: Any, obs_rms: RunningMeanStd, obs, key, deterministic: bool):
    """`spec.act` compiled once per spec and observation shape (host calls of `Policy.act`)."""
    return spec.act(params, obs_rms, obs, key, deterministic)
