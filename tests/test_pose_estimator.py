"""PoseEstimator: model-file errors, bad frames and masks, output validity, segmentation path."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.network import BACKGROUND, NetworkConfig, PoseNetwork
from diff9d_ros.pose.train import TrainConfig, save_checkpoint
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import SynthFrame, synthesize

SMALL = NetworkConfig(num_points=256, point_width=64, rgb_width=32, cond_dim=64, hidden=64, num_blocks=2)


@pytest.fixture(scope="module")
def synth_frame() -> SynthFrame:
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain("realsense")
    rng = np.random.default_rng(5)
    return synthesize(
        compose_scene(rng, config, intrinsics, "test"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "pose.pt"
    save_checkpoint(path, PoseNetwork(SMALL), TrainConfig(), step=0)
    return path


def _assert_valid(det) -> None:
    r = det.rotation
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-5) and np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
    assert np.all(det.size_m > 0) and np.all(np.isfinite(det.translation_m))
    assert np.all(np.linalg.eigvalsh(det.covariance) > 0)
    assert 0.0 < det.score <= 1.0


def test_model_file_errors(tmp_path: Path, model_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PoseEstimator.from_file(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        PoseEstimator.from_file(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a Diff9D pose checkpoint"):
        PoseEstimator.from_file(foreign)
    payload = torch.load(model_path, weights_only=True)
    payload["network_config"]["hidden"] = 32
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="do not match"):
        PoseEstimator.from_file(mismatched)


def test_one_valid_detection_per_mask_with_k_hypotheses(model_path: Path, synth_frame: SynthFrame) -> None:
    estimator = PoseEstimator.from_file(model_path, SamplerConfig(hypotheses=4))
    detections = estimator.estimate(synth_frame.frame)
    expected = {o.mask_id for o in synth_frame.objects if o.visible_pixels > 200}
    assert expected <= {d.mask_id for d in detections}
    for det in detections:
        assert det.category == synth_frame.frame.categories[det.mask_id]
        _assert_valid(det)


def test_unusable_masks_are_skipped_with_a_reason(
    model_path: Path, synth_frame: SynthFrame, caplog: pytest.LogCaptureFixture
) -> None:
    frame = synth_frame.frame
    target = synth_frame.objects[0].mask_id
    depth = frame.depth_m.copy()
    depth[frame.instance_mask == target] = np.nan
    masks = {target: frame.instance_mask == target, 99: np.zeros_like(frame.instance_mask, dtype=bool)}
    estimator = PoseEstimator.from_file(model_path)
    with caplog.at_level(logging.WARNING):
        detections = estimator.estimate_masks(
            replace(frame, depth_m=depth), masks, {target: "mug", 99: "can"}
        )
    assert detections == []
    assert "0 valid depth points" in caplog.text and "empty" in caplog.text


def test_malformed_frames_raise(model_path: Path, synth_frame: SynthFrame) -> None:
    estimator = PoseEstimator.from_file(model_path)
    frame = synth_frame.frame
    with pytest.raises(ValueError, match="no valid measurement"):
        estimator.estimate(replace(frame, depth_m=np.full_like(frame.depth_m, np.nan)))
    with pytest.raises(ValueError, match="rgb"):
        estimator.estimate(replace(frame, rgb=frame.rgb[:-1]))
    with pytest.raises(ValueError, match="instance mask"):
        estimator.estimate(replace(frame, instance_mask=frame.instance_mask[:, :-1]))


def test_builtin_segmentation_path(model_path: Path, synth_frame: SynthFrame) -> None:
    """Without masks the estimator segments the table itself; the category head decides, and with
    the background class and the score threshold switched off every segment becomes a detection."""
    estimator = PoseEstimator.from_file(model_path, SamplerConfig(min_score=0.0))
    with torch.no_grad():
        estimator.network.classifier[1].bias[BACKGROUND] = -100.0  # this random head never says background
    bare = replace(synth_frame.frame, instance_mask=None, categories={})
    detections = estimator.estimate(bare)
    assert len(detections) >= sum(o.visible_pixels > 1000 for o in synth_frame.objects) - 1
    for det in detections:
        _assert_valid(det)
    with torch.no_grad():
        estimator.network.classifier[1].bias[BACKGROUND] = 100.0  # now everything is background
    assert estimator.estimate(bare) == []
