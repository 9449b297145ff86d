"""Every shipped GeoTDM model (``models/geotdm_*.pt``) loads and beats constant velocity on fixed inputs.

The inputs are made here, deterministically, the way each model's data is: charged particles from
the N-body simulator (a seed no split uses), tabletop object tracks from the synthetic sequence
generator, and for the pedestrian models walkers with the annotation jitter of ETH-UCY (a few
centimetres), some turning, some slowing down. The pedestrian models are also checked for what the
people path promises: a person walking a straight line is forecast straight, and rotating and
translating the input in ``map`` rotates and translates the forecast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.trajectory import nbody, tabletop
from diff9d_ros.trajectory.datasets import PEDESTRIAN_TASKS, task_spec
from diff9d_ros.trajectory.evaluate import evaluate, sample_spread
from diff9d_ros.trajectory.forecaster import Forecaster
from diff9d_ros.trajectory.model import GeoTDM
from diff9d_ros.trajectory.sampling import SpeedTemperature, forecast_samples, speed_normalised
from diff9d_ros.trajectory.windows import Windows

MODELS = sorted((Path(__file__).resolve().parent.parent / "models").glob("geotdm_*.pt"))
PEDESTRIAN_MODELS = [p for p in MODELS if p.stem.removeprefix("geotdm_") in PEDESTRIAN_TASKS]


def walkers(seed: int = 0, count: int = 24) -> Windows:
    """Pedestrians at 0.4 s per frame: 1-1.6 m/s, headings turning at up to 0.25 rad/s or slowing
    down by up to 30 %, observed with 4 cm jitter; futures exact."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count, 1, 20, 3))
    for i in range(count):
        speed, heading = rng.uniform(1.0, 1.6), rng.uniform(-np.pi, np.pi)
        turn = rng.uniform(-0.25, 0.25) if i % 2 else 0.0
        slow = 1.0 - (rng.uniform(0.0, 0.3) if i % 3 == 0 else 0.0) * np.linspace(0, 1, 20)
        angles = heading + turn * 0.4 * np.arange(20)
        steps = 0.4 * speed * slow[:, None] * np.stack([np.cos(angles), np.sin(angles), 0 * angles], axis=1)
        out[i, 0] = rng.uniform(-5.0, 5.0, 3) * [1, 1, 0] + np.cumsum(steps, axis=0)
    out[:, :, :8, :2] += rng.normal(0.0, 0.04, (count, 1, 8, 2))
    return Windows(out.astype(np.float32), np.ones((count, 1, 1), np.float32), None, 8)


def fixed_inputs(task: str) -> list[Windows]:
    if task in nbody.TASKS:
        data = nbody.simulate(task, 16, seed=2024)
        positions = np.ascontiguousarray(data.positions.transpose(0, 2, 1, 3), dtype=np.float32)
        return [
            Windows(positions, data.node_features.astype(np.float32), data.edge_attr.astype(np.float32), 10)
        ]
    if task == tabletop.TASK:
        grouped = tabletop.generate_split("test", 3, seed=2024)
        return [
            Windows(b, np.ones((*b.shape[:2], 1), np.float32), None, tabletop.NUM_OBS)
            for b in grouped.values()
        ]
    return [walkers()]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_shipped_model_beats_constant_velocity(path: Path, one_torch_thread: None) -> None:
    model, payload = GeoTDM.load(path)
    task = payload["task"]
    spec = task_spec(task)
    assert payload["planar"] == spec.planar, f"{path.name}: planar flag disagrees with its task {task}"
    groups = fixed_inputs(task)
    cv = evaluate(None, groups, num_samples=1, reduce="mean")
    shipped = PipelineConfig()  # pedestrian models run with the people path's sampler and temperature
    sampler, steps, temperature = (
        (shipped.people_sampler, shipped.people_steps, shipped.people_temperatures)
        if spec.planar
        else ("dpmpp_2m", 3, 1.0)
    )
    geotdm = evaluate(
        model.eval(),
        groups,
        num_samples=spec.num_eval_samples,
        reduce=spec.metric,
        sampler=sampler,
        num_steps=steps,
        planar=spec.planar,
        temperature=temperature,
    )
    assert geotdm.ade < 0.8 * cv.ade and geotdm.fde < 0.8 * cv.fde, (task, geotdm, cv)


def people_forecaster(path: Path) -> Forecaster:
    """``path`` with the people path's sampler settings, which the shipped models are fine-tuned for."""
    shipped = PipelineConfig()
    return Forecaster.from_checkpoint(
        path,
        sampler=shipped.people_sampler,
        num_steps=shipped.people_steps,
        temperature=shipped.people_temperatures,
        max_step=shipped.people_max_step_m or None,
        speed_temperature=shipped.people_speed_temperature,
        draws=shipped.people_draws or None,
        seed=0,
    )


@pytest.mark.parametrize("path", PEDESTRIAN_MODELS, ids=lambda p: p.name)
def test_a_straight_walker_is_forecast_straight(path: Path, one_torch_thread: None) -> None:
    """With the people path's settings, the mean of a walker's 20 samples keeps walking forward along
    their line at about their speed."""
    forecaster = people_forecaster(path)
    history = np.array([[2.0 + 0.5 * k, 1.0 + 0.2 * k, 0.0] for k in range(8)])  # 1.35 m/s
    mean = forecaster.forecast({"walker": history}, horizon=12, n_samples=20)["walker"].mean(axis=0)
    direction = (history[-1] - history[0]) / np.linalg.norm(history[-1] - history[0])
    offsets = mean - history[-1]
    along = offsets @ direction
    across = np.linalg.norm(offsets - along[:, None] * direction, axis=1)
    assert np.all(np.diff(along) > 0), "the forecast must keep walking forward"
    assert along[-1] == pytest.approx(12 * np.linalg.norm(history[1] - history[0]), rel=0.25)
    assert across.max() < 0.1 * along[-1], across


@pytest.mark.parametrize("path", PEDESTRIAN_MODELS[:1], ids=lambda p: p.name)
def test_rotating_and_translating_the_input_moves_the_forecast(path: Path, one_torch_thread: None) -> None:
    """The same rigid motion of every history in ``map`` moves the prior exactly and the sample mean
    within its Monte-Carlo error (the noise draws themselves are not rotated)."""
    rng = np.random.default_rng(5)
    tracks = {
        f"p{i}": np.cumsum(rng.normal(0.0, 0.3, (8, 3)) * [1, 1, 0], axis=0) + np.array([i, 0.0, 0.0])
        for i in range(4)
    }
    c, s = np.cos(1.1), np.sin(1.1)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    shift = np.array([12.0, -7.0, 0.0])
    moved = {k: v @ rotation.T + shift for k, v in tracks.items()}
    base = Forecaster.from_checkpoint(path, seed=3).forecast(tracks, 12, 400)
    other = Forecaster.from_checkpoint(path, seed=4).forecast(moved, 12, 400)
    for key in tracks:
        expected = base[key].mean(axis=0) @ rotation.T + shift
        np.testing.assert_allclose(other[key].mean(axis=0), expected, atol=0.1)
        np.testing.assert_allclose(other[key][..., 2], 0.0, atol=1e-9)
    model = GeoTDM.load(path)[0].eval()
    x_obs = torch.as_tensor(np.stack(list(tracks.values())), dtype=torch.float32)[None]
    moved_obs = torch.as_tensor(np.stack(list(moved.values())), dtype=torch.float32)[None]
    ones = torch.ones(1, 4, 1)
    with torch.no_grad():
        prior, moved_prior = model.prior_mean(x_obs, ones), model.prior_mean(moved_obs, ones)
    expected = prior @ torch.as_tensor(rotation.T, dtype=torch.float32) + torch.as_tensor(
        shift, dtype=torch.float32
    )
    torch.testing.assert_close(moved_prior, expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("path", PEDESTRIAN_MODELS[:1], ids=lambda p: p.name)
def test_a_temperature_ramp_narrows_the_first_frames_and_keeps_the_last(
    path: Path, one_torch_thread: None
) -> None:
    """With the temperature ramped from 0.3 to 3 the samples of the first future frame spread less
    than with 3 for every frame, those of the last about as much; a bad ramp is refused. Not down to
    0.3's tenth: the network's attention over the frames mixes their noise, by how much depends on
    the model (the first frame's spread 0.65 of the constant temperature's for the eth model trained
    without speed augmentation, 0.88 for the shipped one; 1 when the ramp is ignored)."""
    history = {"walker": np.array([[0.5 * k, 0.1 * k, 0.0] for k in range(8)])}
    spread = {}
    for temperature in (3.0, (0.3, 3.0)):
        samples = Forecaster.from_checkpoint(path, seed=1, temperature=temperature).forecast(history, 12, 200)
        spread[temperature] = samples["walker"].std(axis=0).sum(axis=-1)  # (12,) per future frame
    assert spread[(0.3, 3.0)][0] < 0.95 * spread[3.0][0], spread
    assert spread[(0.3, 3.0)][-1] == pytest.approx(spread[3.0][-1], rel=0.15), spread
    for bad, message in (
        ((1.0, 0.0), "temperatures must be > 0"),
        ((1.0, 2.0, 3.0), "ramp is \\(first, last\\)"),
    ):
        with pytest.raises(ValueError, match=message):
            Forecaster.from_checkpoint(path, temperature=bad)


def test_a_fast_scene_is_shrunk_to_the_step_limit_about_its_last_centroid() -> None:
    steps = torch.arange(8, dtype=torch.float32)[None, None, :, None] * torch.tensor([0.9, 0.0, 0.0])
    x_obs = torch.cat([steps, steps + torch.tensor([0.0, 2.0, 0.0])], dim=1)  # 2 walkers, 0.9 m a frame
    shrunk, centre, factor = speed_normalised(x_obs, 0.3)
    assert factor.flatten().tolist() == pytest.approx([3.0])
    torch.testing.assert_close(centre.flatten(), torch.tensor([6.3, 1.0, 0.0]))
    torch.testing.assert_close(shrunk, centre + (x_obs - centre) / 3.0)
    assert (shrunk[:, :, 1:] - shrunk[:, :, :-1]).norm(dim=-1).median() == pytest.approx(0.3)
    slow, _, one = speed_normalised(x_obs, 1.0)
    assert one.item() == 1.0 and torch.equal(slow, x_obs)
    with pytest.raises(ValueError, match="max_step must be > 0"):
        speed_normalised(x_obs, 0.0)


@pytest.mark.parametrize("path", PEDESTRIAN_MODELS[:1], ids=lambda p: p.name)
def test_fast_walkers_are_forecast_at_the_limit_and_scaled_back(path: Path, one_torch_thread: None) -> None:
    """A scene within the step limit is forecast exactly as without it; a faster one is the forecast
    of its shrunk copy scaled back about the same centroid (same noise)."""
    model = GeoTDM.load(path)[0].eval()
    x_obs = torch.tensor([[[1.0 * k, 0.2 * k, 0.0] for k in range(8)]])[None]  # 1 m a frame
    ones = torch.ones(1, 1, 1)

    def draw(obs: torch.Tensor, max_step: float | None) -> torch.Tensor:
        generator = torch.Generator().manual_seed(5)
        return forecast_samples(
            model,
            obs,
            ones,
            None,
            4,
            sampler="dpmpp_2m",
            num_steps=3,
            planar=True,
            generator=generator,
            max_step=max_step,
        )

    assert torch.equal(draw(x_obs, 2.0), draw(x_obs, None))
    shrunk, centre, factor = speed_normalised(x_obs, 0.5)
    expected = centre[:, None] + (draw(shrunk, None) - centre[:, None]) * factor[:, None]
    torch.testing.assert_close(draw(x_obs, 0.5), expected)
    assert factor.item() == pytest.approx(float(np.hypot(1.0, 0.2)) / 0.5, rel=1e-5)


def test_speed_temperature_factors_follow_the_last_observed_steps() -> None:
    """(speed + floor) / (reference + floor) of the mean of the last two steps; bad values refused."""
    scale = SpeedTemperature(reference=0.3, floor=0.2)
    standing = torch.zeros(8, 3)
    walking = torch.tensor([[0.3 * k, 0.0, 0.0] for k in range(8)])
    slowing = walking.clone()
    slowing[-2:] = slowing[-3]  # stopped two frames ago
    factors = scale.factors(torch.stack([standing, walking, slowing])[None])
    torch.testing.assert_close(factors, torch.tensor([[0.4, 1.0, 0.4]]))
    assert scale.label() == "speed 0.3/0.2 m"
    for reference, floor in ((0.0, 0.2), (0.3, 0.0)):
        with pytest.raises(ValueError, match="reference > 0 and floor > 0"):
            SpeedTemperature(reference, floor)


@pytest.mark.parametrize("path", PEDESTRIAN_MODELS[:1], ids=lambda p: p.name)
def test_speed_temperature_narrows_a_standing_persons_samples(path: Path, one_torch_thread: None) -> None:
    """With the same noise, a person standing still gets samples 0.4 times as spread as without the
    speed scaling (floor / (reference + floor)), a walker at the reference speed about the same."""
    model = GeoTDM.load(path)[0].eval()
    standing = torch.tensor([[0.0, 3.0, 0.0]]).expand(8, 3)
    walking = torch.tensor([[0.3 * k, 0.0, 0.0] for k in range(8)])
    x_obs = torch.stack([standing, walking])[None]

    def spread(speed: SpeedTemperature | None) -> torch.Tensor:
        samples = forecast_samples(
            model,
            x_obs,
            torch.ones(1, 2, 1),
            None,
            16,
            sampler="dpmpp_2m",
            num_steps=3,
            planar=True,
            generator=torch.Generator().manual_seed(3),
            temperature=(0.5, 3.0),
            speed_temperature=speed,
        )
        return sample_spread(samples)[0]

    plain, scaled = spread(None), spread(SpeedTemperature(0.3, 0.2))
    assert scaled[0] < 0.6 * plain[0]
    assert scaled[1] == pytest.approx(float(plain[1]), rel=0.15)
