"""Policies on disk: an Orbax checkpoint of (params, obs statistics) plus JSON metadata.

A policy directory is self-describing: `load_policy(path)` rebuilds the
network from `metadata.json` and restores the arrays into that structure.
Nothing is pickled. Directories are built under a temporary name and renamed,
so a crash never leaves a half-written policy under its final name.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
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
    try:
        os.makedirs(tmp)
        with single_process_checkpointer() as checkpointer:
            checkpointer.save(os.path.join(tmp, ARRAYS_DIR), arrays)
            checkpointer.wait_until_finished()
        write_json(os.path.join(tmp, json_name), json_data)
    except Exception as e:  # a full disk, no inodes: Orbax's other threads would wait 300 s
        release_waiting_orbax_threads()
        shutil.rmtree(tmp, ignore_errors=True)
        advice = f"; free space or inodes under {parent!r}" if isinstance(e, OSError) else ""
        raise ValueError(f"{path!r} could not be written: {_first_line(e)}{advice}") from None
    replace_directory(tmp, path)


def restore_arrays(path: str, target: Any) -> Any:
    """Reads `path/arrays/` (written by save_arrays_and_json) into `target`'s structure."""
    with single_process_checkpointer() as checkpointer, _loops_drained_on_close():
        return checkpointer.restore(os.path.abspath(os.path.join(path, ARRAYS_DIR)), target)


# A failed restore, then "RuntimeError: Event loop is closed" (issue 19, #14): Orbax runs
# each restore on a fresh event loop (asyncio_utils.run_sync) and closes it as soon as
# the first array read fails, while TensorStore is still reading the others; each of
# those reads then completes into the closed loop (`call_soon_threadsafe`), printed as an
# unraisable exception. A loop made for a restore therefore waits for its pending tasks
# (the reads in flight, which fail or finish at once) before it closes.
DRAIN_TIMEOUT_S = 60.0


@contextlib.contextmanager
def _loops_drained_on_close() -> Iterator[None]:
    """Event loops this thread creates inside the block finish their tasks before closing."""
    previous = asyncio.get_event_loop_policy()
    policy = _DrainingPolicy(previous, threading.get_ident())
    asyncio.set_event_loop_policy(policy)
    try:
        yield
    finally:
        if asyncio.get_event_loop_policy() is policy:
            asyncio.set_event_loop_policy(previous)


class _DrainingPolicy(asyncio.AbstractEventLoopPolicy):
    """`inner`, except that the loops it makes for thread `thread` drain before closing."""

    def __init__(self, inner: asyncio.AbstractEventLoopPolicy, thread: int) -> None:
        self._inner, self._thread = inner, thread

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        return self._inner.get_event_loop()

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._inner.set_event_loop(loop)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._inner.new_event_loop()
        if threading.get_ident() == self._thread:
            _drain_on_close(loop)
        return loop

    def __getattr__(self, name: str) -> Any:  # child watchers and the like
        return getattr(self._inner, name)


def _drain_on_close(loop: asyncio.AbstractEventLoop) -> None:
    close = loop.close

    def drain_then_close() -> None:
        if not loop.is_closed() and not loop.is_running():
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S))
            for task in pending:  # their errors are the failed restore's, already raised
                if task.done() and not task.cancelled():
                    task.exception()
        close()

    with contextlib.suppress(AttributeError):  # a loop type without instance attributes
        loop.close = drain_then_close


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
        if jax.process_index() == 0:  # before Orbax: its failure would leave threads waiting
            check_writable_directory(self.directory, "checkpoint directory")
        self._saving: int | None = None  # the step whose files may still be being written
        # Orbax's barriers between processes are collectives: run from its background
        # thread beside a training chunk's collectives, processes can deadlock. Several
        # processes therefore save synchronously.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=jax.process_count() == 1
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_iteration(self) -> int | None:
        self._finishing(self._manager.wait_until_finished)
        return self._manager.latest_step()

    def path(self, iteration: int) -> str:
        return os.path.join(self.directory, str(iteration))

    def save(self, iteration: int, state: Any) -> None:
        """Returns once the arrays are copied to host; the files are written in the background
        (in a single-process run).

        Training goes on meanwhile (the next save, `close` and `latest_iteration`
        wait for it); a kill before the commit leaves the previous step newest.
        """
        self._finishing(self._manager.wait_until_finished)  # the previous save's failure
        self._saving = iteration
        saved = _without_empty_arrays(state)  # MJX keeps zero-size arrays, Orbax refuses them
        self._finishing(self._manager.save, iteration, args=ocp.args.StandardSave(saved))

    def _finishing(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`call`, which waits for the save in flight: its failure (a full disk, no
        inodes, a directory gone) becomes one ValueError naming the step, after the
        Orbax threads still waiting for the failed save's signals are let go."""
        try:
            return call(*args, **kwargs)
        except Exception as e:
            if self._saving is None:
                raise
            failed, self._saving = self._saving, None
            release_waiting_orbax_threads()
            advice = (
                f"; free space or inodes under {self.directory!r} (or use another --log_dir), "
                "then run the same command again: it resumes from the last complete checkpoint"
                if isinstance(e, OSError)
                else ""
            )
            raise ValueError(
                f"checkpoint {self.path(failed)!r} could not be written: {_first_line(e)}{advice}"
            ) from None

    def restore(self, iteration: int, like: Any) -> Any:
        """The state saved at `iteration`, in the structure of `like` (arrays or shapes).

        Raises ValueError naming the checkpoint when it is unreadable or does not fit.
        """
        abstract = _without_empty_arrays(jax.tree.map(ocp.utils.to_shape_dtype_struct, like))
        try:
            with _loops_drained_on_close():
                restored = self._manager.restore(iteration, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # Orbax and TensorStore raise many kinds for a damaged file
            raise ValueError(
                f"checkpoint {self.path(iteration)!r} is unreadable or does not fit this "
                f"config's TrainState: {_first_line(e)}"
            ) from None
        return _with_empty_arrays(like, restored)

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
        self._finishing(self._manager.close)
        self._saving = None


def check_writable_directory(directory: str, what: str) -> None:
    """`directory` exists (made if need be) and takes a new entry; else one ValueError."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = tempfile.mkdtemp(dir=directory, prefix=".write-test-")
        with open(os.path.join(probe, "x"), "wb") as f:
            f.write(b"x")
        shutil.rmtree(probe)
    except OSError as e:
        if os.path.lexists(directory) and not os.path.isdir(directory):
            problem = "is a file, not a directory; move it away"
        else:
            problem = f"cannot be created: {e.strerror or e}"
            if e.filename and os.path.abspath(e.filename) != directory:
                problem += f" ({e.filename})"
            problem += "; free space or inodes there (or fix its permissions)"
        raise ValueError(f"{what} {directory!r} {problem}, or use another --log_dir") from None


def release_waiting_orbax_threads() -> None:
    """Lets go the Orbax threads still waiting for a failed save's signals.

    A failed async save leaves its other threads waiting for signals that never
    come, up to Orbax's 300 s coordination timeout; they are not daemons, so they
    keep the process alive that long after the error. Each is cancelled, then
    given the signals it waits for: it wakes, sees the cancel and ends without
    running. (One process only: with several, the signals are shared.)
    """
    if jax.process_count() != 1:
        return
    try:
        from orbax.checkpoint._src.futures import future
    except ImportError:  # another Orbax layout: nothing known to release
        return
    thread_type = getattr(future, "_SignalingThread", None)
    if thread_type is None:
        return
    released = []
    for thread in threading.enumerate():
        if isinstance(thread, thread_type) and thread.is_alive():
            with contextlib.suppress(Exception):
                coroutines = list(_coroutines_in(getattr(thread, "_target", None)))
                thread.cancel()
                future.set_signals(thread._receive_signals, operation_id=thread._operation_id)
                released.append((thread, coroutines))
    for thread, coroutines in released:
        threading.Thread.join(thread, timeout=1.0)  # its own join would raise the cancel
        if thread.is_alive():
            continue
        for coroutine in coroutines:  # never started: no "coroutine ... was never awaited"
            if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                coroutine.close()


def _coroutines_in(function: Any, depth: int = 3) -> Iterator[Any]:
    """The coroutine objects a (nested) closure holds: what a released thread would run."""
    for cell in getattr(function, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if asyncio.iscoroutine(value):
            yield value
        elif depth and callable(value):
            yield from _coroutines_in(value, depth - 1)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].split(" [tensorstore_spec")[0][:300]


def _is_empty(leaf: Any) -> bool:
    shape = getattr(leaf, "shape", None)
    return shape is not None and math.prod(shape) == 0


def _without_empty_arrays(tree: Any) -> Any:
    """`tree` with its zero-size arrays as None: Orbax refuses to save them (MJX keeps
    zero-size arrays in its state), and their content is nothing but their shape."""
    return jax.tree.map(lambda leaf: None if _is_empty(leaf) else leaf, tree)


def _with_empty_arrays(like: Any, restored: Any) -> Any:
    """`restored` (saved `_without_empty_arrays`) with `like`'s zero-size arrays back."""
    leaves, treedef = jax.tree.flatten(like)
    found = treedef.flatten_up_to(restored)
    return jax.tree.unflatten(
        treedef,
        [
            _empty_like(want) if _is_empty(want) else got
            for want, got in zip(leaves, found, strict=True)
        ],
    )


def _empty_like(leaf: Any) -> Any:
    empty = np.zeros(leaf.shape, leaf.dtype)
    sharding = getattr(leaf, "sharding", None)
    return empty if sharding is None else jax.device_put(empty, sharding)
