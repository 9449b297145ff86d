"""``sensor_msgs/CameraInfo`` <-> :class:`~diff9d_ros.geometry.camera.Intrinsics`.

Uses the CameraInfo contract of ROS 2 (fields ``k``, ``p``, ``d``, row-major): K is the 3x3
camera matrix of the raw image, P the 3x4 projection of the rectified one. Our pipeline works on
rectified (undistorted) images: the pinhole values are read from K, and we publish ``plumb_bob``
with zero distortion, R = identity and P = [K | 0].
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros.convert_std import make_header
from diff9d_ros.ros.message_types import MessageTypes

PLUMB_BOB_COEFFICIENTS = 5


def camera_info_to_intrinsics(msg: Any) -> Intrinsics:
    """Intrinsics of a CameraInfo; ValueError "missing intrinsics" for zero size or an all-zero K.

    Non-zero distortion coefficients are ignored with a warning: the images are taken to be
    rectified (as realsense-ros and Gazebo publish them).
    """
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"missing intrinsics: CameraInfo image size is {width}x{height}")
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.size != 9:
        raise ValueError(f"missing intrinsics: CameraInfo k has {k.size} values, expected 9")
    if not np.any(k):
        raise ValueError("missing intrinsics: CameraInfo k is all zero (camera not calibrated)")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"missing intrinsics: CameraInfo k has NaN or inf entries: {k.tolist()}")
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if fx <= 0 or fy <= 0:
        raise ValueError(
            f"missing intrinsics: CameraInfo focal lengths must be positive, got fx={fx}, fy={fy}"
        )
    distortion = np.asarray(msg.d, dtype=np.float64)
    if distortion.size and np.any(distortion != 0):
        warnings.warn(
            f"CameraInfo has non-zero {msg.distortion_model!r} distortion; treating the image as rectified",
            stacklevel=2,
        )
    return Intrinsics(width=width, height=height, fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy))


def intrinsics_to_camera_info(
    intrinsics: Intrinsics, stamp_ns: int, frame_id: str, types: MessageTypes
) -> Any:
    """CameraInfo of rectified pinhole intrinsics: plumb_bob with zero D, R = I, P = [K | 0]."""
    k = intrinsics.matrix
    p = np.hstack([k, np.zeros((3, 1))])
    return types.new(
        "sensor_msgs/msg/CameraInfo",
        header=make_header(stamp_ns, frame_id, types),
        height=intrinsics.height,
        width=intrinsics.width,
        distortion_model="plumb_bob",
        d=types.sequence(np.zeros(PLUMB_BOB_COEFFICIENTS), "float64"),
        k=k.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=p.reshape(-1),
    )
