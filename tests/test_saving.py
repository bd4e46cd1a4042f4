"""The train_rl contract: policy directories, imitation-loadable rollouts, warm start."""

import functools
import json
import math
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrl_expert import config as config_lib
from jaxrl_expert import envs, load_policy, ppo, rollouts
from jaxrl_expert.checkpoints import read_metadata, save_policy
from jaxrl_expert.policy import Policy
from jaxrl_expert.train_rl import make_env, train_rl

TINY_PPO = {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 1}


@pytest.fixture(scope="module")
def three_interval_run(tiny_cartpole_run):
    """The session's tiny CartPole-v1 run (conftest.TINY_CARTPOLE): saves every 200 timesteps
    with 128 per iteration; (log_dir, returned stats)."""
    log_dir, stats, _ = tiny_cartpole_run
    return log_dir, stats


def test_three_save_intervals_give_exactly_the_expected_entries(three_interval_run):
    log_dir, _ = three_interval_run
    batch = 128
    # The first iteration boundary at or after each multiple of 200 timesteps.
    steps = [math.ceil(k * 200 / batch) * batch for k in (1, 2, 3)]
    assert steps == [256, 512, 640]  # not 128 or 384; 640 is also the last iteration
    names = [f"{s:012d}" for s in steps]
    assert sorted(os.listdir(log_dir / "policies")) == [*names, "final"]
    assert sorted(os.listdir(log_dir / "rollouts")) == [f"{n}.npz" for n in [*names, "final"]]
    for name in [*names, "final"]:
        policy = load_policy(str(log_dir / "policies" / name))
        assert policy.metadata["env_id"] == "CartPole-v1"
        expected_steps = 640 if name == "final" else int(name)
        assert read_metadata(str(log_dir / "policies" / name))["timesteps"] == expected_steps
        trajectories = rollouts.load(str(log_dir / "rollouts" / f"{name}.npz"))
        assert sum(len(t.acts) for t in trajectories) >= 100
    stats = json.loads((log_dir / "stats.json").read_text())
    assert stats == three_interval_run[1]
    assert stats["n_traj"] == 5
    assert set(stats) == {
        "n_traj", "monitor_return_len",
        *(f"{p}_{s}" for p in ("return", "len", "monitor_return")
          for s in ("min", "mean", "std", "max")),
    }  # fmt: skip


def test_policy_metadata_rebuilds_network_without_other_input(three_interval_run):
    log_dir, _ = three_interval_run
    metadata = json.loads((log_dir / "policies" / "final" / "metadata.json").read_text())
    assert metadata["observation_space"]["shape"] == [4]
    assert metadata["action_space"] == {"type": "Discrete", "n": 2}
    assert metadata["network"]["pi_sizes"] == [64, 64]
    assert metadata["network"]["activation"] == "relu"
    assert metadata["package_version"]


def imitation_load(path):
    """What imitation.data.serialize.load does with an npz (imitation's split rules)."""
    data = np.load(path, allow_pickle=True)  # imitation's own loader unpickles `infos`
    num_trajs = len(data["indices"])
    obs = np.split(data["obs"], data["indices"] + np.arange(num_trajs) + 1)
    acts = np.split(data["acts"], data["indices"])
    infos = np.split(data["infos"], data["indices"])
    rews = np.split(data["rews"], data["indices"])
    return obs, acts, infos, rews, data["terminal"]


@pytest.fixture(scope="module")
def policy_sample():
    """Sample rollouts from a random-init policy: discrete and continuous."""

    @functools.cache
    def program(env_id, n_timesteps, n_episodes, deterministic):
        """The trainer and the jitted sampler (the policy's arrays as arguments): one
        compile for each kind of request."""
        config = config_lib.base_config()
        config_lib.apply_overrides(config, {"env_id": env_id, "ppo": TINY_PPO})
        config_lib.validate(config)
        env = make_env(config)
        trainer = ppo.make_train(config, env)

        def sampler(params, obs_rms, key):
            act = trainer.policy.act
            policy = lambda obs, k: act(params, obs_rms, obs, k, deterministic)
            return rollouts.make_sampler(env, policy, 4, n_timesteps, n_episodes)(key)

        return trainer, jax.jit(sampler)

    def sample(env_id, n_timesteps=None, n_episodes=None, seed=0, deterministic=False):
        trainer, sampler = program(env_id, n_timesteps, n_episodes, deterministic)
        state = trainer.init(jax.random.PRNGKey(seed))
        records = sampler(state.params, state.obs_rms, jax.random.PRNGKey(seed + 100))
        return rollouts.records_to_arrays(records)

    return sample


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_rollout_file_layout_follows_imitations_split_rules(policy_sample, tmp_path, env_id):
    arrays = policy_sample(env_id, n_timesteps=700)
    path = str(tmp_path / "r.npz")
    rollouts.save(path, arrays)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["acts", "indices", "infos", "obs", "rews", "terminal"]
        n = len(data["terminal"])
        total = len(data["acts"])
        assert data["obs"].shape == (total + n, *envs.make(env_id).observation_space.shape)
        assert data["rews"].shape == (total,) and data["rews"].dtype == np.float32
        assert data["terminal"].dtype == bool and data["terminal"].all()
        assert data["indices"].shape == (n - 1,)
    assert total >= 700
    obs, acts, infos, rews, _ = imitation_load(path)
    assert len(obs) == len(acts) == len(rews) == len(infos) == n
    for o, a, i, r in zip(obs, acts, infos, rews, strict=True):
        assert len(o) == len(a) + 1 == len(r) + 1 == len(i) + 1
        assert all(info == {} for info in i)
    mine = rollouts.load(path)
    for t, o, a, r in zip(mine, obs, acts, rews, strict=True):
        np.testing.assert_array_equal(t.obs, o)
        np.testing.assert_array_equal(t.acts, a)
        np.testing.assert_array_equal(t.rews, r)
    if env_id == "CartPole-v1":
        for t in mine:
            assert np.all(np.abs(t.obs[0]) <= 0.05)  # a fresh reset
            assert len(t.acts) == 500 or abs(t.obs[-1][2]) > 0.2094 or abs(t.obs[-1][0]) > 2.4
            assert np.all(t.rews == 1.0)
    else:
        assert all(len(t.acts) == 200 for t in mine)
        assert acts[0].shape[1:] == (1,) and np.all(np.abs(acts[0]) <= 2.0)


def test_n_episodes_gives_exactly_that_many_complete_episodes(policy_sample):
    arrays = policy_sample("CartPole-v1", n_episodes=7)
    assert len(arrays["terminal"]) == 7
    assert len(arrays["obs"]) == len(arrays["acts"]) + 7


def test_deterministic_rollouts_repeat(policy_sample):
    a = policy_sample("CartPole-v1", n_episodes=3, deterministic=True)
    b = policy_sample("CartPole-v1", n_episodes=3, deterministic=True)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_truncated_npz_fails_naming_the_file(tmp_path, policy_sample):
    path = tmp_path / "r.npz"
    rollouts.save(str(path), policy_sample("CartPole-v1", n_episodes=7))  # compiled above
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"r\.npz.*unreadable or truncated"):
        rollouts.load(str(path))


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return str(path)


def test_damaged_or_inconsistent_rollout_files_fail_naming_the_file(tmp_path):
    good = {"obs": np.zeros((5, 2)), "acts": np.zeros(3), "rews": np.zeros(3),
            "terminal": np.ones(2, bool), "indices": np.array([1])}  # fmt: skip
    assert [len(t.acts) for t in rollouts.load(_npz(tmp_path / "good.npz", **good))] == [1, 2]
    cases = {
        "short_rews.npz": ({**good, "rews": np.zeros(2)}, r"inconsistent array lengths"),
        "bad_indices.npz": ({**good, "indices": np.array([4])}, r"do not split"),
        "objects.npz": ({**good, "acts": np.array([{}] * 3, dtype=object)}, r"unpickling"),
    }
    for name, (arrays, message) in cases.items():
        with pytest.raises(ValueError, match=rf"{name}.*{message}"):
            rollouts.load(_npz(tmp_path / name, **arrays))
    np.save(tmp_path / "bare.npy", np.zeros(3))
    (tmp_path / "bare.npy").rename(tmp_path / "bare.npz")
    with pytest.raises(ValueError, match=r"bare\.npz.* not a rollout npz"):
        rollouts.load(str(tmp_path / "bare.npz"))


def test_policy_round_trip_is_exact_and_applies_normalization(tiny_pendulum, tmp_path):
    init, train, trainer = tiny_pendulum  # Pendulum-v1, norm_obs (conftest.py)
    state, _ = train(init(jax.random.PRNGKey(0)), 2)
    assert float(state.obs_rms.count) > 1  # statistics were learned
    save_policy(str(tmp_path / "p"), Policy(trainer.policy, state.params, state.obs_rms), 7)
    policy = load_policy(str(tmp_path / "p"))
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(policy.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(policy.obs_rms.mean, state.obs_rms.mean)
    obs = state.env_state.obs
    act = trainer.policy.act
    for deterministic in (False, True):
        key = jax.random.PRNGKey(5)
        expected = jax.jit(act, static_argnums=4)(
            state.params, state.obs_rms, obs, key, deterministic
        )
        got = jax.jit(policy.act, static_argnums=2)(obs, key, deterministic)
        # Same math; params as jit constants vs arguments may differ in the last bit.
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(tmp_path / ".tmp-p")


def test_final_policy_reproduces_returned_stats_in_a_fresh_process(default_cli_run, repo_dir):
    log_dir, _ = default_cli_run
    stats = json.loads((log_dir / "stats.json").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl_expert.eval_policy",
         f"--policy={log_dir}/policies/final", "--n_episodes=20", "--seed=7"],
        cwd=repo_dir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = json.loads(result.stdout)
    assert fresh["n_traj"] == 20
    assert abs(fresh["monitor_return_mean"] - stats["monitor_return_mean"]) <= 10
    # The default run saves every 10,000 steps: 10 intermediate policies + final.
    assert len(os.listdir(log_dir / "policies")) == 11
    assert (log_dir / "rollouts" / "final.npz").exists()


def test_warm_start_from_an_expert_scores_after_one_iteration(
    default_cli_run, compilation_cache, tmp_path
):
    log_dir, _ = default_cli_run
    with compilation_cache.in_process():  # the default config's train program: compiled once
        stats = train_rl(
            log_dir=str(tmp_path),
            agent_path=str(log_dir / "policies" / "final"),
            total_timesteps=4096,
            policy_save_interval=0,
            rollout_save_final=False,  # no rollouts: a program less to compile
            n_episodes_eval=20,
        )
    assert stats["monitor_return_mean"] >= 490


def test_warm_start_from_another_envs_policy_fails_naming_the_mismatch(default_cli_run, tmp_path):
    log_dir, _ = default_cli_run
    with pytest.raises(ValueError, match=r"config\.agent_path=.*observation_space"):
        train_rl(
            log_dir=str(tmp_path),
            env_id="Pendulum-v1",
            agent_path=str(log_dir / "policies" / "final"),
        )


def test_a_loaded_expert_drives_a_gymnasium_cartpole_with_plain_act_calls(default_cli_run):
    import gymnasium

    log_dir, _ = default_cli_run
    policy = load_policy(str(log_dir / "policies" / "final"))
    env = gymnasium.make("CartPole-v1")  # seals' CartPole-v0 shares its dynamics
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        action = policy.act(obs, deterministic=True)  # no key, no conversion
        assert isinstance(action, int)
        obs, reward, terminated, truncated, _ = env.step(action)
        total, done = total + reward, terminated or truncated
    assert total >= 400
    batch = policy.act(np.stack([obs, obs]), jax.random.PRNGKey(0))
    assert isinstance(batch, np.ndarray) and batch.shape == (2,)
    with pytest.raises(ValueError, match=r"observation shape \(3,\) .* it takes \(4,\)"):
        policy.act(np.zeros(3), deterministic=True)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        policy.act(obs)


def test_a_policy_whose_metadata_was_edited_fails_to_load_naming_the_array(
    default_cli_run, tmp_path
):
    log_dir, _ = default_cli_run
    shutil.copytree(log_dir / "policies" / "final", tmp_path / "p")
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    metadata["network"]["pi_sizes"] = [32, 32]
    (tmp_path / "p" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"do not match its metadata: .*is \(64,\), the metadata"):
        load_policy(str(tmp_path / "p"))
    metadata["observation_space"] = [1, 2]
    (tmp_path / "p" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"policy metadata under .* is incomplete"):
        load_policy(str(tmp_path / "p"))
