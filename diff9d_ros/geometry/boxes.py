"""Oriented 3-D boxes of 9-DoF poses: corners, point containment and tight boxes.

A box is the NOCS object box (Wang et al., CVPR 2019, Sec. 3): the object's canonical frame has
its origin at the box centre and the box spans ``±size_m / 2`` along the canonical x, y, z. A
pose ``(rotation, translation_m)`` maps canonical points into the camera (or world) frame:
``p = rotation @ q + translation_m``.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Corner signs in a fixed order: corner ``k`` is ``CORNER_SIGNS[k] * size_m / 2`` in the
#: canonical frame (x slowest, z fastest: ---, --+, -+-, -++, +--, +-+, ++-, +++).
CORNER_SIGNS: np.ndarray = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))
#: The 12 edges of a box as pairs of indices into ``CORNER_SIGNS``: corners whose indices differ in
#: one bit differ along one axis.
BOX_EDGES: tuple[tuple[int, int], ...] = tuple(
    (corner, corner | bit) for bit in (1, 2, 4) for corner in range(8) if not corner & bit
)


def _check_size(size_m: np.ndarray) -> np.ndarray:
    size_m = np.asarray(size_m, dtype=np.float64).reshape(-1)
    if size_m.shape != (3,) or not np.all(np.isfinite(size_m)) or np.any(size_m < 0):
        raise ValueError(f"box size must be 3 finite non-negative extents in metres, got {size_m}")
    return size_m


def _check_pose(rotation: np.ndarray, translation_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rotation = np.asarray(rotation, dtype=np.float64)
    translation_m = np.asarray(translation_m, dtype=np.float64).reshape(-1)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must be 3x3, got shape {rotation.shape}")
    if translation_m.shape != (3,):
        raise ValueError(f"translation must have 3 components, got shape {translation_m.shape}")
    return rotation, translation_m


def canonical_box_corners(size_m: np.ndarray) -> np.ndarray:
    """The 8 corners (8, 3) of a box of extents ``size_m`` centred at the origin (CORNER_SIGNS order)."""
    return CORNER_SIGNS * (_check_size(size_m) / 2.0)


def box_corners(rotation: np.ndarray, translation_m: np.ndarray, size_m: np.ndarray) -> np.ndarray:
    """The 8 corners (8, 3) of the posed box, in the frame the pose maps into (CORNER_SIGNS order)."""
    rotation, translation_m = _check_pose(rotation, translation_m)
    return canonical_box_corners(size_m) @ rotation.T + translation_m


def to_box_frame(points_m: np.ndarray, rotation: np.ndarray, translation_m: np.ndarray) -> np.ndarray:
    """Points (N, 3) mapped into the box's canonical frame: ``q = rotation.T @ (p - translation_m)``."""
    rotation, translation_m = _check_pose(rotation, translation_m)
    points_m = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    return (points_m - translation_m) @ rotation


def points_in_box(
    points_m: np.ndarray,
    rotation: np.ndarray,
    translation_m: np.ndarray,
    size_m: np.ndarray,
    tolerance_m: float = 0.0,
) -> np.ndarray:
    """Boolean (N,): which points lie inside the posed box grown by ``tolerance_m`` on every side."""
    if tolerance_m < 0:
        raise ValueError(f"tolerance must be non-negative, got {tolerance_m}")
    local = to_box_frame(points_m, rotation, translation_m)
    half = _check_size(size_m) / 2.0 + tolerance_m
    return np.all(np.abs(local) <= half, axis=1)
