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

import datetime
import glob
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax
import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "anchors.json")
VENV_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "jaxrl_expert", "anchor_venvs")
ROWS = ("cartpole", "inverted_pendulum", "halfcheetah")
TIMEOUT_S = 3 * 3600  # per process: a stuck run fails its entry, not the benchmark

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
RESULT = "ANCHOR_RESULT "  # the line a child process prints its JSON result on

REJAX_CHILD = """
import json, sys
import jax
from rejax import PPO

kwargs = json.loads(sys.argv[1])
seed = kwargs.pop("seed")
algo = PPO.create(**kwargs)
_, (_, returns) = jax.jit(algo.train)(jax.random.PRNGKey(seed))
print("ANCHOR_RESULT", json.dumps({"return": float(returns[-1].mean())}))
"""

BRAX_CHILD = """
import json, sys, time
import jax
import jax.numpy as jnp

# This JAX removed device_put_replicated, which Brax's PPO still calls.
jax.device_put_replicated = lambda x, devs: jax.tree.map(lambda a: jnp.stack([a] * len(devs)), x)
from brax import envs
from brax.training.agents.ppo import train as ppo

kwargs = json.loads(sys.argv[1])
env = envs.get_environment(kwargs.pop("env"), backend=kwargs.pop("backend"))
curve = []


def progress(step, metrics):
    curve.append({"step": int(step), "return": float(metrics["eval/episode_reward"]),
                  "eval_s": float(metrics["eval/walltime"]), "time": time.time()})


ppo.train(env, progress_fn=progress, normalize_observations=True, action_repeat=1, **kwargs)
print("ANCHOR_RESULT", json.dumps(curve))
"""

OUR_EVAL_CHILD = """
import dataclasses, json, os, sys
import jax
from jaxrl_expert import envs, rollouts
from jaxrl_expert.checkpoints import load_policy

args = json.loads(sys.argv[1])
names = sorted(name for name in os.listdir(args["policies"]) if name.isdigit())
policies = [load_policy(os.path.join(args["policies"], name)) for name in names]
meta = policies[0].metadata
env = envs.make(meta["env_id"], **meta["env_kwargs"])


@jax.jit
def mean_return(params, obs_rms, key):  # one compile serves every saved policy
    policy = dataclasses.replace(policies[0], params=params, obs_rms=obs_rms)
    act = lambda obs, k: policy.act(obs, k, args["deterministic"])
    return rollouts.run_episodes(env, act, key, args["n_episodes"])[1].mean()


key = jax.random.PRNGKey(args["seed"])
curve = [[int(n), float(mean_return(p.params, p.obs_rms, key))] for n, p in zip(names, policies)]
print("ANCHOR_RESULT", json.dumps(curve))
"""

OUR_CONFIG_FILE = '''"""Brax's settings through brax_config (written by benchmarks/anchors.py)."""

from jaxrl_expert.config import apply_overrides, brax_config


def get_config():
    config = brax_config({env_id!r}, **{settings!r})
    apply_overrides(config, {overrides!r})
    return config
'''


class Run:
    """A finished child process: wall time from launch to exit, and what it printed."""

    def __init__(self, cmd: list[str], cwd: str, env: dict[str, str]) -> None:
        self.launch = time.time()
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
        self.wall_s = time.perf_counter() - start
        self.stdout, self.stderr = proc.stdout, proc.stderr
        if proc.returncode:
            raise RuntimeError(f"exit {proc.returncode}: {tail(proc.stderr + proc.stdout)}")

    def result(self) -> Any:
        """The JSON the child printed after RESULT."""
        lines = [line for line in self.stdout.splitlines() if line.startswith(RESULT)]
        if not lines:
            raise RuntimeError(f"no result printed: {tail(self.stderr + self.stdout)}")
        return json.loads(lines[-1][len(RESULT) :])


def tail(text: str, n: int = 6) -> str:
    """The last lines of a log, without pip's noise about unreachable local indexes."""
    lines = [line for line in text.strip().splitlines() if "is ignored: it is neither" not in line]
    return " | ".join(lines[-n:])


def child_env(cache_dir: str | None) -> dict[str, str]:
    """Our environment with JAX's compilation cache in `cache_dir` (None: no cache)."""
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    return env


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


def attempt(who: str, fn, *args: Any) -> dict[str, Any]:
    """fn's entry, or an entry saying why it failed: one anchor must not sink the others."""
    try:
        return {"who": who, **fn(*args)}
    except Exception as e:  # recorded in the table and the JSON
        print(f"  {who}: FAILED {e}", flush=True)
        return {"who": who, "error": str(e)}


def machine() -> dict[str, Any]:
    """What every figure is recorded with (the machine may be shared: load at start)."""
    with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return {
        "cpu": models[0] if models else platform.processor(),
        "cores": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


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

_LOG_LINE = re.compile(r"^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+) .*\] timesteps (\d+) \|", re.M)


def log_seconds(stderr: str, launch: float) -> dict[int, float]:
    """Seconds from launch to each of our `timesteps N |` log lines (absl's local timestamps)."""
    year = datetime.datetime.fromtimestamp(launch).year
    seconds = {}
    for month, day, hour, minute, sec, steps in _LOG_LINE.findall(stderr):
        whole = datetime.datetime(year, int(month), int(day), int(hour), int(minute))
        seconds[int(steps)] = whole.timestamp() + float(sec) - launch
    return seconds


def our_clock(run_dir: str, run: Run) -> dict[int, float]:
    """Process start to the end of each iteration, without the policy saves between them."""
    logged = log_seconds(run.stderr, run.launch)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    clock: dict[int, float] = {}
    previous = None
    for record in records:
        steps = record["timesteps"]
        if previous is None:
            if steps not in logged:
                raise RuntimeError(f"train_rl logged no timestamped 'timesteps {steps} |' line")
            clock[steps] = logged[steps]
        else:
            clock[steps] = clock[previous] + (steps - previous) / record["steps_per_second"]
        previous = steps
    return clock


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
        args = {
            "policies": os.path.join(run_dir, "policies"),
            "n_episodes": EVAL_EPISODES[row],
            "seed": seed,
            "deterministic": _DETERMINISTIC.value,
        }
        evaluation = Run(
            [sys.executable, "-c", OUR_EVAL_CHILD, json.dumps(args)],
            REPO,
            child_env(os.path.join(tmp, "eval_cache")),
        )
        curve = evaluation.result()
    return {
        "wall_s": run.wall_s,
        "eval_process_s": evaluation.wall_s,
        "curve": curve,
        "clock": {s: clock[s] for s, _ in curve},
    }


def brax_ppo_run(row: str, settings: dict, budget: dict, seed: int) -> dict[str, Any]:
    """Brax's own PPO in our venv, evaluating at the same env steps as ours."""
    kwargs = {
        **settings,
        **budget,
        "env": row,
        "seed": seed,
        "num_eval_envs": EVAL_EPISODES[row],
        "deterministic_eval": _DETERMINISTIC.value,
    }
    run = Run([sys.executable, "-c", BRAX_CHILD, json.dumps(kwargs)], REPO, child_env(None))
    evals = [e for e in run.result() if e["step"] > 0]  # step 0: the untrained policy
    return {
        "wall_s": run.wall_s,
        "curve": [[e["step"], e["return"]] for e in evals],
        "clock": {e["step"]: e["time"] - run.launch - e["eval_s"] for e in evals},
    }


def finish(entry: dict[str, Any], target: float | None) -> dict[str, Any]:
    """Adds final return, steps/s between the first and last evaluation, time to target."""
    if "error" in entry:
        return entry
    curve, clock = entry["curve"], entry["clock"]
    entry["return"] = curve[-1][1]
    (first, _), (last, _) = curve[0], curve[-1]
    if last > first:
        entry["steps_per_s"] = (last - first) / (clock[last] - clock[first])
    if target is not None:
        reached = [steps for steps, value in curve if value >= target]
        entry["time_to_target_s"] = clock[reached[0]] if reached else None
        entry["steps_to_target"] = reached[0] if reached else None
    entry["clock"] = [[steps, clock[steps]] for steps, _ in curve]
    return entry


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


def mean_curve(entries: list[dict], who: str) -> dict[int, float]:
    """Return at each evaluated step, averaged over the seeds that ran."""
    curves = [dict(e["curve"]) for e in entries if e["who"] == who and "curve" in e]
    steps = set.intersection(*(set(c) for c in curves)) if curves else set()
    return {s: float(np.mean([c[s] for c in curves])) for s in sorted(steps)}


def mean_of(entries: list[dict], who: str, key: str) -> float | None:
    values = [e.get(key) for e in entries if e["who"] == who]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


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


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def judged(r: dict[str, Any]) -> str:
    """A ratio against its target: '1.40 (target <= 0.8): not met'."""
    value = r["value"]
    if value is None or isinstance(value, bool):
        return str(value)
    if "target_at_most" in r:
        bound, met = f"<= {r['target_at_most']}", value <= r["target_at_most"]
    else:
        bound, met = f">= {r['target_at_least']}", value >= r["target_at_least"]
    return f"{value:.2f} (target {bound}): {'met' if met else 'not met'}"


def table(rows: dict[str, dict]) -> str:
    """One table: a line per contender and seed, then each row's ratios against its targets."""
    head = f"{'row':18s} {'contender':10s} {'seed':>4s} {'wall s':>8s} {'to target s':>11s} "
    head += f"{'steps/s':>8s} {'return':>8s}  returns at env steps"
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        for e in row["entries"]:
            if "error" in e:
                lines.append(f"{name:18s} {e['who']:10s} {'':>4s} FAILED: {e['error'][:300]}")
                continue
            curve = " ".join(f"{s / 1000:.0f}k:{v:.0f}" for s, v in e.get("curve", []))
            to_target = fmt(e.get("time_to_target_s"))
            if "time_to_target_s" in e and e["time_to_target_s"] is None:
                to_target = "never"
            lines.append(
                f"{name:18s} {e['who']:10s} {fmt(e.get('seed'), 'd'):>4s} {fmt(e['wall_s']):>8s} "
                f"{to_target:>11s} {fmt(e.get('steps_per_s'), ',.0f'):>8s} "
                f"{fmt(e['return'], '.1f'):>8s}  {curve}"
            )
    lines.append("")
    for name, row in rows.items():
        for what, r in row.get("ratios", {}).items():
            lines.append(f"{name}: {what}: {judged(r)}")
    return "\n".join(lines)


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


def record_row(path: str, results: dict, measured: dict, name: str, row: dict) -> None:
    """Stamps a finished row (date, the load after it: the machine is shared), keeps it in
    `results` and `measured`, and writes `results` to `path` (a crash loses no row)."""
    row["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    row["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    measured[name] = results["rows"][name] = row
    write_json(path, results)


def print_report(results: dict, quick: bool, table_text: str) -> None:
    print()
    print(
        f"machine: {json.dumps(results['machine'])}" + ("  (QUICK: smoke budgets)" if quick else "")
    )
    print(table_text)


if __name__ == "__main__":
    app.run(main)
