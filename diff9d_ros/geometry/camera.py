"""Pinhole camera model and the RGB-D frame that flows through the pipeline.

Frames follow ROS REP 103/105 optical conventions: z forward, x right, y down, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
        z = depth_m[v, u].astype(np.float64)
        x = (u - self.cx) * z / self.fx
        y = (v - self.cy) * z / self.fy
        return np.stack([x, y, z], axis=1)

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) as (u, v) of optical-frame points (N, 3) with z > 0."""
        points_m = np.asarray(points_m, dtype=np.float64)
        z = points_m[:, 2]
        return np.stack(
            [self.fx * points_m[:, 0] / z + self.cx, self.fy * points_m[:, 1] / z + self.cy], axis=1
        )


@dataclass
class RGBDFrame:
    """One synchronised RGB-D frame: what every source produces and every stage reads.

    ``rgb`` is (H, W, 3) uint8 RGB; ``depth_m`` is (H, W) float32 metres with NaN where there is
    no measurement. ``instance_mask`` (optional, (H, W) int32, 0 = background) and
    ``categories`` (instance id -> category name) come from an external segmenter or from the
    synthetic renderer; without them the pipeline segments the tabletop itself.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    intrinsics: Intrinsics
    stamp_ns: int = 0
    frame_id: str = "camera_color_optical_frame"
    instance_mask: np.ndarray | None = None
    categories: dict[int, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the problem if the frame is malformed."""
        h, w = self.intrinsics.height, self.intrinsics.width
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.rgb.shape[:2] != (h, w):
            raise ValueError(f"rgb is {self.rgb.shape[1]}x{self.rgb.shape[0]}, intrinsics are {w}x{h}")
        if self.depth_m.shape != (h, w):
            raise ValueError(f"depth is {self.depth_m.shape[1]}x{self.depth_m.shape[0]}, intrinsics {w}x{h}")
        if not np.issubdtype(self.depth_m.dtype, np.floating):
            raise ValueError(f"depth_m must be float metres, got {self.depth_m.dtype}")
        if not np.any(np.isfinite(self.depth_m) & (self.depth_m > 0)):
            raise ValueError("depth has no valid measurement (all zero, NaN or inf)")
        if self.instance_mask is not None and self.instance_mask.shape != (h, w):
            raise ValueError(f"instance mask shape {self.instance_mask.shape} does not match {h}x{w}")
