"""Train an expert policy from scratch with PPO (imitation.scripts.train_rl, in JAX).

python -m jaxrl_expert.train_rl                       # seals/CartPole-v0 expert
python -m jaxrl_expert.train_rl --config=configs/pendulum.py --config.seed=1
"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import math
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxrl_expert import config as config_lib
from jaxrl_expert import ppo
from jaxrl_expert.atomic_files import write_json
from jaxrl_expert.logging import TrainLogger, summarize
from jaxrl_expert.networks import make_act
from jaxrl_expert.rollouts import rollout_stats, run_episodes

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


def train_rl(
    config: ml_collections.ConfigDict | None = None,
    log_dir: str | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Trains an expert policy and returns `rollout_stats` of its final policy.

    `config` defaults to configs/seals_cartpole.py; keyword overrides replace
    top-level fields (`total_timesteps=...`) or merge into nested ones
    (`ppo={"n_epochs": 5}`). Everything is validated before any compile.
    """
    config = copy.deepcopy(config) if config is not None else load_config_file(DEFAULT_CONFIG)
    config_lib.apply_overrides(config, overrides)
    env = config_lib.validate(config)
    log_dir = log_dir or default_log_dir(config.env_id)
    os.makedirs(log_dir, exist_ok=True)
    write_json(os.path.join(log_dir, "config.json"), config.to_dict())

    trainer = ppo.make_train(config, env)
    batch = ppo.batch_size(config)
    n_iterations = math.ceil(config.total_timesteps / batch)

    compile_start = time.perf_counter()
    state = jax.jit(trainer.init)(jax.random.PRNGKey(config.seed))
    train_chunk = jax.jit(trainer.train).lower(state, np.int32(1)).compile()
    logging.info("compiled in %.1f s", time.perf_counter() - compile_start)

    logger = TrainLogger(log_dir)
    done_iterations = 0
    while done_iterations < n_iterations:
        chunk = min(config.log_interval, n_iterations - done_iterations)
        start = time.perf_counter()
        state, totals = train_chunk(state, np.int32(chunk))
        totals = jax.device_get(totals)
        elapsed = time.perf_counter() - start
        done_iterations += chunk
        logger.log(done_iterations * batch, summarize(totals), chunk * batch / elapsed)

    act = make_act(trainer.network, trainer.normalize_obs, env.action_space)
    policy = lambda obs, key: act(state.params, state.obs_rms, obs, key)
    evaluate = jax.jit(lambda key: run_episodes(env, policy, key, config.n_episodes_eval))
    returns, lengths = jax.device_get(evaluate(jax.random.PRNGKey(config.seed + 1)))
    stats = rollout_stats(returns, lengths)
    logger.log_eval(n_iterations * batch, stats)
    logger.close()
    write_json(os.path.join(log_dir, "stats.json"), stats)
    logging.info("final policy: %s", stats)
    return stats


_CONFIG = config_flags.DEFINE_config_file(
    "config", DEFAULT_CONFIG, "ml_collections config file; override fields with --config.<field>="
)
# --log_dir is absl.logging's own flag ("directory to write logfiles into"); we
# use it as the run's output directory (default output/train_rl/<env>/<timestamp>).


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    stats = train_rl(_CONFIG.value, log_dir=flags.FLAGS.log_dir or None)
    print(stats)


def main_console() -> None:
    """Console entry point (`jaxrl-train-rl`)."""
    logging.set_verbosity(logging.INFO)
    app.run(main)


if __name__ == "__main__":
    main_console()
