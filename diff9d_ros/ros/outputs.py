"""What each node publishes for one processed :class:`FrameState`, built without rclpy.

The nodes pass :class:`~diff9d_ros.ros.message_types.RclpyTypes`, the tests
:class:`~diff9d_ros.ros.message_types.RosbagsTypes`; every conversion is one of
``diff9d_ros.ros.convert``, so a node computes nothing the ROS-free runner does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.pipeline import FrameState
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_std import NS_PER_S
from diff9d_ros.ros.message_types import MessageTypes


@dataclass
class CameraMessages:
    """One RGB-D frame as published by the camera node (all three share one header)."""

    rgb: Any
    depth: Any
    camera_info: Any


@dataclass
class PoseMessages:
    """Detection3DArray, MarkerArray (boxes + axes) and TFMessage of one frame."""

    detections: Any
    markers: Any
    tf: Any


@dataclass
class GraspMessages:
    """Ranked PoseArray, best PoseStamped (``None`` without any grasp) and axis markers."""

    grasps: Any
    best: Any | None
    markers: Any


@dataclass
class ForecastMessages:
    """Tracked detections, one mean Path per track (in track order) and sample markers; on a frame
    the forecast stage skipped (it runs at the model's period) no paths and ``markers`` None."""

    tracks: Any
    paths: list[Any]
    markers: Any | None


def camera_messages(
    frame: RGBDFrame, stamp_ns: int, depth_encoding: str, types: MessageTypes
) -> CameraMessages:
    """rgb8 Image, depth Image (16UC1 mm or 32FC1 m) and CameraInfo of ``frame`` at ``stamp_ns``."""
    return CameraMessages(
        rgb=convert.rgb_to_image(frame.rgb, stamp_ns, frame.frame_id, types),
        depth=convert.depth_to_image(frame.depth_m, stamp_ns, frame.frame_id, types, encoding=depth_encoding),
        camera_info=convert.intrinsics_to_camera_info(frame.intrinsics, stamp_ns, frame.frame_id, types),
    )


def object_frame_name(index: int, track_id: str = "") -> str:
    """TF child frame of a detected object: ``object_<track id>`` when tracked, else ``object_<index>``."""
    return f"object_{track_id or index}"


def pose_messages(state: FrameState, frame_id: str, types: MessageTypes, lifetime_s: float) -> PoseMessages:
    """The pose node's outputs: detections with the image's stamp in ``frame_id``, markers, TF."""
    stamp_ns = state.stamp_ns
    boxes = convert.boxes_to_markers(state.detections, stamp_ns, frame_id, types, lifetime_s=lifetime_s)
    axes = convert.axes_to_markers(
        [d.transform for d in state.detections], stamp_ns, frame_id, types, lifetime_s=lifetime_s
    )
    boxes.markers = list(boxes.markers) + list(axes.markers)
    transforms = [
        convert.FrameTransform(frame_id, object_frame_name(i, d.track_id), d.transform, stamp_ns)
        for i, d in enumerate(state.detections)
    ]
    return PoseMessages(
        detections=convert.detections_to_msg(state.detections, stamp_ns, frame_id, types),
        markers=boxes,
        tf=convert.frame_transforms_to_tf(transforms, types),
    )


def ranked_grasps(state: FrameState) -> list[Any]:
    """Every grasp of every object in ``state.grasps``, best score first."""
    grasps = [grasp for per_object in state.grasps.values() for grasp in per_object]
    return sorted(grasps, key=lambda grasp: -float(grasp.score))


def grasp_messages(state: FrameState, frame_id: str, types: MessageTypes, lifetime_s: float) -> GraspMessages:
    """PoseArray of all grasps (best first), the best as PoseStamped, and their axes as markers."""
    grasps = ranked_grasps(state)
    poses = np.array([grasp.pose for grasp in grasps]).reshape(-1, 4, 4)
    stamp_ns = state.stamp_ns
    best = convert.transform_to_pose_stamped(poses[0], stamp_ns, frame_id, types) if len(grasps) else None
    return GraspMessages(
        grasps=convert.transforms_to_pose_array(poses, stamp_ns, frame_id, types),
        best=best,
        markers=convert.axes_to_markers(
            poses, stamp_ns, frame_id, types, namespace="grasps", lifetime_s=lifetime_s
        ),
    )


#: Stages whose skipping (not due at this stamp) leaves a frame without forecasts.
FORECAST_STAGES = frozenset({"forecast", "people_forecast"})


def forecast_messages(
    state: FrameState,
    frame_id: str,
    period_s: float,
    types: MessageTypes,
    lifetime_s: float,
    point_size_m: float = 0.01,
) -> ForecastMessages:
    """Tracks (detections with ids), the mean of each track's samples as a Path, and the samples.

    ``state.forecasts`` maps a track id to its samples (K, T, 3); Path pose ``i`` is stamped
    ``stamp + (i + 1) * period`` (the first forecast frame is one period after the input; the
    Path header carries the stamp of pose 0). The period is the forecaster's own
    (``state.forecast_period_s``, a GeoTDM model's frame period) or else ``period_s`` (the
    constant-velocity fallback steps once per processed frame). ``point_size_m``: sample marker size.
    """
    stamp_ns = state.stamp_ns
    tracks = convert.detections_to_msg(state.detections, stamp_ns, frame_id, types)
    if FORECAST_STAGES & set(state.skipped):
        return ForecastMessages(tracks=tracks, paths=[], markers=None)
    period_s = state.forecast_period_s or period_s
    track_ids = list(state.forecasts)
    samples = [np.asarray(state.forecasts[track_id], dtype=np.float64) for track_id in track_ids]
    for track_id, value in zip(track_ids, samples, strict=True):
        if value.ndim != 3 or value.shape[2] != 3:
            raise ValueError(f"forecast of track {track_id!r} must be (K, T, 3) samples, got {value.shape}")
    first_ns = stamp_ns + round(period_s * NS_PER_S)
    paths = [
        convert.positions_to_path(value.mean(axis=0), first_ns, frame_id, types, dt_s=period_s)
        for value in samples
    ]
    return ForecastMessages(
        tracks=tracks,
        paths=paths,
        markers=convert.forecasts_to_markers(
            samples, stamp_ns, frame_id, types, lifetime_s=lifetime_s, point_size_m=point_size_m
        ),
    )


#: Sample markers of people are drawn larger than those of tabletop objects.
PEOPLE_MARKER_SIZE_M = 0.05


def people_messages(
    state: FrameState, fixed_frame: str, types: MessageTypes, lifetime_s: float
) -> ForecastMessages:
    """The people path's outputs (people node and people runner): :func:`forecast_messages` in the
    fixed frame at the forecaster's period (the planar models' 0.4 s), with person-sized markers."""
    if state.forecast_period_s is None:
        raise ValueError("a people forecast must carry its frame period (forecast_period_s)")
    return forecast_messages(
        state, fixed_frame, state.forecast_period_s, types, lifetime_s, point_size_m=PEOPLE_MARKER_SIZE_M
    )
