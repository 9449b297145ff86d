"""A standing object's sampled y axis set onto the table's normal."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from diff9d_ros.nocs import Detection
from diff9d_ros.pose.upright import UPRIGHT_DEG, stand_upright

UP = np.array([0.0, -0.8, -0.6])


def _detection(tilt_deg: float, flip: bool = False) -> Detection:
    """A mug whose y axis is ``tilt_deg`` off :data:`UP` (off ``-UP`` when ``flip``)."""
    x = np.cross(UP, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    upright = np.stack([x, UP, np.cross(x, UP)], axis=1) @ np.diag(
        [1.0, -1.0, -1.0] if flip else [1.0, 1.0, 1.0]
    )
    tilted = Rotation.from_rotvec(np.radians(tilt_deg) * np.cross(UP, x)).as_matrix() @ upright
    return Detection("mug", tilted, np.array([0.0, 0.1, 0.7]), np.array([0.12, 0.1, 0.09]), score=0.9)


def test_a_slightly_tilted_object_stands_on_the_normal() -> None:
    detection = _detection(8.0)
    upright = stand_upright(detection, UP)
    assert np.allclose(upright.rotation[:, 1], UP, atol=1e-9)
    assert np.allclose(upright.rotation.T @ upright.rotation, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(upright.rotation), 1.0)
    assert upright.rotation[:, 0] @ detection.rotation[:, 0] > np.cos(np.radians(8.5))  # its heading kept
    assert np.allclose(upright.translation_m, detection.translation_m)
    assert np.allclose(upright.size_m, detection.size_m) and upright.score == detection.score


def test_an_upside_down_object_keeps_its_sign() -> None:
    upright = stand_upright(_detection(5.0, flip=True), UP)
    assert np.allclose(upright.rotation[:, 1], -UP, atol=1e-9)


def test_a_sample_beyond_the_gate_is_left_alone() -> None:
    leaning = _detection(UPRIGHT_DEG + 5.0)
    assert stand_upright(leaning, UP) is leaning
    assert np.allclose(stand_upright(_detection(UPRIGHT_DEG - 5.0), UP).rotation[:, 1], UP, atol=1e-9)
