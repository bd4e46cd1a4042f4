"""Bad input fails before any compile, naming the field, the value and what is allowed."""

import re
import subprocess
import sys

import jax
import pytest

from jaxrl_expert import envs
from jaxrl_expert import train_rl as train_rl_module
from jaxrl_expert.config import base_config


@pytest.fixture
def no_compile(monkeypatch):
    envs.make("CartPole-v1")  # gymnax decorates with jax.jit at import: import it first

    def refuse(*args, **kwargs):
        raise AssertionError("jax.jit called before validation finished")

    monkeypatch.setattr(jax, "jit", refuse)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"total_timesteps": -5}, r"config\.total_timesteps=-5 is invalid; must be an int >= 1"),
        ({"total_timesteps": 1.5}, r"config\.total_timesteps=1\.5 .* an int"),
        (
            {"ppo": {"n_envs": 3, "n_steps": 10, "batch_size": 4}},
            r"config\.ppo\.batch_size=4 .* divisor of n_envs \* n_steps = 3 \* 10 = 30",
        ),
        (
            {"env_id": "CartPole-v9"},
            r"config\.env_id='CartPole-v9' is invalid: .*did you mean 'CartPole-v1'",
        ),
        ({"ppo": {"activation": "sigmoidish"}}, r"config\.ppo\.activation='sigmoidish' .*'tanh'"),
        ({"ppo": {"learning_rate": 0.0}}, r"config\.ppo\.learning_rate=0\.0 .* \(0, None\]"),
        ({"ppo": {"gamma": 1.5}}, r"config\.ppo\.gamma=1\.5 .* \[0, 1\]"),
        ({"ppo": {"n_epochs": 0}}, r"config\.ppo\.n_epochs=0 .* int >= 1"),
        ({"ppo": {"lr_schedule": "cosine"}}, r"config\.ppo\.lr_schedule='cosine'.*'linear'"),
        ({"ppo": {"net_arch": {"pi": (64, -1)}}}, r"config\.ppo\.net_arch\.pi=\(64, -1\)"),
        ({"ppo": {"clip_range_vf": -0.2}}, r"config\.ppo\.clip_range_vf=-0\.2"),
        ({"normalize_reward": "yes"}, r"config\.normalize_reward='yes' .* True or False"),
        ({"normalize_kwargs": {"clip_obs": 0.0}}, r"config\.normalize_kwargs\.clip_obs=0\.0"),
        ({"seed": -1}, r"config\.seed=-1"),
        ({"env_kwargs": {"gravityy": 1.0}}, r"env_kwargs.*\['gravityy'\].*allowed"),
        ({"ppo": {"n_epoch": 5}}, r"unknown config field 'n_epoch'"),
        ({"total_timestep": 5}, r"unknown config field 'total_timestep'"),
        (
            {"rollout_save_n_timesteps": 100, "rollout_save_n_episodes": 3},
            r"config\.rollout_save_n_episodes=3 .*set exactly one",
        ),
        ({"rollout_save_n_timesteps": 0}, r"config\.rollout_save_n_timesteps=0 .* int >= 1"),
        ({"rollout_save_n_episodes": -2}, r"config\.rollout_save_n_episodes=-2 .* int >= 1"),
        ({"policy_save_interval": 1.5}, r"config\.policy_save_interval=1\.5 .* an int"),
        (
            {"agent_path": "/nonexistent/policy"},
            r"config\.agent_path='/nonexistent/policy'.*missing",
        ),
    ],
)
def test_bad_config_fails_before_compile_naming_field(no_compile, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train_rl_module.train_rl(log_dir=str(tmp_path / "run"), **overrides)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--config.ppo.n_epoch=5", "n_epoch"),
        # config_flags cannot parse None for a float field; train_rl's own parser does,
        # and validation then judges the value like any other.
        ("--config.ppo.learning_rate=None", "config.ppo.learning_rate=None is invalid"),
    ],
)
def test_cli_names_the_bad_field(repo_dir, tmp_path, flag, message):
    command = [sys.executable, "-m", "jaxrl_expert.train_rl", flag, f"--log_dir={tmp_path}"]
    result = subprocess.run(command, cwd=repo_dir, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr


# --- Random invalid configs (hypothesis): always a ValueError naming the field. ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

not_an_int = st.one_of(st.floats(allow_nan=True), st.text(max_size=5), st.booleans(), st.none())
not_a_number = st.one_of(
    st.text(max_size=5), st.booleans(), st.none(), st.just(float("nan")), st.just(float("inf"))
)
not_a_bool = st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none())
POSITIVE_INTS = ["total_timesteps", "n_episodes_eval", "log_interval", "max_to_keep",
                 "ppo.n_envs", "ppo.n_steps", "ppo.n_epochs"]  # fmt: skip
POSITIVE_NUMBERS = ["ppo.learning_rate", "ppo.clip_range", "normalize_kwargs.clip_obs",
                    "normalize_kwargs.clip_reward", "normalize_kwargs.epsilon"]  # fmt: skip
OPTIONAL_POSITIVE_NUMBERS = ["ppo.max_grad_norm", "ppo.clip_range_vf"]  # None: off
UNIT_INTERVAL = ["ppo.gamma", "ppo.gae_lambda", "normalize_kwargs.gamma"]
BOOLS = ["normalize_reward", "policy_save_final", "rollout_save_final", "rollout_deterministic",
         "ppo.normalize_advantage", "ppo.ortho_init", "normalize_kwargs.norm_obs"]  # fmt: skip
CHOICES = {"env_id": envs.ENV_IDS, "env_backend": envs.ENV_BACKENDS,
           "ppo.activation": ("tanh", "relu", "elu", "gelu", "silu"),
           "ppo.lr_schedule": ("constant", "linear")}  # fmt: skip


def _invalid_field_value():
    return st.one_of(
        st.tuples(st.sampled_from(POSITIVE_INTS), st.one_of(st.integers(max_value=0), not_an_int)),
        st.tuples(
            st.sampled_from(POSITIVE_NUMBERS), st.one_of(st.floats(max_value=0.0), not_a_number)
        ),
        st.tuples(
            st.sampled_from(OPTIONAL_POSITIVE_NUMBERS),
            st.one_of(st.floats(max_value=0.0), not_a_number.filter(lambda v: v is not None)),
        ),
        st.tuples(
            st.sampled_from(UNIT_INTERVAL),
            st.one_of(st.floats(min_value=1.0001), st.floats(max_value=-0.0001), not_a_number),
        ),
        st.tuples(st.sampled_from(BOOLS), not_a_bool),
        *(
            st.tuples(st.just(field), st.text(max_size=8).filter(lambda v, a=allowed: v not in a))
            for field, allowed in CHOICES.items()
        ),
    )


def _nested(field, value):
    head, _, leaf = field.partition(".")
    return {head: {leaf: value}} if leaf else {head: value}


@settings(max_examples=150, deadline=None)
@given(_invalid_field_value())
def test_random_invalid_configs_fail_with_a_value_error_naming_the_field(field_value):
    field, value = field_value
    real_jit = jax.jit
    jax.jit = None  # any compile would crash with a TypeError, not a ValueError
    try:
        with pytest.raises(ValueError, match=re.escape(f"config.{field}=")):
            train_rl_module.train_rl(log_dir="/nonexistent/never-created", **_nested(field, value))
    finally:
        jax.jit = real_jit


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_random_unknown_fields_are_rejected_by_name(name):
    known = set(base_config().keys()) | {f"ppo.{k}" for k in base_config().ppo}
    if name in known or f"ppo.{name}" in known:
        return
    with pytest.raises(ValueError, match=f"unknown config field '{name}'"):
        train_rl_module.train_rl(log_dir="/nonexistent/never-created", ppo={name: 1})
