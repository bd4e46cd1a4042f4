"""EnvPool's Atari behind the host path: the Gymnasium ids, spaces and preprocessing."""

import importlib.util
import os

import numpy as np
import pytest

if importlib.util.find_spec("envpool") is None:  # not imported here: see the env test
    pytest.skip("needs the envpool extra: pip install -e '.[envpool]'", allow_module_level=True)
pytest.importorskip("ale_py", reason="needs the atari extra: pip install -e '.[atari]'")

from test_atari import FRAMES, play

from jaxrl_expert import envs


def test_envpool_serves_the_gymnasium_ids_spaces_and_horizons():
    for env_id, kwargs in [("ALE/Breakout-v5", {}), ("BreakoutNoFrameskip-v4", {}),
                           ("ALE/Pong-v5", {"atari_wrapper": {"frame_stack": 2,
                                                              "screen_size": 64},
                                            "max_episode_steps": 500})]:  # fmt: skip
        ours, gym = envs.make(env_id, "envpool", **kwargs), envs.make(env_id, **kwargs)
        assert ours.observation_space == gym.observation_space
        assert ours.action_space == gym.action_space
        assert ours.max_episode_steps == gym.max_episode_steps
    assert envs.make("ALE/Breakout-v5", "envpool").observation_space == FRAMES


def test_envpool_frames_stack_reset_in_the_same_step_and_rewards_clip():
    env = envs.make("ALE/SpaceInvaders-v5", "envpool", max_episode_steps=60)
    first, states = play(env, n_envs=3, n_steps=130)
    assert first.obs.dtype == np.uint8 and states.obs.shape == (130, 3, 84, 84, 4)
    np.testing.assert_array_equal(states.obs[1, ..., :3], states.obs[0, ..., 1:])
    # Space Invaders pays 5 to 30 points an invader: the training reward is its sign.
    assert states.true_reward.max() > 1
    np.testing.assert_array_equal(states.reward, np.sign(states.true_reward))
    # Episodes end (a lost life, or the 60-step limit) and the next starts in the same
    # step: obs is the new episode's first frame stack, final_obs the last one's.
    done = states.done
    assert done.any() and np.all(states.episode_length <= 60)
    t, i = np.argwhere(done)[0]
    assert not np.array_equal(states.obs[t, i], states.final_obs[t, i])
    np.testing.assert_array_equal(states.obs[t + 1, i, ..., :3], states.obs[t, i, ..., 1:])
    assert states.episode_length[t + 1, i] == 1
    env.close()


def test_envpool_leaves_the_environment_variables_as_they_were():
    """EnvPool's import sets MPLBACKEND=Agg and more; children would inherit them."""
    import subprocess
    import sys

    code = ("import os; before = dict(os.environ); from jaxrl_expert.envs import envpool; "
            "envpool.import_envpool(); print(dict(os.environ) == before)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


@pytest.mark.slow  # ~2 s: EnvPool seeds each env at construction (EnvPoolVector.reset)
def test_same_seed_same_games():
    env = envs.make("ALE/Breakout-v5", "envpool")
    (_, a), (_, b) = play(env, 2, 12, seed=3), play(env, 2, 12, seed=3)
    np.testing.assert_array_equal(a.obs, b.obs)
    env.close()


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("CartPole-v1", {}, "env_backend 'envpool' serves Atari games (ALE ids); CartPole-v1 "
                            "is not one: use env_backend 'gymnasium'"),
        ("ALE/Breakout-v5", {"atari_wrapper": False}, "env_kwargs atari_wrapper=False: EnvPool "
         "always preprocesses Atari frames; use env_backend 'gymnasium' for the raw screen"),
        ("ALE/Breakout-v5", {"obs_type": "rgb"}, "env_kwargs ['obs_type'] not allowed with "
         "env_backend 'envpool'; allowed: ['atari_wrapper', 'frameskip', 'full_action_space', "
         "'max_episode_steps', 'repeat_action_probability']"),
    ],
)  # fmt: skip
def test_what_envpool_cannot_serve_fails_in_one_line(env_id, kwargs, message):
    with pytest.raises(ValueError) as e:
        envs.make(env_id, "envpool", **kwargs)
    assert str(e.value) == message
