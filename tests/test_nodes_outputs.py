"""What the nodes publish for one FrameState, built with the rosbags types and CDR round-tripped."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.geometry.transforms import make_transform
from diff9d_ros.grasp.planner import Grasp
from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import FrameState
from diff9d_ros.ros import convert
from diff9d_ros.ros.outputs import forecast_messages, grasp_messages, pose_messages, ranked_grasps
from diff9d_ros.ros.typestore import get_typestore

TYPES = convert.RosbagsTypes()
STAMP = 42_000_000_123
FRAME = "camera_color_optical_frame"


def _round_trip(msg):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def _rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _detections() -> list[Detection]:
    return [
        Detection("mug", _rotation_z(0.3), [0.1, -0.05, 0.7], [0.12, 0.1, 0.09], score=0.8),
        Detection("bottle", np.eye(3), [-0.1, 0.02, 0.9], [0.07, 0.2, 0.07], score=0.6, track_id="7"),
    ]


def _grasp(score: float, x: float) -> Grasp:
    pose = make_transform(_rotation_z(x), [x, 0.0, 0.6])
    return Grasp(pose, pose, 0.05, 0.07, score, np.array([0.0, 0.0, 1.0]), "side")


def test_pose_messages_carry_detections_markers_and_one_tf_per_object() -> None:
    state = FrameState(3, frame=None, stamp_ns=STAMP, detections=_detections())
    out = pose_messages(state, FRAME, TYPES, lifetime_s=0.5)
    back = convert.msg_to_detections(_round_trip(out.detections))
    assert [d.category for d in back] == ["mug", "bottle"]
    np.testing.assert_allclose(back[0].rotation, _rotation_z(0.3), atol=1e-9)
    np.testing.assert_allclose(back[1].size_m, [0.07, 0.2, 0.07])
    assert convert.header_stamp_ns(out.detections.header) == STAMP
    markers = _round_trip(out.markers).markers
    assert sorted({m.ns for m in markers}) == ["axes", "boxes"] and len(markers) == 4
    assert all(m.header.frame_id == FRAME for m in markers)
    tf = convert.tf_to_frame_transforms(_round_trip(out.tf))
    assert [(t.parent_frame, t.child_frame) for t in tf] == [(FRAME, "object_0"), (FRAME, "object_7")]
    np.testing.assert_allclose(tf[1].transform, _detections()[1].transform, atol=1e-9)


def test_grasps_are_ranked_across_objects_and_the_best_is_published_alone() -> None:
    state = FrameState(
        0, frame=None, stamp_ns=STAMP, grasps={0: [_grasp(0.4, 0.1)], 1: [_grasp(0.9, 0.2), _grasp(0.1, 0.3)]}
    )
    assert [g.score for g in ranked_grasps(state)] == [0.9, 0.4, 0.1]
    out = grasp_messages(state, FRAME, TYPES, lifetime_s=1.0)
    poses = convert.pose_array_to_transforms(_round_trip(out.grasps))
    np.testing.assert_allclose(poses[:, 0, 3], [0.2, 0.1, 0.3])
    np.testing.assert_allclose(convert.pose_stamped_to_transform(_round_trip(out.best)), poses[0], atol=1e-12)
    assert len(_round_trip(out.markers).markers) == 3
    empty = grasp_messages(FrameState(1, frame=None, stamp_ns=STAMP), FRAME, TYPES, lifetime_s=1.0)
    assert empty.best is None and len(empty.grasps.poses) == 0


def test_forecast_paths_are_sample_means_stamped_one_period_apart() -> None:
    rng = np.random.default_rng(1)
    samples = {"7": rng.normal(size=(5, 4, 3)), "9": rng.normal(size=(5, 4, 3))}
    state = FrameState(0, frame=None, stamp_ns=STAMP, detections=_detections(), forecasts=samples)
    out = forecast_messages(state, FRAME, period_s=0.4, types=TYPES, lifetime_s=0.5)
    assert len(out.paths) == 2
    for path, track_samples in zip(out.paths, samples.values(), strict=True):
        back = _round_trip(path)
        np.testing.assert_allclose(convert.path_to_positions(back), track_samples.mean(axis=0))
        np.testing.assert_array_equal(convert.path_stamps_ns(back), STAMP + np.arange(1, 5) * 400_000_000)
    assert [d.track_id for d in convert.msg_to_detections(_round_trip(out.tracks))] == ["", "7"]
    assert len(_round_trip(out.markers).markers) == 4  # points + lines per track
    # A forecaster with its own frame period (a GeoTDM model) overrides the caller's period.
    state.forecast_period_s = 0.1
    path = _round_trip(forecast_messages(state, FRAME, period_s=0.4, types=TYPES, lifetime_s=0.5).paths[0])
    np.testing.assert_array_equal(convert.path_stamps_ns(path), STAMP + np.arange(1, 5) * 100_000_000)
    state.forecasts["9"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match="forecast of track '9' must be \\(K, T, 3\\)"):
        forecast_messages(state, FRAME, 0.4, TYPES, 0.5)
