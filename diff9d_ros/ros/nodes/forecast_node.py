"""forecast_node: detections (or people tracks with ids) -> tracks -> GeoTDM forecasts.

Runs ``Pipeline(build_stages(config, ["tracking", "forecast"]), inputs=("detections",))`` on a
:class:`~diff9d_ros.pipeline.FrameState` holding only the detections, and publishes ``tracks``
(Detection3DArray, id = track id), one mean ``forecasts`` Path per track (in the order of
``tracks``) and the samples as ``forecast_markers``.

With ``tracking_frame`` set (``odom``, ``map``), the camera's pose in that frame is looked up
through tf2 at each message's stamp and given to the tracker (``FrameState.camera_pose``), so that
a camera on a moving arm or base does not move still objects; everything published stays in the
detections' frame. A message whose transform does not come within ``tf_timeout_s`` is rejected
with the reason; when stamps jump backwards the tf2 buffer is cleared.
"""

from __future__ import annotations

import time
from typing import Any

from diff9d_ros.pipeline import FrameState
from diff9d_ros.ros.convert_std import header_stamp_ns
from diff9d_ros.ros.convert_vision import msg_to_detections
from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode, spin_node
from diff9d_ros.ros.nodes.params import pipeline_config
from diff9d_ros.ros.nodes.tf_lookup import TfLookup
from diff9d_ros.ros.outputs import forecast_messages


class ForecastNode(Diff9dNode):
    """Multi-object tracking and trajectory forecasting."""

    NODE = "forecast_node"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline: Any = None
        self._subscription: Any = None
        self.tf: TfLookup | None = None

    def configure_node(self) -> None:
        self.tf = TfLookup(self) if self.params["tracking_frame"] else None

    def load_model(self) -> None:
        from diff9d_ros.pipeline import Pipeline
        from diff9d_ros.stages import build_stages

        stages = build_stages(pipeline_config(self.params), ["tracking", "forecast"])
        self.pipeline = Pipeline(stages, inputs=("detections",))

    def release_model(self) -> None:
        self.pipeline = None

    def create_inputs(self) -> None:
        self._subscription = self.subscribe_topic("detections", self._on_detections)

    def destroy_inputs(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None

    def _on_detections(self, msg: Any) -> None:
        self.stats.on_received(time.monotonic())
        stamp_ns = header_stamp_ns(msg.header)
        if self.tf is not None and self.tf.jumped_back(stamp_ns):
            self.warn("detection stamps jumped backwards (bag loop or reset): cleared the tf2 buffer")
        if self.drop_stale(stamp_ns):
            return
        self.submit(msg)

    def process(self, index: int, item: Any) -> bool:
        stamp_ns = header_stamp_ns(item.header)
        camera_pose = None
        try:
            detections = msg_to_detections(item)
            if self.tf is not None:
                camera_pose = self._camera_pose(str(item.header.frame_id), stamp_ns)
        except ValueError as error:
            self.reject(str(error))
            return False
        state = FrameState(
            index, frame=None, stamp_ns=stamp_ns, detections=detections, camera_pose=camera_pose
        )
        state = self.pipeline.process_state(state)
        if not state.ok:
            self.stats.on_failed(time.monotonic(), f"{state.failed_stage}: {state.error}")
            self.warn(f"detections {index} failed in {state.failed_stage}: {state.error}")
            return False
        messages = forecast_messages(
            state,
            str(item.header.frame_id),
            float(self.params["forecast_period_s"]),
            self.types,
            float(self.params["marker_lifetime_s"]),
        )
        self.outputs["tracks"].publish(messages.tracks)
        for path in messages.paths:
            self.outputs["forecasts"].publish(path)
        if messages.markers is not None:  # None: the forecast waits for the model's next period
            self.outputs["forecast_markers"].publish(messages.markers)
        return True

    def _camera_pose(self, camera_frame: str, stamp_ns: int) -> Any:
        """The detections' frame in ``tracking_frame`` at ``stamp_ns`` (4x4); ValueError naming the
        frames when tf2 has no such transform in time."""
        from tf2_ros import TransformException

        target = str(self.params["tracking_frame"])
        try:
            return self.tf.transform(target, camera_frame, stamp_ns, float(self.params["tf_timeout_s"]))
        except TransformException as error:
            raise ValueError(f"no transform {camera_frame} -> {target} (tracking_frame): {error}") from error


def main(args: list[str] | None = None) -> None:
    spin_node(ForecastNode, args)


if __name__ == "__main__":
    main()
