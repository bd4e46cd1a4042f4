"""A `generate` output converted to HF datasets and to Minari: peak RSS and transitions/s.

    python benchmarks/exports.py           # 1e7 transitions; writes benchmarks/results/exports.json
    python benchmarks/exports.py --policy=output/run --keep
    python benchmarks/exports.py --quick   # 1e5 transitions in 25k-transition parts: the plumbing

Issue 17: a 1e7-transition `generate` output converts to HF and to Minari with peak RSS
< 2 GiB. Steps, each a fresh child process of this one:
1. train: a seals/CartPole-v0 policy, 20k steps (`python -m jaxrl_expert.train_rl`; its
   speed, not its quality, matters here), unless --policy names one.
2. generate: `jaxrl_expert.generate.generate(policy, out, n_timesteps=--transitions)` in
   parts of --shard_size (generate's default, 1e6, unless --quick).
3. hf: `jaxrl_expert.export.export_hf(out, dir)`, what `--format=hf` runs.
4. minari: `jaxrl_expert.export.export_minari(out, "cartpole/bench-v0")`, what
   `--format=minari` runs (the policy from the generate manifest), with
   MINARI_DATASETS_PATH (and HF_DATASETS_CACHE) in the scratch directory.

Per step: wall s (process start to exit, imports included), call s (the one call above,
its libraries already imported: datasets, or minari and h5py; generate's includes its
sampler's compile, a few seconds), transitions/s = the transitions written / call s,
output bytes on disk, and peak RSS: `ru_maxrss` of the child as `os.wait4` reports it
(the largest of the child and anything it waited for), cross-checked by sampling /proc
every 50 ms (the process tree's summed VmRSS, and the child's RssAnon: RSS less
file-backed pages, such as Arrow's memory-mapped cache). The target is met when
ru_maxrss < 2048 MiB for hf and for minari (the issue's size is 1e7 transitions;
smaller runs report it too, as an indication).

The parts are read back from the page cache (generate has just written them); the
scratch directory is tempfile's (set TMPDIR to move it). Disk needed at 1e7: about
250 MB of parts plus the two exports (see bytes/transition in a --quick run). The
machine (CPU, cores, load average before and after: it may be shared) and the versions
of datasets, minari, h5py and pyarrow are recorded with the figures. --quick prints
its figures without writing the results file.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from jaxrl_expert.atomic_files import write_json  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "exports.json")
TRANSITIONS = 10_000_000
QUICK_TRANSITIONS, QUICK_SHARD_SIZE = 100_000, 25_000
TRAIN_TIMESTEPS = 20_000
TARGET_RSS_MIB = 2048  # < 2 GiB
DATASET_ID = "cartpole/bench-v0"
TIMEOUT_S = 3 * 3600  # per child: a stuck step fails, it does not hang the benchmark
POLL_S = 0.05
RESULT = "EXPORTS_RESULT "  # the line a child prints its JSON result on

_TRANSITIONS = flags.DEFINE_integer(
    "transitions",
    TRANSITIONS,
    f"transitions to generate and convert (--quick: {QUICK_TRANSITIONS:,})",
)
_POLICY = flags.DEFINE_string(
    "policy", None, "policy directory or run to generate from (default: train a CartPole one)"
)
_KEEP = flags.DEFINE_bool("keep", False, "keep the scratch directory (policy, parts, exports)")
_QUICK = flags.DEFINE_bool(
    "quick",
    False,
    f"smoke run: {QUICK_TRANSITIONS:,} transitions in {QUICK_SHARD_SIZE:,}-transition parts, "
    "no results file",
)
_SHARD_SIZE = flags.DEFINE_integer(
    "shard_size", None, f"transitions per part (default: generate's; --quick: {QUICK_SHARD_SIZE:,})"
)

# Each child imports what its step needs first, then times the one call.
CHILD = """
import json, sys, time
step, args = sys.argv[1], json.loads(sys.argv[2])
if step == "generate":
    from jaxrl_expert.generate import generate
elif step == "hf":
    import datasets, pyarrow.compute
    from jaxrl_expert.export import export_hf
else:
    import minari, h5py, gymnasium
    from jaxrl_expert.export import export_minari
start = time.perf_counter()
if step == "generate":
    manifest = generate(args["policy"], args["out"], n_timesteps=args["n_timesteps"],
                        shard_size=args["shard_size"])
    result = {"n_transitions": manifest["totals"]["n_transitions"],
              "n_trajectories": manifest["totals"]["n_episodes"],
              "n_parts": manifest["totals"]["n_parts"], "out": args["out"]}
elif step == "hf":
    result = export_hf(args["rollouts"], args["out"])
else:
    result = export_minari(args["rollouts"], args["dataset_id"])
result["call_s"] = time.perf_counter() - start
print("EXPORTS_RESULT", json.dumps(result), flush=True)
"""


def _status_kib(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile (KiB) of a live process; {} once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(VmRSS|RssAnon|RssFile):\s+(\d+) kB", text, re.M)}


def _descendants(pid: int) -> list[int]:
    """pid's live descendants (Linux's per-thread children lists)."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            stack += kids
    return found


class Measured:
    """One child process run to exit: wall time, ru_maxrss, sampled RSS, its result line."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: str) -> None:
        self.peak_tree_kib = self.peak_anon_kib = self.peak_file_kib = 0
        self.n_children_seen = 0
        with open(log_path, "w") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            stop = threading.Event()
            sampler = threading.Thread(target=self._sample, args=(proc.pid, stop), daemon=True)
            sampler.start()
            killer = threading.Timer(TIMEOUT_S, proc.kill)
            killer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
            finally:
                stop.set()
                killer.cancel()
            self.wall_s = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            sampler.join()
        self.max_rss_kib = usage.ru_maxrss  # KiB on Linux
        with open(log_path) as f:
            self.output = f.read()
        if proc.returncode:
            raise RuntimeError(
                f"exit {proc.returncode} after {self.wall_s:.0f} s: {tail(self.output)}"
            )

    def _sample(self, pid: int, stop: threading.Event) -> None:
        while not stop.is_set():
            main = _status_kib(pid)
            if main:
                kids = _descendants(pid)
                self.n_children_seen = max(self.n_children_seen, len(kids))
                tree = main.get("VmRSS", 0) + sum(_status_kib(k).get("VmRSS", 0) for k in kids)
                self.peak_tree_kib = max(self.peak_tree_kib, tree)
                self.peak_anon_kib = max(self.peak_anon_kib, main.get("RssAnon", 0))
                self.peak_file_kib = max(self.peak_file_kib, main.get("RssFile", 0))
            stop.wait(POLL_S)

    def result(self) -> dict[str, Any]:
        lines = [line for line in self.output.splitlines() if line.startswith(RESULT)]
        if not lines:
            raise RuntimeError(f"no result printed: {tail(self.output)}")
        return json.loads(lines[-1][len(RESULT) :])

    def memory(self) -> dict[str, Any]:
        mib = lambda kib: round(kib / 1024, 1)
        return {
            "peak_rss_mib": mib(self.max_rss_kib),
            "sampled_peak_tree_rss_mib": mib(self.peak_tree_kib),
            "sampled_peak_anon_rss_mib": mib(self.peak_anon_kib),
            "sampled_peak_file_rss_mib": mib(self.peak_file_kib),
            "child_processes_seen": self.n_children_seen,
        }


def tail(text: str, n: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-n:])


def disk_bytes(path: str) -> int:
    """Bytes of the files under path (or of the file)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def run_step(step: str, args: dict[str, Any], env: dict[str, str], scratch: str) -> dict[str, Any]:
    """One step in a fresh child process: its result, timings, memory and output size."""
    print(f"{step} ...", flush=True)
    cmd = [sys.executable, "-c", CHILD, step, json.dumps(args)]
    run = Measured(cmd, env, os.path.join(scratch, f"{step}.log"))
    result = run.result()
    n = result["n_transitions"]
    row = {
        "n_transitions": n,
        "n_trajectories": result["n_trajectories"],
        "wall_s": round(run.wall_s, 2),
        "call_s": round(result["call_s"], 2),
        "transitions_per_s": round(n / result["call_s"]),
        "transitions_per_s_wall": round(n / run.wall_s),
        **run.memory(),
        "out_bytes": disk_bytes(result["out"]),
    }
    row["bytes_per_transition"] = round(row["out_bytes"] / n, 1)
    if "n_parts" in result:
        row["n_parts"] = result["n_parts"]
    print(f"  {json.dumps(row)}", flush=True)
    return row


def train_policy(scratch: str, env: dict[str, str]) -> dict[str, Any]:
    """A seals/CartPole-v0 policy, TRAIN_TIMESTEPS steps: `python -m jaxrl_expert.train_rl`."""
    print(f"train: seals/CartPole-v0, {TRAIN_TIMESTEPS:,} steps ...", flush=True)
    log_dir = os.path.join(scratch, "policy_run")
    cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}",
           f"--config.total_timesteps={TRAIN_TIMESTEPS}", "--noprogress"]  # fmt: skip
    run = Measured(cmd, env, os.path.join(scratch, "train.log"))
    policy = os.path.join(log_dir, "policies", "final")
    if not os.path.isfile(os.path.join(policy, "metadata.json")):
        raise RuntimeError(f"training wrote no final policy: {tail(run.output)}")
    print(f"  trained in {run.wall_s:.1f} s: {policy}", flush=True)
    return {"policy": policy, "wall_s": round(run.wall_s, 2)}


def versions() -> dict[str, str | None]:
    found = {}
    for name in ("datasets", "minari", "h5py", "pyarrow", "gymnasium", "numpy", "jax"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    """What the figures are recorded with (the machine may be shared: load before and after)."""
    with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    with open("/proc/meminfo") as f:
        mem_kib = int(re.search(r"^MemTotal:\s+(\d+)", f.read(), re.M).group(1))
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return {
        "cpu": models[0] if models else platform.processor(),
        "cores": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def table(results: dict[str, Any]) -> str:
    head = (
        f"{'step':9s} {'transitions':>12s} {'wall s':>8s} {'call s':>8s} {'transitions/s':>14s} "
        f"{'peak RSS MiB':>12s} {'anon MiB':>9s} {'tree MiB':>9s} {'out MiB':>8s} {'B/trans':>8s}"
    )
    lines = [head, "-" * len(head)]
    for step, row in results["steps"].items():
        if "error" in row:
            lines.append(f"{step:9s} FAILED: {row['error'][:400]}")
            continue
        lines.append(
            f"{step:9s} {row['n_transitions']:>12,d} {row['wall_s']:>8.1f} {row['call_s']:>8.1f} "
            f"{row['transitions_per_s']:>14,d} {row['peak_rss_mib']:>12.0f} "
            f"{row['sampled_peak_anon_rss_mib']:>9.0f} {row['sampled_peak_tree_rss_mib']:>9.0f} "
            f"{row['out_bytes'] / 2**20:>8.1f} {row['bytes_per_transition']:>8.1f}"
        )
    target = results["target"]
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    lines.append("")
    lines.append(
        f"target: peak RSS < {TARGET_RSS_MIB} MiB converting {target['at_transitions']:,} "
        f"transitions: hf {verdict[target['hf']]}, minari {verdict[target['minari']]}"
        + ("" if target["at_issue_size"] else f" (at {results['transitions']:,}: indicative only)")
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quick = _QUICK.value
    transitions = _TRANSITIONS.value
    if quick and not flags.FLAGS["transitions"].present:
        transitions = QUICK_TRANSITIONS
    shard_size = _SHARD_SIZE.value or (QUICK_SHARD_SIZE if quick else None)
    if transitions < 1:
        raise app.UsageError(f"--transitions={transitions} is invalid; must be >= 1")
    policy = os.path.abspath(_POLICY.value) if _POLICY.value else None
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "quick": quick,
        "transitions": transitions,
        "shard_size": shard_size,  # None: generate's default
        "env_id": "seals/CartPole-v0" if policy is None else None,
        "policy": f"trained {TRAIN_TIMESTEPS:,} steps" if policy is None else policy,
        "steps": {},
    }
    scratch = tempfile.mkdtemp(prefix="exports-bench-")
    env = dict(os.environ)
    env.update(
        MINARI_DATASETS_PATH=os.path.join(scratch, "minari"),
        HF_DATASETS_CACHE=os.path.join(scratch, "hf_cache"),
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])]),
    )
    print(f"scratch: {scratch}", flush=True)
    try:
        if policy is None:
            trained = train_policy(scratch, env)
            policy = trained["policy"]
            results["train_wall_s"] = trained["wall_s"]
        rollouts = os.path.join(scratch, "generated")
        steps = {
            "generate": {"policy": policy, "out": rollouts, "n_timesteps": transitions,
                         "shard_size": shard_size},
            "hf": {"rollouts": rollouts, "out": os.path.join(scratch, "hf")},
            "minari": {"rollouts": rollouts, "dataset_id": DATASET_ID},
        }  # fmt: skip
        for step, args in steps.items():
            try:
                results["steps"][step] = run_step(step, args, env, scratch)
            except Exception as e:  # recorded in the table and the JSON
                print(f"  {step}: FAILED {e}", flush=True)
                results["steps"][step] = {"error": str(e)}
                if step == "generate":
                    break  # nothing to convert
        generated = results["steps"].get("generate", {}).get("n_transitions")
        for step in ("hf", "minari"):
            row = results["steps"].get(step, {})
            if "n_transitions" in row and row["n_transitions"] != generated:
                row["error"] = f"converted {row['n_transitions']} transitions of {generated}"
    finally:
        if _KEEP.value:
            print(f"kept: {scratch}", flush=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    def met(step: str) -> bool | None:
        row = results["steps"].get(step, {})
        return None if "error" in row or not row else row["peak_rss_mib"] < TARGET_RSS_MIB

    results["target"] = {
        "peak_rss_mib_below": TARGET_RSS_MIB,
        "at_transitions": TRANSITIONS,
        "at_issue_size": transitions >= TRANSITIONS,
        "hf": met("hf"),
        "minari": met("minari"),
    }
    if not quick:
        write_json(RESULTS, results)
    print()
    print(f"machine: {json.dumps(results['machine'])}" + ("  (QUICK)" if quick else ""))
    print(f"versions: {json.dumps(results['versions'])}")
    print(table(results))


if __name__ == "__main__":
    app.run(main)
