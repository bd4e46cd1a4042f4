"""Jitted episode generation, imitation's `rollout_stats`, and rollout files (npz)."""

from __future__ import annotations

import dataclasses
import pickle  # only to WRITE the infos array imitation expects; nothing here unpickles
import zipfile
import zlib
from collections.abc import Callable
from typing import IO

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_expert.atomic_files import write_atomic
from jaxrl_expert.envs import Env, EnvState

# policy(obs_batch, key) -> env actions for the batch
BatchPolicy = Callable[[jax.Array, jax.Array], jax.Array]


@struct.dataclass
class _EpisodeRun:
    env_state: EnvState
    key: jax.Array
    finished: jax.Array
    returns: jax.Array
    true_returns: jax.Array
    lengths: jax.Array


def run_episodes(
    env: Env, policy: BatchPolicy, key: jax.Array, n_episodes: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Plays one full episode in each of `n_episodes` parallel envs.

    Returns (returns of the trained-on reward, ground-truth returns, lengths).

    Every env contributes exactly its first episode, so short episodes are not
    over-represented. Jittable (`n_episodes` static).
    """
    key, reset_key = jax.random.split(key)
    env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n_episodes))

    def unfinished(run: _EpisodeRun) -> jax.Array:
        return ~jnp.all(run.finished)

    def step(run: _EpisodeRun) -> _EpisodeRun:
        key, action_key = jax.random.split(run.key)
        env_state = jax.vmap(env.step)(run.env_state, policy(run.env_state.obs, action_key))
        ends_now = env_state.done & ~run.finished
        return _EpisodeRun(
            env_state=env_state,
            key=key,
            finished=run.finished | env_state.done,
            returns=jnp.where(ends_now, env_state.episode_return, run.returns),
            true_returns=jnp.where(ends_now, env_state.true_episode_return, run.true_returns),
            lengths=jnp.where(ends_now, env_state.episode_length, run.lengths),
        )

    zeros = jnp.zeros((n_episodes,), jnp.float32)
    finished = jnp.zeros((n_episodes,), bool)
    run = _EpisodeRun(env_state, key, finished, zeros, zeros, zeros.astype(jnp.int32))
    run = jax.lax.while_loop(unfinished, step, run)
    return run.returns, run.true_returns, run.lengths


def rollout_stats(
    returns: np.ndarray, lengths: np.ndarray, monitor_returns: np.ndarray | None = None
) -> dict[str, float]:
    """imitation's rollout_stats: `return_*` of the trained-on reward, `monitor_return_*`
    of the ground truth (the same array when training on the ground truth)."""
    returns = np.asarray(returns, np.float64)
    lengths = np.asarray(lengths, np.float64)
    monitor = returns if monitor_returns is None else np.asarray(monitor_returns, np.float64)
    stats: dict[str, float] = {"n_traj": len(returns)}
    for name, values in (("return", returns), ("len", lengths), ("monitor_return", monitor)):
        stats[f"{name}_min"] = float(values.min())
        stats[f"{name}_mean"] = float(values.mean())
        stats[f"{name}_std"] = float(values.std())
        stats[f"{name}_max"] = float(values.max())
    stats["monitor_return_len"] = len(monitor)
    return stats


# ---------------------------------------------------------------------------
# Demonstrations: imitation's generate_trajectories semantics, jitted.


@struct.dataclass
class _Records:
    """Per step and env: what happened, and whether it belongs to a kept episode."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array  # ground truth
    done: jax.Array
    final_obs: jax.Array
    kept: jax.Array


@struct.dataclass
class _Sampling:
    t: jax.Array
    env_state: EnvState
    key: jax.Array
    active: jax.Array
    kept_steps: jax.Array
    kept_episodes: jax.Array
    reached: jax.Array
    records: _Records


def sample_shape(
    env: Env, n_envs: int, n_timesteps: int | None, n_episodes: int | None
) -> tuple[int, int]:
    """(parallel envs, buffer steps) for a sampling request; static, fixes one compile."""
    horizon = env.max_episode_steps
    if n_episodes is not None:
        return n_episodes, horizon
    n_parallel = max(1, min(n_envs, -(-n_timesteps // horizon)))
    # Enough completed steps are in by ceil(n/E) + horizon; then every env finishes its episode.
    return n_parallel, -(-n_timesteps // n_parallel) + 2 * horizon


def make_sampler(
    env: Env,
    policy: BatchPolicy,
    n_envs: int,
    n_timesteps: int | None = None,
    n_episodes: int | None = None,
) -> Callable[[jax.Array], _Records]:
    """`sample(key) -> records` with imitation's generate_trajectories semantics.

    With n_timesteps: envs keep starting episodes until that many steps of
    complete episodes are in; after that each env finishes the episode it is
    in and stops, so no episode is cut and short ones are not favoured. With
    n_episodes: that many envs each play exactly one episode. `policy` may
    close over traced params; the whole loop is one jittable program.

    `sample(key, target)` asks for less with the same compiled program: a
    traced int, at most the static request, that replaces it (the steps to
    reach, or how many of the envs keep their episode). None: the request.
    A smaller step target also runs proportionally fewer envs, so the
    overshoot of finishing episodes shrinks with it.
    """
    n_parallel, n_rows = sample_shape(env, n_envs, n_timesteps, n_episodes)

    def sample(key: jax.Array, target: jax.Array | None = None) -> _Records:
        if target is None:
            target = n_timesteps if n_episodes is None else n_episodes
        key, reset_key = jax.random.split(key)
        env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n_parallel))
        obs_shape = env_state.obs.shape[1:]
        action = policy(env_state.obs, key)
        rows = lambda shape, dtype: jnp.zeros((n_rows, n_parallel, *shape), dtype)
        records = _Records(
            obs=rows(obs_shape, env_state.obs.dtype),  # uint8 images stay uint8
            action=rows(action.shape[1:], action.dtype),
            reward=rows((), jnp.float32),
            done=rows((), bool),
            final_obs=rows(obs_shape, env_state.obs.dtype),
            kept=rows((), bool),
        )
        if n_episodes is not None:
            n_active = target  # these envs keep their first episode
        else:
            # ceil(target / n_active) <= ceil(n_timesteps / n_parallel): the buffer suffices.
            rows_per_env = -(-n_timesteps // n_parallel)
            fewer = jnp.minimum(n_parallel, -(-target // rows_per_env))
            n_active = jnp.where(target >= n_timesteps, n_parallel, fewer)
        active = jnp.arange(n_parallel) < n_active
        state = _Sampling(
            t=jnp.zeros((), jnp.int32),
            env_state=env_state,
            key=key,
            active=active,
            kept_steps=jnp.zeros((), jnp.int32),
            kept_episodes=jnp.zeros((), jnp.int32),
            reached=jnp.zeros((), bool),
            records=records,
        )

        def step(s: _Sampling) -> _Sampling:
            key, action_key = jax.random.split(s.key)
            action = policy(s.env_state.obs, action_key)
            after = jax.vmap(env.step)(s.env_state, action)
            record = _Records(
                s.env_state.obs, action, after.true_reward, after.done, after.final_obs, s.active
            )
            records = jax.tree.map(lambda buf, x: buf.at[s.t].set(x), s.records, record)
            finished = s.active & after.done
            kept_steps = s.kept_steps + jnp.sum(jnp.where(finished, after.episode_length, 0))
            kept_episodes = s.kept_episodes + jnp.sum(finished)
            if n_episodes is not None:
                reached = jnp.ones((), bool)  # every env keeps its first episode only
            else:
                reached = s.reached | (kept_steps >= target)
            active = jnp.where(reached, s.active & ~after.done, s.active)
            return _Sampling(
                s.t + 1, after, key, active, kept_steps, kept_episodes, reached, records
            )

        state = jax.lax.while_loop(lambda s: jnp.any(s.active) & (s.t < n_rows), step, state)
        return state.records

    return sample


def records_to_arrays(records: _Records) -> dict[str, np.ndarray]:
    """The kept episodes in imitation's npz layout (host side, vectorized NumPy)."""
    records = jax.device_get(records)
    # Env-major order: each env's kept steps are a prefix of its timeline.
    env_major = lambda x: np.swapaxes(np.asarray(x), 0, 1).reshape((-1, *x.shape[2:]))
    kept = env_major(records.kept)
    obs, final_obs = env_major(records.obs)[kept], env_major(records.final_obs)[kept]
    done = env_major(records.done)[kept]
    ends = np.flatnonzero(done)
    if len(ends) == 0 or ends[-1] != len(done) - 1:
        raise RuntimeError("sampling ended inside an episode; buffer too small")
    lengths = np.diff(np.concatenate([[-1], ends]))
    return {
        "obs": np.insert(obs, ends + 1, final_obs[ends], axis=0),
        "acts": env_major(records.action)[kept],
        "rews": env_major(records.reward)[kept].astype(np.float32),
        "terminal": np.ones(len(ends), bool),
        "indices": np.cumsum(lengths)[:-1].astype(np.int64),
    }


def save(path: str, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    """Writes rollouts atomically in the layout `imitation.data.serialize.load` reads.

    `infos` is an object array of empty dicts, as imitation writes it; only
    imitation's own loader unpickles it, ours never reads it. compress=False
    writes a stored (uncompressed) npz with fixed zip timestamps: several
    times faster, larger, and byte-identical for identical arrays.
    """
    if not compress:
        write_atomic(path, lambda f: _write_stored_npz(f, arrays, len(arrays["acts"])))
        return
    infos = np.empty(len(arrays["acts"]), dtype=object)
    infos[:] = [{} for _ in range(len(infos))]
    write_atomic(path, lambda f: np.savez_compressed(f, **arrays, infos=infos))


def _write_stored_npz(file: IO[bytes], arrays: dict[str, np.ndarray], n_infos: int) -> None:
    """np.savez's format (zip64 entries of .npy files), deterministic and fast.

    `infos` (n_infos empty dicts) is pickled from one shared dict with the
    pickle memo off, so each entry is a one-byte EMPTY_DICT opcode and
    unpickles to a dict of its own, without building n_infos dicts here.
    """
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            with zf.open(_zip_entry(name), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)
        infos = np.empty(n_infos, dtype=object)
        infos[:] = [{}] * n_infos
        with zf.open(_zip_entry("infos"), "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(infos))
            pickler = pickle.Pickler(f, protocol=3)
            pickler.fast = True  # no memo: every entry is its own dict when read back
            pickler.dump(infos)


def _zip_entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = zipfile.ZIP_STORED
    return entry


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """One episode: T+1 observations, T actions and ground-truth rewards."""

    obs: np.ndarray
    acts: np.ndarray
    rews: np.ndarray
    terminal: bool


NPZ_KEYS = ("obs", "acts", "rews", "terminal", "indices")


def load(path: str) -> list[Trajectory]:
    """Reads a rollout file back into trajectories, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise ValueError(f"rollout file {path!r} lacks arrays {missing}")
            arrays = {k: data[k] for k in NPZ_KEYS}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"rollout file {path!r} is unreadable or truncated: {e}") from None
    except ValueError as e:  # e.g. an object array, which would need unpickling
        raise ValueError(f"rollout file {path!r} cannot be read without unpickling: {e}") from None
    except (TypeError, MemoryError) as e:  # not an npz (a bare .npy), or a header's huge shape
        raise ValueError(f"rollout file {path!r} is not a rollout npz: {e!r}") from None
    n, indices = len(arrays["terminal"]), arrays["indices"]
    lengths = {k: len(arrays[k]) for k in ("obs", "acts", "rews")}
    if (
        len(indices) != n - 1
        or lengths["obs"] != lengths["acts"] + n
        or lengths["rews"] != lengths["acts"]
    ):
        raise ValueError(
            f"rollout file {path!r} has inconsistent array lengths: {lengths}, "
            f"{n} trajectories, {len(indices)} indices"
        )
    bounds = np.concatenate([[0], indices, [lengths["acts"]]])
    if n and np.any(np.diff(bounds) < 1):
        raise ValueError(
            f"rollout file {path!r} has indices that do not split its {lengths['acts']} steps "
            "into non-empty trajectories in order"
        )
    return split_arrays(arrays)


def flatten_trajectories(trajectories: list[Trajectory]) -> dict[str, np.ndarray]:
    """Transitions of all trajectories, as imitation's flatten_trajectories_with_rew:
    `obs`, `acts`, `next_obs`, `dones` (True on each trajectory's last step), `rews`."""
    dones = [np.zeros(len(t.acts), bool) for t in trajectories]
    for done, t in zip(dones, trajectories, strict=True):
        done[-1] = t.terminal
    return {
        "obs": np.concatenate([t.obs[:-1] for t in trajectories]),
        "acts": np.concatenate([t.acts for t in trajectories]),
        "next_obs": np.concatenate([t.obs[1:] for t in trajectories]),
        "dones": np.concatenate(dones),
        "rews": np.concatenate([t.rews for t in trajectories]),
    }


def split_arrays(arrays: dict[str, np.ndarray]) -> list[Trajectory]:
    """Trajectories from arrays in the npz layout (imitation's split rules)."""
    n = len(arrays["terminal"])
    indices = arrays["indices"]
    obs = np.split(arrays["obs"], indices + np.arange(n - 1) + 1)
    acts = np.split(arrays["acts"], indices)
    rews = np.split(arrays["rews"], indices)
    return [
        Trajectory(o, a, r, bool(t))
        for o, a, r, t in zip(obs, acts, rews, arrays["terminal"], strict=True)
    ]
