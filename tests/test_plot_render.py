"""Progress bar, metrics.jsonl, learning curves and policy videos."""

import base64
import json
import math
import os
import re
import subprocess
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxrl_expert import config as config_lib
from jaxrl_expert import plot, ppo
from jaxrl_expert.checkpoints import save_policy
from jaxrl_expert.logging import METRICS_FILE, TrainLogger, read_metrics
from jaxrl_expert.normalize import RunningMeanStd
from jaxrl_expert.policy import Policy
from jaxrl_expert.render import render_policy
from jaxrl_expert.train_rl import make_env

BAR = re.compile(r"\d+%\|")  # tqdm's "50%|█████     |"


def _cli(repo_dir, args, cwd):
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,  # stderr is a pipe, not a TTY
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": repo_dir},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def run(tiny_cartpole_run):
    """The session's tiny in-process training (conftest.TINY_CARTPOLE: five iterations of
    128 timesteps), progress bar forced on; (log_dir, stderr)."""
    log_dir, _, stderr = tiny_cartpole_run
    return log_dir, stderr


@pytest.fixture(scope="module")
def cli_run(default_cli_run):
    """A training from the command line (the session's default CLI run); (log_dir, stderr)."""
    log_dir, result = default_cli_run
    return log_dir, result.stderr


def test_metrics_jsonl_has_one_record_per_log_point(run):
    log_dir, _ = run
    lines = (log_dir / METRICS_FILE).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["timesteps"] for r in records] == [128, 256, 384, 512, 640]
    for record in records:
        assert set(record) == {
            "timesteps", "episode_return_mean", "true_episode_return_mean",
            "episode_length_mean", "episodes", "losses", "steps_per_second",
        }  # fmt: skip
        assert set(record["losses"]) == {
            "policy_loss",
            "value_loss",
            "entropy",
            "approx_kl",
            "clip_fraction",
        }
        assert record["steps_per_second"] > 0
        # CartPole pays 1 per step: the mean return is the mean length
        assert record["episode_return_mean"] == record["episode_length_mean"] > 0
    assert read_metrics(str(log_dir)) == records


def test_read_metrics_keeps_the_last_duplicate_and_skips_a_cut_last_line(tmp_path):
    rows = [{"timesteps": t, "v": v} for t, v in ((100, 1), (200, 2), (300, 3), (200, 4))]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"timesteps": 300, "v'
    (tmp_path / METRICS_FILE).write_text(text)
    got = read_metrics(str(tmp_path))
    assert [(r["timesteps"], r["v"]) for r in got] == [(100, 1), (200, 4), (300, 3)]
    # A run resumed at timestep 200 cuts the partial line and the records after 200.
    logger = TrainLogger(str(tmp_path), resumed_timesteps=200)
    summary = {name: 0.0 for name in ("episode_return_mean", "true_episode_return_mean",
               "episode_length_mean", "policy_loss", "value_loss", "entropy", "approx_kl",
               "clip_fraction")}  # fmt: skip
    logger.log(300, {**summary, "episodes": 0.0, "episode_return_mean": float("nan")}, 1.0)
    logger.close()
    got = read_metrics(str(tmp_path))
    assert [r["timesteps"] for r in got] == [100, 200, 300]
    assert len((tmp_path / METRICS_FILE).read_text().splitlines()) == 4  # 100, 200, 200, 300
    assert got[-1]["episode_return_mean"] is None  # NaN (no episode ended) is written as null


def test_read_metrics_rejects_a_corrupt_line_in_the_middle(tmp_path):
    (tmp_path / METRICS_FILE).write_text('{"timesteps": 1}\n{"time\n{"timesteps": 2}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl: line 2"):
        read_metrics(str(tmp_path))


def test_train_rl_writes_its_learning_curve(run):
    log_dir, _ = run
    with Image.open(log_dir / "learning_curve.png") as image:
        assert image.format == "PNG" and image.size == (800, 500)
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # axes, text, a curve


def test_plot_cli_overlays_runs_into_learning_curves_png(run, cli_run, repo_dir, tmp_path):
    _cli(repo_dir, ["jaxrl_expert.plot", str(run[0]), str(cli_run[0])], cwd=tmp_path)
    shared = os.path.commonpath([run[0], cli_run[0]])  # next to the runs, not in the cwd
    with Image.open(os.path.join(shared, "learning_curves.png")) as image:
        assert image.format == "PNG" and image.size == (800, 500)


def test_plot_draws_each_seed_and_the_learned_return_when_it_differs(run, tmp_path):
    records = read_metrics(str(run[0]))
    learned = [{**r, "episode_return_mean": -r["true_episode_return_mean"]} for r in records]
    for seed, rows in enumerate((records, learned)):
        os.makedirs(tmp_path / f"seed_{seed}")
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (tmp_path / f"seed_{seed}" / METRICS_FILE).write_text(text)
    runs = plot.find_runs(str(tmp_path))
    assert runs == [str(tmp_path / "seed_0"), str(tmp_path / "seed_1")]
    figure = plot.draw([(os.path.basename(r), read_metrics(r)) for r in runs], "CartPole-v1")
    true_panel, learned_panel = figure.axes  # the learned return on its own scale
    assert [line.get_label() for line in true_panel.lines] == ["seed_0", "seed_1"]
    assert [line.get_label() for line in learned_panel.lines] == ["seed_1"]
    assert figure.get_suptitle() == "CartPole-v1"
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["seed_0", "seed_1"]
    with pytest.raises(ValueError, match=r"out='curve\.xyz'.*allowed"):
        plot.save(figure, "curve.xyz")
    with pytest.raises(ValueError, match=r"log_dir=.*no metrics\.jsonl"):
        plot.find_runs(str(tmp_path / "seed_0" / "nothing"))


def test_progress_bar_is_off_when_stderr_is_not_a_tty(cli_run):
    log_dir, stderr = cli_run
    config = json.loads((log_dir / "config.json").read_text())
    batch = config["ppo"]["n_envs"] * config["ppo"]["n_steps"]
    iterations = math.ceil(config["total_timesteps"] / batch)
    # One console line per iteration instead of a bar.
    assert len([line for line in stderr.splitlines() if " steps/s | " in line]) == iterations > 1
    assert not BAR.search(stderr) and "\r" not in stderr


def test_progress_bar_is_on_when_forced(run):
    _, stderr = run
    assert BAR.search(stderr)
    assert "640/640" in stderr and "steps/s" in stderr and "return " in stderr


def test_render_cli_writes_a_cartpole_gif(run, repo_dir, tmp_path):
    policy = run[0] / "policies" / "final"
    out = tmp_path / "cartpole.gif"
    result = _cli(repo_dir, ["jaxrl_expert.render", f"--policy={policy}", f"--out={out}"], tmp_path)
    length = json.loads(result.stdout.splitlines()[-1])["episode_length"]
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.size == (600, 400)
        assert 5 < gif.n_frames <= length + 1  # Pillow merges identical consecutive frames
        frames = []
        for i in (0, gif.n_frames - 1):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    assert all(len(np.unique(f.reshape(-1, 3), axis=0)) > 2 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # the pole moved
    # The caption (step and return) in the top-left corner changes between frames.
    corners = [f[:20, :200] for f in frames]
    assert all((c < 128).any() for c in corners) and not np.array_equal(*corners)


def test_render_rejects_a_video_format_the_env_cannot_make(run, tmp_path):
    with pytest.raises(ValueError, match=r"out='.*\.html'.*\.gif file"):
        render_policy(str(run[0] / "policies" / "final"), str(tmp_path / "x.html"))
    with pytest.raises(ValueError, match=r"max_steps=0"):
        render_policy(str(run[0] / "policies" / "final"), str(tmp_path / "x.gif"), max_steps=0)


def test_brax_render_writes_brax_html_viewer(tmp_path):
    config = config_lib.base_config()
    config_lib.apply_overrides(
        config,
        {"env_id": "brax/inverted_pendulum",
         "env_kwargs": {"backend": "spring", "episode_length": 20},
         "ppo": {"net_arch": {"pi": (8,), "vf": (8,)}}},
    )  # fmt: skip
    config_lib.validate(config)
    env = make_env(config)
    spec = ppo.make_train(config, env).policy
    params = spec.network.init(jax.random.PRNGKey(0), jnp.zeros(env.observation_space.shape))
    obs_rms = RunningMeanStd.create(env.observation_space.shape)
    save_policy(str(tmp_path / "p"), Policy(spec, params, obs_rms), 0)

    result = render_policy(str(tmp_path / "p"), str(tmp_path / "ip.html"), max_steps=15)
    page = (tmp_path / "ip.html").read_text()
    assert "<title>Brax visualizer</title>" in page and 'id="brax-viewer"' in page
    assert "this page needs the network when opened" in page
    encoded = re.search(r'var system = "([^"]+)"', page).group(1)
    system = json.loads(zlib.decompress(base64.b64decode(encoded)))
    assert 1 <= result["episode_length"] <= 15
    assert len(system["states"]["x"]) == result["episode_length"] + 1
