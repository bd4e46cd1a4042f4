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

Image observations (a uint8 Box of height x width x channels) stay uint8 from
the host to the device; every other Box is served as float32. Atari games
(ale-py's ids: `ALE/Pong-v5`, `PongNoFrameskip-v4`, ...) get SB3's
`AtariWrapper` + `VecFrameStack(4)` preprocessing by default, configured by the
`atari_wrapper` env kwarg (see `ATARI_WRAPPER_DEFAULTS`) so that it travels
with a saved policy's env_kwargs.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import importlib
import math
import threading
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.buffer_callback import buffer_callback

from jaxrl_expert.envs.base import Box, Discrete, EnvState, Space, initial_state

GYM_EXTRA = "pip install -e '.[gym]'"
ATARI_EXTRA = "pip install -e '.[atari]'"
# env_kwargs["atari_wrapper"] of an Atari id: SB3's AtariWrapper arguments (rl-zoo's Atari
# defaults) plus rl-zoo's frame_stack. False: the raw ALE env, no preprocessing.
ATARI_WRAPPER_DEFAULTS = {
    "noop_max": 30,  # up to this many no-op frames after each full reset (0: none)
    "frame_skip": 4,  # repeat each action this many frames, max-pool the last two
    "screen_size": 84,  # grayscale frames resized to screen_size x screen_size
    "terminal_on_life_loss": True,  # an episode ends with a lost life (the game goes on)
    "fire_reset": True,  # press FIRE after each reset in games that have it
    "clip_reward": True,  # train on sign(reward); true_reward stays the game's score
    "frame_stack": 4,  # last frames stacked as channels: (size, size, frame_stack)
}
_ATARI_ENTRY_POINTS = ("ale_py.env:AtariEnv", "shimmy.atari_env:AtariEnv")
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
    if name.startswith("ALE/"):
        to_import.append("ale_py")  # registers the ALE/ ids (and the v0 / v4 ones)
    elif name not in gym.registry:
        with contextlib.suppress(ImportError):  # e.g. PongNoFrameskip-v4, when installed
            importlib.import_module("ale_py")
    if name.startswith("seals/"):
        to_import.append("seals")
    for module_name in to_import:
        try:
            importlib.import_module(module_name)
        except ImportError as e:
            extra = {"seals": f" ({GYM_EXTRA})", "ale_py": f" ({ATARI_EXTRA})"}
            raise ValueError(
                f"env_id {env_id!r}: cannot import module {module_name!r}"
                f"{extra.get(module_name, '')}: {e}"
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
        image = what == "observation" and space.dtype == np.uint8 and len(space.shape) == 3
        dtype = "uint8" if image else "float32"  # images: (height, width, channels)
        return Box.from_bounds(space.low, space.high, tuple(space.shape), dtype)
    allowed = "Box or Discrete (starting at 0)" if what == "action" else "Box"
    raise ValueError(f"{env_id}: {what} space {space} is not supported; must be {allowed}")


@contextlib.contextmanager
def _quiet_float64_bounds():
    """Gymnasium warns on every env made whose Box bounds are float64 (seals' are)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32")
        yield


def is_atari(spec: Any) -> bool:
    """Whether a Gymnasium EnvSpec is an ALE (Atari) game."""
    return isinstance(spec.entry_point, str) and spec.entry_point in _ATARI_ENTRY_POINTS


def _atari_settings(env_id: str, spec: Any, kwargs: dict) -> dict | None:
    """Pops `atari_wrapper` from kwargs: the full preprocessing settings, or None for none.

    Also sets the kwargs gymnasium.make needs under them (frameskip=1).
    """
    given = kwargs.pop("atari_wrapper", None)
    if not is_atari(spec):
        if given not in (None, False):
            raise ValueError(f"env_kwargs atari_wrapper: {env_id} is not an Atari (ALE) game")
        return None
    if given is False or (given is None and {**spec.kwargs, **kwargs}.get("obs_type") == "ram"):
        return None
    given = {} if given in (None, True) else given
    if not isinstance(given, dict):
        raise ValueError(
            f"env_kwargs atari_wrapper={given!r} is invalid; must be a dict (keys "
            f"{sorted(ATARI_WRAPPER_DEFAULTS)}), True (the defaults) or False (no preprocessing)"
        )
    unknown = sorted(set(given) - set(ATARI_WRAPPER_DEFAULTS))
    if unknown:
        raise ValueError(
            f"env_kwargs atari_wrapper: unknown key(s) {unknown}; allowed: "
            f"{sorted(ATARI_WRAPPER_DEFAULTS)}"
        )
    settings = {**ATARI_WRAPPER_DEFAULTS, **given}
    for name, default in ATARI_WRAPPER_DEFAULTS.items():
        value = settings[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        else:
            lowest = 0 if name == "noop_max" else 1
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= lowest
        if not ok:
            kind = "true or false" if isinstance(default, bool) else f"an int >= {lowest}"
            raise ValueError(
                f"env_kwargs atari_wrapper.{name}={value!r} is invalid; must be {kind}"
            )
    if settings["frame_skip"] > 1:
        frameskip = kwargs.get("frameskip", 1)
        if frameskip != 1:
            raise ValueError(
                f"env_kwargs frameskip={frameskip!r} with atari_wrapper.frame_skip="
                f"{settings['frame_skip']}: the preprocessing skips frames itself; drop frameskip"
            )
        kwargs["frameskip"] = 1  # ALE/...-v5 skip 4 frames by default
    if {**spec.kwargs, **kwargs}.get("obs_type", "rgb") == "ram":
        raise ValueError(f"env_kwargs atari_wrapper: {env_id} observes RAM, not the screen")
    return settings


def _channels_last(obs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(obs, 0, -1))


def _atari_wrapper_classes() -> dict[str, type]:
    """SB3's EpisodicLifeEnv and FireResetEnv as Gymnasium wrappers (made on first use)."""
    if _ATARI_WRAPPERS:
        return _ATARI_WRAPPERS
    gym = _import_gymnasium()

    class EpisodicLifeEnv(gym.Wrapper):
        """A lost life ends the episode; the next reset plays on (SB3's EpisodicLifeEnv)."""

        def __init__(self, env: Any) -> None:
            super().__init__(env)
            self.lives, self.was_real_done = 0, True

        def step(self, action: Any) -> tuple:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.was_real_done = terminated or truncated
            lives = self.env.unwrapped.ale.lives()
            if 0 < lives < self.lives:
                terminated = True
            self.lives = lives
            return obs, reward, terminated, truncated, info

        def reset(self, **kwargs: Any) -> tuple:
            if self.was_real_done:
                obs, info = self.env.reset(**kwargs)
            else:  # a no-op step out of the lost-life state
                obs, _, terminated, truncated, info = self.env.step(0)
                if terminated or truncated:
                    obs, info = self.env.reset(**kwargs)
            self.lives = self.env.unwrapped.ale.lives()
            return obs, info

    class FireResetEnv(gym.Wrapper):
        """Presses FIRE (then action 2) after each reset (SB3's FireResetEnv)."""

        def reset(self, **kwargs: Any) -> tuple:
            self.env.reset(**kwargs)
            obs, _, terminated, truncated, info = self.env.step(1)
            if terminated or truncated:
                self.env.reset(**kwargs)
            obs, _, terminated, truncated, info = self.env.step(2)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
            return obs, info

    for cls in (EpisodicLifeEnv, FireResetEnv):  # picklable as host.<name> (async envs)
        cls.__qualname__ = cls.__name__
        _ATARI_WRAPPERS[cls.__name__] = cls
    return _ATARI_WRAPPERS


_ATARI_WRAPPERS: dict[str, type] = {}


def __getattr__(name: str) -> type:
    if name in ("EpisodicLifeEnv", "FireResetEnv"):
        return _atari_wrapper_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def atari_preprocess(env: Any, settings: dict, max_episode_steps: int | None = None) -> Any:
    """SB3's AtariWrapper + VecFrameStack on one ALE env (made with frameskip=1).

    Inside out: Gymnasium's AtariPreprocessing (no-op reset, frame skip with
    max-pooling of the last two frames, ALE grayscale resized with INTER_AREA),
    TimeLimit(max_episode_steps) in agent steps per game, EpisodicLifeEnv,
    FireResetEnv (games with FIRE), FrameStackObservation (zero padded after
    each reset, as VecFrameStack) moved to channels last. Rewards are clipped
    in `HostEnv`, which keeps the game's score as true_reward.
    """
    gym = _import_gymnasium()
    wrappers = _atari_wrapper_classes()
    size, stack = settings["screen_size"], settings["frame_stack"]
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=settings["noop_max"],
        frame_skip=settings["frame_skip"],
        screen_size=size,
        terminal_on_life_loss=False,  # Gymnasium's restarts the game; SB3's plays on
        grayscale_obs=True,
        scale_obs=False,
    )
    if max_episode_steps is not None:  # a truncated game is over: a full reset follows
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    if settings["terminal_on_life_loss"]:
        env = wrappers["EpisodicLifeEnv"](env)
    meanings = env.unwrapped.get_action_meanings()
    if settings["fire_reset"] and "FIRE" in meanings:
        if meanings[1] != "FIRE" or len(meanings) < 3:  # SB3's FireResetEnv asserts both
            raise ValueError(f"atari_wrapper.fire_reset: actions {meanings} lack FIRE at 1")
        env = wrappers["FireResetEnv"](env)
    env = gym.wrappers.FrameStackObservation(env, stack, padding_type="zero")
    space = gym.spaces.Box(0, 255, (size, size, stack), np.uint8)
    return gym.wrappers.TransformObservation(env, _channels_last, space)


def _atari_horizon(env: Any, steps_limit: int | None, atari_steps: int | None) -> int | None:
    """Agent steps a game of a made ALE env can last, at most.

    steps_limit: the registered TimeLimit, in steps of the raw ALE env;
    atari_steps: the preprocessing's TimeLimit, in agent steps.
    """
    ale_env = env.unwrapped
    skip = ale_env._frameskip
    ale_skip = skip if isinstance(skip, int) else min(skip)  # v0/v4 ids: a random (lo, hi)
    wrapper_skip = 1
    while hasattr(env, "env"):  # the preprocessing's own skipping
        wrapper_skip *= getattr(env, "frame_skip", 1)
        env = env.env
    limits = [] if atari_steps is None else [atari_steps]
    if steps_limit is not None:
        limits.append(math.ceil(steps_limit / wrapper_skip))
    frames = ale_env.ale.getInt("max_num_frames_per_episode")
    if frames > 0:
        limits.append(math.ceil(frames / (ale_skip * wrapper_skip)))
    return min(limits) if limits else None


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


def _envpool_maker(env_id: str, spec: Any, settings: dict | None, kwargs: dict) -> Any:
    """make(n, horizon) -> an `EnvPoolVector` of env_id's game, after checking EnvPool
    serves it with these settings (kwargs: the Gymnasium ones, checked by the probe)."""
    from jaxrl_expert.envs import envpool

    if not is_atari(spec):
        raise ValueError(
            f"env_backend 'envpool' serves Atari games (ALE ids); {env_id} is not one: "
            "use env_backend 'gymnasium'"
        )
    if settings is None:
        raise ValueError(
            "env_kwargs atari_wrapper=False: EnvPool always preprocesses Atari frames; "
            "use env_backend 'gymnasium' for the raw screen"
        )
    allowed = (*envpool.ENVPOOL_KWARGS, "frameskip", "atari_wrapper", "max_episode_steps")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"env_kwargs {unknown} not allowed with env_backend 'envpool'; allowed: "
            f"{sorted(allowed)}"
        )
    task = envpool.envpool_task(env_id, spec)
    given = {**spec.kwargs, **kwargs}  # the id's own values, overridden by env_kwargs
    options = {k: given[k] for k in envpool.ENVPOOL_KWARGS if k in given}

    def make(n: int, horizon: int) -> Any:
        return envpool.EnvPoolVector(task, n, settings, {**options, "max_episode_steps": horizon})

    return make


def _seeds(key_data: np.ndarray) -> list[int]:
    """One Gymnasium seed per PRNG key (uint32 pairs)."""
    pairs = np.asarray(key_data, np.uint32).reshape(-1, 2).astype(np.uint64)
    return [int(s) for s in (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]]


class HostEnv:
    """A registered Gymnasium env as a functional `Env` (see the module docstring).

    vectorizer: 'sync' (Gymnasium's vector env in this process), 'async' (each
    copy in a subprocess, worth it only when one env step costs more than a
    process round trip) or 'envpool' (Atari games only: EnvPool's threaded C++
    implementation of the same preprocessing, `envs.envpool`).
    """

    def __init__(self, env_id: str, vectorizer: str = "sync", **kwargs: Any) -> None:
        gym = _import_gymnasium()
        spec = gym_spec(env_id)
        self.env_id = env_id
        kwargs = dict(kwargs)
        self.atari_wrapper = _atari_settings(env_id, spec, kwargs)
        if vectorizer == "envpool":
            make_pool = _envpool_maker(env_id, spec, self.atari_wrapper, kwargs)
        atari_steps = kwargs.pop("max_episode_steps", None) if self.atari_wrapper else None
        wrappers = []
        if self.atari_wrapper is not None:
            settings = self.atari_wrapper
            wrappers = [lambda env: atari_preprocess(env, settings, atari_steps)]
        try:
            with _quiet_float64_bounds():
                probe = gym.make(spec, **kwargs)
            horizon = probe.spec.max_episode_steps if probe.spec is not None else None
            for wrap in wrappers:
                probe = wrap(probe)
        except TypeError as e:
            raise ValueError(f"env_kwargs {sorted(kwargs)}: {e}") from None
        except ImportError as e:
            extra = ATARI_EXTRA if is_atari(spec) else GYM_EXTRA
            raise ValueError(f"{env_id} cannot be made: {e} ({extra})") from None
        self.observation_space = _space(probe.observation_space, "observation", env_id)
        self.action_space = _space(probe.action_space, "action", env_id)
        if is_atari(spec):  # ALE ends a game itself after max_num_frames_per_episode frames
            horizon = _atari_horizon(probe, horizon, atari_steps)
        probe.close()
        if horizon is None:
            raise ValueError(
                f"{env_id} has no time limit; pass env_kwargs max_episode_steps=N "
                "(rollouts and evaluation need episodes that end)"
            )
        self.max_episode_steps = int(horizon)
        self.clip_reward = self.atari_wrapper is not None and self.atari_wrapper["clip_reward"]
        autoreset = gym.vector.AutoresetMode.SAME_STEP

        def make_vector(n: int) -> Any:
            if vectorizer == "envpool":
                return make_pool(n, self.max_episode_steps)
            return gym.make_vec(
                spec,
                num_envs=n,
                vectorization_mode=vectorizer,
                vector_kwargs={"autoreset_mode": autoreset},
                wrappers=wrappers or None,
                **kwargs,
            )

        self.vectors = _VectorEnvs(make_vector)
        dtype = jnp.uint8 if self.observation_space.is_image else jnp.float32
        self._obs = jax.ShapeDtypeStruct(self.observation_space.shape, dtype)

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
        obs = np.asarray(obs, self._obs.dtype).reshape((*lead, *self._obs.shape))
        return np.full(lead, handle, np.int32), obs

    def _host_step(self, handles: Any, action: Any, key: Any) -> tuple[np.ndarray, ...]:
        del key  # an input only so that no two steps look alike to XLA
        handles, action = np.asarray(handles), np.asarray(action)
        lead = handles.shape
        flat_handles = handles.reshape(-1)
        flat_action = action.reshape((len(flat_handles), *action.shape[len(lead) :]))
        n, shape, dtype = len(flat_handles), self._obs.shape, self._obs.dtype
        obs, final_obs = np.empty((n, *shape), dtype), np.empty((n, *shape), dtype)
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
            final = np.array(o, dtype)
            for i in np.flatnonzero(ended):
                final[i] = info["final_obs"][i]
            final_obs[rows] = final
        # Atari's clipped reward trains; the game's score stays the ground truth.
        train_reward = np.sign(reward) if self.clip_reward else reward
        out = (obs, train_reward, reward, terminated, truncated, final_obs)
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
            jax.ShapeDtypeStruct((), jnp.float32),
            jax.ShapeDtypeStruct((), bool),
            jax.ShapeDtypeStruct((), bool),
            self._obs,
        )
        key = jax.random.split(state.key)[0]
        obs, reward, true_reward, terminated, truncated, final_obs = _host_call(
            self._host_step, shapes, state.core, action, key
        )
        # The previous step may have finished an episode: start new totals (as AutoReset).
        episode_return = jnp.where(state.done, 0.0, state.episode_return) + reward
        true_episode_return = jnp.where(state.done, 0.0, state.true_episode_return) + true_reward
        episode_length = jnp.where(state.done, 0, state.episode_length) + 1
        done = terminated | truncated
        return state.replace(
            obs=obs,
            reward=reward,
            true_reward=true_reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=final_obs,
            time=jnp.where(done, 0, state.time + 1),
            episode_return=episode_return,
            true_episode_return=true_episode_return,
            episode_length=episode_length,
            key=key,
        )
