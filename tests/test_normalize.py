"""VecNormalize semantics, step by step against a NumPy reference of SB3's algorithm."""

import jax
import numpy as np

from jaxrl_expert.normalize import RewardNormState, RunningMeanStd, normalize_reward


class NumpyRunningMeanStd:
    """SB3's RunningMeanStd, in float64."""

    def __init__(self, shape=()):
        self.mean, self.var, self.count = np.zeros(shape), np.ones(shape), 1e-4

    def update(self, x):
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        new_mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count
        m2 = m2 + delta**2 * self.count * batch_count / total
        self.mean, self.var, self.count = new_mean, m2 / total, total


class NumpyVecNormalizeReward:
    """The reward half of SB3's VecNormalize.step_wait."""

    def __init__(self, n_envs, gamma, epsilon, clip_reward):
        self.returns = np.zeros(n_envs)
        self.rms = NumpyRunningMeanStd()
        self.gamma, self.epsilon, self.clip = gamma, epsilon, clip_reward

    def step(self, rewards, dones):
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        scaled = np.clip(rewards / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)
        self.returns[dones] = 0
        return scaled


def test_reward_normalization_matches_numpy_vecnormalize_step_by_step():
    rng = np.random.default_rng(0)
    n_envs, kwargs = 4, {"gamma": 0.99, "epsilon": 1e-8, "clip_reward": 3.0}
    reference = NumpyVecNormalizeReward(n_envs, **kwargs)
    state = RewardNormState.create(n_envs)
    step = jax.jit(lambda s, r, d: normalize_reward(s, r, d, **kwargs))
    for t in range(200):
        rewards = rng.normal(5.0, 10.0, n_envs).astype(np.float32)
        dones = rng.random(n_envs) < 0.05
        if t == 3:
            rewards[0] = 1e4  # exercises the clip
        expected = reference.step(rewards.astype(np.float64), dones)
        state, scaled = step(state, rewards, dones)
        np.testing.assert_allclose(scaled, expected, rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(state.returns, reference.returns, rtol=2e-4, atol=1e-3)
        np.testing.assert_allclose(state.return_rms.var, reference.rms.var, rtol=2e-4)
    assert np.max(np.abs(np.asarray(scaled))) <= 3.0


def test_running_mean_std_merges_batches_like_one_pass():
    rng = np.random.default_rng(1)
    data = rng.normal([1.0, -2.0, 30.0], [0.5, 3.0, 10.0], size=(1000, 3)).astype(np.float32)
    rms = RunningMeanStd.create((3,))
    for chunk in np.split(data, 10):
        rms = rms.update(chunk)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-3)
    normalized = rms.normalize(data, 1e-8, 10.0)
    np.testing.assert_allclose(np.asarray(normalized).mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.asarray(normalized).std(0), 1.0, rtol=1e-3)
