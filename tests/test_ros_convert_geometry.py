"""Rotation <-> quaternion, and PoseArray / PoseStamped / Path / TFMessage through CDR round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.transforms import (
    make_transform,
    quaternion_from_rotation,
    rotation_from_quaternion,
    split_transform,
)
from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import cdr_round_trip

TYPES = convert.RosbagsTypes()
FRAME = "camera_color_optical_frame"


def random_transforms(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    return np.stack([make_transform(r, rng.uniform(-1, 1, 3)) for r in rotations])


def test_quaternion_of_a_quarter_turn_about_z_in_ros_order() -> None:
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        quaternion_from_rotation(rotation), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12
    )


def test_quaternions_match_scipy_and_invert() -> None:
    rotations = Rotation.random(200, random_state=1)
    for rotation, expected in zip(rotations.as_matrix(), rotations.as_quat(), strict=True):
        quaternion = quaternion_from_rotation(rotation)
        expected = expected if expected[3] >= 0 else -expected
        np.testing.assert_allclose(quaternion, expected, atol=1e-12)
        np.testing.assert_allclose(rotation_from_quaternion(quaternion), rotation, atol=1e-12)


@pytest.mark.parametrize("axis", [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3]])
def test_half_turns_are_stable(axis: list[float]) -> None:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    rotation = Rotation.from_rotvec(np.pi * axis).as_matrix()
    quaternion = quaternion_from_rotation(rotation)
    assert abs(quaternion[3]) < 1e-12 and abs(np.linalg.norm(quaternion) - 1) < 1e-12
    np.testing.assert_allclose(rotation_from_quaternion(quaternion), rotation, atol=1e-12)


def test_non_rotations_and_zero_quaternions_are_errors() -> None:
    with pytest.raises(ValueError, match="not a proper rotation"):
        quaternion_from_rotation(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="not a proper rotation"):
        quaternion_from_rotation(2 * np.eye(3))
    with pytest.raises(ValueError, match="3x3"):
        quaternion_from_rotation(np.eye(4))
    with pytest.raises(ValueError, match="zero norm"):
        rotation_from_quaternion([0, 0, 0, 0])
    with pytest.raises(ValueError, match="last row"):
        split_transform(np.ones((4, 4)))


def test_unnormalised_quaternion_is_normalised() -> None:
    np.testing.assert_allclose(
        rotation_from_quaternion([0, 0, 3, 3]),
        Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix(),
        atol=1e-12,
    )


def test_pose_array_round_trip_keeps_order() -> None:
    transforms = random_transforms(6)
    msg = cdr_round_trip(convert.transforms_to_pose_array(transforms, 77, "base_link", TYPES))
    assert msg.header.frame_id == "base_link" and convert.header_stamp_ns(msg.header) == 77
    np.testing.assert_allclose(convert.pose_array_to_transforms(msg), transforms, atol=1e-12)


def test_empty_pose_array() -> None:
    msg = cdr_round_trip(convert.transforms_to_pose_array([], 0, FRAME, TYPES))
    assert convert.pose_array_to_transforms(msg).shape == (0, 4, 4)


def test_pose_stamped_round_trip() -> None:
    (transform,) = random_transforms(1, seed=3)
    msg = cdr_round_trip(convert.transform_to_pose_stamped(transform, 5, FRAME, TYPES))
    np.testing.assert_allclose(convert.pose_stamped_to_transform(msg), transform, atol=1e-12)
    with pytest.raises(ValueError, match="not a proper rotation"):
        convert.transform_to_pose_stamped(np.diag([1.0, 2.0, 1.0, 1.0]), 5, FRAME, TYPES)


def test_path_round_trip_with_future_stamps() -> None:
    positions = np.cumsum(np.random.default_rng(2).normal(0, 0.05, (12, 3)), axis=0)
    msg = cdr_round_trip(convert.positions_to_path(positions, 10**9, "world", TYPES, dt_s=0.4))
    np.testing.assert_allclose(convert.path_to_positions(msg), positions, atol=1e-12)
    np.testing.assert_array_equal(convert.path_stamps_ns(msg), 10**9 + np.arange(12) * 400_000_000)
    assert all(pose.header.frame_id == "world" for pose in msg.poses)
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        convert.positions_to_path(positions[:, :2], 0, "world", TYPES)


def test_tf_message_round_trip() -> None:
    transforms = [
        convert.FrameTransform("world", "camera_link", random_transforms(1, 4)[0], 123),
        convert.FrameTransform("camera_link", FRAME, random_transforms(1, 5)[0], 456),
    ]
    msg = cdr_round_trip(convert.frame_transforms_to_tf(transforms, TYPES))
    back = convert.tf_to_frame_transforms(msg)
    assert [(t.parent_frame, t.child_frame, t.stamp_ns) for t in back] == [
        ("world", "camera_link", 123),
        ("camera_link", FRAME, 456),
    ]
    for original, restored in zip(transforms, back, strict=True):
        np.testing.assert_allclose(restored.transform, original.transform, atol=1e-12)
