"""What the network sees of one object: its cleaned masked points and an RGB crop (Diff9D, Sec. 3.1).

Real masks are not exact: colour and depth disagree at object edges, so a real mask holds a few
per cent of depth points far *behind* the object (mask bleed), and the depth image has flying
pixels between an object and its background. :func:`masked_points` therefore cleans each object's
points before anything sees them (:class:`ObservationConfig`):

1. working range: depth outside [``min_range_m``, ``max_range_m``] (0.3-2.0 m) is dropped;
2. depth discontinuities: a pixel more than ``edge_jump_m`` plus four noise deviations behind a
   pixel of its 3x3 neighbourhood is on the far side of an edge (background seen past the
   silhouette, or a flying pixel) and is dropped. The depth noise is ``sigma = k z^2``
   (``depth_noise_per_m`` = k; stereo disparity error, Keselman et al., CVPR-W 2017, Sec. 3);
3. the table: with a support plane, points within ``table_clearance_m`` plus two noise
   deviations of it, or below it, are the table (or the floor) seen through the mask;
4. 3-D connected components: the points are binned into voxels of ``voxel_m`` (or two noise
   deviations, whichever is larger) and the occupied voxels labelled 26-connected; the
   component with the most points is the object, and components within ``join_gap_m`` of it
   with at least :data:`JOIN_MIN_SHARE` of its points (parts split by depth holes, a mug
   handle) join it. Bleed 5-25 cm behind the object, the
   background past a wrong mask edge and speckle far from the object are apart and go.

Objects with more than ``max_points`` points are thinned evenly (the network reads ``num_points``
of them anyway). The surviving points are resampled to a fixed count and centred
on their centroid (the translation is predicted as a residual from that centroid). The crop is
the square around the mask's bounding box, enlarged by ``CROP_MARGIN`` and resized (nearest
neighbour) to ``crop_px``.

The network works in a gravity-aligned frame per object (:func:`gravity_frame`): y along the
table normal (``up``), z towards the camera in the table plane. Upright objects then differ only
by a turn about y, and the viewpoint's azimuth is factored out; the pose is rotated back into the
camera frame after sampling. Objects lying on their side (bottles, cans) keep that frame: their
starting box (:func:`prior_pose`) takes their axis from the points, not from the table normal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.clusters import STEREO_DEPTH_NOISE_PER_M, depth_noise_m, voxel_grid_labels
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.geometry.rotations import canonicalise_symmetric
from diff9d_ros.nocs import SYMMETRIC_CATEGORIES
from diff9d_ros.pose.baseline import obb_baseline

LOG = logging.getLogger(__name__)

#: Fewest valid depth points a mask needs to be estimated.
MIN_POINTS = 32
CROP_MARGIN = 1.2
#: A component near the object joins it only with at least this share of the object's points
#: (a few stray points beside an object are a neighbour's or noise, not a part).
JOIN_MIN_SHARE = 0.03


@dataclass(frozen=True)
class ObservationConfig:
    """How an object's masked depth is cleaned (see the module docstring); metres."""

    min_range_m: float = 0.3
    max_range_m: float = 2.0
    depth_noise_per_m: float = STEREO_DEPTH_NOISE_PER_M  # k in the depth noise sigma = k z^2
    edge_jump_m: float = 0.02
    table_clearance_m: float = 0.004
    voxel_m: float = 0.01
    join_gap_m: float = 0.03
    max_points: int = 2048


OBSERVATION = ObservationConfig()


class ObservationError(ValueError):
    """An object cannot be observed (empty mask, too few valid depth points); the reason says why."""


@dataclass
class Observation:
    """One object's network input: centred points (N, 3), their centroid (3,), crop (S, S, 3) uint8;
    and the cleaned camera-frame points (M, 3) the N were drawn from (:func:`masked_points`)."""

    points_m: np.ndarray
    centroid_m: np.ndarray
    crop: np.ndarray
    cleaned_m: np.ndarray


def as_mask(mask: np.ndarray, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """``mask`` as bool (H, W): a bool array, or integers 0/1; ValueError naming what is wrong."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} shape {mask.shape} does not match the depth image {tuple(shape)}")
    if mask.dtype == bool:
        return mask
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"{name} must be bool (or 0/1 integers), got {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > 1):
        raise ValueError(
            f"{name} holds values {mask.min()}..{mask.max()}; a per-object mask is bool or 0/1 "
            "(split an instance-id image with ids == k)"
        )
    return mask.astype(bool)


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


def _edge_free_pixels(depth: np.ndarray, config: ObservationConfig) -> np.ndarray:
    """Pixels of a depth window that are not more than the jump threshold behind a neighbour."""
    filled = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf)
    nearest = ndimage.minimum_filter(filled, size=3, mode="nearest")
    with np.errstate(invalid="ignore"):
        return filled - nearest <= config.edge_jump_m + 4.0 * depth_noise_m(filled, config.depth_noise_per_m)


def _object_points(points: np.ndarray, voxel_m: float, join_gap_m: float) -> np.ndarray:
    """Bool (N,) of the points of the largest 26-connected component of occupied ``voxel_m``
    voxels and of the components within ``join_gap_m`` of it (6-connected dilation) that hold at
    least :data:`JOIN_MIN_SHARE` of its points."""
    grid, point_label, _ = voxel_grid_labels(points, voxel_m)
    sizes = np.bincount(point_label)
    if len(sizes) <= 2:
        return np.ones(len(points), dtype=bool)
    main = int(np.argmax(sizes[1:])) + 1
    reach = ndimage.binary_dilation(grid == main, iterations=max(1, round(join_gap_m / voxel_m)))
    near = np.unique(grid[reach & (grid > 0)])
    joined = near[sizes[near] >= JOIN_MIN_SHARE * sizes[main]]
    return np.isin(point_label, joined)


def masked_points(
    frame: RGBDFrame,
    mask: np.ndarray,
    plane: TablePlane | None = None,
    config: ObservationConfig = OBSERVATION,
) -> np.ndarray:
    """Camera-frame points (M, 3) of the object under ``mask``, cleaned as the module docstring
    says (ObservationError if too few survive).

    Only the mask's bounding window (plus one pixel) is read.
    """
    mask = as_mask(mask, frame.depth_m.shape)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ObservationError("mask is empty")
    h, w = mask.shape
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, h)
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, w)
    depth = frame.depth_m[r0:r1, c0:c1]
    with np.errstate(invalid="ignore"):
        keep = mask[r0:r1, c0:c1] & (depth >= config.min_range_m) & (depth <= config.max_range_m)
    if not keep.any():
        measured = mask[r0:r1, c0:c1] & np.isfinite(depth) & (depth > 0)
        if not measured.any():
            raise ObservationError(f"mask has 0 valid depth points, fewer than {MIN_POINTS}")
        raise ObservationError(
            f"mask has no depth inside the working range {config.min_range_m:g}-{config.max_range_m:g} m "
            f"(median {np.median(depth[measured]):.2f} m)"
        )
    keep &= _edge_free_pixels(depth, config)
    v, u = np.nonzero(keep)
    points = frame.intrinsics.points_at(v + r0, u + c0, depth[v, u])
    noise_m = depth_noise_m(points[:, 2], config.depth_noise_per_m)
    if plane is not None:
        points = points[plane.height_m(points) > config.table_clearance_m + 2.0 * noise_m]
    if len(points) > config.max_points:
        points = points[:: int(np.ceil(len(points) / config.max_points))]
    if len(points) >= MIN_POINTS:
        noise_at_object_m = float(depth_noise_m(np.median(points[:, 2]), config.depth_noise_per_m))
        voxel_m = max(config.voxel_m, 2.0 * noise_at_object_m)
        points = points[_object_points(points, voxel_m, config.join_gap_m)]
    if len(points) < MIN_POINTS:
        raise ObservationError(f"mask has {len(points)} valid depth points, fewer than {MIN_POINTS}")
    return points


def observe(
    frame: RGBDFrame,
    mask: np.ndarray,
    num_points: int,
    crop_px: int,
    rng: np.random.Generator,
    plane: TablePlane | None = None,
) -> Observation:
    """The :class:`Observation` of the object under ``mask`` (bool (H, W)) on the frame's support
    ``plane`` (None: no table known); ObservationError if unusable."""
    points = masked_points(frame, mask, plane)
    pick = rng.choice(len(points), num_points, replace=len(points) < num_points)
    sampled = points[pick]
    centroid = sampled.mean(axis=0)
    crop = square_crop(frame.rgb, mask, crop_px)
    return Observation((sampled - centroid).astype(np.float32), centroid, crop, points)


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


def up_direction(plane: TablePlane | None) -> np.ndarray:
    """The plane's normal, or :data:`CAMERA_UP` without a plane."""
    return CAMERA_UP if plane is None else plane.normal


@dataclass(frozen=True)
class PriorNoise:
    """Perturbation of a prior box: rotation about random axes (deg, std per axis), log-size and
    translation (m) noise. Training draws it at a random strength in [0, 1] so that the network
    learns to correct a wrong starting box; inference perturbs the prior of each of K hypotheses
    with it, so that the hypotheses spread where the observation leaves the pose open."""

    rotation_deg: float = 8.0
    log_size: float = 0.08
    shift_m: float = 0.008


def perturb_prior(
    prior: tuple[np.ndarray, np.ndarray, np.ndarray],
    noise: PriorNoise,
    strength: float,
    symmetric: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rotation, residual, size)`` of :func:`prior_pose` perturbed by ``noise`` times
    ``strength`` (re-canonicalised about y when ``symmetric``)."""
    rotation, residual, size = prior
    if strength <= 0:
        return rotation, residual, size
    turn = Rotation.from_rotvec(rng.normal(0.0, np.radians(noise.rotation_deg) * strength, 3)).as_matrix()
    rotation = turn @ rotation
    if symmetric:
        rotation = canonicalise_symmetric(rotation)
    size = size * np.exp(rng.normal(0.0, noise.log_size * strength, 3))
    residual = residual + rng.normal(0.0, noise.shift_m * strength, 3)
    return rotation, residual, size


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
