"""Nothing lost: exact resume, a kill test, the NaN guard, corrupt inputs, no unpickling."""

import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import fast_compile_env

from jaxrl_expert import config as config_lib
from jaxrl_expert import load_policy, rollouts
from jaxrl_expert.atomic_files import DirectoryLock
from jaxrl_expert.train_rl import train_rl

# seals/CartPole-v0 (the default config), shortened; saves and checkpoints often.
FLAGS = [
    "--config.total_timesteps=61440",
    "--config.policy_save_interval=12288",
    "--config.checkpoint_interval=8192",
    "--config.n_episodes_eval=10",
]
OVERRIDES = {
    "total_timesteps": 61440,
    "policy_save_interval": 12288,
    "checkpoint_interval": 8192,
    "n_episodes_eval": 10,
}


def cli(log_dir, repo_dir):
    return [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}", *FLAGS]


def assert_same_result(a, b):
    assert json.loads((a / "stats.json").read_text()) == json.loads((b / "stats.json").read_text())
    pa, pb = load_policy(str(a / "policies" / "final")), load_policy(str(b / "policies" / "final"))
    for x, y in zip(jax.tree.leaves(pa.params), jax.tree.leaves(pb.params), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(pa.obs_rms.var, pb.obs_rms.var)
    assert sorted(os.listdir(a / "policies")) == sorted(os.listdir(b / "policies"))
    assert sorted(os.listdir(a / "rollouts")) == sorted(os.listdir(b / "rollouts"))
    # Each timestep logged once, also where a resumed run logged again past its checkpoint.
    logged = [
        [json.loads(line)["timesteps"] for line in (d / "metrics.jsonl").open()] for d in (a, b)
    ]
    assert logged[0] == logged[1] == sorted(set(logged[0]))


def assert_every_file_loads(log_dir):
    for path in log_dir.rglob("*"):
        assert not path.name.startswith(".tmp-"), path
    json.loads((log_dir / "config.json").read_text())
    json.loads((log_dir / "stats.json").read_text())
    for policy in (log_dir / "policies").iterdir():
        load_policy(str(policy))
    for file in (log_dir / "rollouts").iterdir():
        assert rollouts.load(str(file))


@pytest.fixture(scope="module", autouse=True)
def cached_compiles(compilation_cache):
    """The runs of this config compile its programs once (conftest.CompilationCache), in this
    process and in the CLI runs (`compilation_cache.env()`): resuming loads what the first
    run compiled, as a user's resume does; a changed program still compiles."""
    with compilation_cache.in_process():
        yield


@pytest.fixture(scope="module")
def uninterrupted(repo_dir, tmp_path_factory, compilation_cache):
    log_dir = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run(cli(log_dir, repo_dir), cwd=repo_dir, check=True, capture_output=True,
                   env=compilation_cache.env())  # fmt: skip
    return log_dir


def test_resume_from_an_older_checkpoint_is_bit_exact(uninterrupted, tmp_path):
    log_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, log_dir)
    # Forget every checkpoint but the oldest kept one, as if the run had died there.
    steps = sorted(int(p.name) for p in (log_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert len(steps) == 3 and steps[0] < 15  # max_to_keep=3; 15 iterations in all
    for step in steps[1:]:
        shutil.rmtree(log_dir / "checkpoints" / str(step))
    shutil.rmtree(log_dir / "policies" / "final")
    (log_dir / "stats.json").unlink()
    (log_dir / "rollouts" / "final.npz").unlink()
    train_rl(log_dir=str(log_dir), resume=True, **OVERRIDES)
    assert_same_result(uninterrupted, log_dir)


# One kill point by default; two more (other random points) in the slow run.
MORE_KILL_POINTS = [pytest.param(k, marks=pytest.mark.slow) for k in (1, 2)]


@pytest.mark.parametrize("kill_seed", [0, *MORE_KILL_POINTS])
def test_sigkill_at_a_random_point_then_rerun_completes_with_identical_result(
    uninterrupted, repo_dir, tmp_path, kill_seed, compilation_cache
):
    log_dir = tmp_path / "run"
    env = compilation_cache.env()
    process = subprocess.Popen(
        cli(log_dir, repo_dir), cwd=repo_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    # The kill lands at a random point between iterations 4 and 12 of 15, timed by this
    # machine's own pace (seconds per iteration, from when checkpoints appear), so a fast
    # machine or a warm compilation cache cannot finish the run before the kill.
    rng = random.Random(kill_seed)
    target = rng.choice([4, 6, 8, 10])  # a checkpointed iteration (every 2nd)
    checkpoints, first, deadline = log_dir / "checkpoints", None, time.monotonic() + 120
    while True:
        assert process.poll() is None and time.monotonic() < deadline
        names = [p.name for p in checkpoints.iterdir()] if checkpoints.is_dir() else []
        steps = [int(name) for name in names if name.isdigit()]
        if steps and first is None:
            first = (min(steps), time.monotonic())
        if steps and max(steps) >= target and max(steps) > first[0]:
            break
        time.sleep(0.005)
    per_iteration = (time.monotonic() - first[1]) / (max(steps) - first[0])
    time.sleep(rng.uniform(0.0, 2 * per_iteration))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (log_dir / "stats.json").exists()  # the kill landed before the end
    rerun = subprocess.run(
        cli(log_dir, repo_dir), cwd=repo_dir, capture_output=True, text=True, env=env
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_every_file_loads(log_dir)
    assert_same_result(uninterrupted, log_dir)


def test_resuming_under_another_config_names_the_file_and_fields(uninterrupted, tmp_path):
    log_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, log_dir)
    with pytest.raises(ValueError, match=r"config\.json differs in \['n_episodes_eval'\]"):
        train_rl(log_dir=str(log_dir), **{**OVERRIDES, "n_episodes_eval": 11})


def test_a_finished_run_extends_to_a_longer_total_and_reruns_without_training(
    uninterrupted, tmp_path
):
    log_dir = tmp_path / "run"
    train_rl(log_dir=str(log_dir), **{**OVERRIDES, "total_timesteps": 30720})
    train_rl(log_dir=str(log_dir), **OVERRIDES)  # the extra iterations only
    assert_same_result(uninterrupted, log_dir)
    final = log_dir / "policies" / "final" / "metadata.json"
    written = final.stat().st_mtime_ns
    stats = train_rl(log_dir=str(log_dir), **OVERRIDES)  # finished: its stats, nothing rerun
    assert stats == json.loads((log_dir / "stats.json").read_text())
    assert final.stat().st_mtime_ns == written


def test_a_run_with_a_linear_schedule_cannot_be_extended(uninterrupted, tmp_path):
    log_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, log_dir)
    saved = json.loads((log_dir / "config.json").read_text())
    saved["ppo"]["lr_schedule"] = "linear"
    (log_dir / "config.json").write_text(json.dumps(saved))
    longer = {**OVERRIDES, "total_timesteps": 81920, "ppo": {"lr_schedule": "linear"}}
    with pytest.raises(
        ValueError, match=r"decays linearly over the original total_timesteps \(61440\)"
    ):
        train_rl(log_dir=str(log_dir), **longer)


def test_a_fresh_start_beside_another_configs_files_is_refused(tmp_path):
    config = config_lib.load_config_file("seals_cartpole")
    config_lib.apply_overrides(config, {**OVERRIDES, "seed": 5})
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))  # killed, no checkpoint
    with pytest.raises(ValueError, match=r"another config that made no checkpoint .*\['seed'\]"):
        train_rl(log_dir=str(tmp_path), **OVERRIDES)


def test_resume_requested_without_checkpoints_fails(tmp_path):
    with pytest.raises(ValueError, match=r"resume requested but .*checkpoints.* no complete"):
        train_rl(log_dir=str(tmp_path / "run"), resume=True, **OVERRIDES)
    assert not (tmp_path / "run").exists()  # a refused run leaves no directory behind


def test_divergence_stops_training_naming_the_iteration_and_saves_nothing(tmp_path):
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite .* at PPO iteration 1 \(timestep 4096\); nothing from it was saved\. "
        r"Last good checkpoint: none",
    ):
        train_rl(log_dir=str(tmp_path), ppo={"learning_rate": 1e30}, **OVERRIDES)
    assert not (tmp_path / "policies").exists()
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]


def test_divergence_after_checkpoints_names_the_last_good_one(tmp_path, monkeypatch):
    """The optimizer turns NaN in iteration 5: checkpoints 2 and 4 are good, nothing after."""
    from jaxrl_expert import ppo

    real_make_optimizer = ppo.make_optimizer

    def nan_from_iteration_5(config):
        first_bad_update = 4 * config.ppo.n_epochs * (4096 // config.ppo.batch_size)

        def update(updates, count, params=None):
            poison = jnp.where(count >= first_bad_update, jnp.nan, 0.0)
            return jax.tree.map(lambda u: u + poison, updates), count + 1

        poisoner = optax.GradientTransformation(lambda p: jnp.zeros((), jnp.int32), update)
        return optax.chain(real_make_optimizer(config), poisoner)

    monkeypatch.setattr(ppo, "make_optimizer", nan_from_iteration_5)
    log_dir = tmp_path / "run"
    with pytest.raises(
        FloatingPointError,
        match=r"at PPO iteration 5 \(timestep 20480\).* Last good checkpoint: .*checkpoints/4$",
    ):
        train_rl(log_dir=str(log_dir), **OVERRIDES)
    steps = sorted(int(p.name) for p in (log_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [2, 4]
    assert sorted(os.listdir(log_dir / "policies")) == ["000000012288"]  # iteration 3


def test_a_reward_net_returning_nan_stops_training_at_once(tmp_path):
    from jaxrl_expert import envs
    from jaxrl_expert.rewards import BasicRewardNet, init_reward_net, save_reward_net

    env = envs.make("seals/CartPole-v0")
    net = BasicRewardNet(n_actions=2)
    variables = init_reward_net(net, jax.random.PRNGKey(0), env.observation_space, env.action_space)
    variables = jax.tree.map(lambda x: x * np.nan, variables)
    save_reward_net(str(tmp_path / "nan_net"), net, variables, env.observation_space,
                    env.action_space)  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"iteration 1 .* Last good checkpoint: none"):
        train_rl(log_dir=str(tmp_path / "run"), reward_type="RewardNet_unnormalized",
                 reward_path=str(tmp_path / "nan_net"), **OVERRIDES)  # fmt: skip


def test_reward_net_whose_arrays_do_not_match_its_spec_names_the_directory(tmp_path):
    from jaxrl_expert import envs
    from jaxrl_expert.rewards import BasicRewardNet, init_reward_net, load_reward, save_reward_net

    env = envs.make("CartPole-v1")
    net = BasicRewardNet(n_actions=2)
    variables = init_reward_net(net, jax.random.PRNGKey(0), env.observation_space, env.action_space)
    path = tmp_path / "net"
    save_reward_net(str(path), net, variables, env.observation_space, env.action_space)
    spec = json.loads((path / "reward_net.json").read_text())
    spec["module"]["kwargs"]["hid_sizes"] = [16, 16]  # another input size for layer 2
    (path / "reward_net.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=re.escape(f"reward net arrays under {str(path)!r}")):
        load_reward("RewardNet_unshaped", str(path))


def test_package_never_unpickles_evals_or_execs(repo_dir):
    """No pickle.load, np.load(allow_pickle=True), eval or exec anywhere in the package."""
    # Writing imitation's pickled `infos` is allowed; reading anything pickled is not.
    forbidden = re.compile(
        r"cloudpickle|pickle\.loads?\(|Unpickler|allow_pickle\s*=\s*True"
        r"|(?<![\w.])eval\(|(?<![\w.])exec\(|torch\.load|joblib\.load"
    )
    offenders = []
    for path in pathlib.Path(repo_dir, "jaxrl_expert").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if forbidden.search(line):
                offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == []


def test_a_busy_log_dir_refuses_a_second_run_and_ctrl_c_ends_the_first_in_one_line(
    repo_dir, tmp_path
):
    log_dir = tmp_path / "run"
    command = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}",
               "--config.env_id=CartPole-v1", "--config.total_timesteps=100000000",
               "--config.ppo.n_envs=4", "--config.ppo.n_steps=16", "--config.ppo.batch_size=64",
               "--config.ppo.n_epochs=1", "--config.checkpoint_interval=640",
               "--config.policy_save_interval=0", "--config.log_interval=1000"]  # fmt: skip
    env = fast_compile_env()  # the first exits once its compile ends: make that sooner
    first = subprocess.Popen(command, cwd=repo_dir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (log_dir / ".lock").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        while not (log_dir / "checkpoints").is_dir():  # refused for the lock, not the config
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        second = subprocess.run([*command, "--config.seed=1"], cwd=repo_dir, env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert second.returncode == 1
        assert (
            second.stderr.strip()
            .splitlines()[-1]
            .startswith(f"train_rl: log_dir '{log_dir}' is in use by process {first.pid} on ")
        )
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 1
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1] == (
            f"train_rl: interrupted; the same command (log_dir {log_dir}) resumes from the last "
            "checkpoint"
        )
        assert not (log_dir / ".lock").exists()  # released on the way out
    finally:
        first.kill()
        first.wait()
    holder = {"host": socket.gethostname(), "pid": first.pid}  # a holder that is gone
    (log_dir / ".lock").write_text(json.dumps(holder))
    DirectoryLock(str(log_dir), "log_dir").release()  # its lock is taken over
