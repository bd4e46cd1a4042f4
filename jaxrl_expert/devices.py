"""Devices and hosts: the env batch axis is sharded over a mesh, the rest replicated.

Sharding is JAX's own: a 1-d `Mesh` over the devices with axis name "envs";
`NamedSharding`s put the env axis of the env states (and the per-env
VecNormalize return accumulators) on it and replicate everything else. jit
inserts the gradient all-reduce. With `jax.distributed` the mesh spans every
process's devices and each process steps its share of the envs.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

ENV_AXIS = "envs"


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """`jax.distributed.initialize` (arguments from flags or the usual environment).

    CPU devices need gloo for cross-process collectives (harmless elsewhere).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    jax.distributed.initialize(**{k: v for k, v in kwargs.items() if v is not None})


def is_writer() -> bool:
    """Only process 0 writes files (Orbax coordinates its own multi-process saves)."""
    return jax.process_index() == 0


def make_mesh(num_devices: int | None, n_envs: int, n_envs_field: str = "ppo.n_envs") -> Mesh:
    """A mesh over the first `num_devices` devices (all when None); n_envs must divide."""
    devices = jax.devices()
    if num_devices is not None:
        if num_devices > len(devices):
            raise ValueError(
                f"config.num_devices={num_devices} is invalid; must be at most the "
                f"{len(devices)} available device(s)"
            )
        if jax.process_count() > 1 and num_devices != len(devices):
            raise ValueError(
                f"config.num_devices={num_devices} is invalid with {jax.process_count()} "
                f"processes; must be None or {len(devices)} (every process's devices)"
            )
        devices = devices[:num_devices]
    if n_envs % len(devices):
        raise ValueError(
            f"config.{n_envs_field}={n_envs} is invalid; must be divisible by the number of "
            f"devices ({len(devices)}); set config.num_devices to use fewer devices"
        )
    return Mesh(np.asarray(devices), (ENV_AXIS,))


def train_state_sharding(state: Any, mesh: Mesh, seeds_axis: bool) -> Any:
    """Shardings for a TrainState (or a seed-stacked one): env axes on the mesh."""
    env_spec = P(None, ENV_AXIS) if seeds_axis else P(ENV_AXIS)
    on_envs = NamedSharding(mesh, env_spec)
    replicated = NamedSharding(mesh, P())
    shardings = jax.tree.map(lambda _: replicated, state)
    shardings = shardings.replace(
        env_state=jax.tree.map(lambda _: on_envs, state.env_state),
        reward_norm=shardings.reward_norm.replace(returns=on_envs),
    )
    if hasattr(state, "buffer"):  # SAC's replay buffer: (n_envs, capacity, ...) per leaf
        scalar = lambda x: replicated if x.ndim == seeds_axis else on_envs
        shardings = shardings.replace(buffer=jax.tree.map(scalar, state.buffer))
    return shardings


def default_compilation_cache_dir() -> str:
    """JAX_COMPILATION_CACHE_DIR if set, else a per-user directory."""
    return os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jaxrl_expert", "xla"
    )


def use_compilation_cache(directory: str) -> None:
    """Persistent XLA compilation cache in `directory` (before the first compile).

    A second run of the same config then loads its programs instead of
    compiling them. JAX writes entries atomically and only from process 0, so
    concurrent and multi-host runs can share a directory; an unreadable entry
    is recompiled with a warning.
    """
    if os.environ.get("JAX_ENABLE_COMPILATION_CACHE", "").lower() in ("0", "false"):
        return  # the user turned it off the JAX way
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def compile_for_one_call(program: Any, *args: Any) -> Any:
    """`program` (a jitted function) compiled for a call made once per run (e.g. the initial state).

    On CPU, XLA's lowest backend optimization level halves its compile time;
    such a program's run time is negligible. (Numbers differ in the last bits
    from a default compile, so every run compiles it this way.)
    """
    lowered = program.lower(*args)
    if jax.default_backend() != "cpu":
        return lowered.compile()
    return lowered.compile({"xla_backend_optimization_level": 0,
                            "xla_llvm_disable_expensive_passes": True})  # fmt: skip


def available_memory_bytes() -> int | None:
    """Memory a run can still take on the first local device: the accelerator's limit
    less what is in use, or on CPU the host's MemAvailable; None where unknown."""
    device = jax.local_devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
