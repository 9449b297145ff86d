"""Small building blocks: Time/Duration <-> nanoseconds, Header, Pose <-> 4x4 transform, colours.

Readers take any object with the ROS field names (rosbags or rclpy); builders take a
:class:`~diff9d_ros.ros.message_types.MessageTypes` provider.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diff9d_ros.geometry.transforms import (
    make_transform,
    quaternion_from_rotation,
    rotation_from_quaternion,
    split_transform,
)
from diff9d_ros.ros.message_types import MessageTypes

NS_PER_S = 1_000_000_000
INT32_MAX = 2**31 - 1


def time_to_ns(time: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` or ``Duration`` (``sec``, ``nanosec``)."""
    return int(time.sec) * NS_PER_S + int(time.nanosec)


def _sec_nanosec(value_ns: int, what: str) -> tuple[int, int]:
    """(sec, nanosec) of a non-negative nanosecond count that fits the int32 seconds field."""
    value_ns = int(value_ns)
    if value_ns < 0:
        raise ValueError(f"{what} must be non-negative, got {value_ns} ns")
    sec, nanosec = divmod(value_ns, NS_PER_S)
    if sec > INT32_MAX:
        raise ValueError(f"{what} {value_ns} ns does not fit the int32 seconds field")
    return sec, nanosec


def ns_to_time(stamp_ns: int, types: MessageTypes) -> Any:
    """``builtin_interfaces/Time`` of a non-negative stamp in nanoseconds."""
    sec, nanosec = _sec_nanosec(stamp_ns, "stamp")
    return types.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def ns_to_duration(duration_ns: int, types: MessageTypes) -> Any:
    """``builtin_interfaces/Duration`` of a non-negative duration in nanoseconds."""
    sec, nanosec = _sec_nanosec(duration_ns, "duration")
    return types.new("builtin_interfaces/msg/Duration", sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int, frame_id: str, types: MessageTypes) -> Any:
    """``std_msgs/Header`` with the given stamp and frame."""
    return types.new("std_msgs/msg/Header", stamp=ns_to_time(stamp_ns, types), frame_id=str(frame_id))


def header_stamp_ns(header: Any) -> int:
    """Stamp of a ``std_msgs/Header`` in nanoseconds."""
    return time_to_ns(header.stamp)


def make_point(xyz: np.ndarray, types: MessageTypes) -> Any:
    """``geometry_msgs/Point`` of a finite (3,) array in metres."""
    x, y, z = _finite_vector(xyz, "point")
    return types.new("geometry_msgs/msg/Point", x=x, y=y, z=z)


def make_points(points_m: np.ndarray, types: MessageTypes) -> list[Any]:
    """``geometry_msgs/Point`` list of a finite (N, 3) array (validated once, built fast)."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if points_m.ndim != 2 or points_m.shape[1] != 3 or not np.all(np.isfinite(points_m)):
        raise ValueError(f"points must be a finite (N, 3) array, got shape {points_m.shape}")
    return [types.new("geometry_msgs/msg/Point", x=x, y=y, z=z) for x, y, z in points_m.tolist()]


def make_vector3(xyz: np.ndarray, types: MessageTypes) -> Any:
    """``geometry_msgs/Vector3`` of a finite (3,) array."""
    x, y, z = _finite_vector(xyz, "vector")
    return types.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z)


def xyz_of(msg: Any) -> np.ndarray:
    """(3,) float64 of any message with ``x``, ``y``, ``z`` (Point, Vector3)."""
    return np.array([msg.x, msg.y, msg.z], dtype=np.float64)


def make_quaternion(rotation: np.ndarray, types: MessageTypes) -> Any:
    """``geometry_msgs/Quaternion`` (x, y, z, w) of a proper 3x3 rotation."""
    x, y, z, w = quaternion_from_rotation(rotation)
    return types.new("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w)


def rotation_of(quaternion: Any) -> np.ndarray:
    """3x3 rotation of a ``geometry_msgs/Quaternion``; ValueError for a zero or NaN quaternion."""
    return rotation_from_quaternion(np.array([quaternion.x, quaternion.y, quaternion.z, quaternion.w]))


def pose_from_transform(transform: np.ndarray, types: MessageTypes) -> Any:
    """``geometry_msgs/Pose`` of a rigid 4x4 transform."""
    rotation, translation_m = split_transform(transform)
    return types.new(
        "geometry_msgs/msg/Pose",
        position=make_point(translation_m, types),
        orientation=make_quaternion(rotation, types),
    )


def transform_from_pose(pose: Any) -> np.ndarray:
    """4x4 transform of a ``geometry_msgs/Pose`` (or anything with ``position``/``orientation``)."""
    return make_transform(rotation_of(pose.orientation), xyz_of(pose.position))


def make_color(rgba: tuple[float, float, float, float], types: MessageTypes) -> Any:
    """``std_msgs/ColorRGBA`` of (r, g, b, a) in [0, 1]."""
    r, g, b, a = (float(c) for c in rgba)
    return types.new("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a)


def _finite_vector(xyz: np.ndarray, what: str) -> tuple[float, float, float]:
    """Three finite floats of a (3,) array; ValueError otherwise."""
    values = np.asarray(xyz, dtype=np.float64).reshape(-1)
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise ValueError(f"{what} must be 3 finite numbers, got {values.tolist()}")
    return float(values[0]), float(values[1]), float(values[2])
