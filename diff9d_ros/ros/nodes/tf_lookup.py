"""tf2 for the nodes: a buffer with its listener, lookups as 4x4 transforms at a message's stamp,
and the buffer cleared when stamps jump backwards (``ros2 bag play -l``, a simulation reset), where
the old transforms would otherwise be taken for the new ones. rclpy and tf2_ros are imported only
when a node builds or uses one, so the module loads without ROS."""

from __future__ import annotations

from typing import Any

import numpy as np

from diff9d_ros.ros.convert_nav import transform_stamped_to_frame_transform


class TfLookup:
    """A tf2 buffer fed by a listener on ``node``."""

    def __init__(self, node: Any) -> None:
        from tf2_ros.buffer import Buffer
        from tf2_ros.transform_listener import TransformListener

        self.buffer = Buffer()
        self._listener = TransformListener(self.buffer, node)
        self._last_stamp_ns: int | None = None

    def jumped_back(self, stamp_ns: int) -> bool:
        """Whether ``stamp_ns`` is older than the last one seen; the buffer is then cleared."""
        back = self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns
        self._last_stamp_ns = stamp_ns
        if back:
            self.buffer.clear()
        return back

    def transform(self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        """The 4x4 transform of ``source_frame`` into ``target_frame`` at ``stamp_ns``, waiting up to
        ``timeout_s`` for it (raises tf2_ros.TransformException when it does not come)."""
        from rclpy.duration import Duration
        from rclpy.time import Time

        stamped = self.buffer.lookup_transform(
            target_frame,
            source_frame,
            Time(nanoseconds=stamp_ns),
            timeout=Duration(nanoseconds=round(timeout_s * 1e9)),
        )
        return transform_stamped_to_frame_transform(stamped).transform
