"""PPO pieces against references, and whole-program determinism."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import config as config_lib
from jaxrl_expert import ppo
from jaxrl_expert.networks import ActionDistribution


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
    gauss = ActionDistribution(False, jnp.array([0.5, -1.0]), jnp.log(jnp.array([2.0, 0.5])))
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
    cat = ActionDistribution(True, jnp.log(jnp.asarray(probs)), jnp.zeros(()))
    np.testing.assert_allclose(cat.log_prob(jnp.int32(2)), math.log(0.5), rtol=1e-6)
    np.testing.assert_allclose(cat.entropy(), -(probs * np.log(probs)).sum(), rtol=1e-6)
    assert int(cat.mode()) == 2


@pytest.fixture(scope="module")
def tiny_pendulum():
    config = config_lib.base_config()
    config_lib.apply_overrides(
        config,
        {
            "env_id": "Pendulum-v1",
            "total_timesteps": 256,
            "normalize_kwargs": {"norm_obs": True},
            "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 32, "n_epochs": 2},
        },
    )
    env = config_lib.validate(config)
    trainer = ppo.make_train(config, env)
    return jax.jit(trainer.init), jax.jit(trainer.train)


def test_same_seed_gives_identical_training_and_another_seed_differs(tiny_pendulum):
    init, train = tiny_pendulum
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
    init, train = tiny_pendulum
    state = init(jax.random.PRNGKey(3))
    whole, _ = train(state, 2)
    half, _ = train(state, 1)
    split, _ = train(half, 1)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(split), strict=True):
        np.testing.assert_array_equal(a, b)
