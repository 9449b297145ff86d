"""PoseEstimator: model-file errors, bad frames and masks, output validity, segmentation path; an API
that refuses bad frames with a ValueError naming the problem (depth units and dtypes, NaN/zero
depth, intrinsics, masks) and accepts NOCS ids and names in any case."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame, depth_from_raw
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig, second_segments
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


def _masks(frame: SynthFrame) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    objects = [o for o in frame.objects if o.visible_pixels > 200]
    masks = {o.mask_id: frame.frame.instance_mask == o.mask_id for o in objects}
    return masks, {o.mask_id: o.category for o in objects}


def test_depth_in_the_wrong_units_raises(model_path: Path, synth_frame: SynthFrame) -> None:
    estimator = PoseEstimator.from_file(model_path)
    frame = synth_frame.frame
    masks, categories = _masks(synth_frame)
    millimetres = np.nan_to_num(np.round(frame.depth_m * 1000.0)).astype(np.uint16)
    for call in (
        lambda f: estimator.estimate(f),
        lambda f: estimator.estimate_masks(f, masks, categories),
        lambda f: f.validate(),
    ):
        with pytest.raises(ValueError, match="uint16"):
            call(replace(frame, depth_m=millimetres))
        with pytest.raises(ValueError, match="millimetres"):
            call(replace(frame, depth_m=frame.depth_m * 1000.0))
        with pytest.raises(ValueError, match="no valid measurement"):
            call(replace(frame, depth_m=np.zeros_like(frame.depth_m)))
        with pytest.raises(ValueError, match="negative"):
            call(replace(frame, depth_m=-frame.depth_m))


def test_raw_depth_with_depth_scale_equals_metres(model_path: Path, synth_frame: SynthFrame) -> None:
    estimator = PoseEstimator.from_file(model_path)
    frame = synth_frame.frame
    millimetres = np.nan_to_num(np.round(frame.depth_m * 1000.0)).astype(np.uint16)
    with pytest.raises(ValueError, match="depth_scale"):
        depth_from_raw(millimetres)
    raw = RGBDFrame.from_arrays(frame.rgb, millimetres, frame.intrinsics.matrix, depth_scale=0.001)
    assert np.allclose(raw.depth_m, frame.depth_m, equal_nan=True, atol=1e-6)
    masks, categories = _masks(synth_frame)
    ours = estimator.estimate_masks(raw, masks, categories)
    reference = estimator.estimate_masks(frame, masks, categories)
    assert len(ours) == len(reference) > 0
    for a, b in zip(ours, reference, strict=True):  # float32 rounding may move a RANSAC inlier
        assert np.linalg.norm(a.translation_m - b.translation_m) < 0.005


def test_bad_intrinsics_and_images_raise(synth_frame: SynthFrame) -> None:
    frame = synth_frame.frame
    with pytest.raises(ValueError, match="3x3"):
        RGBDFrame.from_arrays(frame.rgb, frame.depth_m, np.eye(4))
    with pytest.raises(ValueError, match="NaN or inf"):
        Intrinsics.from_matrix(np.full((3, 3), np.nan), 320, 240)
    with pytest.raises(ValueError, match="focal lengths"):
        Intrinsics.from_matrix(np.diag([0.0, 500.0, 1.0]), 320, 240)
    with pytest.raises(ValueError, match="rgb"):
        replace(frame, rgb=frame.rgb.astype(np.float32)).validate()
    with pytest.raises(ValueError, match="2-D"):
        depth_from_raw(np.zeros((4, 4, 1)), 0.001)


def test_bad_masks_raise_naming_the_mask(model_path: Path, synth_frame: SynthFrame) -> None:
    estimator = PoseEstimator.from_file(model_path)
    frame = synth_frame.frame
    masks, categories = _masks(synth_frame)
    first = next(iter(masks))
    with pytest.raises(ValueError, match=f"mask {first} shape"):
        estimator.estimate_masks(frame, {**masks, first: masks[first][:-1]}, categories)
    with pytest.raises(ValueError, match=f"mask {first} must be bool"):
        estimator.estimate_masks(frame, {**masks, first: masks[first].astype(np.float32)}, categories)
    with pytest.raises(ValueError, match="0/1"):
        estimator.estimate_masks(frame, {**masks, first: frame.instance_mask}, categories)
    with pytest.raises(ValueError, match="integers"):
        estimator.estimate_masks(frame, {"one": masks[first]}, categories)
    with pytest.raises(ValueError, match="instance mask"):
        estimator.estimate(replace(frame, instance_mask=frame.instance_mask.astype(np.float32)))


def test_categories_by_nocs_id_or_any_case(model_path: Path, synth_frame: SynthFrame) -> None:
    from diff9d_ros.nocs import CATEGORIES

    estimator = PoseEstimator.from_file(model_path)
    frame = synth_frame.frame
    masks, categories = _masks(synth_frame)
    by_id = {k: CATEGORIES.index(c) + 1 for k, c in categories.items()}
    capitalised = {k: c.upper() for k, c in categories.items()}
    expected = estimator.estimate_masks(frame, masks, categories)
    for labels in (by_id, capitalised):
        got = estimator.estimate_masks(frame, masks, labels)
        assert [d.category for d in got] == [d.category for d in expected]
        assert all(np.allclose(a.rotation, b.rotation) for a, b in zip(got, expected, strict=True))
    first = next(iter(masks))
    with pytest.raises(ValueError, match=f"mask {first}: unknown category 'teapot'"):
        estimator.estimate_masks(frame, masks, {**categories, first: "teapot"})
    with pytest.raises(ValueError, match="NOCS class id 9"):
        estimator.estimate_masks(frame, masks, {**categories, first: 9})


def test_model_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"format": "diff9d_ros.pose/1", "state_dict": {}}, path)
    with pytest.raises(ValueError, match="retrain"):
        PoseEstimator.from_file(path)


def test_a_second_segment_of_a_detected_object_is_dropped() -> None:
    """A laptop split into lid and base gives two laptop detections whose boxes share the centre
    region: only the higher-scored one stays. Other categories, and objects whose category was
    given (an external detector's masks), are kept."""

    def laptop(x_m: float, score: float, category: str = "laptop") -> Detection:
        return Detection(category, np.eye(3), np.array([x_m, 0.0, 1.0]), np.array([0.3, 0.2, 0.3]), score)

    base, lid, neighbour = laptop(0.0, 0.9), laptop(0.1, 0.95), laptop(0.5, 0.8)
    assert lid.contains(base.translation_m) and not lid.contains(neighbour.translation_m)
    assert second_segments([base, lid, neighbour], [True, True, True]) == {0}
    assert second_segments([base, lid], [False, True]) == set()  # a given mask is never dropped
    assert second_segments([base, lid], [True, False]) == {0}
    assert second_segments([base, lid], [False, False]) == set()
    assert second_segments([laptop(0.0, 0.9, "camera"), lid], [True, True]) == set()


def test_the_sampler_s_spacing_and_a_single_step() -> None:
    assert SamplerConfig().spacing == "trailing"  # the shipped model's, chosen on validation data
    assert SamplerConfig(num_steps=1).spacing == "trailing"  # linspace's single step is at t = 0
    assert SamplerConfig(num_steps=3, timesteps="leading").spacing == "leading"
    with pytest.raises(ValueError, match="runs at t = 0"):
        SamplerConfig(num_steps=1, timesteps="linspace")
