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
- reacher: ours only, `configs/sac_reacher.py` (Brax publishes no SAC settings for reacher)
  on Brax's reacher: every seed's evaluation (the policy's mode, 50 episodes) reaches -10
  within 30 minutes of process start. Its steps are the config's env steps (4 physics
  steps each, at action_repeat 4).

The inverted_pendulum row's budget and evaluation steps count Brax's env steps (physics
steps: ours times action_repeat), as num_timesteps does.

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

import json
import os
import sys
import tempfile
from importlib.metadata import version
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
)

RESULTS = os.path.join(REPO, "benchmarks", "results", "sac.json")
ROWS = ("inverted_pendulum", "reacher")
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
BACKENDS = {"inverted_pendulum": "generalized"}
EVAL_EPISODES = {"inverted_pendulum": 64, "reacher": 50}
REACHER_CONFIG = os.path.join(REPO, "configs", "sac_reacher.py")

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
_REACHER_STEPS = flags.DEFINE_integer(
    "reacher_steps", None, "reacher budget in env steps (default: configs/sac_reacher.py's)"
)
_REACHER_EVERY = flags.DEFINE_integer("reacher_every", 200_000, "reacher env steps between evals")
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic_eval", False, "evaluate both sides with the policy's mode (Brax: sampled)"
)

CONFIG_FILE = '''"""{doc} (written by benchmarks/sac.py)."""

from jaxrl_expert.config import apply_overrides, {factory}


def get_config():
    config = {factory}({arguments})
    apply_overrides(config, {overrides!r})
    return config
'''


def train_and_evaluate(
    config_text: str, every: int, steps: list[int], n_episodes: int, seed: int,
    deterministic: bool,
) -> dict[str, Any]:  # fmt: skip
    """train_rl on a config file's text, saving a policy every `every` env steps; afterwards
    the policies at `steps` (env steps) evaluated in a separate process (not timed)."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file = os.path.join(tmp, "config.py")
        with open(config_file, "w") as f:
            f.write(config_text)
        run_dir = os.path.join(tmp, "run")
        cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--config={config_file}"]
        run = Run([*cmd, f"--log_dir={run_dir}"], REPO, child_env(os.path.join(tmp, "cache")))
        clock = our_clock(run_dir, run)
        curve, eval_s = evaluate_policies(
            os.path.join(run_dir, "policies"), n_episodes, seed, deterministic,
            os.path.join(tmp, "eval_cache"), steps,
        )  # fmt: skip
    missing = sorted(set(steps) - {s for s, _ in curve})
    if missing:
        raise RuntimeError(f"no policy saved at steps {missing}")
    return {"wall_s": run.wall_s, "eval_process_s": eval_s, "curve": curve, "clock": clock}


def saving_overrides(seed: int, every: int, n_envs: int) -> dict[str, Any]:
    """A policy saved and a line logged every `every` env steps; no checkpoints."""
    return {
        "seed": seed,
        "policy_save_interval": every,
        "checkpoint_interval": 0,
        "log_interval": every // n_envs,  # iterations of n_envs steps
        "rollout_save_n_episodes": 1,  # the per-save rollouts are not what is measured
    }


def ours_run(row: str, settings: dict, every: int, seed: int) -> dict:
    """train_rl on a config from brax_sac_config, evaluated at Brax's evaluation steps
    (`every` and the curve count physics steps: our env steps times action_repeat)."""
    ours = {k: settings[k] for k in (*SHARED, "num_timesteps")}
    ours["backend"] = BACKENDS[row]
    repeat = settings["action_repeat"]
    steps = [s // repeat for s in eval_steps(settings, every)]  # our env steps
    overrides = saving_overrides(seed, every // repeat, settings["num_envs"])
    text = CONFIG_FILE.format(doc="Brax's SAC settings via brax_sac_config",
                              factory="brax_sac_config", arguments=f"'brax/{row}', **{ours!r}",
                              overrides=overrides)  # fmt: skip
    entry = train_and_evaluate(text, every // repeat, steps, EVAL_EPISODES[row], seed,
                               _DETERMINISTIC.value)  # fmt: skip
    return {
        **entry,
        "curve": [[s * repeat, value] for s, value in entry["curve"]],
        "clock": {s * repeat: entry["clock"][s] for s, _ in entry["curve"]},
    }


def brax_sac(row: str, settings: dict, seed: int) -> dict[str, Any]:
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
    return brax_run("sac", kwargs)


def race_settings(row: str, quick: bool) -> tuple[dict[str, Any], int]:
    """Brax's published settings with this race's budget, and the steps between evaluations."""
    settings = dict(BRAX_PUBLISHED_SAC[_SETTINGS.value])
    if quick:
        steps, every = 4096 * settings["action_repeat"], 1024 * settings["action_repeat"]
        settings.update(episode_length=100, min_replay_size=2048)
    else:
        steps, every = _IP_STEPS.value, _IP_EVERY.value
    n = settings["num_envs"] * settings["action_repeat"]
    prefill = settings["min_replay_size"] * settings["action_repeat"]  # Brax: transitions
    if every % n or prefill % every or steps % every or steps <= prefill:
        raise app.UsageError(
            f"{row}: the eval interval ({every}) must be a multiple of num_envs ({n}) and "
            f"divide min_replay_size ({prefill}) and the budget ({steps}), budget > prefill"
        )
    settings.update(num_timesteps=steps, num_evals=(steps - prefill) // every + 1)
    settings.pop("seed")  # each run's seed is its index
    return settings, every


def eval_steps(settings: dict[str, Any], every: int) -> list[int]:
    """The physics steps evaluated: those after each of Brax's epochs (prefill + k * every)."""
    prefill = settings["min_replay_size"] * settings["action_repeat"]
    return list(range(prefill + every, settings["num_timesteps"] + 1, every))


def inverted_pendulum_row(seeds: int, quick: bool) -> dict[str, Any]:
    """Return at equal env steps and training steps/s, ours against Brax's SAC."""
    row = "inverted_pendulum"
    settings, every = race_settings(row, quick)
    entries = []
    for seed in range(seeds):
        print(f"  {row} seed {seed}", flush=True)
        ours = attempt("ours", ours_run, row, settings, every, seed)
        brax = attempt("brax sac", brax_sac, row, settings, seed)
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


def reacher_settings(quick: bool) -> tuple[dict[str, Any], int]:
    """configs/sac_reacher.py's overrides for this run (budget; quick: a tiny one) and the
    env steps between evaluations."""
    if quick:
        return {"total_timesteps": 4096, "sac": {"learning_starts": 1024},
                "env_kwargs": {"episode_length": 400}}, 1024  # fmt: skip
    budget = {"total_timesteps": _REACHER_STEPS.value} if _REACHER_STEPS.value else {}
    return budget, _REACHER_EVERY.value


def reacher_row(seeds: int, quick: bool) -> dict[str, Any]:
    """Ours alone: every seed's evaluation reaches -10 within 30 minutes of process start."""
    from jaxrl_expert.config import apply_overrides, load_config_file

    changes, every = reacher_settings(quick)
    config = load_config_file(REACHER_CONFIG)
    apply_overrides(config, changes)
    total, n_envs = config.total_timesteps, config.sac.n_envs
    if every % n_envs or total % every:
        raise app.UsageError(
            f"reacher: the eval interval ({every}) must be a multiple of sac.n_envs ({n_envs}) "
            f"and divide the budget ({total})"
        )
    steps = list(range(every, total + 1, every))
    entries = []
    for seed in range(seeds):
        print(f"  reacher seed {seed}", flush=True)
        overrides = {**changes, **saving_overrides(seed, every, n_envs)}
        text = CONFIG_FILE.format(doc=f"{REACHER_CONFIG} with the benchmark's overrides",
                                  factory="load_config_file", arguments=repr(REACHER_CONFIG),
                                  overrides=overrides)  # fmt: skip
        ours = attempt("ours", train_and_evaluate, text, every, steps, EVAL_EPISODES["reacher"],
                       seed, True)  # fmt: skip
        entries.append({**finish(ours, REACHER_TARGET), "seed": seed})
    times = [e.get("time_to_target_s") for e in entries]
    met = [t is not None and t <= REACHER_LIMIT_S for t in times]
    return {
        "settings": {
            "config": os.path.relpath(REACHER_CONFIG, REPO),
            "overrides": changes,
            "total_timesteps": total,
            "steps": "env steps (action_repeat 4: 4 physics steps each)",
            "evaluate_every_steps": every,
            "eval_episodes": EVAL_EPISODES["reacher"],
            "deterministic_eval": True,
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


def main(argv: list[str]) -> None:
    del argv
    unknown = set(_ONLY.value) - set(ROWS)
    if unknown:
        raise app.UsageError(f"--only: unknown rows {sorted(unknown)}; choose from {ROWS}")
    quick = _QUICK.value
    results = {"machine": machine(brax=version("brax")), "quick": quick, "rows": {}}
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
            record_row(RESULTS, results, measured, name, run_rows[name]())
    print_report(results, quick, table(measured))


if __name__ == "__main__":
    app.run(main)
