"""Many seeds in one vmapped program against the same seeds run one after another.

    python benchmarks/seeds.py     # writes benchmarks/results/seeds.json

seals_cartpole config, S = 16 seeds: the vmapped chunk trains all of them at
once; the sequential baseline runs the single-seed compiled chunk 16 times.
Both run the same number of PPO iterations per seed, after compile, in this
one process; aggregate env steps/s are compared.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.throughput import machine  # noqa: E402
from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert import ppo  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.config import load_config_file  # noqa: E402
from jaxrl_expert.train_rl import make_env  # noqa: E402


def measure(name: str, config, n_seeds: int, iterations: int) -> dict:
    config_lib.validate(config)
    trainer = ppo.make_train(config, make_env(config))
    batch = ppo.batch_size(config)
    keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in range(n_seeds)])

    single_init, single_train = jax.jit(trainer.init), jax.jit(trainer.train)
    states = [single_init(k) for k in keys]
    jax.block_until_ready(single_train(states[0], np.int32(1)))  # compile
    start = time.perf_counter()
    for state in states:
        jax.block_until_ready(single_train(state, np.int32(iterations)))
    sequential_s = time.perf_counter() - start

    many_init = jax.jit(lambda keys: ppo.init_seeds(trainer.init, keys))
    many_train = jax.jit(jax.vmap(trainer.train, in_axes=(0, None)))
    stacked = many_init(keys)
    jax.block_until_ready(many_train(stacked, np.int32(1)))  # compile
    start = time.perf_counter()
    jax.block_until_ready(many_train(stacked, np.int32(iterations)))
    vmapped_s = time.perf_counter() - start

    steps = n_seeds * iterations * batch
    result = {
        "config": name,
        "n_seeds": n_seeds,
        "sequential_steps_per_s": round(steps / sequential_s),
        "vmapped_steps_per_s": round(steps / vmapped_s),
        "vmapped_over_sequential": round(sequential_s / vmapped_s, 2),
    }
    print(result, flush=True)
    return result


def main(n_seeds: int = 16) -> None:
    seals = load_config_file(os.path.join(REPO, "configs", "seals_cartpole.py"))
    # PureJaxRL's CartPole PPO: 4 envs x 128 steps, 4 epochs of 4 minibatches.
    small = load_config_file(os.path.join(REPO, "configs", "cartpole.py"))
    config_lib.apply_overrides(
        small, {"ppo": {"n_envs": 4, "n_steps": 128, "batch_size": 128, "n_epochs": 4}}
    )
    cases = [
        measure("seals_cartpole", seals, n_seeds, iterations=4),
        measure(
            "CartPole-v1, PureJaxRL sizes (4 envs x 128, 4x4 minibatches)",
            small,
            n_seeds,
            iterations=20,
        ),
    ]
    result = {"machine": machine(), "cases": cases}
    write_json(os.path.join(REPO, "benchmarks", "results", "seeds.json"), result)


if __name__ == "__main__":
    main()
