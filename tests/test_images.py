"""Image observations: CNN torsos, MinAtar through the JAX path, uint8 rollouts, CnnRewardNet."""

import dataclasses
import json
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxrl_expert import checkpoints, envs, load_policy, rollouts
from jaxrl_expert import config as config_lib
from jaxrl_expert.networks import Conv
from jaxrl_expert.policy import Policy, PolicySpec
from jaxrl_expert.render import render_policy
from jaxrl_expert.rewards import CnnRewardNet, load_reward, save_reward_net
from jaxrl_expert.train_rl import train_rl

ATARI_FRAMES = envs.Box.from_bounds(0, 255, (84, 84, 4), "uint8")
MINATAR = "Breakout-MinAtar"


def cnn_spec(observation_space, n_actions, torso, share_torso=True, pi=(), vf=()):
    return PolicySpec(
        env_id="test", env_kwargs="{}", env_backend="auto",
        observation_space=observation_space, action_space=envs.Discrete(n_actions),
        pi_sizes=pi, vf_sizes=vf, activation="tanh", ortho_init=True, log_std_init=0.0,
        distribution="gaussian", torso=torso, share_torso=share_torso,
        norm_obs=False, obs_epsilon=1e-8, clip_obs=10.0,
    )  # fmt: skip


def n_params(tree):
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def dense(n_in, n_out):
    return n_in * n_out + n_out


def conv(kernel, c_in, c_out):
    return kernel * kernel * c_in * c_out + c_out


# SB3's NatureCNN on 4 stacked 84x84 frames: 84 -> 20 -> 9 -> 7 (7 * 7 * 64 = 3136), then 512.
NATURE = conv(8, 4, 32) + conv(4, 32, 64) + conv(3, 64, 64) + dense(3136, 512)


@pytest.mark.parametrize("share", [True, False])
def test_nature_cnn_has_sb3_cnn_policy_shapes_and_parameter_count(share):
    # SB3's CnnPolicy for Breakout (4 actions): NatureCNN features, net_arch [] heads.
    spec = cnn_spec(ATARI_FRAMES, 4, "nature_cnn", share_torso=share)
    params = jax.eval_shape(spec.init_params, jax.random.PRNGKey(0))
    assert n_params(params) == NATURE * (1 if share else 2) + dense(512, 4) + dense(512, 1)
    assert NATURE + dense(512, 4) + dense(512, 1) == 1_686_693  # SB3's count for Breakout
    torsos = {"torso"} if share else {"pi_torso", "vf_torso"}
    assert torsos <= set(params["params"])
    obs = jax.ShapeDtypeStruct((5, 84, 84, 4), jnp.uint8)
    dist, value = jax.eval_shape(lambda p, o: spec.apply(p, spec.init_obs_rms(), o), params, obs)
    assert dist.loc.shape == (5, 4) and value.shape == (5,)


def test_minatar_cnn_is_one_3x3_layer_of_16_and_acts_on_uint8_grids():
    grid = envs.Box.from_bounds(0, 1, (10, 10, 4), "uint8")
    spec = cnn_spec(grid, 3, "minatar_cnn", pi=(128,), vf=(128,))
    params = jax.jit(spec.init_params)(jax.random.PRNGKey(0))
    # 10x10 -> 8x8x16 = 1024 features, then MinAtar's 128-unit layer per head.
    heads = dense(1024, 128) + dense(128, 3) + dense(1024, 128) + dense(128, 1)
    assert n_params(params) == conv(3, 4, 16) + heads

    @jax.jit
    def outputs(params, uint8_obs, float_obs):
        dist, value = spec.apply(params, spec.init_obs_rms(), uint8_obs)
        return dist.loc, value, spec.network.apply(params, float_obs)[1]

    obs = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3, (2, 7, 10, 10, 4))  # any lead axes
    logits, value, float_value = outputs(params, obs.astype(jnp.uint8), obs.astype(jnp.float32))
    assert logits.shape == (2, 7, 3) and value.shape == (2, 7)
    # uint8 0/1 grids reach the network scaled by the bound (1): as the float 0/1 grids.
    np.testing.assert_array_equal(value, float_value)


def test_atari_frames_are_scaled_by_255_on_device():
    spec = cnn_spec(ATARI_FRAMES, 4, "nature_cnn")
    frames = jnp.full((84, 84, 4), 255, jnp.uint8)
    scaled = spec.normalize_obs(spec.init_obs_rms(), frames)
    assert scaled.dtype == jnp.float32 and float(scaled.min()) == float(scaled.max()) == 1.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"env_id": "CartPole-v1", "ppo": {"policy": "cnn"}},
         r"^config.ppo.policy='cnn' needs uint8 image observations .*CartPole-v1 has float32 "
         r"\(4,\): use ppo.policy='mlp'$"),
        ({"env_id": MINATAR, "ppo": {"policy": "cnn", "cnn": "nature"}},
         r"^config.ppo.cnn='nature' takes images of at least 36x36; Breakout-MinAtar gives "
         r"10x10: use ppo.cnn='minatar'$"),
        ({"env_id": "Pendulum-v1", "algo": "sac", "sac": {"policy": "cnn"}},
         r"^config.sac.policy='cnn' needs uint8 image observations .*use sac.policy='mlp'$"),
        ({"env_id": MINATAR, "ppo": {"policy": "cnnn"}},
         r"config.ppo.policy='cnnn' is invalid; must be one of \['mlp', 'cnn'\]; "
         r"did you mean 'cnn'\?"),
    ],
)  # fmt: skip
def test_a_network_that_cannot_take_the_observations_is_one_line_before_compiling(
    tmp_path, overrides, message
):
    with pytest.raises(ValueError, match=message):
        train_rl(log_dir=str(tmp_path), verbose=False, **overrides)
    assert not os.path.exists(tmp_path / "config.json")


def random_return(env_id, n_episodes=64):
    env = envs.make(env_id)
    n = env.action_space.n
    policy = lambda obs, key: jax.random.randint(key, obs.shape[:1], 0, n)
    sample = rollouts.make_sampler(env, policy, n_episodes, n_episodes=n_episodes)
    arrays = rollouts.records_to_arrays(jax.jit(sample)(jax.random.PRNGKey(1)))
    return float(np.sum(arrays["rews"])) / n_episodes


def save_action_reward_net(path, env, action):
    """A CnnRewardNet whose reward is 1 for `action` and 0 otherwise, saved at path."""
    net = CnnRewardNet(n_actions=env.action_space.n, hid_channels=(4,), obs_scale=1.0)
    obs = jnp.zeros((1, *env.observation_space.shape), jnp.uint8)
    variables = net.init(jax.random.PRNGKey(0), obs, jnp.zeros((1,), jnp.int32), obs,
                         jnp.zeros((1,), bool))  # fmt: skip
    dense = variables["params"]["Dense_0"]
    dense["kernel"] = jnp.zeros_like(dense["kernel"])
    dense["bias"] = jnp.zeros_like(dense["bias"]).at[action].set(1.0)
    save_reward_net(path, net, variables, env.observation_space, env.action_space)
    return net, variables


@pytest.fixture(scope="module")
def cnn_reward_run(tmp_path_factory):
    """configs/minatar_breakout.py, scaled down, trained through a saved CnnRewardNet."""
    root = tmp_path_factory.mktemp("minatar")
    reward_path = str(root / "reward")
    save_action_reward_net(reward_path, envs.make(MINATAR), action=2)
    log_dir = str(root / "run")
    config = config_lib.load_config_file(config_lib.config_path("minatar_breakout"))
    stats = train_rl(
        config, log_dir=log_dir, verbose=False, total_timesteps=4096,
        reward_type="RewardNet_unnormalized", reward_path=reward_path,
        n_episodes_eval=8, rollout_save_n_episodes=8, rollout_deterministic=True,
        policy_save_interval=0, checkpoint_interval=0,
        ppo={"n_envs": 8, "n_steps": 64, "batch_size": 128, "learning_rate": 3e-3},
    )  # fmt: skip
    return log_dir, reward_path, stats


def test_a_policy_trains_on_a_saved_cnn_reward_net(cnn_reward_run):
    log_dir, reward_path, stats = cnn_reward_run
    reward = load_reward("RewardNet_unnormalized", reward_path)
    obs = jnp.zeros((3, 10, 10, 4), jnp.uint8)
    assert reward(obs, jnp.array([0, 1, 2]), obs, jnp.zeros((3,), bool)).tolist() == [0, 0, 1]
    with np.load(os.path.join(log_dir, "rollouts", "final.npz"), allow_pickle=False) as data:
        acts = data["acts"]
    assert np.mean(acts == 2) > 0.6  # learned from the reward net (1/3 at random; 0.85 here)
    assert stats["return_mean"] >= 0.5 * stats["len_mean"]  # 1 per action 2: 1/3 at random
    assert stats["monitor_return_mean"] < stats["return_mean"]  # Breakout's own reward is rare


@pytest.mark.slow  # ~40 s on a 2-core CPU
def test_a_short_cnn_run_on_minatar_beats_a_random_policy(tmp_path):
    config = config_lib.load_config_file(config_lib.config_path("minatar_breakout"))
    stats = train_rl(
        config, log_dir=str(tmp_path), verbose=False, total_timesteps=12_288, n_episodes_eval=32,
        rollout_save_final=False, policy_save_interval=0, checkpoint_interval=0,
        ppo={"policy": "cnn", "cnn": "minatar", "n_envs": 16, "n_steps": 64, "gamma": 0.99,
             "batch_size": 128, "learning_rate": 1e-3, "net_arch": {"pi": (64,), "vf": (64,)}},
    )  # fmt: skip
    baseline = random_return(MINATAR)  # about 0.4: a random paddle seldom returns the ball
    assert stats["monitor_return_mean"] >= baseline + 0.75, (stats, baseline)  # +1.2 here


@pytest.fixture(scope="module")
def saved_cnn_policy(tmp_path_factory):
    """An untrained MinAtar CNN policy (separate torsos) saved as a policy directory."""
    env = envs.make(MINATAR)
    spec = dataclasses.replace(
        cnn_spec(env.observation_space, 3, "minatar_cnn", share_torso=False, pi=(8,), vf=(8,)),
        env_id=MINATAR,
    )
    policy = Policy(spec, spec.init_params(jax.random.PRNGKey(0)), spec.init_obs_rms())
    path = str(tmp_path_factory.mktemp("cnn") / "policy")
    checkpoints.save_policy(path, policy, timesteps=0)
    return path, policy


def test_a_cnn_policy_saves_loads_and_acts_on_uint8_observations(saved_cnn_policy):
    path, policy = saved_cnn_policy
    with open(os.path.join(path, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["observation_space"]["dtype"] == "uint8"
    assert metadata["network"]["torso"] == "minatar_cnn"
    assert metadata["network"]["share_torso"] is False
    loaded = load_policy(path)
    assert loaded.spec == policy.spec and loaded.digest() == policy.digest()
    state = jax.vmap(loaded.spec.make_env().reset)(jax.random.split(jax.random.PRNGKey(0), 3))
    assert state.obs.dtype == jnp.uint8
    actions = loaded.act(np.asarray(state.obs), deterministic=True)
    assert actions.shape == (3,) and set(actions.tolist()) <= {0, 1, 2}
    assert loaded.act(np.asarray(state.obs[0]), deterministic=True) == actions[0]


def test_render_draws_a_minatar_policy_as_a_gif_of_its_grids(saved_cnn_policy, tmp_path):
    result = render_policy(saved_cnn_policy[0], str(tmp_path / "breakout.gif"), max_steps=4)
    with Image.open(tmp_path / "breakout.gif") as gif:
        assert gif.n_frames == result["episode_length"] + 1 <= 5
        assert gif.size == (400, 400)  # 10x10 cells of 40 pixels
        assert len(gif.convert("RGB").getcolors()) > 2  # white, objects, caption


def test_image_rollouts_stay_uint8_on_disk_and_round_trip(cnn_reward_run):
    log_dir, _, _ = cnn_reward_run
    path = os.path.join(log_dir, "rollouts", "final.npz")
    with np.load(path, allow_pickle=False) as data:
        obs = data["obs"]
    assert obs.dtype == np.uint8 and obs.shape[1:] == (10, 10, 4)
    assert set(np.unique(obs).tolist()) <= {0, 1}
    trajectories = rollouts.load(path)
    assert len(trajectories) == 8
    assert np.array_equal(np.concatenate([t.obs for t in trajectories]), obs)
    assert all(t.obs.dtype == np.uint8 for t in trajectories)


def test_cnn_reward_net_matches_a_numpy_reference():
    # No hidden layer (imitation allows hid_channels=()): the reward is a dense layer on the
    # pixel means of the scaled images, read at (action, done).
    net = CnnRewardNet(n_actions=3, use_state=True, use_action=True, use_next_state=True,
                       use_done=True, hwc_format=False, hid_channels=(), obs_scale=2.0)  # fmt: skip
    rng = np.random.default_rng(0)
    obs, next_obs = (rng.integers(0, 3, (5, 2, 6, 6)).astype(np.uint8) for _ in range(2))
    act, done = rng.integers(0, 3, 5), rng.random(5) < 0.5
    params = net.init(jax.random.PRNGKey(0), obs, act, next_obs, done)["params"]
    kernel, bias = (np.asarray(params["Dense_0"][k]) for k in ("kernel", "bias"))
    means = np.concatenate([obs.mean((2, 3)), next_obs.mean((2, 3))], axis=1) / 2.0
    table = means @ kernel + bias  # (5, 2 * 3): [done=False actions, done=True actions]
    expected = table[np.arange(5), act + 3 * done]
    got = net.apply({"params": params}, obs, act, next_obs, done)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_cnn_reward_net_needs_an_image_input_and_discrete_actions():
    batch = (jnp.zeros((1, 8, 8, 1)), jnp.zeros((1,), jnp.int32), jnp.zeros((1, 8, 8, 1)),
             jnp.zeros((1,), bool))  # fmt: skip
    with pytest.raises(ValueError, match="must take current or next state"):
        CnnRewardNet(n_actions=2, use_state=False).init(jax.random.PRNGKey(0), *batch)
    with pytest.raises(ValueError, match="only use Discrete actions"):
        CnnRewardNet(n_actions=0).init(jax.random.PRNGKey(0), *batch)


def test_image_rollouts_export_to_hf_and_minari_as_uint8(cnn_reward_run, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    minari = pytest.importorskip("minari")
    from jaxrl_expert import export

    log_dir, _, _ = cnn_reward_run
    path = os.path.join(log_dir, "rollouts", "final.npz")
    want = rollouts.load(path)
    export.export_hf(path, str(tmp_path / "hf"))
    dataset = datasets.load_from_disk(str(tmp_path / "hf"))
    assert "Value('uint8')" in repr(dataset.features["obs"])  # stored as uint8 on disk
    for row, t in zip(dataset.with_format("numpy", dtype=None), want, strict=True):
        assert row["obs"].dtype == np.uint8 and np.array_equal(row["obs"], t.obs)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    export.export_minari(path, "breakout/expert-v0", policy=log_dir)
    dataset = minari.load_dataset("breakout/expert-v0")
    assert dataset.observation_space.dtype == np.uint8
    for episode, t in zip(dataset.iterate_episodes(), want, strict=True):
        assert episode.observations.dtype == np.uint8
        assert np.array_equal(episode.observations, t.obs)


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [((3, 10, 10, 4), 3, 1, "VALID"), ((2, 36, 36, 4), 8, 4, "VALID"),
     ((3, 11, 10, 4), 3, 2, "SAME"), ((3, 11, 10, 4), 4, 3, "SAME")],
)  # fmt: skip
def test_conv_is_flax_conv_with_the_same_parameters(shape, kernel, stride, padding):
    # On CPU our Conv is patches @ kernel (XLA's CPU convolution is ~10x slower in loops).
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    ours = Conv(5, kernel, stride, padding)
    flax_conv = nn.Conv(5, (kernel, kernel), (stride, stride), padding=padding)
    variables = ours.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(
        jnp.shape, flax_conv.init(jax.random.PRNGKey(1), x)
    )
    variables = jax.tree.map(lambda a: a + 0.1, variables)
    np.testing.assert_allclose(
        ours.apply(variables, x), flax_conv.apply(variables, x), rtol=1e-5, atol=1e-5
    )


def test_hf_export_writes_image_trajectories_a_few_at_a_time():
    from jaxrl_expert import export

    frames = rollouts.Trajectory(  # one 1000-step Atari episode: 28 MB of frames
        np.zeros((1001, 84, 84, 4), np.uint8), np.zeros(1000, np.int32),
        np.zeros(1000, np.float32), True,
    )  # fmt: skip
    assert export.hf_writer_batch_size(frames) == 2  # not datasets' 1000 rows (28 GB)
    cartpole = rollouts.Trajectory(np.zeros((501, 4), np.float32), np.zeros(500, np.int32),
                                   np.zeros(500, np.float32), True)  # fmt: skip
    assert export.hf_writer_batch_size(cartpole) == 1000


class DotImage:
    """An 8x8 image with one lit pixel at a position that a 2-d Box action moves; the
    reward is minus the position's distance to the centre. Images with Box actions: SAC's."""

    observation_space = envs.Box.from_bounds(0, 255, (8, 8, 1), "uint8")
    action_space = envs.Box.from_bounds(-1, 1, (2,))
    max_episode_steps = 16

    def _image(self, position):
        row, column = jnp.clip(jnp.round(position), 0, 7).astype(jnp.int32)
        return jnp.zeros((8, 8, 1), jnp.uint8).at[row, column, 0].set(255)

    def reset(self, key):
        key, start = jax.random.split(key)
        position = jax.random.uniform(start, (2,), maxval=7.0)
        return envs.base.initial_state(position, self._image(position), key)

    def step(self, state, action):
        position = jnp.clip(state.core + action, 0.0, 7.0)
        image = self._image(position)
        return state.replace(
            core=position, obs=image, reward=-jnp.linalg.norm(position - 3.5),
            terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool), final_obs=image,
            time=state.time + 1,
        )  # fmt: skip


def test_sac_with_cnn_torsos_trains_on_images_kept_uint8_in_its_replay_buffer():
    from conftest import compile_fast

    from jaxrl_expert import sac
    from jaxrl_expert.envs.wrappers import AutoReset, TimeLimit
    from jaxrl_expert.train_rl import check_env_fits

    env = AutoReset(TimeLimit(DotImage(), DotImage.max_episode_steps))
    config = config_lib.base_config()
    small = {
        "policy": "cnn",
        "cnn": "minatar",
        "n_envs": 2,
        "buffer_size": 64,
        "learning_starts": 8,
        "batch_size": 8,
        "net_arch": {"pi": (16,), "qf": (16,)},
    }
    config_lib.apply_overrides(config, {"algo": "sac", "sac": small,
                                        "normalize_kwargs": {"norm_obs": False}})  # fmt: skip
    check_env_fits(config, env)
    trainer = sac.make_train(config, env)
    assert trainer.policy.torso == "minatar_cnn"
    key = jax.random.PRNGKey(0)
    state = compile_fast(trainer.init, key)(key)
    assert state.buffer.obs.dtype == jnp.uint8 and state.buffer.next_obs.dtype == jnp.uint8
    assert "torso" in state.params["params"] and "torso" in state.critic_params["params"]
    n = np.int32(12)  # 24 transitions: gradient steps after the 8 random ones
    state, metrics = compile_fast(trainer.train, state, n)(state, n)
    assert float(metrics["updates"]) > 0 and int(metrics["first_nonfinite_iteration"]) == -1
    stored = np.asarray(state.buffer.obs[:, :12])
    assert set(np.unique(stored).tolist()) == {0, 255}  # one lit pixel per stored image
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, state.critic_params,
                                         state.target_critic_params))  # fmt: skip


@pytest.mark.slow  # ~5 s of eager convolutions; CnnRewardNet itself is in the default run
def test_a_cnn_potential_shapes_a_cnn_reward_and_round_trips(tmp_path):
    from jaxrl_expert.rewards import ShapedRewardNet
    from jaxrl_expert.rewards.nets import _CnnPotential

    grid = envs.Box.from_bounds(0, 1, (6, 6, 2), "uint8")
    base = CnnRewardNet(n_actions=3, hid_channels=(4,), obs_scale=1.0)
    net = ShapedRewardNet(base, potential_hid_sizes=(5,), discount_factor=0.9,
                          potential_cnn=True, obs_scale=1.0)  # fmt: skip
    rng = np.random.default_rng(0)
    obs, next_obs = (rng.integers(0, 2, (4, 6, 6, 2)).astype(np.uint8) for _ in range(2))
    act, done = rng.integers(0, 3, 4), np.array([False, True, False, True])
    variables = net.init(jax.random.PRNGKey(0), obs, act, next_obs, done)
    potential = _CnnPotential((5,), True, 1.0)
    phi = lambda o: potential.apply({"params": variables["params"]["potential"]}, o)
    base_reward = base.apply({"params": variables["params"]["base"]}, obs, act, next_obs, done)
    want = base_reward + 0.9 * (1 - done) * phi(next_obs) - phi(obs)
    got = net.apply(variables, obs, act, next_obs, done)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    save_reward_net(str(tmp_path / "net"), net, variables, grid, envs.Discrete(3))
    np.testing.assert_array_equal(load_reward("RewardNet_shaped", str(tmp_path / "net"))(
        obs, act, next_obs, done), got)  # fmt: skip
    np.testing.assert_array_equal(load_reward("RewardNet_unshaped", str(tmp_path / "net"))(
        obs, act, next_obs, done), base_reward)  # fmt: skip
