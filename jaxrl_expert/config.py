"""The config schema (every field, with its meaning and default) and its validation.

Environment configs in `configs/` start from `base_config()` and override
what they tune. `validate` runs once on the resolved config, before anything
is compiled, and names the field, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import importlib.resources
import importlib.util
import math
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import ml_collections
from ml_collections import config_dict

from jaxrl_expert import envs
from jaxrl_expert.networks import ACTIVATIONS, DISTRIBUTIONS
from jaxrl_expert.rewards import REWARD_TYPES

LR_SCHEDULES = ("constant", "linear")
POLICIES = ("mlp", "cnn")
CNNS = ("nature", "minatar")
ALGORITHMS = ("ppo", "sac")


def config_path(name: str) -> str:
    """Path of a bundled config file (`configs/<name>.py`, installed as jaxrl_expert.configs)."""
    try:
        root = importlib.resources.files("jaxrl_expert.configs")
    except ModuleNotFoundError:  # a source tree on sys.path, not installed
        root = pathlib.Path(__file__).resolve().parent.parent / "configs"
    return str(root / f"{name}.py")


def bundled_configs() -> list[str]:
    """Names of the bundled config files (`--config=<name>` works for each)."""
    directory = pathlib.Path(config_path("seals_cartpole")).parent
    return sorted(p.stem for p in directory.glob("*.py") if p.stem != "__init__")


def resolve_config_file(name_or_path: str) -> str:
    """A config file's path from a path or a bundled config's name; a miss lists them."""
    if os.path.exists(name_or_path):
        return name_or_path
    name = name_or_path.removeprefix("configs/").removesuffix(".py")
    names = bundled_configs()
    if name in names:  # `pendulum`, `pendulum.py` or `configs/pendulum.py` from anywhere
        return config_path(name)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"config file {name_or_path!r} does not exist; bundled configs: {', '.join(names)}{hint}"
    )


def field_paths(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Every field of a config as a dotted path (`ppo.n_envs`), sections included."""
    paths = []
    for name, value in config.items():
        paths.append(prefix + name)
        if isinstance(value, ml_collections.ConfigDict):
            paths.extend(field_paths(value, f"{prefix}{name}."))
    return paths


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """`get_config()` of an ml_collections config file (or a bundled config's name)."""
    path = resolve_config_file(path)
    spec = importlib.util.spec_from_file_location("jaxrl_expert_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def base_config() -> ml_collections.ConfigDict:
    """imitation's train_rl defaults (SB3 PPO underneath) on seals/CartPole-v0."""
    config = ml_collections.ConfigDict()
    config.algo = "ppo"  # 'ppo' (config.ppo) or 'sac' (config.sac; Box actions)
    config.env_id = "seals/CartPole-v0"  # a JAX port (envs.ENV_IDS) or any Gymnasium id
    config.env_backend = "auto"  # 'auto' (JAX port if any), 'jax', 'gymnasium(_async)', 'envpool'
    config.env_kwargs = ml_collections.ConfigDict()  # passed to envs.make(env_id, **env_kwargs)
    # Brax's training wrapper (cheaper to compile and step; each env replays one start).
    config.reset_to_first_state = False  # True: envs restart from their first start (JAX)
    config.seed = 0  # one seed fixes everything: init, env resets, sampling, shuffling
    config.total_timesteps = 1_000_000  # env steps to train for (rounded up to whole iterations)
    config.normalize_reward = True  # VecNormalize-style reward scaling by the return's std
    config.normalize_kwargs = ml_collections.ConfigDict(  # SB3 VecNormalize kwargs
        {
            "norm_obs": False,  # policy-owned running observation normalization
            "clip_obs": 10.0,  # normalized observations are clipped to +-clip_obs
            "clip_reward": 10.0,  # normalized rewards are clipped to +-clip_reward
            "gamma": 0.99,  # discount of the return whose variance scales rewards
            "epsilon": 1e-8,  # added to variances before the square root
        }
    )
    config.n_episodes_eval = 50  # episodes of the final policy behind the returned stats
    config.policy_save_interval = 10_000  # env timesteps between policy + rollout saves; <= 0: off
    config.policy_save_final = True  # save the final policy to policies/final/
    config.rollout_save_final = True  # save final-policy rollouts to rollouts/final.npz
    config.rollout_save_n_timesteps = config_dict.placeholder(int)  # min steps per rollout file
    config.rollout_save_n_episodes = config_dict.placeholder(int)  # exact episodes per file
    config.rollout_deterministic = False  # rollouts take the policy's mode instead of sampling
    config.agent_path = config_dict.placeholder(str)  # policy dir to warm-start from; None: fresh
    config.checkpoint_interval = 10_000  # env timesteps between full TrainState checkpoints
    config.num_seeds = 1  # S > 1 trains seeds seed..seed+S-1 in one vmapped program
    config.num_devices = config_dict.placeholder(int)  # devices to shard envs over; None: all
    config.max_to_keep = 3  # newest TrainState checkpoints kept under checkpoints/
    config.reward_type = config_dict.placeholder(str)  # a load_reward type; None: env's reward
    config.reward_path = config_dict.placeholder(str)  # saved reward-net directory for reward_type
    config.load_reward_kwargs = ml_collections.ConfigDict(  # passed to load_reward; None: unset
        {
            "alpha": config_dict.placeholder(float),  # RewardNet_std_added: mean + alpha * std
            "update_stats": config_dict.placeholder(bool),  # RewardNet_normalized: live stats
        }
    )
    config.log_interval = 1  # iterations (PPO rollouts, SAC train_freq cycles) per log point

    config.ppo = ppo = ml_collections.ConfigDict()  # SB3 PPO + policy hyperparameters
    ppo.n_envs = 8  # parallel environments (SB3 / imitation num_vec)
    ppo.n_steps = 256  # steps per env per iteration; batch = n_envs * n_steps
    ppo.batch_size = 64  # minibatch size; must divide n_envs * n_steps
    ppo.n_epochs = 10  # passes over each batch
    ppo.learning_rate = 3e-4  # Adam step size (initial value for a linear schedule)
    ppo.lr_schedule = "constant"  # 'constant' or 'linear' (SB3 lin_: decays to 0 at the end)
    ppo.gamma = 0.99  # discount
    ppo.gae_lambda = 0.95  # GAE lambda
    ppo.clip_range = 0.2  # PPO ratio clip
    ppo.clip_range_vf = config_dict.placeholder(float)  # value clip around old values; None: off
    ppo.ent_coef = 0.0  # entropy bonus weight
    ppo.vf_coef = 0.5  # value loss weight
    ppo.max_grad_norm = config_dict.FieldReference(0.5, float)  # grad-norm clip; None: off
    ppo.normalize_advantage = True  # per-minibatch advantage standardization
    ppo.net_arch = ml_collections.ConfigDict({"pi": (32, 32), "vf": (32, 32)})  # hidden sizes
    ppo.activation = "tanh"  # one of networks.ACTIVATIONS
    ppo.ortho_init = True  # orthogonal init with SB3's gains
    ppo.log_std_init = 0.0  # initial log std of Gaussian policies
    ppo.distribution = "gaussian"  # Box actions: 'gaussian' (SB3) or 'tanh_normal' (Brax)
    ppo.policy = "mlp"  # 'mlp' (SB3 MlpPolicy) or 'cnn' (CnnPolicy; uint8 image observations)
    ppo.cnn = "nature"  # policy='cnn' torso: 'nature' (SB3 NatureCNN, 84x84) or 'minatar' (10x10)
    ppo.share_features_extractor = True  # policy='cnn': one torso for both heads (SB3 default)
    ppo.unroll_length = config_dict.placeholder(int)  # Brax: GAE per minibatch; None: SB3
    ppo.reward_scale = 1.0  # Brax reward_scaling: training reward multiplier

    config.sac = sac = ml_collections.ConfigDict()  # SB3 SAC hyperparameters (algo='sac')
    sac.n_envs = 1  # parallel environments; each env step adds n_envs transitions
    sac.buffer_size = 1_000_000  # replay capacity in transitions (each env keeps // n_envs)
    sac.learning_starts = 100  # transitions of uniform random actions before any update
    sac.batch_size = 256  # transitions per gradient step (a multiple of n_envs)
    sac.tau = 0.005  # Polyak coefficient of the target critics' update
    sac.gamma = 0.99  # discount
    sac.train_freq = 1  # vectorized env steps between rounds of gradient steps
    sac.gradient_steps = 1  # gradient steps per round; -1: one per transition collected
    sac.learning_rate = 3e-4  # Adam step size of actor, critics and entropy coefficient
    sac.lr_schedule = "constant"  # 'constant' or 'linear' (SB3 lin_: decays to 0 at the end)
    sac.ent_coef = _str_or_float("auto")  # 'auto' (learned, from 1), 'auto_<init>', or a float
    sac.target_entropy = _str_or_float("auto")  # 'auto': -dim(A); 'auto_<k>': -k dim(A)
    sac.target_update_interval = 1  # gradient steps between target-critic updates
    sac.net_arch = ml_collections.ConfigDict({"pi": (256, 256), "qf": (256, 256)})  # hidden
    sac.activation = "relu"  # one of networks.ACTIVATIONS
    sac.policy = "mlp"  # 'mlp' or 'cnn' (uint8 images): actor and critics each get a torso
    sac.cnn = "nature"  # policy='cnn' torso: 'nature' (SB3 NatureCNN, 84x84) or 'minatar'
    sac.use_sde = False  # SB3's generalized state-dependent exploration: not supported
    sac.reward_scale = 1.0  # Brax reward_scaling: training reward multiplier
    # False: light checkpoints without the replay buffer; a resume then refills
    # learning_starts transitions with the restored policy before training on.
    sac.checkpoint_buffer = True  # checkpoints hold the replay buffer: bit-exact resume
    return config


def _str_or_float(value: str) -> config_dict.FieldReference:
    """A field that takes a string ('auto') or a number, from config files and flags alike."""
    return config_dict.FieldReference(value, object)


def n_envs(config: ml_collections.ConfigDict) -> int:
    """Parallel environments of the config's algorithm."""
    return config[config.algo].n_envs


def sb3_config(
    env_id: str,
    *,
    total_timesteps: int,
    n_steps: int,
    batch_size: int,
    n_epochs: int,
    learning_rate: float,
    gamma: float,
    gae_lambda: float,
    clip_range: float,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float,
    activation: str,
    n_envs: int = 1,
    hidden: tuple[int, ...] = (64, 64),
    normalize_reward: bool = False,
    backend: str = "positional",
) -> ml_collections.ConfigDict:
    """A config from imitation's tuned SB3 PPO values, in SB3's names.

    imitation's named configs list exactly these fields; policy and value
    heads share the `hidden` sizes. A Brax body (seals' MuJoCo variants) runs
    the `backend` physics pipeline with seals' fixed 1000-step horizon.
    """
    config = base_config()
    config.env_id = env_id
    if envs.is_brax(env_id):
        config.env_kwargs = ml_collections.ConfigDict(
            {"backend": backend, "episode_length": 1000, "action_repeat": 1}
        )
        config.n_episodes_eval = 16
    config.total_timesteps = total_timesteps
    config.normalize_reward = normalize_reward
    ppo = config.ppo
    ppo.n_envs = n_envs
    ppo.n_steps = n_steps
    ppo.batch_size = batch_size
    ppo.n_epochs = n_epochs
    ppo.learning_rate = learning_rate
    ppo.gamma = gamma
    ppo.gae_lambda = gae_lambda
    ppo.clip_range = clip_range
    ppo.ent_coef = ent_coef
    ppo.vf_coef = vf_coef
    ppo.max_grad_norm = max_grad_norm
    ppo.net_arch.pi = hidden
    ppo.net_arch.vf = hidden
    ppo.activation = activation
    return config


def brax_config(
    env_id: str,
    *,
    total_timesteps: int,
    num_envs: int,
    batch_size: int,
    unroll_length: int,
    num_minibatches: int,
    num_updates_per_batch: int,
    reward_scaling: float,
    discounting: float,
    entropy_cost: float,
    learning_rate: float = 3e-4,
    episode_length: int = 1000,
    action_repeat: int = 1,
    backend: str = "positional",
) -> ml_collections.ConfigDict:
    """A config from Brax's published PPO settings, in Brax's own names.

    Brax collects batch_size * num_minibatches unrolls of unroll_length steps
    per update, num_envs at a time; in SB3's names that is n_steps =
    unroll_length * batch_size * num_minibatches / num_envs per env, one
    minibatch = batch_size * unroll_length steps, n_epochs =
    num_updates_per_batch; Brax's num_timesteps counts physics steps, ours
    env steps of action_repeat physics steps each. Networks, GAE and clipping
    are Brax's defaults: policy (32,) * 4, value (256,) * 5, swish, lambda
    0.95, clip 0.3, observation normalization on, no gradient clipping (with
    large reward scales the value loss would otherwise shrink the policy's
    gradients). Brax's algorithm where it changes learning: a tanh-squashed
    Normal policy with a state-dependent scale (`ppo.distribution`),
    advantages recomputed for every minibatch of whole unrolls with the
    current critic (`ppo.unroll_length`), and envs that restart from their
    first initial state (`reset_to_first_state`).
    """
    unrolls = batch_size * num_minibatches
    if unrolls % num_envs:
        raise ValueError(f"batch_size * num_minibatches = {unrolls} must divide by {num_envs}")
    config = base_config()
    config.env_id = env_id
    config.env_kwargs = ml_collections.ConfigDict(
        {"backend": backend, "episode_length": episode_length, "action_repeat": action_repeat}
    )
    config.total_timesteps = total_timesteps // action_repeat  # Brax counts physics steps
    config.normalize_reward = False  # Brax scales rewards instead (ppo.reward_scale)
    config.normalize_kwargs.norm_obs = True
    config.reset_to_first_state = True  # Brax's AutoResetWrapper
    config.n_episodes_eval = 16
    config.log_interval = 1
    config.policy_save_interval = config.total_timesteps // 10  # ten policy saves per run
    config.checkpoint_interval = config.total_timesteps // 10  # and ten resume points
    ppo = config.ppo
    ppo.n_envs = num_envs
    ppo.n_steps = unroll_length * unrolls // num_envs
    ppo.batch_size = batch_size * unroll_length
    ppo.n_epochs = num_updates_per_batch
    ppo.learning_rate = learning_rate
    ppo.gamma = discounting
    ppo.gae_lambda = 0.95
    ppo.clip_range = 0.3
    ppo.ent_coef = entropy_cost
    ppo.vf_coef = 0.5
    ppo.max_grad_norm = None  # Brax clips no gradients
    ppo.net_arch.pi = (32, 32, 32, 32)
    ppo.net_arch.vf = (256, 256, 256, 256, 256)
    ppo.activation = "silu"
    ppo.reward_scale = reward_scaling
    ppo.distribution = "tanh_normal"
    ppo.unroll_length = unroll_length
    return config


def brax_sac_config(
    env_id: str,
    *,
    num_timesteps: int,
    num_envs: int,
    batch_size: int,
    grad_updates_per_step: int,
    reward_scaling: float,
    discounting: float,
    learning_rate: float,
    min_replay_size: int,
    max_replay_size: int,
    episode_length: int = 1000,
    action_repeat: int = 1,
    normalize_observations: bool = True,
    backend: str = "positional",
) -> ml_collections.ConfigDict:
    """A SAC config from Brax's published SAC settings, in Brax's own names.

    Brax's SAC steps num_envs envs once, then makes grad_updates_per_step
    gradient steps (SB3: train_freq 1, gradient_steps); its buffer holds
    max_replay_size transitions (buffer_size) and is filled with
    min_replay_size before learning starts (learning_starts; Brax fills it with
    its initial policy, SB3 and we with uniform random actions). Networks and
    entropy tuning are Brax's defaults: (256, 256) ReLU actor and twin critics,
    tau 0.005, a learned entropy coefficient from 1 aiming at -dim(A) / 2.
    Envs restart from their first initial state, as Brax's training wrapper.
    """
    config = base_config()
    config.algo = "sac"
    config.env_id = env_id
    config.env_kwargs = ml_collections.ConfigDict(
        {"backend": backend, "episode_length": episode_length, "action_repeat": action_repeat}
    )
    config.total_timesteps = num_timesteps // action_repeat  # Brax counts physics steps
    config.normalize_reward = False  # Brax scales rewards instead (sac.reward_scale)
    config.reset_to_first_state = True  # Brax's AutoResetWrapper
    config.normalize_kwargs.norm_obs = normalize_observations
    config.n_episodes_eval = 16
    config.policy_save_interval = config.total_timesteps // 10  # ten policy saves per run
    config.checkpoint_interval = config.total_timesteps // 10  # and ten resume points
    config.log_interval = max(1, config.total_timesteps // (50 * num_envs))  # ~50 log lines
    sac = config.sac
    sac.n_envs = num_envs
    sac.buffer_size = max_replay_size
    sac.learning_starts = min_replay_size
    sac.batch_size = batch_size
    sac.gamma = discounting
    sac.gradient_steps = grad_updates_per_step
    sac.learning_rate = learning_rate
    sac.target_entropy = "auto_0.5"
    sac.reward_scale = reward_scaling
    return config


def _schema_keys(node: Any, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in node.items():
        path = f"{prefix}{name}"
        if isinstance(value, ml_collections.ConfigDict) and name != "env_kwargs":
            keys |= _schema_keys(value, path + ".")
        else:
            keys.add(path)
    return keys


def apply_overrides(
    config: ml_collections.ConfigDict, overrides: Mapping[str, Any], prefix: str = ""
) -> None:
    """Sets `overrides` in place; nested mappings (`ppo={...}`) merge; unknown keys fail."""
    for name, value in overrides.items():
        if name not in config:
            raise ValueError(
                f"unknown config field {name!r}"
                + (f" under {prefix.rstrip('.')}" if prefix else "")
                + f"; known fields: {sorted(config.keys())}"
            )
        current = config[name]
        if isinstance(current, ml_collections.ConfigDict) and isinstance(value, Mapping):
            if name == "env_kwargs":
                config[name] = ml_collections.ConfigDict(dict(value))
            else:
                apply_overrides(current, value, f"{prefix}{name}.")
            continue
        if isinstance(value, bool) and config.get_type(name) in (int, float):
            # ml_collections would quietly turn True into 1.0
            raise ValueError(f"config.{prefix}{name}={value!r} is invalid; must be a number")
        with config.ignore_type():
            config[name] = value


class _Checker:
    """Collects what is wrong with a config field by field."""

    def __init__(self, config: ml_collections.ConfigDict) -> None:
        self.config = config

    def get(self, path: str) -> Any:
        node = self.config
        for part in path.split("."):
            node = node[part]
        return node

    def fail(self, path: str, allowed: str) -> None:
        raise ValueError(f"config.{path}={self.get(path)!r} is invalid; must be {allowed}")

    def integer(self, path: str, minimum: int | None = None) -> None:
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "an int" + (f" >= {minimum}" if minimum is not None else ""))
        if minimum is not None and value < minimum:
            self.fail(path, f"an int >= {minimum}")

    def number(
        self, path: str, low: float | None = None, high: float | None = None, low_open: bool = False
    ) -> None:
        value = self.get(path)
        bounds = f" in {'(' if low_open else '['}{low}, {high}]" if low is not None else ""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(path, "a finite number" + bounds)
        if low is not None and (value < low or (low_open and value == low)):
            self.fail(path, "a finite number" + bounds)
        if high is not None and value > high:
            self.fail(path, "a finite number" + bounds)

    def boolean(self, path: str) -> None:
        if not isinstance(self.get(path), bool):
            self.fail(path, "True or False")

    def choice(self, path: str, allowed: tuple[str, ...]) -> None:
        value = self.get(path)
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.fail(path, f"one of {list(allowed)}{hint}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks every field of a resolved config on its own (no env, file or network is built).

    Raises ValueError naming the field, the value and what is allowed.
    """
    unknown = _schema_keys(config) - _schema_keys(base_config())
    if unknown:
        raise ValueError(
            f"unknown config fields {sorted(unknown)}; known: {sorted(_schema_keys(base_config()))}"
        )
    check = _Checker(config)
    check.choice("env_backend", envs.ENV_BACKENDS)
    if not isinstance(config.env_id, str):
        check.fail("env_id", "an env id string")
    try:
        backend = envs.resolve_backend(config.env_id, config.env_backend)
    except ValueError as e:
        raise ValueError(f"config.env_id={config.env_id!r} is invalid: {e}") from None
    if backend != "jax" and config.num_devices not in (None, 1):
        check.fail("num_devices", f"None or 1: {config.env_id} steps on the host ({backend})")
    check.boolean("reset_to_first_state")
    if backend != "jax" and config.reset_to_first_state:
        check.fail("reset_to_first_state", f"False: {config.env_id} steps on the host ({backend})")
    check.integer("seed", 0)
    check.integer("total_timesteps", 1)
    check.boolean("normalize_reward")
    check.boolean("normalize_kwargs.norm_obs")
    check.number("normalize_kwargs.clip_obs", 0, None, low_open=True)
    check.number("normalize_kwargs.clip_reward", 0, None, low_open=True)
    check.number("normalize_kwargs.gamma", 0, 1)
    check.number("normalize_kwargs.epsilon", 0, None, low_open=True)
    check.integer("n_episodes_eval", 1)
    check.integer("policy_save_interval")
    check.boolean("policy_save_final")
    check.boolean("rollout_save_final")
    check.boolean("rollout_deterministic")
    check.integer("checkpoint_interval")
    check.integer("max_to_keep", 1)
    check.integer("num_seeds", 1)
    if config.num_devices is not None:
        check.integer("num_devices", 1)
    if config.reward_type is not None:
        check.choice("reward_type", REWARD_TYPES)
    if config.load_reward_kwargs.update_stats is not None:
        check.boolean("load_reward_kwargs.update_stats")
    if config.load_reward_kwargs.alpha is not None:
        check.number("load_reward_kwargs.alpha")
    if config.rollout_save_n_timesteps is not None and config.rollout_save_n_episodes is not None:
        check.fail(
            "rollout_save_n_episodes",
            f"None when rollout_save_n_timesteps={config.rollout_save_n_timesteps!r} is set "
            "(set exactly one of them)",
        )
    for field in ("rollout_save_n_timesteps", "rollout_save_n_episodes"):
        if config[field] is not None:
            check.integer(field, 1)
    if config.agent_path is not None and not isinstance(config.agent_path, str):
        check.fail("agent_path", "None or the path of a saved policy directory")
    check.integer("log_interval", 1)
    check.choice("algo", ALGORITHMS)
    if config.algo == "sac":
        _validate_sac(check, config.sac)
        return
    check.integer("ppo.n_envs", 1)
    check.integer("ppo.n_steps", 1)
    check.integer("ppo.batch_size", 2)
    batch = config.ppo.n_envs * config.ppo.n_steps
    if batch % config.ppo.batch_size:
        check.fail(
            "ppo.batch_size",
            f"a divisor of n_envs * n_steps = {config.ppo.n_envs} * {config.ppo.n_steps} = {batch}",
        )
    check.integer("ppo.n_epochs", 1)
    check.number("ppo.learning_rate", 0, None, low_open=True)
    check.choice("ppo.lr_schedule", LR_SCHEDULES)
    check.number("ppo.gamma", 0, 1)
    check.number("ppo.gae_lambda", 0, 1)
    check.number("ppo.clip_range", 0, None, low_open=True)
    if config.ppo.clip_range_vf is not None:
        check.number("ppo.clip_range_vf", 0, None, low_open=True)
    check.number("ppo.ent_coef", 0)
    check.number("ppo.vf_coef", 0)
    if config.ppo.max_grad_norm is not None:
        check.number("ppo.max_grad_norm", 0, None, low_open=True)
    check.boolean("ppo.normalize_advantage")
    for head in ("pi", "vf"):
        _check_sizes(check, f"ppo.net_arch.{head}")
    check.choice("ppo.activation", tuple(ACTIVATIONS))
    check.boolean("ppo.ortho_init")
    check.number("ppo.log_std_init")
    check.choice("ppo.distribution", DISTRIBUTIONS)
    check.choice("ppo.policy", POLICIES)
    check.choice("ppo.cnn", CNNS)
    check.boolean("ppo.share_features_extractor")
    if config.ppo.unroll_length is not None:
        check.integer("ppo.unroll_length", 1)
        unroll = config.ppo.unroll_length
        if config.ppo.n_steps % unroll or config.ppo.batch_size % unroll:
            check.fail(
                "ppo.unroll_length",
                f"None or a divisor of both ppo.n_steps={config.ppo.n_steps} and "
                f"ppo.batch_size={config.ppo.batch_size} (minibatches are whole unrolls)",
            )
    check.number("ppo.reward_scale", 0, None, low_open=True)


def _validate_sac(check: _Checker, sac: ml_collections.ConfigDict) -> None:
    check.integer("sac.n_envs", 1)
    check.integer("sac.buffer_size", sac.n_envs)
    check.integer("sac.learning_starts", 0)
    check.integer("sac.batch_size", 1)
    if sac.batch_size % sac.n_envs:
        check.fail(
            "sac.batch_size",
            f"a multiple of sac.n_envs={sac.n_envs} (each env gives an equal share of a batch)",
        )
    check.number("sac.tau", 0, 1, low_open=True)
    check.number("sac.gamma", 0, 1)
    check.integer("sac.train_freq", 1)
    if sac.gradient_steps != -1:
        check.integer("sac.gradient_steps", 1)
    check.number("sac.learning_rate", 0, None, low_open=True)
    check.choice("sac.lr_schedule", LR_SCHEDULES)
    if entropy_coefficient(sac.ent_coef) is None:
        check.fail(
            "sac.ent_coef", "'auto', 'auto_<initial value>' (e.g. 'auto_0.1') or a float > 0"
        )
    if target_entropy(sac.target_entropy, 1) is None:
        check.fail(
            "sac.target_entropy",
            "'auto' (-dim(A)), 'auto_<scale>' (-scale * dim(A); Brax: 'auto_0.5') or a float",
        )
    check.integer("sac.target_update_interval", 1)
    for head in ("pi", "qf"):
        _check_sizes(check, f"sac.net_arch.{head}")
    check.choice("sac.activation", tuple(ACTIVATIONS))
    check.choice("sac.policy", POLICIES)
    check.choice("sac.cnn", CNNS)
    if sac.use_sde is not False:
        check.fail("sac.use_sde", "False (SB3's gSDE exploration is not implemented)")
    check.number("sac.reward_scale", 0, None, low_open=True)
    check.boolean("sac.checkpoint_buffer")


def entropy_coefficient(ent_coef: Any) -> tuple[bool, float] | None:
    """sac.ent_coef as (learned, initial value); None when it is not a valid setting."""
    if isinstance(ent_coef, int | float) and not isinstance(ent_coef, bool):
        return (False, float(ent_coef)) if math.isfinite(ent_coef) and ent_coef > 0 else None
    scale = _auto_scale(ent_coef)
    return None if scale is None else (True, scale)


def target_entropy(setting: Any, action_dim: int) -> float | None:
    """sac.target_entropy as a number for an action of `action_dim` dimensions (None: invalid)."""
    if isinstance(setting, int | float) and not isinstance(setting, bool):
        return float(setting) if math.isfinite(setting) else None
    scale = _auto_scale(setting)
    return None if scale is None else -scale * action_dim


def _auto_scale(setting: Any) -> float | None:
    """'auto' -> 1.0, 'auto_<x>' -> x (a finite x > 0); anything else None."""
    if setting == "auto":
        return 1.0
    if not isinstance(setting, str) or not setting.startswith("auto_"):
        return None
    try:
        value = float(setting.removeprefix("auto_"))
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _check_sizes(check: _Checker, path: str) -> None:
    sizes = check.get(path)
    if not isinstance(sizes, tuple | list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        check.fail(path, "a sequence of positive ints, e.g. (64, 64)")


def rollout_request(config: ml_collections.ConfigDict) -> tuple[int | None, int | None]:
    """(n_timesteps, n_episodes) per rollout file; imitation's default is 2000 timesteps."""
    if config.rollout_save_n_timesteps is None and config.rollout_save_n_episodes is None:
        return 2000, None
    return config.rollout_save_n_timesteps, config.rollout_save_n_episodes
