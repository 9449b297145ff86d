"""visualization_msgs/MarkerArray for RViz: 3-D boxes, pose axes and forecast samples.

Every marker carries a namespace, an id unique within it (the index of its item, so a new
message replaces the previous one's markers), and a lifetime after which RViz drops it (so
objects that disappear do not leave stale boxes). Colours follow :data:`diff9d_ros.nocs.CATEGORY_COLOURS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from diff9d_ros.geometry.boxes import BOX_EDGES, canonical_box_corners
from diff9d_ros.nocs import CATEGORY_COLOURS, RGBA, UNKNOWN_COLOUR, Detection
from diff9d_ros.ros.convert_std import (
    NS_PER_S,
    make_color,
    make_header,
    make_points,
    make_vector3,
    ns_to_duration,
    pose_from_transform,
)
from diff9d_ros.ros.message_types import MessageTypes

#: Axis colours x, y, z = red, green, blue (the RViz convention).
AXIS_COLOURS: tuple[RGBA, RGBA, RGBA] = ((1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0))
#: Per-agent colours of forecast samples, cycled.
AGENT_COLOURS: tuple[RGBA, ...] = (
    (0.9, 0.6, 0.0, 0.6),
    (0.35, 0.7, 0.9, 0.6),
    (0.0, 0.6, 0.5, 0.6),
    (0.95, 0.9, 0.25, 0.6),
    (0.8, 0.4, 0.7, 0.6),
)
# visualization_msgs/Marker type and action constants (the same in every ROS 2 distro).
LINE_LIST, SPHERE_LIST, ADD = 5, 7, 0


def boxes_to_markers(
    detections: Sequence[Detection],
    stamp_ns: int,
    frame_id: str,
    types: MessageTypes,
    namespace: str = "boxes",
    lifetime_s: float = 0.5,
    line_width_m: float = 0.004,
) -> Any:
    """MarkerArray with one LINE_LIST per detection: its 12 box edges, pose = the detection's pose."""
    markers = []
    for index, detection in enumerate(detections):
        corners = canonical_box_corners(detection.size_m)
        points = corners[np.asarray(BOX_EDGES).reshape(-1)]
        markers.append(
            _marker(
                types,
                stamp_ns,
                frame_id,
                namespace,
                index,
                LINE_LIST,
                pose=pose_from_transform(detection.transform, types),
                scale=(line_width_m, 0.0, 0.0),
                colour=CATEGORY_COLOURS.get(detection.category, UNKNOWN_COLOUR),
                points=points,
                lifetime_s=lifetime_s,
            )
        )
    return types.new("visualization_msgs/msg/MarkerArray", markers=markers)


def axes_to_markers(
    transforms: Sequence[np.ndarray] | np.ndarray,
    stamp_ns: int,
    frame_id: str,
    types: MessageTypes,
    namespace: str = "axes",
    length_m: float = 0.05,
    lifetime_s: float = 0.5,
    line_width_m: float = 0.003,
) -> Any:
    """MarkerArray with one LINE_LIST per 4x4 transform: its x, y, z axes in red, green, blue."""
    markers = []
    for index, transform in enumerate(transforms):
        points = np.zeros((6, 3))
        points[1::2] = np.eye(3) * length_m  # origin -> end of x, y, z
        colours = [colour for colour in AXIS_COLOURS for _ in range(2)]
        markers.append(
            _marker(
                types,
                stamp_ns,
                frame_id,
                namespace,
                index,
                LINE_LIST,
                pose=pose_from_transform(transform, types),
                scale=(line_width_m, 0.0, 0.0),
                colour=(1.0, 1.0, 1.0, 1.0),
                points=points,
                lifetime_s=lifetime_s,
                vertex_colours=colours,
            )
        )
    return types.new("visualization_msgs/msg/MarkerArray", markers=markers)


def forecasts_to_markers(
    samples_m: Sequence[np.ndarray],
    stamp_ns: int,
    frame_id: str,
    types: MessageTypes,
    namespace: str = "forecasts",
    lifetime_s: float = 0.5,
    point_size_m: float = 0.01,
) -> Any:
    """MarkerArray of forecast samples: per agent ``a`` (samples (K, T, 3)) a SPHERE_LIST of all
    K*T sample points (id 2a) and a LINE_LIST of each sample's polyline segments (id 2a + 1).
    """
    markers = []
    identity = np.eye(4)
    for agent, samples in enumerate(samples_m):
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 3 or samples.shape[2] != 3:
            raise ValueError(f"forecast samples of agent {agent} must be (K, T, 3), got {samples.shape}")
        colour = AGENT_COLOURS[agent % len(AGENT_COLOURS)]
        segments = np.stack([samples[:, :-1], samples[:, 1:]], axis=2).reshape(-1, 3)
        for marker_id, kind, points, scale in (
            (2 * agent, SPHERE_LIST, samples.reshape(-1, 3), (point_size_m,) * 3),
            (2 * agent + 1, LINE_LIST, segments, (point_size_m / 3.0, 0.0, 0.0)),
        ):
            markers.append(
                _marker(
                    types,
                    stamp_ns,
                    frame_id,
                    namespace,
                    marker_id,
                    kind,
                    pose=pose_from_transform(identity, types),
                    scale=scale,
                    colour=colour,
                    points=points,
                    lifetime_s=lifetime_s,
                )
            )
    return types.new("visualization_msgs/msg/MarkerArray", markers=markers)


def _marker(
    types: MessageTypes,
    stamp_ns: int,
    frame_id: str,
    namespace: str,
    marker_id: int,
    kind: int,
    *,
    pose: Any,
    scale: tuple[float, float, float],
    colour: RGBA,
    points: np.ndarray,
    lifetime_s: float,
    vertex_colours: Sequence[RGBA] = (),
) -> Any:
    """One ADD Marker with the given geometry."""
    if not np.isfinite(lifetime_s) or lifetime_s < 0:
        raise ValueError(f"marker lifetime must be finite and >= 0 s, got {lifetime_s}")
    return types.new(
        "visualization_msgs/msg/Marker",
        header=make_header(stamp_ns, frame_id, types),
        ns=namespace,
        id=int(marker_id),
        type=kind,
        action=ADD,
        pose=pose,
        scale=make_vector3(np.array(scale), types),
        color=make_color(colour, types),
        lifetime=ns_to_duration(round(lifetime_s * NS_PER_S), types),
        points=make_points(points, types),
        colors=[make_color(c, types) for c in vertex_colours],
    )
