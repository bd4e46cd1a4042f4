"""Our PPO on gymnax MinAtar beside rejax's PPO, each run a fresh process: one table, one JSON.

    python benchmarks/minatar.py            # breakout, space_invaders -> results/minatar.json
    python benchmarks/minatar.py --games=breakout --steps=2000000 --seeds=2
    python benchmarks/minatar.py --quick    # tiny budgets: checks the plumbing in minutes

Rows (issue 18), one per game (breakout, space_invaders; asterix and freeway if asked and
their configs exist), each seed 0 .. seeds-1 on both sides with the same env-step budget
(--steps, each side rounded up to its own whole iterations; the steps actually trained
are recorded):
- ours: `python -m jaxrl_expert.train_rl --config=configs/minatar_<game>.py` with the
  budget, the seed and the evaluation size set, and policy saves, checkpoints and final
  rollouts off (rejax writes nothing either). Return: stats.json's monitor_return_mean,
  our final evaluation (EVAL_EPISODES episodes, sampled actions).
- rejax: rejax 0.1.3's PPO on the same gymnax id with rejax's published MinAtar settings
  (REJAX_SETTINGS: keraJLi/rejax benchmark/breakout_1m.yaml, its only MinAtar PPO config;
  used for every game). rejax's PPO is an MLP on the flattened 10x10xC grid. Return:
  rejax's own `rejax.evaluate` (EVAL_EPISODES episodes, sampled actions, up to the env's
  max_steps_in_episode) on the trained state, run after training.

Columns: wall s is process start to exit (imports, compiles, evaluation included);
train steps/s excludes compilation: rejax's jitted train function is lowered and compiled
first and timed apart (no evaluation inside it: its eval_callback is a no-op), ours is
taken from metrics.jsonl between the first and the last log point (steps / steps_per_second
of every later log interval; ~20 log points), so the first interval, which holds the
compile, is left out. Each
process compiles from scratch (ours with --nocompilation_cache, rejax with no persistent
cache). "published" is the return gymnax's README lists for gymnax-blines' PPO checkpoint
(2 x 256 ReLU MLP, 1e7 env steps: a larger budget, for reference only); rejax and
PureJaxRL publish no MinAtar return (NOT_PUBLISHED, also in the JSON).

rejax runs in the virtualenv benchmarks/anchors.py creates (ensure_venv("rejax"): rejax
0.1.3, gymnax 0.0.9, six; under ~/.cache/jaxrl_expert/anchor_venvs/rejax).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import itertools
import json
import math
import os
import sys
import tempfile
from typing import Any

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks._harness import (  # noqa: E402
    RESULT,
    Run,
    attempt,
    child_env,
    machine,
    print_report,
    record_row,
)
from benchmarks.anchors import _QUICK, _SEEDS, ANCHOR_REQUIREMENTS, ensure_venv  # noqa: E402
from jaxrl_expert import config as config_lib  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "minatar.json")
GAMES = {  # our config name suffix -> gymnax id
    "breakout": "Breakout-MinAtar",
    "space_invaders": "SpaceInvaders-MinAtar",
    "asterix": "Asterix-MinAtar",
    "freeway": "Freeway-MinAtar",
}
EVAL_EPISODES = 128  # rejax's own evaluation size; ours evaluates as many
QUICK_STEPS, QUICK_EVAL_EPISODES = 16_384, 8

# rejax's published MinAtar PPO settings: keraJLi/rejax benchmark/breakout_1m.yaml, `ppo:`
# (the config behind its README's MinAtar speed plot), but for the budget. In rejax 0.1.3
# hidden_layer_sizes defaults to (64, 64), separate actor and critic, constant lr.
REJAX_SOURCE = "keraJLi/rejax benchmark/breakout_1m.yaml (ppo); budget set by --steps"
REJAX_SETTINGS = dict(
    agent_kwargs={"activation": "tanh"}, num_envs=32, num_steps=32, num_epochs=4,
    num_minibatches=4, learning_rate=0.00025674088686342003, max_grad_norm=1.0,
    gamma=0.995, gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5,
)  # fmt: skip

# REJAX_SETTINGS in our config's names: the "ours@rejax" contender runs our PPO with rejax's
# network and batch (64x64 tanh, 32 envs x 32 steps, 4 minibatches) so that steps/s compare
# like for like (our configs' 2 x 256 ReLU MLPs do ~5x the arithmetic per step).
REJAX_AS_OURS = (
    "ppo.n_envs=32", "ppo.n_steps=32", "ppo.batch_size=256", "ppo.n_epochs=4",
    f"ppo.learning_rate={REJAX_SETTINGS['learning_rate']}", "ppo.max_grad_norm=1.0",
    "ppo.gamma=0.995", "ppo.gae_lambda=0.95", "ppo.clip_range=0.2", "ppo.clip_range_vf=0.2",
    "ppo.ent_coef=0.01", "ppo.vf_coef=0.5", "ppo.net_arch.pi=(64,64)", "ppo.net_arch.vf=(64,64)",
    "ppo.activation=tanh",
)  # fmt: skip

# Published returns for reference. gymnax's README env table ("PPO (R: x)") lists
# gymnax-blines' PPO checkpoints, trained with agents/<id>/ppo.yaml: 1e7 env steps, 64 envs x
# 128 steps, 8 minibatches, 4 epochs, lr 5e-4, gamma 0.999, lambda 0.95, clip 0.2, ent 0.01,
# vf 0.5, grad norm 0.5, separate actor/critic 2 x 256 ReLU MLPs on the flattened grid,
# evaluated on 164 sampled episodes.
GYMNAX_BLINES = "RobertTLange/gymnax README (PPO column) / gymnax-blines agents/{id}/ppo.yaml"
PUBLISHED = {
    "breakout": {"return": 28.0, "env_steps": 10_000_000, "source": GYMNAX_BLINES},
    "space_invaders": {"return": 131.0, "env_steps": 10_000_000, "source": GYMNAX_BLINES},
    "asterix": {"return": 15.0, "env_steps": 10_000_000, "source": GYMNAX_BLINES},
    "freeway": {"return": 58.0, "env_steps": 10_000_000, "source": GYMNAX_BLINES},
}
NOT_PUBLISHED = (
    "rejax publishes MinAtar settings (benchmark/breakout_1m.yaml) and a speed plot "
    "(img/speedup_minatar.png) but no return; PureJaxRL's MinAtar PPO "
    "(examples/brax_minatar.ipynb, SpaceInvaders, 1e7 steps) shows its return as a plot only"
)

_GAMES = flags.DEFINE_list("games", ["breakout", "space_invaders"], f"from {', '.join(GAMES)}")
_STEPS = flags.DEFINE_integer("steps", 1_000_000, "env steps per run, both sides (--quick: 16384)")
_CONFIGS_DIR = flags.DEFINE_string(
    "configs_dir", os.path.join(REPO, "configs"), "where our minatar_<game>.py configs are"
)
_OVERRIDES = flags.DEFINE_list(
    "overrides", [], "extra field=value overrides for our side (e.g. ppo.policy=mlp)"
)
# --seeds and --quick are anchors.py's flags, defined when it is imported (--seeds unset: 1).

REJAX_CHILD = """
import json, sys, time
import jax
from rejax import PPO
from rejax.evaluate import evaluate

args = json.loads(sys.argv[1])
algo = PPO.create(**args["kwargs"])
algo = algo.replace(eval_callback=lambda algo, ts, rng: ())  # evaluated after training instead
key = jax.random.PRNGKey(args["seed"])
start = time.perf_counter()
train = jax.jit(algo.train).lower(key).compile()
compiled = time.perf_counter()
ts, _ = train(key)
jax.block_until_ready(ts)
trained = time.perf_counter()
max_steps = algo.env_params.max_steps_in_episode
lengths, returns = evaluate(algo.make_act(ts), jax.random.PRNGKey(args["seed"] + 1), algo.env,
                            algo.env_params, args["eval_episodes"], max_steps)
returns = jax.block_until_ready(returns)
print("BENCH_RESULT", json.dumps({
    "compile_s": compiled - start, "train_s": trained - compiled,
    "eval_s": time.perf_counter() - trained, "steps": int(ts.global_step),
    "return": float(returns.mean()), "return_std": float(returns.std()),
    "episode_length": float(lengths.mean()),
}))
"""
assert RESULT == "BENCH_RESULT "  # the prefix REJAX_CHILD prints


def our_config_file(game: str) -> str:
    return os.path.join(_CONFIGS_DIR.value, f"minatar_{game}.py")


def ours(
    game: str, steps: int, seed: int, episodes: int, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """train_rl on configs/minatar_<game>.py; final evaluation and steps/s from its files."""
    config_file = our_config_file(game)
    overrides = (*overrides, *_OVERRIDES.value)
    config = config_lib.load_config_file(config_file)
    for override in overrides:  # as --config.<path>=<value> sets them
        path, value = override.split("=", 1)
        *parents, leaf = path.split(".")
        node = functools.reduce(lambda node, name: node[name], parents, config)
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value)
        with node.ignore_type():
            node[leaf] = value
    batch = config_lib.n_envs(config) * config.ppo.n_steps
    iterations = math.ceil(steps / batch)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--config={config_file}",
               f"--log_dir={run_dir}", f"--config.seed={seed}",
               f"--config.total_timesteps={iterations * batch}",
               f"--config.n_episodes_eval={episodes}",
               f"--config.log_interval={max(1, iterations // 20)}",  # ~20 log points
               "--config.policy_save_interval=0", "--config.checkpoint_interval=0",
               "--config.rollout_save_final=False", "--nocompilation_cache",
               *(f"--config.{override}" for override in overrides)]  # fmt: skip
        run = Run(cmd, REPO, child_env(None))
        with open(os.path.join(run_dir, "stats.json")) as f:
            stats = json.load(f)
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f if line.strip()]
    entry = {
        "wall_s": run.wall_s,
        "steps": records[-1]["timesteps"] if records else None,
        "return": stats["monitor_return_mean"],
        "return_std": stats["monitor_return_std"],
        "episode_length": stats["len_mean"],
        "eval": f"ours: stats.json monitor_return_mean, {stats['n_traj']} episodes, sampled",
        "curve": [[r["timesteps"], r["episode_return_mean"]] for r in records],  # training episodes
        "batch": batch,
    }
    if len(records) > 1:  # the first interval holds the compile: left out
        seconds = sum(
            (b["timesteps"] - a["timesteps"]) / b["steps_per_second"]
            for a, b in itertools.pairwise(records)
        )
        entry["train_steps_per_s"] = (records[-1]["timesteps"] - records[0]["timesteps"]) / seconds
    return entry


def rejax(game: str, steps: int, seed: int, episodes: int) -> dict[str, Any]:
    """rejax's PPO with REJAX_SETTINGS for `steps` (whole iterations); rejax's evaluation."""
    batch = REJAX_SETTINGS["num_envs"] * REJAX_SETTINGS["num_steps"]
    total = math.ceil(steps / batch) * batch
    kwargs = {
        **REJAX_SETTINGS,
        "env": GAMES[game],
        "total_timesteps": total,
        "eval_freq": total,  # one (no-op) evaluation point: the train loop is one scan
        "skip_initial_evaluation": True,
    }
    python = ensure_venv("rejax")
    args = {"kwargs": kwargs, "seed": seed, "eval_episodes": episodes}
    run = Run([python, "-c", REJAX_CHILD, json.dumps(args)], REPO, child_env(None))
    result = run.result()
    return {
        "wall_s": run.wall_s,
        **result,
        "train_steps_per_s": result["steps"] / result["train_s"],
        "eval": f"rejax.evaluate, {episodes} episodes, sampled",
        "batch": batch,
    }


def game_row(game: str, steps: int, seeds: int, episodes: int) -> dict[str, Any]:
    entries = []
    for seed in range(seeds):
        print(f"  {game} seed {seed}", flush=True)
        contenders = (
            ("ours", lambda *a: ours(*a)),
            ("ours@rejax", lambda *a: ours(*a, overrides=REJAX_AS_OURS)),
            ("rejax", rejax),
        )
        for who, fn in contenders:
            entries.append({**attempt(who, fn, game, steps, seed, episodes), "seed": seed})
    return {
        "env_id": GAMES[game],
        "config": os.path.relpath(our_config_file(game), REPO),
        "overrides": _OVERRIDES.value,
        "ours@rejax": list(REJAX_AS_OURS),
        "steps_requested": steps,
        "eval_episodes": episodes,
        "published": PUBLISHED[game],
        "entries": entries,
    }


def fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: dict[str, dict]) -> str:
    """A line per game, contender and seed; the published return for reference."""
    head = f"{'game':15s} {'contender':10s} {'seed':>4s} {'steps':>9s} {'wall s':>7s} "
    head += f"{'compile s':>9s} {'train steps/s':>13s} {'return':>7s} {'+-':>6s} {'published':>18s}"
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        pub = row["published"]
        published = f"{pub['return']:g} @ {pub['env_steps'] / 1e6:g}M"
        for e in row["entries"]:
            if "error" in e:
                lines.append(
                    f"{name:15s} {e['who']:10s} {e['seed']:>4d} FAILED: {e['error'][:300]}"
                )
                continue
            lines.append(
                f"{name:15s} {e['who']:10s} {e['seed']:>4d} {fmt(e.get('steps'), 'd'):>9s} "
                f"{fmt(e['wall_s']):>7s} {fmt(e.get('compile_s')):>9s} "
                f"{fmt(e.get('train_steps_per_s'), '.0f'):>13s} {fmt(e['return'], '.2f'):>7s} "
                f"{fmt(e.get('return_std'), '.2f'):>6s} {published:>18s}"
            )
    lines.append(
        "return: each side's final evaluation (sampled actions); ours: stats.json over our "
        "episodes, rejax: rejax.evaluate. ours@rejax: our PPO with rejax's settings. "
        "published: gymnax-blines' PPO (MLP, 1e7 steps)."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    unknown = set(_GAMES.value) - set(GAMES)
    if unknown:
        raise app.UsageError(f"--games: unknown {sorted(unknown)}; choose from {list(GAMES)}")
    quick = _QUICK.value
    steps = QUICK_STEPS if quick else _STEPS.value
    episodes = QUICK_EVAL_EPISODES if quick else EVAL_EPISODES
    seeds = _SEEDS.value or 1
    results = {"machine": machine(), "quick": quick, "rows": {}}
    if os.path.exists(RESULTS):  # games not rerun are kept, if measured the same way
        with open(RESULTS) as f:
            earlier = json.load(f)
        if earlier.get("quick") == quick:
            results["rows"] = earlier.get("rows", {})
    results["rejax"] = {
        "settings": REJAX_SETTINGS,
        "source": REJAX_SOURCE,
        "requirements": ANCHOR_REQUIREMENTS["rejax"],
    }
    results["not_published"] = NOT_PUBLISHED
    measured = {}
    for game in _GAMES.value:
        print(f"{game} ...", flush=True)
        row = game_row(game, steps, seeds, episodes)
        for who in ("ours", "ours@rejax", "rejax"):
            done = [e for e in row["entries"] if e["who"] == who and "error" not in e]
            if done:
                row[f"{who}_mean_return"] = float(np.mean([e["return"] for e in done]))
        record_row(RESULTS, results, measured, game, row)
    print_report(results, quick, table(measured))


if __name__ == "__main__":
    app.run(main)
