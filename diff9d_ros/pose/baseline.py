"""Geometric baseline without learning: an oriented box of the masked points, axes by category.

* y (up) is the table normal when a support plane is known (objects stand on the table, NOCS
  y up), otherwise the principal axis of the points chosen by category: the longest for bottle
  and can, the shortest for bowl (a wide, flat object), the smallest-variance axis otherwise.
* The principal direction of the points projected onto the plane orthogonal to y (the longest
  horizontal extent: a laptop's or camera's width, a mug's handle direction) is x, and z = x × y
  is signed to face the camera; for camera and laptop, whose NOCS x is the front (lens, front
  edge) and whose width runs along z, that direction is z instead and x = y × z is signed to face
  the camera (the front is guessed to face the viewer).
* The extents are those of the points in that frame; with a support plane the box reaches down
  to the table (the bottom is hidden). Round categories (bottle, bowl, can, mug) get a square
  horizontal cross-section of the larger horizontal extent, centred behind the visible surface.
"""

from __future__ import annotations

import numpy as np

from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.nocs import CATEGORIES, FRONT_ON_X, Detection

ROUND_CATEGORIES = frozenset({"bottle", "bowl", "can", "mug"})


def _up_axis(centred: np.ndarray, category: str) -> np.ndarray:
    _, vecs = np.linalg.eigh(centred.T @ centred)  # ascending variance
    if category in ("bottle", "can"):
        return vecs[:, 2]
    return vecs[:, 0]


def obb_baseline(
    points_m: np.ndarray, category: str, plane: TablePlane | None = None, mask_id: int = 0
) -> Detection:
    """The baseline's 9-DoF box of an object's camera-frame points (N, 3)."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    if points_m.ndim != 2 or points_m.shape[1] != 3 or len(points_m) < 10:
        raise ValueError(f"baseline needs (N >= 10, 3) points, got {points_m.shape}")
    if not np.isfinite(points_m).all():
        raise ValueError("baseline: points contain NaN or inf")
    centroid = points_m.mean(axis=0)
    centred = points_m - centroid
    y = plane.normal if plane is not None else _up_axis(centred, category)
    if plane is None and y @ centroid > 0:  # up points away from the camera's far side
        y = -y
    flat = centred - np.outer(centred @ y, y)
    _, vecs = np.linalg.eigh(flat.T @ flat)
    long = vecs[:, 2] - (vecs[:, 2] @ y) * y
    long /= np.linalg.norm(long)
    if category in FRONT_ON_X:
        x = np.cross(y, long)
        if x @ centroid > 0:  # the front (x) towards the camera (the origin)
            x = -x
    else:
        x = long if np.cross(long, y) @ centroid < 0 else -long  # z towards the camera
    rotation = np.stack([x, y, np.cross(x, y)], axis=1)
    local = centred @ rotation
    low, high = local.min(axis=0), local.max(axis=0)
    if plane is not None:
        low[1] = -plane.height_m(centroid[None])[0]
    if category in ROUND_CATEGORIES:
        width = max(high[0] - low[0], high[2] - low[2])
        mid_x = (low[0] + high[0]) / 2.0
        low[0], high[0] = mid_x - width / 2.0, mid_x + width / 2.0
        low[2] = high[2] - width  # the visible face is the front (+z): the rest lies behind it
    size = np.maximum(high - low, 1e-3)
    centre = centroid + rotation @ ((low + high) / 2.0)
    return Detection(category, rotation, centre, size, score=1.0, mask_id=mask_id)
