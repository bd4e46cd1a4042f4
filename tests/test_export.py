"""jaxrl_expert.export: ONNX and SB3 policies act as `Policy.act` does; rollouts round-trip through
imitation's HuggingFace layout and Minari bit for bit; missing extras and bad input are one line."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import checkpoints, envs, export, rollouts
from jaxrl_expert import config as config_lib
from jaxrl_expert.generate import MANIFEST_FILE, generate
from jaxrl_expert.networks import ACTIVATIONS
from jaxrl_expert.normalize import RunningMeanStd
from jaxrl_expert.policy import Policy, PolicySpec

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
datasets = pytest.importorskip("datasets")
minari = pytest.importorskip("minari")

N_OBS = 1000


def make_policy(env_id, distribution="gaussian", activation="tanh", action_space=None, seed=0):
    """A random policy with normalized observations and non-default statistics.

    Its parameters are drawn in the init's structure (eval_shape: no init compile), with
    nonzero biases and a large head, so that actions reach the Box bounds.
    """
    config = config_lib.base_config()
    config_lib.apply_overrides(
        config,
        {
            "env_id": env_id,
            "normalize_kwargs": {"norm_obs": True},
            "ppo": {"distribution": distribution, "activation": activation},
        },
    )
    spec = PolicySpec.from_config(config, envs.make(env_id))
    if action_space is not None:
        spec = dataclasses.replace(spec, action_space=action_space)
    rng = np.random.default_rng(seed)
    head = f"Dense_{len(spec.pi_sizes)}"

    def draw(path, leaf):
        scale = 1 / np.sqrt(leaf.shape[0]) if len(leaf.shape) == 2 else 0.5
        if head in jax.tree_util.keystr(path):
            scale *= 3
        return jnp.asarray(rng.normal(size=leaf.shape) * scale, jnp.float32)

    shapes = jax.eval_shape(spec.init_params, jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map_with_path(draw, shapes)
    shape = spec.observation_space.shape
    obs_rms = RunningMeanStd(
        mean=jnp.asarray(rng.normal(size=shape), jnp.float32),
        var=jnp.asarray(rng.uniform(0.01, 4.0, size=shape), jnp.float32),
        count=jnp.asarray(17.0, jnp.float32),
    )
    return Policy(spec, params, obs_rms)


def large_observations(policy, seed=1):
    """Observations far enough from the mean that normalization clips many of them."""
    shape = (N_OBS, *policy.spec.observation_space.shape)
    obs = (np.random.default_rng(seed).normal(size=shape) * 30).astype(np.float32)
    normalized = (obs - policy.obs_rms.mean) / np.sqrt(policy.obs_rms.var + 1e-8)
    assert np.mean(np.abs(normalized) > policy.spec.clip_obs) > 0.1
    return obs


def onnx_actions(model_or_path, obs):
    model = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(["action"], {"obs": obs})[0]


POLICIES = {
    "discrete": ("CartPole-v1", "gaussian"),
    "gaussian": ("Pendulum-v1", "gaussian"),
    "tanh_normal": ("Pendulum-v1", "tanh_normal"),
}


@pytest.fixture(scope="module")
def policy_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    dirs = {}
    for name, (env_id, distribution) in POLICIES.items():
        dirs[name] = str(root / name)
        checkpoints.save_policy(dirs[name], make_policy(env_id, distribution), timesteps=0)
    return dirs


@pytest.fixture(scope="module", autouse=True)
def started(pendulum_npz, tmp_path_factory):
    """CLI runs in child processes, started with the module's first test so that they
    overlap the others. (`python -m` runs the module as __main__, whose functions
    `datasets` must not pickle.)"""
    cwd = tmp_path_factory.mktemp("cli")

    def start(*args):
        command = [sys.executable, "-m", "jaxrl_expert.export", *args]
        return subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    out = str(cwd / "hf")
    runs = {
        "hf": (start("--format=hf", f"--rollouts={pendulum_npz}", f"--out={out}"), out),
        "bad format": (start("--format=foo", "--out=x"), None),
    }
    yield runs
    for process, _ in runs.values():  # those a test selection never waited for
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_onnx_actions_equal_deterministic_act(policy_dirs, name, tmp_path):
    out = str(tmp_path / "policy.onnx")
    summary = export.export_onnx(policy_dirs[name], out)
    assert summary["out"] == out
    model = onnx.load(out)
    assert model.ir_version == 8 and model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == ["obs"]
    assert [o.name for o in model.graph.output] == ["action"]
    policy = checkpoints.load_policy(policy_dirs[name])
    obs = large_observations(policy)
    got = onnx_actions(out, obs)
    want = policy.act(obs, deterministic=True)
    assert got.shape == want.shape
    if name == "discrete":
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert np.any(np.abs(want) > 1.9)  # the clip or the rescale to [-2, 2] mattered


# Every activation, and Box actions with finite, infinite and multi-axis bounds.
ACTIVATION_CASES = [
    ("tanh", "tanh_normal", envs.Box((-1.0, -np.inf, 0.0), (1.0, 3.0, 5.0), (3,))),
    ("relu", "tanh_normal", envs.Box.from_bounds(-1.0, 1.0, (2, 3))),  # no rescale; reshaped
    ("elu", "gaussian", envs.Box.from_bounds(-1.0, 1.0, (3, 2))),
    ("gelu", "tanh_normal", envs.Box((-1.0, -np.inf, 0.0), (1.0, 3.0, 5.0), (3,))),
    ("silu", "gaussian", envs.Box((-1.0, -np.inf, 0.0), (1.0, 3.0, np.inf), (3,))),
]


def test_the_cases_cover_every_activation():
    assert sorted(case[0] for case in ACTIVATION_CASES) == sorted(ACTIVATIONS)


@pytest.mark.parametrize("activation, distribution, action_space", ACTIVATION_CASES)
def test_onnx_covers_every_activation_and_box_action(activation, distribution, action_space):
    policy = make_policy("Pendulum-v1", distribution, activation, action_space)
    obs = large_observations(policy)
    got = onnx_actions(export.onnx_model(policy), obs)
    want = policy.act(obs, deterministic=True)
    assert got.shape == want.shape == (N_OBS, *action_space.shape)
    # Unbounded dimensions reach tens, where float32 sums in another order differ by ulps.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_onnx_refuses_an_activation_it_cannot_express():
    policy = make_policy("CartPole-v1")
    policy = policy.replace(spec=dataclasses.replace(policy.spec, activation="swish"))
    with pytest.raises(ValueError, match="activation 'swish' has no ONNX form") as e:
        export.onnx_model(policy)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------
# Rollouts


@pytest.fixture(scope="module")
def generated(policy_dirs, tmp_path_factory):
    """A jaxrl-generate output of the untrained CartPole-v1 policy: five episodes in three
    parts."""
    out = tmp_path_factory.mktemp("generated") / "demos"
    manifest = generate(policy_dirs["discrete"], str(out), n_episodes=5, shard_size=2, n_envs=2)
    assert len(manifest["parts"]) == 3
    return str(out)


PENDULUM_LENGTHS = (200, 57, 200)  # Pendulum-v1's horizon is 200


@pytest.fixture(scope="module")
def pendulum_npz(tmp_path_factory):
    """A rollout file with Box actions (two horizon-long episodes and a short one)."""
    rng = np.random.default_rng(0)
    n, steps = len(PENDULUM_LENGTHS), sum(PENDULUM_LENGTHS)
    path = str(tmp_path_factory.mktemp("pendulum") / "rollouts.npz")
    arrays = {
        "obs": rng.normal(size=(steps + n, 3)).astype(np.float32),
        "acts": rng.uniform(-2, 2, size=(steps, 1)).astype(np.float32),
        "rews": rng.normal(size=steps).astype(np.float32),
        "terminal": np.ones(n, bool),
        "indices": np.cumsum(PENDULUM_LENGTHS)[:-1],
    }
    rollouts.save(path, arrays)
    return path


def all_trajectories(source):
    return [t for file in export.rollout_files(source) for t in rollouts.load(file)]


def assert_bits_equal(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape
    if want.dtype.kind == "f":
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    else:  # datasets' numpy format widens integers to int64; the stored type is checked apart
        np.testing.assert_array_equal(got, want)


def imitation_features(trajectories):
    """What imitation.data.serialize.save writes: Dataset.from_dict of trajectories_to_dict
    (jsonpickle.encode({}) is '{}')."""
    rows = {
        "obs": [t.obs for t in trajectories],
        "acts": [t.acts for t in trajectories],
        "infos": [["{}"] * len(t.acts) for t in trajectories],
        "terminal": [t.terminal for t in trajectories],
        "rews": [t.rews for t in trajectories],
    }
    return datasets.Dataset.from_dict(rows).features


@pytest.mark.parametrize("source", ["generated", "pendulum_npz"])
def test_hf_export_is_imitations_layout_and_round_trips_bit_for_bit(source, request, tmp_path):
    path = request.getfixturevalue(source)
    out = str(tmp_path / "hf")
    summary = export.export_hf(path, out)
    want = all_trajectories(path)
    assert summary["n_trajectories"] == len(want)
    assert summary["n_transitions"] == sum(len(t.acts) for t in want)
    assert os.listdir(tmp_path) == ["hf"]  # no cache or temporary left beside it
    dataset = datasets.load_from_disk(out)
    assert dataset.column_names == ["obs", "acts", "infos", "terminal", "rews"]
    assert dataset.features == imitation_features(want[:1])
    assert len(dataset) == len(want)
    for row, t in zip(dataset.with_format("numpy"), want, strict=True):
        for name in ("obs", "acts", "rews"):
            assert_bits_equal(row[name], getattr(t, name))
        assert row["terminal"] == t.terminal
        assert list(row["infos"]) == ["{}"] * len(t.acts)
    with pytest.raises(ValueError, match="exists; pass a new path"):
        export.export_hf(path, out)


@pytest.fixture(scope="module")
def mixed_parts(tmp_path_factory):
    """A generate-style output whose second part holds float64 actions, unlike its first."""
    out = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(1)
    for k, dtype in enumerate((np.float32, np.float64)):
        arrays = {
            "obs": rng.normal(size=(12, 3)).astype(np.float32),
            "acts": rng.uniform(-2, 2, size=(10, 1)).astype(dtype),
            "rews": np.ones(10, np.float32),
            "terminal": np.ones(2, bool),
            "indices": np.array([4]),
        }
        rollouts.save(str(out / f"part-{k:05d}.npz"), arrays, compress=False)
    parts = [{"file": f"part-{k:05d}.npz"} for k in range(2)]
    manifest = {"format_version": 1, "complete": True, "policy": None, "parts": parts}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    return str(out)


def test_a_part_unlike_the_first_fails_in_one_line_leaving_nothing(
    mixed_parts, policy_dirs, minari_root, tmp_path
):
    message = r"part-00001.npz' holds obs float32 \(3,\), acts float64 \(1,\), rews float32, unlike"
    with pytest.raises(ValueError, match=message):
        export.export_hf(mixed_parts, str(tmp_path / "hf"))
    assert [p.name for p in tmp_path.iterdir() if p != minari_root] == []  # no temporaries
    with pytest.raises(ValueError, match=message):  # after the first part was written
        export.export_minari(mixed_parts, "pendulum/mixed-v0", policy=policy_dirs["gaussian"])
    assert minari.list_local_datasets() == {}


def test_rollouts_paths_name_the_files_of_a_run_a_generate_output_or_a_file(
    generated, pendulum_npz, tmp_path
):
    with open(os.path.join(generated, MANIFEST_FILE)) as f:
        manifest = json.load(f)
    parts = [os.path.join(generated, p["file"]) for p in manifest["parts"]]
    assert export.rollout_files(generated) == parts
    assert export.rollout_files(pendulum_npz) == [pendulum_npz]
    run = tmp_path / "run"
    (run / "rollouts").mkdir(parents=True)
    final = str(run / "rollouts" / "final.npz")
    os.symlink(pendulum_npz, final)
    assert export.rollout_files(str(run)) == export.rollout_files(str(run / "rollouts")) == [final]
    (tmp_path / "multi" / "seed_0").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds several seeds; pass one"):
        export.rollout_files(str(tmp_path / "multi"))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / MANIFEST_FILE).write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ValueError, match="unfinished jaxrl-generate output"):
        export.rollout_files(str(unfinished))
    with pytest.raises(ValueError, match="holds no rollouts"):
        export.rollout_files(str(tmp_path / "multi" / "seed_0"))


@pytest.fixture
def minari_root(monkeypatch, tmp_path):
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def check_minari(dataset_id, want, env_id, horizon):
    dataset = minari.load_dataset(dataset_id)
    assert dataset.env_spec.id == env_id  # recover_environment() makes it
    assert dataset.total_episodes == len(want)
    assert dataset.total_steps == sum(len(t.acts) for t in want)
    for episode, t in zip(dataset.iterate_episodes(), want, strict=True):
        assert_bits_equal(episode.observations, t.obs)
        assert_bits_equal(episode.actions, t.acts)
        assert episode.actions.dtype == t.acts.dtype
        assert_bits_equal(episode.rewards, t.rews)
        terminated = len(t.acts) < horizon
        assert not episode.terminations[:-1].any() and not episode.truncations[:-1].any()
        assert episode.terminations[-1] == terminated and episode.truncations[-1] != terminated


def test_minari_export_of_a_generate_output_finds_its_policy_and_round_trips(
    generated, minari_root
):
    summary = export.export_minari(generated, "cartpole/expert-v0", author="me")
    want = all_trajectories(generated)
    assert summary["n_trajectories"] == len(want)
    assert summary["n_transitions"] == sum(len(t.acts) for t in want)
    assert summary["out"] == str(minari_root / "cartpole" / "expert-v0")
    check_minari("cartpole/expert-v0", want, "CartPole-v1", horizon=500)
    assert all(len(t.acts) < 500 for t in want)  # so every episode terminated
    with pytest.raises(ValueError, match=r"exists \(.*\); pass a new id or version"):
        export.export_minari(generated, "cartpole/expert-v0")


def test_minari_marks_horizon_long_episodes_as_truncated(policy_dirs, pendulum_npz, minari_root):
    export.export_minari(pendulum_npz, "pendulum/expert-v0", policy=policy_dirs["gaussian"])
    check_minari("pendulum/expert-v0", all_trajectories(pendulum_npz), "Pendulum-v1", 200)


def test_minari_refuses_bad_input_before_writing_anything(policy_dirs, pendulum_npz, minari_root):
    for bad_id in ("cartpole/expert", "c/expert-v0", "cart pole-v0"):
        with pytest.raises(ValueError, match="must be \\(namespace/\\)name-vN"):
            export.export_minari(pendulum_npz, bad_id, policy=policy_dirs["gaussian"])
    with pytest.raises(ValueError, match="cannot tell which env"):
        export.export_minari(pendulum_npz, "pendulum/expert-v0")
    with pytest.raises(ValueError, match=r"holds observations \(3,\) and actions \(1,\)"):
        export.export_minari(pendulum_npz, "pendulum/expert-v0", policy=policy_dirs["discrete"])
    assert minari.list_local_datasets() == {}
    assert not minari_root.exists() or not any(minari_root.rglob("*.hdf5"))


def test_seals_fixed_horizon_episodes_are_truncations_of_the_gymnasium_env(minari_root, tmp_path):
    policy = make_policy("seals/CartPole-v0")  # registered in Gymnasium once seals is imported
    checkpoints.save_policy(str(tmp_path / "policy"), policy, timesteps=0)
    rng = np.random.default_rng(2)
    arrays = {
        "obs": rng.normal(size=(1002, 4)).astype(np.float32),
        "acts": rng.integers(0, 2, size=1000).astype(np.int32),
        "rews": rng.normal(size=1000).astype(np.float32),
        "terminal": np.ones(2, bool),
        "indices": np.array([500]),
    }
    rollouts.save(str(tmp_path / "seals.npz"), arrays)
    path = str(tmp_path / "seals.npz")
    export.export_minari(path, "seals-cartpole/expert-v0", policy=str(tmp_path / "policy"))
    check_minari("seals-cartpole/expert-v0", rollouts.load(path), "seals/CartPole-v0", 500)


# ---------------------------------------------------------------------------
# Extras and the command line


@pytest.mark.parametrize(
    "fmt, module, call",
    [
        ("onnx", "onnx", lambda: export.export_onnx("policy", "policy.onnx")),
        ("hf", "datasets", lambda: export.export_hf("rollouts.npz", "out")),
        ("minari", "minari", lambda: export.export_minari("rollouts.npz", "a/b-v0")),
        ("sb3", "stable_baselines3", lambda: export.export_sb3("policy", "policy.zip")),
        ("sb3", "torch", lambda: export.export_sb3("policy", "policy.zip")),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_install(fmt, module, call, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == f"--format={fmt} needs the {fmt} extra: pip install -e '.[{fmt}]'"


@pytest.mark.parametrize(
    "fmt, kwargs, message",
    [
        ("foo", {}, "format='foo' is invalid; must be one of onnx, hf, minari, sb3"),
        ("onnx", {"out": "x.onnx"}, "--format=onnx needs --policy"),
        ("sb3", {"policy": "p"}, "--format=sb3 needs --out"),
        ("hf", {}, "--format=hf needs --rollouts and --out"),
        ("hf", {"rollouts": "r", "out": "o", "policy": "p"}, "--format=hf does not take --policy"),
        ("minari", {"rollouts": "r", "dataset_id": "a/b-v0", "out": "o"}, "$MINARI_DATASETS_PATH"),
    ],
)
def test_the_commands_arguments_are_checked_per_format(fmt, kwargs, message):
    with pytest.raises(ValueError) as e:
        export.export(fmt, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_command_line_exports_and_a_mistake_is_one_line(pendulum_npz, started):
    process, out = started["hf"]
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert json.loads(stdout) == {"out": out, "n_trajectories": 3, "n_transitions": 457}
    assert len(datasets.load_from_disk(out)) == 3
    process, _ = started["bad format"]
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--format" in lines[0] and "onnx|hf|minari|sb3" in lines[0], stderr


# ---------------------------------------------------------------------------
# Stable-Baselines3


# PPO.load of a zip, and predict, in a process where jaxrl_expert cannot be imported.
SB3_CHILD = """
import sys
import numpy as np
sys.modules["jaxrl_expert"] = None  # import jaxrl_expert (and from it) fails
from stable_baselines3 import PPO
out, obs_file, actions_file = sys.argv[1:]
actions, _ = PPO.load(out, device="cpu").predict(np.load(obs_file), deterministic=True)
np.save(actions_file, actions)
"""


@pytest.fixture(scope="module")
def sb3(policy_dirs, tmp_path_factory):
    """stable_baselines3 and torch (imported here: seconds, only for the tests that use them),
    and a child process loading the Gaussian policy's zip without this package (started
    with the first SB3 test, so that it overlaps the others)."""
    sb3, torch = pytest.importorskip("stable_baselines3"), pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("sb3")
    files = [str(root / name) for name in ("policy.zip", "obs.npy", "actions.npy")]
    summary = export.export("sb3", policy=policy_dirs["gaussian"], out=files[0])  # the command's
    assert summary["out"] == files[0]
    np.save(files[1], large_observations(checkpoints.load_policy(policy_dirs["gaussian"])))
    child = subprocess.Popen(
        [sys.executable, "-c", SB3_CHILD, *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield sb3, torch, child, files
    if child.poll() is None:  # a test selection never waited for it
        child.kill()
    child.communicate()


def sb3_and_our_log_probs(sb3, model, policy, seed=3):
    """Log-probabilities of one sample per observation (raw: Gaussian ones unclipped) under
    SB3's `evaluate_actions` and under ours, with both values."""
    torch = sb3[1]
    obs = large_observations(policy, seed)
    dist, value = policy.spec.apply(policy.params, policy.obs_rms, jnp.asarray(obs))
    actions = dist.sample(jax.random.PRNGKey(seed))
    with torch.no_grad():
        sb3_value, sb3_logp, _ = model.policy.evaluate_actions(
            torch.as_tensor(obs), torch.as_tensor(np.array(actions))
        )
    return (sb3_logp.numpy(), np.asarray(dist.log_prob(actions))), (
        sb3_value.numpy()[:, 0],
        np.asarray(value),
    )


@pytest.mark.parametrize("name", ["discrete", "gaussian"])
def test_sb3_zip_acts_and_scores_actions_as_the_policy_does(sb3, policy_dirs, name, tmp_path):
    """Observations far out (large_observations clips many): the zip clips them as we do."""
    PPO, DummyVecEnv = sb3[0].PPO, sb3[0].common.vec_env.DummyVecEnv
    out = str(tmp_path / "policy.zip")
    summary = export.export_sb3(policy_dirs[name], out)
    assert summary["out"] == out and os.listdir(tmp_path) == ["policy.zip"]
    model = PPO.load(out, device="cpu")
    policy = checkpoints.load_policy(policy_dirs[name])
    obs = large_observations(policy)
    got, _ = model.predict(obs, deterministic=True)
    want = policy.act(obs, deterministic=True)
    assert got.shape == want.shape
    if name == "discrete":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert np.any(np.abs(want) == 2.0) and np.any(np.abs(want) < 1.9)  # clipped, and not
    (sb3_logp, our_logp), (sb3_value, our_value) = sb3_and_our_log_probs(sb3, model, policy)
    np.testing.assert_allclose(sb3_logp, our_logp, rtol=0, atol=1e-5)
    np.testing.assert_allclose(sb3_value, our_value, rtol=1e-5, atol=1e-5)
    # imitation's load_policy("ppo", venv, path=out) is PPO.load(out, env=venv): the spaces
    # must equal the Gymnasium env's (CartPole-v1's unbounded velocities are inf there).
    gym = pytest.importorskip("gymnasium")
    env_id = policy.spec.env_id
    PPO.load(out, env=DummyVecEnv([lambda: gym.make(env_id)]), device="cpu")


def finite(space):
    """The Box with its infinite bounds made +-5 (SB3 takes finite bounds only)."""
    low, high = np.nan_to_num(space.low_array, neginf=-5), np.nan_to_num(space.high_array, posinf=5)
    return envs.Box.from_bounds(low, high, space.shape)


@pytest.mark.parametrize("activation, _, action_space", ACTIVATION_CASES)
def test_sb3_covers_every_activation_and_box_action(sb3, activation, _, action_space):
    """gelu included (flax's is the tanh approximation; SB3's activation a partial of
    torch's GELU); Gaussian policies only (SB3 has no tanh_normal), multi-axis Boxes too."""
    action_space = finite(action_space)
    policy = make_policy("Pendulum-v1", "gaussian", activation, action_space)
    model = export.sb3_model(policy)
    obs = large_observations(policy)
    got, _ = model.predict(obs, deterministic=True)
    dist, _ = policy.spec.apply(policy.params, policy.obs_rms, jnp.asarray(obs))
    want = policy.spec.env_action(dist, dist.mode())  # spec.act's, uncompiled (faster here)
    assert got.shape == want.shape == (N_OBS, *action_space.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    # The Gaussians, unclipped (their means reach tens, where float32 sums in another order
    # differ by ulps; log-probabilities of actions there cancel them into 1e-4s).
    torch = sb3[1]
    with torch.no_grad():
        gaussian = model.policy.get_distribution(torch.as_tensor(obs)).distribution
    np.testing.assert_allclose(gaussian.mean.numpy(), dist.loc, rtol=1e-6, atol=1e-5)
    std = np.broadcast_to(np.exp(dist.log_std), dist.loc.shape)
    np.testing.assert_allclose(gaussian.stddev.numpy(), std, rtol=1e-6)


def test_sb3_zip_loads_without_this_package(policy_dirs, sb3):
    """The `sb3` fixture's child process loaded the zip with jaxrl_expert unimportable."""
    _, _, child, (_, obs_file, actions_file) = sb3
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr[-3000:]
    assert "deserialize" not in stderr  # SB3 warns, and goes on, when a pickle fails to load
    policy = checkpoints.load_policy(policy_dirs["gaussian"])
    want = policy.act(np.load(obs_file), deterministic=True)
    np.testing.assert_allclose(np.load(actions_file), want, rtol=0, atol=1e-5)


def test_sb3_refuses_multi_axis_observations_and_infinite_action_bounds_in_one_line(sb3):
    policy = make_policy("Pendulum-v1")
    spec = dataclasses.replace(policy.spec, observation_space=envs.Box.from_bounds(-1, 1, (3, 1)))
    with pytest.raises(
        ValueError, match=r"over observations of shape \(3, 1\) does not export"
    ) as e:
        export.sb3_model(policy.replace(spec=spec))
    assert "\n" not in str(e.value)
    spec = dataclasses.replace(spec, torso="minatar_cnn")
    for to_model, name in ((export.sb3_model, "Stable-Baselines3"), (export.onnx_model, "ONNX")):
        with pytest.raises(ValueError, match=rf"torso 'minatar_cnn' .* export to {name}: only MLP"):
            to_model(policy.replace(spec=spec))
    policy = make_policy("Pendulum-v1", action_space=ACTIVATION_CASES[-1][2])  # high: inf
    with pytest.raises(ValueError, match="its PPO takes Box actions with finite bounds only") as e:
        export.sb3_model(policy)
    assert "\n" not in str(e.value)


def test_sb3_export_of_a_tanh_normal_policy_writes_nothing(sb3, policy_dirs, tmp_path):
    with pytest.raises(ValueError) as e:
        export.export_sb3(policy_dirs["tanh_normal"], str(tmp_path / "policy.zip"))
    assert str(e.value).startswith("distribution 'tanh_normal' has no Stable-Baselines3 PPO form")
    assert "\n" not in str(e.value) and os.listdir(tmp_path) == []
