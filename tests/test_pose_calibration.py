"""Calibration of the hypotheses' spread: fitted factors cover the intended share of errors, the
report measures coverage and rank correlation, and the model file carries the factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.pose.calibration import (
    SpreadSample,
    apply_calibration,
    calibration_report,
    fit_calibration,
    write_calibration,
)
from diff9d_ros.pose.estimator import Calibration, PoseEstimator, jitter_mask
from diff9d_ros.pose.network import NetworkConfig, PoseNetwork
from diff9d_ros.pose.train import TrainConfig, save_checkpoint


def _samples(n: int, seed: int) -> list[SpreadSample]:
    """Errors that really scale with an object's difficulty; the raw spread sees a third of it."""
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.01, 0.5, n)
    rot_err = np.abs(rng.normal(0.0, difficulty))
    trans_err = np.abs(rng.normal(0.0, difficulty / 10.0))
    return [
        SpreadSample("can", float(r), float(d / 3.0 + 0.01), float(t), float(d / 30.0 + 0.001))
        for r, t, d in zip(rot_err, trans_err, difficulty, strict=True)
    ]


def test_fitted_calibration_covers_the_errors_of_new_samples() -> None:
    calibration = fit_calibration(_samples(2000, 0), coverage=0.85)
    assert calibration.rotation_scale > 1.5 and calibration.translation_scale > 1.5
    held_out = calibration_report(apply_calibration(_samples(2000, 1), calibration))
    assert 82.0 < held_out["rotation_within_2sigma_pct"] < 88.0
    assert 82.0 < held_out["translation_within_2sigma_pct"] < 88.0
    assert held_out["rotation_spearman"] > 0.4
    raw = calibration_report(_samples(2000, 1))
    assert raw["rotation_within_2sigma_pct"] < 70.0  # uncalibrated, the spread is too narrow
    with pytest.raises(ValueError, match="coverage"):
        fit_calibration(_samples(10, 0), coverage=1.0)


def test_spread_unrelated_to_error_has_no_rank_correlation() -> None:
    rng = np.random.default_rng(3)
    samples = [SpreadSample("mug", *map(float, row)) for row in rng.uniform(0, 1, (500, 4))]
    assert abs(calibration_report(samples)["rotation_spearman"]) < 0.15


def test_model_file_carries_the_calibration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "pose.pt"
    config = NetworkConfig(num_points=64, crop_px=32, point_width=32, rgb_width=32, cond_dim=32, hidden=32)
    save_checkpoint(path, PoseNetwork(config), TrainConfig(), step=0)
    assert PoseEstimator.from_file(path).calibration == Calibration()
    write_calibration(path, Calibration(3.5, 2.0), {"split": "val"})
    assert PoseEstimator.from_file(path).calibration == Calibration(3.5, 2.0)
    payload = torch.load(path, weights_only=True)
    payload["calibration"] = {"rotation_scale": -1.0, "translation_scale": 1.0}
    torch.save(payload, path)
    with pytest.raises(ValueError, match="positive"):
        PoseEstimator.from_file(path)


def test_jittered_masks_stay_near_the_mask() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 12:25] = True
    for seed in range(10):
        out = jitter_mask(mask, np.random.default_rng(seed))
        assert out.any() and abs(int(out.sum()) - int(mask.sum())) <= 2 * 2 * (20 + 13) + 16
