"""Watch a saved policy: one episode as Brax's HTML viewer or a GIF.

    jaxrl-render --policy=output/.../policies/final --out=cartpole.gif
    python -m jaxrl_expert.render --policy=output/.../policies/final --out=hopper.html

Brax envs are shown by Brax's own viewer (an HTML file that loads three.js
from a CDN when opened). Classic-control envs are drawn from their
observations with Pillow, one frame per env step; MinAtar games are their
observation grids, each object channel in its own colour; image observations
of Gymnasium envs (Atari) are the newest frame the policy saw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw

from jaxrl_expert import cli, envs
from jaxrl_expert.atomic_files import write_atomic
from jaxrl_expert.checkpoints import load_policy
from jaxrl_expert.logging import configure_console

WIDTH, HEIGHT = 600, 400


def _unwrapped(env: envs.Env) -> Any:
    """The backend env under the wrappers (it holds the physics parameters)."""
    while hasattr(env, "env"):
        env = env.env
    return env


def play_episode(
    env: envs.Env,
    act: Callable[[jax.Array, jax.Array], jax.Array],
    key: jax.Array,
    max_steps: int,
    record: Callable[[envs.EnvState], Any],
) -> tuple[Any, float]:
    """`record(state)` of the first state and after every step, up to the episode's end.

    `env` must not auto-reset (pass `envs.make(...).env`), so the states after
    the end are discarded rather than shown as a new episode. One jitted scan
    of `max_steps` steps. Returns (stacked records, ground-truth return).
    """

    def step(carry, _):
        state, key = carry
        key, action_key = jax.random.split(key)
        state = env.step(state, act(state.obs, action_key))
        return (state, key), (record(state), state.done, state.reward)

    def run(key):
        key, reset_key = jax.random.split(key)
        first = env.reset(reset_key)
        _, (records, done, rewards) = jax.lax.scan(step, (first, key), length=max_steps)
        records = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), record(first), records)
        return records, done, rewards

    records, done, rewards = jax.device_get(jax.jit(run)(key))
    length = int(np.argmax(done)) + 1 if done.any() else max_steps
    return jax.tree.map(lambda x: x[: length + 1], records), float(rewards[:length].sum())


# Classic control, drawn like Gymnasium's renderers: world coordinates (y up) to pixels.


class _Canvas:
    """A frame whose world box [x0, x1] x [y0, y1] maps onto the image, y up."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.image = Image.new("RGB", (WIDTH, HEIGHT), "white")
        self.draw = ImageDraw.Draw(self.image)
        self._x0, self._y0 = x_range[0], y_range[0]
        self._scale = min(WIDTH / (x_range[1] - x_range[0]), HEIGHT / (y_range[1] - y_range[0]))

    def px(self, x: float, y: float) -> tuple[float, float]:
        return (x - self._x0) * self._scale, HEIGHT - (y - self._y0) * self._scale

    def line(self, points: list[tuple[float, float]], color: str, width: int) -> None:
        self.draw.line([self.px(x, y) for x, y in points], fill=color, width=width, joint="curve")

    def disc(self, x: float, y: float, radius_px: float, color: str) -> None:
        cx, cy = self.px(x, y)
        r = radius_px
        self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)


def _cartpole(obs: np.ndarray, params: Any) -> Image.Image:
    x, _, theta, _ = obs
    limit = float(params.x_threshold) * 1.25
    canvas = _Canvas((-limit, limit), (-1.0, 2.0))
    pole = 2 * float(params.length)
    canvas.line([(-limit, 0.0), (limit, 0.0)], "black", 1)
    for edge in (-float(params.x_threshold), float(params.x_threshold)):
        canvas.line([(edge, -0.1), (edge, 0.1)], "red", 2)
    cart_left, cart_top = canvas.px(x - 0.25, 0.15)
    cart_right, cart_bottom = canvas.px(x + 0.25, -0.15)
    canvas.draw.rectangle([cart_left, cart_top, cart_right, cart_bottom], fill="black")
    tip = (x + pole * math.sin(theta), pole * math.cos(theta))
    canvas.line([(x, 0.0), tip], "#ca9865", 10)
    canvas.disc(x, 0.0, 5, "#8184cb")
    return canvas.image


def _pendulum(obs: np.ndarray, params: Any) -> Image.Image:
    cos, sin, _ = obs
    length = float(params.l)
    canvas = _Canvas((-1.6 * length, 1.6 * length), (-1.1 * length, 1.1 * length))
    canvas.line([(0.0, 0.0), (-sin * length, cos * length)], "#cc4c4c", 16)
    canvas.disc(0.0, 0.0, 6, "black")
    return canvas.image


def _acrobot(obs: np.ndarray, params: Any) -> Image.Image:
    cos1, sin1, cos2, sin2, _, _ = obs
    l1, l2 = float(params.link_length_1), float(params.link_length_2)
    reach = (l1 + l2) * 1.1
    canvas = _Canvas((-reach * 1.5, reach * 1.5), (-reach, reach))
    canvas.line([(-reach * 1.5, l1), (reach * 1.5, l1)], "black", 1)  # the goal height
    elbow = (l1 * sin1, -l1 * cos1)
    # angle 1 + angle 2 from its sine and cosine
    tip = (elbow[0] + l2 * (sin1 * cos2 + cos1 * sin2), elbow[1] - l2 * (cos1 * cos2 - sin1 * sin2))
    canvas.line([(0.0, 0.0), elbow, tip], "#00cccc", 12)
    for x, y in ((0.0, 0.0), elbow):
        canvas.disc(x, y, 6, "#cccc00")
    return canvas.image


def _mountain_car(obs: np.ndarray, params: Any) -> Image.Image:
    position = float(obs[0])
    low, high = float(params.min_position), float(params.max_position)
    height = lambda x: 0.45 * math.sin(3 * x) + 0.55
    canvas = _Canvas((low, high), (-0.05, 1.25))
    xs = np.linspace(low, high, 100)
    canvas.line([(x, height(x)) for x in xs], "black", 2)
    goal = float(params.goal_position)
    canvas.line([(goal, height(goal)), (goal, height(goal) + 0.15)], "black", 2)
    canvas.draw.polygon(
        [canvas.px(goal, height(goal) + 0.15), canvas.px(goal + 0.06, height(goal) + 0.13),
         canvas.px(goal, height(goal) + 0.11)], fill="#cccc00",
    )  # fmt: skip
    canvas.disc(position, height(position) + 0.04, 10, "black")
    return canvas.image


# family -> (drawer, frames per second); an env id picks the family it contains.
# One colour per MinAtar object channel (matplotlib's tab10 cycle, as gymnax's viewer).
_CHANNEL_COLORS = np.array(
    [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
     [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
    np.uint8,
)  # fmt: skip


def _minatar(obs: np.ndarray, params: Any) -> Image.Image:
    """The (height, width, channels) 0/1 grid: a cell takes its last set channel's colour."""
    del params
    grid = np.asarray(obs) > 0
    cells = np.full((*grid.shape[:2], 3), 255, np.uint8)  # empty cells white
    for channel in range(grid.shape[-1]):
        cells[grid[..., channel]] = _CHANNEL_COLORS[channel % len(_CHANNEL_COLORS)]
    scale = HEIGHT // grid.shape[0]
    return Image.fromarray(cells.repeat(scale, axis=0).repeat(scale, axis=1))


_CLASSIC = {
    "CartPole": (_cartpole, 50),
    "Pendulum": (_pendulum, 20),
    "Acrobot": (_acrobot, 15),
    "MountainCar": (_mountain_car, 30),
    "MinAtar": (_minatar, 10),
}


def _classic_family(env_id: str) -> tuple[Callable[[np.ndarray, Any], Image.Image], int]:
    for family, entry in _CLASSIC.items():
        if family in env_id:
            return entry
    raise ValueError(f"env_id={env_id!r} has no renderer; allowed: Brax envs and {list(_CLASSIC)}")


_NETWORK_NOTE = (
    '<p style="font-family: sans-serif">Brax\'s viewer: its scripts load from unpkg.com and '
    "cdn.jsdelivr.net, so this page needs the network when opened.</p>"
)


def _caption(image: Image.Image, step: int, episode_return: float) -> Image.Image:
    """The frame with its step and the return so far in the top-left corner."""
    ImageDraw.Draw(image).text((8, 6), f"step {step}  return {episode_return:.1f}", fill="black")
    return image


def _check_extension(out: str, extension: str, env_id: str) -> None:
    if not out.lower().endswith(extension):
        raise ValueError(
            f"out={out!r} is invalid for {env_id}: its video must be a {extension} file"
        )


def render_policy(
    policy_dir: str,
    out: str,
    seed: int = 0,
    deterministic: bool = False,
    max_steps: int | None = None,
) -> dict[str, float]:
    """Plays one episode of the policy saved at `policy_dir` and writes it to `out`.

    Brax envs: an HTML viewer (`out` ends in .html); classic control and MinAtar:
    an animated GIF (`out` ends in .gif); image observations of a Gymnasium env
    (Atari): a GIF of the frames the policy saw. `max_steps` cuts the episode short
    (default: the env's horizon). Returns the episode's length and return.
    """
    policy = load_policy(policy_dir)
    env_id = policy.metadata["env_id"]
    host_images = env_id not in envs.ENV_IDS and policy.observation_space.is_image
    if env_id not in envs.ENV_IDS and not host_images:  # Gymnasium-trained: our port if any
        raise ValueError(
            f"{policy_dir}: render draws our JAX envs and image observations; {env_id} is a "
            "Gymnasium env only (make it with render_mode='rgb_array' and call policy.act "
            "on its observations)"
        )
    if max_steps is not None and not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps={max_steps!r} is invalid; must be an int >= 1 or None")
    act = lambda obs, key: policy.act(obs, key, deterministic)
    key = jax.random.PRNGKey(seed)
    if host_images:  # e.g. Atari: the frames the policy saw, from the Gymnasium env
        _check_extension(out, ".gif", env_id)
        env = policy.spec.make_env()
        max_steps = env.max_episode_steps if max_steps is None else max_steps
        # The host env resets itself after the end: its final_obs is the true last frame.
        (observations, rewards), episode_return = play_episode(
            env, act, key, min(max_steps, env.max_episode_steps),
            lambda s: (s.final_obs, s.true_reward),
        )  # fmt: skip
        images = _captioned(observations, rewards, lambda obs: _observed_frame(obs))
        _write_gif(out, images, fps=15)
        return {"episode_length": len(images) - 1, "episode_return": episode_return}
    env = envs.make(env_id, "jax", **policy.metadata["env_kwargs"])
    backend = _unwrapped(env)
    horizon = env.max_episode_steps
    max_steps = horizon if max_steps is None else min(max_steps, horizon)
    if envs.is_brax(env_id):
        from brax.io import html  # slow import; only for Brax envs

        _check_extension(out, ".html", env_id)
        states, episode_return = play_episode(
            env.env, act, key, max_steps, lambda s: s.core.pipeline_state
        )
        n_frames = len(states.x.pos)
        frames = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(n_frames)]
        page = html.render(backend.viewer_system(), frames).replace(
            "<body>", f"<body>\n{_NETWORK_NOTE}", 1
        )
        write_atomic(out, lambda f: f.write(page.encode()))
    else:
        draw_frame, fps = _classic_family(env_id)
        _check_extension(out, ".gif", env_id)
        (observations, rewards), episode_return = play_episode(
            env.env, act, key, max_steps, lambda s: (s.obs, s.true_reward)
        )
        images = _captioned(observations, rewards, lambda obs: draw_frame(obs, backend.params))
        n_frames = len(images)
        _write_gif(out, images, fps)
    return {"episode_length": n_frames - 1, "episode_return": episode_return}


def _captioned(observations: np.ndarray, rewards: np.ndarray, draw: Callable) -> list:
    """A frame per observation, captioned with its step and the return so far."""
    returns = np.cumsum(rewards[1:])  # after each step (the first frame is the reset)
    return [
        _caption(draw(obs), t, returns[t - 1] if t else 0.0) for t, obs in enumerate(observations)
    ]


def _write_gif(out: str, images: list, fps: int) -> None:
    write_atomic(
        out,
        lambda f: images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
        ),
    )


def _observed_frame(obs: np.ndarray) -> Image.Image:
    """An image observation as the policy saw it: RGB or gray as is; stacked frames (other
    channel counts): the newest one. Enlarged to about HEIGHT pixels high."""
    obs = np.asarray(obs)
    frame = obs if obs.shape[-1] in (1, 3) else obs[..., -1:]
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).convert("RGB")
    scale = max(1, HEIGHT // frame.shape[0])
    return image.resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)


def _define_flags(module_name: str) -> None:
    """The command's flags, with render_policy's defaults (defined by `cli.run` only)."""
    main = {"module_name": module_name}
    flags.DEFINE_string(
        "policy", None, "policy directory (policies/<step>/ or final/), or a run directory", **main
    )
    flags.DEFINE_string(
        "out", None, "file to write: .html for Brax envs, .gif for classic control", **main
    )
    flags.DEFINE_integer("seed", 0, "seed of the env reset and action sampling", **main)
    flags.DEFINE_bool("deterministic", False, "act with the policy's mode", **main)
    flags.DEFINE_integer(
        "max_steps", None, "stop after this many steps (default: the horizon)", **main
    )
    flags.mark_flags_as_required(["policy", "out"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    try:
        result = render_policy(
            FLAGS.policy, FLAGS.out, FLAGS.seed, FLAGS.deterministic, FLAGS.max_steps
        )
    except ValueError as e:  # a bad --policy, --out or --max_steps: one line, not a traceback
        raise app.UsageError(str(e)) from None
    print(json.dumps({"out": FLAGS.out, **result}))


def main_console() -> None:
    """Console entry point (`jaxrl-render`; `python -m jaxrl_expert.render`)."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    main_console()
