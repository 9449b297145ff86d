"""Keeping K of D drawn forecasts by farthest-point selection of their end points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.trajectory.covering import covering_subset, farthest_point_indices
from diff9d_ros.trajectory.datasets import PEDESTRIAN_TASKS
from diff9d_ros.trajectory.evaluate import evaluate, sample_spread
from diff9d_ros.trajectory.forecaster import Forecaster
from diff9d_ros.trajectory.model import GeoTDM
from diff9d_ros.trajectory.windows import Windows

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
PEDESTRIAN_MODEL = next(p for t in PEDESTRIAN_TASKS if (p := MODELS_DIR / f"geotdm_{t}.pt").is_file())


def covering_radius(points: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Per set (M,): the largest distance of a point (M, D, F) to its nearest kept point (M, K, F)."""
    return torch.cdist(points, kept).min(-1).values.max(-1).values


def test_farthest_points_start_at_the_centre_and_then_take_the_extremes() -> None:
    line = torch.tensor([[[0.0], [4.0], [5.0], [6.0], [10.0], [5.2]]])  # mean 5.03: index 2 first
    assert farthest_point_indices(line, 1).tolist() == [[2]]
    order = farthest_point_indices(line, 4)[0].tolist()
    assert order[0] == 2 and set(order[1:3]) == {0, 4} and order[3] in (1, 3)
    assert len(set(farthest_point_indices(line, 6)[0].tolist())) == 6  # all, each once
    with pytest.raises(ValueError, match=r"count must lie in 1\.\.6"):
        farthest_point_indices(line, 7)
    with pytest.raises(ValueError, match=r"points must be \(M, D, F\)"):
        farthest_point_indices(line[0], 2)


def test_the_kept_draws_are_draws_and_cover_their_ends_better_than_the_first_twenty() -> None:
    generator = torch.Generator().manual_seed(0)
    samples = torch.randn(3, 60, 4, 12, 3, generator=generator).cumsum(3)  # (B, D, N, T, 3) walks
    kept = covering_subset(samples, 20)
    assert kept.shape == (3, 20, 4, 12, 3)
    ends = samples[:, :, :, -1].transpose(1, 2).reshape(12, 60, 3)  # (B N, D, 3)
    for b in range(3):
        for n in range(4):
            for k in range(20):  # every kept path is one of the agent's draws, unchanged
                assert (kept[b, k, n] == samples[b, :, n]).all(-1).all(-1).any()
    kept_ends = kept[:, :, :, -1].transpose(1, 2).reshape(12, 20, 3)
    first_ends = ends[:, :20]
    assert (covering_radius(ends, kept_ends) < covering_radius(ends, first_ends)).all()
    with pytest.raises(ValueError, match=r"samples must be \(B, D, N, T, 3\)"):
        covering_subset(samples[0], 20)


def test_more_draws_keep_a_wider_set_and_a_closer_best_end(one_torch_thread: None) -> None:
    """The shipped pedestrian model on walkers that turn: 20 of 60 draws spread wider than 20 draws
    and their best end point is closer to the truth; the forecaster returns the samples asked for."""
    rng = np.random.default_rng(1)
    count = 16
    out = np.zeros((count, 1, 20, 3), np.float32)
    for i in range(count):
        heading, turn = rng.uniform(-np.pi, np.pi), rng.choice([-0.3, 0.3])
        angles = heading + turn * np.clip(np.arange(20) - 7, 0, None)  # turns after the last observed
        out[i, 0, :, :2] = np.cumsum(0.5 * np.stack([np.cos(angles), np.sin(angles)], 1), 0)
    windows = [Windows(out, np.ones((count, 1, 1), np.float32), None, 8)]
    model = GeoTDM.load(PEDESTRIAN_MODEL)[0].eval()
    common = dict(num_samples=20, reduce="min", sampler="dpmpp_2m", num_steps=3, planar=True)
    twenty = evaluate(model, windows, temperature=(0.5, 3.0), **common)
    covered = evaluate(model, windows, temperature=(0.5, 3.0), draws=60, **common)
    assert covered.spread > 1.2 * twenty.spread
    assert covered.fde < twenty.fde
    history = out[0, 0, :8].astype(np.float64)
    forecaster = Forecaster.from_checkpoint(PEDESTRIAN_MODEL, draws=60, temperature=(0.5, 3.0))
    samples = forecaster.forecast({"walker": history}, horizon=6, n_samples=20)["walker"]
    assert samples.shape == (20, 6, 3)
    plain = Forecaster.from_checkpoint(PEDESTRIAN_MODEL, temperature=(0.5, 3.0))
    again = plain.forecast({"walker": history}, horizon=6, n_samples=20)["walker"]
    wider = sample_spread(torch.as_tensor(samples)[:, None][None])
    narrower = sample_spread(torch.as_tensor(again)[:, None][None])
    assert float(wider) > float(narrower)
    with pytest.raises(ValueError, match="draws must be >= 1"):
        Forecaster.from_checkpoint(PEDESTRIAN_MODEL, draws=0)
