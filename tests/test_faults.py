"""Faults between saves: corrupt or missing checkpoints, interrupted replacements, a
replaced policy under a resumed generate."""

import json
import os
import shutil

import jax
import pytest

from jaxrl_expert import checkpoints, load_policy
from jaxrl_expert.atomic_files import recover_replaced
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
