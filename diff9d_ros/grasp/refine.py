"""Refinement of model-based grasp candidates on the object's observed points.

A candidate comes from the estimated 9-DoF pose (:mod:`diff9d_ros.grasp.candidates`); a pose error of
1-2 cm or 10 degrees moves the object by as much relative to the fingers, which then close on air
or land on the object. As in the candidate generation of grasp pose detection (Gualtieri et al.,
"High precision grasp pose detection in dense clutter", IROS 2016, Sec. IV: the hand is placed
from the point cloud itself, pushed along the approach until it meets the cloud, and kept only if
points lie between the fingers), the observed cloud, not the pose, has the last word here:

1. :func:`grow_own_points`: the object's own points are the scene points connected (within
   ``link_m``) to the points inside its estimated box, searched up to ``growth_m`` outside the box,
   so a part of the object that the pose error pushed out of the box is still the object and not an
   obstacle.
2. :func:`recentre_on_points` (closing axis, TCP y): the own points in the fingers' slab (pad width
   in x, finger length in z, the maximum opening plus ``max_shift_m`` each way in y) are split
   into clusters along y wherever a gap could hold a finger; the cluster nearest the candidate's
   centre is the part to grasp. The fingers are centred on the union of that cluster and the
   width the pose predicts (the camera sees one side of an object only) when both fit in the
   opening, else on the cluster alone (the pose is off by more than the opening's slack), by the
   least shift that fits it in the predicted width; at most ``max_shift_m``.
3. :func:`snap_to_surface` (approach axis, TCP z): the nearest own point in the fingers' swept
   footprint is the observed near surface; the candidate moves along the approach so that its
   expected near surface meets it, at most ``max_shift_m`` either way. When the approach comes
   from the side the camera does not see, only backing off is trusted (the visible points are then
   the far side). A forward move is capped so that no gripper part goes below the table.

Shifts are expressed in each candidate's TCP frame and applied to the poses and to the points
already expressed in those frames, so nothing is transformed twice.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from diff9d_ros.geometry.boxes import points_in_box
from diff9d_ros.grasp.gripper import GripperModel
from diff9d_ros.nocs import Detection


def grow_own_points(
    points_m: np.ndarray,
    detection: Detection,
    seed_tolerance_m: float,
    growth_m: float,
    link_m: float,
) -> np.ndarray:
    """Boolean (M,): the scene points that belong to the detected object.

    Seeds are the points inside the detection box grown by ``seed_tolerance_m``; a point inside the
    box grown by ``growth_m`` joins them when a chain of points, each within ``link_m`` of the next,
    connects it to a seed.
    """
    if not 0.0 <= seed_tolerance_m <= growth_m:
        raise ValueError(f"need 0 <= seed_tolerance_m <= growth_m, got {seed_tolerance_m}, {growth_m}")
    if link_m <= 0.0:
        raise ValueError(f"link_m must be positive, got {link_m}")
    rotation, centre, size = detection.rotation, detection.translation_m, detection.size_m
    seeds = points_in_box(points_m, rotation, centre, size, tolerance_m=seed_tolerance_m)
    zone = np.flatnonzero(points_in_box(points_m, rotation, centre, size, tolerance_m=growth_m))
    own = seeds.copy()
    if not seeds.any() or len(zone) == len(np.flatnonzero(seeds)):
        return own
    pairs = cKDTree(points_m[zone]).query_pairs(link_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(zone), len(zone)))
    _, labels = connected_components(graph, directed=False)
    seeded = np.unique(labels[seeds[zone]])
    own[zone[np.isin(labels, seeded)]] = True
    return own


def _nearest_cluster(y: np.ndarray, valid: np.ndarray, gap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``y`` (N, M), the extent (low, high) of the cluster of valid values nearest 0.

    Values belong to one cluster while consecutive sorted values are at most ``gap_m`` apart.
    Rows without valid values give (NaN, NaN).
    """
    n, m = y.shape
    if m == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    ys = np.sort(np.where(valid, y, np.inf), axis=1)
    seed = np.argmin(np.abs(ys), axis=1)
    with np.errstate(invalid="ignore"):
        breaks = ~(np.diff(ys, axis=1) <= gap_m)  # NaN (inf - inf) and inf gaps break too
    index = np.arange(m - 1)
    low_index = np.where(breaks & (index < seed[:, None]), index + 1, 0).max(axis=1, initial=0)
    high_index = np.where(breaks & (index >= seed[:, None]), index, m - 1).min(axis=1, initial=m - 1)
    rows = np.arange(n)
    low, high = ys[rows, low_index], ys[rows, high_index]
    empty = ~valid.any(axis=1)
    low[empty], high[empty] = np.nan, np.nan
    return low, high


def recentre_on_points(
    poses: np.ndarray,
    local_own: np.ndarray,
    prior_width_m: np.ndarray,
    gripper: GripperModel,
    max_shift_m: float,
    cluster_gap_m: float,
    max_width_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shift each candidate along its closing axis onto the observed part between its fingers.

    ``poses`` (N, 4, 4) TCP poses, ``local_own`` (N, M, 3) the own points in those frames,
    ``prior_width_m`` (N,) the width the pose predicts, centred on the candidate. The part to hold
    spans the observed cluster and, where the two fit within ``max_width_m`` together, the
    predicted interval too (a side the camera does not see is still where the pose puts it); a
    cluster too far from the prediction is held on its own, moved onto by the least shift that
    fits it in the predicted width (or centred if it is wider). Returns (poses, local_own, width_m,
    shift_m, observed): the shifted poses and points, the width to grasp, the shift along y (N,)
    and whether own points were found in the slab (N,; candidates without are left as they are).
    """
    z_low, z_high = gripper.finger_z_range_m
    pad_half_x = gripper.finger_half_extents_m[0]
    reach = gripper.max_opening_m / 2.0 + max_shift_m
    x, y, z = local_own[..., 0], local_own[..., 1], local_own[..., 2]
    in_slab = (np.abs(x) <= pad_half_x) & (z >= z_low) & (z <= z_high) & (np.abs(y) <= reach)
    low, high = _nearest_cluster(y, in_slab, cluster_gap_m)
    half = np.asarray(prior_width_m, dtype=np.float64) / 2.0
    found = np.isfinite(low)
    low, high = np.where(found, low, 0.0), np.where(found, high, 0.0)
    union_low, union_high = np.minimum(low, -half), np.maximum(high, half)
    together = union_high - union_low <= max_width_m
    wider = (high - low) >= 2.0 * half
    # Least move that puts [low, high] inside [shift - half, shift + half]; centred if it is wider.
    alone = np.where(wider, (low + high) / 2.0, np.clip(0.0, high - half, low + half))
    shift = np.where(together, (union_low + union_high) / 2.0, alone)
    shift = np.clip(shift, -max_shift_m, max_shift_m)
    width = np.where(together, union_high - union_low, np.maximum(2.0 * half, high - low))
    moved, local = _shifted(poses, local_own, 1, shift)
    return moved, local, width, shift, found


def snap_to_surface(
    poses: np.ndarray,
    local_own: np.ndarray,
    surface_z_m: np.ndarray,
    opening_m: np.ndarray,
    gripper: GripperModel,
    max_shift_m: float,
    max_forward_m: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Move each candidate along its approach so its expected near surface meets the observed one.

    ``surface_z_m`` (N,) is the expected near surface (TCP z), ``opening_m`` (N,) the finger opening,
    ``max_forward_m`` (N,) the largest forward move allowed (table clearance; may be negative, then
    the candidate backs off at least that much). Forward moves count only when the camera sees the
    surface the gripper approaches (approach along the viewing ray of the pad centre), backward
    moves always. Returns (poses, local_own, shift_m, observed): the shift along z (N,) and whether
    the near surface was seen and placed (N,).
    """
    z_low, z_high = gripper.finger_z_range_m
    pad_half_x = gripper.finger_half_extents_m[0]
    outer = np.asarray(opening_m, dtype=np.float64) / 2.0 + 2.0 * gripper.finger_half_extents_m[1]
    x, y, z = local_own[..., 0], local_own[..., 1], local_own[..., 2]
    footprint = (
        (np.abs(x) <= pad_half_x)
        & (np.abs(y) <= outer[:, None])
        & (z >= gripper.palm_front_z_m - max_shift_m)
        & (z <= z_high + max_shift_m)
    )
    nearest = np.where(footprint, z, np.inf).min(axis=1, initial=np.inf)
    shift = np.where(np.isfinite(nearest), nearest - surface_z_m, 0.0)
    pad_centre = poses[:, :3, 3] + ((z_low + z_high) / 2.0) * poses[:, :3, 2]
    seen = np.einsum("ni,ni->n", poses[:, :3, 2], pad_centre) > 0.0
    shift = np.where(seen, shift, np.minimum(shift, 0.0))
    shift = np.minimum(np.clip(shift, -max_shift_m, max_shift_m), max_forward_m)
    moved, local = _shifted(poses, local_own, 2, shift)
    return moved, local, shift, seen & np.isfinite(nearest)


def _shifted(
    poses: np.ndarray, local: np.ndarray, axis: int, shift_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poses moved by ``shift_m`` (N,) along their own ``axis``, and points re-expressed in them."""
    moved = poses.copy()
    moved[:, :3, 3] += shift_m[:, None] * poses[:, :3, axis]
    local = local.copy()
    local[..., axis] -= shift_m[:, None].astype(local.dtype)
    return moved, local
