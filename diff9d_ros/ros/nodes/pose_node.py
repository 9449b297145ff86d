"""pose_node: synchronised RGB + depth + CameraInfo (+ external masks) -> 9-DoF detections.

Runs ``Pipeline(build_stages(config, ["segmentation", "pose"]))`` on frames assembled by
:func:`~diff9d_ros.ros.frames.frame_from_messages` and publishes ``detections``
(Detection3DArray with the RGB header), ``markers`` (boxes and axes) and one TF frame per object.
The model is loaded on activate; the newest frame wins and stale frames are dropped.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from tf2_ros import TransformBroadcaster

from diff9d_ros.ros.convert_std import header_stamp_ns
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode, spin_node
from diff9d_ros.ros.nodes.params import pipeline_config
from diff9d_ros.ros.nodes.synchronised import (
    CAMERA_KEYS,
    MASK_KEYS,
    destroy_synchronised,
    subscribe_synchronised,
)
from diff9d_ros.ros.outputs import pose_messages


class PoseNode(Diff9dNode):
    """Diff9D pose estimation on an RGB-D stream."""

    NODE = "pose_node"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline: Any = None
        self.tf_broadcaster: TransformBroadcaster | None = None
        self._subscribers: list[Any] = []
        self._sync: Any = None

    def load_model(self) -> None:
        from diff9d_ros.pipeline import Pipeline
        from diff9d_ros.stages import build_stages, category_log_sizes

        self.pipeline = Pipeline(build_stages(pipeline_config(self.params), ["segmentation", "pose"]))
        if self.pipeline.stages[-1].estimator is None:
            # The geometric baseline imports its point-cloud code (torch) and builds its size table on
            # its first frame (seconds); do it now, so that an active node answers at its usual speed.
            importlib.import_module("diff9d_ros.pose.observation")
            category_log_sizes()
        if self.params["publish_tf"]:
            self.tf_broadcaster = TransformBroadcaster(self)

    def release_model(self) -> None:
        self.pipeline = None
        if self.tf_broadcaster is not None:
            self.destroy_publisher(self.tf_broadcaster.pub_tf)
            self.tf_broadcaster = None

    def create_inputs(self) -> None:
        keys = CAMERA_KEYS + (MASK_KEYS if self.params["use_given_masks"] else ())
        self._subscribers, self._sync = subscribe_synchronised(self, keys, self._on_inputs)

    def destroy_inputs(self) -> None:
        destroy_synchronised(self, self._subscribers)
        self._subscribers, self._sync = [], None

    def _on_inputs(self, *msgs: Any) -> None:
        self.stats.on_received(time.monotonic())
        if self.drop_stale(header_stamp_ns(msgs[0].header)):
            return
        self.submit(msgs)

    def process(self, index: int, item: Any) -> bool:
        rgb, depth, info, *masks = item
        try:
            frame = frame_from_messages(
                rgb,
                depth,
                info,
                frame_id_override=str(self.params["frame_id_override"]),
                mask_msg=masks[0] if masks else None,
                categories_msg=masks[1] if masks else None,
            )
        except ValueError as error:
            self.reject(str(error))
            return False
        state = self.pipeline.process(index, frame)
        if not state.ok:
            self.stats.on_failed(time.monotonic(), f"{state.failed_stage}: {state.error}")
            self.warn(f"frame {index} failed in {state.failed_stage}: {state.error}")
            return False
        messages = pose_messages(state, frame.frame_id, self.types, float(self.params["marker_lifetime_s"]))
        self.outputs["detections"].publish(messages.detections)
        self.outputs["markers"].publish(messages.markers)
        if self.tf_broadcaster is not None and messages.tf.transforms:
            self.tf_broadcaster.sendTransform(list(messages.tf.transforms))
        return True


def main(args: list[str] | None = None) -> None:
    spin_node(PoseNode, args)


if __name__ == "__main__":
    main()
