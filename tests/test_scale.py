"""Scale out: sharded devices, two processes under jax.distributed, vmapped seeds."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import compile_fast, fast_compile_env

from jaxrl_expert import config as config_lib
from jaxrl_expert import load_policy, ppo
from jaxrl_expert.train_rl import make_env, train_rl
from jaxrl_expert.trainer import init_seeds

TINY = {
    "env_id": "CartPole-v1",
    "total_timesteps": 256,
    "n_episodes_eval": 4,
    "policy_save_interval": 128,
    "checkpoint_interval": 128,
    "ppo": {"n_envs": 8, "n_steps": 16, "batch_size": 64, "n_epochs": 1},
}

FOUR_DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jaxrl_expert import config as config_lib, devices, load_policy, ppo
    from jaxrl_expert.train_rl import make_env, train_rl

    tiny = json.loads(sys.argv[2])
    tiny.update(policy_save_interval=0, checkpoint_interval=0, rollout_save_final=False)
    out = {"n_devices": jax.device_count()}
    for n in (1, 4):
        train_rl(log_dir=f"{sys.argv[1]}/d{n}", num_devices=n, **tiny)
    a, b = (load_policy(f"{sys.argv[1]}/d{n}/policies/final") for n in (1, 4))
    out["max_param_diff"] = max(
        float(np.max(np.abs(x - y)))
        for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)))
    # How a 4-device TrainState is laid out.
    config = config_lib.base_config()
    config_lib.apply_overrides(config, tiny)
    config_lib.validate(config)
    env = make_env(config)
    trainer = ppo.make_train(config, env)
    mesh = devices.make_mesh(4, config.ppo.n_envs)
    key = jax.random.PRNGKey(0)
    sharding = devices.train_state_sharding(jax.eval_shape(trainer.init, key), mesh, False)
    state = jax.jit(trainer.init, out_shardings=sharding)(key)
    out["obs_shards"] = [list(s.data.shape) for s in state.env_state.obs.addressable_shards]
    out["obs_devices"] = len(state.env_state.obs.sharding.device_set)
    out["params_replicated"] = all(
        x.sharding.is_fully_replicated for x in jax.tree.leaves(state.params))
    try:
        devices.make_mesh(None, 6)
    except ValueError as e:
        out["indivisible"] = str(e)
    print(json.dumps(out))
    """
)


@pytest.mark.slow  # ~15 s; test_generate.py runs two devices, the next test two processes
def test_four_devices_shard_envs_and_match_one_device(repo_dir, tmp_path):
    env = fast_compile_env(XLA_FLAGS="--xla_force_host_platform_device_count=4",
                           PYTHONPATH=repo_dir)  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES, str(tmp_path), json.dumps(TINY)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["n_devices"] == 4
    assert out["obs_devices"] == 4 and out["obs_shards"] == [[2, 4]] * 4
    assert out["params_replicated"]
    assert out["indivisible"].startswith(
        "config.ppo.n_envs=6 is invalid; must be divisible by the number of devices (4)"
    )
    # Same envs and seed; only the order of sums differs across devices.
    assert out["max_param_diff"] < 5e-3


def test_more_devices_than_available_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"config\.num_devices=2 is invalid; must be at most"):
        train_rl(log_dir=str(tmp_path), num_devices=2, **TINY)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~20 s: two processes each import and compile
def test_two_processes_under_jax_distributed_write_one_set_of_files(repo_dir, tmp_path):
    flags = [f"--log_dir={tmp_path / 'run'}", "--distributed", "--num_processes=2",
             f"--coordinator_address=127.0.0.1:{_free_port()}",
             "--config.env_id=CartPole-v1", "--config.total_timesteps=256",
             "--config.ppo.n_envs=4", "--config.ppo.n_steps=32", "--config.ppo.batch_size=32",
             "--config.ppo.n_epochs=1", "--config.n_episodes_eval=4",
             "--config.policy_save_interval=128", "--config.checkpoint_interval=128"]  # fmt: skip
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxrl_expert.train_rl", *flags, f"--process_id={i}"],
            cwd=repo_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=fast_compile_env(),
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    printed = [out.strip().splitlines()[-1] for out, _ in outputs]
    assert printed[0] == printed[1]  # every process returns the same stats
    run = tmp_path / "run"
    assert sorted(os.listdir(run / "policies")) == ["000000000128", "000000000256", "final"]
    assert len(list((run / "tb").iterdir())) == 1  # process 0 alone logs
    assert json.loads((run / "stats.json").read_text())["n_traj"] == 4
    load_policy(str(run / "policies" / "final"))


@pytest.mark.slow  # ~11 s: two chunk compiles; the multi-seed run below trains vmapped seeds
def test_vmapped_seed_equals_a_single_run_with_that_seed():
    config = config_lib.base_config()
    config_lib.apply_overrides(config, TINY)
    config_lib.validate(config)
    env = make_env(config)
    trainer = ppo.make_train(config, env)
    keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in (0, 1, 2)])

    def run(program, *args):  # compile-bound: XLA's fastest compile, both sides alike
        return compile_fast(program, *args)(*args)

    train_seeds = jax.vmap(trainer.train, in_axes=(0, None))
    stacked, _ = run(train_seeds, run(lambda k: init_seeds(trainer.init, k), keys), 1)
    single, _ = run(trainer.train, run(trainer.init, keys[1]), 1)
    # The same RNG streams: the rollout of seed 1 is identical...
    np.testing.assert_array_equal(stacked.env_state.obs[1], single.env_state.obs)
    np.testing.assert_array_equal(stacked.key[1], single.key)
    # ...and the update equal up to float reassociation of batched matmuls.
    for a, b in zip(jax.tree.leaves(stacked.params), jax.tree.leaves(single.params), strict=True):
        np.testing.assert_allclose(a[1], b, atol=5e-3)


def test_multi_seed_run_writes_single_seed_layouts(repo_dir, tmp_path):
    # Through the CLI, as users run it (the notebooks run multi-seed in-process).
    flags = [f"--log_dir={tmp_path}", "--config.num_seeds=2", "--config.env_id=CartPole-v1",
             "--config.total_timesteps=256", "--config.n_episodes_eval=4",
             "--config.policy_save_interval=128", "--config.checkpoint_interval=128",
             "--config.ppo.n_envs=8", "--config.ppo.n_steps=16", "--config.ppo.batch_size=64",
             "--config.ppo.n_epochs=1"]  # fmt: skip
    command = [sys.executable, "-m", "jaxrl_expert.train_rl", *flags]
    env = fast_compile_env()
    first = subprocess.run(
        command, cwd=repo_dir, capture_output=True, text=True, timeout=600, env=env
    )
    assert first.returncode == 0, first.stderr[-3000:]
    results = json.loads((tmp_path / "stats.json").read_text())
    assert sorted(results) == ["seed_0", "seed_1"]
    for i in range(2):
        run = tmp_path / f"seed_{i}"
        assert json.loads((run / "config.json").read_text())["seed"] == i
        assert json.loads((run / "stats.json").read_text()) == results[f"seed_{i}"]
        assert sorted(os.listdir(run / "policies")) == ["000000000128", "000000000256", "final"]
        assert sorted(os.listdir(run / "rollouts")) == [
            "000000000128.npz", "000000000256.npz", "final.npz"]  # fmt: skip
        assert sorted(os.listdir(run / "checkpoints")) == ["1", "2"]
    a, b = (load_policy(str(tmp_path / f"seed_{i}" / "policies" / "final")) for i in range(2))
    assert not np.array_equal(jax.tree.leaves(a.params)[0], jax.tree.leaves(b.params)[0])
    # Resuming the finished multi-seed run changes nothing.
    again = subprocess.run(
        command, cwd=repo_dir, capture_output=True, text=True, timeout=600, env=env
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "stats.json").read_text()) == results
    assert "is a finished run of this config" in again.stderr
