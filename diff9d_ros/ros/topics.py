"""Topic wiring of the nodes: names, message types, direction and QoS class, without rclpy.

One table (:data:`NODE_TOPICS`) says what every node subscribes to and publishes, with names
relative to the node's namespace (DESIGN.md, "Message contracts"). The nodes create their
subscriptions and publishers from it, the launch files build remappings from it, and the tests
check that every output of one node that another consumes has the same name and type on both
sides. QoS follows yolo_ros and realsense-ros: sensor streams use a reliability chosen by a
parameter (best effort by default) with a shallow history, results are reliable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SENSOR = "sensor"
RESULT = "result"
QosClass = Literal["sensor", "result"]
RELIABILITIES: tuple[str, ...] = ("best_effort", "reliable")
#: History depth of result topics (detections, grasps, forecasts, markers).
RESULT_DEPTH = 10


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a node: ``key`` is the topic name relative to the node's namespace."""

    key: str
    msg_type: str
    direction: Literal["in", "out"]
    qos: QosClass
    description: str
    optional: bool = False
    external: bool = False  # produced outside this stack (e.g. by a person detector)


@dataclass(frozen=True)
class QosChoice:
    """A QoS profile without rclpy: reliability, history depth (keep last), volatile durability."""

    reliability: str
    depth: int

    def __post_init__(self) -> None:
        if self.reliability not in RELIABILITIES:
            raise ValueError(f"QoS reliability must be one of {RELIABILITIES}, got {self.reliability!r}")
        if self.depth < 1:
            raise ValueError(f"QoS history depth must be >= 1, got {self.depth}")


def qos_for(spec: TopicSpec, reliability: str, sensor_depth: int) -> QosChoice:
    """QoS of ``spec``: sensor streams take the node's ``reliability``/``qos_depth`` parameters,
    results are reliable with depth :data:`RESULT_DEPTH` so no consumer misses one."""
    if spec.qos == SENSOR:
        return QosChoice(reliability, sensor_depth)
    return QosChoice("reliable", RESULT_DEPTH)


IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION3D_ARRAY = "vision_msgs/msg/Detection3DArray"
DETECTION2D_ARRAY = "vision_msgs/msg/Detection2DArray"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"

_RGB_IN = TopicSpec("rgb/image", IMAGE, "in", SENSOR, "colour image (rgb8, bgr8, rgba8, bgra8, mono8)")
_DEPTH_IN = TopicSpec("depth/image", IMAGE, "in", SENSOR, "depth aligned to colour (16UC1 mm or 32FC1 m)")
_INFO_IN = TopicSpec("rgb/camera_info", CAMERA_INFO, "in", SENSOR, "intrinsics of the colour camera")

NODE_TOPICS: dict[str, tuple[TopicSpec, ...]] = {
    "camera_node": (
        TopicSpec("rgb/image", IMAGE, "out", SENSOR, "colour image, rgb8, colour optical frame"),
        TopicSpec("depth/image", IMAGE, "out", SENSOR, "depth aligned to colour, 16UC1 mm (or 32FC1 m)"),
        TopicSpec("rgb/camera_info", CAMERA_INFO, "out", SENSOR, "colour intrinsics (plumb_bob, zero D)"),
    ),
    "pose_node": (
        _RGB_IN,
        _DEPTH_IN,
        _INFO_IN,
        TopicSpec(
            "segmentation/image", IMAGE, "in", SENSOR, "external instance masks (16UC1 ids)", optional=True
        ),
        TopicSpec(
            "segmentation/detections",
            DETECTION2D_ARRAY,
            "in",
            SENSOR,
            "category per instance id of the external masks",
            optional=True,
        ),
        TopicSpec("detections", DETECTION3D_ARRAY, "out", RESULT, "9-DoF detections, RGB image header"),
        TopicSpec("markers", MARKER_ARRAY, "out", RESULT, "boxes and pose axes"),
        TopicSpec("/tf", "tf2_msgs/msg/TFMessage", "out", RESULT, "camera optical frame -> object_<i>"),
    ),
    "grasp_node": (
        _RGB_IN,
        _DEPTH_IN,
        _INFO_IN,
        TopicSpec("detections", DETECTION3D_ARRAY, "in", RESULT, "9-DoF detections of the pose node"),
        TopicSpec("grasps", "geometry_msgs/msg/PoseArray", "out", RESULT, "all grasps, best first"),
        TopicSpec("grasp", "geometry_msgs/msg/PoseStamped", "out", RESULT, "the best grasp"),
        TopicSpec("grasp_markers", MARKER_ARRAY, "out", RESULT, "grasp axes, width and score"),
    ),
    "forecast_node": (
        TopicSpec(
            "detections",
            DETECTION3D_ARRAY,
            "in",
            RESULT,
            "object detections (people: see people_forecast_node)",
        ),
        TopicSpec("tracks", DETECTION3D_ARRAY, "out", RESULT, "tracked detections, id = track id"),
        TopicSpec("forecasts", "nav_msgs/msg/Path", "out", RESULT, "mean future path, one message per track"),
        TopicSpec("forecast_markers", MARKER_ARRAY, "out", RESULT, "future samples per track"),
    ),
    "people_forecast_node": (
        TopicSpec(
            "people",
            DETECTION3D_ARRAY,
            "in",
            RESULT,
            "person detections of any detector or tracker, any frame, ids optional",
            external=True,
        ),
        TopicSpec("people/tracks", DETECTION3D_ARRAY, "out", RESULT, "people in the fixed frame, id = track"),
        TopicSpec(
            "people/forecasts", "nav_msgs/msg/Path", "out", RESULT, "mean future path per person, fixed frame"
        ),
        TopicSpec("people/forecast_markers", MARKER_ARRAY, "out", RESULT, "future samples per person"),
    ),
}
#: Every node also publishes its status here (absolute name, as diagnostic_aggregator expects).
DIAGNOSTICS = TopicSpec("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "out", RESULT, "node status")


def node_topics(node: str, direction: str | None = None) -> tuple[TopicSpec, ...]:
    """The topics of ``node`` (optionally only ``"in"`` or ``"out"``); ValueError for an unknown node."""
    if node not in NODE_TOPICS:
        raise ValueError(f"unknown node {node!r}; nodes: {', '.join(NODE_TOPICS)}")
    if direction not in (None, "in", "out"):
        raise ValueError(f"direction must be 'in', 'out' or None, got {direction!r}")
    return tuple(t for t in NODE_TOPICS[node] if direction is None or t.direction == direction)


def topic_spec(node: str, key: str) -> TopicSpec:
    """The spec of ``node``'s topic ``key``; ValueError naming the node's topics otherwise."""
    for spec in node_topics(node):
        if spec.key == key:
            return spec
    keys = ", ".join(t.key for t in NODE_TOPICS[node])
    raise ValueError(f"{node} has no topic {key!r}; its topics: {keys}")


def remappings(node: str, overrides: dict[str, str]) -> list[tuple[str, str]]:
    """Launch remappings ``(key, name)`` for ``node`` from ``{key: name}``; empty names are skipped.

    ValueError for a key the node does not have, so a typo in a launch argument is caught.
    """
    out = []
    for key, name in overrides.items():
        topic_spec(node, key)
        if name and name != key:
            out.append((key, name))
    return out
