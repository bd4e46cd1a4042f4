"""The command-line tools: console scripts, flags only where `main` runs, API defaults."""

import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys

import pytest

from jaxrl_expert import generate as generate_lib

BIN = os.path.dirname(sys.executable)  # the venv's bin/, where pip put the console scripts
# console script -> flags its --help must list
SCRIPTS = {
    "jaxrl-generate": ["policy", "out", "n_timesteps", "n_episodes", "shard_size"],
    "jaxrl-eval-policy": ["policy", "n_episodes", "seed", "deterministic"],
    "jaxrl-render": ["policy", "out", "max_steps", "deterministic"],
    "jaxrl-plot": ["out"],
}


def _run(args, cwd, timeout=300):
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def _script(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run `pip install -e .` to install the console scripts")
    return path


# (console script, its arguments, the one line its error must be)
MISTAKES = [
    ("jaxrl-generate", ["--policy={missing}", "--out={tmp}/out", "--n_episodes=1"],
     "no such directory"),
    ("jaxrl-eval-policy", ["--policy={missing}"], "no such directory"),
    ("jaxrl-render", ["--policy={missing}", "--out={tmp}/x.gif"], "no such directory"),
    ("jaxrl-plot", ["{missing}"], "holds no metrics.jsonl"),
    ("jaxrl-generate", ["--out={tmp}/out", "--n_episodes=1"], "Flag --policy must have"),
    ("jaxrl-render", ["--policy={missing}"], "Flag --out must have"),
    ("jaxrl-train-rl", ["--config.total_timestep=1000"],
     "--config.total_timestep: no such config field in"),
    ("jaxrl-train-rl", ["--config.ppo.n_env=3"], "did you mean --config.ppo.n_envs?"),
    ("jaxrl-train-rl", ["--total_timesteps=100"],
     "'total_timesteps'; did you mean --config.total_timesteps?"),
    ("jaxrl-train-rl", ["--config=pendulm"], "does not exist; bundled configs: acrobot"),
    ("jaxrl-train-rl", ["--config=pendulm"], "did you mean 'pendulum'?"),
    ("jaxrl-train-rl", ["--config.env_kwargs.max_speed=4.0"], "has no field 'max_speed'"),
    ("jaxrl-train-rl", ["--config.ppo.n_envs=abc"], "--config.ppo.n_envs=abc: invalid"),
    ("jaxrl-train-rl", ["--config=pendulum", "--config.total_timesteps=0"],
     "config.total_timesteps=0 is invalid; must be an int >= 1"),
]  # fmt: skip


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The process of every `--help` (console script) and MISTAKES case, all submitted at
    once to one worker per core: each is a Python start-up (imports) on one core, so they
    finish together in about a core count's fraction of the time one after another.
    {("help", script) or ("mistake", index in MISTAKES): Future of its CompletedProcess}."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        cases = {}
        for name in sorted(SCRIPTS):
            cwd = tmp_path_factory.mktemp("help")
            cases["help", name] = pool.submit(_run, [_script(name), "--help"], cwd)
        for i, (name, args, _) in enumerate(MISTAKES):
            cwd = tmp_path_factory.mktemp("mistake")
            fill = {"missing": cwd / "no_such_policy", "tmp": cwd}
            command = [_script(name), *(a.format(**fill) for a in args)]
            cases["mistake", i] = pool.submit(_run, command, cwd)
        yield cases


@pytest.fixture(scope="module")
def policy_dir(tiny_cartpole_run):
    """The final policy of the session's tiny CartPole-v1 run (conftest.py)."""
    return tiny_cartpole_run[0] / "policies" / "final"


def test_every_cli_module_imports_in_one_process_and_defines_no_flags(repo_dir, tmp_path):
    # generate and eval_policy (and render) share flag names: at import they would collide.
    code = (
        "from absl import flags\n"
        "import jaxrl_expert.generate, jaxrl_expert.eval_policy, jaxrl_expert.render\n"
        "import jaxrl_expert.plot, jaxrl_expert.train_rl\n"
        "print(sorted({'policy', 'out', 'seed', 'n_episodes'} & set(flags.FLAGS)))\n"
    )
    result = _run([sys.executable, "-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "how", ["console script", pytest.param("python -m", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_exits_0_and_lists_the_flags(name, how, started, tmp_path):
    if how == "console script":
        result = started["help", name].result()
    else:
        module = "jaxrl_expert." + name.removeprefix("jaxrl-").replace("-", "_")
        result = _run([sys.executable, "-m", module, "--help"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = set(re.findall(r"^  --(?:\[no\])?(\w+):", result.stdout, re.MULTILINE))
    assert set(SCRIPTS[name]) <= listed, result.stdout
    if name == "jaxrl-plot":
        assert "LOG_DIR" in result.stdout  # its positional arguments, from the module doc


@pytest.mark.parametrize("name, args, message", MISTAKES)
def test_a_users_mistake_ends_in_one_line_not_a_traceback(name, args, message, started):
    result = started["mistake", MISTAKES.index((name, args, message))].result()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    error = [line for line in lines if message in line]
    assert len(error) == 1, result.stderr[-3000:]
    assert lines.index(error[0]) >= len(lines) - 2  # the last line, or before absl's hint
    assert len(lines) <= 3, result.stderr[-3000:]


def test_generate_without_shard_size_uses_the_api_default(policy_dir, tmp_path):
    out = tmp_path / "demos"
    args = [f"--policy={policy_dir}", f"--out={out}", "--n_episodes=3"]
    result = _run([_script("jaxrl-generate"), *args], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / generate_lib.MANIFEST_FILE).read_text())
    assert manifest["request"]["shard_size"] == generate_lib.DEFAULT_SHARD_SIZE["n_episodes"]
    assert json.loads(result.stdout) == manifest["totals"]
    assert manifest["totals"]["n_episodes"] == 3 and len(manifest["parts"]) == 1


def test_every_benchmark_script_imports(repo_dir, tmp_path):
    """In a child process (accelerator.py sets JAX variables in os.environ at import); each
    script's absl flags are dropped after its import, as experts and anchors both define
    --seeds and never run in one process."""
    names = sorted(
        os.path.splitext(os.path.basename(p))[0]
        for p in glob.glob(os.path.join(repo_dir, "benchmarks", "*.py"))
        if not p.endswith("__init__.py")
    )
    assert "saving" in names
    code = (
        "import importlib, sys, traceback\n"
        "from absl import flags\n"
        "failed = {}\n"
        "for name in sys.argv[1:]:\n"
        "    defined = set(flags.FLAGS)\n"
        "    try:\n"
        "        importlib.import_module(f'benchmarks.{name}')\n"
        "    except Exception:\n"
        "        failed[name] = traceback.format_exc(limit=-3)\n"
        "    for flag in set(flags.FLAGS) - defined:\n"
        "        delattr(flags.FLAGS, flag)\n"
        "print(failed or 'ok')\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # accelerator.py makes a temp dir at import
    result = subprocess.run(
        [sys.executable, "-c", code, *names],
        cwd=repo_dir, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "ok", result.stdout[-3000:]


def test_eval_policy_takes_a_run_directory_for_its_final_policy(policy_dir, tmp_path):
    run_dir = policy_dir.parent.parent
    result = _run([_script("jaxrl-eval-policy"), f"--policy={run_dir}", "--n_episodes=2"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["n_traj"] == 2
