"""Gymnasium environments stepped on the host, behind the functional `Env` interface.

A `HostEnv` looks like any other `Env` (`reset(key)`, `step(state, action)`,
vmapped over the env axis), so PPO, the rollout sampler and the evaluation
run the same jitted programs on it: each vmapped step is one host callback
that steps a Gymnasium vector env for the whole batch. `reset` opens a new
vector env (seeded from the keys) and puts its handle in `EnvState.core`;
`step` finds the vector env by that handle. Acting and learning stay
compiled; only the physics runs in Python.

The callbacks are `jax.pure_callback`s although they have side effects. What
keeps XLA from merging, hoisting or dropping them: every step also takes the
env's key and returns the next one, so no two calls have equal inputs and no
call is loop-invariant, and each step's outputs feed the next step. Vector envs auto-reset in
Gymnasium's same-step mode: on a done step `obs` is the next episode's first
observation and `final_obs` the true last one, as for JAX envs.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import importlib
import threading
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.buffer_callback import buffer_callback

from jaxrl_expert.envs.base import Box, Discrete, EnvState, Space, initial_state

GYM_EXTRA = "pip install -e '.[gym]'"
_MAX_LIVE_VECTOR_ENVS = 16  # per HostEnv: training's, samplers', evaluations' (oldest closed)


def _import_gymnasium() -> Any:
    try:
        import gymnasium
    except ImportError:
        raise ValueError(f"Gymnasium envs need the gym extra: {GYM_EXTRA}") from None
    return gymnasium


def gym_spec(env_id: str) -> Any:
    """Gymnasium's EnvSpec for `env_id` (importing `module:` prefixes and seals first).

    Raises ValueError naming the id, with the close matches from Gymnasium's registry.
    """
    gym = _import_gymnasium()
    module, _, name = env_id.rpartition(":")
    to_import = [module] if module else []
    if name.startswith("seals/"):
        to_import.append("seals")
    for module_name in to_import:
        try:
            importlib.import_module(module_name)
        except ImportError as e:
            extra = f" ({GYM_EXTRA})" if module_name == "seals" else ""
            raise ValueError(
                f"env_id {env_id!r}: cannot import module {module_name!r}{extra}: {e}"
            ) from None
    try:
        return gym.spec(name)
    except Exception:  # Gymnasium raises several error types for unknown ids
        close = difflib.get_close_matches(name, list(gym.registry), n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"env_id {env_id!r} is not a registered Gymnasium env{hint}") from None


def _space(space: Any, what: str, env_id: str) -> Space:
    gym = _import_gymnasium()
    if isinstance(space, gym.spaces.Discrete) and what == "action" and space.start == 0:
        return Discrete(int(space.n))
    if isinstance(space, gym.spaces.Box):
        return Box.from_bounds(space.low, space.high, tuple(space.shape))
    allowed = "Box or Discrete (starting at 0)" if what == "action" else "Box"
    raise ValueError(f"{env_id}: {what} space {space} is not supported; must be {allowed}")


@contextlib.contextmanager
def _quiet_float64_bounds():
    """Gymnasium warns on every env made whose Box bounds are float64 (seals' are)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32")
        yield


class _VectorEnvs:
    """The live Gymnasium vector envs of one HostEnv, by handle (thread-safe)."""

    def __init__(self, make_vector: Any) -> None:
        self._make_vector = make_vector
        self._lock = threading.Lock()
        self._envs: collections.OrderedDict[int, Any] = collections.OrderedDict()
        self._next_handle = 1

    def open(self, n: int) -> tuple[int, Any]:
        """A vector env of n envs: new, or the least recently used one of that size."""
        with self._lock:
            if len(self._envs) >= _MAX_LIVE_VECTOR_ENVS:
                handle, oldest = self._envs.popitem(last=False)
                if oldest.num_envs == n:
                    self._envs[handle] = oldest
                    return handle, oldest
                oldest.close()
            handle, self._next_handle = self._next_handle, self._next_handle + 1
        with _quiet_float64_bounds():
            vector = self._make_vector(n)
        with self._lock:
            self._envs[handle] = vector
        return handle, vector

    def get(self, handle: int) -> Any:
        with self._lock:
            if handle not in self._envs:
                raise RuntimeError(
                    f"host env handle {handle} is closed: a state from an earlier process or "
                    "reset; reset the env again"
                )
            self._envs.move_to_end(handle)
            return self._envs[handle]

    def close(self) -> None:
        with self._lock:
            for vector in self._envs.values():
                vector.close()
            self._envs.clear()


def _host_call(fn: Any, result_shapes: tuple, *args: jax.Array) -> tuple[jax.Array, ...]:
    """fn(*numpy args) -> numpy results, called from a compiled program (batched by vmap).

    On CPU a side-effecting `buffer_callback` hands fn the program's own
    buffers (a `pure_callback` copies every argument, ~0.3 ms per step);
    elsewhere `pure_callback` moves the data to the host.
    """
    if jax.default_backend() != "cpu":
        return jax.pure_callback(fn, result_shapes, *args, vmap_method="broadcast_all")

    def in_place(_, outs, *buffers):
        for out, value in zip(outs, fn(*map(np.asarray, buffers)), strict=True):
            np.asarray(out)[...] = value

    call = buffer_callback(
        in_place, result_shapes, has_side_effect=True, vmap_method="broadcast_all"
    )
    return tuple(call(*args))


def _seeds(key_data: np.ndarray) -> list[int]:
    """One Gymnasium seed per PRNG key (uint32 pairs)."""
    pairs = np.asarray(key_data, np.uint32).reshape(-1, 2).astype(np.uint64)
    return [int(s) for s in (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]]


class HostEnv:
    """A registered Gymnasium env as a functional `Env` (see the module docstring).

    `asynchronous=True` steps each vector env's copies in subprocesses, worth it
    only when one env step costs more than a process round trip.
    """

    def __init__(self, env_id: str, asynchronous: bool = False, **kwargs: Any) -> None:
        gym = _import_gymnasium()
        spec = gym_spec(env_id)
        self.env_id = env_id
        try:
            with _quiet_float64_bounds():
                probe = gym.make(spec, **kwargs)
        except TypeError as e:
            raise ValueError(f"env_kwargs {sorted(kwargs)}: {e}") from None
        except ImportError as e:
            raise ValueError(f"{env_id} cannot be made: {e} ({GYM_EXTRA})") from None
        self.observation_space = _space(probe.observation_space, "observation", env_id)
        self.action_space = _space(probe.action_space, "action", env_id)
        horizon = probe.spec.max_episode_steps if probe.spec is not None else None
        probe.close()
        if horizon is None:
            raise ValueError(
                f"{env_id} has no time limit; pass env_kwargs max_episode_steps=N "
                "(rollouts and evaluation need episodes that end)"
            )
        self.max_episode_steps = int(horizon)
        mode = "async" if asynchronous else "sync"
        autoreset = gym.vector.AutoresetMode.SAME_STEP

        def make_vector(n: int) -> Any:
            return gym.make_vec(
                spec,
                num_envs=n,
                vectorization_mode=mode,
                vector_kwargs={"autoreset_mode": autoreset},
                **kwargs,
            )

        self.vectors = _VectorEnvs(make_vector)
        self._obs = jax.ShapeDtypeStruct(self.observation_space.shape, jnp.float32)

    def close(self) -> None:
        """Closes every vector env this env opened."""
        self.vectors.close()

    # Host side: batched over every leading axis the vmaps added.

    def _host_reset(self, key_data: Any) -> tuple[np.ndarray, np.ndarray]:
        key_data = np.asarray(key_data)
        lead = key_data.shape[:-1]
        n = int(np.prod(lead))
        handle, vector = self.vectors.open(n)
        obs, _ = vector.reset(seed=_seeds(key_data))
        obs = np.asarray(obs, np.float32).reshape((*lead, *self._obs.shape))
        return np.full(lead, handle, np.int32), obs

    def _host_step(self, handles: Any, action: Any, key: Any) -> tuple[np.ndarray, ...]:
        del key  # an input only so that no two steps look alike to XLA
        handles, action = np.asarray(handles), np.asarray(action)
        lead = handles.shape
        flat_handles = handles.reshape(-1)
        flat_action = action.reshape((len(flat_handles), *action.shape[len(lead) :]))
        n, shape = len(flat_handles), self._obs.shape
        obs, final_obs = np.empty((n, *shape), np.float32), np.empty((n, *shape), np.float32)
        reward = np.empty(n, np.float32)
        terminated, truncated = np.empty(n, bool), np.empty(n, bool)
        for handle in dict.fromkeys(flat_handles.tolist()):  # one vector env per seed
            rows = flat_handles == handle
            vector = self.vectors.get(handle)
            acts = flat_action[rows]
            if isinstance(self.action_space, Discrete):
                acts = acts.astype(np.int64)
            o, r, term, trunc, info = vector.step(acts)
            obs[rows], reward[rows] = o, r
            # A time limit that coincides with a true end is no truncation (SB3's
            # TimeLimit.truncated; our TimeLimit): nothing to bootstrap.
            terminated[rows], truncated[rows] = term, trunc & ~term
            ended = info.get("_final_obs", np.zeros(len(o), bool))
            final = np.array(o, np.float32)
            for i in np.flatnonzero(ended):
                final[i] = info["final_obs"][i]
            final_obs[rows] = final
        out = (obs, reward, terminated, truncated, final_obs)
        return tuple(x.reshape((*lead, *x.shape[1:])) for x in out)

    # Device side: the functional interface.

    def reset(self, key: jax.Array) -> EnvState:
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        shapes = (jax.ShapeDtypeStruct((), jnp.int32), self._obs)
        handle, obs = _host_call(self._host_reset, shapes, key)
        return initial_state(handle, obs, key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        shapes = (
            self._obs,
            jax.ShapeDtypeStruct((), jnp.float32),
            jax.ShapeDtypeStruct((), bool),
            jax.ShapeDtypeStruct((), bool),
            self._obs,
        )
        key = jax.random.split(state.key)[0]
        obs, reward, terminated, truncated, final_obs = _host_call(
            self._host_step, shapes, state.core, action, key
        )
        # The previous step may have finished an episode: start new totals (as AutoReset).
        episode_return = jnp.where(state.done, 0.0, state.episode_return) + reward
        true_episode_return = jnp.where(state.done, 0.0, state.true_episode_return) + reward
        episode_length = jnp.where(state.done, 0, state.episode_length) + 1
        done = terminated | truncated
        return state.replace(
            obs=obs,
            reward=reward,
            true_reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=final_obs,
            time=jnp.where(done, 0, state.time + 1),
            episode_return=episode_return,
            true_episode_return=true_episode_return,
            episode_length=episode_length,
            key=key,
        )
