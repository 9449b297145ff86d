"""3-D IoU of oriented boxes: hand-computed cases and the NOCS symmetric rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.iou import box_iou_3d, symmetric_box_iou_3d
from diff9d_ros.geometry.rotations import rotation_about_y

EYE = np.eye(3)
ORIGIN = np.zeros(3)


def test_identical_boxes_have_iou_one() -> None:
    r = Rotation.random(random_state=0).as_matrix()
    size = np.array([0.1, 0.2, 0.3])
    assert box_iou_3d(r, np.ones(3), size, r, np.ones(3), size) == pytest.approx(1.0)


def test_shift_by_half_a_side_gives_one_third() -> None:
    # Overlap is half of each box: IoU = 0.5 / (2 - 0.5) = 1/3.
    size = np.array([0.1, 0.2, 0.3])
    assert box_iou_3d(EYE, ORIGIN, size, EYE, np.array([0.05, 0, 0]), size) == pytest.approx(1 / 3)


def test_disjoint_and_nested_boxes() -> None:
    size = np.full(3, 0.1)
    assert box_iou_3d(EYE, ORIGIN, size, EYE, np.array([0.2, 0, 0]), size) == 0.0
    assert box_iou_3d(EYE, ORIGIN, size, EYE, ORIGIN, 2 * size) == pytest.approx(1 / 8)


def test_rotated_cube_is_an_octagonal_prism() -> None:
    # A unit square turned 45 degrees overlaps the square in a regular octagon of area 2(sqrt2 - 1).
    rz = Rotation.from_euler("z", 45, degrees=True).as_matrix()
    inter = 2 * (np.sqrt(2) - 1)
    assert box_iou_3d(rz, ORIGIN, np.ones(3), EYE, ORIGIN, np.ones(3)) == pytest.approx(inter / (2 - inter))


def test_turn_about_y_is_free_for_a_bottle_not_for_a_laptop() -> None:
    r = Rotation.random(random_state=1).as_matrix()
    turned = r @ rotation_about_y(0.7)
    bottle = np.array([0.07, 0.2, 0.07])
    assert symmetric_box_iou_3d(turned, ORIGIN, bottle, r, ORIGIN, bottle, symmetric=True) == pytest.approx(
        1.0
    )
    laptop = np.array([0.3, 0.2, 0.25])
    assert symmetric_box_iou_3d(turned, ORIGIN, laptop, r, ORIGIN, laptop, symmetric=False) < 0.8


def test_bad_boxes_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        box_iou_3d(EYE, ORIGIN, np.array([0.1, 0.0, 0.1]), EYE, ORIGIN, np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        box_iou_3d(EYE, np.array([np.nan, 0, 0]), np.ones(3), EYE, ORIGIN, np.ones(3))
    with pytest.raises(ValueError, match="rotation"):
        box_iou_3d(np.eye(4), ORIGIN, np.ones(3), EYE, ORIGIN, np.ones(3))
