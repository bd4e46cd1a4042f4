"""Faults between saves: corrupt or missing checkpoints, interrupted replacements, a
replaced policy under a resumed generate."""

import errno
import gc
import json
import os
import shutil
import sys
import threading
import time
import warnings

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_expert import checkpoints, load_policy
from jaxrl_expert.atomic_files import recover_replaced
from jaxrl_expert.config import load_config_file
from jaxrl_expert.generate import generate
from jaxrl_expert.train_rl import train_rl

# Two seeds of the default config, three iterations, a checkpoint after each;
# max_to_keep=1 keeps two steps per seed (one more when several seeds share a run).
OVERRIDES = {
    "total_timesteps": 1536,
    "num_seeds": 2,
    "checkpoint_interval": 512,
    "max_to_keep": 1,
    "policy_save_interval": 0,
    "rollout_save_final": False,
    "n_episodes_eval": 1,
    "ppo": {"n_steps": 64},
}
SEEDS = ("seed_0", "seed_1")


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("two_seeds") / "run"
    train_rl(log_dir=str(log_dir), **OVERRIDES)
    return log_dir


def steps(log_dir, seed):
    return checkpoints.complete_iterations(str(log_dir / seed / "checkpoints"))


def forget_the_end(log_dir):
    """What a kill before the end leaves: no final policy, rollouts or stats."""
    (log_dir / "stats.json").unlink()
    for seed in SEEDS:
        shutil.rmtree(log_dir / seed / "policies" / "final")
        (log_dir / seed / "stats.json").unlink()


def assert_same_final_policies(a, b):
    for seed in SEEDS:
        pa = load_policy(str(a / seed / "policies" / "final"))
        pb = load_policy(str(b / seed / "policies" / "final"))
        assert pa.digest() == pb.digest()


def test_several_seeds_keep_one_step_more_than_max_to_keep(two_seeds):
    assert steps(two_seeds, "seed_0") == steps(two_seeds, "seed_1") == [2, 3]


@pytest.mark.slow  # the corrupt-checkpoint test below also resumes behind a seed ahead
def test_a_kill_between_the_seeds_saves_resumes_from_the_step_both_have(two_seeds, tmp_path):
    log_dir = tmp_path / "run"
    shutil.copytree(two_seeds, log_dir)
    forget_the_end(log_dir)
    shutil.rmtree(log_dir / "seed_1" / "checkpoints" / "3")  # seed_1's last save never landed
    train_rl(log_dir=str(log_dir), resume=True, **OVERRIDES)
    assert_same_final_policies(two_seeds, log_dir)
    assert steps(log_dir, "seed_0") == steps(log_dir, "seed_1") == [2, 3]


@pytest.mark.slow  # ~10 s; the two-seed resume rule is tested by the max_to_keep test
def test_a_kill_at_the_first_checkpoint_of_one_seed_starts_afresh(two_seeds, tmp_path):
    log_dir = tmp_path / "run"
    shutil.copytree(two_seeds, log_dir)
    forget_the_end(log_dir)
    for step in ("2", "3"):
        shutil.rmtree(log_dir / "seed_0" / "checkpoints" / step)
        shutil.rmtree(log_dir / "seed_1" / "checkpoints" / step)
    shutil.copytree(two_seeds / "seed_0" / "checkpoints" / "2", log_dir / "seed_0" / "x")
    os.replace(log_dir / "seed_0" / "x", log_dir / "seed_0" / "checkpoints" / "1")
    stats = train_rl(log_dir=str(log_dir), **OVERRIDES)  # was: refused for good
    assert set(stats) == set(SEEDS)
    assert_same_final_policies(two_seeds, log_dir)


def test_a_corrupt_newest_checkpoint_is_set_aside_and_the_previous_one_resumes(
    two_seeds, tmp_path, caplog
):
    log_dir = tmp_path / "run"
    shutil.copytree(two_seeds, log_dir)
    forget_the_end(log_dir)
    newest = log_dir / "seed_0" / "checkpoints" / "3"
    for path in newest.rglob("*"):
        if path.is_file() and path.stat().st_size > 0 and "ocdbt" in str(path):
            path.write_bytes(b"\0" * path.stat().st_size)  # a damaged disk block
    train_rl(log_dir=str(log_dir), resume=True, **OVERRIDES)
    assert_same_final_policies(two_seeds, log_dir)
    assert (log_dir / "seed_0" / "checkpoints" / "3.unreadable").is_dir()
    # seed_1's intact step 3 was dropped and redone from step 2, like seed_0's.
    assert steps(log_dir, "seed_0") == steps(log_dir, "seed_1") == [2, 3]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"checkpoint '{newest}' is unreadable" in m for m in warned), warned
    assert any("resuming from the previous complete checkpoint, iteration 2" in m for m in warned)


def test_a_kill_between_the_renames_of_a_replacement_keeps_the_old_copy(two_seeds, tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(two_seeds / "seed_0" / "policies", policies)
    before = load_policy(str(policies / "final")).digest()
    real_replace = os.replace

    def killed_after_the_first_rename(src, dst):
        if os.path.basename(str(src)) == ".tmp-final":
            raise KeyboardInterrupt  # the new copy never arrives
        real_replace(src, dst)

    policy = load_policy(str(policies / "final"))
    policy = policy.replace(params=jax.tree.map(lambda x: x + 1, policy.params))
    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(os, "replace", killed_after_the_first_rename)
        checkpoints.save_policy(str(policies / "final"), policy, 1536)
    assert not (policies / "final").exists() and (policies / ".old-final").is_dir()
    recover_replaced(str(policies))  # what the next train_rl start does
    assert load_policy(str(policies / "final")).digest() == before
    checkpoints.save_policy(str(policies / "final"), policy, 1536)
    assert load_policy(str(policies / "final")).digest() == policy.digest() != before
    assert sorted(os.listdir(policies)) == ["final"]


def test_a_resumed_generate_refuses_a_replaced_policy(two_seeds, tmp_path):
    policy_dir = tmp_path / "policy"
    shutil.copytree(two_seeds / "seed_0" / "policies" / "final", policy_dir)
    out = tmp_path / "out"
    generate(str(policy_dir), str(out), n_episodes=4, shard_size=2)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"], manifest["parts"] = False, manifest["parts"][:1]  # killed after one
    (out / "manifest.json").write_text(json.dumps(manifest))
    other = load_policy(str(two_seeds / "seed_1" / "policies" / "final"))
    checkpoints.save_policy(str(policy_dir), other, 1536)
    replaced = (
        r"holds parts of a policy with content sha256 [0-9a-f]{64}, "
        r"but .* now holds sha256 [0-9a-f]{64} \(the policy was replaced\)"
    )
    with pytest.raises(ValueError, match=replaced):
        generate(str(policy_dir), str(out), n_episodes=4, shard_size=2)


def signaling_threads():
    """Orbax's threads that wait for another save thread's signal (300 s when it never comes)."""
    from orbax.checkpoint._src.futures.future import _SignalingThread

    return [t for t in threading.enumerate() if isinstance(t, _SignalingThread) and t.is_alive()]


def a_state(n_leaves=3):
    return {f"leaf_{i}": np.arange(100 * i + 1, dtype=np.float32) for i in range(n_leaves)}


@pytest.mark.parametrize("fault", ["a file", "out of inodes"])
def test_a_checkpoint_directory_that_cannot_be_created_fails_at_once(tmp_path, fault):
    directory = tmp_path / "checkpoints"
    if fault == "a file":
        directory.write_text("")
        expected = r"checkpoint directory '.*checkpoints' is a file, not a directory; "
    else:
        expected = r"checkpoint directory '.*checkpoints' cannot be created: No space left on "
    real_mkdir = os.mkdir

    def no_inodes(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_mkdir(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, pytest.raises(ValueError, match=expected) as e:
        if fault != "a file":
            patch.setattr(os, "mkdir", no_inodes)
        checkpoints.TrainCheckpoints(str(directory), 2)
    assert len(str(e.value).splitlines()) == 1 and "--log_dir" in str(e.value)
    assert not signaling_threads()


def test_train_rl_with_checkpoints_a_file_stops_before_training(tmp_path):
    log_dir = tmp_path / "run"
    log_dir.mkdir()
    (log_dir / "checkpoints").write_text("")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"checkpoint directory '.*' is a file, not a directory"):
        train_rl(log_dir=str(log_dir), **{**OVERRIDES, "num_seeds": 1})
    assert time.perf_counter() - start < 30  # was: trained, then a 300 s hang at exit
    assert not (log_dir / "policies").exists() and not signaling_threads()


def test_a_save_failing_in_the_background_is_one_line_and_leaves_no_waiting_thread(tmp_path):
    directory = tmp_path / "checkpoints"
    store = checkpoints.TrainCheckpoints(str(directory), 2)
    store.save(1, a_state())
    assert store.latest_iteration() == 1
    shutil.rmtree(directory)
    directory.write_text("")  # the disk ran out of inodes, or the directory was replaced
    store.save(2, a_state())  # returns; the files are written on Orbax's threads
    with pytest.raises(
        ValueError, match=r"checkpoint '.*checkpoints/2' could not be written: "
    ) as e:
        store.close()
    assert len(str(e.value).splitlines()) == 1
    deadline = time.monotonic() + 5
    while signaling_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not signaling_threads()  # was: 4 threads waiting 300 s, keeping the process alive
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


def test_a_failed_restore_prints_no_event_loop_is_closed(tmp_path):
    unraisable = []
    store = checkpoints.TrainCheckpoints(str(tmp_path / "checkpoints"), 2)
    state = a_state(30)  # many arrays: reads still in flight when the first one fails
    store.save(1, state)
    store.close()
    for path in (tmp_path / "checkpoints" / "1").rglob("*"):
        if path.is_file() and path.stat().st_size > 0 and "ocdbt" in str(path):
            path.write_bytes(b"\0" * path.stat().st_size)
    store = checkpoints.TrainCheckpoints(str(tmp_path / "checkpoints"), 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "unraisablehook", unraisable.append)
        for _ in range(3):
            with pytest.raises(ValueError, match=r"checkpoint '.*/1' is unreadable"):
                store.restore(1, state)
        store.close()
        time.sleep(0.2)
        gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []  # was: 'Event loop is closed' x 20


@flax.struct.dataclass
class _StateWithEmptyLeaves:
    params: dict
    pipeline_act: jax.Array  # MJX keeps zero-size arrays for absent model parts
    contacts: jax.Array
    step: jax.Array


def test_a_state_with_zero_size_arrays_round_trips_through_a_checkpoint(tmp_path):
    state = _StateWithEmptyLeaves(
        params={"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)},
        pipeline_act=jnp.zeros((8, 0), jnp.float32),
        contacts=jnp.zeros((0, 3, 4), jnp.int32),
        step=jnp.array(7),
    )
    store = checkpoints.TrainCheckpoints(str(tmp_path / "checkpoints"), 2)
    store.save(1, state)  # was: ValueError: Cannot save arrays with zero size
    assert store.latest_iteration() == 1
    for like in (state, jax.eval_shape(lambda: state)):
        restored = store.restore(1, like)
        assert jax.tree.structure(restored) == jax.tree.structure(state)
        for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    store.close()


@pytest.mark.slow  # MJX compiles for about a minute
def test_an_mjx_backend_run_checkpoints_and_resumes(repo_dir, tmp_path):
    config = load_config_file(f"{repo_dir}/configs/brax_inverted_pendulum.py")
    small = {
        "n_episodes_eval": 1,
        "policy_save_interval": 0,
        "rollout_save_final": False,
        "env_kwargs": {"backend": "mjx", "episode_length": 20},
        "ppo": {"n_envs": 4, "n_steps": 8, "batch_size": 16, "n_epochs": 1,
                "net_arch": {"pi": (8,), "vf": (8,)}},
    }  # fmt: skip
    log_dir = str(tmp_path / "run")
    train_rl(config, log_dir=log_dir, total_timesteps=64, **small)  # was: Cannot save arrays ...
    assert checkpoints.complete_iterations(f"{log_dir}/checkpoints") == [2]
    train_rl(config, log_dir=log_dir, total_timesteps=96, **small)  # resumes from iteration 2
    assert checkpoints.complete_iterations(f"{log_dir}/checkpoints")[-1] == 3
    assert load_policy(f"{log_dir}/policies/final") is not None


def test_a_policy_save_failing_inside_orbax_is_one_line_and_leaves_no_waiting_thread(tmp_path):
    real_makedirs = os.makedirs

    def no_inodes_left(path, *args, **kwargs):
        if "arrays" in os.path.basename(str(path)):  # Orbax's temporary directory
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_makedirs(path, *args, **kwargs)

    expected = r"'.*policy' could not be written: .*No space left on device.*; free space or inodes"
    with pytest.MonkeyPatch.context() as patch, pytest.raises(ValueError, match=expected) as e:
        patch.setattr(os, "makedirs", no_inodes_left)
        checkpoints.save_arrays_and_json(str(tmp_path / "policy"), a_state(), "m.json", {})
    assert len(str(e.value).splitlines()) == 1
    assert not signaling_threads()  # was: Orbax's threads waiting 300 s
    assert os.listdir(tmp_path) == []  # no half-written policy, no `.tmp-policy`


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ppo": {"n_envs": 100_000, "n_steps": 2048, "batch_size": 2048}},
         r"needs at least 10\d\.\d GiB \(training 10\d\.\d GiB.*but 1\.0 GiB is available on "
         r"cpu: lower ppo\.n_envs \* ppo\.n_steps"),
        ({"rollout_save_n_timesteps": 10**9}, r"saved rollouts 12\d\.\d GiB"),
    ],
)  # fmt: skip
def test_a_config_whose_buffers_cannot_fit_is_one_line_before_anything(
    tmp_path, monkeypatch, overrides, message
):
    from jaxrl_expert import devices

    monkeypatch.setattr(devices, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(ValueError, match=message) as e:
        train_rl(log_dir=str(tmp_path / "run"), verbose=False, **overrides)
    assert "\n" not in str(e.value) and not os.path.exists(tmp_path / "run")


def test_a_trillion_timesteps_schedule_costs_no_memory():
    from jaxrl_expert import config as config_lib
    from jaxrl_expert.train_rl import _Schedule

    config = config_lib.base_config()
    config_lib.apply_overrides(config, {"total_timesteps": 10**12, "log_interval": 7})
    schedule = _Schedule(config)  # the old per-iteration sets took > 4 GiB here
    n, batch = schedule.n_iterations, schedule.batch
    first = [b for _, b in zip(range(3), schedule.boundaries_after(0), strict=False)]
    assert first == sorted(first) and first[0] >= 1
    assert n in schedule.checkpoints and n in schedule.logs and 7 * (n // 7) in schedule.logs
    assert n - 1 not in schedule.logs and 6 not in schedule.logs
    saves = [i for i in range(1, 200) if i in schedule.saves]
    assert all((i * batch) // config.policy_save_interval > ((i - 1) * batch)
               // config.policy_save_interval for i in saves)  # fmt: skip
