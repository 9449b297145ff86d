"""The rosbags type store used for CDR (de)serialisation: ROS 2 Humble plus vision_msgs.

rosbags ships the Humble definitions of the core interface packages (std_msgs, builtin_interfaces,
geometry_msgs, sensor_msgs, nav_msgs, visualization_msgs, tf2_msgs, diagnostic_msgs, ...) but not
vision_msgs; its message definitions (vision_msgs 4.1, the Humble release) are read from the
``.msg`` files in ``diff9d_ros/ros/msg/`` (installed as package data) and registered here.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as rosbags_typestore
from rosbags.typesys.store import Typestore

#: vision_msgs types registered from ``ros/msg/<Name>.msg``.
VISION_MSGS: tuple[str, ...] = (
    "Point2D",
    "Pose2D",
    "BoundingBox2D",
    "BoundingBox3D",
    "ObjectHypothesis",
    "ObjectHypothesisWithPose",
    "Detection2D",
    "Detection2DArray",
    "Detection3D",
    "Detection3DArray",
)


def vision_msgs_definition(name: str) -> str:
    """The ``.msg`` text of ``vision_msgs/msg/<name>`` as shipped in this package."""
    if name not in VISION_MSGS:
        raise ValueError(f"vision_msgs/msg/{name} is not shipped; known: {', '.join(VISION_MSGS)}")
    return resources.files("diff9d_ros.ros").joinpath("msg", f"{name}.msg").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def get_typestore() -> Typestore:
    """The shared ROS 2 Humble type store with vision_msgs registered (built once, then cached).

    Callers must not register further types into it; build a separate store for foreign types.
    """
    store = rosbags_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for name in VISION_MSGS:
        types.update(get_types_from_msg(vision_msgs_definition(name), f"vision_msgs/msg/{name}"))
    store.register(types)
    return store


def cdr_round_trip(msg: Any) -> Any:
    """``msg`` serialised to CDR and deserialised again with the shared store: what a subscriber
    (or a bag reader) receives. Raises if the message does not serialise (a wrong field type).
    """
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
