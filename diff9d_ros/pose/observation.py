"""What the network sees of one object: its masked points and an RGB crop (Diff9D, Sec. 3.1).

The points are back-projected from the masked depth, stripped of flying pixels far from the
object's median depth, resampled to a fixed count and centred on their centroid (the translation
is predicted as a residual from that centroid). The crop is the square around the mask's bounding
box, enlarged by ``CROP_MARGIN`` and resized (nearest neighbour) to ``crop_px``.

The network works in a gravity-aligned frame per object (:func:`gravity_frame`): y along the
table normal (``up``), z towards the camera in the table plane. Upright objects then differ only
by a turn about y, and the viewpoint's azimuth is factored out; the pose is rotated back into the
camera frame after sampling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.geometry.rotations import canonicalise_symmetric
from diff9d_ros.nocs import SYMMETRIC_CATEGORIES
from diff9d_ros.pose.baseline import obb_baseline
from diff9d_ros.pose.segmentation import SegmentationConfig, fit_table_plane

LOG = logging.getLogger(__name__)

#: Fewest valid depth points a mask needs to be estimated.
MIN_POINTS = 32
#: Points farther than this from the median depth of the mask are dropped (mask-edge outliers).
DEPTH_GATE_M = 0.2
CROP_MARGIN = 1.2


class ObservationError(ValueError):
    """An object cannot be observed (empty mask, too few valid depth points); the reason says why."""


@dataclass
class Observation:
    """One object's network input: centred points (N, 3), their centroid (3,), crop (S, S, 3) uint8."""

    points_m: np.ndarray
    centroid_m: np.ndarray
    crop: np.ndarray


def square_crop(rgb: np.ndarray, mask: np.ndarray, crop_px: int) -> np.ndarray:
    """The (crop_px, crop_px, 3) crop of ``rgb`` around the mask's enlarged square bounding box."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ObservationError("mask is empty")
    centre_r, centre_c = (rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) * CROP_MARGIN
    grid = (np.arange(crop_px) + 0.5) / crop_px - 0.5
    src_r = np.clip(np.round(centre_r + grid * side).astype(int), 0, rgb.shape[0] - 1)
    src_c = np.clip(np.round(centre_c + grid * side).astype(int), 0, rgb.shape[1] - 1)
    return rgb[src_r[:, None], src_c[None, :]]


def masked_points(frame: RGBDFrame, mask: np.ndarray) -> np.ndarray:
    """Camera-frame points (M, 3) of the mask's valid depth, without flying pixels.

    Only the mask's bounding window is back-projected (through intrinsics shifted to that window).
    """
    if mask.shape != frame.depth_m.shape:
        raise ObservationError(f"mask shape {mask.shape} does not match depth {frame.depth_m.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ObservationError("mask is empty")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    k = frame.intrinsics
    window = Intrinsics(int(c1 - c0), int(r1 - r0), k.fx, k.fy, k.cx - c0, k.cy - r0)
    points = window.backproject(frame.depth_m[r0:r1, c0:c1], mask[r0:r1, c0:c1])
    if len(points):
        points = points[np.abs(points[:, 2] - np.median(points[:, 2])) < DEPTH_GATE_M]
    if len(points) < MIN_POINTS:
        raise ObservationError(f"mask has {len(points)} valid depth points, fewer than {MIN_POINTS}")
    return points


def observe(
    frame: RGBDFrame, mask: np.ndarray, num_points: int, crop_px: int, rng: np.random.Generator
) -> Observation:
    """The :class:`Observation` of the object under ``mask`` (bool (H, W)); ObservationError if unusable."""
    points = masked_points(frame, mask)
    pick = rng.choice(len(points), num_points, replace=len(points) < num_points)
    sampled = points[pick]
    centroid = sampled.mean(axis=0)
    crop = square_crop(frame.rgb, mask, crop_px)
    return Observation((sampled - centroid).astype(np.float32), centroid, crop)


#: Fallback "up" when no support plane is found: the image's up direction (camera -y).
CAMERA_UP = np.array([0.0, -1.0, 0.0])


def gravity_frame(up: np.ndarray, centroid_m: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) whose columns (camera frame) are x = y × z, y = ``up``, z = the direction
    from the object to the camera projected onto the plane orthogonal to ``up``."""
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    toward = -np.asarray(centroid_m, dtype=np.float64)
    # Fall back to camera -y, then x, when the object lies straight along ``up`` (two orthogonal
    # fallbacks: one of them is always far from parallel to ``up``).
    for direction in (toward / max(np.linalg.norm(toward), 1e-12), -np.eye(3)[1], np.eye(3)[0]):
        z = direction - (direction @ up) * up
        if np.linalg.norm(z) > 0.1:
            z /= np.linalg.norm(z)
            return np.stack([np.cross(up, z), up, z], axis=1)
    raise AssertionError("unreachable: up cannot be parallel to two orthogonal directions")


#: Plane fit used for the gravity frame: a sparse grid is enough for the normal.
UP_FIT_CONFIG = SegmentationConfig(stride=10, ransac_iterations=60)


def table_plane(frame: RGBDFrame) -> TablePlane | None:
    """The frame's support plane (RANSAC on a sparse grid), or None with a logged reason."""
    try:
        return fit_table_plane(frame, UP_FIT_CONFIG)
    except ValueError as error:
        LOG.warning("no table plane (%s); using the image's up direction", error)
        return None


def up_direction(plane: TablePlane | None) -> np.ndarray:
    """The plane's normal, or :data:`CAMERA_UP` without a plane."""
    return CAMERA_UP if plane is None else plane.normal


def prior_pose(
    points_m: np.ndarray, category: str, plane: TablePlane | None, frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The geometric baseline's box of camera-frame points (N, 3) in the gravity ``frame``:
    rotation (canonicalised about y for bottle, bowl, can), residual from the points' centroid,
    size. It is the prior mean of the diffusion (see :mod:`diff9d_ros.pose.network`)."""
    box = obb_baseline(points_m, category, plane)
    rotation = frame.T @ box.rotation
    if category in SYMMETRIC_CATEGORIES:
        rotation = canonicalise_symmetric(rotation)
    return rotation, (box.translation_m - points_m.mean(axis=0)) @ frame, box.size_m
