"""Expert generation: transitions/s written to disk, and peak memory against the request size.

    python benchmarks/generate.py           # writes benchmarks/results/generate.json
    python benchmarks/generate.py --sizes 1000000 10000000 --policy=output/run

Trains a seals/CartPole-v0 policy (20k steps; its speed, not its quality,
matters here) unless --policy is given. Each size runs `generate` in a fresh
subprocess: a one-part warm-up request first (the compile; same program),
then the timed request into an empty directory. Throughput counts the
transitions in the written part files over the timed request's wall time,
npz writes (uncompressed, fsynced) and manifest updates included. Peak RSS
is the subprocess's `ru_maxrss` (warm-up included); flat across sizes means
host memory does not grow with the request.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.throughput import machine  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402

SHARD_SIZE = 1_000_000
SIZES = (1_000_000, 10_000_000, 30_000_000, 100_000_000)


def child(policy: str, n_timesteps: int, shard_size: int, n_envs: int, scratch: str) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    from jaxrl_expert.generate import generate

    start = time.perf_counter()
    generate(policy, os.path.join(scratch, "warmup"), n_timesteps=shard_size,
             shard_size=shard_size, n_envs=n_envs)  # fmt: skip
    warmup_s = time.perf_counter() - start
    out = os.path.join(scratch, "out")
    start = time.perf_counter()
    manifest = generate(policy, out, n_timesteps=n_timesteps, shard_size=shard_size, n_envs=n_envs)
    seconds = time.perf_counter() - start
    total = manifest["totals"]["n_transitions"]
    disk = sum(part["bytes"] for part in manifest["parts"])
    result = {
        "n_timesteps": n_timesteps,
        "n_transitions": total,
        "n_parts": manifest["totals"]["n_parts"],
        "seconds": round(seconds, 2),
        "transitions_per_s": round(total / seconds),
        "bytes_per_transition": round(disk / total, 1),
        "warmup_with_compile_s": round(warmup_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result), flush=True)


def measure(policy: str, n_timesteps: int, shard_size: int, n_envs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="generate-bench-") as scratch:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            f"--policy={policy}",
            f"--n_timesteps={n_timesteps}",
            f"--shard_size={shard_size}",
            f"--n_envs={n_envs}",
            f"--scratch={scratch}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def train_policy(log_dir: str) -> str:
    from jaxrl_expert.train_rl import train_rl

    train_rl(log_dir=log_dir, total_timesteps=20_000, policy_save_interval=0)
    return os.path.join(log_dir, "policies", "final")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help="policy or run directory; default: train one")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--shard_size", type=int, default=SHARD_SIZE)
    parser.add_argument("--n_envs", type=int, default=None, help="default: generate's default")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n_timesteps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.n_envs is None:
        from jaxrl_expert.generate import DEFAULT_N_ENVS

        args.n_envs = DEFAULT_N_ENVS
    if args.child:
        child(args.policy, args.n_timesteps, args.shard_size, args.n_envs, args.scratch)
        return
    train_dir = None
    if args.policy is None:
        train_dir = tempfile.mkdtemp(prefix="generate-bench-policy-")
        args.policy = train_policy(train_dir)
    try:
        cases = [measure(args.policy, n, args.shard_size, args.n_envs) for n in args.sizes]
    finally:
        if train_dir is not None:
            shutil.rmtree(train_dir, ignore_errors=True)
    result = {
        "machine": machine(),
        "env_id": "seals/CartPole-v0",
        "policy": "trained 20k steps" if train_dir is not None else args.policy,
        "shard_size": args.shard_size,
        "n_envs": args.n_envs,
        "npz": "uncompressed (rollouts.save compress=False), fsynced, atomic",
        "cases": cases,
        "targets": {"transitions_per_s": ">= 1e6", "peak_rss_at_100M": "< 2 GiB"},
    }
    write_json(os.path.join(REPO, "benchmarks", "results", "generate.json"), result)


if __name__ == "__main__":
    main()
