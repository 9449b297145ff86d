"""Back-projection on a pixel grid equals back-projection with the grid as a mask."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics, instance_masks


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
