"""SAC as pure functions over one `SACState` pytree (SB3's algorithm and names).

`make_train(config, env)` returns the same `Trainer` as PPO's. One iteration
steps the n_envs envs `train_freq` times (uniform random actions until
`learning_starts` transitions are stored), adds the transitions to a replay
buffer that lives in the state, then makes `gradient_steps` updates, each
SB3's: twin critics (clipped double-Q), actor (against the updated critics),
entropy coefficient, Polyak-averaged target critics. Read
`iteration` and `gradient_step` top to bottom.

The actor is the policy a policy directory holds (Brax's tanh-squashed Normal
with a state-dependent scale, no value head), so loading, evaluation,
generation and export do not know which algorithm trained it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from jaxrl_expert import config as config_lib
from jaxrl_expert.envs import Env, EnvState
from jaxrl_expert.networks import QNetworks
from jaxrl_expert.normalize import RewardNormState, RunningMeanStd
from jaxrl_expert.policy import PolicySpec
from jaxrl_expert.trainer import (
    COUNTS,
    EPISODE_METRICS,
    Trainer,
    episode_metrics,
    make_chunk,
    progress_remaining,
    step_envs,
)

METRIC_NAMES = (*EPISODE_METRICS, "actor_loss", "critic_loss", "ent_coef", "entropy", *COUNTS)


@struct.dataclass
class ReplayBuffer:
    """A ring buffer of each env's transitions: arrays (n_envs, capacity, ...), env axis
    first, so it shards over devices like the envs."""

    obs: jax.Array  # raw observations (normalized when sampled, with current statistics)
    action: jax.Array  # the actor's squashed action in [-1, 1]: what the critics take
    reward: jax.Array  # training reward (scaled; normalized when normalize_reward)
    next_obs: jax.Array  # the true next observation (the last one where an episode ended)
    terminated: jax.Array  # float 1.0: the env ended the episode (a time limit does not)
    added: jax.Array  # int32: steps added per env so far (the newest is at added - 1)

    @classmethod
    def create(
        cls,
        n_envs: int,
        capacity: int,
        obs_shape: tuple,
        action_dim: int,
        obs_dtype: Any = jnp.float32,
    ) -> ReplayBuffer:
        """Observations are kept in their own dtype (uint8 images stay uint8)."""
        zeros = lambda *shape, dtype=jnp.float32: jnp.zeros((n_envs, capacity, *shape), dtype)
        obs = zeros(*obs_shape, dtype=obs_dtype)
        return cls(obs, zeros(action_dim), zeros(), obs, zeros(), jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return self.reward.shape[1]

    def add(self, obs, action, reward, next_obs, terminated) -> ReplayBuffer:
        """One vectorized step (arrays (n_envs, ...)), overwriting the oldest when full."""
        position = self.added % self.capacity
        put = lambda buffer, x: buffer.at[:, position].set(x.astype(buffer.dtype))
        return ReplayBuffer(
            put(self.obs, obs),
            put(self.action, action),
            put(self.reward, reward),
            put(self.next_obs, next_obs),
            put(self.terminated, terminated),
            self.added + 1,
        )

    def left_out(self) -> ReplayBuffer:
        """The buffer as a light checkpoint holds it: no stored steps (zero-size arrays)."""
        empty = lambda x: x[:, :0]
        return self.replace(**{name: empty(getattr(self, name)) for name in
                               ("obs", "action", "reward", "next_obs", "terminated")})  # fmt: skip

    def sample(self, key: jax.Array, per_env: int) -> Batch:
        """`per_env` stored steps of every env, uniformly with replacement, flattened."""
        n_envs = self.reward.shape[0]
        size = jnp.minimum(self.added, self.capacity)
        index = jax.random.randint(key, (n_envs, per_env), 0, size)
        take = jax.vmap(lambda x, i: x[i])
        flat = lambda x: take(x, index).reshape((n_envs * per_env, *x.shape[2:]))
        return Batch(*(flat(x) for x in (self.obs, self.action, self.reward, self.next_obs,
                                         self.terminated)))  # fmt: skip


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array


@struct.dataclass
class SACState:
    """Everything that changes during SAC training."""

    params: Any  # the actor (the policy's parameters)
    critic_params: Any  # twin Q networks
    target_critic_params: Any  # their Polyak average
    log_ent_coef: jax.Array  # log of the entropy coefficient (fixed unless learned)
    actor_opt_state: Any
    critic_opt_state: Any
    ent_coef_opt_state: Any
    buffer: ReplayBuffer
    obs_rms: RunningMeanStd  # policy-owned observation statistics
    reward_norm: RewardNormState  # VecNormalize reward statistics (normalize_reward)
    env_state: EnvState  # the n_envs environments, batched
    key: jax.Array
    iteration: jax.Array  # iterations done (int32; timesteps = iteration * n_envs * train_freq)
    gradient_steps: jax.Array  # int32: gradient steps done (target_update_interval counts them)


class EnvStep(NamedTuple):
    """What the collection scan keeps of each vectorized step (for episode metrics)."""

    obs: jax.Array
    done: jax.Array
    episode_return: jax.Array
    true_episode_return: jax.Array
    episode_length: jax.Array


def steps_per_iteration(config: ml_collections.ConfigDict) -> int:
    """Environment steps per SAC iteration (train_freq vectorized steps)."""
    return config.sac.n_envs * config.sac.train_freq


def gradient_steps_per_iteration(config: ml_collections.ConfigDict) -> int:
    """sac.gradient_steps, where -1 means one per transition collected (SB3)."""
    steps = config.sac.gradient_steps
    return steps_per_iteration(config) if steps == -1 else steps


def critic_loss(q_values: jax.Array, target: jax.Array) -> jax.Array:
    """SB3's critic loss: half the sum over critics of each one's mean squared TD error.

    q_values (n_critics, batch); target (batch,) = r + gamma (1 - terminated)
    (min target Q(s', a') - ent_coef log pi(a'|s')), held fixed.
    """
    return 0.5 * jnp.sum(jnp.mean(jnp.square(q_values - target), axis=-1))


def td_target(
    reward: jax.Array,
    terminated: jax.Array,
    next_q_values: jax.Array,
    next_log_prob: jax.Array,
    ent_coef: jax.Array,
    gamma: float,
) -> jax.Array:
    """Soft clipped double-Q target from the target critics' values (n_critics, batch)."""
    next_value = jnp.min(next_q_values, axis=0) - ent_coef * next_log_prob
    return reward + (1.0 - terminated) * gamma * next_value


def actor_loss(q_values: jax.Array, log_prob: jax.Array, ent_coef: jax.Array) -> jax.Array:
    """E[ent_coef log pi(a|s) - min_i Q_i(s, a)] over fresh actions a ~ pi(s)."""
    return jnp.mean(ent_coef * log_prob - jnp.min(q_values, axis=0))


def ent_coef_loss(log_ent_coef: jax.Array, log_prob: jax.Array, target_entropy: float):
    """SB3's entropy-coefficient loss: its gradient raises the coefficient while the
    policy's entropy (-log_prob) is below the target, and lowers it above."""
    return -jnp.mean(log_ent_coef * jax.lax.stop_gradient(log_prob + target_entropy))


def polyak(target: Any, online: Any, tau: float) -> Any:
    """target <- (1 - tau) target + tau online, leaf by leaf."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def make_train(config: ml_collections.ConfigDict, env: Env) -> Trainer:
    """Builds the pure SAC functions for a validated config (Box actions)."""
    sac, norm = config.sac, config.normalize_kwargs
    policy = PolicySpec.from_config(config, env)
    action_dim = math.prod(env.action_space.shape)
    critics = QNetworks(tuple(sac.net_arch.qf), sac.activation, torso=policy.torso,
                        obs_ndim=len(env.observation_space.shape))  # fmt: skip
    optimizer = optax.adam(sac.learning_rate)  # actor, critics and coefficient alike (SB3)
    learn_ent_coef, initial_ent_coef = config_lib.entropy_coefficient(sac.ent_coef)
    target_entropy = config_lib.target_entropy(sac.target_entropy, action_dim)
    n_gradient_steps = gradient_steps_per_iteration(config)
    per_env = sac.batch_size // sac.n_envs
    random_steps = math.ceil(sac.learning_starts / sac.n_envs)  # per env, random actions

    def init(key: jax.Array) -> SACState:
        key, actor_key, critic_key, env_key = jax.random.split(key, 4)
        params = policy.init_params(actor_key)
        obs = jnp.zeros(env.observation_space.shape, jnp.float32)
        critic_params = critics.init(critic_key, obs, jnp.zeros((action_dim,), jnp.float32))
        log_ent_coef = jnp.log(jnp.asarray(initial_ent_coef, jnp.float32))
        capacity = sac.buffer_size // sac.n_envs
        return SACState(
            params=params,
            critic_params=critic_params,
            target_critic_params=critic_params,
            log_ent_coef=log_ent_coef,
            actor_opt_state=optimizer.init(params),
            critic_opt_state=optimizer.init(critic_params),
            ent_coef_opt_state=optimizer.init(log_ent_coef),
            buffer=ReplayBuffer.create(
                sac.n_envs, capacity, obs.shape, action_dim, env.observation_space.dtype
            ),
            obs_rms=policy.init_obs_rms(),
            reward_norm=RewardNormState.create(sac.n_envs),
            env_state=jax.vmap(env.reset)(jax.random.split(env_key, sac.n_envs)),
            key=key,
            iteration=jnp.zeros((), jnp.int32),
            gradient_steps=jnp.zeros((), jnp.int32),
        )

    def collect_step(carry, step_in_iteration):
        state, key = carry
        key, action_key, random_key = jax.random.split(key, 3)
        obs = state.env_state.obs
        dist, _ = policy.apply(state.params, state.obs_rms, obs)
        action = dist.squash(dist.sample(action_key))
        uniform = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
        steps_done = state.iteration * sac.train_freq + step_in_iteration  # per env
        action = jnp.where(steps_done < random_steps, uniform, action)
        sent = policy.unit_to_env(action)
        next_env, reward_norm, reward = step_envs(env, config, sac.reward_scale, state, sent)
        terminated = next_env.done & ~next_env.truncated
        buffer = state.buffer.add(obs, action, reward, next_env.final_obs, terminated)
        step = EnvStep(obs, next_env.done, next_env.episode_return,
                       next_env.true_episode_return, next_env.episode_length)  # fmt: skip
        state = state.replace(env_state=next_env, reward_norm=reward_norm, buffer=buffer)
        return (state, key), step

    def normalized(obs_rms: RunningMeanStd, obs: jax.Array) -> jax.Array:
        return policy.normalize_obs(obs_rms, obs)

    def sampled_action(params, obs_rms, obs, key):
        """A fresh squashed action of the actor and its log-probability."""
        dist, _ = policy.apply(params, obs_rms, obs)
        raw = dist.sample(key)
        return dist.squash(raw), dist.log_prob(raw)

    def adam_step(params, grads, opt_state, fraction):
        updates, opt_state = optimizer.update(grads, opt_state)
        if sac.lr_schedule == "linear":  # Adam's step scaled: the learning rate, decayed
            updates = jax.tree.map(lambda u: fraction * u, updates)
        return optax.apply_updates(params, updates), opt_state

    def gradient_step(state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        """SB3's update. Its entropy-coefficient step needs only the log-probabilities of
        the actor step's fresh actions (from the same, not yet updated actor), so it runs
        last on those: the same numbers as SB3's order, one actor pass fewer."""
        batch_key, action_key, next_key = jax.random.split(key, 3)
        batch = state.buffer.sample(batch_key, per_env)
        obs_rms = state.obs_rms
        obs = normalized(obs_rms, batch.obs)
        ent_coef = jnp.exp(state.log_ent_coef)  # this step's losses use the value before it moves
        fraction = progress_remaining(  # this iteration's env steps are collected
            state.iteration + 1, steps_per_iteration(config), config.total_timesteps
        )
        # 1. The critics, toward the soft clipped double-Q target.
        next_action, next_log_prob = sampled_action(state.params, obs_rms, batch.next_obs, next_key)
        next_q = critics.apply(
            state.target_critic_params, normalized(obs_rms, batch.next_obs), next_action
        )
        target = jax.lax.stop_gradient(
            td_target(batch.reward, batch.terminated, next_q, next_log_prob, ent_coef, sac.gamma)
        )
        q_loss, grads = jax.value_and_grad(
            lambda p: critic_loss(critics.apply(p, obs, batch.action), target)
        )(state.critic_params)
        critic_params, critic_opt_state = adam_step(
            state.critic_params, grads, state.critic_opt_state, fraction
        )

        # 2. The actor, against the updated critics, on fresh actions.
        def policy_loss(params):
            action, log_prob = sampled_action(params, obs_rms, batch.obs, action_key)
            q_values = critics.apply(critic_params, obs, action)
            return actor_loss(q_values, log_prob, ent_coef), log_prob

        (pi_loss, log_prob), grads = jax.value_and_grad(policy_loss, has_aux=True)(state.params)
        params, actor_opt_state = adam_step(state.params, grads, state.actor_opt_state, fraction)
        # 3. The entropy coefficient, toward the target entropy.
        log_ent_coef, ent_coef_opt_state = state.log_ent_coef, state.ent_coef_opt_state
        if learn_ent_coef:
            grad = jax.grad(ent_coef_loss)(log_ent_coef, log_prob, target_entropy)
            log_ent_coef, ent_coef_opt_state = adam_step(
                log_ent_coef, grad, ent_coef_opt_state, fraction
            )
        # 4. The target critics follow every target_update_interval gradient steps.
        gradient_steps = state.gradient_steps + 1
        target_critic_params = jax.tree.map(
            lambda new, old: jnp.where(gradient_steps % sac.target_update_interval == 0, new, old),
            polyak(state.target_critic_params, critic_params, sac.tau),
            state.target_critic_params,
        )
        state = state.replace(
            params=params,
            critic_params=critic_params,
            target_critic_params=target_critic_params,
            log_ent_coef=log_ent_coef,
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
            ent_coef_opt_state=ent_coef_opt_state,
            gradient_steps=gradient_steps,
        )
        losses = {"actor_loss": pi_loss, "critic_loss": q_loss, "ent_coef": ent_coef,
                  "entropy": -jnp.mean(log_prob)}  # fmt: skip
        return state, losses

    def train_networks(state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        state, losses = jax.lax.scan(gradient_step, state, jax.random.split(key, n_gradient_steps))
        return state, {name: jnp.mean(value) for name, value in losses.items()}

    def skip_training(state: SACState, key: jax.Array) -> tuple[SACState, dict]:
        zero = jnp.zeros((), jnp.float32)
        return state, {"actor_loss": zero, "critic_loss": zero, "ent_coef": zero, "entropy": zero}

    def iteration(state: SACState) -> tuple[SACState, dict[str, jax.Array]]:
        key, collect_key, train_key = jax.random.split(state.key, 3)
        # 1. train_freq steps of every env into the replay buffer.
        (state, _), steps = jax.lax.scan(
            collect_step, (state, collect_key), jnp.arange(sac.train_freq)
        )
        # 2. The policy's observation statistics absorb them.
        if norm.norm_obs:
            state = state.replace(obs_rms=state.obs_rms.update(steps.obs))
        # 3. Gradient steps, once more than learning_starts transitions are stored (SB3;
        # after a light resume, the restored policy's transitions refill the buffer first).
        ready = state.buffer.added > sac.learning_starts // sac.n_envs
        state, losses = jax.lax.cond(ready, train_networks, skip_training, state, train_key)
        state = state.replace(key=key, iteration=state.iteration + 1)
        metrics = {
            **episode_metrics(steps.done, steps),
            **losses,
            "iterations": jnp.ones((), jnp.float32),
            "updates": ready.astype(jnp.float32),
        }
        return state, metrics

    def checked(state: SACState) -> Any:
        return (state.params, state.critic_params, state.log_ent_coef, state.obs_rms,
                state.reward_norm)  # fmt: skip

    def saved(state: SACState) -> SACState:
        """A light checkpoint (sac.checkpoint_buffer=False) leaves out the stored steps."""
        return state if sac.checkpoint_buffer else state.replace(buffer=state.buffer.left_out())

    def resumed(fresh: SACState, restored: SACState) -> SACState:
        """From a light checkpoint: the fresh, empty buffer."""
        return restored if sac.checkpoint_buffer else restored.replace(buffer=fresh.buffer)

    train = make_chunk(iteration, METRIC_NAMES, checked)
    return Trainer(init=init, train=train, policy=policy, saved=saved, resumed=resumed)
