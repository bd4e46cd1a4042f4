"""Gymnasium envs stepped on the host: the real seals env, a user's own env, MuJoCo."""

import json
import pathlib
import re

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import checkpoints, devices, envs, layout, load_policy, ppo, rollouts
from jaxrl_expert import config as config_lib
from jaxrl_expert import policy as policy_module
from jaxrl_expert import train_rl as train_rl_module
from jaxrl_expert.envs.base import initial_state
from jaxrl_expert.envs.wrappers import AutoReset, TimeLimit
from jaxrl_expert.eval_policy import evaluate_policy
from jaxrl_expert.generate import generate
from jaxrl_expert.render import render_policy
from jaxrl_expert.train_rl import train_rl

# A user's own env, registered by its module (Gymnasium's `module:EnvId` form): the
# README's example, as written there.
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
(MY_ENV,) = [
    block
    for block in re.findall(r"^```python\n(.*?)^```", README.read_text(), re.M | re.S)
    if "class GoRight" in block
]


@pytest.fixture(scope="module")
def go_right(tmp_path_factory):
    module_dir = tmp_path_factory.mktemp("user_env")
    (module_dir / "my_env.py").write_text(MY_ENV)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(module_dir))
        yield "my_env:GoRight-v0"


@pytest.fixture(scope="module")
def real_seals_run(tmp_path_factory):
    """imitation's seals_cartpole values in the seals package's own env."""
    log_dir = tmp_path_factory.mktemp("gym_seals_cartpole")
    config = config_lib.load_config_file(config_lib.resolve_config_file("gym_seals_cartpole"))
    stats = train_rl(config, log_dir=str(log_dir), n_episodes_eval=10, checkpoint_interval=40_960)
    return log_dir, stats


def test_real_seals_cartpole_trains_to_an_expert(real_seals_run):
    log_dir, stats = real_seals_run
    assert stats["monitor_return_mean"] >= 490
    saved = json.loads((log_dir / "config.json").read_text())
    assert saved["env_backend"] == "gymnasium"
    policy = load_policy(str(log_dir / "policies" / "final"))
    assert policy.metadata["env_backend"] == "gymnasium"
    data = rollouts.load(str(log_dir / "rollouts" / "final.npz"))
    assert sum(len(t.acts) for t in data) >= 2000 and all(len(t.acts) == 500 for t in data)


def test_a_host_trained_expert_plays_as_well_in_our_jax_port(real_seals_run):
    log_dir, _ = real_seals_run
    final = str(log_dir / "policies" / "final")
    jax_port = evaluate_policy(final, n_episodes=5, env_backend="jax")
    real = evaluate_policy(final, n_episodes=5)
    assert jax_port["monitor_return_mean"] >= 490 and real["monitor_return_mean"] >= 490


def test_resume_restores_the_learner_state_exactly_and_restarts_the_episodes(real_seals_run):
    log_dir, _ = real_seals_run
    config = config_lib.load_config_file(config_lib.resolve_config_file("gym_seals_cartpole"))
    config.update_from_flattened_dict({"n_episodes_eval": 10, "checkpoint_interval": 40_960})
    env = train_rl_module.make_env(config)
    trainer = ppo.make_train(config, env).for_seeds(1)
    keys = np.asarray(jax.random.PRNGKey(config.seed))[None]
    abstract = jax.eval_shape(trainer.init, keys)
    sharding = devices.train_state_sharding(abstract, devices.make_mesh(1, 8), True)
    store = checkpoints.TrainCheckpoints(layout.checkpoints_dir(str(log_dir)), 3)
    try:
        at = checkpoints.latest_iteration(layout.checkpoints_dir(str(log_dir)))
        template = jax.tree.map(lambda a: jnp.zeros(a.shape[1:], a.dtype), abstract)
        saved = store.restore(at, template)
        resumed, _ = train_rl_module._initial_state(
            config, trainer, keys, sharding, [store], at, restart_episodes=True
        )
    finally:
        store.close()
        env.close()
    learner = lambda s: (s.params, s.opt_state, s.obs_rms, s.reward_norm.return_rms, s.key)
    saved, resumed_learner = jax.tree.leaves(learner(saved)), jax.tree.leaves(learner(resumed))
    for x, y in zip(saved, resumed_learner, strict=True):
        np.testing.assert_array_equal(np.asarray(y)[0], x)
    assert int(resumed.iteration[0]) == at
    # Fresh episodes: every env at its first step, the VecNormalize accumulator at zero.
    assert np.all(np.asarray(resumed.env_state.time) == 0)
    assert np.all(np.asarray(resumed.reward_norm.returns) == 0)


def test_a_users_own_env_module_trains_and_its_return_rises(go_right, tmp_path):
    # The README's command (8192 steps, n_steps=128), for two seeds at once: one
    # vector env per seed.
    stats = train_rl(
        log_dir=str(tmp_path),
        env_id=go_right,
        total_timesteps=8192,
        num_seeds=2,
        ppo={"n_steps": 128},
    )
    for seed in ("seed_0", "seed_1"):
        first = json.loads((tmp_path / seed / "metrics.jsonl").open().readline())
        assert first["true_episode_return_mean"] < 14  # random: about 10 of 20 steps right
        assert stats[seed]["monitor_return_mean"] >= 19
    assert stats["seed_0"] != stats["seed_1"]


def test_host_env_steps_like_our_jax_envs(go_right):
    """Auto-reset in the step, the true last observation kept, totals per episode."""
    env = envs.make(go_right)
    try:
        assert env.max_episode_steps == 20 and env.action_space == envs.Discrete(2)
        state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 3))
        start = np.asarray(state.obs[:, 0])
        step = jax.jit(jax.vmap(env.step))
        for t in range(1, 21):  # always right: truncated at the time limit
            state = step(state, jnp.ones(3, jnp.int32))
            assert not np.any(state.done) or t == 20
        np.testing.assert_array_equal(state.truncated, True)
        np.testing.assert_array_equal(state.terminated, False)
        np.testing.assert_array_equal(state.final_obs[:, 0], start + 20)  # before the reset
        assert np.all(np.abs(np.asarray(state.obs[:, 0])) <= 2)  # the next episode's start
        np.testing.assert_array_equal(state.episode_length, 20)
        np.testing.assert_array_equal(state.true_episode_return, 20.0)
        start = np.asarray(state.obs[:, 0])
        lengths = []
        for _ in range(12):  # always left: off the edge at x = -10, a true termination
            state = step(state, jnp.zeros(3, jnp.int32))
            lengths += [np.asarray(state.episode_length)[np.asarray(state.done)]]
            assert not np.any(state.truncated)
        assert sorted(np.concatenate(lengths)) == sorted(start + 10)
        np.testing.assert_array_equal(state.episode_return[state.time > 0], 0.0)
    finally:
        env.close()


class Drift(gym.Env):
    """Deterministic: x moves +-0.25; reward 1 - |x|; ends at |x| = 1 (steps 4, 6, ...)."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0.0, 0
        return np.array([self.x, self.t * 0.25], np.float32), {}

    def step(self, action):
        self.x, self.t = self.x + (0.25 if action == 1 else -0.25), self.t + 1
        obs = np.array([self.x, self.t * 0.25], np.float32)
        return obs, 1.0 - abs(self.x), abs(self.x) >= 1.0, False, {}


class JaxDrift:
    """The same env as two pure functions (wrapped like every JAX env)."""

    observation_space = envs.Box.from_bounds(-2.0, 2.0, (2,))
    action_space = envs.Discrete(2)
    max_episode_steps = 6

    def reset(self, key):
        return initial_state(jnp.zeros(()), jnp.zeros(2), key)

    def step(self, state, action):
        x, t = state.core + jnp.where(action == 1, 0.25, -0.25), state.time + 1
        obs = jnp.stack([x, t * 0.25]).astype(jnp.float32)
        return state.replace(
            core=x, obs=obs, final_obs=obs, reward=1.0 - jnp.abs(x),
            terminated=jnp.abs(x) >= 1.0, truncated=jnp.zeros((), bool), time=t,
        )  # fmt: skip


def test_ppo_on_a_host_env_equals_ppo_on_the_same_jax_env():
    """Same transitions, same learning: truncation bootstrapping (at step 6, also where the
    episode ends for real there), VecNormalize rewards, observation statistics."""
    gym.register("Drift-v0", entry_point=Drift, max_episode_steps=6)
    config = config_lib.base_config()
    config.normalize_kwargs.norm_obs = True
    config.ppo.update(n_envs=4, n_steps=24, batch_size=32, n_epochs=2, gamma=0.9)
    host = envs.make("Drift-v0", "gymnasium")
    ported = AutoReset(TimeLimit(JaxDrift(), 6))
    results = []
    try:
        for env in (host, ported):
            trainer = ppo.make_train(config, env)
            state, metrics = jax.jit(trainer.train)(trainer.init(jax.random.PRNGKey(0)), 3)
            results.append((state.params, state.obs_rms, state.reward_norm, metrics))
    finally:
        host.close()
    assert results[0][3]["episodes"] > 0
    for x, y in zip(*map(jax.tree.leaves, results), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_same_seed_same_numbers_on_a_host_env(go_right):
    def run():
        env = envs.make(go_right)
        try:
            key = jax.random.PRNGKey(3)
            act = lambda obs, k: jax.random.bernoulli(k, 0.5, obs.shape[:1]).astype(jnp.int32)
            return jax.device_get(jax.jit(lambda k: rollouts.run_episodes(env, act, k, 6))(key))
        finally:
            env.close()

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_subprocess_vector_envs_step_as_the_in_process_ones():
    observations = []
    for backend in ("gymnasium", "gymnasium_async"):
        env = envs.make("CartPole-v1", backend)
        try:
            state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 3))
            step = jax.jit(jax.vmap(env.step))
            for t in range(30):  # episodes end and auto-reset on the way
                state = step(state, jnp.full(3, t % 2, jnp.int32))
            observations.append(np.asarray(state.obs))
        finally:
            env.close()
    np.testing.assert_array_equal(*observations)


def test_generate_writes_a_host_trained_policys_episodes(real_seals_run, tmp_path):
    log_dir, _ = real_seals_run
    manifest = generate(str(log_dir / "policies" / "final"), str(tmp_path), n_episodes=3)
    assert manifest["complete"] and manifest["totals"]["n_episodes"] == 3
    episodes = rollouts.load(str(tmp_path / manifest["parts"][0]["file"]))
    assert [len(t.acts) for t in episodes] == [500, 500, 500]


def test_a_mujoco_env_trains_one_tiny_iteration(tmp_path):
    stats = train_rl(
        log_dir=str(tmp_path),
        env_id="seals/Hopper-v1",
        env_backend="gymnasium",
        total_timesteps=64,
        policy_save_interval=0,
        rollout_save_final=False,
        n_episodes_eval=2,
        ppo={"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1},
    )
    policy = load_policy(str(tmp_path / "policies" / "final"))
    assert policy.observation_space.shape == (12,)  # seals' Hopper: positions included
    assert stats["n_traj"] == 2 and stats["len_mean"] >= 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"env_id": "CartPol-v1"},
            r"config\.env_id='CartPol-v1' is invalid: .*not a registered Gymnasium env; "
            r"did you mean 'CartPole-v1'.*our JAX ports' close matches: 'CartPole-v1'",
        ),
        (
            {"env_id": "no_such_module:Env-v0"},
            r"config\.env_id='no_such_module:Env-v0' .*cannot import module 'no_such_module'",
        ),
        (
            {"env_id": "HalfCheetah-v5", "env_backend": "jax"},
            r"unknown env_id 'HalfCheetah-v5' for env_backend 'jax'",
        ),
        ({"env_backend": "envpol"}, r"config\.env_backend='envpol' is invalid; must be one of"),
        (
            {"env_id": "Blackjack-v1"},
            r"Blackjack-v1: observation space Tuple.* is not supported; must be Box",
        ),
        (
            {"env_backend": "gymnasium", "num_devices": 2},
            r"config\.num_devices=2 is invalid; must be None or 1: seals/CartPole-v0 steps on",
        ),
    ],
)
def test_bad_host_env_settings_fail_in_one_line_before_training(overrides, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train_rl(log_dir=str(tmp_path / "never"), **overrides)
    assert not (tmp_path / "never").exists()


@pytest.mark.slow  # ~10 s; the port plays it as well: test_a_host_trained_expert_plays_...
def test_render_plays_a_gymnasium_trained_policy_in_our_jax_port(real_seals_run, tmp_path):
    log_dir, _ = real_seals_run
    out = tmp_path / "episode.gif"
    episode = render_policy(str(log_dir / "policies" / "final"), str(out), deterministic=True)
    assert episode["episode_length"] == 500 and episode["episode_return"] >= 490
    assert out.stat().st_size > 0


def test_policy_act_compiles_once_and_predict_drives_a_gymnasium_loop(real_seals_run):
    log_dir, _ = real_seals_run
    policy = load_policy(str(log_dir / "policies" / "final"))
    env = gym.make("seals/CartPole-v0")
    obs, _ = env.reset(seed=0)
    before = policy_module._act._cache_size()
    total, state = 0.0, None
    for _ in range(500):  # imitation's policy-callable signature: (obs, state, episode_start)
        action, state = policy.predict(obs[None], state, np.array([False]), deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(int(action[0]))
        total += reward
        if terminated or truncated:
            break
    assert total >= 490
    single = policy.act(obs, deterministic=True)  # one observation, no batch axis
    assert isinstance(single, int)
    assert policy_module._act._cache_size() - before == 2  # one per input shape
