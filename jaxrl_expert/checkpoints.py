"""Policies on disk: an Orbax checkpoint of (params, obs statistics) plus JSON metadata.

A policy directory is self-describing: `load_policy(path)` rebuilds the
network from `metadata.json` and restores the arrays into that structure.
Nothing is pickled. Directories are built under a temporary name and renamed,
so a crash never leaves a half-written policy under its final name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from jaxrl_expert import envs
from jaxrl_expert.atomic_files import write_json
from jaxrl_expert.networks import ActorCritic, env_action, make_actor_critic
from jaxrl_expert.normalize import RunningMeanStd

METADATA_FILE = "metadata.json"
ARRAYS_DIR = "arrays"
FORMAT_VERSION = 1


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxrl_expert")
    except PackageNotFoundError:
        return "unknown"


def single_process_checkpointer() -> ocp.StandardCheckpointer:
    """Orbax for host arrays written by this process alone (no cross-process barrier)."""
    me = jax.process_index()
    options = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    return ocp.StandardCheckpointer(multiprocessing_options=options)


def policy_metadata(config: ml_collections.ConfigDict, env: envs.Env) -> dict[str, Any]:
    """Everything needed to rebuild and run the policy, with no other input."""
    ppo, norm = config.ppo, config.normalize_kwargs
    return {
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "env_id": config.env_id,
        "env_kwargs": config.env_kwargs.to_dict(),
        "observation_space": env.observation_space.to_json(),
        "action_space": env.action_space.to_json(),
        "network": {
            "pi_sizes": list(ppo.net_arch.pi),
            "vf_sizes": list(ppo.net_arch.vf),
            "activation": ppo.activation,
            "ortho_init": ppo.ortho_init,
            "log_std_init": ppo.log_std_init,
        },
        "obs_normalization": {
            "enabled": norm.norm_obs,
            "epsilon": norm.epsilon,
            "clip_obs": norm.clip_obs,
        },
    }


def _network(metadata: dict[str, Any]) -> ActorCritic:
    spec = metadata["network"]
    return make_actor_critic(
        envs.space_from_json(metadata["action_space"]),
        spec["pi_sizes"],
        spec["vf_sizes"],
        spec["activation"],
        spec["ortho_init"],
        spec["log_std_init"],
    )


def save_policy(
    path: str, params: Any, obs_rms: RunningMeanStd, metadata: dict[str, Any], timesteps: int
) -> None:
    """Writes a policy directory atomically (replacing an existing one)."""
    arrays = {"params": params, "obs_rms": obs_rms}
    save_arrays_and_json(path, arrays, METADATA_FILE, {**metadata, "timesteps": int(timesteps)})


def save_arrays_and_json(path: str, arrays: Any, json_name: str, json_data: Any) -> None:
    """Writes `path/arrays/` (Orbax) and `path/json_name` beside it, then renames into place.

    The directory appears whole or not at all; an existing one is replaced.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    tmp = os.path.join(parent, f".tmp-{name}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with single_process_checkpointer() as checkpointer:
        checkpointer.save(os.path.join(tmp, ARRAYS_DIR), arrays)
        checkpointer.wait_until_finished()
    write_json(os.path.join(tmp, json_name), json_data)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(tmp, path)


def restore_arrays(path: str, target: Any) -> Any:
    """Reads `path/arrays/` (written by save_arrays_and_json) into `target`'s structure."""
    with single_process_checkpointer() as checkpointer:  # closing stops its threads
        return checkpointer.restore(os.path.abspath(os.path.join(path, ARRAYS_DIR)), target)


@dataclasses.dataclass(frozen=True)
class Policy:
    """A restored policy. `act` is pure and jittable; it applies the saved normalization."""

    network: ActorCritic
    params: Any
    obs_rms: RunningMeanStd
    metadata: dict[str, Any]

    @property
    def observation_space(self) -> envs.Space:
        return envs.space_from_json(self.metadata["observation_space"])

    @property
    def action_space(self) -> envs.Space:
        return envs.space_from_json(self.metadata["action_space"])

    def normalize_obs(self, obs: jax.Array) -> jax.Array:
        spec = self.metadata["obs_normalization"]
        if not spec["enabled"]:
            return obs
        return self.obs_rms.normalize(obs, spec["epsilon"], spec["clip_obs"])

    def act(self, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        """Env actions for raw observations (a batch or a single one)."""
        dist, _ = self.network.apply(self.params, self.normalize_obs(jnp.asarray(obs)))
        action = dist.mode() if deterministic else dist.sample(key)
        return env_action(action, self.action_space)


def read_metadata(path: str) -> dict[str, Any]:
    file = os.path.join(path, METADATA_FILE)
    if not os.path.isfile(file):
        raise ValueError(f"{path!r} is not a policy directory: {METADATA_FILE} is missing")
    try:
        with open(file) as f:
            metadata = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"policy metadata {file!r} is not valid JSON: {e}") from None
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"policy metadata {file!r} has format_version {metadata.get('format_version')!r}; "
            f"this jaxrl_expert reads version {FORMAT_VERSION}"
        )
    return metadata


def load_policy(path: str) -> Policy:
    """Rebuilds a saved policy from its directory alone."""
    path = os.path.abspath(path)
    metadata = read_metadata(path)
    network = _network(metadata)
    obs_shape = tuple(metadata["observation_space"]["shape"])
    params = jax.eval_shape(network.init, jax.random.PRNGKey(0), jnp.zeros(obs_shape))
    target = {"params": params, "obs_rms": jax.eval_shape(lambda: RunningMeanStd.create(obs_shape))}
    try:
        arrays = restore_arrays(path, target)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ValueError(f"policy arrays under {path!r} do not match its metadata: {e}") from None
    return Policy(network, arrays["params"], arrays["obs_rms"], metadata)


class TrainCheckpoints:
    """The full TrainState under `{log_dir}/checkpoints/`, for exact resume.

    Orbax's CheckpointManager commits a step by renaming its finished
    directory, so an interrupted save is never taken as the newest one.
    Steps are PPO iteration counts.
    """

    def __init__(self, directory: str, max_to_keep: int) -> None:
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep)
        )

    def latest_iteration(self) -> int | None:
        return self._manager.latest_step()

    def path(self, iteration: int) -> str:
        return os.path.join(self.directory, str(iteration))

    def save(self, iteration: int, state: Any) -> None:
        self._manager.save(iteration, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, iteration: int, like: Any) -> Any:
        """The state saved at `iteration`, in the structure of `like` (arrays or shapes)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        try:
            return self._manager.restore(iteration, args=ocp.args.StandardRestore(abstract))
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise ValueError(
                f"checkpoint {self.path(iteration)!r} does not fit this config's TrainState: {e}"
            ) from None

    def close(self) -> None:
        self._manager.close()
