"""Built-in tabletop segmentation: the support plane by RANSAC, then clusters of what stands on it.

1. Back-project the valid depth (every ``stride``-th pixel) and fit the dominant plane with RANSAC
   (Fischler & Bolles 1981; seeded, so the same frame always gives the same plane) and a
   least-squares refit to its inliers; its normal is turned towards the camera.
   Up to two more planes are fitted to the rest: a parallel one at least ``min_support_gap_m``
   above the dominant one with enough support is the table seen above a larger floor.
2. Keep the points between ``min_height_m`` (plus :data:`NOISE_MARGIN` depth-noise deviations,
   so that the noisy table itself stays out at range) and ``max_height_m`` above the plane and
   no farther than ``max_range_m``, with the depth holes among them bridged by the median of
   their neighbours (:func:`bridge_depth_holes`: a dark object at range returns depth on 40 % of
   its pixels), and cluster them: Euclidean clusters on a voxel grid
   (:func:`~diff9d_ros.geometry.clusters.voxel_clusters`), which, unlike a density threshold,
   keeps a thin mug handle with its body; a cluster that holds two or more parts of an object's
   size on the pixel grid (:func:`~diff9d_ros.geometry.clusters.grid_components`) is split into
   them (:func:`split_touching`: objects that touch on a cluttered table).
3. The workspace: a cluster is kept only if it shows ``min_cluster_area_m2`` of surface (each
   grid point at depth z stands for (z * stride / fx)^2 of a surface facing the camera, so the
   threshold means the same at 0.3 m and at 1.6 m and for any stride; a count of points would
   keep a speck of noise near the camera and drop a whole can at 1.5 m) and at least
   ``min_cluster_points`` points (15: a can 1.5 m away stands on 20-25 points of the grid), lies
   within ``max_range_m`` and its footprint centre (on the plane) lies on the table (the convex
   hull of the plane's inliers, grown by ``table_margin_m``) and inside the optional workspace
   polygon; clutter beyond the table or off it is rejected.
4. The kept clusters become instances. Each takes the thin parts attached to it
   (:func:`grow_into_thin_parts`: a laptop's base, 6-22 mm thick, sinks into the depth noise of the
   step-2 threshold at range, which would leave the lid alone as the object) and the pixels without
   depth that are its own
   (:func:`grow_into_holes`: solid holes up to ``hole_fill_m`` away, speckle inside it; dark,
   shiny and transparent objects return depth on part of their surface only). The label image is
   brought back to full resolution, where a pixel keeps its label if its depth stands above the
   plane or it has no depth.

Categories come from the pose network's category head, whose background class and a score
threshold reject what is on the table but is none of the categories
(:mod:`diff9d_ros.pose.estimator`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError, cKDTree

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.clusters import (
    STEREO_DEPTH_NOISE_PER_M,
    depth_noise_m,
    graph_components,
    grid_components,
    voxel_clusters,
)
from diff9d_ros.geometry.plane import TablePlane, plane_basis

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentationConfig:
    """Thresholds of :func:`segment_tabletop` (metres, pixels, points) and its workspace.

    ``workspace_polygon_m``: optional (K >= 3) vertices (x, y, z) in the camera frame of a
    polygon on the table; clusters whose footprint centre falls outside its projection onto the
    table plane are rejected.
    """

    stride: int = 0  # pixel stride; 0: 4 px per 640 px of image width
    plane_distance_m: float = 0.008
    ransac_iterations: int = 100
    min_support_gap_m: float = 0.3
    min_height_m: float = 0.008
    max_height_m: float = 0.6
    cluster_voxel_m: float = 0.012
    min_cluster_points: int = 15
    min_cluster_area_m2: float = 5e-4
    max_range_m: float = 2.0
    table_margin_m: float = 0.03
    hole_fill_m: float = 0.04  # 0: no growth into depth holes
    hole_bridge_cells: int = 2  # 0: no bridging of depth holes before clustering
    split_gap_spacings: float = 3.0  # 0: touching objects stay one cluster
    thin_part_reach_m: float = 0.35  # 0: no growth into thin attached parts
    workspace_polygon_m: tuple[tuple[float, float, float], ...] = ()
    depth_noise_per_m: float = STEREO_DEPTH_NOISE_PER_M

    def __post_init__(self) -> None:
        if self.stride < 0 or self.hole_bridge_cells < 0 or self.split_gap_spacings < 0:
            raise ValueError(f"stride, hole_bridge_cells and split_gap_spacings must be >= 0: {self}")
        if self.ransac_iterations < 1 or self.min_cluster_points < 1:
            raise ValueError(f"ransac_iterations and min_cluster_points must be >= 1: {self}")
        if self.thin_part_reach_m < 0:
            raise ValueError(f"thin_part_reach_m must be >= 0 (0: off), got {self.thin_part_reach_m}")
        if self.max_range_m <= 0 or self.cluster_voxel_m <= 0 or self.min_cluster_area_m2 < 0:
            raise ValueError(
                f"max_range_m and cluster_voxel_m must be positive, min_cluster_area_m2 >= 0: {self}"
            )
        polygon = np.asarray(self.workspace_polygon_m, dtype=np.float64)
        if polygon.size and (polygon.ndim != 2 or polygon.shape[1] != 3 or len(polygon) < 3):
            raise ValueError(
                f"workspace_polygon_m needs at least 3 (x, y, z) vertices, got shape {polygon.shape}"
            )

    def stride_for(self, width_px: int) -> int:
        """The pixel stride for an image ``width_px`` wide."""
        return self.stride or max(1, round(4 * width_px / 640))


@dataclass(frozen=True)
class TableTop:
    """The support plane and its extent: the plane's inlier points (M, 3), camera frame; and the
    frame's valid-depth points on the ``stride`` grid it was fitted on, with their rows and
    columns (:func:`_pixel_grid_points`), which :func:`segment_tabletop` reuses."""

    plane: TablePlane
    inliers_m: np.ndarray
    stride: int
    grid: tuple[np.ndarray, np.ndarray, np.ndarray]


def _pixel_grid_points(frame: RGBDFrame, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3) of valid depth on a ``stride`` grid, with their rows and columns (row-major)."""
    return frame.intrinsics.backproject_grid(frame.depth_m, stride)


#: Points RANSAC scores its hypotheses on (a seeded random subset; the inliers are then taken
#: from every point).
RANSAC_SCORE_POINTS = 5000


def _ransac_plane(
    points: np.ndarray, config: SegmentationConfig, rng: np.random.Generator
) -> tuple[TablePlane, np.ndarray]:
    """The plane with the most inliers within ``plane_distance_m`` among ``ransac_iterations``
    planes through three random points (Fischler & Bolles 1981), refitted to its inliers by least
    squares; deterministic for a given generator. Returns the plane (normal towards the camera)
    and the inlier flags."""
    score_on = points[rng.choice(len(points), min(len(points), RANSAC_SCORE_POINTS), replace=False)]
    corners = points[rng.integers(0, len(points), size=(config.ransac_iterations, 3))]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normals, axis=1)
    usable = length > 1e-12
    normals = normals[usable] / length[usable, None]
    offsets = -np.einsum("ij,ij->i", normals, corners[usable, 0])
    if not len(normals):
        raise ValueError("table plane: the depth points are degenerate (no three span a plane)")
    counts = (np.abs(score_on @ normals.T + offsets) < config.plane_distance_m).sum(axis=0)
    best = int(np.argmax(counts))
    return _refit(points, normals[best], float(offsets[best]), config.plane_distance_m)


def _refit(
    points: np.ndarray, normal: np.ndarray, offset: float, distance_m: float
) -> tuple[TablePlane, np.ndarray]:
    """The plane ``normal . p + offset = 0`` refitted by least squares to its inliers within
    ``distance_m``, twice (the second time to the inliers of the first refit), its normal turned
    towards the camera; and the inlier flags of the result. ValueError when it has fewer than
    three inliers."""
    for _ in range(2):
        inliers = np.abs(points @ normal + offset) < distance_m
        if inliers.sum() < 3:
            raise ValueError("table plane: fewer than three points lie on the plane")
        centre = points[inliers].mean(axis=0)
        normal = np.linalg.svd(points[inliers] - centre, full_matrices=False)[2][2]
        offset = -float(normal @ centre)
    if offset < 0:  # the camera (origin) must be on the positive side
        normal, offset = -normal, -offset
    return TablePlane(normal, offset), np.abs(points @ normal + offset) < distance_m


#: Planes fitted in all (the dominant one and candidates for a table above a floor).
PLANES_TRIED = 3
#: A table above the dominant plane needs this share of the dominant plane's inliers.
MIN_TABLE_SUPPORT = 0.1
PARALLEL_COS = np.cos(np.radians(10.0))
#: Depth-noise deviations added to ``min_height_m`` (the noisy table must not stand on itself).
NOISE_MARGIN = 1.5


def fit_table(frame: RGBDFrame, config: SegmentationConfig | None = None, seed: int = 0) -> TableTop:
    """The support plane of the frame and its inliers (module docstring, step 1); ValueError if
    there are too few points. Deterministic for a given ``seed``."""
    config = config or SegmentationConfig()
    stride = config.stride_for(frame.intrinsics.width)
    grid = _pixel_grid_points(frame, stride)
    pts = grid[0]
    if len(pts) < 100:
        raise ValueError(f"table plane: only {len(pts)} valid depth points")
    rng = np.random.default_rng(seed)
    dominant, inliers = _ransac_plane(pts, config, rng)
    best = TableTop(dominant, pts[inliers], stride, grid)
    rest = pts[~inliers]
    for _ in range(PLANES_TRIED - 1):
        if len(rest) < max(100, MIN_TABLE_SUPPORT * len(best.inliers_m)):
            break
        plane, inliers = _ransac_plane(rest, config, rng)
        parallel = plane.normal @ dominant.normal > PARALLEL_COS
        above = dominant.offset_m - plane.offset_m > config.min_support_gap_m
        supported = inliers.sum() >= MIN_TABLE_SUPPORT * len(best.inliers_m)
        if parallel and above and supported and plane.offset_m < best.plane.offset_m:
            best = TableTop(plane, rest[inliers], stride, grid)
        rest = rest[~inliers]
    return best


#: A tracked table keeps at least this share of the inliers of its last full fit.
TRACK_MIN_SHARE = 0.8
#: Largest turn of a tracked table's normal from one frame to the next.
TRACK_MAX_TURN_COS = np.cos(np.radians(5.0))


class TableTracker:
    """The table of a stream: :func:`fit_table` (RANSAC over up to three planes) at least once per
    ``full_fit_period_s`` of stamps, and on the frames in between the last table refitted by
    least squares to this frame's points near it, which costs a fraction of the search. A refit
    that keeps under :data:`TRACK_MIN_SHARE` of the last full fit's inliers or turns by more than
    5 degrees (the camera moved fast, the table left the view), a gap or stamps that go backwards
    fall back to the full fit at once."""

    def __init__(self, seed: int = 0, full_fit_period_s: float = 1.0) -> None:
        self.seed, self.full_fit_period_s = seed, full_fit_period_s
        self._last: TableTop | None = None
        self._full_fit_ns = 0
        self._full_fit_inliers = 0
        #: Frames whose table was tracked, and fitted in full.
        self.tracked = self.full_fits = 0

    def fit(self, frame: RGBDFrame, config: SegmentationConfig) -> TableTop:
        """The table of ``frame`` (tracked or fitted, see the class docstring); ValueError as
        :func:`fit_table`."""
        age_s = 1e-9 * (frame.stamp_ns - self._full_fit_ns)
        if self._last is not None and 0 <= age_s < self.full_fit_period_s:
            tracked = self._track(frame, config, self._last.plane)
            if tracked is not None:
                self._last = tracked
                self.tracked += 1
                return tracked
        self._last = fit_table(frame, config, self.seed)
        self._full_fit_ns, self._full_fit_inliers = frame.stamp_ns, len(self._last.inliers_m)
        self.full_fits += 1
        return self._last

    def _track(self, frame: RGBDFrame, config: SegmentationConfig, last: TablePlane) -> TableTop | None:
        stride = config.stride_for(frame.intrinsics.width)
        grid = _pixel_grid_points(frame, stride)
        pts = grid[0]
        try:
            plane, inliers = _refit(pts, last.normal, last.offset_m, config.plane_distance_m)
        except ValueError:
            return None
        if (
            inliers.sum() < TRACK_MIN_SHARE * self._full_fit_inliers
            or plane.normal @ last.normal < TRACK_MAX_TURN_COS
        ):
            return None
        return TableTop(plane, pts[inliers], stride, grid)


def fit_table_plane(frame: RGBDFrame, config: SegmentationConfig | None = None, seed: int = 0) -> TablePlane:
    """The support plane of :func:`fit_table`; raises ValueError if there are too few points."""
    return fit_table(frame, config, seed).plane


def table_plane(frame: RGBDFrame, config: SegmentationConfig | None = None) -> TablePlane | None:
    """:func:`fit_table_plane`, or None with a logged reason when no plane can be fitted."""
    try:
        return fit_table_plane(frame, config)
    except ValueError as error:
        LOG.warning("no table plane (%s); using the image's up direction", error)
        return None


def _plane_coordinates(plane: TablePlane, points_m: np.ndarray) -> np.ndarray:
    """2-D coordinates (N, 2) of points projected onto the plane, in a fixed in-plane basis."""
    e1, e2 = plane_basis(plane.normal)
    return np.stack([points_m @ e1, points_m @ e2], axis=1)


def _inside(polygon_2d: np.ndarray, points_2d: np.ndarray, margin_m: float) -> np.ndarray:
    """Whether 2-D points lie inside the convex hull of ``polygon_2d`` grown by ``margin_m``
    (everything is inside a degenerate hull)."""
    try:
        equations = ConvexHull(polygon_2d).equations  # unit outward normals: n . p + d <= 0 inside
    except (QhullError, ValueError):
        return np.ones(len(points_2d), dtype=bool)
    return np.all(points_2d @ equations[:, :2].T + equations[:, 2] <= margin_m, axis=1)


def workspace_filter(
    table: TableTop, centres_m: np.ndarray, config: SegmentationConfig
) -> tuple[np.ndarray, list[str]]:
    """Which cluster footprint centres (N, 3) lie in the workspace (range, table, polygon), and a
    reason per rejected one."""
    flat = _plane_coordinates(table.plane, centres_m)
    on_table = _inside(_plane_coordinates(table.plane, table.inliers_m), flat, config.table_margin_m)
    in_polygon = np.ones(len(centres_m), dtype=bool)
    if len(config.workspace_polygon_m):
        polygon = _plane_coordinates(table.plane, np.asarray(config.workspace_polygon_m, dtype=np.float64))
        in_polygon = _inside(polygon, flat, 0.0)
    in_range = np.linalg.norm(centres_m, axis=1) <= config.max_range_m
    reasons = []
    for i in range(len(centres_m)):
        if not in_range[i]:
            reasons.append(f"beyond {config.max_range_m:g} m")
        elif not on_table[i]:
            reasons.append("off the table")
        elif not in_polygon[i]:
            reasons.append("outside the workspace polygon")
    return in_range & on_table & in_polygon, reasons


def _standing(
    points_m: np.ndarray, height_m: np.ndarray, noise_m: np.ndarray, config: SegmentationConfig
) -> np.ndarray:
    """Which points stand on the table: higher than ``min_height_m`` plus :data:`NOISE_MARGIN`
    depth-noise deviations, lower than ``max_height_m``, within ``max_range_m`` (module docstring,
    step 2)."""
    low = config.min_height_m + NOISE_MARGIN * noise_m
    return (height_m > low) & (height_m < config.max_height_m) & (points_m[:, 2] <= config.max_range_m)


def segment_tabletop(
    frame: RGBDFrame, config: SegmentationConfig | None = None, seed: int = 0, table: TableTop | None = None
) -> tuple[np.ndarray, TablePlane]:
    """Instance mask (H, W) int32 (0 = background, 1..n objects) and the table plane (``table``,
    this frame's, when given, else fitted by :func:`fit_table`; its depth grid is reused when its
    stride is this config's)."""
    config = config or SegmentationConfig()
    frame.validate()
    table = table or fit_table(frame, config, seed)
    plane = table.plane
    stride = config.stride_for(frame.intrinsics.width)
    pts, v, u = table.grid if table.stride == stride else _pixel_grid_points(frame, stride)
    height = plane.height_m(pts)
    noise = depth_noise_m(pts[:, 2], config.depth_noise_per_m)
    above = _standing(pts, height, noise, config)
    h, w = frame.depth_m.shape
    mask = np.zeros((h, w), dtype=np.int32)
    if above.sum() < config.min_cluster_points:
        LOG.info("tabletop segmentation: nothing stands on the table")
        return mask, plane
    grid_shape = (-(-h // stride), -(-w // stride))
    standing_cells = np.zeros(grid_shape, dtype=bool)
    standing_cells[v[above] // stride, u[above] // stride] = True
    bridge_pts, bridge_v, bridge_u = bridge_depth_holes(
        frame, stride, config.hole_bridge_cells, standing_cells
    )
    bridge_height = plane.height_m(bridge_pts)
    bridge_above = _standing(
        bridge_pts, bridge_height, depth_noise_m(bridge_pts[:, 2], config.depth_noise_per_m), config
    )
    measured = np.arange(above.sum() + bridge_above.sum()) < above.sum()
    above_pts = np.concatenate([pts[above], bridge_pts[bridge_above]])
    above_height = np.concatenate([height[above], bridge_height[bridge_above]])
    above_v = np.concatenate([v[above], bridge_v[bridge_above]])
    above_u = np.concatenate([u[above], bridge_u[bridge_above]])
    grid_spacing_m = above_pts[:, 2] * stride / frame.intrinsics.fx  # per point, at its depth
    spacing_m = float(np.median(grid_spacing_m[measured]))
    voxel_m = max(config.cluster_voxel_m, 1.5 * spacing_m)
    labels = voxel_clusters(above_pts, voxel_m)
    if config.split_gap_spacings > 0:
        components = grid_components(
            above_pts,
            above_v // stride,
            above_u // stride,
            config.split_gap_spacings * grid_spacing_m,
            config.cluster_voxel_m,
        )
        labels = split_touching(
            labels, components, above_pts, measured, grid_spacing_m, config, above_height, voxel_m
        )
    sizes, areas_m2 = _evidence(labels, measured, grid_spacing_m)
    big = np.flatnonzero((sizes >= config.min_cluster_points) & (areas_m2 >= config.min_cluster_area_m2))
    if not len(big):
        return mask, plane
    centres = np.array([above_pts[measured & (labels == label)].mean(axis=0) for label in big])
    footprints = centres - np.outer(plane.height_m(centres), plane.normal)
    keep, reasons = workspace_filter(table, footprints, config)
    for label, reason in zip(big[~keep], reasons, strict=True):
        LOG.debug("tabletop segmentation drops a cluster of %d points: %s", sizes[label], reason)
    coarse = np.zeros(grid_shape, dtype=np.int32)
    for instance, label in enumerate(big[keep], start=1):
        members = labels == label
        coarse[above_v[members] // stride, above_u[members] // stride] = instance
    holes = np.ones(coarse.shape, dtype=bool)
    holes[v // stride, u // stride] = False
    thin = np.zeros(coarse.shape, dtype=bool)
    if config.thin_part_reach_m > 0:
        grid_height = np.full(coarse.shape, np.nan)
        grid_height[v // stride, u // stride] = height
        grid_noise = np.zeros(coarse.shape)
        grid_noise[v // stride, u // stride] = noise
        before = coarse
        coarse = grow_into_thin_parts(
            coarse, grid_height, grid_noise, config.min_height_m, config.thin_part_reach_m / spacing_m
        )
        thin = coarse != before
    grown = grow_into_holes(coarse, holes, config.hole_fill_m / spacing_m)
    full = np.repeat(np.repeat(grown, stride, axis=0), stride, axis=1)[:h, :w]
    thin_full = np.repeat(np.repeat(thin, stride, axis=0), stride, axis=1)[:h, :w]
    # Full-resolution support: valid depth above the plane, looked at only where a cluster is.
    depth_m = frame.depth_m
    has_depth = np.isfinite(depth_m) & (depth_m > 0)
    rows, cols = np.nonzero((full > 0) & has_depth)
    full_pts = frame.intrinsics.points_at(rows, cols, depth_m[rows, cols])
    full_height = plane.height_m(full_pts)
    low = config.min_height_m + NOISE_MARGIN * depth_noise_m(full_pts[:, 2], config.depth_noise_per_m)
    low[thin_full[rows, cols]] = THIN_FLOOR * config.min_height_m  # the cell already stands out
    keep_px = (full_height > low) & (full_height < config.max_height_m)
    mask[rows[keep_px], cols[keep_px]] = full[rows[keep_px], cols[keep_px]]
    no_depth = (full > 0) & ~has_depth
    mask[no_depth] = full[no_depth]
    return mask, plane


def _evidence(
    labels: np.ndarray, measured: np.ndarray, grid_spacing_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per label the measured points and the surface (m^2) they stand for: bridged points
    (:func:`bridge_depth_holes`) connect, they add no evidence."""
    count = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels[measured], minlength=count)
    areas_m2 = np.bincount(labels[measured], weights=grid_spacing_m[measured] ** 2, minlength=count)
    return sizes, areas_m2


#: Two parts of a split cluster are one object again when they touch along at least
#: :data:`REJOIN_CONTACT_M` and one is a thin part no higher than :data:`THIN_TOP_M` or their tops (this
#: quantile of their heights above the table) lie within :data:`REJOIN_LEVEL_M` of each other and meet
#: (:func:`_one_object`).
TOP_QUANTILE = 0.95
REJOIN_LEVEL_M = 0.005
TOP_BAND_M = 0.01
THIN_TOP_M = 0.035
REJOIN_CONTACT_M = 0.05


def split_touching(
    labels: np.ndarray,
    components: np.ndarray,
    points_m: np.ndarray,
    measured: np.ndarray,
    grid_spacing_m: np.ndarray,
    config: SegmentationConfig,
    heights_m: np.ndarray,
    voxel_m: float,
) -> np.ndarray:
    """Voxel cluster ``labels`` (N,) with each cluster that holds two or more large grid
    ``components`` (:func:`~diff9d_ros.geometry.clusters.grid_components`; large: each would be
    kept as a cluster alone, ``min_cluster_points`` and ``min_cluster_area_m2``) split into them;
    the cluster's points in small components go to the large component of their nearest point, and
    parts that are one object by :func:`_one_object` (``heights_m`` above the table, points within
    two ``voxel_m`` touch) stay together.

    Objects that touch on a cluttered table are one voxel cluster: 26 neighbouring voxels join
    points up to two voxel diagonals (4 cm) apart, and the flying pixels of the depth step between
    an object and the one behind it bridge the rest; on 60 validation clutter frames one object in
    ten was merged with another. On the pixel grid the step separates them. The grid alone breaks a
    dark or grazing surface into fragments (a handle, the rim of a mug seen from above), which is
    why it only splits clusters into parts that are objects' size, and fragments stay with a part.
    It also breaks one object at its own depth steps: a mug seen from the side is its outer wall and,
    over the rim, its inner wall; a laptop is its lid and its base, which the lid partly hides.
    Such parts meet along a line (the rim's sides; the hinge), and their tops are level and meet
    (the rim) or one of them is thin (a laptop's base), where two objects that touch meet at a
    point, or their tops differ or stand apart: of the pairs of parts split on 120 validation
    clutter frames, the rule holds for 39 of 78 pairs of parts of one object and for 1 of 117 pairs
    of parts of different objects.
    """
    out = labels.copy()
    next_label = int(labels.max()) + 1
    sizes, areas_m2 = _evidence(components, measured, grid_spacing_m)
    large = (sizes >= config.min_cluster_points) & (areas_m2 >= config.min_cluster_area_m2)
    for label in np.flatnonzero(np.bincount(labels) >= 2 * config.min_cluster_points):
        members = np.flatnonzero(labels == label)
        part_of = components[members]  # a copy: small components are reassigned below
        in_large = large[part_of]
        parts = np.unique(part_of[in_large])
        if len(parts) < 2:
            continue
        if not in_large.all():
            _, nearest = cKDTree(points_m[members[in_large]]).query(points_m[members[~in_large]])
            part_of[~in_large] = part_of[in_large][nearest]
        in_part = [members[part_of == part] for part in parts]
        joined = np.array(
            [
                (i, j)
                for i, j in combinations(range(len(parts)), 2)
                if _one_object(
                    points_m[in_part[i]],
                    heights_m[in_part[i]],
                    points_m[in_part[j]],
                    heights_m[in_part[j]],
                    2.0 * voxel_m,
                )
            ],
            dtype=np.int64,
        ).reshape(-1, 2)
        # Groups of parts that are one object; the group of the first part keeps the cluster's label.
        group = graph_components(len(parts), [joined[:, 0]], [joined[:, 1]])[np.searchsorted(parts, part_of)]
        for index in range(1, group.max() + 1):
            out[members[group == index]] = next_label
            next_label += 1
    return out


def _one_object(
    points_a_m: np.ndarray,
    heights_a_m: np.ndarray,
    points_b_m: np.ndarray,
    heights_b_m: np.ndarray,
    reach_m: float,
) -> bool:
    """Whether two parts (points (N, 3) and their heights above the table) are one object: their
    points within ``reach_m`` of the other part span at least :data:`REJOIN_CONTACT_M` (the
    longest side of their bounding box), and either one part is no higher than :data:`THIN_TOP_M`
    (a laptop's base) or their tops lie within :data:`REJOIN_LEVEL_M` of each other and meet (points
    of the top :data:`TOP_BAND_M` of both within ``reach_m``: a mug's rim, not the lids of two cans
    of one height side by side)."""
    top_a, top_b = np.quantile(heights_a_m, TOP_QUANTILE), np.quantile(heights_b_m, TOP_QUANTILE)
    if min(top_a, top_b) > THIN_TOP_M:
        if abs(top_a - top_b) > REJOIN_LEVEL_M:
            return False
        rim_a = points_a_m[heights_a_m >= top_a - TOP_BAND_M]
        rim_b = points_b_m[heights_b_m >= top_b - TOP_BAND_M]
        if not np.isfinite(cKDTree(rim_b).query(rim_a, distance_upper_bound=reach_m)[0]).any():
            return False
    near_a = cKDTree(points_b_m).query(points_a_m, distance_upper_bound=reach_m)[0] < reach_m
    near_b = cKDTree(points_a_m).query(points_b_m, distance_upper_bound=reach_m)[0] < reach_m
    contact = np.concatenate([points_a_m[near_a], points_b_m[near_b]])
    return len(contact) > 1 and float(np.ptp(contact, axis=0).max()) >= REJOIN_CONTACT_M


#: Share of a hole cell's window that must hold measured depth for :func:`bridge_depth_holes`.
BRIDGE_MIN_MEASURED = 0.25


def bridge_depth_holes(
    frame: RGBDFrame, stride: int, reach_cells: int, near: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (M, 3) for the depth holes of the ``stride`` grid, with their rows and columns: each
    hole cell whose (2 ``reach_cells`` + 1) square window holds a cell of ``near`` (a grid-shaped
    mask: the cells that stand on the table; the table's own holes are left alone) takes the
    median depth of the measured cells in that window when at least :data:`BRIDGE_MIN_MEASURED`
    of the window is measured (none when ``reach_cells`` is 0).

    A dark surface at range returns depth on a random 40 % of its pixels; seen obliquely, the
    measured cells of one bottle lie several voxels apart and cluster into fragments, each below
    the size threshold. The median of the neighbours (a hole-filling filter, as stereo SDKs apply
    before segmentation; the median keeps to one side of a depth edge instead of averaging across
    it) puts the holes back on the surface around them, so the fragments join."""
    if reach_cells <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros((0, 3)), empty, empty
    sub = frame.depth_m[::stride, ::stride].astype(np.float64)
    measured = np.isfinite(sub) & (sub > 0)
    side = 2 * reach_cells + 1
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(np.where(measured, sub, np.nan), reach_cells, constant_values=np.nan), (side, side)
    )
    counts = ndimage.uniform_filter(measured.astype(np.float32), side, mode="constant") * side * side
    reached = ndimage.maximum_filter(near, size=side, mode="constant")
    sub_rows, sub_cols = np.nonzero(reached & ~measured & (counts >= BRIDGE_MIN_MEASURED * side * side - 0.5))
    # The median of each window's measured cells: NaN sorts last (np.nanmedian takes a masked-array
    # path ten times slower on many small windows).
    ordered = np.sort(windows[sub_rows, sub_cols].reshape(len(sub_rows), side * side), axis=1)
    count, at = np.isfinite(ordered).sum(axis=1), np.arange(len(ordered))
    depth_m = 0.5 * (ordered[at, (count - 1) // 2] + ordered[at, count // 2])
    rows, cols = sub_rows * stride, sub_cols * stride
    return frame.intrinsics.points_at(rows, cols, depth_m), rows, cols


#: Side (grid cells) of the window whose median height decides a thin part.
THIN_WINDOW = 5
#: Share of ``min_height_m`` a thin part's median height must exceed, before the noise margin.
THIN_FLOOR = 0.5
#: Deviations of the window median (about sigma / 4 for 25 cells) a thin part must stand above.
THIN_MEDIAN_DEVIATIONS = 3.0


def grow_into_thin_parts(
    labels: np.ndarray, height_m: np.ndarray, noise_m: np.ndarray, min_height_m: float, max_cells: float
) -> np.ndarray:
    """``labels`` (H, W grid; 0 none) grown into the thin parts attached to them.

    A laptop's base (6-22 mm) or a plate under a cup stands above the table by less than the
    clustering threshold (``min_height_m`` plus :data:`NOISE_MARGIN` depth-noise deviations, 16 mm
    at 1.4 m), so its cluster keeps only what rises higher. A cell with depth is a thin part when
    the median height of the cells with depth (``height_m``, NaN without) of its
    :data:`THIN_WINDOW` square window stands :data:`THIN_MEDIAN_DEVIATIONS` deviations of that
    median (``noise_m``, the depth noise, over the square root of the window's cells, times 1.25
    for a median) above :data:`THIN_FLOOR` of ``min_height_m`` (each cell compared with its own
    threshold, which the depth changes little across a window): hysteresis thresholding
    (Canny 1986) seeded by the clusters, the median keeping the table at an object's edge out.
    Thin cells take the label of the labelled cells they are 8-connected to, one step at a time
    from every label, within ``max_cells`` steps (unlike the Euclidean reach of
    :func:`grow_into_holes`, a base keeps cells that lie nearer to a neighbour standing on the
    table than to its own lid); each connected region of them then goes to the label it shares
    the longest border with (:func:`_to_longest_border`)."""
    if max_cells <= 0 or not labels.any():
        return labels
    window = _reach_window(labels, max_cells + THIN_WINDOW)
    crop, height, noise = labels[window], height_m[window], noise_m[window]
    measured = np.isfinite(height)
    deviation = 1.25 * noise / THIN_WINDOW
    with np.errstate(invalid="ignore"):
        above = measured & (height > THIN_FLOOR * min_height_m + THIN_MEDIAN_DEVIATIONS * deviation)
    # The window's median is above the threshold when most of its measured cells are: two box
    # sums instead of a median filter (a tenth of the time).
    votes_above = ndimage.uniform_filter(above.astype(np.float32), THIN_WINDOW, mode="constant")
    votes_measured = ndimage.uniform_filter(measured.astype(np.float32), THIN_WINDOW, mode="constant")
    thin = (crop == 0) & measured & (votes_above > 0.5 * votes_measured)
    grown = crop.copy()
    for _ in range(int(np.ceil(max_cells))):  # one 8-connected step from every label at a time
        neighbour = ndimage.maximum_filter(grown, size=3)
        reached = thin & (grown == 0) & (neighbour > 0)
        if not reached.any():
            break
        grown[reached] = neighbour[reached]
    out = labels.copy()
    out[window] = _to_longest_border(crop, grown)
    return out


def _to_longest_border(seeds: np.ndarray, grown: np.ndarray) -> np.ndarray:
    """``grown`` (labels grown from ``seeds``) with each 8-connected region of grown cells given
    to the seed label it shares the longest border with: a mug standing at the corner of a
    laptop's base would otherwise take the half of the base its growth reaches first."""
    regions, count = ndimage.label(grown != seeds, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return grown
    rows, cols = np.nonzero(regions)
    region = regions[rows, cols]
    padded = np.pad(seeds, 1)
    border = np.zeros((count + 1, int(seeds.max()) + 1), dtype=np.int64)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            neighbour = padded[rows + 1 + d_row, cols + 1 + d_col]
            seeded = neighbour > 0
            np.add.at(border, (region[seeded], neighbour[seeded]), 1)
    out = grown.copy()
    out[rows, cols] = border.argmax(axis=1)[region]
    return out


#: Narrowest depth hole (pixels of the grid :func:`grow_into_holes` works on) grown into from afar.
MIN_HOLE_PX = 3
#: Labelled neighbours (of 8) that make a dropped pixel part of the object around it.
SPECKLE_NEIGHBOURS = 4


def grow_into_holes(labels: np.ndarray, holes: np.ndarray, max_px: float) -> np.ndarray:
    """``labels`` (H, W; 0 none) grown into the ``holes`` (pixels without depth) that are theirs.

    Dark, shiny and transparent objects return depth on part of their surface only; their depth
    cluster covers that part, and the rest of the object, a hole in the depth image, is theirs
    too. Two kinds of hole pixel take the nearest label:

    * a solid hole (what remains of the holes after a morphological opening by a
      :data:`MIN_HOLE_PX` square) within ``max_px`` of a label, through holes or that label (a
      geodesic reach approximated by the Euclidean distance inside one connected component of
      solid holes and labels);
    * a dropped pixel with at least :data:`SPECKLE_NEIGHBOURS` of its 8 neighbours labelled (the
      speckle a stereo sensor leaves on a dark surface, inside an object).

    Speckle with few labelled neighbours, on the table around an object, stays unlabelled: it is
    no object's, and growing into it would make the mask bleed onto the table."""
    unlabelled = labels == 0
    if max_px <= 0 or not unlabelled.any() or unlabelled.all():
        return labels
    window = _reach_window(labels, max_px + MIN_HOLE_PX)
    crop, hole_crop = labels[window], holes[window]
    empty = crop == 0
    # Opening as a minimum then maximum filter (separable; the same as binary_opening by a square).
    solid = ndimage.maximum_filter(
        ndimage.minimum_filter(hole_crop.view(np.uint8), size=MIN_HOLE_PX, mode="constant"),
        size=MIN_HOLE_PX,
        mode="constant",
    ).astype(bool)
    components, _ = ndimage.label(solid | ~empty)
    distance, (near_rows, near_cols) = ndimage.distance_transform_edt(empty, return_indices=True)
    reached = solid & (distance <= max_px) & (components == components[near_rows, near_cols])
    padded = np.pad(~empty, 1).view(np.uint8)
    h, w = crop.shape
    labelled_neighbours = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    speckle = hole_crop & (labelled_neighbours >= SPECKLE_NEIGHBOURS)
    grow = empty & (reached | speckle)
    out = labels.copy()
    out[window][grow] = crop[near_rows[grow], near_cols[grow]]
    return out


def _reach_window(labels: np.ndarray, margin_px: float) -> tuple[slice, slice]:
    """The labels' bounding box grown by ``margin_px``: only pixels within the reach of a label can
    change, a fraction of the image on a tabletop."""
    rows, cols = np.nonzero(labels)
    margin = int(np.ceil(margin_px))
    return (
        slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
        slice(max(cols.min() - margin, 0), cols.max() + margin + 1),
    )
