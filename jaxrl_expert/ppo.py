"""PPO as pure functions over one `TrainState` pytree (SB3's algorithm and names).

`make_train(config, env)` returns `init(key) -> TrainState` and
`train(state, n_iterations) -> (state, metrics)`: one jittable program that
runs whole PPO iterations (rollout scan, GAE, shuffled minibatch epochs) with
no host sync. Read `iteration` top to bottom for the algorithm.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from jaxrl_expert.envs import Env, EnvState
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


@struct.dataclass
class TrainState:
    """Everything that changes during training."""

    params: Any  # actor-critic parameters
    opt_state: Any  # optimizer state (Adam moments, step count)
    obs_rms: RunningMeanStd  # policy-owned observation statistics
    reward_norm: RewardNormState  # VecNormalize reward statistics (training only)
    env_state: EnvState  # the n_envs environments, batched
    key: jax.Array
    iteration: jax.Array  # PPO iterations done (int32; timesteps = iteration * batch)


class Transition(NamedTuple):
    """One vectorized env step, as the rollout scan stacks it to (n_steps, n_envs, ...)."""

    obs: jax.Array  # raw observation the action was chosen on
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array  # training reward (normalized when normalize_reward)
    done: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array  # totals of the trained-on reward, valid where done
    true_episode_return: jax.Array  # ground-truth totals, valid where done
    episode_length: jax.Array


METRIC_NAMES = (*EPISODE_METRICS, "policy_loss", "value_loss", "entropy", "approx_kl",
                "clip_fraction", *COUNTS)  # fmt: skip


def steps_per_iteration(config: ml_collections.ConfigDict) -> int:
    """Environment steps per PPO iteration (its batch)."""
    return config.ppo.n_envs * config.ppo.n_steps


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    ppo = config.ppo
    updates_per_iteration = ppo.n_epochs * (steps_per_iteration(config) // ppo.batch_size)

    def learning_rate(count: jax.Array) -> jax.Array:
        if ppo.lr_schedule == "constant":
            return jnp.asarray(ppo.learning_rate, jnp.float32)
        # SB3: lr * progress_remaining, with progress measured after each rollout.
        iteration = count // updates_per_iteration + 1
        return ppo.learning_rate * progress_remaining(
            iteration, steps_per_iteration(config), config.total_timesteps
        )

    adam = optax.adam(learning_rate, eps=1e-5)  # SB3's Adam epsilon
    if ppo.max_grad_norm is None:
        return adam
    return optax.chain(optax.clip_by_global_norm(ppo.max_grad_norm), adam)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    last_value: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimation over the time axis; returns (advantages, returns)."""

    def backward(carry, step):
        next_advantage, next_value = carry
        reward, value, done = step
        nonterminal = 1.0 - done
        delta = reward + gamma * next_value * nonterminal - value
        advantage = delta + gamma * gae_lambda * nonterminal * next_advantage
        return (advantage, value), advantage

    init = (jnp.zeros_like(last_value), last_value)
    _, advantages = jax.lax.scan(backward, init, (rewards, values, dones), reverse=True)
    return advantages, advantages + values


def segment_gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    bootstrap_value: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """GAE over a batch of unrolls shaped (unrolls, length); bootstrapped after each one."""
    advantages, returns = gae(rewards.T, values.T, dones.T, bootstrap_value, gamma, gae_lambda)
    return advantages.T, returns.T


def ppo_loss(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    values: jax.Array,
    old_values: jax.Array,
    returns: jax.Array,
    entropy: jax.Array,
    *,
    clip_range: float,
    clip_range_vf: float | None,
    ent_coef: float,
    vf_coef: float,
    normalize_advantage: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SB3's PPO loss on one minibatch: clipped surrogate + value error - entropy bonus.

    Inputs are flat per-sample arrays: the current policy's log-probabilities,
    values and entropies, and what the rollout recorded. Returns (loss, stats).
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    if normalize_advantage:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_range, 1.0 + clip_range)
    policy_loss = -jnp.mean(jnp.minimum(advantages * ratio, advantages * clipped_ratio))
    if clip_range_vf is not None:
        values = old_values + jnp.clip(values - old_values, -clip_range_vf, clip_range_vf)
    value_loss = jnp.mean(jnp.square(returns - values))
    entropy = jnp.mean(entropy)
    loss = policy_loss - ent_coef * entropy + vf_coef * value_loss
    stats = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > clip_range),
    }
    return loss, stats


class Unroll(NamedTuple):
    """`unroll_length` consecutive steps of one env: what the per-minibatch GAE reads."""

    obs: jax.Array  # (length, ...) raw observations
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array  # rollout-time values (for clip_range_vf)
    reward: jax.Array  # training reward, truncations already bootstrapped
    done: jax.Array
    bootstrap_obs: jax.Array  # the observation after the unroll's last step


def make_train(config: ml_collections.ConfigDict, env: Env) -> Trainer:
    """Builds the pure PPO functions for a validated config."""
    ppo = config.ppo
    norm = config.normalize_kwargs
    policy = PolicySpec.from_config(config, env)
    optimizer = make_optimizer(config)
    n_minibatches = steps_per_iteration(config) // ppo.batch_size
    unroll_length = ppo.unroll_length  # None: SB3 (GAE once per iteration over n_steps)
    sampled_entropy = policy.network.distribution == "tanh_normal"
    loss_options = {
        "clip_range": ppo.clip_range,
        "clip_range_vf": ppo.clip_range_vf,
        "ent_coef": ppo.ent_coef,
        "vf_coef": ppo.vf_coef,
        "normalize_advantage": ppo.normalize_advantage,
    }

    def init(key: jax.Array) -> TrainState:
        key, net_key, env_key = jax.random.split(key, 3)
        params = policy.init_params(net_key)
        env_state = jax.vmap(env.reset)(jax.random.split(env_key, ppo.n_envs))
        return TrainState(
            params=params,
            opt_state=optimizer.init(params),
            obs_rms=policy.init_obs_rms(),
            reward_norm=RewardNormState.create(ppo.n_envs),
            env_state=env_state,
            key=key,
            iteration=jnp.zeros((), jnp.int32),
        )

    def rollout_step(carry, _):
        state, key = carry
        key, action_key = jax.random.split(key)
        obs = state.env_state.obs
        dist, value = policy.apply(state.params, state.obs_rms, obs)
        action = dist.sample(action_key)
        sent = policy.env_action(dist, action)
        next_env, reward_norm, reward = step_envs(env, config, ppo.reward_scale, state, sent)
        transition = Transition(
            obs=obs,
            action=action,
            log_prob=dist.log_prob(action),
            value=value,
            reward=reward,
            done=next_env.done,
            truncated=next_env.truncated,
            final_obs=next_env.final_obs,
            episode_return=next_env.episode_return,
            true_episode_return=next_env.true_episode_return,
            episode_length=next_env.episode_length,
        )
        state = state.replace(env_state=next_env, reward_norm=reward_norm)
        return (state, key), transition

    def entropy_of(dist, key):
        return dist.entropy(key) if sampled_entropy else dist.entropy()

    def step_loss(params, obs_rms, minibatch, key):
        """Loss on shuffled steps whose advantages were computed at rollout time."""
        batch, advantages, returns = minibatch
        dist, values = policy.apply(params, obs_rms, batch.obs)
        return ppo_loss(
            dist.log_prob(batch.action),
            batch.log_prob,
            advantages,
            values,
            batch.value,
            returns,
            entropy_of(dist, key),
            **loss_options,
        )

    def unroll_loss(params, obs_rms, unrolls: Unroll, key):
        """Brax's loss: advantages recomputed over each unroll with the current critic."""
        dist, values = policy.apply(params, obs_rms, unrolls.obs)
        _, bootstrap = policy.apply(params, obs_rms, unrolls.bootstrap_obs)
        advantages, returns = jax.lax.stop_gradient(
            segment_gae(unrolls.reward, values, unrolls.done, bootstrap, ppo.gamma, ppo.gae_lambda)
        )
        flat = lambda x: x.reshape(-1)
        return ppo_loss(
            flat(dist.log_prob(unrolls.action)),
            flat(unrolls.log_prob),
            flat(advantages),
            flat(values),
            flat(unrolls.value),
            flat(returns),
            flat(entropy_of(dist, key)),
            **loss_options,
        )

    loss_fn = step_loss if unroll_length is None else unroll_loss

    def minibatch_update(carry, minibatch_and_key):
        params, opt_state, obs_rms = carry
        minibatch, key = minibatch_and_key
        grads, stats = jax.grad(loss_fn, has_aux=True)(params, obs_rms, minibatch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state, obs_rms), stats

    def epoch(carry, key):
        params, opt_state, obs_rms, data = carry
        n_samples = jax.tree.leaves(data)[0].shape[0]  # steps, or unrolls
        if sampled_entropy:
            key, entropy_key = jax.random.split(key)
            loss_keys = jax.random.split(entropy_key, n_minibatches)
        else:
            loss_keys = jnp.zeros((n_minibatches,), jnp.uint32)  # unused
        permutation = jax.random.permutation(key, n_samples)
        per_minibatch = n_samples // n_minibatches
        shuffled = jax.tree.map(
            lambda x: x[permutation].reshape((n_minibatches, per_minibatch, *x.shape[1:])), data
        )
        (params, opt_state, _), stats = jax.lax.scan(
            minibatch_update, (params, opt_state, obs_rms), (shuffled, loss_keys)
        )
        return (params, opt_state, obs_rms, data), stats

    def step_batch(state: TrainState, traj: Transition, rewards: jax.Array):
        """Steps with GAE over all n_steps at rollout time (SB3), flattened for shuffling."""
        last_value = policy.apply(state.params, state.obs_rms, state.env_state.obs)[1]
        advantages, returns = gae(
            rewards, traj.value, traj.done, last_value, ppo.gamma, ppo.gae_lambda
        )
        return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), (traj, advantages, returns))

    def unroll_batch(state: TrainState, traj: Transition, rewards: jax.Array) -> Unroll:
        """The rollout cut into unrolls of unroll_length steps per env, unrolls first."""
        next_obs = jnp.concatenate([traj.obs[1:], state.env_state.obs[None]])
        steps = Unroll(
            traj.obs, traj.action, traj.log_prob, traj.value, rewards, traj.done, next_obs
        )

        def cut(x):  # (n_steps, n_envs, ...) -> (n_envs * n_unrolls, unroll_length, ...)
            x = x.reshape((-1, unroll_length, *x.shape[1:]))
            return jnp.swapaxes(x, 1, 2).reshape((-1, unroll_length, *x.shape[3:]))

        unrolls = jax.tree.map(cut, steps)
        return unrolls._replace(bootstrap_obs=unrolls.bootstrap_obs[:, -1])

    def iteration(state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        # 1. Collect n_steps from each of the n_envs environments.
        (state, _), traj = jax.lax.scan(
            rollout_step, (state, rollout_key), None, length=ppo.n_steps
        )
        # 2. Bootstrap truncated episodes from their true final observation (SB3).
        final_values = policy.apply(state.params, state.obs_rms, traj.final_obs)[1]
        rewards = traj.reward + ppo.gamma * final_values * traj.truncated
        # 3. Advantages (now, or per minibatch), then n_epochs of shuffled minibatch updates.
        data = step_batch if unroll_length is None else unroll_batch
        (params, opt_state, _, _), losses = jax.lax.scan(
            epoch,
            (state.params, state.opt_state, state.obs_rms, data(state, traj, rewards)),
            jax.random.split(epoch_key, ppo.n_epochs),
        )
        # 4. The policy's observation statistics absorb this batch for the next rollout.
        obs_rms = state.obs_rms.update(traj.obs) if norm.norm_obs else state.obs_rms
        state = state.replace(
            params=params,
            opt_state=opt_state,
            obs_rms=obs_rms,
            key=key,
            iteration=state.iteration + 1,
        )
        metrics = {
            **episode_metrics(traj.done, traj),
            **{name: jnp.mean(value) for name, value in losses.items()},
            "iterations": jnp.ones((), jnp.float32),
            "updates": jnp.ones((), jnp.float32),
        }
        return state, metrics

    checked = lambda state: (state.params, state.obs_rms, state.reward_norm)
    train = make_chunk(iteration, METRIC_NAMES, checked)
    return Trainer(init=init, train=train, policy=policy)
