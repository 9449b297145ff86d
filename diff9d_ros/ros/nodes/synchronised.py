"""Approximate-time synchronised camera (and mask) subscriptions shared by the pose and grasp nodes."""

from __future__ import annotations

from typing import Any

import message_filters

from diff9d_ros.ros.convert_compressed import COMPRESSED_IMAGE
from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode
from diff9d_ros.ros.topics import topic_spec

#: Keys (relative topics) of one synchronised RGB-D set.
CAMERA_KEYS = ("rgb/image", "depth/image", "rgb/camera_info")
#: Keys of the external instance masks that join the set with ``use_given_masks``.
MASK_KEYS = ("segmentation/image", "segmentation/detections")
#: Image keys whose message type follows a transport parameter (raw: sensor_msgs/Image).
TRANSPORT_PARAMS = {"rgb/image": "rgb_transport", "depth/image": "depth_transport"}


def input_type(node: Diff9dNode, key: str) -> str:
    """The message type of input ``key``: CompressedImage where its transport is not raw."""
    transport = node.params.get(TRANSPORT_PARAMS.get(key, ""), "raw")
    return topic_spec(node.NODE, key).msg_type if transport == "raw" else COMPRESSED_IMAGE


def subscribe_synchronised(node: Diff9dNode, keys: tuple[str, ...], callback: Any) -> tuple[list[Any], Any]:
    """message_filters subscribers of ``keys`` and an approximate-time synchroniser calling ``callback``."""
    subscribers = [
        message_filters.Subscriber(
            node,
            node.msg_class(input_type(node, key)),
            key,
            qos_profile=node.qos(topic_spec(node.NODE, key)),
        )
        for key in keys
    ]
    sync = message_filters.ApproximateTimeSynchronizer(
        subscribers, int(node.params["sync_queue_size"]), float(node.params["sync_slop_s"])
    )
    sync.registerCallback(callback)
    return subscribers, sync


def destroy_synchronised(node: Diff9dNode, subscribers: list[Any]) -> None:
    """Remove the subscriptions made by :func:`subscribe_synchronised`."""
    for subscriber in subscribers:
        node.destroy_subscription(subscriber.sub)
