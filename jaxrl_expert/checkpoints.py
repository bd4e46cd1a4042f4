"""Policies on disk: an Orbax checkpoint of (params, obs statistics) plus JSON metadata.

A policy directory is self-describing: `load_policy(path)` rebuilds the
network from `metadata.json` and restores the arrays into that structure.
Nothing is pickled. Directories are built under a temporary name and renamed,
so a crash never leaves a half-written policy under its final name.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxrl_expert import layout
from jaxrl_expert.atomic_files import read_versioned_json, replace_directory, write_json
from jaxrl_expert.policy import FORMAT_VERSION, Policy, PolicySpec

METADATA_FILE = "metadata.json"
ARRAYS_DIR = "arrays"


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


def save_policy(path: str, policy: Policy, timesteps: int) -> None:
    """Writes a policy directory atomically (replacing an existing one)."""
    arrays = {"params": policy.params, "obs_rms": policy.obs_rms}
    metadata = {
        **policy.spec.to_json(),
        "package_version": package_version(),
        "timesteps": int(timesteps),
    }
    save_arrays_and_json(path, arrays, METADATA_FILE, metadata)


def save_arrays_and_json(path: str, arrays: Any, json_name: str, json_data: Any) -> None:
    """Writes `path/arrays/` (Orbax) and `path/json_name` beside it, then renames into place.

    The directory appears whole or not at all; an existing one is replaced, and
    a kill at any point leaves the old or the new one (`replace_directory`).
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
    replace_directory(tmp, path)


def restore_arrays(path: str, target: Any) -> Any:
    """Reads `path/arrays/` (written by save_arrays_and_json) into `target`'s structure."""
    with single_process_checkpointer() as checkpointer:  # closing stops its threads
        return checkpointer.restore(os.path.abspath(os.path.join(path, ARRAYS_DIR)), target)


def read_metadata(path: str) -> dict[str, Any]:
    """The metadata.json of a policy directory, checked for its format version."""
    if not os.path.exists(path):
        raise ValueError(f"policy directory {path!r} is missing: no such directory")
    return read_versioned_json(os.path.join(path, METADATA_FILE), FORMAT_VERSION, "policy metadata")


def resolve_policy_dir(path: str) -> str:
    """A policy directory, or a train_rl run directory's `policies/final/`."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise ValueError(f"policy directory {path!r} does not exist (no such directory)")
    if os.path.isfile(os.path.join(path, METADATA_FILE)):
        return path
    final = layout.policy_dir(path, layout.FINAL)
    if os.path.isfile(os.path.join(final, METADATA_FILE)):
        return final
    seeds = layout.existing_seed_dirs(path)
    if seeds:
        first = layout.policy_dir(next(iter(seeds.values())), layout.FINAL)
        raise ValueError(f"{path!r} is a multi-seed run; pass one seed's policy, e.g. {first!r}")
    return path  # read_metadata names the missing metadata.json


def load_policy(path: str) -> Policy:
    """Rebuilds a saved policy from its directory alone (or a run's `policies/final/`)."""
    path = resolve_policy_dir(path)
    metadata = read_metadata(path)
    try:
        spec = PolicySpec.from_json(metadata)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"policy metadata under {path!r} is incomplete: {e!r}") from None
    target = jax.eval_shape(
        lambda: {"params": spec.init_params(jax.random.PRNGKey(0)), "obs_rms": spec.init_obs_rms()}
    )
    try:
        arrays = restore_arrays(path, target)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ValueError(f"policy arrays under {path!r} do not match its metadata: {e}") from None
    expected = jax.tree_util.tree_flatten_with_path(target)[0]
    found = jax.tree.leaves(arrays)
    for (where, want), got in zip(expected, found, strict=True):
        if tuple(got.shape) != tuple(want.shape):  # e.g. metadata.json edited after the save
            raise ValueError(
                f"policy arrays under {path!r} do not match its metadata: "
                f"{jax.tree_util.keystr(where)} is {tuple(got.shape)}, the metadata says "
                f"{tuple(want.shape)}"
            )
    return Policy(spec, arrays["params"], arrays["obs_rms"])


def check_warm_start(agent_path: str, spec: PolicySpec) -> None:
    """The policy at agent_path must fit this config's env and network."""
    try:
        saved = PolicySpec.from_json(read_metadata(agent_path))
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"config.agent_path={agent_path!r}: incomplete metadata ({e!r})") from None
    except ValueError as e:
        raise ValueError(f"config.agent_path={agent_path!r}: {e}") from None
    differing = saved.differences(spec)
    if differing:
        theirs = {name: getattr(saved, name) for name in differing}
        ours = {name: getattr(spec, name) for name in differing}
        raise ValueError(
            f"config.agent_path={agent_path!r} holds a policy whose {', '.join(differing)} "
            f"is {theirs} but this config needs {ours} (env {spec.env_id})"
        )


def complete_iterations(directory: str) -> list[int]:
    """The complete TrainState checkpoints in `directory`, oldest first.

    Reads the directory only: it creates nothing, and (unlike a CheckpointManager)
    holds no barrier between processes, which may find the directory in different states.
    """
    if not os.path.isdir(directory):
        return []
    return sorted(ocp.utils.checkpoint_steps(directory))


def latest_iteration(directory: str) -> int | None:
    """The newest complete TrainState checkpoint in `directory`."""
    return max(complete_iterations(directory), default=None)


class TrainCheckpoints:
    """The full TrainState under `{log_dir}/checkpoints/`, for exact resume.

    Orbax's CheckpointManager commits a step by renaming its finished
    directory, so an interrupted save is never taken as the newest one.
    Steps are PPO iteration counts.
    """

    def __init__(self, directory: str, max_to_keep: int) -> None:
        self.directory = os.path.abspath(directory)
        # Orbax's barriers between processes are collectives: run from its background
        # thread beside a training chunk's collectives, processes can deadlock. Several
        # processes therefore save synchronously.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=jax.process_count() == 1
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_iteration(self) -> int | None:
        self._manager.wait_until_finished()
        return self._manager.latest_step()

    def path(self, iteration: int) -> str:
        return os.path.join(self.directory, str(iteration))

    def save(self, iteration: int, state: Any) -> None:
        """Returns once the arrays are copied to host; the files are written in the background
        (in a single-process run).

        Training goes on meanwhile (the next save, `close` and `latest_iteration`
        wait for it); a kill before the commit leaves the previous step newest.
        """
        self._manager.save(iteration, args=ocp.args.StandardSave(state))

    def restore(self, iteration: int, like: Any) -> Any:
        """The state saved at `iteration`, in the structure of `like` (arrays or shapes).

        Raises ValueError naming the checkpoint when it is unreadable or does not fit.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        try:
            return self._manager.restore(iteration, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # Orbax and TensorStore raise many kinds for a damaged file
            text = str(e).strip() or type(e).__name__
            first_line = text.splitlines()[0].split(" [tensorstore_spec")[0][:300]
            raise ValueError(
                f"checkpoint {self.path(iteration)!r} is unreadable or does not fit this "
                f"config's TrainState: {first_line}"
            ) from None

    def complete_iterations(self) -> list[int]:
        return complete_iterations(self.directory)

    def drop_after(self, iteration: int | None) -> None:
        """Deletes the steps after `iteration` (all when None): a resumed run redoes them."""
        dropped = [s for s in self.complete_iterations() if iteration is None or s > iteration]
        for step in dropped:
            shutil.rmtree(self.path(step))
        if dropped:
            self._manager.reload()

    def set_aside(self, iteration: int, why: str) -> str:
        """Renames step `iteration` out of Orbax's sight (`{step}.{why}`); returns the path."""
        aside = f"{self.path(iteration)}.{why}"
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(self.path(iteration), aside)
        self._manager.reload()
        return aside

    def close(self) -> None:
        self._manager.close()
