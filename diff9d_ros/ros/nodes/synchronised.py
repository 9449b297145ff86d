"""Approximate-time synchronised camera (and mask) subscriptions shared by the pose and grasp nodes."""

from __future__ import annotations

from typing import Any

import message_filters

from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode
from diff9d_ros.ros.topics import topic_spec

#: Keys (relative topics) of one synchronised RGB-D set.
CAMERA_KEYS = ("rgb/image", "depth/image", "rgb/camera_info")
#: Keys of the external instance masks that join the set with ``use_given_masks``.
MASK_KEYS = ("segmentation/image", "segmentation/detections")


def subscribe_synchronised(node: Diff9dNode, keys: tuple[str, ...], callback: Any) -> tuple[list[Any], Any]:
    """message_filters subscribers of ``keys`` and an approximate-time synchroniser calling ``callback``."""
    subscribers = [
        message_filters.Subscriber(
            node,
            node.msg_class(topic_spec(node.NODE, key).msg_type),
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
