"""Atari through Gymnasium (ale-py): SB3's AtariWrapper preprocessing, uint8 frames, rewards."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("ale_py", reason="needs the atari extra: pip install -e '.[atari]'")

from jaxrl_expert import config as config_lib
from jaxrl_expert import envs, load_policy
from jaxrl_expert.envs.host import ATARI_WRAPPER_DEFAULTS
from jaxrl_expert.train_rl import train_rl

FRAMES = envs.Box.from_bounds(0, 255, (84, 84, 4), "uint8")


def play(env, n_envs, n_steps, seed=0):
    """Random actions under jit(vmap): the states after each step, stacked (step, env)."""
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    state = reset(jax.random.split(jax.random.key(seed), n_envs))
    first, states = state, []
    for key in jax.random.split(jax.random.key(seed + 1), n_steps):
        state = step(state, jax.random.randint(key, (n_envs,), 0, env.action_space.n))
        states.append(jax.device_get(state))
    return first, jax.tree.map(lambda *xs: np.stack(xs), *states)


def lives(env, state, i):
    """Lives left in env i's game (the Gymnasium vector env behind the state)."""
    vector = env.vectors.get(int(np.asarray(state.core)[i]))
    return vector.envs[i].unwrapped.ale.lives()


def test_breakout_v5_steps_as_stacked_84x84_uint8_frames_under_jit_and_vmap():
    env = envs.make("ALE/Breakout-v5")
    assert env.observation_space == FRAMES and env.observation_space.is_image
    assert env.action_space == envs.Discrete(4)
    assert env.max_episode_steps == 108_000 // 4  # ALE's frame cap, in agent steps
    assert env.atari_wrapper == ATARI_WRAPPER_DEFAULTS
    first, states = play(env, n_envs=2, n_steps=8)
    assert first.obs.dtype == jnp.uint8 and first.obs.shape == (2, 84, 84, 4)
    # VecFrameStack's zero padding after a reset; the newest frame is the last channel.
    assert not np.any(first.obs[..., :3]) and np.all(first.obs[..., 3].max(axis=(1, 2)) > 0)
    assert states.obs.dtype == np.uint8 and states.obs.shape == (8, 2, 84, 84, 4)
    assert states.final_obs.dtype == np.uint8
    # Each step shifts the stack by one frame.
    np.testing.assert_array_equal(states.obs[1, ..., :3], states.obs[0, ..., 1:])
    env.close()


@pytest.mark.parametrize(
    "env_id, kwargs, space, horizon",
    [
        ("BreakoutNoFrameskip-v4", {}, FRAMES, 27_000),
        (
            "ALE/Pong-v5",
            {"atari_wrapper": {"frame_stack": 2, "screen_size": 64}, "max_episode_steps": 500},
            envs.Box.from_bounds(0, 255, (64, 64, 2), "uint8"),
            500,
        ),
        (
            "ALE/Breakout-v5",
            {"atari_wrapper": False},
            envs.Box.from_bounds(0, 255, (210, 160, 3), "uint8"),
            27_000,  # ALE's own frame skip of 4
        ),
    ],
)
def test_atari_ids_and_preprocessing_choices_give_their_spaces(env_id, kwargs, space, horizon):
    env = envs.make(env_id, **kwargs)
    assert env.observation_space == space and env.max_episode_steps == horizon


def test_clipped_rewards_train_while_true_reward_keeps_the_score():
    # Space Invaders pays 5 to 30 points an invader: clipping shows within a few dozen steps.
    clipped = envs.make("ALE/SpaceInvaders-v5")
    scored = envs.make("ALE/SpaceInvaders-v5", atari_wrapper={"clip_reward": False})
    _, a = play(clipped, n_envs=2, n_steps=40)
    _, b = play(scored, n_envs=2, n_steps=40)
    assert a.true_reward.max() > 1  # the game's score, unclipped
    np.testing.assert_array_equal(a.true_reward, b.true_reward)  # same seeds, same game
    np.testing.assert_array_equal(a.reward, np.sign(a.true_reward))
    np.testing.assert_array_equal(b.reward, b.true_reward)
    np.testing.assert_array_equal(a.true_episode_return, np.cumsum(a.true_reward, axis=0))
    np.testing.assert_array_equal(a.episode_return, np.cumsum(a.reward, axis=0))


@pytest.mark.parametrize("life_loss", [True, False])
def test_episodic_life_ends_an_episode_per_life_while_the_game_plays_on(life_loss):
    env = envs.make(
        "ALE/Breakout-v5", atari_wrapper={"terminal_on_life_loss": life_loss, "noop_max": 0}
    )
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    state = reset(jax.random.split(jax.random.key(0), 1))
    assert lives(env, state, 0) == 5
    keys = iter(jax.random.split(jax.random.key(1), 3000))
    while not state.done[0]:
        state = step(state, jax.random.randint(next(keys), (1,), 0, 4))
    assert bool(state.terminated[0])
    # A lost life ends an episode and the same game goes on; without, the game must end.
    assert lives(env, state, 0) == (4 if life_loss else 5)
    env.close()


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        (
            "ALE/Breakout-v5",
            {"atari_wrapper": {"frame_stak": 4}},
            "env_kwargs atari_wrapper: unknown key(s) ['frame_stak']; allowed: "
            + str(sorted(ATARI_WRAPPER_DEFAULTS)),
        ),
        (
            "ALE/Breakout-v5",
            {"atari_wrapper": {"clip_reward": 1}},
            "env_kwargs atari_wrapper.clip_reward=1 is invalid; must be true or false",
        ),
        (
            "ALE/Breakout-v5",
            {"frameskip": 4},
            "env_kwargs frameskip=4 with atari_wrapper.frame_skip=4: the preprocessing skips "
            "frames itself; drop frameskip",
        ),
        (
            "CartPole-v1",
            {"atari_wrapper": {}},
            "env_kwargs atari_wrapper: CartPole-v1 is not an Atari (ALE) game",
        ),
    ],
)
def test_bad_atari_settings_fail_in_one_line(env_id, kwargs, message):
    with pytest.raises(ValueError) as e:
        envs.make(env_id, "gymnasium", **kwargs)
    assert str(e.value) == message


def test_float_observations_stay_float32_on_the_host_path():
    env = envs.make("CartPole-v1", "gymnasium")
    assert env.observation_space.dtype == "float32" and not env.observation_space.is_image
    state = jax.jit(env.reset)(jax.random.key(0))
    assert state.obs.dtype == jnp.float32


@pytest.mark.slow  # NatureCNN compiles on 84x84x4 frames: ~1 min on a 2-core CPU
def test_the_atari_config_trains_one_tiny_iteration_and_saves_uint8_rollouts(tmp_path):
    config = config_lib.load_config_file(config_lib.resolve_config_file("atari_breakout"))
    config.env_kwargs.max_episode_steps = 200  # small rollout buffers (sized by the horizon)
    stats = train_rl(
        config,
        log_dir=str(tmp_path),
        total_timesteps=32,
        n_episodes_eval=1,
        policy_save_interval=0,
        rollout_save_n_timesteps=64,
        ppo={"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1},
    )
    assert stats["n_traj"] >= 1
    policy = load_policy(str(tmp_path / "policies" / "final"))
    assert policy.observation_space == FRAMES
    metadata = json.loads((tmp_path / "policies" / "final" / "metadata.json").read_text())
    assert metadata["env_kwargs"]["atari_wrapper"] == ATARI_WRAPPER_DEFAULTS
    with np.load(tmp_path / "rollouts" / "final.npz") as rollouts:
        obs = rollouts["obs"]
    assert obs.dtype == np.uint8 and obs.shape[1:] == (84, 84, 4) and len(obs) >= 64


@pytest.mark.slow  # ~8 s; MinAtar's render (tests/test_images.py) draws image policies by default
def test_render_plays_an_atari_policy_as_the_frames_it_saw(tmp_path):
    from PIL import Image

    from jaxrl_expert import checkpoints
    from jaxrl_expert.policy import Policy, PolicySpec
    from jaxrl_expert.render import render_policy

    config = config_lib.load_config_file(config_lib.config_path("atari_breakout"))
    config.env_kwargs.atari_wrapper["screen_size"] = 36  # NatureCNN's smallest: fast to compile
    env = envs.make(config.env_id, config.env_backend, **config.env_kwargs.to_dict())
    spec = PolicySpec.from_config(config, env)
    policy = Policy(spec, jax.jit(spec.init_params)(jax.random.PRNGKey(0)), spec.init_obs_rms())
    checkpoints.save_policy(str(tmp_path / "policy"), policy, timesteps=0)
    result = render_policy(str(tmp_path / "policy"), str(tmp_path / "breakout.gif"), max_steps=6)
    with Image.open(tmp_path / "breakout.gif") as gif:
        assert gif.n_frames == result["episode_length"] + 1 == 7
        assert gif.size == (396, 396)  # the newest 36x36 frame, enlarged 11x
    with pytest.raises(ValueError, match=r"breakout.mp4' is invalid .* must be a \.gif file"):
        render_policy(str(tmp_path / "policy"), str(tmp_path / "breakout.mp4"), max_steps=6)
