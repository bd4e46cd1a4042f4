"""What every side-by-side benchmark shares: child processes, clocks, ratios, the report.

No flags here (each script defines its own): anchors.py, sac.py, minatar.py, atari.py
and host_envs.py import these.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from typing import Any

import jax
import numpy as np

from jaxrl_expert.atomic_files import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 3 * 3600  # per process: a stuck run fails its entry, not the benchmark
RESULT = "BENCH_RESULT "  # the line a child process prints its JSON result on


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


def attempt(who: str, fn, *args: Any) -> dict[str, Any]:
    """fn's entry, or an entry saying why it failed: one contender must not sink the others."""
    try:
        return {"who": who, **fn(*args)}
    except Exception as e:  # recorded in the table and the JSON
        print(f"  {who}: FAILED {e}", flush=True)
        return {"who": who, "error": str(e)}


def machine(**extra: Any) -> dict[str, Any]:
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
        **extra,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


# Brax's own agents (in our venv) and our saved policies, each evaluated in a child process.

BRAX_CHILD = """
import importlib, json, sys, time
import jax
import jax.numpy as jnp

# This JAX removed device_put_replicated, which Brax's PPO and SAC still call.
jax.device_put_replicated = lambda x, devs: jax.tree.map(lambda a: jnp.stack([a] * len(devs)), x)
from brax import envs

kwargs = json.loads(sys.argv[1])
agent = importlib.import_module(f"brax.training.agents.{kwargs.pop('agent')}.train")
env = envs.get_environment(kwargs.pop("env"), backend=kwargs.pop("backend"))
curve = []


def progress(step, metrics):
    curve.append({"step": int(step), "return": float(metrics["eval/episode_reward"]),
                  "eval_s": float(metrics["eval/walltime"]), "time": time.time(),
                  "sps": float(metrics.get("training/sps", float("nan")))})


agent.train(env, progress_fn=progress, **kwargs)
print("BENCH_RESULT", json.dumps(curve))
"""

OUR_EVAL_CHILD = """
import dataclasses, json, os, sys
import jax
from jaxrl_expert import envs, rollouts
from jaxrl_expert.checkpoints import load_policy

args = json.loads(sys.argv[1])
names = sorted(name for name in os.listdir(args["policies"])
               if name.isdigit() and (args["steps"] is None or int(name) in args["steps"]))
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
print("BENCH_RESULT", json.dumps(curve))
"""


def brax_run(agent: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Brax's own `agent` ('ppo' or 'sac') trained with `kwargs` (Brax's names, plus env and
    backend); its evaluations after every epoch (step 0, the untrained policy, dropped)."""
    args = json.dumps({"agent": agent, **kwargs})
    run = Run([sys.executable, "-c", BRAX_CHILD, args], REPO, child_env(None))
    evals = [e for e in run.result() if e["step"] > 0]
    return {
        "wall_s": run.wall_s,
        "curve": [[e["step"], e["return"]] for e in evals],
        "clock": {e["step"]: e["time"] - run.launch - e["eval_s"] for e in evals},
        "brax_reported_sps": [e["sps"] for e in evals],
    }


def evaluate_policies(
    policies: str, n_episodes: int, seed: int, deterministic: bool, cache_dir: str,
    steps: list[int] | None = None,
) -> tuple[list, float]:  # fmt: skip
    """(step, mean return) of every policy saved under `policies` (those at `steps` only,
    if given), in a child process; and that process's wall time."""
    args = {"policies": policies, "steps": steps, "n_episodes": n_episodes, "seed": seed,
            "deterministic": deterministic}  # fmt: skip
    run = Run([sys.executable, "-c", OUR_EVAL_CHILD, json.dumps(args)], REPO, child_env(cache_dir))
    return run.result(), run.wall_s


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
    """Process start to the end of each logged iteration: the first from its log line's
    timestamp, each later one adding its interval (steps / steps_per_second of
    metrics.jsonl; policy saves run on a thread beside training)."""
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


# Figures of a race: curves (env steps, return) and clocks (env steps, seconds).


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


# Output.


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def judged(r: dict[str, Any]) -> str:
    """A ratio against its target: '1.40 (target <= 0.8): not met'."""
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
