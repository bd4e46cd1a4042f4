"""Train an expert policy from scratch with PPO or SAC (imitation.scripts.train_rl, in JAX).

    python -m jaxrl_expert.train_rl                       # seals/CartPole-v0 expert
    python -m jaxrl_expert.train_rl --config=configs/pendulum.py --config.seed=1

At every save step the policy goes to `{log_dir}/policies/{step:012d}/` and
rollouts of it to `{log_dir}/rollouts/{step:012d}.npz`; after training,
`policies/final/` and `rollouts/final.npz`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import dataclasses
import datetime
import difflib
import functools
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxrl_expert import checkpoints, cli, devices, envs, layout, networks, plot, ppo, rollouts, sac
from jaxrl_expert import config as config_lib
from jaxrl_expert import trainer as trainer_lib
from jaxrl_expert.atomic_files import DirectoryLock, recover_replaced, write_json
from jaxrl_expert.envs.wrappers import RewardSwap
from jaxrl_expert.logging import ProgressBar, TrainLogger, configure_console, summarize
from jaxrl_expert.policy import Policy, PolicySpec
from jaxrl_expert.rewards import load_reward

DEFAULT_CONFIG = config_lib.config_path("seals_cartpole")
ALGORITHMS = {"ppo": ppo, "sac": sac}  # config.algo -> its module (make_train, steps_per_iteration)


def default_log_dir(env_id: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return os.path.join("output", "train_rl", env_id.replace("/", "_"), stamp)


@dataclasses.dataclass(frozen=True)
class Crossings:
    """The iterations that end at or first after each multiple of `interval` timesteps
    (an iteration is `batch` timesteps), up to `last`, plus `last` itself when
    `with_last`: a set by arithmetic, so 1e12 timesteps cost no memory for it.
    interval <= 0: no multiples."""

    batch: int
    interval: int
    last: int
    with_last: bool

    def __contains__(self, i: int) -> bool:
        if i == self.last and self.with_last:
            return True
        crossed = (
            self.interval > 0
            and (i * self.batch) // self.interval > ((i - 1) * self.batch) // self.interval
        )
        return crossed and 1 <= i <= self.last

    def next_after(self, done: int) -> int:
        """The smallest member above `done`, or `last` when none is below it."""
        if self.interval <= 0:
            return self.last
        multiple = ((done * self.batch) // self.interval + 1) * self.interval
        return min(-(-multiple // self.batch), self.last)


class Outputs:
    """Saves policies and rollouts of a seed's TrainState, and evaluates it.

    The sampler and the evaluation take the policy's arrays as arguments, so
    every save of every seed reuses one compiled program each; `prepare`
    compiles both in a background thread while training runs. Every process
    computes (the arrays may span processes); only process 0 writes files.
    """

    def __init__(self, config: ml_collections.ConfigDict, env: envs.Env, policy: PolicySpec):
        self.policy = policy
        n_timesteps, n_episodes = config_lib.rollout_request(config)
        n_envs = config_lib.n_envs(config)
        deterministic = config.rollout_deterministic

        def sample(params, obs_rms, key):
            act = lambda obs, k: policy.act(params, obs_rms, obs, k, deterministic)
            sampler = rollouts.make_sampler(env, act, n_envs, n_timesteps, n_episodes)
            return sampler(key)

        def evaluate(params, obs_rms, key):
            act = lambda obs, k: policy.act(params, obs_rms, obs, k)
            return rollouts.run_episodes(env, act, key, config.n_episodes_eval)

        self._programs = {"evaluate": jax.jit(evaluate)}
        if config.rollout_save_final or config.policy_save_interval > 0:
            self._programs["sample"] = jax.jit(sample)  # compiled only when rollouts are saved

    def prepare(self, abstract_state: Any) -> None:
        """Starts compiling the sampler and the evaluation (for host arrays) while others run."""
        args = (abstract_state.params, abstract_state.obs_rms, jax.random.PRNGKey(0))
        for name, program in self._programs.items():
            self._programs[name] = _compile_soon(program, *args)

    def _run(self, name: str, state: Any, key: jax.Array) -> Any:
        program = self._programs[name]
        if isinstance(program, concurrent.futures.Future):
            program = self._programs[name] = program.result()
        params, obs_rms = jax.device_get((state.params, state.obs_rms))
        return jax.device_get(program(params, obs_rms, key))

    def save_policy(self, run_dir: str, state: Any, name: str, timesteps: int) -> None:
        policy = Policy(self.policy, *jax.device_get((state.params, state.obs_rms)))
        if devices.is_writer():
            checkpoints.save_policy(layout.policy_dir(run_dir, name), policy, timesteps)

    def save_rollouts(self, run_dir: str, state: Any, name: str, timesteps: int, seed: int) -> None:
        key = jax.random.fold_in(jax.random.PRNGKey(seed), timesteps)
        records = self._run("sample", state, key)
        if devices.is_writer():
            rollouts.save(layout.rollout_file(run_dir, name), rollouts.records_to_arrays(records))

    def evaluate(self, state: Any, seed: int) -> dict[str, float]:
        returns, true_returns, lengths = self._run("evaluate", state, jax.random.PRNGKey(seed + 1))
        return rollouts.rollout_stats(returns, lengths, true_returns)


def make_env(config: ml_collections.ConfigDict) -> envs.Env:
    """The env a validated config describes, its reward swapped for a learned one if asked."""
    try:
        env = envs.make(
            config.env_id,
            config.env_backend,
            reset_to_first_state=config.reset_to_first_state,
            **config.env_kwargs.to_dict(),
        )
    except ValueError as e:
        raise ValueError(
            f"config.env_id={config.env_id!r} with env_kwargs {config.env_kwargs.to_dict()}: {e}"
        ) from None
    if config.reward_type is None:
        return env
    kwargs = {k: v for k, v in config.load_reward_kwargs.to_dict().items() if v is not None}
    try:
        reward = load_reward(config.reward_type, config.reward_path, **kwargs)
    except ValueError as e:
        raise ValueError(f"config.reward_type={config.reward_type!r}: {e}") from None
    for name in ("observation_space", "action_space"):
        saved = getattr(reward, name)
        if saved is not None and saved != getattr(env, name):
            raise ValueError(
                f"config.reward_path={config.reward_path!r}: the reward net's {name} {saved} "
                f"does not match {config.env_id}'s {getattr(env, name)}"
            )
    if config.normalize_reward and config.reward_type == "RewardNet_normalized":
        logging.warning(
            "normalize_reward=True with reward_type=RewardNet_normalized normalizes the reward "
            "twice; set normalize_reward=False unless that is intended"
        )
    return RewardSwap(env, reward)


def check_env_fits(config: ml_collections.ConfigDict, env: envs.Env) -> None:
    """One line (ValueError) when the algorithm or network cannot take env's spaces."""
    obs_shape = env.observation_space.shape
    section = config[config.algo]  # config.ppo or config.sac: policy, cnn
    if config.algo == "sac" and not isinstance(env.action_space, envs.Box):
        raise ValueError(
            f"config.algo='sac' needs a Box action space; {config.env_id} has "
            f"{env.action_space}: use algo='ppo'"
        )
    if section.policy != "cnn":
        return
    if not env.observation_space.is_image:
        raise ValueError(
            f"config.{config.algo}.policy='cnn' needs uint8 image observations (height, width, "
            f"channels); {config.env_id} has {env.observation_space.dtype} {obs_shape}: "
            f"use {config.algo}.policy='mlp'"
        )
    smallest = networks.cnn_min_size(f"{section.cnn}_cnn")
    if min(obs_shape[:2]) < smallest:
        other = "minatar" if section.cnn == "nature" else "nature"
        raise ValueError(
            f"config.{config.algo}.cnn={section.cnn!r} takes images of at least {smallest}x"
            f"{smallest}; {config.env_id} gives {obs_shape[0]}x{obs_shape[1]}: "
            f"use {config.algo}.cnn={other!r}"
        )


# Peak memory per byte of a PPO iteration's transitions (the rollout, its advantages, the
# shuffled minibatches): ~9 measured on CPU (seals/CartPole, 10,000 envs x 256 steps:
# 2.2 GB peak RSS for 0.17 GB of transitions, 0.6 GB of it the process itself).
PPO_BYTES_PER_TRANSITION_BYTE = 8
# SAC's replay buffer is part of the state, copied to the host for each checkpoint;
# a saved rollout's buffer is copied to the host once.
HOST_COPY = 2


def memory_estimate(config: ml_collections.ConfigDict, env: envs.Env) -> dict[str, int]:
    """Bytes the largest arrays of a run take at their peak, over all seeds: the PPO
    iteration or the SAC replay buffer, and a saved rollout file's buffer (parameters,
    optimizer and env states come on top)."""
    space = env.observation_space
    obs = math.prod(space.shape) * np.dtype(space.dtype).itemsize
    action = 4 * math.prod(getattr(env.action_space, "shape", ()) or (1,))
    step = 2 * obs + action + 32  # obs, next/final obs, action; rewards, values, flags
    if config.algo == "sac":
        # A checkpoint copies the buffer to the host, unless it leaves the buffer out.
        training = (
            config.sac.buffer_size * step * (HOST_COPY if config.sac.checkpoint_buffer else 1)
        )
    else:
        training = config.ppo.n_envs * config.ppo.n_steps * step * PPO_BYTES_PER_TRANSITION_BYTE
    n_timesteps, n_episodes = config_lib.rollout_request(config)
    n_parallel, n_rows = rollouts.sample_shape(env, config_lib.n_envs(config), n_timesteps,
                                               n_episodes)  # fmt: skip
    saved = n_parallel * n_rows * step * HOST_COPY if config.rollout_save_final else 0
    return {"training": training * config.num_seeds, "saved rollouts": saved}


def check_memory_fits(config: ml_collections.ConfigDict, env: envs.Env) -> None:
    """One line (ValueError) when the buffers alone exceed the memory there is."""
    available = devices.available_memory_bytes()
    estimate = memory_estimate(config, env)
    if available is None or sum(estimate.values()) <= available:
        return
    parts = ", ".join(f"{name} {size / 2**30:.1f} GiB" for name, size in estimate.items())
    field = "sac.buffer_size" if config.algo == "sac" else "ppo.n_envs * ppo.n_steps"
    raise ValueError(
        f"this config needs at least {sum(estimate.values()) / 2**30:.1f} GiB ({parts}; "
        f"num_seeds={config.num_seeds}) but {available / 2**30:.1f} GiB is available on "
        f"{jax.local_devices()[0].platform}: lower {field}, num_seeds or "
        "rollout_save_n_timesteps / rollout_save_n_episodes"
    )


def _check_resumable(config: ml_collections.ConfigDict, log_dir: str) -> None:
    """A run may only continue under the config it started with."""
    path = os.path.join(log_dir, layout.CONFIG_FILE)
    saved, differing = _config_differences(config, log_dir)
    if differing is None:
        raise ValueError(f"cannot resume in {log_dir!r}: {path} is unreadable or not a config")
    linear = config[config.algo].lr_schedule == "linear"
    if differing == ["total_timesteps"] and linear:
        raise ValueError(
            f"cannot extend the run in {log_dir!r} to total_timesteps={config.total_timesteps}: "
            "its learning rate decays linearly over the original total_timesteps "
            f"({saved['total_timesteps']}); use a new --log_dir"
        )
    if differing and differing != ["total_timesteps"]:  # a longer run continues
        raise ValueError(
            f"cannot resume in {log_dir!r}: its checkpoints come from another config "
            f"({path} differs in {differing}); use a new --log_dir or the original config"
        )


def _remove_partial_files(run_dir: str) -> None:
    """Temporary files and directories a killed run may have left (never final names);
    a replaced policy directory whose new copy never arrived gets its old one back."""
    for folder in (run_dir, os.path.join(run_dir, "policies"), os.path.join(run_dir, "rollouts")):
        if not os.path.isdir(folder):
            continue
        recover_replaced(folder)
        for name in os.listdir(folder):
            if name.startswith(".tmp-"):
                path = os.path.join(folder, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def train_rl(
    config: ml_collections.ConfigDict | None = None,
    log_dir: str | None = None,
    resume: bool | None = None,
    progress: bool | None = None,
    compilation_cache: str | bool = True,
    verbose: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Trains an expert policy, saves policies and rollouts, returns final `rollout_stats`.

    `config` defaults to configs/seals_cartpole.py; keyword overrides replace
    top-level fields (`total_timesteps=...`) or merge into nested ones
    (`ppo={"n_epochs": 5}`). Everything is validated before any compile.
    A `log_dir` holding checkpoints of the same config is resumed from its
    newest complete one (resume=True requires that; resume=False refuses it).
    With `num_seeds` = S > 1, S experts (seeds seed..seed+S-1) train in one
    vmapped program; seed i's outputs go to `{log_dir}/seed_{i}/` and the
    result maps `seed_{i}` to its stats. `progress` shows a progress bar on
    stderr (None: only when stderr is a terminal). `compilation_cache`: True
    keeps compiled programs in `devices.default_compilation_cache_dir()` so a
    second run skips compiling, a path puts them there, False leaves JAX's
    own setting (off unless configured); JAX_ENABLE_COMPILATION_CACHE=false
    in the environment turns the default off. `verbose` logs where the run
    writes, its progress lines and its final stats to stderr.
    """
    if verbose:
        configure_console()
    if config is None:
        config = config_lib.load_config_file(DEFAULT_CONFIG)
    config = copy.deepcopy(config)
    config_lib.apply_overrides(config, overrides)
    config_lib.validate(config)
    env = make_env(config)
    check_env_fits(config, env)
    check_memory_fits(config, env)
    policy = PolicySpec.from_config(config, env)
    if config.agent_path is not None:
        checkpoints.check_warm_start(config.agent_path, policy)
    on_host = envs.resolve_backend(config.env_id, config.env_backend) != "jax"
    if on_host and jax.process_count() > 1:
        raise ValueError(
            f"config.env_id={config.env_id!r} steps on the host (Gymnasium): "
            "run it in one process, without --distributed"
        )
    mesh = devices.make_mesh(
        1 if on_host else config.num_devices, config_lib.n_envs(config), f"{config.algo}.n_envs"
    )
    if on_host:
        pass  # programs that call the host are keyed by callback addresses: never found again
    elif compilation_cache is True:
        devices.use_compilation_cache(devices.default_compilation_cache_dir())
    elif compilation_cache:
        devices.use_compilation_cache(compilation_cache)
    log_dir = log_dir or default_log_dir(config.env_id)
    logging.info("train_rl %s: writing to %s", config.env_id, os.path.abspath(log_dir))
    try:
        with contextlib.ExitStack() as cleanup:  # every exit: no Orbax/TensorBoard thread lingers
            stats = _train_and_save(config, env, mesh, log_dir, resume, progress, cleanup)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"interrupted; the same command (log_dir {os.path.abspath(log_dir)}) resumes "
            "from the last checkpoint"
        ) from None
    logging.info(
        "outputs in %s (tensorboard --logdir %s; learning curve: %s)",
        os.path.abspath(log_dir),
        os.path.abspath(log_dir),
        os.path.join(os.path.abspath(log_dir), plot.LEARNING_CURVE_FILE),
    )
    return stats


class _Schedule:
    """Which iterations end a chunk, and what happens there."""

    def __init__(self, config: ml_collections.ConfigDict) -> None:
        self.batch = ALGORITHMS[config.algo].steps_per_iteration(config)
        self.n_iterations = n = math.ceil(config.total_timesteps / self.batch)
        self.saves = Crossings(self.batch, config.policy_save_interval, n, with_last=False)
        self.logs = Crossings(1, config.log_interval, n, with_last=True)
        self.checkpoints = Crossings(self.batch, config.checkpoint_interval, n, with_last=True)

    def boundaries_after(self, done: int) -> Iterator[int]:
        while done < self.n_iterations:
            done = min(s.next_after(done) for s in (self.saves, self.logs, self.checkpoints))
            yield done


def _train_and_save(
    config: ml_collections.ConfigDict,
    env: envs.Env,
    mesh: Any,
    log_dir: str,
    resume: bool | None,
    progress: bool | None,
    cleanup: contextlib.ExitStack,
) -> dict[str, Any]:
    """train_rl after validation; everything that must be closed is registered on `cleanup`."""
    host_env = env.env if isinstance(env, RewardSwap) else env
    if isinstance(host_env, envs.HostEnv):
        cleanup.callback(host_env.close)
    run_dirs = layout.run_dirs(log_dir, config.num_seeds)
    schedule = _Schedule(config)
    locked = devices.is_writer() and os.path.isdir(log_dir)  # another writer there: refused
    if locked:
        cleanup.callback(DirectoryLock(log_dir, "log_dir").release)
    resumed_at = _resume_point(config, log_dir, run_dirs, resume)  # creates nothing
    if resumed_at == schedule.n_iterations:
        finished = _finished_stats(log_dir, len(run_dirs))
        if finished is not None:
            logging.info("%s is a finished run of this config: its stats, nothing rerun", log_dir)
            return finished
    if devices.is_writer() and not locked:  # a new directory: locked once the checks pass
        cleanup.callback(DirectoryLock(log_dir, "log_dir").release)
    # Several seeds keep one step more each: a kill between their saves then still
    # leaves a step every seed has.
    keep = config.max_to_keep + (len(run_dirs) > 1)
    stores = [checkpoints.TrainCheckpoints(layout.checkpoints_dir(d), keep) for d in run_dirs]
    for store in stores:
        cleanup.callback(store.close)
    if devices.is_writer():  # steps not every seed reached are redone (bit for bit)
        for store in stores:
            store.drop_after(resumed_at)
    if devices.is_writer():
        _prepare_run_dirs(config, log_dir, run_dirs)
    trainer = ALGORITHMS[config.algo].make_train(config, env).for_seeds(config.num_seeds)
    plot.preload()  # matplotlib's import, for the learning curve at the end
    start = time.perf_counter()
    cache = (
        jax.config.jax_compilation_cache_dir
        if jax.config.jax_enable_compilation_cache and not isinstance(host_env, envs.HostEnv)
        else None
    )
    logging.info(
        "compiling%s",
        f" (kept in {cache}: the next run of this config skips it)" if cache else "",
    )
    # Every program compiles at once (XLA compiles each on one core): the chunk and the
    # outputs' programs from shapes alone, while the initial state is computed.
    keys = np.stack(
        [np.asarray(jax.random.PRNGKey(config.seed + i)) for i in range(config.num_seeds)]
    )
    abstract = jax.eval_shape(trainer.init, keys)
    sharding = devices.train_state_sharding(abstract, mesh, True)
    chunk = jax.jit(
        trainer.train,
        in_shardings=(sharding, None),
        out_shardings=(sharding, None),
        donate_argnums=0,  # the chunk's input state is never read again
    )
    placed = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                          abstract, sharding)  # fmt: skip
    train_chunk = _compile_soon(chunk, placed, np.int32(1))
    restart_episodes = isinstance(host_env, envs.HostEnv)
    state, resumed_at = _initial_state(
        config, trainer, keys, sharding, stores, resumed_at, restart_episodes
    )
    train_chunk = train_chunk.result()
    outputs = Outputs(config, env, trainer.policy)
    outputs.prepare(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), abstract))
    logging.info("compiled in %.1f s", time.perf_counter() - start)
    labels = [layout.seed_name(i) if len(run_dirs) > 1 else "" for i in range(len(run_dirs))]
    resumed_timesteps = 0 if resumed_at is None else resumed_at * schedule.batch
    loggers = [TrainLogger(d, label, resumed_timesteps) if devices.is_writer() else None
               for d, label in zip(run_dirs, labels, strict=True)]  # fmt: skip
    for logger in loggers:
        if logger is not None:
            cleanup.callback(logger.close)
    state = _train_chunks(config, schedule, state, train_chunk, trainer.saved, stores, outputs,
                          run_dirs, loggers, progress, cleanup)  # fmt: skip
    return _final_outputs(config, schedule, state, outputs, run_dirs, loggers, log_dir)


def _resume_point(
    config: ml_collections.ConfigDict, log_dir: str, run_dirs: list[str], resume: bool | None
) -> int | None:
    """The iteration to resume from (None: a fresh run), after checking it may."""
    directories = [layout.checkpoints_dir(d) for d in run_dirs]
    steps = [set(checkpoints.complete_iterations(d)) for d in directories]
    # Seeds checkpoint one after another: a kill between them leaves some a step ahead,
    # or (at the first checkpoint) some with none: resume where every seed has one.
    resumed_at = max(set.intersection(*steps), default=None)
    if any(steps):
        if resume is False:
            raise ValueError(f"log_dir {log_dir!r} holds checkpoints; resume or use a new log_dir")
        _check_resumable(config, log_dir)
    if resumed_at is not None:
        batch = ALGORITHMS[config.algo].steps_per_iteration(config)
        if resumed_at > math.ceil(config.total_timesteps / batch):
            raise ValueError(
                f"log_dir {log_dir!r} holds a run trained for {resumed_at * batch} timesteps, "
                f"more than config.total_timesteps={config.total_timesteps}; use a new log_dir"
            )
    elif resume:
        raise ValueError(f"resume requested but {directories[0]!r} holds no complete checkpoint")
    elif os.path.exists(os.path.join(log_dir, layout.CONFIG_FILE)):
        _check_same_config(config, log_dir)  # a run killed before its first checkpoint
    return resumed_at


def _check_same_config(config: ml_collections.ConfigDict, log_dir: str) -> None:
    """A fresh start may replace the files of a run of the same config only."""
    _, differing = _config_differences(config, log_dir)
    if differing:  # None (unreadable): nothing to compare
        raise ValueError(
            f"log_dir {log_dir!r} holds the files of a run of another config that made no "
            f"checkpoint ({os.path.join(log_dir, layout.CONFIG_FILE)} differs in {differing}); "
            "use a new --log_dir"
        )


def _config_differences(
    config: ml_collections.ConfigDict, log_dir: str
) -> tuple[dict[str, Any], list[str] | None]:
    """log_dir's config.json and the top-level fields where `config` differs from it
    (({}, None) when it is unreadable)."""
    try:
        with open(os.path.join(log_dir, layout.CONFIG_FILE)) as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}, None
    if not isinstance(saved, dict):
        return {}, None
    current = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as saved
    # A field added to the schema after that run was written had its default there.
    defaults = json.loads(json.dumps(config_lib.base_config().to_dict()))
    saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    return saved, sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))


def _finished_stats(log_dir: str, n_seeds: int) -> dict[str, Any] | None:
    """The stats a finished run wrote (None if it was killed before writing them)."""
    path = os.path.join(log_dir, layout.STATS_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        stats = json.load(f)
    return (
        stats
        if n_seeds == 1 or set(stats) == {layout.seed_name(i) for i in range(n_seeds)}
        else None
    )


def _prepare_run_dirs(config: ml_collections.ConfigDict, log_dir: str, run_dirs: list[str]) -> None:
    """Run directories exist, hold no partial files, and say which config made them."""
    os.makedirs(log_dir, exist_ok=True)
    _remove_partial_files(log_dir)
    for stats_dir in {log_dir, *run_dirs}:  # written again when this run finishes
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(stats_dir, layout.STATS_FILE))
    for i, run_dir in enumerate(run_dirs):
        os.makedirs(run_dir, exist_ok=True)
        _remove_partial_files(run_dir)
        if run_dir != log_dir:  # seed i alone equals a single run with seed + i
            single = config.to_dict()
            single.update(seed=config.seed + i, num_seeds=1)
            write_json(os.path.join(run_dir, layout.CONFIG_FILE), single)
    write_json(os.path.join(log_dir, layout.CONFIG_FILE), config.to_dict())


def _compile_soon(program: Any, *args: Any) -> concurrent.futures.Future:
    """`program.lower(*args).compile()` on a thread (args: arrays or ShapeDtypeStructs)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(lambda: program.lower(*args).compile())
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


def _initial_state(
    config: ml_collections.ConfigDict,
    trainer: Any,
    keys: np.ndarray,
    sharding: Any,
    stores: list,
    resumed_at: int | None,
    restart_episodes: bool,
) -> tuple[Any, int | None]:
    """The seed-stacked TrainState (fresh, resumed or warm-started) and the iteration
    it resumed from.

    An unreadable checkpoint is set aside (`{step}.unreadable`) and the previous
    one every seed has is tried. restart_episodes: the env's state cannot be
    restored (a host env), so a resumed run keeps the fresh state's envs.
    """
    n_seeds = config.num_seeds
    state = devices.compile_for_one_call(jax.jit(trainer.init, out_shardings=sharding), keys)(keys)
    restored = None
    while resumed_at is not None and restored is None:
        restored, resumed_at = _restore(stores, state, resumed_at, trainer.saved)
    if restored is not None:
        restored = jax.device_put(trainer.resumed(state, restored), sharding)
        if restart_episodes:
            # A host env's state lives in its process: episodes restart (the learner's
            # state is restored exactly; VecNormalize's running returns start at zero).
            reward_norm = restored.reward_norm.replace(returns=state.reward_norm.returns)
            restored = restored.replace(env_state=state.env_state, reward_norm=reward_norm)
            logging.info("host env: episodes restart after resuming")
        state = restored
        logging.info("resumed from %s", stores[0].path(resumed_at))
        if devices.is_writer():
            for store in stores:
                store.drop_after(resumed_at)
    elif config.agent_path is not None:
        warm = checkpoints.load_policy(config.agent_path)
        params, obs_rms = _stack([(warm.params, warm.obs_rms)] * n_seeds)
        state = jax.device_put(state.replace(params=params, obs_rms=obs_rms), sharding)
        logging.info("warm start from %s", config.agent_path)
    return state, resumed_at


def _restore(
    stores: list, like: Any, at: int, saved: Callable[[Any], Any]
) -> tuple[Any, int | None]:
    """(what every seed's checkpoint at step `at` holds, `saved` of a state, stacked; at);
    or, when one is unreadable, (None, the previous step every seed has) after setting
    it aside."""
    try:
        return _stack([store.restore(at, _seed_slice(like, i, saved)) for i, store in
                       enumerate(stores)]), at  # fmt: skip
    except ValueError as e:
        if jax.process_count() > 1:
            raise
        error = e
    first = _seed_slice(like, 0, saved)
    bad = [store for store in stores if not _readable(store, at, first)] or stores
    for store in bad:
        logging.warning("%s; set aside as %s", error, store.set_aside(at, "unreadable"))
    earlier = set.intersection(*(set(store.complete_iterations()) for store in stores))
    previous = max((step for step in earlier if step < at), default=None)
    if previous is None:
        raise ValueError(f"{error}; no earlier complete checkpoint to resume from") from None
    logging.warning("resuming from the previous complete checkpoint, iteration %d", previous)
    return None, previous


def _readable(store: checkpoints.TrainCheckpoints, at: int, like: Any) -> bool:
    try:
        store.restore(at, like)
    except ValueError:
        return False
    return True


def _train_chunks(
    config: ml_collections.ConfigDict,
    schedule: _Schedule,
    state: Any,
    train_chunk: Any,
    saved: Callable[[Any], Any],
    stores: list,
    outputs: Outputs,
    run_dirs: list[str],
    loggers: list[TrainLogger | None],
    progress: bool | None,
    cleanup: contextlib.ExitStack,
) -> Any:
    """The host loop: a compiled chunk up to each boundary, then logs, saves, checkpoints.

    The next chunk is dispatched before the host handles the previous one, and
    files are written on a thread, so the device never waits for the host.
    A chunk's outputs are saved only after its statistics are checked finite.
    """
    batch, n_seeds = schedule.batch, config.num_seeds
    done = int(np.max(jax.device_get(state.iteration)))
    bar = ProgressBar(
        schedule.n_iterations * batch, done * batch, progress if devices.is_writer() else False
    )
    cleanup.callback(bar.close)
    writer = _Writer(inline=jax.process_count() > 1)  # Orbax's barriers are collectives
    cleanup.callback(writer.close)
    totals, since = None, time.perf_counter()

    def handle(boundary: int, chunk_totals: Any, snapshots: list | None) -> None:
        nonlocal totals, since
        chunk_totals = jax.device_get(chunk_totals)
        bad = np.asarray(chunk_totals.pop("first_nonfinite_iteration")).reshape(-1)
        if np.any(bad >= 0):
            writer.close()
            _diverged(stores, int(bad[bad >= 0].min()), batch, config.algo)
        totals = chunk_totals if totals is None else jax.tree.map(np.add, totals, chunk_totals)
        timesteps = boundary * batch
        summaries = []
        if boundary in schedule.logs:
            elapsed, since = time.perf_counter() - since, time.perf_counter()
            for i, logger in enumerate(loggers):
                if logger is not None:
                    seed_totals = jax.tree.map(lambda x, i=i: np.reshape(x, (-1,))[i], totals)
                    steps = float(seed_totals["iterations"]) * batch * n_seeds  # all seeds
                    summaries.append(summarize(seed_totals))
                    logger.log(timesteps, summaries[-1], steps / elapsed)
            totals = None
        bar.update(timesteps, summaries)
        if snapshots is None:
            return
        for i, (run_dir, seed_state) in enumerate(zip(run_dirs, snapshots, strict=True)):
            if boundary in schedule.saves:
                name = layout.step_name(timesteps)
                writer.submit(outputs.save_policy, run_dir, seed_state, name, timesteps)
                writer.submit(outputs.save_rollouts, run_dir, seed_state, name, timesteps,
                              config.seed + i)  # fmt: skip
            if boundary in schedule.checkpoints:  # after the saves: a resume never skips one
                writer.submit(stores[i].save, boundary, seed_state)

    pending = None
    for boundary in schedule.boundaries_after(done):
        state, chunk_totals = train_chunk(state, np.int32(boundary - done))
        snapshots = None  # copies: the next chunk consumes `state`
        if boundary in schedule.saves or boundary in schedule.checkpoints:
            snapshots = [_seed_slice(state, i, saved) for i in range(n_seeds)]
        if pending is not None:
            handle(*pending)
        pending, done = (boundary, chunk_totals, snapshots), boundary
    if pending is not None:
        handle(*pending)
    writer.close()
    bar.close()  # before the final evaluation's log lines
    return state


class _Writer:
    """Runs saves in order on one thread (or inline); `close` waits and re-raises.

    At most `max_pending` saves wait: when files are slower than training, the
    host loop waits for them rather than piling up states in memory.
    """

    def __init__(self, inline: bool, max_pending: int = 6) -> None:
        self._pool = None if inline else concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._futures: list[concurrent.futures.Future] = []
        self._max_pending = max_pending

    def submit(self, fn: Any, *args: Any) -> None:
        if self._pool is None:
            fn(*args)
            return
        while self._futures and (
            self._futures[0].done() or len(self._futures) >= self._max_pending
        ):
            self._futures.pop(0).result()  # a failed save stops the run here
        self._futures.append(self._pool.submit(fn, *args))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()
        self._futures = []


def _final_outputs(
    config: ml_collections.ConfigDict,
    schedule: _Schedule,
    state: Any,
    outputs: Outputs,
    run_dirs: list[str],
    loggers: list[TrainLogger | None],
    log_dir: str,
) -> dict[str, Any]:
    """Final policies, rollouts and evaluation of every seed; the returned stats."""
    final_timesteps = schedule.n_iterations * schedule.batch
    results = {}
    for i, run_dir in enumerate(run_dirs):
        seed_state = _seed_slice(state, i)
        if config.policy_save_final:
            outputs.save_policy(run_dir, seed_state, layout.FINAL, final_timesteps)
        if config.rollout_save_final:
            outputs.save_rollouts(run_dir, seed_state, layout.FINAL, final_timesteps,
                                  config.seed + i)  # fmt: skip
        stats = outputs.evaluate(seed_state, config.seed + i)
        if loggers[i] is not None:
            loggers[i].log_eval(final_timesteps, stats)
            loggers[i].close()
            write_json(os.path.join(run_dir, layout.STATS_FILE), stats)
        name = layout.seed_name(i)
        logging.info("final policy%s: %s", f" ({name})" if len(run_dirs) > 1 else "", stats)
        results[name] = stats
    if devices.is_writer():
        plot.write_learning_curve(log_dir)
    if len(run_dirs) == 1:
        return results[layout.seed_name(0)]
    if devices.is_writer():
        write_json(os.path.join(log_dir, layout.STATS_FILE), results)
    return results


@functools.partial(jax.jit, static_argnums=2)
def _seed_slice(tree: Any, index: int, view: Callable[[Any], Any] = trainer_lib.whole) -> Any:
    """`view` of seed `index` of a seed-stacked pytree (e.g. what a checkpoint holds of
    a state, `Trainer.saved`): one compiled program for every index.

    (Indexing leaf by leaf outside jit dispatches one gather per leaf: seconds per run;
    in one program, what the view leaves out is never copied.)
    """
    return view(jax.tree.map(lambda x: x[index], tree))


def _stack(trees: list[Any]) -> Any:
    """Host trees stacked along a new leading seed axis."""
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


def _diverged(stores, iteration: int, batch: int, algo: str) -> None:
    last = stores[0].latest_iteration()
    raise FloatingPointError(
        f"training diverged: a non-finite loss, parameter or normalizer statistic "
        f"appeared at {algo.upper()} iteration {iteration} (timestep {iteration * batch}); nothing "
        f"from it was saved. Last good checkpoint: "
        f"{stores[0].path(last) if last is not None else 'none'}"
    )


def _define_flags(module_name: str) -> None:
    """train_rl's flags (defined by `main_console` only, so importing this module defines none).

    --log_dir is absl.logging's own flag ("directory to write logfiles into"); it
    is the run's output directory (default output/train_rl/<env>/<timestamp>).
    """
    main = {"module_name": module_name}
    log_dir = flags.FLAGS["log_dir"]  # absl.logging's flag, also the run's output directory
    log_dir.help = "the run's output directory (default output/train_rl/<env>/<timestamp>)"
    flags.FLAGS.register_flag_by_module(module_name, log_dir)  # listed in --helpshort
    help_text = (
        "ml_collections config file or a bundled config's name (e.g. pendulum); override "
        "fields with --config.<field>=value (fields: README, Config fields)"
    )
    config = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, help_text)
    flags.FLAGS.register_flag_by_module(module_name, flags.FLAGS[config.name])  # listed in --help
    flags.DEFINE_bool(
        "distributed",
        False,
        "call jax.distributed.initialize() (multi-host / multi-process)",
        **main,
    )
    flags.DEFINE_string("coordinator_address", None, "host:port of process 0", **main)
    flags.DEFINE_integer("num_processes", None, "processes in the job", **main)
    flags.DEFINE_integer("process_id", None, "this process's index", **main)
    flags.DEFINE_bool(
        "resume", None, "continue the run in --log_dir (default: when it has checkpoints)", **main
    )
    flags.DEFINE_bool(
        "compilation_cache",
        True,
        "keep compiled programs on disk so a second run skips compiling",
        **main,
    )
    flags.DEFINE_string(
        "compilation_cache_dir",
        None,
        "where compiled programs are kept (default: $JAX_COMPILATION_CACHE_DIR, else "
        "~/.cache/jaxrl_expert/xla)",
        **main,
    )
    flags.DEFINE_bool(
        "progress", None, "progress bar on stderr (default: only when stderr is a terminal)", **main
    )


_NONE_FLAG = re.compile(r"--config\.([\w.]+)=None$")
_none_overrides: dict[str, Any] = {}


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, plus `--config.<field>=None`, which config_flags cannot parse."""
    rest = []
    for arg in argv:
        if match := _NONE_FLAG.match(arg):
            *parents, name = match.group(1).split(".")
            node = _none_overrides
            for parent in parents:
                node = node.setdefault(parent, {})
            node[name] = None
        else:
            rest.append(arg)
    return cli.parse_flags(rest, hint=_config_field_hint)


_CONFIG_FILE_ARG = re.compile(r"--config(?:=(.*))?$")
_CONFIG_FIELD_ARG = re.compile(r"--(?:no)?config\.([\w.]+)(?:=.*)?$")


def check_config_args(argv: list[str]) -> list[str]:
    """argv with `--config` resolved to a file (a bundled config's name works), after
    checking every `--config.<field>` against it (config_flags' own errors are tracebacks)."""
    argv = list(argv)
    path = DEFAULT_CONFIG
    for i, arg in enumerate(argv):
        match = _CONFIG_FILE_ARG.match(arg)
        if match is None:
            continue
        given = match.group(1)
        if given is None:  # `--config <file>`
            if i + 1 >= len(argv):
                raise ValueError("--config needs a config file or a bundled config's name")
            given = argv[i + 1]
            argv[i + 1] = path = config_lib.resolve_config_file(given)
        else:
            path = config_lib.resolve_config_file(given)
            argv[i] = f"--config={path}"
    fields = set(config_lib.field_paths(config_lib.load_config_file(path)))
    for arg in argv:
        match = _CONFIG_FIELD_ARG.match(arg)
        if match is None or match.group(1) in fields:
            continue
        field = match.group(1)
        parent, _, name = field.rpartition(".")
        close = difflib.get_close_matches(field, sorted(fields), n=1)
        if parent in fields and parent.endswith("env_kwargs"):
            raise ValueError(
                f"--config.{field}: config.{parent} of {path} has no field {name!r}; "
                f"set a new env kwarg in a config file (config.{field} = ...)"
            )
        hint = f"; did you mean --config.{close[0]}?" if close else ""
        raise ValueError(f"--config.{field}: no such config field in {path}{hint}")
    return argv


def _config_field_hint(flag_name: str) -> str:
    """`--total_timesteps=...` is a config field: say so."""
    fields = config_lib.field_paths(config_lib.base_config())
    if flag_name in fields:
        return f"; did you mean --config.{flag_name}?"
    return ""


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    args = flags.FLAGS
    if not args.compilation_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    if args.distributed:
        devices.initialize_distributed(
            args.coordinator_address, args.num_processes, args.process_id
        )
    try:
        stats = train_rl(
            args.config,
            log_dir=args.log_dir or default_log_dir(args.config.env_id),
            resume=args.resume,
            progress=args.progress,
            compilation_cache=args.compilation_cache and (args.compilation_cache_dir or True),
            **_none_overrides,
        )
    except (ValueError, KeyboardInterrupt) as e:  # a bad field, file or resume; Ctrl-C
        sys.exit(f"train_rl: {e}")
    print(stats)


def main_console() -> None:
    """Console entry point (`jaxrl-train-rl`; `python -m jaxrl_expert.train_rl`)."""
    configure_console()
    try:  # before the flags are defined: config_flags applies overrides as it defines them
        sys.argv = check_config_args(sys.argv)
    except ValueError as e:
        sys.exit(f"{cli.program_name(sys.argv)}: {e}")
    cli.run(main, _define_flags, __doc__, flags_parser=parse_flags)


if __name__ == "__main__":
    main_console()
