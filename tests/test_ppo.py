"""PPO pieces against references, and whole-program determinism."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import config as config_lib
from jaxrl_expert import ppo
from jaxrl_expert.networks import ActionDistribution
from jaxrl_expert.train_rl import make_env


def numpy_gae(rewards, values, dones, last_value, gamma, lam):
    advantages = np.zeros_like(rewards)
    next_advantage, next_value = np.zeros_like(last_value), last_value
    for t in reversed(range(len(rewards))):
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        next_advantage = delta + gamma * lam * nonterminal * next_advantage
        advantages[t], next_value = next_advantage, values[t]
    return advantages


def test_gae_matches_numpy_reference_and_stops_at_episode_ends():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(2, 16, 3)).astype(np.float32)
    dones = (rng.random((16, 3)) < 0.2).astype(np.float32)
    last_value = rng.normal(size=3).astype(np.float32)
    advantages, returns = ppo.gae(rewards, values, dones, last_value, 0.9, 0.8)
    expected = numpy_gae(rewards, values, dones, last_value, 0.9, 0.8)
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-5, atol=1e-5)
    # A done step's advantage ignores everything after it.
    t = int(np.argmax(dones[:, 0]))
    assert dones[t, 0] == 1
    np.testing.assert_allclose(advantages[t, 0], rewards[t, 0] - values[t, 0], rtol=1e-5)


def test_gaussian_and_categorical_distributions_match_closed_forms():
    gauss = ActionDistribution("gaussian", jnp.array([0.5, -1.0]), jnp.log(jnp.array([2.0, 0.5])))
    action = jnp.array([1.5, -1.0])
    expected = sum(
        -0.5 * ((a - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        for a, m, s in [(1.5, 0.5, 2.0), (-1.0, -1.0, 0.5)]
    )
    np.testing.assert_allclose(gauss.log_prob(action), expected, rtol=1e-6)
    np.testing.assert_allclose(
        gauss.entropy(),
        sum(0.5 * math.log(2 * math.pi * math.e * s**2) for s in (2.0, 0.5)),
        rtol=1e-6,
    )
    probs = np.array([0.2, 0.3, 0.5])
    cat = ActionDistribution("categorical", jnp.log(jnp.asarray(probs)), jnp.zeros(()))
    np.testing.assert_allclose(cat.log_prob(jnp.int32(2)), math.log(0.5), rtol=1e-6)
    np.testing.assert_allclose(cat.entropy(), -(probs * np.log(probs)).sum(), rtol=1e-6)
    assert int(cat.mode()) == 2


def test_same_seed_gives_identical_training_and_another_seed_differs(tiny_pendulum):
    init, train, _ = tiny_pendulum  # conftest.py
    runs = [train(init(jax.random.PRNGKey(seed)), 2) for seed in (0, 0, 1)]
    leaves = [jax.tree.leaves(state.params) for state, _ in runs]
    for a, b in zip(leaves[0], leaves[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(leaves[0], leaves[2], strict=True))
    state, totals = runs[0]
    assert int(state.iteration) == 2 and float(totals["iterations"]) == 2
    # The policy's observation statistics saw both batches (count starts at 1e-4).
    np.testing.assert_allclose(state.obs_rms.count, 2 * 4 * 32 + 1e-4, rtol=1e-6)


def test_train_chunk_continues_exactly(tiny_pendulum):
    """Two chunks of one iteration equal one chunk of two: chunking is invisible."""
    init, train, _ = tiny_pendulum
    state = init(jax.random.PRNGKey(3))
    whole, _ = train(state, 2)
    half, _ = train(state, 1)
    split, _ = train(half, 1)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(split), strict=True):
        np.testing.assert_array_equal(a, b)


def numpy_sb3_loss(log_prob, old_log_prob, adv, values, old_values, returns, entropy, **hp):
    """SB3's PPO.train loss, transcribed to NumPy (float64)."""
    if hp["normalize_advantage"]:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(log_prob - old_log_prob)
    clipped = np.clip(ratio, 1 - hp["clip_range"], 1 + hp["clip_range"])
    policy_loss = -np.minimum(adv * ratio, adv * clipped).mean()
    if hp["clip_range_vf"] is not None:
        bound = hp["clip_range_vf"]
        values = old_values + np.clip(values - old_values, -bound, bound)
    value_loss = ((returns - values) ** 2).mean()
    return policy_loss - hp["ent_coef"] * entropy.mean() + hp["vf_coef"] * value_loss


@pytest.mark.parametrize("clip_range_vf, normalize_advantage", [(None, True), (0.1, False)])
def test_ppo_loss_matches_numpy_reference_of_sb3(clip_range_vf, normalize_advantage):
    rng = np.random.default_rng(0)
    n = 64
    old_log_prob = rng.normal(size=n)
    batch = (
        old_log_prob + 0.3 * rng.normal(size=n),  # ratios well outside the clip range too
        old_log_prob,
        rng.normal(size=n),
        rng.normal(size=n),
        rng.normal(size=n),
        rng.normal(size=n),
        rng.random(n),
    )
    hp = {
        "clip_range": 0.2,
        "clip_range_vf": clip_range_vf,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "normalize_advantage": normalize_advantage,
    }
    loss, stats = ppo.ppo_loss(*(jnp.asarray(x, jnp.float32) for x in batch), **hp)
    np.testing.assert_allclose(loss, numpy_sb3_loss(*batch, **hp), rtol=1e-5, atol=1e-6)
    ratio = np.exp(batch[0] - batch[1])
    np.testing.assert_allclose(stats["clip_fraction"], np.mean(np.abs(ratio - 1) > 0.2))


def test_tanh_normal_log_prob_includes_the_jacobian_of_tanh():
    loc, std = np.array([0.3, -1.2]), np.array([0.7, 0.2])
    dist = ActionDistribution("tanh_normal", jnp.asarray(loc), jnp.log(jnp.asarray(std)))
    raw = np.array([0.5, -3.0])  # pre-tanh sample; tanh(-3) is near the bound
    normal = -0.5 * ((raw - loc) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    expected = np.sum(normal - np.log(1 - np.tanh(raw) ** 2))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(raw)), expected, rtol=1e-5)
    np.testing.assert_allclose(dist.squash(jnp.asarray(raw)), np.tanh(raw), rtol=1e-6)
    # Entropy: the Normal's plus E[log|d tanh/dx|], estimated from one sample (as Brax).
    key = jax.random.PRNGKey(0)
    sample = np.asarray(dist.sample(key))
    expected = np.sum(0.5 * np.log(2 * np.pi * np.e * std**2) + np.log(1 - np.tanh(sample) ** 2))
    np.testing.assert_allclose(dist.entropy(key), expected, rtol=1e-5)


def test_segment_gae_bootstraps_each_unroll_with_its_own_next_value():
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=(2, 6, 5)).astype(np.float32)  # 6 unrolls of 5 steps
    dones = (rng.random((6, 5)) < 0.2).astype(np.float32)
    bootstrap = rng.normal(size=6).astype(np.float32)
    advantages, returns = ppo.segment_gae(rewards, values, dones, bootstrap, 0.97, 0.95)
    for u in range(6):
        expected = numpy_gae(rewards[u], values[u], dones[u], bootstrap[u], 0.97, 0.95)
        np.testing.assert_allclose(advantages[u], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(returns[u], expected + values[u], rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # ~14 s of Brax compile; the formulas are tested above, bounds in test_envs
def test_brax_options_are_deterministic_and_rescale_actions_to_the_bounds(tiny_pendulum_brax):
    init, train, spec = tiny_pendulum_brax
    a, _ = train(init(jax.random.PRNGKey(0)), 2)
    b, _ = train(train(init(jax.random.PRNGKey(0)), 1)[0], 1)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert "log_std" not in a.params["params"]  # the scale is a network output
    dist, _ = spec.apply(a.params, a.obs_rms, a.env_state.obs)
    raw = dist.sample(jax.random.PRNGKey(1)) * 10.0  # far into tanh's tails
    sent = spec.env_action(dist, raw)  # Pendulum's torque bounds are [-2, 2]
    np.testing.assert_allclose(sent, 2.0 * np.tanh(raw).reshape(sent.shape), rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_pendulum_brax():
    config = config_lib.base_config()
    config_lib.apply_overrides(
        config,
        {
            "env_id": "Pendulum-v1",
            "total_timesteps": 256,
            "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 16, "n_epochs": 2,
                    "distribution": "tanh_normal", "unroll_length": 8},
        },
    )  # fmt: skip
    config_lib.validate(config)
    trainer = ppo.make_train(config, make_env(config))
    return jax.jit(trainer.init), jax.jit(trainer.train), trainer.policy


@pytest.mark.slow
def test_brax_options_learn_inverted_pendulum_deterministically():
    """tanh_normal + per-minibatch GAE over unrolls: a short run improves and repeats exactly."""
    config = config_lib.brax_config(
        "brax/inverted_pendulum",
        total_timesteps=16 * 40 * 6,
        num_envs=16,
        batch_size=8,
        unroll_length=5,
        num_minibatches=16,
        num_updates_per_batch=4,
        reward_scaling=10.0,
        discounting=0.97,
        entropy_cost=1e-2,
        episode_length=100,
        backend="positional",
    )
    config_lib.apply_overrides(config, {"ppo": {"net_arch": {"pi": (32, 32), "vf": (64, 64)}}})
    config_lib.validate(config)
    assert (config.ppo.distribution, config.ppo.unroll_length) == ("tanh_normal", 5)
    assert config.reset_to_first_state
    trainer = ppo.make_train(config, make_env(config))
    init, train = jax.jit(trainer.init), jax.jit(trainer.train)
    a, first = train(init(jax.random.PRNGKey(0)), 1)
    a, later = train(train(a, 4)[0], 1)
    b, _ = train(init(jax.random.PRNGKey(0)), 6)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    mean_length = lambda m: float(m["episode_length_sum"] / m["episodes"])
    assert mean_length(later) > 1.5 * mean_length(first)
    # Actions reach the env squashed into the [-1, 1] bounds.
    dist, _ = trainer.policy.apply(a.params, a.obs_rms, a.env_state.obs)
    sent = trainer.policy.env_action(dist, dist.sample(jax.random.PRNGKey(1)))
    assert float(jnp.max(jnp.abs(sent))) <= 1.0


def test_linear_schedule_beyond_two_billion_timesteps_compiles_and_decays():
    config = config_lib.base_config()
    config_lib.apply_overrides(
        config, {"total_timesteps": 3_000_000_000, "ppo": {"lr_schedule": "linear"}}
    )
    config_lib.validate(config)
    optimizer = ppo.make_optimizer(config)
    params = {"w": jnp.ones(3)}
    update = jax.jit(optimizer.update)
    updates, _ = update({"w": jnp.ones(3)}, optimizer.init(params), params)
    # Adam's first step moves each parameter by the learning rate.
    step = float(-updates["w"][0])
    expected = config.ppo.learning_rate * (1 - ppo.steps_per_iteration(config) / 3_000_000_000)
    assert step == pytest.approx(expected, rel=1e-4)
