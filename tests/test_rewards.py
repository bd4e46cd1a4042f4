"""Learned rewards: nets against hand computations, serialization, training on them."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl_expert import envs, rollouts
from jaxrl_expert.rewards import (
    AddSTDRewardWrapper,
    BasicRewardNet,
    BasicShapedRewardNet,
    NormalizedRewardNet,
    RewardEnsemble,
    init_reward_net,
    load_reward,
    save_reward_net,
)
from jaxrl_expert.train_rl import train_rl

CARTPOLE = envs.make("seals/CartPole-v0")
OBS_SPACE, ACT_SPACE = CARTPOLE.observation_space, CARTPOLE.action_space


def batch(seed=0, n=6):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    next_obs = rng.normal(size=(n, 4)).astype(np.float32)
    act = rng.integers(0, 2, size=n).astype(np.int32)
    done = np.array([0, 1, 0, 0, 1, 0][:n], bool)
    return obs, act, next_obs, done


def numpy_mlp(params, x):
    """ReLU MLP with a scalar head, from Flax Dense params (Dense_0, Dense_1, ...)."""
    layers = [params[f"Dense_{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        x = np.maximum(x @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"]), 0.0)
    return (x @ np.asarray(layers[-1]["kernel"]) + np.asarray(layers[-1]["bias"]))[:, 0]


def init(net, seed=0):
    return init_reward_net(net, jax.random.PRNGKey(seed), OBS_SPACE, ACT_SPACE)


def test_basic_reward_net_is_an_mlp_over_state_and_one_hot_action():
    obs, act, next_obs, done = batch()
    net = BasicRewardNet(n_actions=2, use_next_state=True, use_done=True)
    variables = init(net)
    inputs = np.concatenate([obs, np.eye(2)[act], next_obs, done[:, None]], axis=1)
    expected = numpy_mlp(variables["params"], inputs)
    np.testing.assert_allclose(net.apply(variables, obs, act, next_obs, done), expected, rtol=1e-5)


def test_shaped_reward_adds_discounted_potential_difference():
    obs, act, next_obs, done = batch()
    net = BasicShapedRewardNet(n_actions=2, discount_factor=0.9)
    params = init(net)["params"]
    base = numpy_mlp(params["base"], np.concatenate([obs, np.eye(2)[act]], axis=1))
    potential = lambda x: numpy_mlp(params["potential"], x)
    expected = base + 0.9 * (1 - done) * potential(next_obs) - potential(obs)
    got = net.apply({"params": params}, obs, act, next_obs, done)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert len(params["base"]) == 2 and len(params["potential"]) == 3  # (32,) and (32, 32)


def test_running_norm_normalizes_with_old_stats_then_merges_like_one_pass():
    net = NormalizedRewardNet(BasicRewardNet(n_actions=2), "running")
    variables = init(net)
    raw = []
    for seed in range(3):
        b = batch(seed)
        base = BasicRewardNet(n_actions=2)
        raw.append(np.asarray(base.apply({"params": variables["params"]["base"]}, *b)))
        before = variables["batch_stats"]
        out, new = net.apply(variables, *b, update_stats=True, mutable=["batch_stats"])
        expected = (raw[-1] - before["mean"]) / np.sqrt(before["var"] + 1e-5)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        variables = {"params": variables["params"], **new}
    everything = np.concatenate(raw)
    np.testing.assert_allclose(variables["batch_stats"]["mean"], everything.mean(), rtol=1e-5)
    np.testing.assert_allclose(variables["batch_stats"]["var"], everything.var(), rtol=1e-4)
    assert float(variables["batch_stats"]["count"]) == 18


def test_ema_norm_follows_imitations_bias_corrected_update():
    net = NormalizedRewardNet(BasicRewardNet(n_actions=2), "ema")
    variables = init(net)
    mean, var, inv_lr = 0.0, 1.0, 0.0
    for seed in range(3):
        b = batch(seed)
        rewards = np.asarray(BasicRewardNet(n_actions=2).apply(
            {"params": variables["params"]["base"]}, *b), np.float64)  # fmt: skip
        _, new = net.apply(variables, *b, update_stats=True, mutable=["batch_stats"])
        variables = {"params": variables["params"], **new}
        inv_lr += 0.99**seed
        lr = 1 / inv_lr
        delta = rewards.mean() - mean
        mean += lr * delta
        var += lr * (rewards.var() + (1 - lr) * delta**2 - var)
    np.testing.assert_allclose(variables["batch_stats"]["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(variables["batch_stats"]["var"], var, rtol=1e-4)


def ensemble_net():
    members = tuple(BasicRewardNet(n_actions=2, hid_sizes=(16,)) for _ in range(3))
    return AddSTDRewardWrapper(RewardEnsemble(members), default_alpha=0.0)


def test_ensemble_mean_and_ddof1_std_added():
    obs, act, next_obs, done = batch()
    net = ensemble_net()
    variables = init(net)
    members = np.stack([
        BasicRewardNet(n_actions=2, hid_sizes=(16,)).apply(
            {"params": variables["params"]["base"][f"members_{i}"]}, obs, act, next_obs, done)
        for i in range(3)
    ])  # fmt: skip
    expected = members.mean(0) + 0.5 * members.std(0, ddof=1)
    got = net.apply(variables, obs, act, next_obs, done, alpha=0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


SAVED_NETS = {
    "basic": lambda: BasicRewardNet(n_actions=2),
    "shaped": lambda: BasicShapedRewardNet(n_actions=2),
    "normalized_shaped": lambda: NormalizedRewardNet(BasicShapedRewardNet(n_actions=2)),
    "std": ensemble_net,
    "normalized_std": lambda: NormalizedRewardNet(ensemble_net(), "ema"),
}


@pytest.fixture(scope="module")
def saved_nets(tmp_path_factory):
    root = tmp_path_factory.mktemp("nets")
    out = {}
    for name, make in SAVED_NETS.items():
        net = make()
        variables = init(net, seed=3)
        if "batch_stats" in variables:  # give the statistics non-trivial values
            _, stats = net.apply(variables, *batch(9), update_stats=True, mutable=["batch_stats"])
            variables = {"params": variables["params"], **stats}
        save_reward_net(str(root / name), net, variables, OBS_SPACE, ACT_SPACE)
        out[name] = (str(root / name), net, variables)
    return out


ROUND_TRIPS = [
    ("RewardNet_shaped", "shaped", lambda net, v, b: net.apply(v, *b)),
    ("RewardNet_unshaped", "shaped",
     lambda net, v, b: net.base.apply({"params": v["params"]["base"]}, *b)),
    ("RewardNet_unshaped", "basic", lambda net, v, b: net.apply(v, *b)),
    ("RewardNet_normalized", "normalized_shaped", lambda net, v, b: net.apply(v, *b)),
    ("RewardNet_unnormalized", "normalized_shaped",
     lambda net, v, b: net.base.apply({"params": v["params"]["base"]}, *b)),
    ("RewardNet_unnormalized", "basic", lambda net, v, b: net.apply(v, *b)),
    ("RewardNet_std_added", "std", lambda net, v, b: net.apply(v, *b)),
    ("RewardNet_std_added", "normalized_std", lambda net, v, b: net.apply(v, *b)),
]  # fmt: skip


@pytest.mark.parametrize("reward_type, saved, reference", ROUND_TRIPS)
def test_load_reward_round_trip_gives_identical_outputs(saved_nets, reward_type, saved, reference):
    path, net, variables = saved_nets[saved]
    b = batch(4)
    reward = load_reward(reward_type, path)
    got = jax.jit(reward)(*b)
    np.testing.assert_array_equal(got, jax.jit(lambda *b: reference(net, variables, b))(*b))


def test_a_relative_reward_path_loads(saved_nets, monkeypatch):
    path, net, variables = saved_nets["basic"]
    monkeypatch.chdir(os.path.dirname(path))  # as `--config.reward_path=my_reward` from a shell
    b = batch(4)
    got = load_reward("RewardNet_unshaped", os.path.basename(path))(*b)
    np.testing.assert_array_equal(got, net.apply(variables, *b))


def test_std_added_alpha_minus_one_is_below_alpha_zero(saved_nets):
    path = saved_nets["std"][0]
    b = batch(5)
    low = load_reward("RewardNet_std_added", path, alpha=-1.0)(*b)
    mid = load_reward("RewardNet_std_added", path, alpha=0.0)(*b)
    assert np.all(np.asarray(low) < np.asarray(mid))


def test_normalized_reward_updates_stats_only_when_asked(saved_nets):
    path = saved_nets["normalized_shaped"][0]
    frozen = load_reward("RewardNet_normalized", path)
    live = load_reward("RewardNet_normalized", path, update_stats=True)
    b = batch(6)
    _, same = frozen.apply_and_update(frozen.initial_stats, *b)
    _, updated = live.apply_and_update(live.initial_stats, *b)
    assert float(same["batch_stats"]["count"]) == float(
        frozen.initial_stats["batch_stats"]["count"]
    )
    assert float(updated["batch_stats"]["count"]) == float(same["batch_stats"]["count"]) + 6


@pytest.mark.parametrize(
    "reward_type, saved, kwargs, message",
    [
        (
            "RewardNet_shaped",
            "basic",
            {},
            r"needs a shaped net outermost; got \['BasicRewardNet'\]",
        ),
        ("RewardNet_normalized", "shaped", {}, r"needs a NormalizedRewardNet outermost"),
        ("RewardNet_std_added", "basic", {}, r"needs an AddSTDRewardWrapper"),
        ("RewardNet_shaped", "shaped", {"alpha": 1.0}, r"\['alpha'\] not accepted"),
        ("RewardNet_magic", "shaped", {}, r"reward_type='RewardNet_magic' is unknown"),
        ("RewardNet_shaped", None, {}, r"reward_path=.*does not exist"),
    ],
)
def test_load_reward_errors_are_clear(saved_nets, tmp_path, reward_type, saved, kwargs, message):
    path = saved_nets[saved][0] if saved else str(tmp_path / "nothing")
    with pytest.raises(ValueError, match=message):
        load_reward(reward_type, path, **kwargs)


def test_reward_net_for_another_space_fails_before_training(saved_nets, tmp_path):
    with pytest.raises(ValueError, match=r"reward net's observation_space .* Pendulum-v1"):
        train_rl(log_dir=str(tmp_path), env_id="Pendulum-v1",
                 reward_type="RewardNet_unshaped", reward_path=saved_nets["basic"][0])  # fmt: skip


def fit_reward_to_ground_truth(tmp_path):
    """Regress a BasicRewardNet on seals/CartPole transitions of a random policy."""
    policy = lambda obs, key: jax.random.randint(key, obs.shape[:1], 0, 2)
    sampler = rollouts.make_sampler(CARTPOLE, policy, 16, n_timesteps=30_000)
    records = jax.jit(sampler)(jax.random.PRNGKey(0))
    arrays = rollouts.records_to_arrays(records)
    data = rollouts.flatten_trajectories(rollouts.split_arrays(arrays))
    net = BasicRewardNet(n_actions=2, use_next_state=True)
    params = init(net)["params"]
    optimizer = optax.adam(1e-2)

    @jax.jit
    def fit(params):
        def loss(p):
            pred = net.apply(
                {"params": p}, data["obs"], data["acts"], data["next_obs"], data["dones"]
            )
            return jnp.mean((pred - data["rews"]) ** 2)

        def step(carry, _):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p)
            updates, s = optimizer.update(grads, s)
            return (optax.apply_updates(p, updates), s), value

        (p, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=3000)
        return p, losses[-1]

    params, final_loss = fit(params)
    assert float(final_loss) < 0.2 * float(np.var(data["rews"]))  # explains most of the variance
    save_reward_net(str(tmp_path / "fitted"), net, {"params": params}, OBS_SPACE, ACT_SPACE)
    return str(tmp_path / "fitted")


@pytest.mark.slow  # ~30 s; the learned-reward training path is tested above
def test_policy_trained_on_a_fitted_reward_net_solves_seals_cartpole(tmp_path):
    path = fit_reward_to_ground_truth(tmp_path)
    stats = train_rl(log_dir=str(tmp_path / "run"), reward_type="RewardNet_unnormalized",
                     reward_path=path, policy_save_interval=0, n_episodes_eval=20)  # fmt: skip
    assert stats["monitor_return_mean"] >= 450
    assert stats["return_mean"] != stats["monitor_return_mean"]  # learned vs ground truth


def test_zero_reward_reports_zero_return_and_ground_truth_monitor(tmp_path):
    stats = train_rl(log_dir=str(tmp_path), reward_type="zero", total_timesteps=4096,
                     policy_save_interval=0, rollout_save_final=False,  # no sampler compile
                     n_episodes_eval=5)  # fmt: skip
    assert stats["return_mean"] == 0.0 and stats["return_max"] == 0.0
    assert stats["monitor_return_len"] == 5 and stats["monitor_return_mean"] > 0


def test_live_normalization_statistics_merge_every_training_batch(saved_nets):
    from jaxrl_expert import config as config_lib
    from jaxrl_expert import ppo
    from jaxrl_expert.train_rl import make_env

    config = config_lib.base_config()
    config_lib.apply_overrides(config, {
        "reward_type": "RewardNet_normalized",
        "reward_path": saved_nets["normalized_shaped"][0],
        "load_reward_kwargs": {"update_stats": True},
        "normalize_reward": False,
        "ppo": {"n_envs": 4, "n_steps": 8, "batch_size": 16, "n_epochs": 1},
    })  # fmt: skip
    config_lib.validate(config)
    env = make_env(config)
    trainer = ppo.make_train(config, env)
    state = trainer.init(jax.random.PRNGKey(0))
    start = float(state.env_state.core[1]["batch_stats"]["count"][0])
    state, _ = jax.jit(trainer.train)(state, 2)
    counts = np.asarray(state.env_state.core[1]["batch_stats"]["count"])
    np.testing.assert_array_equal(counts, start + 2 * 4 * 8)  # every env holds the shared stats


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["kwargs"].update(widths=[3]), r"TypeError: .*widths"),
        (lambda m: m["kwargs"].update(hid_sizes=[-3]), r"TypeError: .*non-negative"),
        (lambda m: m.pop("kwargs"), r"KeyError: 'kwargs'"),
        (lambda m: m.update({"class": "ResNet"}), r"unknown reward net class 'ResNet'"),
    ],
)
def test_a_malformed_reward_net_spec_is_one_line(saved_nets, tmp_path, edit, message):
    path = str(tmp_path / "net")
    shutil.copytree(saved_nets["basic"][0], path)
    spec_file = os.path.join(path, "reward_net.json")
    with open(spec_file) as f:
        spec = json.load(f)
    edit(spec["module"])
    with open(spec_file, "w") as f:
        json.dump(spec, f)
    with pytest.raises(ValueError, match=message) as e:
        load_reward("RewardNet_unshaped", path)
    assert "\n" not in str(e.value) and "reward_net.json" in str(e.value)
