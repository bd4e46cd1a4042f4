"""SAC: its loss terms against NumPy, the replay buffer, learning Pendulum, the contract."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import compile_fast

from jaxrl_expert import config as config_lib
from jaxrl_expert import load_policy, rollouts, sac
from jaxrl_expert.config import load_config_file
from jaxrl_expert.generate import generate
from jaxrl_expert.train_rl import make_env, train_rl

# configs/sac_pendulum.py (rl-zoo's SB3 SAC) with small networks, to stay fast on a CPU.
PENDULUM = {
    "total_timesteps": 12_000,
    "n_episodes_eval": 20,
    "policy_save_interval": 6_000,
    "checkpoint_interval": 6_000,
    "log_interval": 2_000,
    "sac": {"buffer_size": 20_000, "net_arch": {"pi": (64, 64), "qf": (64, 64)}},
}


def rng_arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for shape in shapes]


def test_td_target_is_the_soft_clipped_double_q_target():
    reward, next_q, next_log_prob = rng_arrays(0, (7,), (2, 7), (7,))
    terminated = np.array([0, 1, 0, 0, 1, 0, 0], np.float32)
    got = sac.td_target(reward, terminated, next_q, next_log_prob, jnp.float32(0.3), 0.9)
    next_value = np.minimum(next_q[0], next_q[1]) - 0.3 * next_log_prob
    want = reward + (1 - terminated) * 0.9 * next_value
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_critic_loss_is_half_the_summed_mean_squared_errors():
    q_values, target = rng_arrays(1, (2, 9), (9,))
    want = 0.5 * sum(np.mean((q - target) ** 2) for q in q_values)
    np.testing.assert_allclose(sac.critic_loss(q_values, target), want, rtol=1e-6)


def test_actor_loss_trades_entropy_against_the_smaller_q():
    q_values, log_prob = rng_arrays(2, (2, 5), (5,))
    want = np.mean(0.2 * log_prob - np.minimum(q_values[0], q_values[1]))
    got = sac.actor_loss(q_values, log_prob, jnp.float32(0.2))
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("entropy, moves", [(-3.0, "up"), (1.0, "down")])
def test_entropy_coefficient_rises_below_the_target_entropy_and_falls_above(entropy, moves):
    target_entropy = -1.0
    log_prob = jnp.full((64,), -entropy)  # entropy = -E[log pi]
    log_ent_coef = jnp.float32(0.5)
    loss = sac.ent_coef_loss(log_ent_coef, log_prob, target_entropy)
    np.testing.assert_allclose(loss, -0.5 * (-entropy + target_entropy), rtol=1e-6)
    grad = jax.grad(sac.ent_coef_loss)(log_ent_coef, log_prob, target_entropy)
    np.testing.assert_allclose(grad, -(-entropy + target_entropy), rtol=1e-6)
    optimizer = optax.adam(1e-3)
    updates, _ = optimizer.update(grad, optimizer.init(log_ent_coef))
    new = optax.apply_updates(log_ent_coef, updates)
    assert (new > log_ent_coef) == (moves == "up")


def test_a_linear_schedule_scales_each_adam_step_by_the_budget_left():
    """SB3's lin_: learning_rate * (1 - env steps collected / total_timesteps). The first
    update comes at the fifth vectorized step of 2 envs (10 of 100 steps): 0.9 of constant's."""
    config = load_config_file("sac_pendulum")
    config_lib.apply_overrides(config, {"total_timesteps": 100, "sac": {
        "n_envs": 2, "buffer_size": 100, "learning_starts": 8, "batch_size": 8,
        "net_arch": {"pi": (8,), "qf": (8,)}}})  # fmt: skip
    env, key = make_env(config), jax.random.PRNGKey(0)
    after = {}
    for schedule in ("constant", "linear"):
        config.sac.lr_schedule = schedule
        trainer = sac.make_train(config, env)
        state = trainer.init(key)
        train = compile_fast(trainer.train, state, np.int32(1))
        after[schedule], metrics = train(state, np.int32(5))
        assert float(metrics["updates"]) == 1  # one gradient step, at the fifth
    before = trainer.init(key)
    for field in ("critic_params", "log_ent_coef"):  # the actor's step sees updated critics
        constant, linear = (
            jax.tree.leaves(
                jax.tree.map(np.subtract, getattr(after[s], field), getattr(before, field))
            )
            for s in ("constant", "linear")
        )
        for step, decayed in zip(constant, linear, strict=True):
            assert np.any(step != 0)
            np.testing.assert_allclose(decayed, 0.9 * step, rtol=1e-4, atol=1e-7)


def test_polyak_moves_targets_tau_of_the_way():
    target, online = {"w": np.zeros(3, np.float32)}, {"w": np.array([1, 2, 4], np.float32)}
    np.testing.assert_allclose(sac.polyak(target, online, 0.25)["w"], [0.25, 0.5, 1.0])


def test_replay_buffer_wraps_around_and_samples_only_what_it_holds():
    buffer = sac.ReplayBuffer.create(n_envs=2, capacity=3, obs_shape=(1,), action_dim=1)
    add = jax.jit(sac.ReplayBuffer.add)
    sample = jax.jit(sac.ReplayBuffer.sample, static_argnums=2)
    for t in range(2):
        obs = jnp.array([[t], [10 + t]], jnp.float32)
        buffer = add(buffer, obs, obs, obs[:, 0], obs, jnp.zeros(2, bool))
    batch = sample(buffer, jax.random.PRNGKey(0), 50)
    assert set(np.asarray(batch.obs[:50, 0])) == {0, 1}  # env 0's rows first
    assert set(np.asarray(batch.obs[50:, 0])) == {10, 11}
    for t in range(2, 5):
        obs = jnp.array([[t], [10 + t]], jnp.float32)
        buffer = add(buffer, obs, obs, obs[:, 0], obs, jnp.ones(2, bool))
    np.testing.assert_array_equal(buffer.obs[0, :, 0], [3, 4, 2])  # the oldest overwritten
    batch = sample(buffer, jax.random.PRNGKey(1), 50)
    assert set(np.asarray(batch.reward[:50])) == {2, 3, 4}
    assert set(np.asarray(batch.terminated)) == {1.0}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"sac": {"n_envs": 3, "batch_size": 256}},
         "config.sac.batch_size=256 is invalid; must be a multiple of sac.n_envs=3"),
        ({"sac": {"ent_coef": "auto_x"}},
         "config.sac.ent_coef='auto_x' is invalid; must be 'auto'"),
        ({"sac": {"ent_coef": 0.0}}, "config.sac.ent_coef=0.0 is invalid"),
        ({"sac": {"target_entropy": "max"}}, "config.sac.target_entropy='max' is invalid"),
        ({"sac": {"use_sde": True}}, "config.sac.use_sde=True is invalid; must be False (SB3's"),
        ({"sac": {"gradient_steps": 0}}, "config.sac.gradient_steps=0 is invalid"),
        ({"sac": {"lr_schedule": "linaer"}}, "config.sac.lr_schedule='linaer' is invalid; must be "
         "one of ['constant', 'linear']; did you mean 'linear'?"),
        ({"algo": "sacc"},
         "config.algo='sacc' is invalid; must be one of ['ppo', 'sac']; did you mean 'sac'?"),
        ({"env_id": "CartPole-v1"}, "config.algo='sac' needs a Box action space; CartPole-v1"),
    ],
)  # fmt: skip
def test_bad_sac_settings_fail_in_one_line_before_training(overrides, message, tmp_path):
    sac_overrides = {**PENDULUM["sac"], **overrides.get("sac", {})}
    with pytest.raises(ValueError) as error:
        train_rl(load_config_file("sac_pendulum"), log_dir=str(tmp_path / "run"),
                 **{**PENDULUM, **overrides, "sac": sac_overrides})  # fmt: skip
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_brax_sac_config_speaks_brax_names():
    config = config_lib.brax_sac_config(
        "brax/halfcheetah", num_timesteps=100_000, num_envs=16, batch_size=64,
        grad_updates_per_step=8, reward_scaling=30, discounting=0.997, learning_rate=6e-4,
        min_replay_size=1024, max_replay_size=32768, action_repeat=1,
    )  # fmt: skip
    config_lib.validate(config)
    s = config.sac
    assert (config.algo, s.n_envs, s.train_freq, s.gradient_steps) == ("sac", 16, 1, 8)
    assert (s.learning_starts, s.buffer_size, s.reward_scale, s.gamma) == (1024, 32768, 30, 0.997)
    assert config_lib.target_entropy(s.target_entropy, 6) == -3.0  # Brax: -dim(A) / 2
    assert config.normalize_kwargs.norm_obs and not config.normalize_reward
    assert config.reset_to_first_state  # Brax's training wrapper


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory, compilation_cache):
    log_dir = tmp_path_factory.mktemp("sac") / "run"
    with compilation_cache.in_process():  # the resume test loads these programs
        stats = train_rl(load_config_file("sac_pendulum"), log_dir=str(log_dir), **PENDULUM)
    return log_dir, stats


def test_sac_learns_pendulum_within_20000_steps(pendulum_run):
    log_dir, stats = pendulum_run
    assert stats["n_traj"] == 20
    assert stats["monitor_return_mean"] >= -200, stats
    records = [json.loads(line) for line in (log_dir / "metrics.jsonl").open()]
    assert [r["timesteps"] for r in records] == list(range(2_000, 12_001, 2_000))
    assert set(records[-1]["losses"]) == {"actor_loss", "critic_loss", "ent_coef", "entropy"}
    # The learned entropy coefficient fell from 1 as the policy's entropy fell to its target.
    assert records[-1]["losses"]["ent_coef"] < 0.5


def test_a_sac_policy_loads_acts_in_bounds_and_generates_rollouts(pendulum_run, tmp_path):
    log_dir, _ = pendulum_run
    policy = load_policy(str(log_dir))
    network = policy.metadata["network"]
    assert (network["distribution"], network["vf_sizes"]) == ("tanh_normal", None)
    obs = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    actions = policy.act(obs, jax.random.PRNGKey(0))
    assert actions.shape == (100, 1) and np.all(np.abs(actions) <= 2.0)  # Pendulum's bounds
    manifest = generate(str(log_dir), str(tmp_path / "out"), n_episodes=3, seed=0)
    trajectories = [t for part in manifest["parts"]
                    for t in rollouts.load(str(tmp_path / "out" / part["file"]))]  # fmt: skip
    assert len(trajectories) == 3 and all(len(t.acts) == 200 for t in trajectories)
    assert sorted(p.name for p in (log_dir / "policies").iterdir()) == [
        "000000006000", "000000012000", "final"]  # fmt: skip


def test_sac_resumes_bit_exactly_with_its_replay_buffer(pendulum_run, tmp_path, compilation_cache):
    whole, stats = pendulum_run
    log_dir = tmp_path / "run"
    shutil.copytree(whole, log_dir)
    # Forget everything after the checkpoint at 6,000 steps, as if the run had died there.
    shutil.rmtree(log_dir / "checkpoints" / "12000")
    shutil.rmtree(log_dir / "policies" / "final")
    (log_dir / "stats.json").unlink()
    (log_dir / "rollouts" / "final.npz").unlink()
    with compilation_cache.in_process():
        resumed = train_rl(load_config_file("sac_pendulum"), log_dir=str(log_dir), resume=True,
                           **PENDULUM)  # fmt: skip
    assert resumed == stats
    assert load_policy(str(log_dir)).digest() == load_policy(str(whole)).digest()


@pytest.mark.slow  # ~9 s of compile; for_seeds is PPO's too (tests/test_scale.py)
def test_sac_trains_several_seeds_in_one_program():
    """Two seeds vmapped (the learning-start branch becomes a select): both learn, apart."""
    config = load_config_file("sac_pendulum")
    config_lib.apply_overrides(config, {"sac": {
        "n_envs": 2, "buffer_size": 500, "learning_starts": 200, "batch_size": 32,
        "train_freq": 2, "gradient_steps": 3, "net_arch": {"pi": (16,), "qf": (16,)}}})  # fmt: skip
    trainer = sac.make_train(config, make_env(config)).for_seeds(2)
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
    state = compile_fast(trainer.init, keys)(keys)
    train = compile_fast(trainer.train, state, np.int32(1))
    state, metrics = train(state, np.int32(300))  # 1,200 steps per seed: the buffer wraps
    np.testing.assert_array_equal(metrics["updates"], [300 - 50, 300 - 50])  # after 200 steps
    np.testing.assert_array_equal(state.buffer.added, [600, 600])
    assert np.all(np.asarray(metrics["critic_loss"]) > 0)
    kernel = jax.tree.leaves(state.params)[0]
    assert not np.allclose(kernel[0], kernel[1])


SAC_TWO_DEVICES = """
import json, sys
import jax, numpy as np
from jaxrl_expert import config as config_lib, devices, load_policy, sac
from jaxrl_expert.train_rl import make_env, train_rl

small = {"n_envs": 4, "buffer_size": 256, "learning_starts": 64, "batch_size": 16,
         "net_arch": {"pi": (16,), "qf": (16,)}}
tiny = {"env_id": "Pendulum-v1", "algo": "sac", "total_timesteps": 512, "sac": small,
        "n_episodes_eval": 2, "policy_save_interval": 0, "checkpoint_interval": 0,
        "rollout_save_final": False}
for n in (1, 2):
    train_rl(log_dir=f"{sys.argv[1]}/d{n}", num_devices=n, verbose=False, **tiny)
a, b = (load_policy(f"{sys.argv[1]}/d{n}") for n in (1, 2))
out = {"max_param_diff": max(float(np.max(np.abs(x - y)))
                             for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)))}
config = config_lib.base_config()
config_lib.apply_overrides(config, tiny)
trainer = sac.make_train(config, make_env(config))
key = jax.random.PRNGKey(0)
sharding = devices.train_state_sharding(jax.eval_shape(trainer.init, key),
                                        devices.make_mesh(2, 4), False)
state = jax.jit(trainer.init, out_shardings=sharding)(key)
out["buffer_shards"] = [list(s.data.shape) for s in state.buffer.obs.addressable_shards]
out["critics_replicated"] = all(x.sharding.is_fully_replicated
                                for x in jax.tree.leaves(state.critic_params))
print(json.dumps(out))
"""


@pytest.mark.slow  # ~40 s: two SAC runs in a 2-device subprocess
def test_sac_on_two_devices_shards_its_replay_buffer_and_matches_one_device(repo_dir, tmp_path):
    import subprocess
    import sys

    from conftest import fast_compile_env

    env = fast_compile_env(XLA_FLAGS="--xla_force_host_platform_device_count=2",
                           PYTHONPATH=repo_dir)  # fmt: skip
    result = subprocess.run([sys.executable, "-c", SAC_TWO_DEVICES, str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["buffer_shards"] == [[2, 64, 3]] * 2  # each device holds its envs' transitions
    assert out["critics_replicated"]
    assert out["max_param_diff"] < 5e-3  # the same run; only the order of sums differs


@pytest.mark.slow  # ~10 s; the learned-reward path is PPO's and SAC's one trainer.step_envs
def test_sac_trains_on_a_learned_reward_and_reports_the_ground_truth(tmp_path):
    stats = train_rl(log_dir=str(tmp_path), verbose=False, env_id="Pendulum-v1", algo="sac",
                     reward_type="zero", total_timesteps=512, n_episodes_eval=4,
                     policy_save_interval=0, rollout_save_final=False,
                     sac={"n_envs": 4, "learning_starts": 64, "batch_size": 16,
                          "net_arch": {"pi": (16,), "qf": (16,)}})  # fmt: skip
    assert stats["return_mean"] == 0.0 and stats["return_max"] == 0.0  # the zero reward
    assert stats["monitor_return_mean"] < -100  # Pendulum's ground truth, always negative


def saved_buffer_arrays(checkpoint):
    """The replay buffer's arrays a TrainState checkpoint holds (from Orbax's tree metadata)."""
    tree = json.loads((checkpoint / "default" / "_METADATA").read_text())["tree_metadata"]
    stored = {key for key, leaf in tree.items() if leaf["value_metadata"]["value_type"] != "None"}
    return sorted(key.split("'")[3] for key in stored if key.startswith("('buffer', "))


def test_a_light_checkpoint_leaves_out_the_buffer_and_resumes_refilling_it(
    pendulum_run, tmp_path, compilation_cache
):
    exact, _ = pendulum_run
    assert saved_buffer_arrays(exact / "checkpoints" / "6000") == [
        "action", "added", "next_obs", "obs", "reward", "terminated"]  # fmt: skip
    log_dir = tmp_path / "run"
    # pendulum_run's programs (schedules and totals are not compiled in), 2,000 steps a leg.
    light = {**PENDULUM, "sac": {**PENDULUM["sac"], "checkpoint_buffer": False},
             "checkpoint_interval": 2_000, "policy_save_interval": 2_000}  # fmt: skip
    with compilation_cache.in_process():
        train_rl(load_config_file("sac_pendulum"), log_dir=str(log_dir),
                 **{**light, "total_timesteps": 2_000})  # fmt: skip
        assert saved_buffer_arrays(log_dir / "checkpoints" / "2000") == ["added"]
        first = load_policy(str(log_dir / "policies" / "final"))
        train_rl(load_config_file("sac_pendulum"), log_dir=str(log_dir),
                 **{**light, "total_timesteps": 4_000})  # fmt: skip
    # Resumed with an empty buffer: 100 (learning_starts) transitions of the restored
    # policy, then the updates went on from the restored networks.
    records = [json.loads(line) for line in (log_dir / "metrics.jsonl").open()]
    assert [r["timesteps"] for r in records] == [2_000, 4_000]
    assert records[-1]["losses"]["critic_loss"] > 0
    assert load_policy(str(log_dir / "policies" / "final")).digest() != first.digest()
