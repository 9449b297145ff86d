"""The shipped Diff9D model on real-sensor stress: injected mask bleed changes no pose, the model
beats the learning-free box fit on rendered test frames, and K hypotheses spread more where the
error is larger."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.geometry.rotations import geodesic_angle_rad
from diff9d_ros.pose.baseline import rectangle_box_fit
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.evaluate import box_method, evaluate_with_gt_masks
from diff9d_ros.resources import share_path
from diff9d_ros.synth import masks
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import synthesize

MODEL = share_path("models") / "diff9d_pose.pt"
INTRINSICS = Intrinsics.realsense_d435()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _frames(seed: int, count: int, **overrides) -> list:
    config = RandomizationConfig.for_domain("realsense", **overrides)
    renderer = Renderer(INTRINSICS, nthreads=1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        synth = synthesize(compose_scene(rng, config, INTRINSICS, "test"), renderer, config.sensor, rng)
        out.append((synth.frame, synth.objects))
    return out


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    return PoseEstimator.from_file(MODEL)


def test_injected_bleed_gives_the_clean_pose(estimator: PoseEstimator) -> None:
    ((frame, truths),) = _frames(7, 1, objects_range=(4, 5), lying_probability=0.0)
    clean, bled, checked = {}, {}, 0
    for k, truth in enumerate(truths):
        mask = frame.instance_mask == truth.detection.mask_id
        if truth.visible_pixels < 500:
            continue
        dirty = masks.bleed(mask, frame.depth_m, np.random.default_rng(k), fraction=(0.1, 0.12))
        if masks.bleed_fraction(mask, dirty, frame.depth_m, 0.04) >= 0.05:
            clean[truth.detection.mask_id], bled[truth.detection.mask_id] = mask, dirty
    categories = {t.detection.mask_id: t.detection.category for t in truths}
    for a, b in zip(
        estimator.estimate_masks(frame, clean, categories),
        estimator.estimate_masks(frame, bled, categories),
        strict=True,
    ):
        assert np.linalg.norm(a.translation_m - b.translation_m) < 0.005, a.category
        assert np.degrees(geodesic_angle_rad(a.rotation, b.rotation)) < 2.0, a.category
        checked += 1
    assert checked >= 3


def test_beats_the_learning_free_box_fit(estimator: PoseEstimator) -> None:
    frames = _frames(3, 4)
    methods = {"diff9d": estimator.estimate_masks, "box_fit": box_method(rectangle_box_fit, True)}
    tables = {name: r.table()["mean"] for name, r in evaluate_with_gt_masks(frames, methods).items()}
    for metric in ("IoU50", "10deg5cm"):
        assert tables["diff9d"][metric] > tables["box_fit"][metric], (metric, tables)


def test_hypotheses_spread_more_where_the_error_is_larger() -> None:
    from diff9d_ros.pose.calibration import spread_samples

    torch.manual_seed(0)
    estimator = PoseEstimator.from_file(MODEL, SamplerConfig(hypotheses=6))
    samples = spread_samples(_frames(5, 4), estimator.estimate_masks)
    errors = np.array([s.rotation_error_rad for s in samples])
    sigmas = np.array([s.rotation_sigma_rad for s in samples])
    large = errors > np.median(errors)
    assert sigmas[large].mean() > sigmas[~large].mean()
