"""3-D IoU of oriented 9-DoF boxes (rotation, centre, full size), with NOCS symmetry handling.

The intersection of two oriented boxes is a convex polytope: the intersection of their twelve
half-spaces. Its volume is computed exactly (half-space intersection, then convex hull), so a
rotated box is not replaced by its axis-aligned hull. For objects symmetric about their canonical
y axis the predicted box may turn freely about y, and the best IoU over that turn counts, as in
the NOCS benchmark (Wang et al., CVPR 2019, Sec. 6: 20 turns of 18 degrees); the turn that best
aligns the two frames is added to those 20.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

from diff9d_ros.geometry.rotations import align_about_y, rotation_about_y

#: Number of turns about y tried for symmetric objects (NOCS evaluation code).
NOCS_SYMMETRY_TURNS = 20


def _check_box(rotation: np.ndarray, center_m: np.ndarray, size_m: np.ndarray) -> tuple[np.ndarray, ...]:
    rotation = np.asarray(rotation, dtype=np.float64)
    center_m = np.asarray(center_m, dtype=np.float64)
    size_m = np.asarray(size_m, dtype=np.float64)
    if rotation.shape != (3, 3) or center_m.shape != (3,) or size_m.shape != (3,):
        raise ValueError(
            f"box needs rotation (3, 3), centre (3,), size (3,); got {rotation.shape}, "
            f"{center_m.shape}, {size_m.shape}"
        )
    if not (np.isfinite(rotation).all() and np.isfinite(center_m).all() and np.isfinite(size_m).all()):
        raise ValueError("box has NaN or inf entries")
    if np.any(size_m <= 0):
        raise ValueError(f"box size must be positive, got {size_m}")
    return rotation, center_m, size_m


def _halfspaces(rotation: np.ndarray, center_m: np.ndarray, size_m: np.ndarray) -> np.ndarray:
    """Rows ``[n, -d]`` with ``n . x <= d`` (scipy's ``A x + b <= 0`` form) for the six faces."""
    normals = np.concatenate([rotation.T, -rotation.T])
    offsets = normals @ center_m + np.concatenate([size_m, size_m]) / 2.0
    return np.concatenate([normals, -offsets[:, None]], axis=1)


def _intersection_volume(halfspaces: np.ndarray) -> float:
    """Volume of ``{x : A x + b <= 0}``, 0 when it has no interior."""
    a, b = halfspaces[:, :3], -halfspaces[:, 3]
    # Chebyshev centre: the deepest interior point, radius > 0 iff the polytope has volume.
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    lp = linprog(
        c=[0.0, 0.0, 0.0, -1.0],
        A_ub=np.hstack([a, norms]),
        b_ub=b,
        bounds=[(None, None)] * 3 + [(0.0, None)],
        method="highs",
    )
    if not lp.success or lp.x[3] < 1e-9:
        return 0.0
    try:
        vertices = HalfspaceIntersection(halfspaces, lp.x[:3]).intersections
        return float(ConvexHull(vertices).volume)
    except QhullError:
        return 0.0


def box_iou_3d(
    rotation_a: np.ndarray,
    center_a_m: np.ndarray,
    size_a_m: np.ndarray,
    rotation_b: np.ndarray,
    center_b_m: np.ndarray,
    size_b_m: np.ndarray,
) -> float:
    """Exact IoU in [0, 1] of two oriented boxes given as (rotation, centre, full size)."""
    box_a = _check_box(rotation_a, center_a_m, size_a_m)
    box_b = _check_box(rotation_b, center_b_m, size_b_m)
    inter = _intersection_volume(np.concatenate([_halfspaces(*box_a), _halfspaces(*box_b)]))
    union = float(np.prod(box_a[2]) + np.prod(box_b[2])) - inter
    return float(np.clip(inter / union, 0.0, 1.0))


def symmetric_box_iou_3d(
    rotation_pred: np.ndarray,
    center_pred_m: np.ndarray,
    size_pred_m: np.ndarray,
    rotation_gt: np.ndarray,
    center_gt_m: np.ndarray,
    size_gt_m: np.ndarray,
    symmetric: bool,
) -> float:
    """NOCS 3-D IoU: for a symmetric object, the best IoU over turns of the prediction about y."""
    if not symmetric:
        return box_iou_3d(rotation_pred, center_pred_m, size_pred_m, rotation_gt, center_gt_m, size_gt_m)
    rotation_pred = np.asarray(rotation_pred, dtype=np.float64)
    turns = rotation_pred @ rotation_about_y(
        2.0 * np.pi * np.arange(NOCS_SYMMETRY_TURNS) / NOCS_SYMMETRY_TURNS
    )
    candidates = [align_about_y(rotation_pred, rotation_gt), *turns]
    return max(
        box_iou_3d(r, center_pred_m, size_pred_m, rotation_gt, center_gt_m, size_gt_m) for r in candidates
    )
