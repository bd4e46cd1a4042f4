"""End to end: the CLI's default job learns an expert; the Brax path trains."""

import json

import numpy as np
import pytest

from jaxrl_expert import load_policy
from jaxrl_expert.config import load_config_file
from jaxrl_expert.train_rl import train_rl


def test_default_cli_run_trains_a_seals_cartpole_expert(default_cli_run):
    log_dir, _ = default_cli_run
    stats = json.loads((log_dir / "stats.json").read_text())
    assert stats["n_traj"] == 50
    assert stats["monitor_return_mean"] >= 490
    assert stats["len_mean"] == 500  # seals: fixed horizon


def test_default_cli_run_writes_config_tensorboard_and_console_lines(default_cli_run):
    log_dir, result = default_cli_run
    config = json.loads((log_dir / "config.json").read_text())
    assert config["env_id"] == "seals/CartPole-v0" and config["ppo"]["n_envs"] == 8
    assert config["total_timesteps"] == 100_000
    events = list((log_dir / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000
    lines = [line for line in result.stderr.splitlines() if " steps/s | " in line]
    assert len(lines) == 25  # one per iteration: ceil(1e5 / 4096)
    assert "timesteps 102400 |" in lines[-1]


@pytest.mark.slow  # ~30 s of Brax compiles; Brax's reset and step: tests/test_envs.py
def test_brax_inverted_pendulum_trains_end_to_end(repo_dir, tmp_path):
    config = load_config_file(f"{repo_dir}/configs/brax_inverted_pendulum.py")
    stats = train_rl(
        config,
        log_dir=str(tmp_path),
        total_timesteps=64,
        n_episodes_eval=2,
        policy_save_interval=0,
        rollout_save_final=False,  # one Brax compile less; rollout files: test_saving.py
        env_kwargs={"backend": "spring", "episode_length": 20},
        ppo={"n_envs": 4, "n_steps": 8, "batch_size": 16, "n_epochs": 1,
             "net_arch": {"pi": (8,), "vf": (8,)}},
    )  # fmt: skip
    assert stats["n_traj"] == 2
    assert 1 <= stats["len_max"] <= 20  # the episode_length option caps episodes
    assert stats["return_mean"] == stats["monitor_return_mean"] == stats["len_mean"]
    assert (tmp_path / "stats.json").exists()
    policy = load_policy(str(tmp_path / "policies" / "final"))
    assert policy.act(np.zeros(4), deterministic=True).shape == (1,)  # one action in [-1, 1]
