"""Mugs standing on the table: the sampled handle direction turns onto the handle the points show.

A mug's NOCS x is its handle side (:mod:`diff9d_ros.nocs`), and the handle is the one part of a
standing mug that lies outside the circle of its body seen from above. Three DDIM steps leave the
handle direction of a mug whose handle is in view 10-45 degrees off for most of them (on the 200
validation frames with exact masks 40 % of those mugs are within 10 degrees), while the points
show it to a few degrees (on the same frames the mugs' 10deg5cm goes from 54.6 to 90.8):

1. The points projected on the table plane; a circle fitted to them by least median of squares
   (Rousseeuw, "Least median of squares regression", JASA 1984): of the circles through
   :data:`CIRCLE_SAMPLES` random triples of points (seeded; drawn from and scored on at most
   about :data:`CIRCLE_SEARCH_POINTS` of them, evenly thinned), the one whose median absolute
   residual is least, then refitted algebraically (Kasa, "A circle fitting procedure and its error
   analysis", IEEE Trans. Instrum. Meas. 1976) to the points within 2.5 robust standard deviations
   (1.4826 x that median) plus 2 mm of it. The handle and stray points, under half of them, drop
   out of the fit.
2. Handle candidates: points more than :data:`HANDLE_MARGIN_M` outside that circle, between 10 %
   and 95 % of the points' height above their lowest (not the foot, not the rim's noise).
3. The largest 26-connected cluster of candidates on a :data:`HANDLE_VOXEL_M` grid
   (:func:`~diff9d_ros.geometry.clusters.sparse_voxel_labels`); with at least
   :data:`MIN_HANDLE_POINTS` points it is the handle, and the direction from the circle's centre to
   its centroid on the table plane is the handle's.

A standing mug (y on the table's normal, :mod:`diff9d_ros.pose.upright`) then takes that direction
as its x when it lies within :data:`HANDLE_AGREE_DEG` of the sampled x: the network still decides
the side, a guard against a circle spoiled by the inner wall of an open mug seen from above, which
puts the "handle" on the wrong side. Translation, size, score and covariance are kept. Constants
chosen on validation frames (docs/pose.md).
"""

from __future__ import annotations

import numpy as np

from diff9d_ros.geometry.clusters import sparse_voxel_labels
from diff9d_ros.geometry.plane import plane_basis
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.upright import stands, with_heading

#: Points this far outside the body's circle are handle candidates. Chosen on validation frames
#: with :data:`MIN_HANDLE_POINTS` and :data:`HANDLE_AGREE_DEG` (docs/pose.md).
HANDLE_MARGIN_M = 0.008
#: The handle's cluster needs at least this many points.
MIN_HANDLE_POINTS = 5
#: Grid of the candidates' clusters.
HANDLE_VOXEL_M = 0.005
#: The measured handle replaces the sampled x only within this angle (deg) of it.
HANDLE_AGREE_DEG = 90.0
#: Candidates lie between these fractions of the points' height range above their lowest.
HANDLE_HEIGHT_BAND = (0.10, 0.95)
#: Circle fit: random triples tried, points (evenly thinned) they are drawn from and scored on,
#: inlier bound in robust standard deviations, and its floor (m).
CIRCLE_SAMPLES, CIRCLE_SEARCH_POINTS, FIT_SIGMAS, FIT_FLOOR_M = 200, 250, 2.5, 0.002


def _circumcircles(triples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (S, 2) and radii (S,) of the circles through point triples (S, 3, 2); NaN where the
    three points lie on a line."""
    a = triples[:, 0]
    b, c = triples[:, 1] - a, triples[:, 2] - a  # the circle through the origin, b and c
    bb, cc = np.sum(b**2, axis=1), np.sum(c**2, axis=1)
    det = 2.0 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.column_stack([c[:, 1] * bb - b[:, 1] * cc, b[:, 0] * cc - c[:, 0] * bb]) / det[:, None]
    return a + offset, np.linalg.norm(offset, axis=1)


def fit_circle(points_2d: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Centre (2,), radius and signed residuals (N,) (distance to the centre minus the radius) of
    the circle through 2-D points (N >= 3, 2), fitted robustly (module docstring, step 1)."""
    rng = np.random.default_rng(0)  # the same points give the same circle
    thinned = points_2d[:: max(1, len(points_2d) // CIRCLE_SEARCH_POINTS)]
    centres, radii = _circumcircles(thinned[rng.integers(0, len(thinned), size=(CIRCLE_SAMPLES, 3))])
    finite = np.isfinite(radii)
    if not finite.any():
        raise ValueError("circle fit: the points lie on a line")
    centres, radii = centres[finite], radii[finite]
    residuals = np.abs(
        np.hypot(thinned[:, 0] - centres[:, :1], thinned[:, 1] - centres[:, 1:]) - radii[:, None]
    )
    half = len(thinned) // 2
    medians = np.partition(residuals, half, axis=1)[:, half]  # the median absolute residual
    best = int(np.argmin(medians))
    residual = np.linalg.norm(points_2d - centres[best], axis=1) - radii[best]
    kept = np.abs(residual) <= FIT_SIGMAS * 1.4826 * medians[best] + FIT_FLOOR_M
    design = np.column_stack([2.0 * points_2d[kept], np.ones(int(kept.sum()))])
    solution, *_ = np.linalg.lstsq(design, np.sum(points_2d[kept] ** 2, axis=1), rcond=None)
    centre = solution[:2]
    radius = float(np.sqrt(max(solution[2] + centre @ centre, 0.0)))
    return centre, radius, np.linalg.norm(points_2d - centre, axis=1) - radius


def handle_direction(points_m: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """The unit horizontal direction (camera frame) from a standing mug's axis to its handle, from
    its camera-frame points (N, 3) on a table of normal ``up``; None when no handle shows."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if len(points_m) < 3 * MIN_HANDLE_POINTS:
        return None
    e1, e2 = plane_basis(np.asarray(up, dtype=np.float64))
    flat = np.column_stack([points_m @ e1, points_m @ e2])
    try:
        centre, _, residual = fit_circle(flat)
    except ValueError:  # every triple on a line: no body circle to measure a handle against
        return None
    height = points_m @ up
    low, high = height.min(), height.max()
    band = (height >= low + HANDLE_HEIGHT_BAND[0] * (high - low)) & (
        height <= low + HANDLE_HEIGHT_BAND[1] * (high - low)
    )
    candidates = np.flatnonzero((residual > HANDLE_MARGIN_M) & band)
    if len(candidates) < MIN_HANDLE_POINTS:
        return None
    labels = sparse_voxel_labels(points_m[candidates], HANDLE_VOXEL_M)
    handle = candidates[labels == np.bincount(labels).argmax()]
    if len(handle) < MIN_HANDLE_POINTS:
        return None
    offset = flat[handle].mean(axis=0) - centre
    if np.linalg.norm(offset) < 1e-9:
        return None
    offset /= np.linalg.norm(offset)
    return offset[0] * e1 + offset[1] * e2


def turn_to_handle(detection: Detection, points_m: np.ndarray, up: np.ndarray) -> Detection:
    """``detection`` turned about the table normal ``up`` so that its x points at the handle of
    :func:`handle_direction`, when it stands (:func:`~diff9d_ros.pose.upright.stands`), a handle
    shows and it lies within :data:`HANDLE_AGREE_DEG` of the sampled x; else ``detection``."""
    up = np.asarray(up, dtype=np.float64)
    if not stands(detection, up):
        return detection
    handle = handle_direction(points_m, up)
    if handle is None:
        return detection
    turned = with_heading(detection, handle)
    if float(turned.rotation[:, 0] @ detection.rotation[:, 0]) < np.cos(np.radians(HANDLE_AGREE_DEG)):
        return detection
    return turned
