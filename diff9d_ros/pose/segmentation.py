"""Built-in tabletop segmentation: the support plane by RANSAC, then clusters of what stands on it.

1. Back-project the valid depth (every ``stride``-th pixel) and fit the dominant plane with RANSAC
   (Fischler & Bolles 1981; open3d ``segment_plane``); its normal is turned towards the camera.
2. Keep the points between ``min_height_m`` and ``max_height_m`` above the plane and cluster them
   with DBSCAN (Ester et al. 1996; open3d ``cluster_dbscan``).
3. Clusters with enough points become instances; the label image is brought back to full
   resolution and intersected with the full-resolution above-plane mask.

Categories come from the pose network's category head (:mod:`diff9d_ros.pose.estimator`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.plane import TablePlane

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentationConfig:
    """Thresholds of :func:`segment_tabletop` (metres, pixels, points)."""

    stride: int = 2
    plane_distance_m: float = 0.008
    ransac_iterations: int = 300
    min_height_m: float = 0.008
    max_height_m: float = 0.6
    cluster_eps_m: float = 0.02
    min_cluster_points: int = 60


def _pixel_grid_points(frame: RGBDFrame, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3) of valid depth on a ``stride`` grid, with their rows and columns (row-major,
    the order of :meth:`Intrinsics.backproject`)."""
    grid = np.zeros(frame.depth_m.shape, dtype=bool)
    grid[::stride, ::stride] = True
    rows, cols = np.nonzero(grid & np.isfinite(frame.depth_m) & (frame.depth_m > 0))
    return frame.intrinsics.backproject(frame.depth_m, grid), rows, cols


def fit_table_plane(frame: RGBDFrame, config: SegmentationConfig | None = None, seed: int = 0) -> TablePlane:
    """RANSAC fit of the dominant plane of the frame; raises ValueError if there are too few points."""
    import open3d as o3d

    config = config or SegmentationConfig()
    pts, _, _ = _pixel_grid_points(frame, config.stride)
    if len(pts) < 100:
        raise ValueError(f"table plane: only {len(pts)} valid depth points")
    o3d.utility.random.seed(seed)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    model, _ = cloud.segment_plane(config.plane_distance_m, 3, config.ransac_iterations)
    normal, offset = np.asarray(model[:3], dtype=np.float64), float(model[3])
    scale = np.linalg.norm(normal)
    normal, offset = normal / scale, offset / scale
    if offset < 0:  # the camera (origin) must be on the positive side
        normal, offset = -normal, -offset
    return TablePlane(normal, offset)


def segment_tabletop(
    frame: RGBDFrame, config: SegmentationConfig | None = None, seed: int = 0
) -> tuple[np.ndarray, TablePlane]:
    """Instance mask (H, W) int32 (0 = background, 1..n objects) and the fitted table plane."""
    import open3d as o3d

    config = config or SegmentationConfig()
    frame.validate()
    plane = fit_table_plane(frame, config, seed)
    pts, v, u = _pixel_grid_points(frame, config.stride)
    height = plane.height_m(pts)
    above = (height > config.min_height_m) & (height < config.max_height_m)
    h, w = frame.depth_m.shape
    mask = np.zeros((h, w), dtype=np.int32)
    if above.sum() < config.min_cluster_points:
        LOG.info("tabletop segmentation: nothing stands on the table")
        return mask, plane
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts[above]))
    labels = np.asarray(cloud.cluster_dbscan(config.cluster_eps_m, 10))
    coarse = np.zeros((-(-h // config.stride), -(-w // config.stride)), dtype=np.int32)
    instance = 0
    for label in range(labels.max() + 1):
        members = labels == label
        if members.sum() < config.min_cluster_points:
            continue
        instance += 1
        coarse[v[above][members] // config.stride, u[above][members] // config.stride] = instance
    full = np.repeat(np.repeat(coarse, config.stride, axis=0), config.stride, axis=1)[:h, :w]
    # Full-resolution support: valid depth above the plane.
    full_pts, rows, cols = _pixel_grid_points(frame, 1)
    full_height = plane.height_m(full_pts)
    keep = (full_height > config.min_height_m) & (full_height < config.max_height_m)
    mask[rows[keep], cols[keep]] = full[rows[keep], cols[keep]]
    return mask, plane
