"""people_forecast_node: person detections (any frame, ids optional) -> fixed frame -> GeoTDM forecasts.

Subscribes to ``people`` (vision_msgs/Detection3DArray from any person detector or tracker; class
id ``person``, optional track id in ``id``), moves the people into ``fixed_frame`` (``map`` or
``odom``) through tf2 at the message's stamp, and runs
``Pipeline(build_stages(config, ["people_tracking", "people_forecast"]), inputs=("detections",))``:
one history per person (the given ids, else the tracker), resampled at the planar model's 0.4 s
period. Publishes, in the fixed frame, ``people/tracks`` (Detection3DArray, id = track id), one
``people/forecasts`` nav_msgs/Path of the mean forecast per person (poses stamped at the forecast
times) and the samples as ``people/forecast_markers``. Everything but the tf2 lookup is the
ROS-free code of :mod:`diff9d_ros.trajectory.people` and :mod:`diff9d_ros.people_runner`.

When the stamps jump backwards (``ros2 bag play -l``, a simulation reset), the tf2 buffer is
cleared and the tracks start over.
"""

from __future__ import annotations

import time
from typing import Any

from diff9d_ros.pipeline import PEOPLE_STAGES, FrameState
from diff9d_ros.ros.convert_std import header_stamp_ns
from diff9d_ros.ros.convert_vision import msg_to_detections
from diff9d_ros.ros.frames import is_stale
from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode, spin_node
from diff9d_ros.ros.nodes.params import pipeline_config
from diff9d_ros.ros.nodes.tf_lookup import TfLookup
from diff9d_ros.ros.outputs import people_messages


class PeopleForecastNode(Diff9dNode):
    """Pedestrian tracking and GeoTDM forecasting in a fixed frame."""

    NODE = "people_forecast_node"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline: Any = None
        self._subscription: Any = None
        self.tf: TfLookup | None = None

    def configure_node(self) -> None:
        self.tf = TfLookup(self)

    def load_model(self) -> None:
        from diff9d_ros.pipeline import Pipeline
        from diff9d_ros.stages import build_stages

        stages = build_stages(pipeline_config(self.params), PEOPLE_STAGES)
        self.pipeline = Pipeline(stages, inputs=("detections",))
        self.get_logger().info(f"people forecaster: {stages[1].backend_name}")

    def release_model(self) -> None:
        self.pipeline = None

    def create_inputs(self) -> None:
        self._subscription = self.subscribe_topic("people", self._on_people)

    def destroy_inputs(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None

    def _on_people(self, msg: Any) -> None:
        self.stats.on_received(time.monotonic())
        stamp_ns = header_stamp_ns(msg.header)
        if self.tf is not None and self.tf.jumped_back(stamp_ns):
            self.warn("people stamps jumped backwards (bag loop or reset): cleared the tf2 buffer")
        if is_stale(stamp_ns, self.now_ns(), float(self.params["max_frame_age_s"])):
            self.stats.on_stale()
            return
        self.submit(msg)

    def process(self, index: int, item: Any) -> bool:
        from tf2_ros import TransformException

        from diff9d_ros.trajectory.people import people_in_frame

        try:
            detections = msg_to_detections(item)
            transform = self.tf.transform(
                str(self.params["fixed_frame"]),
                str(item.header.frame_id),
                header_stamp_ns(item.header),
                float(self.params["tf_timeout_s"]),
            )
            people = people_in_frame(detections, transform, str(self.params["person_class"]))
        except (ValueError, TransformException) as error:
            self.reject(f"{type(error).__name__}: {error}")
            return False
        state = FrameState(index, frame=None, stamp_ns=header_stamp_ns(item.header), detections=people)
        state = self.pipeline.process_state(state)
        if not state.ok:
            self.stats.on_failed(time.monotonic(), f"{state.failed_stage}: {state.error}")
            self.warn(f"people {index} failed in {state.failed_stage}: {state.error}")
            return False
        messages = people_messages(
            state, str(self.params["fixed_frame"]), self.types, float(self.params["marker_lifetime_s"])
        )
        self.outputs["people/tracks"].publish(messages.tracks)
        for path in messages.paths:
            self.outputs["people/forecasts"].publish(path)
        if messages.markers is not None:  # None: the forecast waits for the model's next period
            self.outputs["people/forecast_markers"].publish(messages.markers)
        return True


def main(args: list[str] | None = None) -> None:
    spin_node(PeopleForecastNode, args)


if __name__ == "__main__":
    main()
