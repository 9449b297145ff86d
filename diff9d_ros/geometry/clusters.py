"""Euclidean clusters of point clouds on a voxel grid, and a stereo depth-noise model.

:func:`voxel_clusters` is Euclidean cluster extraction (Rusu, "Semantic 3D Object Maps for
Everyday Manipulation in Human Living Environments", PhD thesis, TU Munich 2009, Sec. 6.2) on a
voxel grid: points are binned into cubes of side ``voxel_m`` and occupied cubes that touch (26
neighbours) form one cluster, so points closer than about one voxel always join and points more
than two voxel diagonals apart never do. Unlike DBSCAN it has no density threshold, so a thin
part (a mug handle) is not cut off its body.

:func:`grid_components` is the organized counterpart (Trevor, Gedikli, Rusu and Christensen,
"Efficient Organized Point Cloud Segmentation with Connected Components", SPME 2013, Sec. III-A,
the Euclidean comparator): points of a depth image join only their neighbours on the pixel grid,
and only when they lie close in 3-D, so two objects that touch are two components where the image
shows a depth step between them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: k in the depth noise sigma = k z^2 of an active-stereo RGB-D camera (RealSense D435 at 640x480:
#: z^2 / (f b) * sigma_d with f b / sigma_d = 615 px * 0.05 m / 0.08 px; Keselman et al.,
#: "Intel RealSense Stereoscopic Depth Cameras", CVPR-W 2017, Sec. 3).
STEREO_DEPTH_NOISE_PER_M = 0.0026


def depth_noise_m(depth_m: np.ndarray | float, noise_per_m: float = STEREO_DEPTH_NOISE_PER_M) -> np.ndarray:
    """Standard deviation (m) of a stereo depth measurement at ``depth_m``: ``k z^2``."""
    return noise_per_m * np.asarray(depth_m, dtype=np.float64) ** 2


def voxel_grid_labels(points_m: np.ndarray, voxel_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 26-connected labelling of the occupied voxels of ``points_m`` (N, 3): the label grid
    (0 = empty, 1..n), each point's label (N,), and each point's flat voxel index (N,)."""
    if voxel_m <= 0:
        raise ValueError(f"voxel size must be positive, got {voxel_m}")
    index = np.floor((points_m - points_m.min(axis=0)) / voxel_m).astype(np.int64)
    shape = tuple(index.max(axis=0) + 1)
    flat = np.ravel_multi_index(tuple(index.T), shape)
    occupied = np.zeros(int(np.prod(shape)), dtype=bool)
    occupied[flat] = True
    grid, _ = ndimage.label(occupied.reshape(shape), structure=np.ones((3, 3, 3), dtype=bool))
    return grid, grid.ravel()[flat], flat


#: The 13 offsets of half the 26-neighbourhood (the other half are their negatives).
_HALF_NEIGHBOURHOOD = np.array(
    [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) > (0, 0, 0)]
)


def graph_components(count: int, starts: list[np.ndarray], ends: list[np.ndarray]) -> np.ndarray:
    """Connected component (``count``,), 0..n-1, of each node of the undirected graph whose edges
    join ``starts[i][j]`` and ``ends[i][j]`` (index arrays, one pair per neighbour offset)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = np.concatenate(starts), np.concatenate(ends)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def sparse_voxel_labels(points_m: np.ndarray, voxel_m: float) -> np.ndarray:
    """Each point's 26-connected occupied-voxel component (N,), 1..n, without a dense grid: memory
    grows with the occupied voxels, not with the cloud's extent (a far outlier costs nothing)."""
    if voxel_m <= 0:
        raise ValueError(f"voxel size must be positive, got {voxel_m}")
    index = np.floor((points_m - points_m.min(axis=0)) / voxel_m).astype(np.int64)
    dims = index.max(axis=0) + 2  # room for the +1 neighbours
    # unique voxels by their linear key (ascending keys = lexicographic voxel order)
    keys, point_voxel = np.unique(np.ravel_multi_index(tuple(index.T), dims), return_inverse=True)
    voxels = np.stack(np.unravel_index(keys, dims), axis=1)
    rows, cols = [], []
    for offset in _HALF_NEIGHBOURHOOD:
        neighbour = voxels + offset
        inside = np.all(neighbour >= 0, axis=1)
        wanted = np.ravel_multi_index(tuple(neighbour[inside].T), dims)
        at = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
        found = keys[at] == wanted
        rows.append(np.flatnonzero(inside)[found])
        cols.append(at[found])
    return graph_components(len(keys), rows, cols)[point_voxel.ravel()] + 1


#: Half the 8-neighbourhood of a pixel grid: (row, column) offsets.
_GRID_HALF_NEIGHBOURHOOD = ((0, 1), (1, -1), (1, 0), (1, 1))


def grid_components(
    points_m: np.ndarray,
    grid_rows: np.ndarray,
    grid_cols: np.ndarray,
    step_gap_m: np.ndarray,
    min_gap_m: float,
) -> np.ndarray:
    """Each point's connected component (N,), 0..n-1, of the graph joining points (N, 3) that are
    8-neighbours on the grid (``grid_rows``, ``grid_cols``: distinct integer cells) and lie
    closer in 3-D than ``min_gap_m`` or, if larger, ``step_gap_m`` (N,; the larger of the two
    points' values) times the length of the grid step (1 or sqrt 2) (module docstring)."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if len(points_m) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.asarray(grid_rows, dtype=np.int64) - int(np.min(grid_rows)) + 1
    cols = np.asarray(grid_cols, dtype=np.int64) - int(np.min(grid_cols)) + 1
    index = np.full((rows.max() + 2, cols.max() + 2), -1, dtype=np.int64)  # a border of -1
    index[rows, cols] = np.arange(len(points_m))
    starts, ends = [], []
    for d_row, d_col in _GRID_HALF_NEIGHBOURHOOD:
        neighbour = index[rows + d_row, cols + d_col]
        has = neighbour >= 0
        a, b = np.flatnonzero(has), neighbour[has]
        gap_m = np.maximum(np.maximum(step_gap_m[a], step_gap_m[b]) * np.hypot(d_row, d_col), min_gap_m)
        near = np.linalg.norm(points_m[a] - points_m[b], axis=1) < gap_m
        starts.append(a[near])
        ends.append(b[near])
    return graph_components(len(points_m), starts, ends)


def voxel_clusters(points_m: np.ndarray, voxel_m: float) -> np.ndarray:
    """Cluster label (N,) of each point, 0..n-1, largest cluster first."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if len(points_m) == 0:
        return np.zeros(0, dtype=np.int64)
    labels = sparse_voxel_labels(points_m, voxel_m)
    sizes = np.bincount(labels)
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return rank[labels]
