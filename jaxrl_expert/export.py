"""Hand a policy or its rollouts to other tools: ONNX, Stable-Baselines3, HuggingFace
datasets, Minari.

    python -m jaxrl_expert.export --format=onnx --policy=output/run --out=policy.onnx
    python -m jaxrl_expert.export --format=sb3 --policy=output/run --out=policy.zip
    python -m jaxrl_expert.export --format=hf --rollouts=output/demos --out=demos_hf
    python -m jaxrl_expert.export --format=minari --rollouts=output/demos \\
        --dataset_id=cartpole/expert-v0

onnx: the deterministic policy as one graph, "obs" (batch, *obs_shape) float32
in, "action" out (int64 for Discrete actions): observation normalization and
clip, the actor MLP, then what `Policy.act(obs, deterministic=True)` does with
its mode (argmax; Gaussian means clipped to the Box, tanh-normal ones squashed
and rescaled). Opset 17, IR version 8: onnxruntime >= 1.14 runs it.

sb3: a Stable-Baselines3 `PPO` zip that `PPO.load(path)` loads with only
stable-baselines3 and torch installed (imitation's
`load_policy("ppo", venv, path=...)` calls `PPO.load`): the same pi/vf MLPs,
activation and weights, and our action distribution (categorical logits, or the
Gaussian with its state-independent log_std), so `predict`, `evaluate_actions`
and `predict_values` give what our policy does. Observation normalization
travels exactly, clip included, as its features extractor: a torch Flatten,
diagonal Linear ((obs - mean) / sqrt(var + eps)) and Hardtanh(+-clip_obs),
frozen. tanh_normal policies (Brax's state-dependent scale) have no SB3 PPO
form; nor do multi-axis observation spaces. PPO's hyperparameters in the zip are
SB3's defaults, not the run's.

hf: what `imitation.data.serialize.save` writes (a `datasets` Dataset saved
with save_to_disk; imitation's `serialize.load(dir)` reads it), one row per
trajectory: obs, acts, infos ("{}" per step), terminal, rews.

minari: a Minari dataset `--dataset_id` under $MINARI_DATASETS_PATH (default
~/.minari/datasets). An episode ends in a termination when it ended before the
env's horizon, else (it reached the time limit, or its trajectory is not
terminal) in a truncation. The env id is recorded where Gymnasium registers it
(e.g. CartPole-v1, seals/CartPole-v0), so `recover_environment` works.

`--rollouts` is a rollout .npz, a train_rl run or its rollouts/ directory
(rollouts/final.npz), or a `jaxrl-generate` output (every part of its
manifest, converted one part at a time). minari needs the policy's spaces and
env: from `--policy`, else from the policy beside the rollouts (the manifest's,
or the run's policies/final/).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from absl import app, flags

from jaxrl_expert import cli, envs, layout, rollouts
from jaxrl_expert.atomic_files import read_versioned_json, write_atomic
from jaxrl_expert.checkpoints import (
    METADATA_FILE,
    load_policy,
    read_metadata,
    resolve_policy_dir,
)
from jaxrl_expert.envs.host import gym_spec
from jaxrl_expert.generate import MANIFEST_FILE, MANIFEST_VERSION
from jaxrl_expert.logging import configure_console
from jaxrl_expert.policy import Policy, PolicySpec

if TYPE_CHECKING:
    import onnx

FORMATS = ("onnx", "hf", "minari", "sb3")
ONNX_OPSET = 17
ONNX_IR_VERSION = 8
EMPTY_INFO = "{}"  # jsonpickle.encode({}), what imitation stores for an empty info dict


def _import_extra(fmt: str, *modules: str) -> list[ModuleType]:
    """The modules a format needs; a missing one is one line naming the extra to install."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError:
        raise ValueError(
            f"--format={fmt} needs the {fmt} extra: pip install -e '.[{fmt}]'"
        ) from None


# ---------------------------------------------------------------------------
# ONNX


class _Graph:
    """ONNX nodes and initializers, built in order; each node gets one fresh output name."""

    def __init__(self, helper: ModuleType, numpy_helper: ModuleType) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer; a name seen before is the same constant (gelu's, per layer)."""
        if name not in self.initializers:
            array = np.asarray(value, dtype)
            self.initializers[name] = self.numpy_helper.from_array(array, name)
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        output = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def dense(self, x: str, name: str, kernel: np.ndarray, bias: np.ndarray) -> str:
        """flax's Dense over the last axis (MatMul broadcasts over the leading ones)."""
        weighted = self.op("MatMul", x, self.const(f"{name}/kernel", kernel))
        return self.op("Add", weighted, self.const(f"{name}/bias", bias))


def _gelu(g: _Graph, x: str) -> str:
    """jax.nn.gelu's default (flax's nn.gelu): the tanh approximation, op for op."""
    cube = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Add", x, g.op("Mul", g.const("gelu/c", 0.044715), cube))
    scaled = g.op("Mul", g.const("gelu/sqrt_2_over_pi", np.sqrt(2 / np.pi)), inner)
    one_plus = g.op("Add", g.const("gelu/one", 1.0), g.op("Tanh", scaled))
    return g.op("Mul", x, g.op("Mul", g.const("gelu/half", 0.5), one_plus))


# networks.ACTIVATIONS as ONNX ops (opset 17)
_ONNX_ACTIVATIONS: dict[str, Callable[[_Graph, str], str]] = {
    "tanh": lambda g, x: g.op("Tanh", x),
    "relu": lambda g, x: g.op("Relu", x),
    "elu": lambda g, x: g.op("Elu", x, alpha=1.0),
    "gelu": _gelu,
    "silu": lambda g, x: g.op("Mul", x, g.op("Sigmoid", x)),
}


def _check_flat_mlp(spec: PolicySpec, format_name: str) -> None:
    """One line when the policy is not an MLP over flat observations (what exports)."""
    shape = tuple(spec.observation_space.shape)
    if spec.torso != "mlp" or len(shape) != 1:
        raise ValueError(
            f"a policy with torso {spec.torso!r} over observations of shape {shape} does not "
            f"export to {format_name}: only MLP policies over flat (1-D) observations do"
        )


def onnx_model(policy: Policy) -> onnx.ModelProto:
    """The deterministic policy as an `onnx.ModelProto` (see the module doc).

    Built op by op from the Flax parameters, in the order `spec.act` computes,
    so onnxruntime's actions match `policy.act(obs, deterministic=True)`.
    """
    onnx, helper, numpy_helper = _import_extra("onnx", "onnx", "onnx.helper", "onnx.numpy_helper")
    spec = policy.spec
    _check_flat_mlp(spec, "ONNX")
    if spec.activation not in _ONNX_ACTIVATIONS:
        raise ValueError(
            f"activation {spec.activation!r} has no ONNX form here; supported: "
            f"{', '.join(_ONNX_ACTIVATIONS)}"
        )
    g = _Graph(helper, numpy_helper)
    obs_shape = tuple(spec.observation_space.shape)
    x = "obs"
    if spec.norm_obs:  # RunningMeanStd.normalize, with sqrt(var + eps) computed in float32
        mean = np.asarray(policy.obs_rms.mean, np.float32)
        std = np.sqrt(np.asarray(policy.obs_rms.var, np.float32) + np.float32(spec.obs_epsilon))
        x = g.op("Div", g.op("Sub", x, g.const("obs_rms/mean", mean)), g.const("obs_rms/std", std))
        clip = spec.clip_obs
        x = g.op("Clip", x, g.const("obs_rms/clip_low", -clip), g.const("obs_rms/clip_high", clip))
    params = policy.params["params"]
    n_hidden = len(spec.pi_sizes)  # actor layers come first: Dense_0 .. Dense_{n_hidden}
    for i in range(n_hidden):
        layer = params[f"Dense_{i}"]
        x = _ONNX_ACTIVATIONS[spec.activation](g, g.dense(x, f"pi_{i}", **layer))
    head = params[f"Dense_{n_hidden}"]
    kernel, bias = np.asarray(head["kernel"]), np.asarray(head["bias"])
    space = spec.action_space
    if isinstance(space, envs.Discrete):
        x = g.op("ArgMax", g.dense(x, "pi_head", kernel, bias), axis=-1, keepdims=0)
        action_type, action_shape = onnx.TensorProto.INT64, obs_shape[:-1]
    else:
        width = kernel.shape[1] // 2 if spec.distribution == "tanh_normal" else kernel.shape[1]
        x = g.dense(x, "pi_head", kernel[:, :width], bias[:width])  # the mode: the loc half
        x = _box_action(g, spec, x, len(obs_shape))
        action_type, action_shape = onnx.TensorProto.FLOAT, (*obs_shape[:-1], *space.shape)
    g.nodes.append(helper.make_node("Identity", [x], ["action"]))
    graph = helper.make_graph(
        g.nodes,
        "jaxrl_expert_policy",
        [helper.make_tensor_value_info("obs", onnx.TensorProto.FLOAT, ["batch", *obs_shape])],
        [helper.make_tensor_value_info("action", action_type, ["batch", *action_shape])],
        list(g.initializers.values()),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="jaxrl_expert",
        doc_string=f"deterministic policy for {spec.env_id}",
    )
    model.ir_version = ONNX_IR_VERSION
    helper.set_model_props(model, {"policy_metadata": json.dumps(spec.to_json(), sort_keys=True)})
    onnx.checker.check_model(model)
    return model


def _box_action(g: _Graph, spec: PolicySpec, loc: str, obs_ndim: int) -> str:
    """spec.env_action for the mode of a Box distribution, op for op."""
    space = spec.action_space
    x = g.op("Tanh", loc) if spec.distribution == "tanh_normal" else loc
    if len(space.shape) != 1:  # the flat action takes the space's shape (0: keep that axis)
        shape = [0] * obs_ndim + list(space.shape)
        x = g.op("Reshape", x, g.const("action/shape", shape, np.int64))
    low, high = space.low_array, space.high_array
    if spec.distribution != "tanh_normal":
        return g.op("Min", g.op("Max", x, g.const("action/low", low)), g.const("action/high", high))
    finite = np.isfinite(low) & np.isfinite(high)
    if np.all(finite & (low == -1.0) & (high == 1.0)):
        return x
    width = np.where(finite, high - low, 0.0).astype(np.float32)
    half = g.op("Mul", g.const("action/half", 0.5), g.op("Add", x, g.const("action/one", 1.0)))
    low = np.where(finite, low, 0.0).astype(np.float32)
    scaled = g.op("Mul", half, g.const("action/width", width))
    scaled = g.op("Add", g.const("action/low", low), scaled)
    if np.all(finite):
        return scaled
    return g.op("Where", g.const("action/finite", finite, np.bool_), scaled, x)


def export_onnx(policy_dir: str, out: str) -> dict[str, Any]:
    """Writes the policy at `policy_dir` (or a run's final policy) to the ONNX file `out`,
    so it runs without JAX (onnxruntime, browsers, robots)."""
    _import_extra("onnx", "onnx")
    if os.path.isdir(out):
        raise ValueError(f"out={out!r} is a directory; pass the .onnx file to write")
    policy = load_policy(policy_dir)
    data = onnx_model(policy).SerializeToString()
    write_atomic(out, lambda f: f.write(data))
    return {"out": os.path.abspath(out), "env_id": policy.spec.env_id, "bytes": len(data)}


# ---------------------------------------------------------------------------
# Stable-Baselines3


def _sb3_activation(torch: ModuleType, name: str) -> Any:
    """networks.ACTIVATIONS as the torch module class SB3 instantiates with no arguments
    (flax's gelu is the tanh approximation: a partial of torch's GELU, by reference)."""
    classes = {
        "tanh": torch.nn.Tanh,
        "relu": torch.nn.ReLU,
        "elu": torch.nn.ELU,  # alpha 1, as jax.nn.elu
        "gelu": functools.partial(torch.nn.GELU, approximate="tanh"),
        "silu": torch.nn.SiLU,
    }
    if name not in classes:
        raise ValueError(
            f"activation {name!r} has no Stable-Baselines3 form here; supported: "
            f"{', '.join(classes)}"
        )
    return classes[name]


def _sb3_normalizer(torch: ModuleType, policy: Policy) -> Any:
    """The policy's observation normalization and clip as SB3's features extractor.

    A torch module (flatten, the diagonal Linear x / std - mean / std, Hardtanh at
    +-clip_obs) pickled by value in the zip's policy_kwargs, with only torch classes
    in it; SB3 calls `features_extractor_class(observation_space)`, which
    `max(module, observation_space, key=callable)` answers with the module (a
    space is not callable), so loading needs no code of ours.
    """
    spec = policy.spec
    n = spec.observation_space.shape[0]
    scale = torch.nn.Linear(n, n)  # its weights: _sb3_state_dict's
    clip = float(spec.clip_obs)
    module = torch.nn.Sequential(torch.nn.Flatten(), scale, torch.nn.Hardtanh(-clip, clip))
    module.features_dim = n  # what SB3 reads of a features extractor
    module.requires_grad_(False)  # fixed statistics, as the policy's own
    return functools.partial(max, module, key=callable)


def _sb3_spaces(gym: ModuleType, spec: PolicySpec) -> tuple[Any, Any]:
    """The Gymnasium env's own spaces where it is the policy's env (so that `PPO.load(path,
    env=...)`, imitation's `load_policy`, finds them equal: CartPole-v1's unbounded
    velocities are inf there, float32's max here), else the policy's."""
    ours = (_gym_space(gym, spec.observation_space), _gym_space(gym, spec.action_space))
    env_spec = _gym_env_spec(spec)
    if env_spec is None:
        return ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. seals' float64 bounds cast to float32
            env = gym.make(env_spec)
            theirs = (env.observation_space, env.action_space)
            env.close()
    except Exception:  # its dependencies are not installed here (MuJoCo): ours describe it
        return ours
    same = all(
        type(a) is type(b) and a.shape == b.shape and getattr(a, "n", 0) == getattr(b, "n", 0)
        for a, b in zip(ours, theirs, strict=True)
    )
    return theirs if same else ours


def _sb3_env(gym: ModuleType, spec: PolicySpec) -> Any:
    """A do-nothing Gymnasium env with the policy's spaces: all SB3's PPO needs to build."""
    observation_space, action_space = _sb3_spaces(gym, spec)

    class SpacesOnly(gym.Env):
        def __init__(self) -> None:
            self.observation_space, self.action_space = observation_space, action_space

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, True, False, {}

    return SpacesOnly()


def sb3_model(policy: Policy) -> Any:
    """The policy as a Stable-Baselines3 `PPO` (see the module doc): the same MLPs,
    activation and weights, observation normalization in its features extractor."""
    sb3, torch, gym = _import_extra("sb3", "stable_baselines3", "torch", "gymnasium")
    spec = policy.spec
    if isinstance(spec.action_space, envs.Box) and spec.distribution != "gaussian":
        raise ValueError(
            f"distribution {spec.distribution!r} has no Stable-Baselines3 PPO form (its scale "
            "is a network output; SB3's Gaussian has a state-independent log_std); export a "
            "'gaussian' policy, or use --format=onnx"
        )
    space = spec.action_space
    if isinstance(space, envs.Box) and not np.all(np.isfinite([space.low, space.high])):
        raise ValueError(
            f"action bounds {space.low} .. {space.high} do not export to Stable-Baselines3: "
            "its PPO takes Box actions with finite bounds only"
        )
    _check_flat_mlp(spec, "Stable-Baselines3")
    policy_kwargs = {
        "net_arch": {"pi": list(spec.pi_sizes), "vf": list(spec.vf_sizes)},
        "activation_fn": _sb3_activation(torch, spec.activation),
        "ortho_init": spec.ortho_init,
        "log_std_init": spec.log_std_init,
    }
    if spec.norm_obs:
        policy_kwargs["features_extractor_class"] = _sb3_normalizer(torch, policy)
    model = sb3.PPO(
        "MlpPolicy", _sb3_env(gym, spec), policy_kwargs=policy_kwargs, device="cpu", verbose=0
    )
    model.policy.load_state_dict(_sb3_state_dict(torch, policy, model.policy.state_dict()))
    return model


def _sb3_state_dict(torch: ModuleType, policy: Policy, initial: dict[str, Any]) -> dict[str, Any]:
    """Our Flax parameters under SB3's names: Dense_0 .. the actor's hidden layers, then
    its head, the critic's hidden layers, its head (torch weights are (out, in))."""
    spec, params = policy.spec, policy.params["params"]
    n_pi, n_vf = len(spec.pi_sizes), len(spec.vf_sizes)
    names = [f"mlp_extractor.policy_net.{2 * i}" for i in range(n_pi)] + ["action_net"]
    names += [f"mlp_extractor.value_net.{2 * i}" for i in range(n_vf)] + ["value_net"]
    state = dict(initial)
    if spec.norm_obs:  # the features extractor's Linear (SB3's ortho_init re-drew it)
        var, mean = (np.asarray(a, np.float32) for a in (policy.obs_rms.var, policy.obs_rms.mean))
        std = np.sqrt(var + np.float32(spec.obs_epsilon))
        for extractor in ("features_extractor", "pi_features_extractor", "vf_features_extractor"):
            state[f"{extractor}.1.weight"] = torch.diag(torch.from_numpy(1 / std))
            state[f"{extractor}.1.bias"] = torch.from_numpy(-mean / std)
    for i, name in enumerate(names):
        layer = params[f"Dense_{i}"]
        state[f"{name}.weight"] = torch.from_numpy(np.array(layer["kernel"], np.float32).T)
        state[f"{name}.bias"] = torch.from_numpy(np.array(layer["bias"], np.float32))
    if "log_std" in params:
        state["log_std"] = torch.from_numpy(np.array(params["log_std"], np.float32))
    for key, value in state.items():
        if value.shape != initial[key].shape:
            raise ValueError(
                f"parameter {key} of shape {tuple(value.shape)} does not fit SB3's "
                f"{tuple(initial[key].shape)}"
            )
    return state


def export_sb3(policy_dir: str, out: str) -> dict[str, Any]:
    """Writes the policy at `policy_dir` (or a run's final policy) as the Stable-Baselines3
    PPO zip `out`, which `PPO.load(out)` (and imitation's `load_policy("ppo", venv,
    path=out)`) loads without this package."""
    _import_extra("sb3", "stable_baselines3", "torch")
    if os.path.isdir(out):
        raise ValueError(f"out={out!r} is a directory; pass the .zip file to write")
    policy = load_policy(policy_dir)
    model = sb3_model(policy)
    write_atomic(out, model.save)
    size = os.path.getsize(out)
    return {"out": os.path.abspath(out), "env_id": policy.spec.env_id, "bytes": size}


# ---------------------------------------------------------------------------
# Rollouts


def rollout_files(path: str) -> list[str]:
    """The rollout npz files `path` names, in order (see the module doc)."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"rollouts={path!r} does not exist (no such file or directory)")
    if os.path.isfile(os.path.join(path, MANIFEST_FILE)):
        manifest = read_versioned_json(
            os.path.join(path, MANIFEST_FILE), MANIFEST_VERSION, "manifest"
        )
        if not manifest.get("complete"):
            raise ValueError(
                f"rollouts={path!r} is an unfinished jaxrl-generate output; finish it first "
                "(re-run jaxrl-generate with the same arguments)"
            )
        return [os.path.join(path, part["file"]) for part in manifest["parts"]]
    for final in (layout.rollout_file(path, layout.FINAL), os.path.join(path, "final.npz")):
        if os.path.isfile(final):
            return [final]
    seeds = layout.existing_seed_dirs(path)
    if seeds:
        first = next(iter(seeds.values()))
        raise ValueError(f"rollouts={path!r} holds several seeds; pass one, e.g. {first!r}")
    raise ValueError(
        f"rollouts={path!r} holds no rollouts; pass an .npz file, a jaxrl-generate output "
        f"(with {MANIFEST_FILE}) or a train_rl run (with rollouts/final.npz)"
    )


def _file_trajectories(files: list[str]) -> Iterator[tuple[str, list[rollouts.Trajectory]]]:
    """(file, its trajectories), one file at a time: memory holds one part."""
    for file in files:
        yield file, rollouts.load(file)


def _array_layout(t: rollouts.Trajectory) -> str:
    """The dtypes and per-step shapes of a trajectory's arrays, as an error message names them."""
    return (
        f"obs {t.obs.dtype} {t.obs.shape[1:]}, acts {t.acts.dtype} {t.acts.shape[1:]}, "
        f"rews {t.rews.dtype}"
    )


def _check_layout(file: str, trajectories: list[rollouts.Trajectory], expected: str) -> None:
    """Every trajectory has the dtypes and shapes of the first one exported."""
    for t in trajectories:
        found = _array_layout(t)
        if found != expected:
            raise ValueError(
                f"rollout file {file!r} holds {found}, unlike the first trajectory's {expected}"
            )


def _hf_rows(files: list[str], expected: str) -> Iterator[dict[str, Any]]:
    """imitation's trajectories_to_dict, one row per trajectory (Dataset.from_generator)."""
    for file, trajectories in _file_trajectories(files):
        _check_layout(file, trajectories, expected)
        for t in trajectories:
            yield {
                "obs": t.obs,
                "acts": t.acts,
                "infos": [EMPTY_INFO] * len(t.acts),
                "terminal": t.terminal,
                "rews": t.rews,
            }


def _hf_features(datasets: ModuleType, first: rollouts.Trajectory) -> Any:
    """The features imitation's `Dataset.from_dict` infers: a List per array axis."""

    def nested(array: np.ndarray) -> Any:
        feature = datasets.Value(str(array.dtype))
        for _ in range(array.ndim):
            feature = datasets.List(feature)
        return feature

    return datasets.Features(
        {
            "obs": nested(first.obs),
            "acts": nested(first.acts),
            "infos": datasets.List(datasets.Value("string")),
            "terminal": datasets.Value("bool"),
            "rews": nested(first.rews),
        }
    )


# datasets buffers this many rows (trajectories) before writing; 1000 (its default) rows of
# image trajectories would be tens of GB: the buffer is held near HF_BUFFER_BYTES instead.
HF_BUFFER_BYTES = 64 * 2**20


def hf_writer_batch_size(trajectory: rollouts.Trajectory) -> int:
    """Rows per write for trajectories the size of this one."""
    size = trajectory.obs.nbytes + trajectory.acts.nbytes + trajectory.rews.nbytes
    return max(1, min(1000, HF_BUFFER_BYTES // max(size, 1)))


def export_hf(rollouts_path: str, out: str) -> dict[str, Any]:
    """Writes the rollouts as imitation's HuggingFace dataset directory `out` (a new path),
    the format imitation >= 1.0 saves demonstrations in; streamed one file at a time."""
    datasets, arrow_compute = _import_extra("hf", "datasets", "pyarrow.compute")
    out = os.path.abspath(out)
    if os.path.exists(out):
        raise ValueError(f"out={out!r} exists; pass a new path (or delete it first)")
    files = rollout_files(rollouts_path)
    first = rollouts.load(files[0])[0]
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(out)}-")
    try:
        try:
            dataset = datasets.Dataset.from_generator(
                _hf_rows,
                features=_hf_features(datasets, first),
                gen_kwargs={"files": files, "expected": _array_layout(first)},
                cache_dir=os.path.join(work, "cache"),
                writer_batch_size=hf_writer_batch_size(first),
            )
        except datasets.exceptions.DatasetGenerationError as e:
            if isinstance(e.__cause__, ValueError):  # ours, raised inside the generator
                raise ValueError(str(e.__cause__)) from None
            raise
        dataset.save_to_disk(os.path.join(work, "dataset"))
        n_trajectories = dataset.num_rows
        steps = arrow_compute.list_value_length(dataset.data.column("rews"))
        n_transitions = arrow_compute.sum(steps).as_py()
        del dataset
        os.replace(os.path.join(work, "dataset"), out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"out": out, "n_trajectories": n_trajectories, "n_transitions": n_transitions}


# ---------------------------------------------------------------------------
# Minari


def _source_policy_dir(rollouts_path: str, policy: str | None) -> str:
    """The policy whose env and spaces the rollouts belong to: `policy`, else the one a
    manifest beside them names, else their run's policies/final/."""
    if policy is not None:
        return resolve_policy_dir(policy)
    path = os.path.abspath(rollouts_path)
    here = path if os.path.isdir(path) else os.path.dirname(path)
    candidates = []
    if os.path.isfile(os.path.join(here, MANIFEST_FILE)):
        manifest = read_versioned_json(
            os.path.join(here, MANIFEST_FILE), MANIFEST_VERSION, "manifest"
        )
        if manifest.get("policy"):
            candidates.append(manifest["policy"])
    candidates += [layout.policy_dir(here, layout.FINAL)]  # a run directory
    candidates += [layout.policy_dir(os.path.dirname(here), layout.FINAL)]  # its rollouts/
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, METADATA_FILE)):
            return candidate
    raise ValueError(
        f"cannot tell which env the rollouts {path!r} come from (no policy beside them); "
        "pass --policy=DIR, the policy (or its run) that generated them"
    )


def _gym_space(gym: ModuleType, space: envs.Space) -> Any:
    if isinstance(space, envs.Discrete):
        return gym.spaces.Discrete(space.n)
    return gym.spaces.Box(space.low_array, space.high_array, space.shape, np.dtype(space.dtype))


def _gym_env_spec(spec: PolicySpec) -> Any:
    """Gymnasium's EnvSpec of the policy's env when it is the same env there (registered
    under that id, no kwargs of ours, not a Brax port of a MuJoCo env), else None."""
    if envs.is_brax(spec.env_id) or json.loads(spec.env_kwargs):
        return None
    try:
        return gym_spec(spec.env_id)
    except ValueError:  # not registered in Gymnasium: the spaces alone describe it
        return None


def _episodes(
    file: str, trajectories: list[rollouts.Trajectory], spec: PolicySpec, horizon: int
) -> Iterator[tuple[rollouts.Trajectory, tuple[np.ndarray, np.ndarray]]]:
    """Each trajectory with its (terminations, truncations), checked against the policy's
    spaces. An episode that ended before the horizon terminated; one that reached it (or
    is not terminal) was cut by the time limit (or otherwise): a truncation."""
    expected = (tuple(spec.observation_space.shape), tuple(spec.action_space.shape))
    for t in trajectories:
        found = (t.obs.shape[1:], t.acts.shape[1:])
        if found != expected:
            raise ValueError(
                f"rollout file {file!r} holds observations {found[0]} and actions {found[1]}, "
                f"but the policy's env {spec.env_id} has {expected[0]} and {expected[1]}"
            )
        n = len(t.acts)
        terminations, truncations = np.zeros(n, bool), np.zeros(n, bool)
        terminated = t.terminal and n < horizon
        terminations[-1], truncations[-1] = terminated, not terminated
        yield t, (terminations, truncations)


def export_minari(
    rollouts_path: str,
    dataset_id: str,
    policy: str | None = None,
    author: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Writes the rollouts as the Minari dataset `dataset_id` (offline-RL libraries load
    Minari datasets by id); one rollout file in memory at a time.

    `policy`: the policy (or run) that generated them, for the env and spaces;
    by default the one beside the rollouts (see the module doc).
    """
    minari, gym, _ = _import_extra("minari", "minari", "gymnasium", "h5py")
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.storage.datasets_root_dir import get_dataset_path

    try:  # before Minari creates anything: it leaves directories behind on a bad id
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):  # TypeError: an id without -vN
        raise ValueError(
            f"dataset_id={dataset_id!r} is invalid; must be (namespace/)name-vN with a "
            "namespace of 2+ characters, e.g. 'cartpole/expert-v0'"
        ) from None
    path = os.fspath(get_dataset_path(dataset_id))
    if os.path.exists(path):
        raise ValueError(
            f"dataset_id={dataset_id!r} exists ({path}); pass a new id or version, or delete it"
        )
    files = rollout_files(rollouts_path)
    policy_dir = _source_policy_dir(rollouts_path, policy)
    try:
        spec = PolicySpec.from_json(read_metadata(policy_dir))
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"policy metadata under {policy_dir!r} is incomplete: {e!r}") from None
    env = spec.make_env()
    horizon = env.max_episode_steps
    if isinstance(env, envs.HostEnv):
        env.close()
    created, expected = None, None
    try:
        for file, trajectories in _file_trajectories(files):
            expected = expected or _array_layout(trajectories[0])
            _check_layout(file, trajectories, expected)
            buffers = [
                EpisodeBuffer(
                    observations=t.obs,
                    actions=t.acts,
                    rewards=t.rews,
                    terminations=terminations,
                    truncations=truncations,
                )
                for t, (terminations, truncations) in _episodes(file, trajectories, spec, horizon)
            ]
            if created is not None:
                created.update_dataset_from_buffer(buffers)
                continue
            # Quiet: Minari's advice on optional metadata, Gymnasium's on seals' float64 bounds.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", r"`\w+` is set to None", UserWarning)
                warnings.filterwarnings("ignore", ".*precision lowered by casting to float32")
                created = minari.create_dataset_from_buffers(
                    dataset_id,
                    buffers,
                    env=_gym_env_spec(spec),
                    algorithm_name="jaxrl_expert PPO",
                    author=author,
                    description=description,
                    observation_space=_gym_space(gym, spec.observation_space),
                    action_space=_gym_space(gym, spec.action_space),
                    jpeg_encoding=False,  # lossless, whatever the spaces
                )
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # no half-written dataset under the id
        raise
    return {
        "out": path,
        "dataset_id": dataset_id,
        "env_id": spec.env_id,
        "n_trajectories": int(created.total_episodes),
        "n_transitions": int(created.total_steps),
    }


# ---------------------------------------------------------------------------
# CLI

# format -> (flags it needs, flags it may take)
_FLAGS_OF = {
    "onnx": (("policy", "out"), ()),
    "hf": (("rollouts", "out"), ()),
    "minari": (("rollouts", "dataset_id"), ("policy", "author", "description")),
    "sb3": (("policy", "out"), ()),
}


def export(fmt: str, **kwargs: str | None) -> dict[str, Any]:
    """The command: checks which arguments `fmt` takes, then runs its export.

    kwargs: policy, rollouts, out, dataset_id, author, description (None: not given).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r} is invalid; must be one of {', '.join(FORMATS)}")
    needed, optional = _FLAGS_OF[fmt]
    given = {name for name, value in kwargs.items() if value is not None}
    missing = [f"--{name}" for name in needed if name not in given]
    if missing:
        raise ValueError(f"--format={fmt} needs {' and '.join(missing)}")
    unused = sorted(given - set(needed) - set(optional))
    if unused:
        where = (
            "; Minari writes under $MINARI_DATASETS_PATH (default ~/.minari/datasets)"
            if fmt == "minari" and "out" in unused
            else ""
        )
        raise ValueError(
            f"--format={fmt} does not take {', '.join(f'--{n}' for n in unused)}{where}"
        )
    if fmt == "onnx":
        return export_onnx(kwargs["policy"], kwargs["out"])
    if fmt == "sb3":
        return export_sb3(kwargs["policy"], kwargs["out"])
    if fmt == "hf":
        return export_hf(kwargs["rollouts"], kwargs["out"])
    return export_minari(
        kwargs["rollouts"],
        kwargs["dataset_id"],
        kwargs.get("policy"),
        kwargs.get("author"),
        kwargs.get("description"),
    )


_FLAG_NAMES = ("policy", "rollouts", "out", "dataset_id", "author", "description")


def _define_flags(module_name: str) -> None:
    """The command's flags (defined by `cli.run` only)."""
    main = {"module_name": module_name}
    flags.DEFINE_enum("format", None, list(FORMATS), "what to write", **main)
    flags.DEFINE_string(
        "policy", None,
        "onnx, sb3: the policy directory or run to export; minari: the policy (or run) that "
        "generated the rollouts (default: the one beside them)",
        **main,
    )  # fmt: skip
    flags.DEFINE_string(
        "rollouts", None, "hf, minari: a rollout .npz, a train_rl run, or a generate output", **main
    )
    flags.DEFINE_string(
        "out", None, "onnx: the .onnx file; sb3: the .zip file; hf: a new dataset directory", **main
    )
    flags.DEFINE_string("dataset_id", None, "minari: the new dataset's id, name-vN", **main)
    flags.DEFINE_string("author", None, "minari: the dataset's author", **main)
    flags.DEFINE_string("description", None, "minari: the dataset's description", **main)
    flags.mark_flag_as_required("format")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    try:
        result = export(FLAGS.format, **{name: FLAGS[name].value for name in _FLAG_NAMES})
    except ValueError as e:  # a bad flag, path or missing extra: one line, not a traceback
        raise app.UsageError(str(e)) from None
    print(json.dumps(result, indent=2))


def main_console() -> None:
    """Entry point of `python -m jaxrl_expert.export`."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: `datasets` hashes the hf row
    # generator with dill, which pickles a function of __main__ by value (and fails).
    import jaxrl_expert.export

    jaxrl_expert.export.main_console()
