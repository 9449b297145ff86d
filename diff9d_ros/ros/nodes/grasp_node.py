"""grasp_node: detections + the RGB-D frame they came from -> ranked grasps.

RGB-D sets are kept in a :class:`~diff9d_ros.ros.frames.StampedBuffer`; a Detection3DArray
(header copied from its RGB image by the pose node) meets its frame by stamp, whatever the pose
node's latency. Runs ``build_stages(config, ["grasp"])`` and publishes ``grasps`` (PoseArray, best
first), ``grasp`` (the best, PoseStamped) and ``grasp_markers``, in the detections' frame, at most
once per ``grasp_period_s`` (never with ``grasp_per_frame`` off).

The service ``~/plan_grasps`` (``moveit_msgs/srv/GraspPlanning``) plans on request, on the
newest matched pair, for the object named by ``target.id`` (its detection id, the track id on the
forecast node's ``tracks``; empty: every object), with the same planner
(:class:`~diff9d_ros.grasp.on_request.GraspRequests`); the mapping is in
:mod:`~diff9d_ros.ros.convert_grasp_planning`. The service lives as long as the node, in its own
callback group, and the node spins on a two-thread executor, so a plan does not hold up the
topics; while the node is not active it answers FAILURE. A request that gets no grasps is
answered with a MoveItErrorCodes value and one warning line with the reason. Where moveit_msgs
is not installed, the node says so in one line and runs without the service.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from diff9d_ros.grasp.gripper import GripperModel
from diff9d_ros.grasp.on_request import GraspPlan, GraspRequests
from diff9d_ros.pipeline import FrameState
from diff9d_ros.ros.convert_grasp_planning import (
    ERROR_NAMES,
    FAILURE,
    PLANNING_FAILED,
    error_code_of,
    grasp_planning_response,
    ignored_request_fields,
    plan_to_response,
    request_object_ids,
)
from diff9d_ros.ros.convert_std import NS_PER_S, header_stamp_ns
from diff9d_ros.ros.convert_vision import msg_to_detections
from diff9d_ros.ros.frames import StampedBuffer, frame_from_messages
from diff9d_ros.ros.nodes.lifecycle_base import Diff9dNode, spin_node
from diff9d_ros.ros.nodes.params import pipeline_config
from diff9d_ros.ros.nodes.synchronised import CAMERA_KEYS, destroy_synchronised, subscribe_synchronised
from diff9d_ros.ros.outputs import grasp_messages


class GraspNode(Diff9dNode):
    """Grasp planning for every detected object."""

    NODE = "grasp_node"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline: Any = None
        self.frames: StampedBuffer[tuple[Any, ...]] = StampedBuffer(1)
        self._subscribers: list[Any] = []
        self._sync: Any = None
        self._detections_sub: Any = None
        self.requests: GraspRequests | None = None
        self.gripper: GripperModel | None = None
        self._service = self._create_service()

    def load_model(self) -> None:
        from diff9d_ros.pipeline import Pipeline
        from diff9d_ros.stages import build_stages

        config = pipeline_config(self.params)
        stages = build_stages(config, ["grasp"])
        self.pipeline = Pipeline(stages, inputs=("frame", "detections"))
        self.requests = GraspRequests(stages[0], config.grasp_request_max_age_s)
        self.gripper = stages[0].planner.gripper

    def release_model(self) -> None:
        self.pipeline = None
        self.requests = None
        self.gripper = None

    def create_inputs(self) -> None:
        self.frames = StampedBuffer(int(self.params["frame_buffer_size"]))
        self._subscribers, self._sync = subscribe_synchronised(self, CAMERA_KEYS, self._on_frame)
        self._detections_sub = self.subscribe_topic("detections", self._on_detections)

    def destroy_inputs(self) -> None:
        destroy_synchronised(self, self._subscribers)
        self._subscribers, self._sync = [], None
        if self._detections_sub is not None:
            self.destroy_subscription(self._detections_sub)
            self._detections_sub = None

    def _create_service(self) -> Any:
        """``~/plan_grasps`` in its own callback group where moveit_msgs can be imported; otherwise
        None, said in one line."""
        try:
            from moveit_msgs.srv import GraspPlanning
        except ImportError as error:
            self.get_logger().warning(
                f"service ~/plan_grasps is off: its type moveit_msgs/srv/GraspPlanning cannot be imported "
                f"({error}); install ros-<distro>-moveit-msgs (docs/install.md); the grasps topics work "
                "without it"
            )
            return None
        return self.create_service(
            GraspPlanning,
            "~/plan_grasps",
            self._on_plan_grasps,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )

    def _on_plan_grasps(self, request: Any, response: Any) -> Any:
        """Answer a GraspPlanning request on the newest matched pair; a request that gets no grasps
        is answered with its error code and one warning line, never an exception in the executor."""
        ignored = ignored_request_fields(request)
        if ignored:
            self.get_logger().debug(f"plan_grasps: not used: {', '.join(ignored)} (only target.id is)")
        requests, gripper = self.requests, self.gripper
        try:
            if requests is None or gripper is None:
                raise ValueError("grasp_node is not active")
            plan = requests.plan(request_object_ids(request), self.now_ns())
        except ValueError as error:
            return self._refuse(error_code_of(error), str(error))
        except Exception as error:  # a failing plan must not take the node down
            self.get_logger().error(f"plan_grasps failed: {error}\n{traceback.format_exc()}")
            return grasp_planning_response(FAILURE, self.types)
        if not plan.grasps:
            return self._refuse(PLANNING_FAILED, _no_grasp_reason(plan))
        return plan_to_response(plan, gripper, self.types)

    def _refuse(self, code: int, reason: str) -> Any:
        """The response without grasps for error ``code``, after one warning line with ``reason``."""
        self.get_logger().warning(f"plan_grasps: {ERROR_NAMES[code]} ({code}): {reason}")
        return grasp_planning_response(code, self.types)

    def _on_frame(self, *msgs: Any) -> None:
        self.frames.put(header_stamp_ns(msgs[0].header), msgs)

    def _on_detections(self, msg: Any) -> None:
        self.stats.on_received(time.monotonic())
        stamp_ns = header_stamp_ns(msg.header)
        if self.drop_stale(stamp_ns):
            return
        tolerance_ns = round(float(self.params["stamp_tolerance_s"]) * NS_PER_S)
        frame_msgs = self.frames.match(stamp_ns, tolerance_ns)
        if frame_msgs is None:
            self.reject(
                f"no RGB-D frame within {self.params['stamp_tolerance_s']} s of the detections stamped "
                f"{stamp_ns} ns ({len(self.frames)} buffered; a slow pose node needs more frame_buffer_size)"
            )
            return
        self.submit((frame_msgs, msg))

    def process(self, index: int, item: Any) -> bool:
        (rgb, depth, info), detections_msg = item
        frame_id = str(detections_msg.header.frame_id)
        try:
            frame = frame_from_messages(rgb, depth, info, frame_id_override=frame_id)
            frame.validate()
            detections = msg_to_detections(detections_msg)
        except ValueError as error:
            self.reject(str(error))
            return False
        self.requests.offer(frame, detections)
        state = self.pipeline.process_state(FrameState(index, frame=frame, detections=detections))
        if not state.ok:
            self.stats.on_failed(time.monotonic(), f"{state.failed_stage}: {state.error}")
            self.warn(f"detections {index} failed in {state.failed_stage}: {state.error}")
            return False
        if "grasp" in state.skipped:  # grasp_period_s has not passed since the last plan, or on request only
            return True
        messages = grasp_messages(state, frame.frame_id, self.types, float(self.params["marker_lifetime_s"]))
        self.outputs["grasps"].publish(messages.grasps)
        if messages.best is not None:
            self.outputs["grasp"].publish(messages.best)
        self.outputs["grasp_markers"].publish(messages.markers)
        return True


def _no_grasp_reason(plan: GraspPlan) -> str:
    """Why a plan without grasps has none."""
    if not plan.object_ids:
        return f"the newest frame (stamp {plan.stamp_ns} ns) has no objects"
    names = ", ".join(repr(i) for i in plan.without_grasps)
    return (
        f"no grasp for {names} on the newest frame (stamp {plan.stamp_ns} ns): "
        "none collision-free and certain enough"
    )


def main(args: list[str] | None = None) -> None:
    spin_node(GraspNode, args, executor_threads=2)


if __name__ == "__main__":
    main()
