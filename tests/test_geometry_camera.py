"""Back-projection on a pixel grid equals back-projection with the grid as a mask; camera poses
are validated; detections move between frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame, instance_masks
from diff9d_ros.nocs import Detection


@pytest.mark.parametrize("stride", [1, 3, 4])
def test_grid_backprojection_equals_the_masked_one(stride: int) -> None:
    intrinsics = Intrinsics.realsense_d435(64, 48)
    rng = np.random.default_rng(0)
    depth_m = rng.uniform(0.3, 2.0, (48, 64))
    depth_m[rng.random((48, 64)) < 0.2] = 0.0
    depth_m[rng.random((48, 64)) < 0.1] = np.nan
    grid = np.zeros(depth_m.shape, dtype=bool)
    grid[::stride, ::stride] = True
    points, rows, cols = intrinsics.backproject_grid(depth_m, stride)
    np.testing.assert_array_equal(points, intrinsics.backproject(depth_m, grid))
    expected_rows, expected_cols = np.nonzero(grid & np.isfinite(depth_m) & (depth_m > 0))
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(cols, expected_cols)
    np.testing.assert_allclose(intrinsics.project(points), np.stack([cols, rows], axis=1), atol=1e-9)
    with pytest.raises(ValueError, match="depth image is 64x47"):
        intrinsics.backproject_grid(depth_m[:47], stride)


def test_instance_masks_split_an_instance_image() -> None:
    image = np.array([[0, 3, 3], [7, 0, 3], [7, 7, -1]], dtype=np.int32)
    masks = instance_masks(image)
    assert list(masks) == [3, 7]
    np.testing.assert_array_equal(masks[3], image == 3)
    np.testing.assert_array_equal(masks[7], image == 7)
    big = np.array([[0, 2**40]], dtype=np.int64)  # ids beyond the histogram take the sort
    assert list(instance_masks(big)) == [2**40]
    assert instance_masks(np.zeros((2, 2), dtype=np.uint16)) == {}


def test_a_camera_pose_must_be_rigid() -> None:
    intrinsics = Intrinsics.realsense_d435(64, 48)
    frame = RGBDFrame(np.zeros((48, 64, 3), np.uint8), np.ones((48, 64), np.float32), intrinsics)
    pose = np.eye(4)
    pose[:3, 3] = [0.1, 0.2, 0.3]
    replace(frame, camera_pose=pose).validate()
    pose[0, 0] = 2.0  # a scale, not a rotation
    with pytest.raises(ValueError, match="camera_pose must be a rigid 4x4 transform: not a proper rotation"):
        replace(frame, camera_pose=pose).validate()
    with pytest.raises(ValueError, match="camera_pose must be a rigid 4x4 transform: transform must be 4x4"):
        replace(frame, camera_pose=np.eye(3)).validate()


def test_a_detection_moved_into_another_frame_and_back_is_itself() -> None:
    angle = 0.7
    turn = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = turn, [0.5, -0.2, 1.0]
    covariance = np.diag([1e-4, 4e-4, 9e-4, 1e-2, 4e-2, 9e-2])
    detection = Detection(
        "mug", np.eye(3), [0.1, 0.0, 0.6], [0.1, 0.1, 0.08], covariance=covariance, mask_id=3
    )
    moved = detection.moved(transform)
    np.testing.assert_allclose(moved.translation_m, turn @ [0.1, 0.0, 0.6] + [0.5, -0.2, 1.0])
    np.testing.assert_allclose(moved.rotation, turn)
    np.testing.assert_allclose(moved.covariance[:3, :3], turn @ covariance[:3, :3] @ turn.T)
    assert (moved.category, moved.mask_id) == ("mug", 3)
    back = moved.moved(np.linalg.inv(transform))
    np.testing.assert_allclose(back.translation_m, detection.translation_m, atol=1e-12)
    np.testing.assert_allclose(back.covariance, covariance, atol=1e-15)
