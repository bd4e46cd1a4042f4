"""Every shipped config loads, validates and trains for one tiny iteration."""

import pathlib

import pytest

from jaxrl_expert import config as config_lib
from jaxrl_expert import envs
from jaxrl_expert.config import load_config_file
from jaxrl_expert.train_rl import make_env, train_rl

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.py") if p.stem != "__init__")
TINY = {
    "total_timesteps": 16,
    "n_episodes_eval": 1,
    "policy_save_interval": 0,
    "policy_save_final": False,
    "rollout_save_final": False,
    "checkpoint_interval": 0,
    "ppo": {"n_envs": 2, "n_steps": 8, "batch_size": 16, "n_epochs": 1},
}


def load(name):
    return load_config_file(str(CONFIG_DIR / f"{name}.py"))


def is_brax(name):
    config = load(name)
    return envs.is_brax(config.env_id) and config.env_backend in ("auto", "jax")


def test_every_env_family_has_a_config():
    env_ids = {load(name).env_id for name in CONFIGS}
    classic = {i for i in envs.ENV_IDS if not envs.is_brax(i)}
    assert classic <= env_ids, classic - env_ids
    brax = {i for i in envs.ENV_IDS if envs.is_brax(i)}
    assert len(brax - env_ids) == 0, brax - env_ids


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_and_documented(name):
    config = load(name)
    config_lib.validate(config)
    make_env(config)  # builds the env: e.g. a physics pipeline the body lacks fails
    doc = (CONFIG_DIR / f"{name}.py").read_text().split('"""')[1]
    assert f"--config=configs/{name}.py" in doc and "Run:" in doc


def is_gym(name):  # host envs: tests/test_host_envs.py trains the real seals and MuJoCo envs
    return load(name).env_backend != "auto"


# Trained by other tests of the default run: tests/test_sac.py, tests/test_images.py
# (minatar_breakout, which stands for the other MinAtar configs: the same settings, and
# each game steps in test_envs.py), and seals_cartpole, the default config, by most test
# files (cartpole is its values on CartPole-v1, which tests/test_scale.py trains).
TRAINED_ELSEWHERE = {"sac_pendulum", "sac_mountain_car_continuous", "minatar_breakout",
                     "minatar_space_invaders", "minatar_asterix", "minatar_freeway",
                     "seals_cartpole", "cartpole"}  # fmt: skip


def smoke_is_slow(name):
    return is_brax(name) or is_gym(name) or name in TRAINED_ELSEWHERE


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if smoke_is_slow(n) else n for n in CONFIGS]
)
def test_config_smoke_trains_one_tiny_iteration(name, tmp_path):
    overrides = dict(TINY)
    if is_brax(name):  # short episodes
        overrides["env_kwargs"] = {**load(name).env_kwargs.to_dict(), "episode_length": 8}
    if is_gym(name):
        overrides["env_kwargs"] = {"max_episode_steps": 8}
    if load(name).algo == "sac":
        overrides["sac"] = {"n_envs": 2, "batch_size": 16, "learning_starts": 8}
    elif load(name).ppo.unroll_length is not None:  # Brax's minibatches: whole unrolls
        overrides["ppo"] = {**TINY["ppo"], "unroll_length": 8}
    stats = train_rl(load(name), log_dir=str(tmp_path), **overrides)
    assert stats["n_traj"] == 1
