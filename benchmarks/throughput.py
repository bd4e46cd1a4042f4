"""Training throughput against the rollout-only limit, measured side by side.

    python benchmarks/throughput.py            # writes benchmarks/results/throughput.json

For each case: compile time of the training program, training env steps/s
after compile, and the rollout-only limit: the same policy acting in the same
vmapped envs for the same number of steps with no learning. The ratio
training/limit says how much of the env's speed PPO keeps. Also times the
default CLI job end to end (process start to exit).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert import ppo  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.config import load_config_file  # noqa: E402
from jaxrl_expert.train_rl import make_env  # noqa: E402


def large_batch_config(n_epochs=4, batch_size=16384):
    """CartPole-v1 on 2048 envs (PureJaxRL-style large batch)."""
    config = load_config_file(os.path.join(REPO, "configs", "cartpole.py"))
    config_lib.apply_overrides(
        config,
        {"ppo": {"n_envs": 2048, "n_steps": 32, "batch_size": batch_size, "n_epochs": n_epochs}},
    )
    return config


def measure(name, config, iterations):
    config_lib.validate(config)
    env = make_env(config)
    trainer = ppo.make_train(config, env)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    start = time.perf_counter()
    train = jax.jit(trainer.train).lower(state, np.int32(1)).compile()
    compile_s = time.perf_counter() - start
    state, _ = train(state, np.int32(1))  # warm-up
    jax.block_until_ready(state)
    start = time.perf_counter()
    state, _ = train(state, np.int32(iterations))
    jax.block_until_ready(state)
    train_s = time.perf_counter() - start
    steps = iterations * ppo.batch_size(config)

    act = trainer.policy.act
    step_envs = jax.vmap(env.step)

    def rollout(env_state, key, n_steps):
        def body(carry, _):
            env_state, key = carry
            key, action_key = jax.random.split(key)
            action = act(state.params, state.obs_rms, env_state.obs, action_key)
            return (step_envs(env_state, action), key), None

        (env_state, key), _ = jax.lax.scan(body, (env_state, key), None, length=n_steps)
        return env_state

    n_steps = iterations * config.ppo.n_steps
    rollout = jax.jit(rollout, static_argnums=2).lower(state.env_state, state.key, n_steps)
    rollout = rollout.compile()
    jax.block_until_ready(rollout(state.env_state, state.key))
    start = time.perf_counter()
    jax.block_until_ready(rollout(state.env_state, state.key))
    rollout_s = time.perf_counter() - start
    result = {
        "case": name,
        "env_id": config.env_id,
        "n_envs": config.ppo.n_envs,
        "batch": ppo.batch_size(config),
        "compile_s": round(compile_s, 2),
        "train_steps_per_s": round(steps / train_s),
        "rollout_only_steps_per_s": round(steps / rollout_s),
        "train_over_limit": round(rollout_s / train_s, 3),
    }
    print(json.dumps(result), flush=True)
    return result


def cli_wall_time():
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={tmp}/run"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        return round(time.perf_counter() - start, 2)


def machine():
    """What every figure is recorded with."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0].device_kind),
    }


def main():
    seals = load_config_file(os.path.join(REPO, "configs", "seals_cartpole.py"))
    results = {
        "machine": machine(),
        "cases": [
            measure("seals_cartpole config", seals, iterations=24),
            measure("CartPole-v1, 2048 envs", large_batch_config(), iterations=30),
            # The same with the least SGD PPO can do: shows how the ratio scales with SGD work.
            measure(
                "CartPole-v1, 2048 envs, 1 epoch, 1 minibatch",
                large_batch_config(n_epochs=1, batch_size=65536),
                iterations=30,
            ),
        ],
        "default_cli_end_to_end_s": cli_wall_time(),
    }
    print(json.dumps(results["machine"]), "cli", results["default_cli_end_to_end_s"], "s")
    out = os.path.join(REPO, "benchmarks", "results", "throughput.json")
    write_json(out, results)


if __name__ == "__main__":
    main()
