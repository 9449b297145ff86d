"""Poses and paths: PoseArray / PoseStamped of 4x4 transforms (grasps), nav_msgs/Path of positions
(forecasts), and tf2_msgs/TFMessage of named frame transforms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from diff9d_ros.geometry.transforms import make_transform, split_transform
from diff9d_ros.ros.convert_std import (
    NS_PER_S,
    header_stamp_ns,
    make_header,
    make_point,
    make_quaternion,
    make_vector3,
    pose_from_transform,
    rotation_of,
    transform_from_pose,
    xyz_of,
)
from diff9d_ros.ros.message_types import MessageTypes


@dataclass
class FrameTransform:
    """``transform`` (4x4) maps points in ``child_frame`` to ``parent_frame`` at ``stamp_ns``."""

    parent_frame: str
    child_frame: str
    transform: np.ndarray
    stamp_ns: int = 0


def transforms_to_pose_array(
    transforms: Sequence[np.ndarray] | np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes
) -> Any:
    """PoseArray of rigid 4x4 transforms (N, 4, 4), in order (ranked grasps: best first)."""
    return types.new(
        "geometry_msgs/msg/PoseArray",
        header=make_header(stamp_ns, frame_id, types),
        poses=[pose_from_transform(transform, types) for transform in transforms],
    )


def pose_array_to_transforms(msg: Any) -> np.ndarray:
    """(N, 4, 4) transforms of a PoseArray."""
    return np.array([transform_from_pose(pose) for pose in msg.poses]).reshape(-1, 4, 4)


def transform_to_pose_stamped(
    transform: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes
) -> Any:
    """PoseStamped of one rigid 4x4 transform (the best grasp)."""
    return types.new(
        "geometry_msgs/msg/PoseStamped",
        header=make_header(stamp_ns, frame_id, types),
        pose=pose_from_transform(transform, types),
    )


def pose_stamped_to_transform(msg: Any) -> np.ndarray:
    """4x4 transform of a PoseStamped."""
    return transform_from_pose(msg.pose)


def positions_to_path(
    positions_m: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes, dt_s: float = 0.0
) -> Any:
    """nav_msgs/Path of (T, 3) positions; pose ``i`` is stamped ``stamp_ns + i * dt_s``.

    Orientations are identity: a forecast gives positions only.
    """
    positions_m = np.asarray(positions_m, dtype=np.float64)
    if positions_m.ndim != 2 or positions_m.shape[1] != 3:
        raise ValueError(f"path positions must be (T, 3), got shape {positions_m.shape}")
    if not np.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"path time step must be finite and >= 0, got {dt_s} s")
    identity = make_quaternion(np.eye(3), types)
    poses = [
        types.new(
            "geometry_msgs/msg/PoseStamped",
            header=make_header(stamp_ns + round(step * dt_s * NS_PER_S), frame_id, types),
            pose=types.new(
                "geometry_msgs/msg/Pose", position=make_point(position, types), orientation=identity
            ),
        )
        for step, position in enumerate(positions_m)
    ]
    return types.new("nav_msgs/msg/Path", header=make_header(stamp_ns, frame_id, types), poses=poses)


def path_to_positions(msg: Any) -> np.ndarray:
    """(T, 3) positions of a nav_msgs/Path."""
    return np.array([xyz_of(pose.pose.position) for pose in msg.poses], dtype=np.float64).reshape(-1, 3)


def path_stamps_ns(msg: Any) -> np.ndarray:
    """(T,) int64 stamps of the poses of a nav_msgs/Path."""
    return np.array([header_stamp_ns(pose.header) for pose in msg.poses], dtype=np.int64)


def frame_transforms_to_tf(transforms: Sequence[FrameTransform], types: MessageTypes) -> Any:
    """tf2_msgs/TFMessage with one TransformStamped per FrameTransform."""
    stamped = []
    for item in transforms:
        rotation, translation_m = split_transform(item.transform)
        stamped.append(
            types.new(
                "geometry_msgs/msg/TransformStamped",
                header=make_header(item.stamp_ns, item.parent_frame, types),
                child_frame_id=item.child_frame,
                transform=types.new(
                    "geometry_msgs/msg/Transform",
                    translation=make_vector3(translation_m, types),
                    rotation=make_quaternion(rotation, types),
                ),
            )
        )
    return types.new("tf2_msgs/msg/TFMessage", transforms=stamped)


def transform_stamped_to_frame_transform(item: Any) -> FrameTransform:
    """The FrameTransform of one geometry_msgs/TransformStamped (a tf2 lookup's answer)."""
    return FrameTransform(
        parent_frame=str(item.header.frame_id),
        child_frame=str(item.child_frame_id),
        transform=make_transform(rotation_of(item.transform.rotation), xyz_of(item.transform.translation)),
        stamp_ns=header_stamp_ns(item.header),
    )


def tf_to_frame_transforms(msg: Any) -> list[FrameTransform]:
    """FrameTransforms of a tf2_msgs/TFMessage, in message order."""
    return [transform_stamped_to_frame_transform(item) for item in msg.transforms]
