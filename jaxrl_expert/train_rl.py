"""Train an expert policy from scratch with PPO (imitation.scripts.train_rl, in JAX).

    python -m jaxrl_expert.train_rl                       # seals/CartPole-v0 expert
    python -m jaxrl_expert.train_rl --config=configs/pendulum.py --config.seed=1

At every save step the policy goes to `{log_dir}/policies/{step:012d}/` and
rollouts of it to `{log_dir}/rollouts/{step:012d}.npz`; after training,
`policies/final/` and `rollouts/final.npz`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import math
import os
import re
import shutil
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxrl_expert import checkpoints, devices, plot, ppo, rollouts
from jaxrl_expert import config as config_lib
from jaxrl_expert.atomic_files import write_json
from jaxrl_expert.logging import ProgressBar, TrainLogger, configure_console, summarize
from jaxrl_expert.networks import make_act

DEFAULT_CONFIG = config_lib.config_path("seals_cartpole")


def default_log_dir(env_id: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return os.path.join("output", "train_rl", env_id.replace("/", "_"), stamp)


def save_iterations(n_iterations: int, batch: int, interval: int) -> set[int]:
    """Iterations that end at or first after each multiple of `interval` timesteps."""
    if interval <= 0:
        return set()
    return {
        i
        for i in range(1, n_iterations + 1)
        if (i * batch) // interval > ((i - 1) * batch) // interval
    }


class _Outputs:
    """Policies, rollouts and evaluation of one TrainState; one compiled program each.

    The sampler and the evaluation take params as arguments, so every save of
    every seed reuses the same compiled program. Every process computes (the
    arrays may span processes); only process 0 writes files.
    """

    def __init__(self, config: ml_collections.ConfigDict, env, trainer: ppo.Trainer):
        self.metadata = checkpoints.policy_metadata(config, env)
        act = make_act(trainer.network, trainer.normalize_obs, env.action_space)
        n_timesteps, n_episodes = config_lib.rollout_request(config)
        deterministic = config.rollout_deterministic

        def sample(params, obs_rms, key):
            policy = lambda obs, k: act(params, obs_rms, obs, k, deterministic)
            sampler = rollouts.make_sampler(env, policy, config.ppo.n_envs, n_timesteps, n_episodes)
            return sampler(key)

        def evaluate(params, obs_rms, key):
            policy = lambda obs, k: act(params, obs_rms, obs, k)
            return rollouts.run_episodes(env, policy, key, config.n_episodes_eval)

        self._sample = jax.jit(sample)
        self._evaluate = jax.jit(evaluate)

    def policy(self, run_dir: str, state: ppo.TrainState, name: str, timesteps: int) -> None:
        params, obs_rms = jax.device_get((state.params, state.obs_rms))
        if devices.is_writer():
            path = os.path.join(run_dir, "policies", name)
            checkpoints.save_policy(path, params, obs_rms, self.metadata, timesteps)

    def rollouts(
        self, run_dir: str, state: ppo.TrainState, name: str, timesteps: int, seed: int
    ) -> None:
        key = jax.random.fold_in(jax.random.PRNGKey(seed), timesteps)
        records = jax.device_get(self._sample(state.params, state.obs_rms, key))
        if devices.is_writer():
            path = os.path.join(run_dir, "rollouts", f"{name}.npz")
            rollouts.save(path, rollouts.records_to_arrays(records))

    def evaluate(self, state: ppo.TrainState, seed: int) -> dict[str, float]:
        key = jax.random.PRNGKey(seed + 1)
        returns, true_returns, lengths = jax.device_get(
            self._evaluate(state.params, state.obs_rms, key)
        )
        return rollouts.rollout_stats(returns, lengths, true_returns)


def _check_resumable(config: ml_collections.ConfigDict, log_dir: str) -> None:
    """A run may only continue under the config it started with."""
    path = os.path.join(log_dir, "config.json")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot resume in {log_dir!r}: {path} is unreadable ({e})") from None
    current = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as saved
    if saved != current:
        differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise ValueError(
            f"cannot resume in {log_dir!r}: its checkpoints come from another config "
            f"({path} differs in {differing}); use a new --log_dir or the original config"
        )


def _remove_partial_files(run_dir: str) -> None:
    """Temporary files and directories a killed run may have left (never final names)."""
    for folder in (run_dir, os.path.join(run_dir, "policies"), os.path.join(run_dir, "rollouts")):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith(".tmp-"):
                path = os.path.join(folder, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _seed_config(config: ml_collections.ConfigDict, index: int) -> dict[str, Any]:
    """The single-seed config that seed `index` of a multi-seed run is equal to."""
    single = config.to_dict()
    single.update(seed=config.seed + index, num_seeds=1)
    return single


def train_rl(
    config: ml_collections.ConfigDict | None = None,
    log_dir: str | None = None,
    resume: bool | None = None,
    progress: bool | None = None,
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
    stderr (None: only when stderr is a terminal).
    """
    if config is None:
        config = config_lib.load_config_file(DEFAULT_CONFIG)
    config = copy.deepcopy(config)
    config_lib.apply_overrides(config, overrides)
    env = config_lib.validate(config)
    mesh = devices.make_mesh(config.num_devices, config.ppo.n_envs)
    log_dir = log_dir or default_log_dir(config.env_id)
    with contextlib.ExitStack() as cleanup:  # on every exit: no Orbax/TensorBoard thread lingers
        return _train_and_save(config, env, mesh, log_dir, resume, progress, cleanup)


def _train_and_save(
    config: ml_collections.ConfigDict,
    env: Any,
    mesh: Any,
    log_dir: str,
    resume: bool | None,
    progress: bool | None,
    cleanup: contextlib.ExitStack,
) -> dict[str, Any]:
    """train_rl after validation; everything that must be closed is registered on `cleanup`."""
    n_seeds = config.num_seeds
    run_dirs = [log_dir] if n_seeds == 1 else [f"{log_dir}/seed_{i}" for i in range(n_seeds)]
    stores = [
        checkpoints.TrainCheckpoints(os.path.join(d, "checkpoints"), config.max_to_keep)
        for d in run_dirs
    ]
    for store in stores:
        cleanup.callback(store.close)
    latest = [store.latest_iteration() for store in stores]
    if None in latest and any(x is not None for x in latest):
        raise ValueError(
            f"cannot resume in {log_dir!r}: only some seeds have checkpoints; use a new log_dir"
        )
    # Seeds checkpoint together; a kill between them leaves some one step behind.
    resumed_at = None if None in latest else min(latest)
    if resumed_at is not None:
        if resume is False:
            raise ValueError(f"log_dir {log_dir!r} holds checkpoints; resume or use a new log_dir")
        _check_resumable(config, log_dir)
    elif resume:
        raise ValueError(
            f"resume requested but {stores[0].directory!r} holds no complete checkpoint"
        )
    if devices.is_writer():
        for i, run_dir in enumerate(run_dirs):
            os.makedirs(run_dir, exist_ok=True)
            _remove_partial_files(run_dir)
            if n_seeds > 1:
                write_json(os.path.join(run_dir, "config.json"), _seed_config(config, i))
        write_json(os.path.join(log_dir, "config.json"), config.to_dict())

    trainer = ppo.make_train(config, env)
    batch = ppo.batch_size(config)
    n_iterations = math.ceil(config.total_timesteps / batch)
    saves = save_iterations(n_iterations, batch, config.policy_save_interval)
    logs = set(range(config.log_interval, n_iterations + 1, config.log_interval)) | {n_iterations}
    checkpoint_at = save_iterations(n_iterations, batch, config.checkpoint_interval)
    checkpoint_at.add(n_iterations)

    compile_start = time.perf_counter()
    seeds = [config.seed + i for i in range(n_seeds)]
    keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    init, train = trainer.init, trainer.train
    if n_seeds > 1:
        init = functools.partial(ppo.init_seeds, init)
        train = jax.vmap(train, in_axes=(0, None))
    else:
        keys = keys[0]
    abstract = jax.eval_shape(init, keys)
    sharding = devices.train_state_sharding(abstract, mesh, seeds_axis=n_seeds > 1)
    state = jax.jit(init, out_shardings=sharding)(keys)
    if resumed_at is not None:
        restored = [store.restore(resumed_at, _seed_slice(state, i, n_seeds)) for i, store in
                    enumerate(stores)]  # fmt: skip
        state = jax.device_put(_stack(restored, n_seeds), sharding)
        logging.info("resumed from %s", stores[0].path(resumed_at))
    elif config.agent_path is not None:
        warm = checkpoints.load_policy(config.agent_path)
        params, obs_rms = warm.params, warm.obs_rms
        if n_seeds > 1:
            params, obs_rms = _stack([(params, obs_rms)] * n_seeds, n_seeds)
        state = jax.device_put(state.replace(params=params, obs_rms=obs_rms), sharding)
        logging.info("warm start from %s", config.agent_path)
    train_chunk = (
        jax.jit(train, in_shardings=(sharding, None), out_shardings=(sharding, None))
        .lower(state, np.int32(1))
        .compile()
    )
    logging.info("compiled in %.1f s", time.perf_counter() - compile_start)

    outputs = _Outputs(config, env, trainer)
    loggers = [TrainLogger(d) if devices.is_writer() else None for d in run_dirs]
    for logger in loggers:
        if logger is not None:
            cleanup.callback(logger.close)
    done = int(np.max(jax.device_get(state.iteration)))
    bar = ProgressBar(
        n_iterations * batch, done * batch, progress if devices.is_writer() else False
    )
    cleanup.callback(bar.close)
    totals, chunk_time = None, 0.0
    for boundary in sorted(b for b in saves | logs | checkpoint_at if b > done):
        start = time.perf_counter()
        state, chunk_totals = train_chunk(state, np.int32(boundary - done))
        chunk_totals = jax.device_get(chunk_totals)
        chunk_time += time.perf_counter() - start
        bad = np.asarray(chunk_totals.pop("first_nonfinite_iteration")).reshape(-1)
        if np.any(bad >= 0):
            _diverged(stores, int(bad[bad >= 0].min()), batch)
        totals = chunk_totals if totals is None else jax.tree.map(np.add, totals, chunk_totals)
        timesteps = boundary * batch
        summaries = []
        if boundary in logs:
            for i, logger in enumerate(loggers):
                if logger is not None:
                    seed_totals = jax.tree.map(lambda x, i=i: np.reshape(x, (-1,))[i], totals)
                    steps = float(seed_totals["iterations"]) * batch * n_seeds  # all seeds
                    summaries.append(summarize(seed_totals))
                    logger.log(timesteps, summaries[-1], steps / chunk_time)
            totals, chunk_time = None, 0.0
        bar.update(timesteps, summaries)
        for i, run_dir in enumerate(run_dirs):
            seed_state = _seed_slice(state, i, n_seeds)
            if boundary in saves:
                outputs.policy(run_dir, seed_state, f"{timesteps:012d}", timesteps)
                outputs.rollouts(run_dir, seed_state, f"{timesteps:012d}", timesteps, seeds[i])
            if boundary in checkpoint_at:  # after the saves: a resume never skips one
                stores[i].save(boundary, seed_state)
        done = boundary
    bar.close()  # before the final evaluation's log lines

    final_timesteps = n_iterations * batch
    results = {}
    for i, run_dir in enumerate(run_dirs):
        seed_state = _seed_slice(state, i, n_seeds)
        if config.policy_save_final:
            outputs.policy(run_dir, seed_state, "final", final_timesteps)
        if config.rollout_save_final:
            outputs.rollouts(run_dir, seed_state, "final", final_timesteps, seeds[i])
        stats = outputs.evaluate(seed_state, seeds[i])
        if loggers[i] is not None:
            loggers[i].log_eval(final_timesteps, stats)
            loggers[i].close()
            write_json(os.path.join(run_dir, "stats.json"), stats)
        logging.info("final policy%s: %s", f" (seed_{i})" if n_seeds > 1 else "", stats)
        results[f"seed_{i}"] = stats
    if devices.is_writer():
        plot.write_learning_curve(log_dir)
    if n_seeds == 1:
        return results["seed_0"]
    if devices.is_writer():
        write_json(os.path.join(log_dir, "stats.json"), results)
    return results


def _seed_slice(tree: Any, index: int, n_seeds: int) -> Any:
    """Seed `index` of a seed-stacked pytree (the tree itself for a single seed)."""
    return tree if n_seeds == 1 else jax.tree.map(lambda x: x[index], tree)


def _stack(trees: list[Any], n_seeds: int) -> Any:
    return trees[0] if n_seeds == 1 else jax.tree.map(lambda *xs: np.stack(xs), *trees)


def _diverged(stores, iteration: int, batch: int) -> None:
    last = stores[0].latest_iteration()
    raise FloatingPointError(
        f"training diverged: a non-finite loss, parameter or normalizer statistic "
        f"appeared at PPO iteration {iteration} (timestep {iteration * batch}); nothing "
        f"from it was saved. Last good checkpoint: "
        f"{stores[0].path(last) if last is not None else 'none'}"
    )


_CONFIG = config_flags.DEFINE_config_file(
    "config", DEFAULT_CONFIG, "ml_collections config file; override fields with --config.<field>="
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "call jax.distributed.initialize() (multi-host / multi-process)"
)
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "processes in the job")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "this process's index")
_RESUME = flags.DEFINE_bool(
    "resume", None, "continue the run in --log_dir (default: resume when it has checkpoints)"
)
_PROGRESS = flags.DEFINE_bool(
    "progress", None, "show a progress bar on stderr (default: only when stderr is a terminal)"
)
# --log_dir is absl.logging's own flag ("directory to write logfiles into"); we
# use it as the run's output directory (default output/train_rl/<env>/<timestamp>).


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
    return app.parse_flags_with_usage(rest)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _DISTRIBUTED.value:
        devices.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    stats = train_rl(
        _CONFIG.value,
        log_dir=flags.FLAGS.log_dir or None,
        resume=_RESUME.value,
        progress=_PROGRESS.value,
        **_none_overrides,
    )
    print(stats)


def main_console() -> None:
    """Console entry point (`jaxrl-train-rl`)."""
    configure_console()
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    main_console()
