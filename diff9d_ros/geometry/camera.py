"""Pinhole camera model and the RGB-D frame that flows through the pipeline.

Frames follow ROS REP 103/105 optical conventions: z forward, x right, y down, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diff9d_ros.geometry.transforms import split_transform


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an undistorted image (``K = [[fx,0,cx],[0,fy,cy],[0,0,1]]``)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"intrinsics: image size must be positive, got {self.width}x{self.height}")
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(np.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"intrinsics: focal lengths must be finite and positive, got {values}")

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, width: int, height: int) -> Intrinsics:
        """Intrinsics of a 3x3 camera matrix ``K = [[fx,0,cx],[0,fy,cy],[0,0,1]]`` (ValueError naming
        what is wrong: shape, non-finite entries, a bottom row other than ``[0, 0, 1]``, skew)."""
        k = np.asarray(matrix, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f"intrinsics: the camera matrix K must be 3x3, got shape {k.shape}")
        if not np.all(np.isfinite(k)):
            raise ValueError("intrinsics: the camera matrix K has NaN or inf entries")
        if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0.0:
            raise ValueError(f"intrinsics: K must be [[fx,0,cx],[0,fy,cy],[0,0,1]], got {k.tolist()}")
        if abs(k[0, 1]) > 1e-9 * abs(k[0, 0]):
            raise ValueError(
                f"intrinsics: K has skew {k[0, 1]}; only zero-skew pinhole cameras are supported"
            )
        return cls(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

    @classmethod
    def realsense_d435(cls, width: int = 640, height: int = 480) -> Intrinsics:
        """Typical colour-stream intrinsics of a RealSense D435 (about 69 deg horizontal FOV)."""
        scale = width / 640.0
        return cls(width, height, 615.0 * scale, 615.0 * scale, (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def backproject(self, depth_m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Points (N, 3) in the optical frame of the valid pixels of ``depth_m`` (inside ``mask``).

        Pixels with depth 0, NaN or inf carry no measurement and are skipped.
        """
        if depth_m.shape != (self.height, self.width):
            raise ValueError(
                f"depth image is {depth_m.shape[1]}x{depth_m.shape[0]} but intrinsics are "
                f"{self.width}x{self.height}"
            )
        valid = np.isfinite(depth_m) & (depth_m > 0)
        if mask is not None:
            if mask.shape != depth_m.shape:
                raise ValueError(f"mask shape {mask.shape} does not match depth shape {depth_m.shape}")
            valid &= mask.astype(bool)
        v, u = np.nonzero(valid)
        return self.points_at(v, u, depth_m[v, u])

    def backproject_grid(self, depth_m: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points (N, 3) of the valid pixels on every ``stride``-th row and column, with their rows
        and columns (row-major): :meth:`backproject` with a ``stride`` grid as the mask, computed
        on the subsampled image only."""
        if depth_m.shape != (self.height, self.width):
            raise ValueError(
                f"depth image is {depth_m.shape[1]}x{depth_m.shape[0]} but intrinsics are "
                f"{self.width}x{self.height}"
            )
        sub = depth_m[::stride, ::stride]
        sub_rows, sub_cols = np.nonzero(np.isfinite(sub) & (sub > 0))
        rows, cols = sub_rows * stride, sub_cols * stride
        return self.points_at(rows, cols, sub[sub_rows, sub_cols]), rows, cols

    def points_at(self, rows: np.ndarray, cols: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Optical-frame points (N, 3) of the pixels ``(rows, cols)`` at depths ``depth_m`` (N,)
        (pinhole model: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``)."""
        z = np.asarray(depth_m, dtype=np.float64)
        return np.stack([(cols - self.cx) * z / self.fx, (rows - self.cy) * z / self.fy, z], axis=1)

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) as (u, v) of optical-frame points (N, 3) with z > 0."""
        points_m = np.asarray(points_m, dtype=np.float64)
        z = points_m[:, 2]
        return np.stack(
            [self.fx * points_m[:, 0] / z + self.cx, self.fy * points_m[:, 1] / z + self.cy], axis=1
        )


#: Largest plausible depth (m) of a tabletop RGB-D camera: a median valid depth beyond it means the
#: depth is not in metres (millimetres, or raw sensor units without ``depth_scale``).
MAX_PLAUSIBLE_DEPTH_M = 20.0


def depth_from_raw(depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
    """(H, W) float32 metres, NaN = no measurement, from a depth image in metres or raw sensor units.

    Integer depth (uint16 RealSense / Kinect / 16UC1) is raw units and needs ``depth_scale``,
    metres per unit (0.001 for millimetres, the D400 default); float depth is taken as metres
    unless ``depth_scale`` is given, then it is multiplied too. 0, NaN, inf and negative values
    mean "no measurement". ValueError names a missing scale or a non-numeric image.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) image, got shape {depth.shape}")
    if depth_scale is not None and not (np.isfinite(depth_scale) and depth_scale > 0):
        raise ValueError(f"depth_scale must be a positive number of metres per unit, got {depth_scale}")
    if np.issubdtype(depth.dtype, np.integer):
        if depth_scale is None:
            raise ValueError(
                f"depth is {depth.dtype} (raw sensor units): pass depth_scale, the metres per unit "
                "(0.001 for millimetres)"
            )
    elif not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be an integer or float image, got {depth.dtype}")
    depth_m = depth.astype(np.float32) * np.float32(depth_scale or 1.0)
    with np.errstate(invalid="ignore"):
        depth_m[~(np.isfinite(depth_m) & (depth_m > 0))] = np.nan
    return depth_m


@dataclass
class RGBDFrame:
    """One synchronised RGB-D frame: what every source produces and every stage reads.

    ``rgb`` is (H, W, 3) uint8 RGB; ``depth_m`` is (H, W) float32 metres with NaN where there is
    no measurement. ``instance_mask`` (optional, (H, W) int32, 0 = background) and
    ``categories`` (instance id -> category name) come from an external segmenter or from the
    synthetic renderer; without them the pipeline segments the tabletop itself. ``camera_pose``
    (optional, 4x4) is the pose of this camera frame in a fixed frame (the robot's ``odom`` or
    ``map`` through tf, a simulator's world) at ``stamp_ns``: with it, objects are tracked in that
    fixed frame, so a moving camera does not move them (see ``stages.TrackingStage``).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    intrinsics: Intrinsics
    stamp_ns: int = 0
    frame_id: str = "camera_color_optical_frame"
    instance_mask: np.ndarray | None = None
    categories: dict[int, str] = field(default_factory=dict)
    camera_pose: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        rgb: np.ndarray,
        depth: np.ndarray,
        intrinsics: Intrinsics | np.ndarray,
        *,
        depth_scale: float | None = None,
        instance_mask: np.ndarray | None = None,
        categories: dict[int, str] | None = None,
        stamp_ns: int = 0,
        frame_id: str = "camera_color_optical_frame",
    ) -> RGBDFrame:
        """A validated frame from plain arrays: depth in metres or raw units with ``depth_scale``
        (:func:`depth_from_raw`), intrinsics as :class:`Intrinsics` or a 3x3 K matrix."""
        if not isinstance(intrinsics, Intrinsics):
            shape = np.shape(depth)
            if len(shape) != 2:
                raise ValueError(f"depth must be a 2-D (H, W) image, got shape {shape}")
            intrinsics = Intrinsics.from_matrix(intrinsics, width=shape[1], height=shape[0])
        frame = cls(
            rgb=np.asarray(rgb),
            depth_m=depth_from_raw(depth, depth_scale),
            intrinsics=intrinsics,
            stamp_ns=stamp_ns,
            frame_id=frame_id,
            instance_mask=None if instance_mask is None else np.asarray(instance_mask),
            categories=dict(categories or {}),
        )
        frame.validate()
        return frame

    def validate(self) -> None:
        """Raise ValueError naming the problem if the frame is malformed: image sizes and dtypes,
        depth not in metres (integer raw units, or float millimetres: a median beyond
        :data:`MAX_PLAUSIBLE_DEPTH_M`), negative depth, no valid depth, a bad instance mask, a
        camera pose that is not a rigid transform."""
        h, w = self.intrinsics.height, self.intrinsics.width
        if not isinstance(self.rgb, np.ndarray) or not isinstance(self.depth_m, np.ndarray):
            raise ValueError("rgb and depth_m must be numpy arrays")
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.rgb.shape[:2] != (h, w):
            raise ValueError(f"rgb is {self.rgb.shape[1]}x{self.rgb.shape[0]}, intrinsics are {w}x{h}")
        if self.depth_m.shape != (h, w):
            raise ValueError(f"depth is {self.depth_m.shape[1]}x{self.depth_m.shape[0]}, intrinsics {w}x{h}")
        if not np.issubdtype(self.depth_m.dtype, np.floating):
            raise ValueError(
                f"depth_m must be float metres, got {self.depth_m.dtype} (raw sensor depth such as uint16 "
                "millimetres: convert with depth_from_raw(depth, depth_scale) or RGBDFrame.from_arrays)"
            )
        valid = self.depth_m[np.isfinite(self.depth_m) & (self.depth_m != 0)]
        if valid.size == 0:
            raise ValueError("depth has no valid measurement (all zero, NaN or inf)")
        if np.any(valid < 0):
            raise ValueError(
                f"depth has {int(np.sum(valid < 0))} negative values; depth_m must be metres >= 0"
            )
        median_m = float(np.median(valid[:: max(1, valid.size // 20000)]))
        if median_m > MAX_PLAUSIBLE_DEPTH_M:
            raise ValueError(
                f"depth median is {median_m:.4g}, beyond {MAX_PLAUSIBLE_DEPTH_M:g} m: depth looks like "
                "millimetres or raw units; depth_m must be metres (use depth_from_raw with depth_scale)"
            )
        if self.instance_mask is not None:
            mask = np.asarray(self.instance_mask)
            if mask.shape != (h, w):
                raise ValueError(f"instance mask shape {mask.shape} does not match {h}x{w}")
            if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
                raise ValueError(f"instance mask must hold integer ids, got {mask.dtype}")
            if mask.size and mask.min() < 0:
                raise ValueError("instance mask has negative ids; 0 is the background, objects are 1, 2, ...")
        if self.camera_pose is not None:
            try:
                split_transform(self.camera_pose)
            except ValueError as error:
                raise ValueError(f"camera_pose must be a rigid 4x4 transform: {error}") from error


#: Largest instance id counted with a histogram; larger ids (or negative ones) go through a sort.
_HISTOGRAM_IDS = 1 << 20


def instance_masks(instance_mask: np.ndarray) -> dict[int, np.ndarray]:
    """A boolean mask (H, W) per instance id > 0 of an instance image, ids ascending (0 and negative
    values are background). Ids come from a histogram when they are small non-negative integers."""
    flat = np.asarray(instance_mask).ravel()
    if (
        flat.size
        and np.issubdtype(flat.dtype, np.integer)
        and flat.min() >= 0
        and flat.max() < _HISTOGRAM_IDS
    ):
        ids = np.flatnonzero(np.bincount(flat)[1:]) + 1
    else:
        ids = np.unique(flat[flat > 0])
    return {int(i): instance_mask == i for i in ids}
