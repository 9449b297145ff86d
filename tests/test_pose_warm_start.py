"""Temporal warm start of the pose chain: the memory's matching rules, an unchanged cold chain,
warm poses that agree with cold ones on a rendered sequence, and no drift on a static scene."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics, instance_masks
from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.pose.estimator import PoseEstimator
from diff9d_ros.pose.warm_start import Remembered, WarmStartConfig, WarmStartMemory
from diff9d_ros.sources.synthetic import SyntheticSource

MODEL = Path(__file__).resolve().parents[1] / "models" / "diff9d_pose.pt"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _detection(category: str, x_m: float) -> Detection:
    return Detection(category, np.eye(3), np.array([x_m, 0.0, 0.8]), np.full(3, 0.1), 1.0, np.eye(6))


def test_a_warm_chain_starts_before_a_final_clean_up_step_at_t_zero() -> None:
    one = WarmStartConfig(steps=1)
    assert one.chain_start([999, 666, 332]) == 2  # trailing: the last step, from t = 332
    assert one.chain_start([999, 500, 0]) == 1  # linspace: from t = 500, then the pass at t = 0
    assert one.chain_start([999, 0]) == 0  # nothing left before the clean-up: warm start off
    assert WarmStartConfig(steps=2).chain_start([999, 666, 332]) == 1
    assert WarmStartConfig(steps=3).chain_start([999, 666, 332]) == 0  # not fewer steps than cold
    assert WarmStartConfig(steps=0).chain_start([999, 500, 0]) == 0


def test_memory_matches_nearest_once_within_gate_and_age() -> None:
    memory = WarmStartMemory(WarmStartConfig(steps=1, gate_m=0.03, max_age_s=0.5))
    memory.begin(0)
    assert memory.match(np.zeros(3)) is None  # nothing remembered yet
    mugs = [Remembered(np.array([x, 0, 0.8]), _detection("mug", x)) for x in (0.0, 0.05)]
    memory.remember(0, mugs)
    memory.begin(100_000_000)
    assert memory.match(np.array([0.045, 0, 0.8])) is mugs[1]  # the nearer one
    assert memory.match(np.array([0.045, 0, 0.8])) is None  # used; the other is beyond the gate
    assert memory.match(np.array([0.01, 0, 0.8])) is mugs[0]
    assert memory.matches == 2
    memory.remember(100_000_000, mugs[:1])
    memory.begin(700_000_000)  # 0.6 s later: too old
    assert memory.match(np.array([0.0, 0, 0.8])) is None
    memory.remember(700_000_000, mugs[:1])
    memory.begin(600_000_000)  # backwards (a new stream): forgotten
    assert memory.match(np.array([0.0, 0, 0.8])) is None
    for bad in ({"steps": -1}, {"gate_m": 0.0}, {"max_age_s": -1.0}):
        with pytest.raises(ValueError, match="warm start needs"):
            WarmStartConfig(**bad)
    with pytest.raises(ValueError, match="pose_warm_steps must be"):
        PipelineConfig(pose_warm_steps=-1).validate()


@pytest.fixture(scope="module")
def sequence() -> list:
    source = SyntheticSource(
        seconds=0.2, fps=30.0, seed=11, objects=(3, 3), intrinsics=Intrinsics.realsense_d435(320, 240)
    )
    return list(source.synth_frames())


def _run(estimator: PoseEstimator, frames: list, memory: WarmStartMemory | None) -> list[list[Detection]]:
    out = []
    for synth in frames:
        masks = instance_masks(synth.frame.instance_mask)
        categories = {o.detection.mask_id: o.detection.category for o in synth.objects if o.visible_pixels}
        masks = {i: m for i, m in masks.items() if i in categories}
        out.append(estimator.estimate_masks(synth.frame, masks, categories, None, memory))
    return out


def test_warm_poses_agree_with_cold_ones_and_the_cold_chain_is_unchanged(sequence: list) -> None:
    estimator = PoseEstimator.from_file(MODEL)
    cold = _run(estimator, sequence, None)
    memory = WarmStartMemory(WarmStartConfig(steps=1))
    warm = _run(estimator, sequence, memory)
    objects = [len(frame) for frame in cold]
    assert objects[0] == 3 and memory.matches == sum(objects[1:])  # every object after the first frame
    for a, b in zip(cold[0], warm[0], strict=True):  # the first frame is cold: the same numbers
        np.testing.assert_array_equal(a.rotation, b.rotation)
        np.testing.assert_array_equal(a.translation_m, b.translation_m)
    for cold_frame, warm_frame in zip(cold[1:], warm[1:], strict=True):
        for a, b in zip(cold_frame, warm_frame, strict=True):
            assert a.mask_id == b.mask_id
            assert np.linalg.norm(a.translation_m - b.translation_m) < 0.02
            assert np.all(np.abs(np.log(a.size_m / b.size_m)) < 0.2)


def test_a_static_scene_does_not_drift_under_warm_start(sequence: list) -> None:
    """The network is conditioned on the box prior, the warm pose only starts the chain: a pose
    fed back frame after frame stays where the cold chain puts it (it drifted by degrees per frame
    when the last pose replaced the box prior as the network's condition)."""
    estimator = PoseEstimator.from_file(MODEL)
    still = [
        replace(sequence[0], frame=replace(sequence[0].frame, stamp_ns=k * 33_000_000)) for k in range(15)
    ]
    cold = _run(estimator, still[:1], None)[0]
    warm = _run(estimator, still, WarmStartMemory(WarmStartConfig(steps=1)))[-1]
    for a, b in zip(cold, warm, strict=True):
        relative = a.rotation.T @ b.rotation
        angle_deg = np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0)))
        up_deg = np.degrees(np.arccos(np.clip(a.rotation[:, 1] @ b.rotation[:, 1], -1.0, 1.0)))
        assert (up_deg if a.category in ("bottle", "bowl", "can") else angle_deg) < 5.0
        assert np.linalg.norm(a.translation_m - b.translation_m) < 0.01
