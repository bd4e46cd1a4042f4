"""Train an expert policy from scratch with PPO (imitation.scripts.train_rl, in JAX).

    python -m jaxrl_expert.train_rl                       # seals/CartPole-v0 expert
    python -m jaxrl_expert.train_rl --config=configs/pendulum.py --config.seed=1

At every save step the policy goes to `{log_dir}/policies/{step:012d}/` and
rollouts of it to `{log_dir}/rollouts/{step:012d}.npz`; after training,
`policies/final/` and `rollouts/final.npz`.
"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import math
import os
import shutil
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxrl_expert import checkpoints, ppo, rollouts
from jaxrl_expert import config as config_lib
from jaxrl_expert.atomic_files import write_json
from jaxrl_expert.logging import TrainLogger, configure_console, summarize
from jaxrl_expert.networks import make_act

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "seals_cartpole.py"
)


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """`get_config()` of an ml_collections config file."""
    if not os.path.exists(path):
        raise ValueError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location("jaxrl_expert_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


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


class _Saver:
    """Writes policies and rollouts of the current TrainState; one compiled sampler."""

    def __init__(self, config: ml_collections.ConfigDict, env, trainer: ppo.Trainer, log_dir: str):
        self.log_dir = log_dir
        self.metadata = checkpoints.policy_metadata(config, env)
        self.seed = config.seed
        act = make_act(trainer.network, trainer.normalize_obs, env.action_space)
        n_timesteps, n_episodes = config_lib.rollout_request(config)
        deterministic = config.rollout_deterministic

        def sample(params, obs_rms, key):
            policy = lambda obs, k: act(params, obs_rms, obs, k, deterministic)
            sampler = rollouts.make_sampler(env, policy, config.ppo.n_envs, n_timesteps, n_episodes)
            return sampler(key)

        self._sample = jax.jit(sample)

    def policy(self, state: ppo.TrainState, name: str, timesteps: int) -> None:
        path = os.path.join(self.log_dir, "policies", name)
        checkpoints.save_policy(path, state.params, state.obs_rms, self.metadata, timesteps)

    def rollouts(self, state: ppo.TrainState, name: str, timesteps: int) -> None:
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), timesteps)
        records = self._sample(state.params, state.obs_rms, key)
        path = os.path.join(self.log_dir, "rollouts", f"{name}.npz")
        rollouts.save(path, rollouts.records_to_arrays(records))


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


def _remove_partial_files(log_dir: str) -> None:
    """Temporary files and directories a killed run may have left (never final names)."""
    for folder in (log_dir, os.path.join(log_dir, "policies"), os.path.join(log_dir, "rollouts")):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith(".tmp-"):
                path = os.path.join(folder, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def train_rl(
    config: ml_collections.ConfigDict | None = None,
    log_dir: str | None = None,
    resume: bool | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Trains an expert policy, saves policies and rollouts, returns final `rollout_stats`.

    `config` defaults to configs/seals_cartpole.py; keyword overrides replace
    top-level fields (`total_timesteps=...`) or merge into nested ones
    (`ppo={"n_epochs": 5}`). Everything is validated before any compile.
    A `log_dir` holding checkpoints of the same config is resumed from its
    newest complete one (resume=True requires that; resume=False refuses it).
    """
    config = copy.deepcopy(config) if config is not None else load_config_file(DEFAULT_CONFIG)
    config_lib.apply_overrides(config, overrides)
    env = config_lib.validate(config)
    log_dir = log_dir or default_log_dir(config.env_id)
    store = checkpoints.TrainCheckpoints(os.path.join(log_dir, "checkpoints"), config.max_to_keep)
    resumed_at = store.latest_iteration()
    if resumed_at is not None:
        if resume is False:
            raise ValueError(f"log_dir {log_dir!r} holds checkpoints; resume or use a new log_dir")
        _check_resumable(config, log_dir)
    elif resume:
        raise ValueError(f"resume requested but {store.directory!r} holds no complete checkpoint")
    os.makedirs(log_dir, exist_ok=True)
    _remove_partial_files(log_dir)
    write_json(os.path.join(log_dir, "config.json"), config.to_dict())

    trainer = ppo.make_train(config, env)
    batch = ppo.batch_size(config)
    n_iterations = math.ceil(config.total_timesteps / batch)
    saves = save_iterations(n_iterations, batch, config.policy_save_interval)
    logs = set(range(config.log_interval, n_iterations + 1, config.log_interval)) | {n_iterations}
    checkpoint_at = save_iterations(n_iterations, batch, config.checkpoint_interval)
    checkpoint_at.add(n_iterations)

    compile_start = time.perf_counter()
    state = jax.jit(trainer.init)(jax.random.PRNGKey(config.seed))
    if resumed_at is not None:
        state = store.restore(resumed_at, state)
        logging.info("resumed from %s", store.path(resumed_at))
    elif config.agent_path is not None:
        warm = checkpoints.load_policy(config.agent_path)
        state = state.replace(params=warm.params, obs_rms=warm.obs_rms)
        logging.info("warm start from %s", config.agent_path)
    train_chunk = jax.jit(trainer.train).lower(state, np.int32(1)).compile()
    logging.info("compiled in %.1f s", time.perf_counter() - compile_start)

    saver = _Saver(config, env, trainer, log_dir)
    logger = TrainLogger(log_dir)
    done = int(state.iteration)
    totals, chunk_time = None, 0.0
    for boundary in sorted(b for b in saves | logs | checkpoint_at if b > done):
        start = time.perf_counter()
        state, chunk_totals = train_chunk(state, np.int32(boundary - done))
        chunk_totals = jax.device_get(chunk_totals)
        chunk_time += time.perf_counter() - start
        bad = int(chunk_totals.pop("first_nonfinite_iteration"))
        if bad >= 0:
            last = store.latest_iteration()
            store.close()
            raise FloatingPointError(
                f"training diverged: a non-finite loss, parameter or normalizer statistic "
                f"appeared at PPO iteration {bad} (timestep {bad * batch}); nothing from it "
                f"was saved. Last good checkpoint: "
                f"{store.path(last) if last is not None else 'none'}"
            )
        totals = chunk_totals if totals is None else jax.tree.map(np.add, totals, chunk_totals)
        timesteps = boundary * batch
        if boundary in logs:
            steps = totals["iterations"] * batch
            logger.log(timesteps, summarize(totals), steps / chunk_time)
            totals, chunk_time = None, 0.0
        if boundary in saves:
            saver.policy(state, f"{timesteps:012d}", timesteps)
            saver.rollouts(state, f"{timesteps:012d}", timesteps)
        if boundary in checkpoint_at:  # after the saves: a resume never skips one
            store.save(boundary, state)
        done = boundary
    store.close()

    final_timesteps = n_iterations * batch
    if config.policy_save_final:
        saver.policy(state, "final", final_timesteps)
    if config.rollout_save_final:
        saver.rollouts(state, "final", final_timesteps)

    act = make_act(trainer.network, trainer.normalize_obs, env.action_space)
    policy = lambda obs, key: act(state.params, state.obs_rms, obs, key)
    evaluate = jax.jit(lambda key: rollouts.run_episodes(env, policy, key, config.n_episodes_eval))
    returns, true_returns, lengths = jax.device_get(evaluate(jax.random.PRNGKey(config.seed + 1)))
    stats = rollouts.rollout_stats(returns, lengths, true_returns)
    logger.log_eval(final_timesteps, stats)
    logger.close()
    write_json(os.path.join(log_dir, "stats.json"), stats)
    logging.info("final policy: %s", stats)
    return stats


_CONFIG = config_flags.DEFINE_config_file(
    "config", DEFAULT_CONFIG, "ml_collections config file; override fields with --config.<field>="
)
_RESUME = flags.DEFINE_bool(
    "resume", None, "continue the run in --log_dir (default: resume when it has checkpoints)"
)
# --log_dir is absl.logging's own flag ("directory to write logfiles into"); we
# use it as the run's output directory (default output/train_rl/<env>/<timestamp>).


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    stats = train_rl(_CONFIG.value, log_dir=flags.FLAGS.log_dir or None, resume=_RESUME.value)
    print(stats)


def main_console() -> None:
    """Console entry point (`jaxrl-train-rl`)."""
    configure_console()
    app.run(main)


if __name__ == "__main__":
    main_console()
