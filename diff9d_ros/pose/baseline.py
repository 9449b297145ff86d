"""Geometric boxes without learning: the oriented box Diff9D starts from, and the plain box fit.

:func:`obb_baseline`, the oriented box of an object's masked points with axes by category (the
prior mean of the diffusion, :func:`diff9d_ros.pose.observation.prior_pose`):

* y (up) is the table normal when a support plane is known (objects stand on the table, NOCS
  y up) unless a bottle or can lies on its side (:func:`lying_axis`): then y is its axis, found
  from the points. Without a plane, y is the principal axis of the points chosen by category:
  the longest for bottle and can, the shortest for bowl (a wide, flat object), the
  smallest-variance axis otherwise.
* The principal direction of the points projected onto the plane orthogonal to y (the longest
  horizontal extent: a laptop's or camera's width, a mug's handle direction) is x, and z = x × y
  is signed to face the camera; for camera and laptop, whose NOCS x is the front (lens, front
  edge) and whose width runs along z, that direction is z instead and x = y × z is signed to face
  the camera (the front is guessed to face the viewer).
* The extents are those of the points in that frame; with a support plane the box reaches down
  to the table (the bottom is hidden). Round categories (bottle, bowl, can, mug) get a square
  cross-section about y of the larger extent, centred behind the visible surface; a lying
  bottle or can gets the diameter of its top above the table, centred under its top.

:func:`rectangle_box_fit` is the plain learning-free fit the real-camera measurements compared
against: y the table normal, the minimum-area rectangle of the points projected onto the table
(rotating calipers over the convex hull; Freeman & Shapira, CACM 1975), and the height from the
spread of the points along y.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError, cKDTree

from diff9d_ros.geometry.plane import TablePlane, plane_basis
from diff9d_ros.nocs import CATEGORIES, FRONT_ON_X, LYING_CATEGORIES, Detection

ROUND_CATEGORIES = frozenset({"bottle", "bowl", "can", "mug"})
#: Neighbours of the local plane fit that estimates a surface normal.
NORMAL_NEIGHBOURS = 20
#: A surface normal is "along" an axis above this |cos| and "across" it below ACROSS_COS.
ALONG_COS, ACROSS_COS = 0.9, 0.35
#: Margin by which a horizontal axis must explain the normals better than the table normal.
LYING_MARGIN = 0.1
#: Horizontal axis directions tried by :func:`lying_axis` (half a turn).
AXIS_STEPS = 72
#: Points whose normals :func:`lying_axis` estimates (evenly thinned).
NORMAL_SAMPLES = 400
#: Share of the length at each end of a lying object compared to find its top (the lower end).
END_SHARE = 0.15
#: Extent test (:func:`axis_by_extent`): the object lies when its points' longest horizontal
#: extent exceeds LYING_LENGTH_RATIO x the height of its top and their extent across that lies
#: between LYING_MIN_WIDTH_RATIO and LYING_WIDTH_RATIO x it; quantile of the extents. Not when
#: STANDING_NORMALS_SHARE of the normals or more fit the table normal as the axis.
LYING_LENGTH_RATIO, LYING_WIDTH_RATIO, LYING_MIN_WIDTH_RATIO = 1.25, 1.15, 0.5
EXTENT_QUANTILE = 0.02
STANDING_NORMALS_SHARE = 0.75


def _check_points(points_m: np.ndarray, category: str) -> np.ndarray:
    points_m = np.asarray(points_m, dtype=np.float64)
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    if points_m.ndim != 2 or points_m.shape[1] != 3 or len(points_m) < 10:
        raise ValueError(f"baseline needs (N >= 10, 3) points, got {points_m.shape}")
    if not np.isfinite(points_m).all():
        raise ValueError("baseline: points contain NaN or inf")
    return points_m


def _up_axis(centred: np.ndarray, category: str) -> np.ndarray:
    _, vecs = np.linalg.eigh(centred.T @ centred)  # ascending variance
    if category in ("bottle", "can"):
        return vecs[:, 2]
    return vecs[:, 0]


def surface_normals(
    points_m: np.ndarray, at: np.ndarray | None = None, neighbours: int = NORMAL_NEIGHBOURS
) -> np.ndarray:
    """Unit normals (M, 3), unsigned, of the surface sampled by ``points_m`` at the points ``at``
    (default: every point): the least-variance direction of each one's nearest neighbours (local
    PCA; Hoppe et al., "Surface Reconstruction from Unorganized Points", SIGGRAPH 1992)."""
    k = min(neighbours, len(points_m))
    _, index = cKDTree(points_m).query(points_m if at is None else at, k)
    neighbourhoods = points_m[index]
    local = neighbourhoods - neighbourhoods.mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(local.transpose(0, 2, 1) @ local)
    return vecs[:, :, 0]


def _axis_consistency(normals: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """For each axis (A, 3): the fraction of normals either across it (a side of a body of
    revolution about it) or along it (an end face)."""
    cos = np.abs(normals @ axes.T)
    return np.mean((cos < ACROSS_COS) | (cos > ALONG_COS), axis=0)


def _normal_scores(points_m: np.ndarray, plane: TablePlane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface normals of a thinned sample of the points, and the :func:`_axis_consistency` scores
    of the table normal (first) and of :data:`AXIS_STEPS` horizontal directions (the rest, whose
    unit vectors are returned too)."""
    normals = surface_normals(points_m, points_m[:: max(1, len(points_m) // NORMAL_SAMPLES)])
    e1, e2 = plane_basis(plane.normal)
    angles = np.linspace(0.0, np.pi, AXIS_STEPS, endpoint=False)
    axes = np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2
    return normals, _axis_consistency(normals, np.vstack([plane.normal, axes])), axes


def lying_axis(points_m: np.ndarray, plane: TablePlane) -> np.ndarray | None:
    """The axis (unit, camera frame) of a body of revolution lying on ``plane``, or None if it
    stands upright.

    A body of revolution has surface normals across its axis (its side) or along it (its end
    faces). The table normal and :data:`AXIS_STEPS` horizontal directions are scored by that
    fraction of the points' normals (:func:`surface_normals`); a horizontal direction that beats
    the table normal by :data:`LYING_MARGIN` is the axis, refined to the horizontal direction
    least along the side normals. Where it wins by less (depth noise scrambles the normals of a
    small object far away), the points' extents decide (:func:`axis_by_extent`). The axis is
    signed towards the end that is lower above the table (a bottle's neck, a can's necked-in top).
    """
    return lying_line(points_m, plane)[0]


def lying_line(points_m: np.ndarray, plane: TablePlane) -> tuple[np.ndarray | None, bool]:
    """:func:`lying_axis` of the points and whether their extents alone say the object lies
    (:func:`axis_by_extent`), from one estimate of their surface normals."""
    normals, scores, axes = _normal_scores(points_m, plane)
    extent_axis = axis_by_extent(points_m, plane, scores)
    return _lying_axis(points_m, plane, normals, scores, axes, extent_axis), extent_axis is not None


def _lying_axis(
    points_m: np.ndarray,
    plane: TablePlane,
    normals: np.ndarray,
    scores: np.ndarray,
    axes: np.ndarray,
    extent_axis: np.ndarray | None,
) -> np.ndarray | None:
    """:func:`lying_axis` from the points' :func:`_normal_scores` and :func:`axis_by_extent`."""
    best = int(np.argmax(scores[1:]))
    if scores[1 + best] >= scores[0] + LYING_MARGIN:
        e1, e2 = plane_basis(plane.normal)
        axis = axes[best]
        for _ in range(2):  # refine: the horizontal direction least along the side normals
            side = normals[np.abs(normals @ axis) < ACROSS_COS]
            flat = np.stack([side @ e1, side @ e2], axis=1)
            _, vecs = np.linalg.eigh(flat.T @ flat)
            axis = vecs[0, 0] * e1 + vecs[1, 0] * e2
    elif extent_axis is not None:
        axis = extent_axis
    else:
        return None
    along = points_m @ axis
    heights = plane.height_m(points_m)
    low, high = np.quantile(along, [END_SHARE, 1.0 - END_SHARE])
    if np.quantile(heights[along >= high], 0.9) > np.quantile(heights[along <= low], 0.9):
        axis = -axis
    return axis


def axis_by_extent(
    points_m: np.ndarray, plane: TablePlane, scores: np.ndarray | None = None
) -> np.ndarray | None:
    """The longest horizontal direction of a bottle's or can's points (N, 3) if their extents say
    it lies, else None.

    A standing bottle or can shows at most its diameter along the table and its height above it;
    a lying one its length along the table, its diameter above it and at most its diameter across
    its axis, and from above at least half of that. So it lies when the longest horizontal extent
    exceeds :data:`LYING_LENGTH_RATIO` times the height of its top and the extent across that
    lies between :data:`LYING_MIN_WIDTH_RATIO` and :data:`LYING_WIDTH_RATIO` times it, unless its
    surface normals favour standing or fit it (``scores``: :func:`_normal_scores`, computed when
    None; :data:`STANDING_NORMALS_SHARE`): a squat tin seen partly has a long footprint and a low
    top, but the normals of its flat lid and upright side.
    """
    e1, e2 = plane_basis(plane.normal)
    flat = np.stack([points_m @ e1, points_m @ e2], axis=1)
    flat = flat - flat.mean(axis=0)
    _, vecs = np.linalg.eigh(flat.T @ flat)
    q = (EXTENT_QUANTILE, 1.0 - EXTENT_QUANTILE)
    length, width = (float(np.ptp(np.quantile(flat @ vecs[:, i], q))) for i in (1, 0))
    top = float(np.quantile(plane.height_m(points_m), 1.0 - EXTENT_QUANTILE))
    if (
        length < LYING_LENGTH_RATIO * top
        or not LYING_MIN_WIDTH_RATIO * top <= width <= LYING_WIDTH_RATIO * top
    ):
        return None
    if scores is None:
        scores = _normal_scores(points_m, plane)[1]
    if scores[1:].max() < scores[0] or scores[0] >= STANDING_NORMALS_SHARE:
        return None
    return vecs[0, 1] * e1 + vecs[1, 1] * e2


def _lying_box(
    points_m: np.ndarray, axis: np.ndarray, plane: TablePlane
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation, centre and size of a lying bottle or can: y the axis, x the table normal, the
    diameter the height of its top, the centre under the top, half a diameter above the table."""
    up = plane.normal
    rotation = np.stack([up, axis, np.cross(up, axis)], axis=1)
    heights = plane.height_m(points_m)
    diameter = max(float(np.quantile(heights, 0.98)), 1e-3)
    along = points_m @ axis
    across = points_m @ rotation[:, 2]
    top = heights >= 0.85 * diameter
    centre = (  # coordinates along the orthonormal (axis, z, up); p . up = height - offset
        (along.min() + along.max()) / 2.0 * axis
        + float(np.mean(across[top] if top.any() else across)) * rotation[:, 2]
        + (diameter / 2.0 - plane.offset_m) * up
    )
    size = np.array([diameter, max(float(np.ptp(along)), 1e-3), diameter])
    return rotation, centre, size


def _horizontal_axes(
    long: np.ndarray, y: np.ndarray, centroid: np.ndarray, category: str
) -> tuple[np.ndarray, np.ndarray]:
    """x and z from the longest horizontal direction ``long``: x = long (z towards the camera), or
    for camera and laptop z = long and x (the front) towards the camera."""
    long = long - (long @ y) * y
    long /= np.linalg.norm(long)
    if category in FRONT_ON_X:
        x = np.cross(y, long)
        if x @ centroid > 0:  # the front (x) towards the camera (the origin)
            x = -x
    else:
        x = long if np.cross(long, y) @ centroid < 0 else -long  # z towards the camera
    return x, np.cross(x, y)


def obb_baseline(
    points_m: np.ndarray, category: str, plane: TablePlane | None = None, mask_id: int = 0
) -> Detection:
    """The baseline's 9-DoF box of an object's camera-frame points (N, 3) (module docstring)."""
    points_m = _check_points(points_m, category)
    if plane is not None and category in LYING_CATEGORIES:
        axis = lying_axis(points_m, plane)
        if axis is not None:
            rotation, centre, size = _lying_box(points_m, axis, plane)
            return Detection(category, rotation, centre, size, score=1.0, mask_id=mask_id)
    centroid = points_m.mean(axis=0)
    centred = points_m - centroid
    y = plane.normal if plane is not None else _up_axis(centred, category)
    if plane is None and y @ centroid > 0:  # up points away from the camera's far side
        y = -y
    flat = centred - np.outer(centred @ y, y)
    _, vecs = np.linalg.eigh(flat.T @ flat)
    x, z = _horizontal_axes(vecs[:, 2], y, centroid, category)
    rotation = np.stack([x, y, z], axis=1)
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


def min_area_rectangle(points_2d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (2,), unit side directions (2, 2) (rows; the first along the longer side) and side
    lengths (2,) (longer first) of the smallest-area rectangle around 2-D points (N, 2).

    One side of the minimum rectangle lies on an edge of the convex hull (Freeman & Shapira
    1975), so the hull's edge directions are the only candidates.
    """
    points_2d = np.asarray(points_2d, dtype=np.float64)
    try:
        hull = points_2d[ConvexHull(points_2d).vertices]
    except QhullError:  # collinear or too few points: the hull is the points themselves
        hull = points_2d
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2.0))
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    normals = np.stack([-directions[:, 1], directions[:, 0]], axis=1)
    u, v = hull @ directions.T, hull @ normals.T  # (V, A)
    areas = np.ptp(u, axis=0) * np.ptp(v, axis=0)
    best = int(np.argmin(areas))
    sides = np.stack([directions[best], normals[best]])
    lows = np.array([u[:, best].min(), v[:, best].min()])
    lengths = np.array([np.ptp(u[:, best]), np.ptp(v[:, best])])
    centre = (lows + lengths / 2.0) @ sides
    order = np.argsort(-lengths)
    return centre, sides[order], lengths[order]


def rectangle_box_fit(points_m: np.ndarray, category: str, plane: TablePlane, mask_id: int = 0) -> Detection:
    """The plain learning-free box (module docstring): y the table normal, x/z the sides of the
    minimum-area rectangle of the points on the table (axes assigned as :func:`obb_baseline`
    does), height the spread of the points along y."""
    points_m = _check_points(points_m, category)
    y = plane.normal
    e1, e2 = plane_basis(y)
    flat = np.stack([points_m @ e1, points_m @ e2], axis=1)
    centre_2d, sides, lengths = min_area_rectangle(flat)
    heights = plane.height_m(points_m)
    long = sides[0, 0] * e1 + sides[0, 1] * e2
    x, z = _horizontal_axes(long, y, points_m.mean(axis=0), category)
    rotation = np.stack([x, y, z], axis=1)
    horizontal = np.array([lengths[0], lengths[1]])
    extent_x, extent_z = (horizontal[::-1] if category in FRONT_ON_X else horizontal).tolist()
    size = np.maximum([extent_x, float(np.ptp(heights)), extent_z], 1e-3)
    centre = (  # coordinates along the orthonormal (e1, e2, y); p . y = height - offset
        centre_2d[0] * e1 + centre_2d[1] * e2 + ((heights.min() + heights.max()) / 2.0 - plane.offset_m) * y
    )
    return Detection(category, rotation, centre, size, score=1.0, mask_id=mask_id)
