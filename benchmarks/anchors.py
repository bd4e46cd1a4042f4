"""Our trainer side by side with the anchors, each run a fresh process: one table, one JSON.

    python benchmarks/anchors.py             # every row; writes benchmarks/results/anchors.json
    python benchmarks/anchors.py --only=cartpole,halfcheetah --seeds=2
    python benchmarks/anchors.py --quick     # tiny budgets: checks the plumbing in minutes

Rows (issue 13):
- cartpole: the default job (`python -m jaxrl_expert.train_rl`, seals/CartPole-v0) end
  to end: ours with an empty compilation cache (cold), ours again on the same cache
  (warm), rejax's PPO (PureJaxRL style) with the same hyperparameters on gymnax
  CartPole-v1, and imitation's `train_rl with seals_cartpole`.
- inverted_pendulum: Brax's published settings (generalized pipeline), ours through
  `brax_config` against Brax's own PPO, both evaluated after every iteration with Brax's
  protocol (one episode in each of 64 envs, stochastic policy): return at equal env
  steps and time until the evaluation first reaches 1000.
- halfcheetah: Brax's halfcheetah settings at CPU scale (positional, 128 envs):
  return at equal env steps and training steps/s.

Each contender is timed from process start to exit, so imports and compiles count.
rejax and imitation run in virtualenvs this script creates from the package registry
under ~/.cache/jaxrl_expert/anchor_venvs/<name> (reused while their pinned requirements
stay the same); Brax's PPO runs in our venv with a shim for the removed
`jax.device_put_replicated`. Every process but "ours warm" compiles from scratch: ours
with an empty JAX_COMPILATION_CACHE_DIR, the others with no persistent cache.

The clock of the Brax rows ("to target s", steps/s) runs from process start to the end
of a training iteration, less the time spent on the benchmark's evaluations. Brax's PPO
evaluates in its training process: its cumulative `eval/walltime` is subtracted. Ours
saves a policy per evaluation point and a separate process evaluates them afterwards
(its time is not counted), so our clock is the timestamp of the first iteration's log
line plus, for each later iteration, its training time from metrics.jsonl (steps /
steps_per_second); the policy saves between iterations are left out. Steps/s is taken
between the first and the last evaluation, so neither side's compile counts.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks._harness import (  # noqa: E402
    Run,
    attempt,
    brax_run,
    child_env,
    evaluate_policies,
    finish,
    machine,
    mean_curve,
    mean_of,
    our_clock,
    print_report,
    ratio,
    record_row,
    table,
    tail,
)
from jaxrl_expert import config as config_lib  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "anchors.json")
VENV_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "jaxrl_expert", "anchor_venvs")
ROWS = ("cartpole", "inverted_pendulum", "halfcheetah")

_ONLY = flags.DEFINE_list("only", list(ROWS), f"rows to run, from {', '.join(ROWS)}")
_SEEDS = flags.DEFINE_integer(
    "seeds", None, "seeds of the Brax rows (default: 2 on inverted_pendulum, 1 on halfcheetah)"
)
_QUICK = flags.DEFINE_bool("quick", False, "smoke run: tiny budgets, 100-step episodes")
_IP_STEPS = flags.DEFINE_integer("ip_steps", 600_000, "inverted_pendulum budget (env steps)")
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic_eval", False, "evaluate both sides with the policy's mode (Brax: sampled)"
)

# Versions that install and run here (Python 3.11, CPU), pinned so every run is the same.
ANCHOR_REQUIREMENTS = {
    # rejax 0.1.3 needs gymnax < 1.0, which imports six without declaring it; these gymnax,
    # flax and distrax releases install and run on JAX 0.4.38 (checked here).
    "rejax": [
        "rejax==0.1.3", "gymnax==0.0.9", "six==1.17.0", "jax==0.4.38", "jaxlib==0.4.38",
        "flax==0.10.4", "optax==0.2.5", "chex==0.1.90", "distrax==0.1.5",
        "tensorflow-probability==0.25.0", "numpy==2.4.6",
    ],
    # torch 2.13.0 resolves to the local CPU build (unpinned, pip takes a multi-GB CUDA
    # build) and needs setuptools >= 77.0.3; sacred imports pkg_resources, which setuptools
    # slates for removal from 81 on (its warning says to pin below 81).
    "imitation": [
        "imitation==1.0.1", "torch==2.13.0", "setuptools==80.10.2", "stable-baselines3==2.2.1",
        "gymnasium==0.29.1", "seals==0.2.1", "sacred==0.8.7", "numpy==2.4.6",
    ],
}  # fmt: skip
# imitation on the seals MuJoCo envs (benchmarks/host_envs.py): Gymnasium 0.29's v4 envs
# need the mujoco bindings (a 3.x release, pinned like the rest).
ANCHOR_REQUIREMENTS["imitation_mujoco"] = [
    *ANCHOR_REQUIREMENTS["imitation"],
    "mujoco==3.2.7",
    "imageio==2.38.1",
]

# Brax's PPO settings in Brax's names (brax_config's arguments); observations normalized.
BRAX_SETTINGS = {
    "inverted_pendulum": dict(
        num_envs=256, batch_size=256, unroll_length=5, num_minibatches=32,
        num_updates_per_batch=4, reward_scaling=10, discounting=0.97, entropy_cost=1e-2,
        learning_rate=3e-4, episode_length=1000, backend="generalized",
    ),
    "halfcheetah": dict(  # Brax's halfcheetah settings with 128 envs instead of 2048
        num_envs=128, batch_size=64, unroll_length=20, num_minibatches=8,
        num_updates_per_batch=8, reward_scaling=1, discounting=0.95, entropy_cost=1e-3,
        learning_rate=3e-4, episode_length=1000, backend="positional",
    ),
}  # fmt: skip
EVAL_EPISODES = {"inverted_pendulum": 64, "halfcheetah": 16}

REJAX_CHILD = """
import json, sys
import jax
from rejax import PPO

kwargs = json.loads(sys.argv[1])
seed = kwargs.pop("seed")
algo = PPO.create(**kwargs)
_, (_, returns) = jax.jit(algo.train)(jax.random.PRNGKey(seed))
print("BENCH_RESULT", json.dumps({"return": float(returns[-1].mean())}))
"""

OUR_CONFIG_FILE = '''"""Brax's settings through brax_config (written by benchmarks/anchors.py)."""

from jaxrl_expert.config import apply_overrides, brax_config


def get_config():
    config = brax_config({env_id!r}, **{settings!r})
    apply_overrides(config, {overrides!r})
    return config
'''


def ensure_venv(name: str) -> str:
    """The python of anchor `name`'s virtualenv, created from the registry on first use."""
    root = os.path.join(VENV_ROOT, name)
    python = os.path.join(root, "bin", "python")
    stamp = os.path.join(root, "anchor_requirements.txt")
    wanted = "\n".join(ANCHOR_REQUIREMENTS[name]) + "\n"
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == wanted:
                return python
    print(f"creating the {name} virtualenv in {root} ...", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", root], check=True)
    pip = [python, "-m", "pip", "install", "--quiet", *ANCHOR_REQUIREMENTS[name]]
    proc = subprocess.run(pip, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(
            f"pip install {' '.join(ANCHOR_REQUIREMENTS[name])}: {tail(proc.stderr)}"
        )
    with open(stamp, "w") as f:
        f.write(wanted)
    return python


# Row 1: the default job, end to end.


def ours_default_job(cache_dir: str, steps: int | None) -> dict[str, Any]:
    """`python -m jaxrl_expert.train_rl` in a fresh log dir; the final evaluation's return."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={tmp}/run"]
        if steps is not None:
            cmd.append(f"--config.total_timesteps={steps}")
        run = Run(cmd, REPO, child_env(cache_dir))
        with open(os.path.join(tmp, "run", "stats.json")) as f:
            stats = json.load(f)
    return {"wall_s": run.wall_s, "return": stats["monitor_return_mean"]}


def rejax_job(config: Any, steps: int) -> dict[str, Any]:
    """rejax's PPO with our config's hyperparameters; one evaluation (128 episodes) at the end."""
    ppo = config.ppo
    batch = ppo.n_envs * ppo.n_steps
    total = math.ceil(steps / batch) * batch  # whole iterations, as ours
    kwargs = {
        "env": "CartPole-v1",
        "seed": config.seed,
        "total_timesteps": total,
        "eval_freq": total,
        "skip_initial_evaluation": True,
        "num_envs": ppo.n_envs,
        "num_steps": ppo.n_steps,
        "num_minibatches": batch // ppo.batch_size,
        "num_epochs": ppo.n_epochs,
        "learning_rate": ppo.learning_rate,
        "gamma": ppo.gamma,
        "gae_lambda": ppo.gae_lambda,
        "clip_eps": ppo.clip_range,
        "ent_coef": ppo.ent_coef,
        "vf_coef": ppo.vf_coef,
        "max_grad_norm": ppo.max_grad_norm,
        "normalize_observations": config.normalize_kwargs.norm_obs,
        "normalize_rewards": config.normalize_reward,
        "agent_kwargs": {"activation": ppo.activation, "hidden_layer_sizes": list(ppo.net_arch.pi)},
    }
    python = ensure_venv("rejax")
    run = Run([python, "-c", REJAX_CHILD, json.dumps(kwargs)], REPO, child_env(None))
    return {"wall_s": run.wall_s, "return": run.result()["return"]}


def imitation_job(steps: int | None) -> dict[str, Any]:
    """`python -m imitation.scripts.train_rl with seals_cartpole`; sacred's stored result."""
    python = ensure_venv("imitation")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python, "-m", "imitation.scripts.train_rl", "with", "seals_cartpole"]
        cmd.append(f"logging.log_dir={tmp}/run")
        if steps is not None:
            cmd.append(f"total_timesteps={steps}")
        run = Run(cmd, tmp, child_env(None))  # sacred's observer writes under ./output
        (run_json,) = glob.glob(os.path.join(tmp, "output", "sacred", "train_rl", "*", "run.json"))
        with open(run_json) as f:
            stats = json.load(f)["result"]
    return {"wall_s": run.wall_s, "return": stats["monitor_return_mean"]}


def cartpole_row(quick: bool) -> dict[str, Any]:
    """Default job end to end: ours cold and warm, rejax, imitation."""
    config = config_lib.load_config_file(os.path.join(REPO, "configs", "seals_cartpole.py"))
    steps = 8192 if quick else None
    with tempfile.TemporaryDirectory() as cache_dir:
        entries = [
            attempt("ours cold", ours_default_job, cache_dir, steps),
            attempt("ours warm", ours_default_job, cache_dir, steps),
        ]
    entries.append(attempt("rejax", rejax_job, config, steps or config.total_timesteps))
    entries.append(attempt("imitation", imitation_job, steps))
    wall = {e["who"]: e.get("wall_s") for e in entries}
    ratios = {
        "ours_cold/rejax": (ratio(wall["ours cold"], wall["rejax"]), 0.8),
        "ours_warm/rejax": (ratio(wall["ours warm"], wall["rejax"]), 0.4),
        "ours_cold/imitation": (ratio(wall["ours cold"], wall["imitation"]), 0.35),
    }
    return {
        "settings": {"config": "configs/seals_cartpole.py", "total_timesteps": steps},
        "notes": "rejax runs gymnax CartPole-v1 (episodes end on failure; seals' CartPole-v0 "
        "has a fixed 500-step horizon), clips its value loss with clip_eps and keeps separate "
        "Adam states for actor and critic; returns are each side's final evaluation (ours and "
        "imitation 50 episodes, rejax 128 sampled)",
        "entries": entries,
        "ratios": {name: {"value": v, "target_at_most": t} for name, (v, t) in ratios.items()},
    }


# Rows 2 and 3: Brax's settings, ours against Brax's PPO.


def ours_brax_run(row: str, settings: dict, overrides: dict, seed: int) -> dict[str, Any]:
    """train_rl on a config from brax_config; afterwards, every saved policy evaluated."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file = os.path.join(tmp, "config.py")
        with open(config_file, "w") as f:
            f.write(
                OUR_CONFIG_FILE.format(
                    env_id=f"brax/{row}", settings=settings, overrides={**overrides, "seed": seed}
                )
            )
        run_dir = os.path.join(tmp, "run")
        cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--config={config_file}"]
        run = Run([*cmd, f"--log_dir={run_dir}"], REPO, child_env(os.path.join(tmp, "cache")))
        clock = our_clock(run_dir, run)
        curve, eval_s = evaluate_policies(
            os.path.join(run_dir, "policies"), EVAL_EPISODES[row], seed, _DETERMINISTIC.value,
            os.path.join(tmp, "eval_cache"),
        )  # fmt: skip
    return {
        "wall_s": run.wall_s,
        "eval_process_s": eval_s,
        "curve": curve,
        "clock": {s: clock[s] for s, _ in curve},
    }


def brax_ppo_run(row: str, settings: dict, budget: dict, seed: int) -> dict[str, Any]:
    """Brax's own PPO in our venv, evaluating at the same env steps as ours."""
    kwargs = {
        **settings,
        **budget,
        "normalize_observations": True,
        "action_repeat": 1,
        "env": row,
        "seed": seed,
        "num_eval_envs": EVAL_EPISODES[row],
        "deterministic_eval": _DETERMINISTIC.value,
    }
    return brax_run("ppo", kwargs)


def brax_race(row: str, seeds: int, quick: bool, target: float | None) -> dict[str, Any]:
    """Ours (brax_config) and Brax's PPO on one Brax env, seed by seed."""
    settings = dict(BRAX_SETTINGS[row])
    per_iteration = settings["batch_size"] * settings["num_minibatches"] * settings["unroll_length"]
    if quick:
        iterations, every = 2, 1
        settings["episode_length"] = 100
    elif row == "inverted_pendulum":
        iterations, every = math.ceil(_IP_STEPS.value / per_iteration), 1
    else:
        iterations, every = 20, 5  # 204,800 steps, evaluated every 51,200
    total = iterations * per_iteration
    settings["total_timesteps"] = total
    config = config_lib.brax_config(f"brax/{row}", **settings)
    if config.ppo.n_envs * config.ppo.n_steps != per_iteration:
        raise ValueError(f"brax_config's iteration is not Brax's {per_iteration} steps")
    overrides = {
        "policy_save_interval": every * per_iteration,
        "checkpoint_interval": 0,
        "log_interval": 1,
    }
    brax_settings = {k: v for k, v in settings.items() if k != "total_timesteps"}
    budget = {"num_timesteps": total, "num_evals": iterations // every + 1}
    entries = []
    for seed in range(seeds):
        print(f"  {row} seed {seed}", flush=True)
        ours = attempt("ours", ours_brax_run, row, settings, overrides, seed)
        brax = attempt("brax ppo", brax_ppo_run, row, brax_settings, budget, seed)
        entries += [{**finish(e, target), "seed": seed} for e in (ours, brax)]
    return {
        "settings": {
            **settings,
            "evaluate_every_steps": every * per_iteration,
            "eval_episodes": EVAL_EPISODES[row],
            "deterministic_eval": _DETERMINISTIC.value,
        },
        "entries": entries,
    }


def inverted_pendulum_row(seeds: int, quick: bool) -> dict[str, Any]:
    """Time to 1000 and return at equal steps, ours against Brax's PPO."""
    result = brax_race("inverted_pendulum", seeds, quick, target=1000.0)
    entries = result["entries"]
    ours, brax = mean_curve(entries, "ours"), mean_curve(entries, "brax ppo")
    reached = [s for s, v in brax.items() if v >= 1000.0]
    after = [s for s in ours if s in brax and reached and s >= reached[0]]
    time_ratio = ratio(
        mean_of(entries, "ours", "time_to_target_s"),
        mean_of(entries, "brax ppo", "time_to_target_s"),
    )
    result["ratios"] = {
        "ours/brax time to 1000 (mean of seeds)": {"value": time_ratio, "target_at_most": 0.5},
        "ours >= brax at every equal step once brax reaches 1000 (mean of seeds)": {
            "value": all(ours[s] >= brax[s] for s in after) if after else None
        },
    }
    result["mean_curves"] = {"ours": list(ours.items()), "brax ppo": list(brax.items())}
    return result


def halfcheetah_row(seeds: int, quick: bool) -> dict[str, Any]:
    """Return at equal steps and training steps/s, ours against Brax's PPO."""
    result = brax_race("halfcheetah", seeds, quick, target=None)
    entries = result["entries"]
    ours, brax = mean_curve(entries, "ours"), mean_curve(entries, "brax ppo")
    common = [s for s in ours if s in brax]
    speed = ratio(
        mean_of(entries, "ours", "steps_per_s"), mean_of(entries, "brax ppo", "steps_per_s")
    )
    result["ratios"] = {
        "ours/brax steps/s": {"value": speed, "target_at_least": 2.0},
        "ours >= brax at every equal step (mean of seeds)": {
            "value": all(ours[s] >= brax[s] for s in common) if common else None
        },
    }
    result["mean_curves"] = {"ours": list(ours.items()), "brax ppo": list(brax.items())}
    return result


# Output.


def main(argv: list[str]) -> None:
    del argv
    unknown = set(_ONLY.value) - set(ROWS)
    if unknown:
        raise app.UsageError(f"--only: unknown rows {sorted(unknown)}; choose from {ROWS}")
    quick = _QUICK.value
    results = {"machine": machine(), "quick": quick, "rows": {}}
    if os.path.exists(RESULTS):  # rows not rerun are kept, if measured the same way
        with open(RESULTS) as f:
            earlier = json.load(f)
        if earlier.get("quick") == quick:
            results["rows"] = earlier.get("rows", {})
    results["anchor_requirements"] = ANCHOR_REQUIREMENTS
    run_rows = {
        "cartpole": lambda: cartpole_row(quick),
        "inverted_pendulum": lambda: inverted_pendulum_row(
            _SEEDS.value or (1 if quick else 2), quick
        ),
        "halfcheetah": lambda: halfcheetah_row(_SEEDS.value or 1, quick),
    }
    measured = {}
    for name in ROWS:
        if name in _ONLY.value:
            print(f"{name} ...", flush=True)
            record_row(RESULTS, results, measured, name, run_rows[name]())
    print_report(results, quick, table(measured))


if __name__ == "__main__":
    app.run(main)
