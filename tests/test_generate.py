"""Batched expert generation: imitation-loadable parts, exact totals, manifest, resume."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from jaxrl_expert import generate as generate_lib
from jaxrl_expert import rollouts
from jaxrl_expert.generate import generate

# Parts of >= 600 transitions until >= 1500: three parts (the tiny policy's episodes are short).
TIMESTEPS = {"n_timesteps": 1500, "shard_size": 600, "n_envs": 4, "seed": 3}


@pytest.fixture(scope="module")
def run_dir(tiny_cartpole_run):
    """The session's tiny CartPole-v1 run (conftest.py): generate reads its final policy."""
    return tiny_cartpole_run[0]


@pytest.fixture(scope="module")
def timesteps_out(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "out"
    result = generate(str(run_dir / "policies" / "final"), str(out), **TIMESTEPS)
    return out, result


def file_bytes(out):
    return {name: (out / name).read_bytes() for name in sorted(os.listdir(out))}


def imitation_load(path):
    """What imitation.data.serialize.load does with an npz (imitation's split rules)."""
    with np.load(path, allow_pickle=True) as data:  # imitation unpickles `infos`
        indices = data["indices"]
        n = len(indices) + 1
        obs = np.split(data["obs"], indices + np.arange(n - 1) + 1)
        acts = np.split(data["acts"], indices)
        infos = np.split(data["infos"], indices)
        rews = np.split(data["rews"], indices)
        return obs, acts, infos, rews, data["terminal"]


def check_parts(out, manifest):
    """Every listed part loads both ways and holds what the manifest says."""
    for part in manifest["parts"]:
        path = str(out / part["file"])
        mine = rollouts.load(path)
        obs, acts, infos, rews, terminal = imitation_load(path)
        assert len(mine) == len(obs) == part["n_episodes"] == len(terminal)
        assert sum(len(t.acts) for t in mine) == part["n_transitions"]
        assert os.path.getsize(path) == part["bytes"]
        for t, o, a, i, r in zip(mine, obs, acts, infos, rews, strict=True):
            np.testing.assert_array_equal(t.obs, o)
            np.testing.assert_array_equal(t.acts, a)
            np.testing.assert_array_equal(t.rews, r)
            assert len(o) == len(a) + 1 == len(i) + 1 and all(x == {} for x in i)
            # A complete CartPole-v1 episode: starts at a reset, ends by falling or at 500.
            assert np.all(np.abs(t.obs[0]) <= 0.05)
            assert len(t.acts) == 500 or abs(t.obs[-1][2]) > 0.2094 or abs(t.obs[-1][0]) > 2.4
        assert terminal.all()


def test_n_timesteps_parts_load_and_reach_the_total(timesteps_out, run_dir):
    out, manifest = timesteps_out
    assert sorted(os.listdir(out)) == [
        "manifest.json",
        "part-00000.npz",
        "part-00001.npz",
        "part-00002.npz",
    ]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    check_parts(out, manifest)
    counts = [p["n_transitions"] for p in manifest["parts"]]
    # Each part asks for min(600, what is missing) and holds at least that; the smaller
    # last request runs fewer envs, so it overshoots by less than one episode (<= 500 steps).
    last_target = 1500 - counts[0] - counts[1]
    assert counts[0] >= 600 and counts[1] >= 600 and 0 < last_target < 600
    assert last_target <= counts[2] < last_target + 500
    assert sum(counts) >= 1500
    assert manifest["totals"] == {
        "n_parts": 3,
        "n_transitions": sum(counts),
        "n_episodes": sum(p["n_episodes"] for p in manifest["parts"]),
    }
    assert manifest["complete"] is True
    assert manifest["policy"] == str(run_dir / "policies" / "final")
    assert manifest["env_id"] == "CartPole-v1" and manifest["env_kwargs"] == {}
    assert manifest["seed"] == 3
    assert manifest["request"] == {**TIMESTEPS, "n_episodes": None, "deterministic": False}
    assert [p["file"] for p in manifest["parts"]] == [f"part-{k:05d}.npz" for k in range(3)]


def test_n_episodes_gives_exactly_that_many(run_dir, tmp_path):
    out = tmp_path / "out"
    manifest = generate(str(run_dir), str(out), n_episodes=10, shard_size=4, seed=1)
    assert manifest["policy"] == str(run_dir / "policies" / "final")  # a run dir's final policy
    assert [p["n_episodes"] for p in manifest["parts"]] == [4, 4, 2]
    assert manifest["totals"]["n_episodes"] == 10
    assert manifest["totals"]["n_transitions"] == sum(p["n_transitions"] for p in manifest["parts"])
    check_parts(out, manifest)


def test_resume_rewrites_identical_parts_and_stops_when_complete(timesteps_out, tmp_path):
    done, manifest = timesteps_out
    original = file_bytes(done)
    out = tmp_path / "out"
    shutil.copytree(done, out)
    # Killed during part 2 after a garbled part 1 was renamed but not listed.
    (out / "part-00002.npz").unlink()
    (out / "part-00001.npz").write_bytes(b"garbage")
    (out / ".tmp-part-00002.npzabc").write_bytes(b"partial")
    truncated = {**manifest, "parts": manifest["parts"][:1], "complete": False}
    (out / "manifest.json").write_text(json.dumps(truncated))
    resumed = generate(manifest["policy"], str(out), **TIMESTEPS)
    assert resumed == manifest
    assert file_bytes(out) == original
    # Complete: a re-run writes nothing.
    stamps = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)}
    assert generate(manifest["policy"], str(out), **TIMESTEPS) == manifest
    assert {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)} == stamps


def test_manifest_of_other_arguments_is_refused(timesteps_out):
    out, manifest = timesteps_out
    before = file_bytes(out)
    with pytest.raises(ValueError, match=r"n_timesteps=1500 there, 2000 here") as error:
        generate(manifest["policy"], str(out), **{**TIMESTEPS, "n_timesteps": 2000})
    assert "different request" in str(error.value)
    with pytest.raises(ValueError, match=r"seed=3 there, 4 here"):
        generate(manifest["policy"], str(out), **{**TIMESTEPS, "seed": 4})
    assert file_bytes(out) == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, r"n_timesteps=None, n_episodes=None is invalid; exactly one"),
        ({"n_timesteps": 10, "n_episodes": 2}, r"n_timesteps=10, n_episodes=2 is invalid"),
        ({"n_timesteps": 0}, r"n_timesteps=0 is invalid; must be an int >= 1"),
        ({"n_episodes": 2.5}, r"n_episodes=2.5 is invalid; must be an int >= 1"),
        ({"n_episodes": True}, r"n_episodes=True is invalid"),
        ({"n_timesteps": 10, "shard_size": 0}, r"shard_size=0 is invalid; must be an int in"),
        ({"n_timesteps": 10, "n_envs": -1}, r"n_envs=-1 is invalid; must be an int >= 1"),
        ({"n_timesteps": 10, "seed": -1}, r"seed=-1 is invalid"),
        ({"n_timesteps": 10, "deterministic": "yes"}, r"deterministic='yes' is invalid"),
    ],
)
def test_bad_arguments_fail_before_any_compile(run_dir, tmp_path, monkeypatch, kwargs, message):
    def no_compile(*args):
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(generate_lib, "_Program", no_compile)
    monkeypatch.setattr(generate_lib, "_PROGRAMS", {})
    with pytest.raises(ValueError, match=message):
        generate(str(run_dir), str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_directory_holding_other_files_is_refused(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(generate_lib, "_PROGRAMS", {})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds other files \(notes\.txt\) and no manifest"):
        generate(str(run_dir), str(tmp_path / "out"), n_episodes=1)
    assert os.listdir(tmp_path / "out") == ["notes.txt"]


def test_policy_that_is_no_policy_or_run_fails_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"policy='.*nothing' is invalid"):
        generate(str(tmp_path / "nothing"), str(tmp_path / "out"), n_episodes=1)
    with pytest.raises(ValueError, match=r"must be a policy directory"):
        generate(str(tmp_path), str(tmp_path / "out"), n_episodes=1)


def test_multi_seed_run_generates_every_seed(run_dir, tmp_path):
    run = tmp_path / "run"
    for i in (0, 1):
        shutil.copytree(run_dir / "policies" / "final", run / f"seed_{i}" / "policies" / "final")
    out = tmp_path / "out"
    result = generate(str(run), str(out), n_episodes=3, shard_size=4)
    assert sorted(result) == ["seed_0", "seed_1"]
    for i in (0, 1):
        manifest = json.loads((out / f"seed_{i}" / "manifest.json").read_text())
        assert manifest == result[f"seed_{i}"]
        assert manifest["policy"] == str(run / f"seed_{i}" / "policies" / "final")
        assert manifest["totals"]["n_episodes"] == 3
        check_parts(out / f"seed_{i}", manifest)


def test_cli_on_two_devices_writes_the_same_parts(timesteps_out, run_dir, repo_dir, tmp_path):
    """The CLI, with the env axis sharded over two (forced) CPU devices."""
    done, _ = timesteps_out
    out = tmp_path / "cli"
    flags = [f"--policy={run_dir}", f"--out={out}", *(f"--{k}={v}" for k, v in TIMESTEPS.items())]
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl_expert.generate", *flags],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "PYTHONPATH": repo_dir,
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 device(s)" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads(result.stdout) == manifest["totals"]
    assert file_bytes(out) == file_bytes(done)
