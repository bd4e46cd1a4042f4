"""Our SAC side by side with Brax's own SAC, each run a fresh process: one table, one JSON.

    python benchmarks/sac.py              # every row; writes benchmarks/results/sac.json
    python benchmarks/sac.py --only=inverted_pendulum --seeds=2
    python benchmarks/sac.py --quick      # tiny budgets: checks the plumbing in minutes

Rows (issue 16):
- inverted_pendulum: Brax's published SAC settings (BRAX_PUBLISHED_SAC, the walker2d entry
  by default: --settings) with a CPU budget, ours through `brax_sac_config` against
  `brax.training.agents.sac.train`, both evaluated with Brax's protocol (one episode in
  each of 64 envs, stochastic policy) at the same env steps: return at equal env steps
  (target: ours >= Brax's at every one, mean of seeds) and training steps/s (target:
  ours >= 2x Brax's).
- reacher: ours only, the same settings with reacher's horizon (REACHER_CHANGES) on Brax's
  reacher (positional): every seed's evaluation (the policy's mode, 16 episodes) reaches
  -10 within 30 minutes of process start.

Budgets and evaluation steps count Brax's env steps (physics steps: ours times
action_repeat), as num_timesteps does.

Brax's SAC fills min_replay_size transitions before it learns, then evaluates after every
epoch of (num_timesteps - prefill) / (num_evals - 1) env steps; both are chosen whole
multiples of num_envs and of one evaluation interval, so ours saves a policy at exactly
Brax's evaluation steps (policy_save_interval) and logs there (log_interval).

Each contender is timed from process start, so imports and compiles count. Brax's SAC runs
in our venv with a shim for the removed `jax.device_put_replicated`, and without a
persistent compilation cache; ours with an empty JAX_COMPILATION_CACHE_DIR. The clock runs
from process start to the end of a training epoch, less the benchmark's evaluations: Brax
evaluates in its training process and its cumulative `eval/walltime` is subtracted; ours
saves a policy per evaluation point and a separate process evaluates them afterwards (not
counted), so our clock is the timestamp of the first `timesteps N |` log line plus, for
each later one, steps / steps_per_second from metrics.jsonl (the policy saves run on a
writer thread beside training and are counted; each saves one rollout episode). Steps/s
is taken between the first and the last evaluation step the two sides share, so neither
side's compile or prefill counts.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
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

from jaxrl_expert.atomic_files import write_json  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "sac.json")
ROWS = ("inverted_pendulum", "reacher")
RACES = ("inverted_pendulum",)  # rows with Brax's SAC beside ours
TIMEOUT_S = 3 * 3600  # per process: a stuck run fails its entry, not the benchmark
REACHER_TARGET, REACHER_LIMIT_S = -10.0, 30 * 60

# Brax's published SAC settings: google/brax notebooks/training.ipynb, the `train_fn` cell
# (`functools.partial(sac.train, ...)`; SAC is published for these two envs only, every
# other env there uses PPO). Unchanged here but for the budget (num_timesteps, num_evals).
BRAX_PUBLISHED_SAC = {
    "hopper": dict(
        num_timesteps=6_553_600, num_evals=20, reward_scaling=30, episode_length=1000,
        normalize_observations=True, action_repeat=1, discounting=0.997, learning_rate=6e-4,
        num_envs=128, batch_size=512, grad_updates_per_step=64, max_devices_per_host=1,
        max_replay_size=1048576, min_replay_size=8192, seed=1,
    ),
    "walker2d": dict(
        num_timesteps=7_864_320, num_evals=20, reward_scaling=5, episode_length=1000,
        normalize_observations=True, action_repeat=1, discounting=0.997, learning_rate=6e-4,
        num_envs=128, batch_size=128, grad_updates_per_step=32, max_devices_per_host=1,
        max_replay_size=1048576, min_replay_size=8192, seed=1,
    ),
}  # fmt: skip
# What those settings leave to `sac.train`'s defaults (brax 0.14.2:
# brax/training/agents/sac/train.py, networks.py, losses.py).
BRAX_SAC_DEFAULTS = {
    "tau": 0.005,
    "alpha (entropy coefficient)": "learned, log_alpha starts at 0 (alpha 1), Adam lr 3e-4",
    "target_entropy": "-0.5 * action_size",
    "policy and q networks": "(256, 256) ReLU MLPs, lecun_uniform init, no layer norm",
    "critics": 2,
    "policy distribution": "tanh-squashed Normal (NormalTanhDistribution)",
    "optimizers": "Adam(learning_rate) for policy and q, no gradient clipping",
    "prefill": "min_replay_size steps with the initial policy (no uniform random actions)",
    "deterministic_eval": False,
    "num_eval_envs": 128,
}
# The arguments brax_sac_config and sac.train share (Brax's names).
SHARED = (
    "num_envs", "batch_size", "grad_updates_per_step", "reward_scaling", "discounting",
    "learning_rate", "min_replay_size", "max_replay_size", "episode_length", "action_repeat",
    "normalize_observations",
)  # fmt: skip
# Brax publishes no SAC settings for reacher: the chosen ones with the horizon of Brax's
# published reacher PPO settings (same notebook: action_repeat 4, discounting 0.95).
REACHER_CHANGES = {"action_repeat": 4, "discounting": 0.95}
BACKENDS = {"inverted_pendulum": "generalized", "reacher": "positional"}
EVAL_EPISODES = {"inverted_pendulum": 64, "reacher": 16}
RESULT = "SAC_RESULT "  # the line a child process prints its JSON result on

_ONLY = flags.DEFINE_list("only", list(ROWS), f"rows to run, from {', '.join(ROWS)}")
_SEEDS = flags.DEFINE_integer(
    "seeds", None, "seeds per row (default: 2 on inverted_pendulum, 3 on reacher; quick: 1)"
)
_QUICK = flags.DEFINE_bool("quick", False, "smoke run: tiny budgets, 100-step episodes")
_SETTINGS = flags.DEFINE_enum(
    "settings", "walker2d", list(BRAX_PUBLISHED_SAC), "which published Brax SAC settings"
)
_IP_STEPS = flags.DEFINE_integer("ip_steps", 65_536, "inverted_pendulum budget (Brax env steps)")
_IP_EVERY = flags.DEFINE_integer("ip_every", 4096, "inverted_pendulum steps between evals")
_REACHER_STEPS = flags.DEFINE_integer("reacher_steps", 4_194_304, "reacher budget (Brax env steps)")
_REACHER_EVERY = flags.DEFINE_integer("reacher_every", 262_144, "reacher steps between evals")
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic_eval", False, "evaluate both sides with the policy's mode (Brax: sampled)"
)
_REACHER_DETERMINISTIC = flags.DEFINE_bool(
    "reacher_deterministic",
    True,
    "evaluate reacher with the policy's mode: sampled actions at SAC's target entropy cost "
    "more control penalty over 1000 steps than the -10 target allows",
)

BRAX_CHILD = """
import json, sys, time
import jax
import jax.numpy as jnp

# This JAX removed device_put_replicated, which Brax's SAC still calls.
jax.device_put_replicated = lambda x, devs: jax.tree.map(lambda a: jnp.stack([a] * len(devs)), x)
from brax import envs
from brax.training.agents.sac import train as sac

kwargs = json.loads(sys.argv[1])
env = envs.get_environment(kwargs.pop("env"), backend=kwargs.pop("backend"))
curve = []


def progress(step, metrics):
    curve.append({"step": int(step), "return": float(metrics["eval/episode_reward"]),
                  "eval_s": float(metrics["eval/walltime"]), "time": time.time(),
                  "sps": float(metrics.get("training/sps", float("nan")))})


sac.train(env, progress_fn=progress, **kwargs)
print("SAC_RESULT", json.dumps(curve))
"""

OUR_EVAL_CHILD = """
import dataclasses, json, os, sys
import jax
from jaxrl_expert import envs, rollouts
from jaxrl_expert.checkpoints import load_policy

args = json.loads(sys.argv[1])
names = sorted(name for name in os.listdir(args["policies"])
               if name.isdigit() and int(name) in args["steps"])
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
print("SAC_RESULT", json.dumps(curve))
"""

OUR_CONFIG_FILE = '''"""Brax's SAC settings via brax_sac_config (written by benchmarks/sac.py)."""

from jaxrl_expert.config import apply_overrides, brax_sac_config


def get_config():
    config = brax_sac_config({env_id!r}, **{settings!r})
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
    return " | ".join(text.strip().splitlines()[-n:])


def child_env(cache_dir: str | None) -> dict[str, str]:
    """Our environment with JAX's compilation cache in `cache_dir` (None: no cache)."""
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    return env


def attempt(who: str, fn, *args: Any) -> dict[str, Any]:
    """fn's entry, or an entry saying why it failed: one contender must not sink the other."""
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
    try:
        from importlib.metadata import version

        brax_version = version("brax")
    except Exception:
        brax_version = None
    return {
        "cpu": models[0] if models else platform.processor(),
        "cores": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "brax": brax_version,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


# Our clock: process start to the end of each logged iteration.

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
    """Process start to the end of each logged iteration, from the first log line on."""
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


# The contenders.


def ours_run(row: str, settings: dict, every: int, seed: int, deterministic: bool) -> dict:
    """train_rl on a config from brax_sac_config; afterwards, the policies saved every `every`
    physics steps (Brax's count: our env steps times action_repeat) evaluated."""
    ours = {k: settings[k] for k in (*SHARED, "num_timesteps")}
    ours["backend"] = BACKENDS[row]
    repeat = settings["action_repeat"]
    steps = [s // repeat for s in eval_steps(row, settings, every)]  # our env steps
    overrides = {
        "seed": seed,
        "policy_save_interval": every // repeat,
        "checkpoint_interval": 0,
        "log_interval": every // repeat // settings["num_envs"],  # iterations of num_envs steps
        "rollout_save_n_episodes": 1,  # the per-save rollouts are not what is measured
    }
    with tempfile.TemporaryDirectory() as tmp:
        config_file = os.path.join(tmp, "config.py")
        with open(config_file, "w") as f:
            f.write(
                OUR_CONFIG_FILE.format(env_id=f"brax/{row}", settings=ours, overrides=overrides)
            )
        run_dir = os.path.join(tmp, "run")
        cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--config={config_file}"]
        run = Run([*cmd, f"--log_dir={run_dir}"], REPO, child_env(os.path.join(tmp, "cache")))
        clock = our_clock(run_dir, run)
        args = {
            "policies": os.path.join(run_dir, "policies"),
            "steps": steps,
            "n_episodes": EVAL_EPISODES[row],
            "seed": seed,
            "deterministic": deterministic,
        }
        evaluation = Run(
            [sys.executable, "-c", OUR_EVAL_CHILD, json.dumps(args)],
            REPO,
            child_env(os.path.join(tmp, "eval_cache")),
        )
        curve = evaluation.result()
    missing = sorted(set(steps) - {s for s, _ in curve})
    if missing:
        raise RuntimeError(f"no policy saved at steps {missing}")
    return {
        "wall_s": run.wall_s,
        "eval_process_s": evaluation.wall_s,
        "curve": [[s * repeat, value] for s, value in curve],  # in Brax's physics steps
        "clock": {s * repeat: clock[s] for s, _ in curve},
    }


def brax_run(row: str, settings: dict, seed: int) -> dict[str, Any]:
    """Brax's own SAC in our venv; its evaluations after every epoch (the first one dropped)."""
    kwargs = {
        **{k: settings[k] for k in (*SHARED, "num_timesteps", "num_evals")},
        "max_devices_per_host": 1,
        "env": row,
        "backend": BACKENDS[row],
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
        "brax_reported_sps": [e["sps"] for e in evals],
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


def row_settings(row: str, quick: bool) -> tuple[dict[str, Any], int]:
    """Brax's published settings with this row's budget, and the steps between evaluations."""
    settings = dict(BRAX_PUBLISHED_SAC[_SETTINGS.value])
    if row == "reacher":
        settings.update(REACHER_CHANGES)
    if quick:
        steps, every = 4096 * settings["action_repeat"], 1024 * settings["action_repeat"]
        settings.update(episode_length=100, min_replay_size=2048)
    elif row == "inverted_pendulum":
        steps, every = _IP_STEPS.value, _IP_EVERY.value
    else:
        steps, every = _REACHER_STEPS.value, _REACHER_EVERY.value
    n = settings["num_envs"] * settings["action_repeat"]
    prefill = settings["min_replay_size"] * settings["action_repeat"]  # Brax: transitions
    if every % n or (row in RACES and prefill % every) or steps % every or steps <= prefill:
        raise app.UsageError(
            f"{row}: the eval interval ({every}) must be a multiple of num_envs ({n}) and "
            f"divide min_replay_size ({prefill}) and the budget ({steps}), budget > prefill"
        )
    settings.update(num_timesteps=steps)
    if row in RACES:
        settings["num_evals"] = (steps - prefill) // every + 1
    settings.pop("seed")  # each run's seed is its index
    return settings, every


def eval_steps(row: str, settings: dict[str, Any], every: int) -> list[int]:
    """The physics steps evaluated: in a race, those after each of Brax's epochs (prefill +
    k * every); else every multiple of `every`."""
    total = settings["num_timesteps"]
    prefill = settings["min_replay_size"] * settings["action_repeat"]
    start = prefill + every if row in RACES else every
    return list(range(start, total + 1, every))


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
    """Return at equal env steps and training steps/s, ours against Brax's SAC."""
    row = "inverted_pendulum"
    settings, every = row_settings(row, quick)
    entries = []
    for seed in range(seeds):
        print(f"  {row} seed {seed}", flush=True)
        ours = attempt("ours", ours_run, row, settings, every, seed, _DETERMINISTIC.value)
        brax = attempt("brax sac", brax_run, row, settings, seed)
        entries += [{**finish(e, None), "seed": seed} for e in (ours, brax)]
    ours, brax = mean_curve(entries, "ours"), mean_curve(entries, "brax sac")
    common = [s for s in ours if s in brax]
    speed = ratio(
        mean_of(entries, "ours", "steps_per_s"), mean_of(entries, "brax sac", "steps_per_s")
    )
    return {
        "settings": {
            **settings,
            "published_settings": _SETTINGS.value,
            "backend": BACKENDS[row],
            "evaluate_every_steps": every,
            "eval_episodes": EVAL_EPISODES[row],
            "deterministic_eval": _DETERMINISTIC.value,
        },
        "entries": entries,
        "ratios": {
            "ours/brax steps/s": {"value": speed, "target_at_least": 2.0},
            "ours >= brax at every equal step (mean of seeds)": {
                "value": all(ours[s] >= brax[s] for s in common) if common else None
            },
        },
        "mean_curves": {"ours": list(ours.items()), "brax sac": list(brax.items())},
    }


def reacher_row(seeds: int, quick: bool) -> dict[str, Any]:
    """Ours alone: every seed's evaluation reaches -10 within 30 minutes of process start."""
    row = "reacher"
    settings, every = row_settings(row, quick)
    entries = []
    for seed in range(seeds):
        print(f"  {row} seed {seed}", flush=True)
        ours = attempt("ours", ours_run, row, settings, every, seed, _REACHER_DETERMINISTIC.value)
        entries.append({**finish(ours, REACHER_TARGET), "seed": seed})
    times = [e.get("time_to_target_s") for e in entries]
    met = [t is not None and t <= REACHER_LIMIT_S for t in times]
    return {
        "settings": {
            **settings,
            "published_settings": _SETTINGS.value,
            "backend": BACKENDS[row],
            "evaluate_every_steps": every,
            "eval_episodes": EVAL_EPISODES[row],
            "deterministic_eval": _REACHER_DETERMINISTIC.value,
            "target_return": REACHER_TARGET,
            "time_limit_s": REACHER_LIMIT_S,
        },
        "entries": entries,
        "ratios": {
            f"seeds reaching {REACHER_TARGET:g} within {REACHER_LIMIT_S}s": {
                "value": f"{sum(met)}/{len(met)}",
                "met": all(met),
            },
            "slowest seed's time to target s": {
                "value": None if None in times else max(times),
                "target_at_most": REACHER_LIMIT_S,
            },
        },
    }


# Output.


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def judged(r: dict[str, Any]) -> str:
    """A ratio against its target: '1.40 (target >= 2.0): not met'."""
    value = r["value"]
    if "met" in r:
        return f"{value}: {'met' if r['met'] else 'not met'}"
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
    results["brax_published_sac"] = {
        "source": "google/brax notebooks/training.ipynb, train_fn cell (sac.train entries)",
        "settings": BRAX_PUBLISHED_SAC,
        "sac_train_defaults": BRAX_SAC_DEFAULTS,
    }
    run_rows = {
        "inverted_pendulum": lambda: inverted_pendulum_row(
            _SEEDS.value or (1 if quick else 2), quick
        ),
        "reacher": lambda: reacher_row(_SEEDS.value or (1 if quick else 3), quick),
    }
    measured = {}
    for name in ROWS:
        if name in _ONLY.value:
            print(f"{name} ...", flush=True)
            row = run_rows[name]()
            row["date"] = datetime.datetime.now().isoformat(timespec="seconds")
            row["load_average_after"] = [round(x, 2) for x in os.getloadavg()]  # shared machine
            measured[name] = results["rows"][name] = row
            write_json(RESULTS, results)  # after every row
    print()
    print(
        f"machine: {json.dumps(results['machine'])}" + ("  (QUICK: smoke budgets)" if quick else "")
    )
    print(table(measured))


if __name__ == "__main__":
    app.run(main)
