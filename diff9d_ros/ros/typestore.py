"""The rosbags type store used for CDR (de)serialisation: ROS 2 Humble plus the interfaces it lacks.

rosbags ships the Humble definitions of the core interface packages (std_msgs, builtin_interfaces,
geometry_msgs, sensor_msgs, nav_msgs, visualization_msgs, tf2_msgs, diagnostic_msgs, shape_msgs,
trajectory_msgs, ...) but not vision_msgs (used by the topics), nor moveit_msgs and its
object_recognition_msgs dependency (grasp_node's ``~/plan_grasps``, ``moveit_msgs/srv/GraspPlanning``).
Their definitions, as released for Humble (vision_msgs 4.1, moveit_msgs 2.2, object_recognition_msgs
2.0), are read from ``diff9d_ros/ros/definitions/<package>/<msg|srv>/<Name>.<msg|srv>`` (installed
as package data) and registered here; only the types this package uses and their dependencies.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as rosbags_typestore
from rosbags.typesys.store import Typestore

#: Interface types registered from ``ros/definitions/`` (``pkg/srv/Name``: its request and response).
SHIPPED_TYPES: tuple[str, ...] = (
    "vision_msgs/msg/Point2D",
    "vision_msgs/msg/Pose2D",
    "vision_msgs/msg/BoundingBox2D",
    "vision_msgs/msg/BoundingBox3D",
    "vision_msgs/msg/ObjectHypothesis",
    "vision_msgs/msg/ObjectHypothesisWithPose",
    "vision_msgs/msg/Detection2D",
    "vision_msgs/msg/Detection2DArray",
    "vision_msgs/msg/Detection3D",
    "vision_msgs/msg/Detection3DArray",
    "object_recognition_msgs/msg/ObjectType",
    "moveit_msgs/msg/CollisionObject",
    "moveit_msgs/msg/GripperTranslation",
    "moveit_msgs/msg/Grasp",
    "moveit_msgs/msg/MoveItErrorCodes",
    "moveit_msgs/srv/GraspPlanning",
)


def definition(interface: str) -> str:
    """The text of a shipped interface ``pkg/msg/Name`` or ``pkg/srv/Name`` (see :data:`SHIPPED_TYPES`)."""
    if interface not in SHIPPED_TYPES:
        raise ValueError(f"{interface} is not shipped; known: {', '.join(SHIPPED_TYPES)}")
    package, kind, name = interface.split("/")
    files = resources.files("diff9d_ros.ros").joinpath("definitions", package, kind)
    return files.joinpath(f"{name}.{kind}").read_text(encoding="utf-8")


def parse_interface(interface: str, text: str) -> dict[str, Any]:
    """rosbags type definitions of ``pkg/msg/Name`` from its ``.msg`` text, or of the request
    and response (``pkg/srv/Name_Request``, ``pkg/srv/Name_Response``) of ``pkg/srv/Name`` from
    its ``.srv`` text (the two messages split at ``---``)."""
    package, kind, name = interface.split("/")
    if kind == "msg":
        return get_types_from_msg(text, interface)
    parts = text.split("\n---\n")
    if kind != "srv" or len(parts) != 2:
        raise ValueError(f"{interface}: expected pkg/msg/Name, or pkg/srv/Name with one '---' line")
    types = {}
    for part, part_text in zip(("Request", "Response"), parts, strict=True):
        # Parsed as pkg/msg/Name_Part so that relative field types resolve within the package.
        (parsed,) = get_types_from_msg(part_text, f"{package}/msg/{name}_{part}").values()
        types[f"{package}/srv/{name}_{part}"] = parsed
    return types


@functools.lru_cache(maxsize=1)
def get_typestore() -> Typestore:
    """The shared ROS 2 Humble type store with :data:`SHIPPED_TYPES` registered (built once, cached).

    Callers must not register further types into it; build a separate store for foreign types.
    """
    store = rosbags_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for interface in SHIPPED_TYPES:
        types.update(parse_interface(interface, definition(interface)))
    store.register(types)
    return store


def cdr_round_trip(msg: Any) -> Any:
    """``msg`` serialised to CDR and deserialised again with the shared store: what a subscriber
    (or a bag reader) receives. Raises if the message does not serialise (a wrong field type).
    """
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
