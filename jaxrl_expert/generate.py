"""Batched expert-rollout generation from saved policies: resumable npz parts.

    python -m jaxrl_expert.generate --policy=output/run --n_timesteps=10000000 \\
        --shard_size=1000000 --out=demos

`--policy` is a policy directory (it holds metadata.json), a training run
(its `policies/final/` is used) or a multi-seed run (each
`seed_{i}/policies/final/` generates into `{out}/seed_{i}/`).

Semantics are imitation's generate_trajectories (as train_rl's rollouts):
only complete episodes; with n_timesteps at least that many transitions in
all, with n_episodes exactly that many episodes; no bias toward short
episodes. The work is split into parts, one compiled sampler call each:

- n_timesteps: part k asks for min(shard_size, what is still missing)
  transitions and, like imitation, lets every env finish the episode it is in
  once that many are in, so a part holds at least what it asked for (less
  than envs * horizon more). A part asking for less than shard_size runs
  proportionally fewer of its envs. Parts follow until the total is reached.
- n_episodes: part k holds min(shard_size, what is still missing) episodes,
  one per parallel env, so ceil(n_episodes / shard_size) parts.

Every part of a request runs the one program compiled for
min(shard_size, request) (a smaller last part passes a smaller traced
target); policies of the same architecture and env share it within a
process. Part k's key is fold_in(base, k) with base = PRNGKey(seed) (for
seed i of a multi-seed run, a base folded with i), and its target depends
only on the parts before it, so a resumed run writes byte-identical parts.

Each part is written atomically to `{out}/part-{k:05d}.npz` (the imitation
layout of `rollouts.save`, uncompressed), then `{out}/manifest.json` is
rewritten to list it. Re-running with the same arguments resumes after the
last listed part whose file is intact; any other file is rewritten. Host
memory is bounded by two parts, whatever the request: while part k is
converted and written, part k+1 is being sampled; nothing is kept across
parts. A part's sampling buffer has room for its worst case: about
shard_size + 2 * n_envs * horizon steps with n_timesteps, and
shard_size * horizon with n_episodes (choose shard_size by that).

The env axis of the sampler is sharded over all local devices (a 1-d Mesh)
when the part's parallel env count is divisible by the device count, else
it runs on one device.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import jax
import numpy as np
from absl import app, flags, logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrl_expert import cli, envs, layout, rollouts
from jaxrl_expert.atomic_files import read_versioned_json, write_json
from jaxrl_expert.checkpoints import METADATA_FILE, load_policy, read_metadata
from jaxrl_expert.devices import ENV_AXIS
from jaxrl_expert.logging import configure_console
from jaxrl_expert.policy import Policy, PolicySpec

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
# shard_size=None: this many transitions (n_timesteps) or episodes (n_episodes) per part.
DEFAULT_SHARD_SIZE = {"n_timesteps": 1_000_000, "n_episodes": 1_000}
DEFAULT_N_ENVS = 4096
MAX_SHARD_SIZE = 10**9  # step counters in the sampler are int32


def part_file(k: int) -> str:
    return f"part-{k:05d}.npz"


def policy_dirs(path: str) -> dict[str | None, str]:
    """{subdirectory of out (None: out itself): policy directory} for a --policy path."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, METADATA_FILE)):
        return {None: path}
    if not os.path.isdir(path):
        raise ValueError(f"policy={path!r} is invalid; no such directory")
    seeds = layout.existing_seed_dirs(path)
    if seeds:
        found = {name: layout.policy_dir(run, layout.FINAL) for name, run in seeds.items()}
        missing = [p for p in found.values() if not os.path.isdir(p)]
        if missing:
            raise ValueError(
                f"policy={path!r} is invalid; this multi-seed run lacks final policies {missing}"
            )
        return found
    final = layout.policy_dir(path, layout.FINAL)
    if os.path.isdir(final):
        return {None: final}
    raise ValueError(
        f"policy={path!r} is invalid; must be a policy directory (with {METADATA_FILE}), a "
        "training run (with policies/final/) or a multi-seed run (with seed_*/policies/final/)"
    )


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not is_int or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} is invalid; must be {allowed}")


def make_request(
    n_timesteps: int | None,
    n_episodes: int | None,
    shard_size: int | None,
    n_envs: int,
    seed: int,
    deterministic: bool,
) -> dict[str, Any]:
    """The validated request (shard_size resolved); what a manifest must match to resume."""
    if (n_timesteps is None) == (n_episodes is None):
        raise ValueError(
            f"n_timesteps={n_timesteps!r}, n_episodes={n_episodes!r} is invalid; "
            "exactly one of them must be set"
        )
    mode = "n_timesteps" if n_episodes is None else "n_episodes"
    _check_int(mode, n_timesteps if n_episodes is None else n_episodes, 1)
    if shard_size is None:
        shard_size = DEFAULT_SHARD_SIZE[mode]
    _check_int("shard_size", shard_size, 1, MAX_SHARD_SIZE)
    _check_int("n_envs", n_envs, 1)
    _check_int("seed", seed, 0, 2**32 - 1)
    if not isinstance(deterministic, bool | np.bool_):
        raise ValueError(f"deterministic={deterministic!r} is invalid; must be a bool")
    return {
        "n_timesteps": None if n_timesteps is None else int(n_timesteps),
        "n_episodes": None if n_episodes is None else int(n_episodes),
        "shard_size": int(shard_size),
        "n_envs": int(n_envs),
        "seed": int(seed),
        "deterministic": bool(deterministic),
    }


def _is_complete(request: dict[str, Any], n_transitions: int, n_episodes: int) -> bool:
    if request["n_episodes"] is not None:
        return n_episodes >= request["n_episodes"]
    return n_transitions >= request["n_timesteps"]


def _next_target(request: dict[str, Any], n_transitions: int, n_episodes: int) -> int:
    if request["n_episodes"] is not None:
        return min(request["shard_size"], request["n_episodes"] - n_episodes)
    return min(request["shard_size"], request["n_timesteps"] - n_transitions)


def _new_manifest(request: dict[str, Any], policy_dir: str, policy: Policy) -> dict[str, Any]:
    metadata = read_metadata(policy_dir)
    return {
        "format_version": MANIFEST_VERSION,
        "policy": policy_dir,
        "policy_sha256": policy.digest(),  # what the parts come from, not only where
        "policy_timesteps": metadata.get("timesteps"),
        "env_id": metadata["env_id"],
        "env_kwargs": metadata["env_kwargs"],
        "seed": request["seed"],
        "request": request,
        "parts": [],
        "totals": {"n_parts": 0, "n_transitions": 0, "n_episodes": 0},
        "complete": False,
    }


def _read_manifest(out_dir: str) -> dict[str, Any] | None:
    path = os.path.join(out_dir, MANIFEST_FILE)
    if not os.path.exists(path):
        return None
    return read_versioned_json(path, MANIFEST_VERSION, "manifest")


def _resumed_manifest(
    out_dir: str, request: dict[str, Any], policy_dir: str, policy: Policy
) -> dict[str, Any]:
    """The manifest to continue from: a fresh one, or the intact prefix of the one in out_dir."""
    manifest = _new_manifest(request, policy_dir, policy)
    old = _read_manifest(out_dir)
    if old is None:
        others = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
        others = [name for name in others if not name.startswith(".tmp-")]
        if others:
            raise ValueError(
                f"out={out_dir!r} holds other files ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}) and no {MANIFEST_FILE}; "
                "use a new or empty directory"
            )
        return manifest
    theirs = {**old.get("request", {}), "policy": old.get("policy")}
    ours = {**request, "policy": policy_dir}
    differ = [
        f"{k}={theirs.get(k)!r} there, {ours[k]!r} here" for k in ours if theirs.get(k) != ours[k]
    ]
    if differ:
        raise ValueError(
            f"out={out_dir!r} holds a manifest for a different request ({'; '.join(differ)}); "
            "re-run with the same arguments to resume, or use a new out directory"
        )
    if old.get("parts") and old.get("policy_sha256") != manifest["policy_sha256"]:
        raise ValueError(
            f"out={out_dir!r} holds parts of a policy with content sha256 "
            f"{old.get('policy_sha256')}, but {policy_dir!r} now holds sha256 "
            f"{manifest['policy_sha256']} (the policy was replaced); use a new out directory"
        )
    for part in old.get("parts", []):
        file = os.path.join(out_dir, part["file"])
        if part["file"] != part_file(len(manifest["parts"])) or not os.path.isfile(file):
            break
        if os.path.getsize(file) != part.get("bytes"):
            break
        _add_part(manifest, part)
    return manifest


def _add_part(manifest: dict[str, Any], part: dict[str, Any]) -> None:
    manifest["parts"].append(part)
    totals = manifest["totals"]
    totals["n_parts"] += 1
    totals["n_transitions"] += part["n_transitions"]
    totals["n_episodes"] += part["n_episodes"]
    manifest["complete"] = _is_complete(
        manifest["request"], totals["n_transitions"], totals["n_episodes"]
    )


def _remove_temporaries(out_dir: str) -> None:
    """Leftovers of writes killed before their rename (atomic_files' `.tmp-` names)."""
    if os.path.isdir(out_dir):
        for name in os.listdir(out_dir):
            if name.startswith((".tmp-part-", f".tmp-{MANIFEST_FILE}")):
                os.remove(os.path.join(out_dir, name))


# ---------------------------------------------------------------------------
# The compiled sampler.


@dataclasses.dataclass(frozen=True)
class _ProgramKey:
    """Everything the compiled program depends on besides the policy's arrays."""

    policy: PolicySpec
    n_envs: int
    n_timesteps: int | None  # one part's: min(shard_size, request)
    n_episodes: int | None
    deterministic: bool

    @classmethod
    def of(cls, policy: PolicySpec, request: dict[str, Any]) -> _ProgramKey:
        size = lambda n: None if n is None else min(request["shard_size"], n)
        return cls(
            policy,
            request["n_envs"],
            size(request["n_timesteps"]),
            size(request["n_episodes"]),
            request["deterministic"],
        )


class _Program:
    """`sample(policy, key, target) -> records`: jitted, env axis sharded over local devices."""

    def __init__(self, key: _ProgramKey) -> None:
        spec = key.policy
        env = spec.make_env()
        n_parallel, _ = rollouts.sample_shape(env, key.n_envs, key.n_timesteps, key.n_episodes)
        devices = jax.local_devices()
        on_host = isinstance(env, envs.HostEnv)  # steps in this process: one device
        self.n_devices = len(devices) if n_parallel % len(devices) == 0 and not on_host else 1
        self.n_parallel = n_parallel
        if self.n_devices > 1:
            mesh = Mesh(np.asarray(devices), (ENV_AXIS,))
            on_envs = NamedSharding(mesh, P(ENV_AXIS))
            constrain = lambda x: jax.lax.with_sharding_constraint(x, on_envs)
            out_shardings = NamedSharding(mesh, P(None, ENV_AXIS))  # (rows, envs, ...)
        else:
            constrain = lambda x: x
            out_shardings = None

        def sample(policy: Policy, rng: jax.Array, target: jax.Array):
            act = lambda obs, k: constrain(policy.act(constrain(obs), k, key.deterministic))
            sampler = rollouts.make_sampler(env, act, key.n_envs, key.n_timesteps, key.n_episodes)
            return sampler(rng, target)

        self._sample = jax.jit(sample, out_shardings=out_shardings)

    def __call__(self, policy: Policy, key: jax.Array, target: int) -> Any:
        return self._sample(policy, key, np.int32(target))


_PROGRAMS: dict[_ProgramKey, _Program] = {}
_MAX_PROGRAMS = 8


def _program(policy: Policy, request: dict[str, Any]) -> _Program:
    """The compiled program for this policy's spec, shared by every call in this process."""
    key = _ProgramKey.of(policy.spec, request)
    if key not in _PROGRAMS:
        if len(_PROGRAMS) >= _MAX_PROGRAMS:
            del _PROGRAMS[next(iter(_PROGRAMS))]
        _PROGRAMS[key] = _Program(key)
    return _PROGRAMS[key]


def _part_arrays(records: Any) -> dict[str, np.ndarray]:
    """records_to_arrays on the buffer rows in use (the sampler's buffer has slack)."""
    kept = np.asarray(records.kept)
    rows = np.flatnonzero(kept.any(axis=1))
    used = int(rows[-1]) + 1 if len(rows) else 0
    return rollouts.records_to_arrays(jax.tree.map(lambda x: np.asarray(x)[:used], records))


# ---------------------------------------------------------------------------


def generate(
    policy_path: str,
    out_dir: str,
    n_timesteps: int | None = None,
    n_episodes: int | None = None,
    shard_size: int | None = None,
    n_envs: int = DEFAULT_N_ENVS,
    seed: int = 0,
    deterministic: bool = False,
) -> dict[str, Any]:
    """Writes rollouts of the policy at `policy_path` to npz parts under `out_dir`.

    Exactly one of n_timesteps (at least that many transitions) and
    n_episodes (exactly that many episodes). shard_size: transitions (or
    episodes) per part; None gives DEFAULT_SHARD_SIZE. n_envs: parallel envs
    per part with n_timesteps (with n_episodes each part runs one env per
    episode). Resumes from `{out_dir}/manifest.json`; see the module doc.

    Returns the manifest; for a multi-seed run, {"seed_{i}": manifest}.
    Arguments are checked, and every manifest to resume is matched, before
    any compile.
    """
    request = make_request(n_timesteps, n_episodes, shard_size, n_envs, seed, deterministic)
    out_dir = os.path.abspath(out_dir)
    jobs = []
    for name, policy_dir in policy_dirs(policy_path).items():
        job_out = out_dir if name is None else os.path.join(out_dir, name)
        policy = load_policy(policy_dir)
        manifest = _resumed_manifest(job_out, request, policy_dir, policy)
        jobs.append((name, job_out, manifest, policy))
    results = {}
    for name, job_out, manifest, policy in jobs:
        # Seeds of a multi-seed run draw from distinct key streams.
        stream = None if name is None else layout.seed_index(name)
        results[name] = _generate_one(job_out, manifest, policy, stream)
    return results.get(None, results)


def _generate_one(
    out_dir: str, manifest: dict[str, Any], policy: Policy, stream: int | None
) -> dict[str, Any]:
    request = manifest["request"]
    os.makedirs(out_dir, exist_ok=True)
    _remove_temporaries(out_dir)
    manifest_path = os.path.join(out_dir, MANIFEST_FILE)
    if _read_manifest(out_dir) != manifest:
        write_json(manifest_path, manifest)  # a truncated or fresh manifest replaces any other
    if manifest["complete"]:
        logging.info("%s: complete (%s)", out_dir, manifest["totals"])
        return manifest
    program = _program(policy, request)
    base_key = jax.random.PRNGKey(request["seed"])
    if stream is not None:
        base_key = jax.random.fold_in(base_key, 1_000_003 + stream)
    logging.info(
        "%s: %s from part %d (%d parallel envs on %d device(s))",
        out_dir,
        {k: v for k, v in request.items() if v is not None},
        len(manifest["parts"]),
        program.n_parallel,
        program.n_devices,
    )

    def dispatch(k: int, totals: dict[str, int]) -> Any:
        target = _next_target(request, totals["n_transitions"], totals["n_episodes"])
        return program(policy, jax.random.fold_in(base_key, k), target)

    start, written = time.perf_counter(), 0
    k = len(manifest["parts"])
    pending = dispatch(k, manifest["totals"])
    while pending is not None:
        records, pending = pending, None
        kept = np.asarray(records.kept)  # waits for part k
        expected = dict(manifest["totals"])
        expected["n_transitions"] += int(np.count_nonzero(kept))
        expected["n_episodes"] += int(np.count_nonzero(kept & np.asarray(records.done)))
        if not _is_complete(request, expected["n_transitions"], expected["n_episodes"]):
            pending = dispatch(k + 1, expected)  # sampled while part k is written
        arrays = _part_arrays(records)
        del records, kept
        file = os.path.join(out_dir, part_file(k))
        rollouts.save(file, arrays, compress=False)
        part = {
            "file": part_file(k),
            "n_transitions": len(arrays["acts"]),
            "n_episodes": len(arrays["terminal"]),
            "bytes": os.path.getsize(file),
        }
        del arrays
        _add_part(manifest, part)
        write_json(manifest_path, manifest)
        written += part["n_transitions"]
        elapsed = time.perf_counter() - start
        logging.info(
            "%s: %s, %d transitions, %d episodes; total %s (%.0f transitions/s)",
            out_dir,
            part["file"],
            part["n_transitions"],
            part["n_episodes"],
            manifest["totals"],
            written / elapsed,
        )
        k += 1
    return manifest


# ---------------------------------------------------------------------------
# CLI


def _define_flags(module_name: str) -> None:
    """The command's flags, with generate's defaults (defined by `cli.run` only)."""
    main = {"module_name": module_name}
    flags.DEFINE_string(
        "policy", None, "policy directory, training run, or multi-seed run (seed_*/)", **main
    )
    flags.DEFINE_string("out", None, "output directory (parts + manifest.json)", **main)
    flags.DEFINE_integer("n_timesteps", None, "at least this many transitions", **main)
    flags.DEFINE_integer("n_episodes", None, "exactly this many episodes", **main)
    flags.DEFINE_integer(
        "shard_size", None,
        f"transitions (n_timesteps) or episodes (n_episodes) per part file (default: "
        f"{DEFAULT_SHARD_SIZE['n_timesteps']:,} or {DEFAULT_SHARD_SIZE['n_episodes']:,})",
        **main,
    )  # fmt: skip
    flags.DEFINE_integer("n_envs", DEFAULT_N_ENVS, "parallel envs (with n_timesteps)", **main)
    flags.DEFINE_integer("seed", 0, "part k uses fold_in(PRNGKey(seed), k)", **main)
    flags.DEFINE_bool("deterministic", False, "act with the policy's mode", **main)
    flags.mark_flags_as_required(["policy", "out"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    names = ("n_timesteps", "n_episodes", "shard_size", "n_envs", "seed", "deterministic")
    try:  # the flags are generate's keyword arguments, by name
        result = generate(FLAGS.policy, FLAGS.out, **{name: FLAGS[name].value for name in names})
    except ValueError as e:  # a bad flag value or --policy: one line, not a traceback
        raise app.UsageError(str(e)) from None
    if "request" in result:
        summary = result["totals"]
    else:
        summary = {name: manifest["totals"] for name, manifest in result.items()}
    print(json.dumps(summary, indent=2))


def main_console() -> None:
    """Console entry point (`jaxrl-generate`; `python -m jaxrl_expert.generate`)."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    main_console()
