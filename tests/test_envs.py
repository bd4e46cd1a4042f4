"""Every env id behind one functional interface: make, reset, step under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import config as config_lib
from jaxrl_expert import envs
from jaxrl_expert.envs.brax import BRAX_NAMES, RESCALED_ACTION_NAMES, SEALS_BRAX_IDS, BraxEnv
from jaxrl_expert.envs.registry import BRAX_IDS

CLASSIC_IDS = [i for i in envs.ENV_IDS if not envs.is_brax(i)]
# Full-size Brax bodies cost ~10 s of XLA compile each on a 2-core CPU.
HEAVY_BRAX = {
    "brax/humanoid",
    "brax/humanoidstandup",
    "brax/ant",
    "brax/pusher",
    "seals/Ant-v1",
    "seals/Humanoid-v1",
    "seals/Walker2d-v1",
    "seals/Hopper-v1",
    "brax/walker2d",
    "brax/hopper",
    "seals/Swimmer-v1",
    # compiled by the dedicated halfcheetah test / constructed by the seals one:
    "brax/halfcheetah",
    "seals/HalfCheetah-v1",
    # ~10 s each; test_train_rl.py's Brax test resets and steps brax/inverted_pendulum
    # (spring) under jit and vmap while it trains
    "brax/inverted_pendulum",
    "brax/inverted_double_pendulum",
    "brax/swimmer",
    "brax/reacher",
    # ~4-6 s each; Breakout stands for gymnax's MinAtar games
    "Asterix-MinAtar",
    "Freeway-MinAtar",
    "SpaceInvaders-MinAtar",
}


def _zero_actions(env, n):
    if isinstance(env.action_space, envs.Discrete):
        return jnp.zeros((n,), jnp.int32)
    return jnp.zeros((n, *env.action_space.shape), jnp.float32)


def _reset_and_step(env, n_envs=2, n_steps=3):
    @jax.jit
    def run(key):
        state = jax.vmap(env.reset)(jax.random.split(key, n_envs))
        step = lambda s, _: (jax.vmap(env.step)(s, _zero_actions(env, n_envs)), None)
        state, _ = jax.lax.scan(step, state, None, length=n_steps)
        return state

    return run(jax.random.PRNGKey(0))


@pytest.mark.parametrize(
    "env_id",
    [pytest.param(i, marks=pytest.mark.slow) if i in HEAVY_BRAX else i for i in envs.ENV_IDS],
)
def test_every_env_resets_and_steps_under_jit_and_vmap(env_id):
    # The cheapest physics pipeline to compile; Brax's swimmer has only `generalized` (and
    # its fluid forces need our shim for JAX 0.10's jnp.clip, so it stays in the default run).
    kwargs = {"backend": "generalized" if "wimmer" in env_id else "spring"}
    kwargs = kwargs if envs.is_brax(env_id) else {}
    env = envs.make(env_id, **kwargs)
    state = _reset_and_step(env)
    assert state.obs.shape == (2, *env.observation_space.shape)
    # float32 vectors, or uint8 images (MinAtar's 0/1 grids) that stay uint8 on device
    assert state.obs.dtype == env.observation_space.dtype
    assert (env.observation_space.dtype == "uint8") == ("MinAtar" in env_id)
    assert state.reward.shape == (2,) and state.terminated.dtype == jnp.bool_
    assert bool(jnp.all(jnp.isfinite(state.obs)))
    assert np.all(np.asarray(state.episode_length) >= 1)


@pytest.mark.slow  # ~18 s of compile; brax/inverted_pendulum trains in test_train_rl.py
def test_brax_halfcheetah_resets_and_steps():
    env = envs.make("brax/halfcheetah", backend="spring")  # the cheapest pipeline to compile
    state = _reset_and_step(env, n_steps=2)
    assert state.obs.shape == (2, 17)
    assert env.action_space.shape == (6,)
    assert not bool(jnp.any(state.done))


def test_seals_brax_variant_keeps_positions_in_observation():
    plain = envs.make("brax/halfcheetah", backend="spring")
    seals = envs.make("seals/HalfCheetah-v1", backend="spring")
    assert seals.observation_space.shape[0] == plain.observation_space.shape[0] + 1
    assert set(SEALS_BRAX_IDS) <= set(envs.ENV_IDS) and len(BRAX_IDS) == 11


def test_unknown_env_id_names_close_ids_of_both_registries():
    with pytest.raises(ValueError, match=r"'CartPole-v9' is not a registered Gymnasium env; "
                       r"did you mean 'CartPole-v1'.*our JAX ports.*'CartPole-v1'"):  # fmt: skip
        envs.make("CartPole-v9")


def test_unknown_env_kwarg_names_allowed_ones():
    with pytest.raises(ValueError, match=r"\['gravityy'\].*gravity"):
        envs.make("CartPole-v1", gravityy=3.0)


def _play(env, actions, key=0):
    state = env.reset(jax.random.PRNGKey(key))
    step = jax.jit(env.step)
    states = []
    for action in actions:
        state = step(state, action)
        states.append(state)
    return states


def test_cartpole_v1_terminates_and_auto_resets_with_episode_totals():
    env = envs.make("CartPole-v1")
    states = _play(env, [jnp.int32(1)] * 40)  # always push right: falls within 40 steps
    done_at = next(t for t, s in enumerate(states) if bool(s.done))
    finished = states[done_at]
    assert bool(finished.terminated) and not bool(finished.truncated)
    assert int(finished.episode_length) == done_at + 1
    assert float(finished.episode_return) == done_at + 1  # reward 1 per step
    # obs is the next episode's first observation; final_obs the true last one.
    assert float(jnp.abs(finished.final_obs[2])) > 0.2
    assert float(jnp.max(jnp.abs(finished.obs))) <= 0.05
    after = states[done_at + 1]
    assert int(after.episode_length) == 1 and float(after.episode_return) == 1.0


def test_reset_to_first_state_restarts_each_env_where_its_first_episode_began():
    env = envs.make("CartPole-v1", reset_to_first_state=True)
    step = jax.jit(jax.vmap(env.step))
    state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 3))
    first_obs = np.asarray(state.obs)
    assert len({tuple(o) for o in first_obs}) == 3  # each env drew its own start
    obs, done = [], []
    for _ in range(60):  # always push right: every episode falls within 40 steps
        state = step(state, jnp.ones((3,), jnp.int32))
        obs.append(np.asarray(state.obs))
        done.append(np.asarray(state.done))
    obs, done = np.stack(obs), np.stack(done)
    for i in range(3):
        ends = np.flatnonzero(done[:, i])
        assert len(ends) >= 2
        for t in ends:  # after every end, the env is back at its own first state
            np.testing.assert_array_equal(obs[t, i], first_obs[i])
        # the same start and actions replay the same episode
        assert ends[1] - ends[0] == ends[0] + 1


def test_reset_to_first_state_is_refused_for_host_envs_in_one_line():
    with pytest.raises(ValueError, match=r"reset_to_first_state=True needs a JAX env; .*host"):
        envs.make("CartPole-v1", "gymnasium", reset_to_first_state=True)
    config = config_lib.base_config()
    config.env_backend, config.reset_to_first_state = "gymnasium", True
    with pytest.raises(
        ValueError, match=r"config.reset_to_first_state=True is invalid; must be False"
    ):
        config_lib.validate(config)


def test_seals_cartpole_never_terminates_and_zeroes_reward_when_fallen():
    env = envs.make("seals/CartPole-v0")
    states = _play(env, [jnp.int32(1)] * 500)
    assert not any(bool(s.terminated) for s in states)
    assert [bool(s.truncated) for s in states].index(True) == 499
    rewards = np.array([float(s.reward) for s in states])
    assert rewards[0] == 1.0 and rewards[-1] == 0.0 and set(rewards) == {0.0, 1.0}
    assert float(states[-1].episode_return) == rewards.sum()
    thetas = np.array([float(s.final_obs[2]) for s in states])
    assert np.all(np.abs(thetas) <= np.pi + 1e-6)  # wrapped


def test_seals_mountain_car_goal_is_absorbing():
    env = envs.make("seals/MountainCar-v0")
    state = env.reset(jax.random.PRNGKey(0))
    inner, _ = state.core
    # Start just below the goal moving right: reaches it on the first step.
    at_goal = inner.replace(position=jnp.float32(0.49), velocity=jnp.float32(0.07))
    state = state.replace(core=(at_goal, jnp.zeros((), bool)))
    step = jax.jit(env.step)
    first = step(state, jnp.int32(2))
    assert float(first.reward) == -1.0 and not bool(first.terminated)
    second = step(first, jnp.int32(0))
    third = step(second, jnp.int32(2))
    for s in (second, third):
        assert float(s.reward) == 0.0
        np.testing.assert_array_equal(s.obs, first.obs)


def test_time_limit_truncates_pendulum_at_200_steps():
    env = envs.make("Pendulum-v1")
    states = _play(env, [jnp.zeros((1,))] * 201)
    assert [bool(s.truncated) for s in states].index(True) == 199
    assert not any(bool(s.terminated) for s in states)
    assert int(states[199].episode_length) == 200


def _brax_step_rescales_actions(name):
    """Whether Brax's own `step` of env `name` maps [-1, 1] onto the actuator range."""
    import inspect

    from brax import envs as brax_envs

    source = inspect.getsource(brax_envs._envs[name].step)
    return "ctrl_range" in source


def test_brax_envs_that_rescale_actions_are_the_listed_ones():
    # Read off Brax's source, so a Brax release that changes its envs fails here.
    assert set(RESCALED_ACTION_NAMES) == {n for n in BRAX_NAMES if _brax_step_rescales_actions(n)}
    assert set(RESCALED_ACTION_NAMES) == {
        "humanoid", "humanoidstandup", "inverted_pendulum", "pusher"
    }  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if f"brax/{n}" in HEAVY_BRAX else n
        for n in BRAX_NAMES
    ],
)
def test_brax_action_bounds_are_what_the_envs_step_expects(name):
    env = BraxEnv(name)
    ctrl_range = np.asarray(env._env.sys.actuator.ctrl_range, np.float32)
    if _brax_step_rescales_actions(name):  # e.g. inverted_pendulum: [-3, 3] from [-1, 1]
        low, high = np.full(len(ctrl_range), -1.0), np.full(len(ctrl_range), 1.0)
    else:  # actions go to the actuators as they are
        low, high = ctrl_range[:, 0], ctrl_range[:, 1]
    assert env.action_space.shape == (env._env.action_size,) == (len(ctrl_range),)
    np.testing.assert_array_equal(env.action_space.low_array, low)
    np.testing.assert_array_equal(env.action_space.high_array, high)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps_in_episode": 0}, r"max_steps_in_episode=0 is invalid .*an int >= 1"),
        ({"max_steps_in_episode": -1}, r"max_steps_in_episode=-1 is invalid"),
        ({"max_steps_in_episode": 2.5}, r"max_steps_in_episode=2.5 is invalid"),
        ({"gravity": "high"}, r"gravity='high' is invalid for CartPole-v1; must be a number"),
    ],
)
def test_gymnax_env_kwargs_are_checked_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        envs.make("CartPole-v1", **kwargs)
    assert "\n" not in str(e.value)
