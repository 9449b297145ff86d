"""The nodes under a real rclpy (marker ``ros``; skipped where ROS 2 is not sourced).

Nodes run in-process on one executor with a listener node; they are driven through their
lifecycle transitions like the launch files do. The camera node plays a RealSense recording made
with the SDK's software device.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

W, H = 64, 48


@pytest.fixture
def ros():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.shutdown()


def _record(path: Path, frames: int = 30) -> None:
    import pyrealsense2 as rs

    from tests.realsense_software import SoftwareD400, make_intrinsics

    intr = make_intrinsics(W, H, 48.0)
    camera = SoftwareD400(intr, intr, baseline_m=0.0)
    recorder = rs.recorder(str(path), camera.device)
    camera.start(recorder.query_sensors())
    depth_raw = np.full((H, W), 900, np.uint16)
    rgb = np.full((H, W, 3), 120, np.uint8)
    for i in range(frames):
        camera.push(depth_raw, rgb, i, stamp_ms=33.0 * i)
    camera.stop()
    del recorder


class Listener:
    """A plain node that keeps every message of the given (topic, type) pairs."""

    def __init__(self, rclpy, topics: dict[str, type]) -> None:
        from rclpy.qos import qos_profile_sensor_data

        self.node = rclpy.create_node("diff9d_test_listener")
        self.messages: dict[str, list] = defaultdict(list)
        for topic, msg_type in topics.items():
            self.node.create_subscription(
                msg_type, topic, lambda msg, t=topic: self.messages[t].append(msg), qos_profile_sensor_data
            )


def _spin_until(executor, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if condition():
            return True
    return False


def test_camera_node_publishes_a_recording_on_every_output(ros, tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image

    from diff9d_ros.ros.nodes.camera_node import CameraNode

    recording = tmp_path / "software.db3"
    _record(recording)
    node = CameraNode(
        namespace="t",
        parameter_overrides=[
            Parameter("recording", value=str(recording)),
            Parameter("diagnostics_period_s", value=0.2),
            Parameter("timeout_s", value=0.5),
        ],
    )
    listener = Listener(
        ros,
        {
            "/t/rgb/image": Image,
            "/t/depth/image": Image,
            "/t/rgb/camera_info": CameraInfo,
            "/diagnostics": DiagnosticArray,
        },
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        got = _spin_until(
            executor,
            lambda: (
                all(len(listener.messages[t]) >= 3 for t in listener.messages if t != "/diagnostics")
                and len(listener.messages) == 4
            ),
            20.0,
        )
        assert got, {t: len(m) for t, m in listener.messages.items()}
        rgb, depth, info = (
            listener.messages[t][-1] for t in ("/t/rgb/image", "/t/depth/image", "/t/rgb/camera_info")
        )
        assert (rgb.encoding, depth.encoding) == ("rgb8", "16UC1")
        assert {m.header.frame_id for m in (rgb, depth, info)} == {"camera_color_optical_frame"}
        assert (info.width, info.height) == (W, H) and info.k[0] == pytest.approx(48.0)
        assert np.frombuffer(bytes(depth.data), np.uint16).max() == 900
        statuses = [
            s for a in listener.messages["/diagnostics"] for s in a.status if s.name == "/t/camera_node"
        ]
        assert statuses and {kv.key for kv in statuses[-1].values} >= {"input_rate_hz", "dropped_superseded"}
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    finally:
        node.teardown()
        executor.shutdown()
        node.destroy_node()
        listener.node.destroy_node()


def test_bad_parameters_fail_the_configure_transition(ros) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from diff9d_ros.ros.nodes.camera_node import CameraNode

    node = CameraNode(parameter_overrides=[Parameter("fps", value=25)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.outputs == {}
    finally:
        node.destroy_node()


def test_missing_recording_fails_activation_not_the_process(ros, tmp_path: Path) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from diff9d_ros.ros.nodes.camera_node import CameraNode

    recording = tmp_path / "gone.db3"
    recording.write_bytes(b"not a recording")
    node = CameraNode(parameter_overrides=[Parameter("recording", value=str(recording))])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    finally:
        node.teardown()
        node.destroy_node()


def test_forecast_node_tracks_and_forecasts_moving_detections(ros) -> None:
    from nav_msgs.msg import Path as PathMsg
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from vision_msgs.msg import Detection3DArray
    from visualization_msgs.msg import MarkerArray

    from diff9d_ros.nocs import Detection
    from diff9d_ros.ros import convert
    from diff9d_ros.ros.nodes.forecast_node import ForecastNode

    node = ForecastNode(namespace="t")
    listener = Listener(
        ros, {"/t/tracks": Detection3DArray, "/t/forecasts": PathMsg, "/t/forecast_markers": MarkerArray}
    )
    publisher = listener.node.create_publisher(Detection3DArray, "/t/detections", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener.node)
    types = convert.RclpyTypes()
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        for step in range(12):
            stamp_ns = node.now_ns()
            detections = [
                Detection("can", np.eye(3), [0.02 * step, 0.0, 0.8], [0.07, 0.12, 0.07]),
                Detection("mug", np.eye(3), [-0.2, 0.01 * step, 0.9], [0.1, 0.1, 0.1]),
            ]
            publisher.publish(
                convert.detections_to_msg(detections, stamp_ns, "camera_color_optical_frame", types)
            )
            _spin_until(executor, lambda: False, 0.2)
        assert _spin_until(executor, lambda: len(listener.messages["/t/forecasts"]) >= 2, 30.0)
        tracks = listener.messages["/t/tracks"][-1]
        assert len(tracks.detections) == 2 and all(d.id for d in tracks.detections)
        path = listener.messages["/t/forecasts"][-1]
        assert path.header.frame_id == "camera_color_optical_frame" and len(path.poses) >= 1
        assert listener.messages["/t/forecast_markers"]
        summary = node.stats.summary(time.monotonic())
        assert float(summary.values["output_rate_hz"]) > 0, summary.values

        # The bag starts again (ros2 bag play -l): stamps jump back; tracking restarts, forecasts go on.
        before = len(listener.messages["/t/forecasts"])
        restart_ns = node.now_ns() - 60 * 10**9
        for step in range(8):
            detections = [Detection("can", np.eye(3), [0.02 * step, 0.0, 0.8], [0.07, 0.12, 0.07])]
            stamp_ns = restart_ns + step * 100_000_000
            publisher.publish(
                convert.detections_to_msg(detections, stamp_ns, "camera_color_optical_frame", types)
            )
            _spin_until(executor, lambda: False, 0.2)
        assert _spin_until(executor, lambda: len(listener.messages["/t/forecasts"]) > before, 30.0)
        assert node.pipeline.stages[0].tracker.resets == 1 and node.stats.failed == 0
    finally:
        node.teardown()
        executor.shutdown()
        node.destroy_node()
        listener.node.destroy_node()


def test_forecast_node_tracks_in_tracking_frame_through_tf2(ros) -> None:
    """A still can seen by a camera sliding 2 cm per frame along x (published on /tf as odom ->
    camera): with tracking_frame odom the track stands still, so the constant-velocity forecast
    stays where the camera sees the can now; messages without a transform are rejected by name."""
    from nav_msgs.msg import Path as PathMsg
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.nocs import Detection
    from diff9d_ros.ros import convert
    from diff9d_ros.ros.nodes.forecast_node import ForecastNode

    node = ForecastNode(
        namespace="t",
        parameter_overrides=[
            Parameter("tracking_frame", value="odom"),
            Parameter("forecast_backend", value="constant_velocity"),
            Parameter("tf_timeout_s", value=0.2),
        ],
    )
    listener = Listener(ros, {"/t/tracks": Detection3DArray, "/t/forecasts": PathMsg})
    publisher = listener.node.create_publisher(Detection3DArray, "/t/detections", 10)
    tf_pub = listener.node.create_publisher(TFMessage, "/tf", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener.node)
    types = convert.RclpyTypes()
    can_odom = np.array([0.3, 0.0, 1.0])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        start_ns = node.now_ns()
        for step in range(8):
            stamp_ns = start_ns + step * 100_000_000
            pose = np.eye(4)
            pose[0, 3] = 0.02 * step
            transform = convert.FrameTransform("odom", "camera_color_optical_frame", pose, stamp_ns)
            tf_pub.publish(convert.frame_transforms_to_tf([transform], types))
            _spin_until(executor, lambda: False, 0.1)
            seen = Detection("can", np.eye(3), can_odom - pose[:3, 3], [0.07, 0.12, 0.07])
            msg = convert.detections_to_msg([seen], stamp_ns, "camera_color_optical_frame", types)
            publisher.publish(msg)
            _spin_until(executor, lambda: False, 0.2)
        assert _spin_until(executor, lambda: len(listener.messages["/t/forecasts"]) >= 2, 30.0)
        path = listener.messages["/t/forecasts"][-1]
        last = convert.header_stamp_ns(listener.messages["/t/tracks"][-1].header)
        now_seen = can_odom[0] - 0.02 * round((last - start_ns) / 100_000_000)
        assert path.header.frame_id == "camera_color_optical_frame"
        xs = [p.pose.position.x for p in path.poses]
        np.testing.assert_allclose(xs, now_seen, atol=1e-6)  # still in odom: no apparent motion forecast

        invalid = node.stats.dropped_invalid
        orphan = Detection("can", np.eye(3), can_odom, [0.07, 0.12, 0.07])
        publisher.publish(convert.detections_to_msg([orphan], start_ns + 20 * 10**9, "elsewhere", types))
        assert _spin_until(executor, lambda: node.stats.dropped_invalid > invalid, 10.0)
        assert "elsewhere -> odom (tracking_frame)" in node.stats.last_error
    finally:
        node.teardown()
        executor.shutdown()
        node.destroy_node()
        listener.node.destroy_node()


def test_pose_and_grasp_nodes_on_rendered_frames(ros) -> None:
    from geometry_msgs.msg import PoseArray, PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3DArray
    from visualization_msgs.msg import MarkerArray

    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.ros import convert
    from diff9d_ros.ros.nodes.grasp_node import GraspNode
    from diff9d_ros.ros.nodes.pose_node import PoseNode
    from diff9d_ros.sources.synthetic import SyntheticSource

    source = SyntheticSource(seconds=0.2, fps=10, seed=3, intrinsics=Intrinsics.realsense_d435(320, 240))
    frames = [item.frame for item in source]
    pose = PoseNode(
        namespace="t",
        parameter_overrides=[
            Parameter("pose_backend", value="baseline"),
            Parameter("max_frame_age_s", value=5.0),
        ],
    )
    grasp = GraspNode(namespace="t")
    outputs = {
        "/t/detections": Detection3DArray,
        "/t/markers": MarkerArray,
        "/tf": TFMessage,
        "/t/grasps": PoseArray,
        "/t/grasp": PoseStamped,
        "/t/grasp_markers": MarkerArray,
    }
    listener = Listener(ros, outputs)
    publishers = {
        key: listener.node.create_publisher(msg_type, f"/t/{key}", 10)
        for key, msg_type in (("rgb/image", Image), ("depth/image", Image), ("rgb/camera_info", CameraInfo))
    }
    executor = SingleThreadedExecutor()
    for node in (pose, grasp, listener.node):
        executor.add_node(node)
    types = convert.RclpyTypes()
    frame_id = "camera_color_optical_frame"

    def send(frame, stamp_ns: int, depth_width: int | None = None) -> None:
        depth_m = frame.depth_m if depth_width is None else frame.depth_m[:, :depth_width]
        publishers["rgb/image"].publish(convert.rgb_to_image(frame.rgb, stamp_ns, frame_id, types))
        publishers["depth/image"].publish(convert.depth_to_image(depth_m, stamp_ns, frame_id, types, "16UC1"))
        publishers["rgb/camera_info"].publish(
            convert.intrinsics_to_camera_info(frame.intrinsics, stamp_ns, frame_id, types)
        )

    try:
        for node in (pose, grasp):
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        _spin_until(executor, lambda: False, 1.0)  # discovery
        # a malformed set (depth narrower than CameraInfo) is counted and logged, the node goes on
        send(frames[0], pose.now_ns(), depth_width=100)
        assert _spin_until(executor, lambda: pose.stats.dropped_invalid == 1, 10.0)
        # a set stamped long ago is stale on arrival
        send(frames[0], pose.now_ns() - 60_000_000_000)
        assert _spin_until(executor, lambda: pose.stats.dropped_stale == 1, 10.0)
        stamps = []
        for frame in frames:
            stamps.append(pose.now_ns())
            send(frame, stamps[-1])
            count = len(listener.messages["/t/grasps"])
            assert _spin_until(executor, lambda c=count: len(listener.messages["/t/grasps"]) > c, 60.0), (
                pose.stats.summary(time.monotonic()).values,
                grasp.stats.summary(time.monotonic()).values,
            )
        detections = listener.messages["/t/detections"]
        assert [convert.header_stamp_ns(d.header) for d in detections] == stamps
        assert all(len(d.detections) >= 1 for d in detections)
        assert all(d.header.frame_id == frame_id for d in detections)
        assert listener.messages["/t/markers"] and listener.messages["/tf"]
        children = {t.child_frame_id for m in listener.messages["/tf"] for t in m.transforms}
        assert {f"object_{i}" for i in range(len(detections[-1].detections))} <= children
        grasps = listener.messages["/t/grasps"][-1]
        assert convert.header_stamp_ns(grasps.header) == stamps[-1] and len(grasps.poses) >= 1
        _spin_until(executor, lambda: len(listener.messages["/t/grasp"]) == len(frames), 10.0)
        (best,) = [
            m for m in listener.messages["/t/grasp"] if convert.header_stamp_ns(m.header) == stamps[-1]
        ]
        np.testing.assert_allclose(
            convert.pose_stamped_to_transform(best), convert.pose_array_to_transforms(grasps)[0], atol=1e-9
        )
        assert listener.messages["/t/grasp_markers"]
        assert pose.stats.processed == len(frames) and pose.stats.failed == 0
    finally:
        for node in (pose, grasp):
            node.teardown()
        executor.shutdown()
        for node in (pose, grasp, listener.node):
            node.destroy_node()


def test_grasp_node_plans_grasps_on_request(ros) -> None:
    pytest.importorskip("moveit_msgs", reason="needs moveit_msgs: apt install ros-<distro>-moveit-msgs")
    from geometry_msgs.msg import PoseArray
    from moveit_msgs.srv import GraspPlanning
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.grasp.gripper import load_gripper
    from diff9d_ros.grasp.on_request import GraspRequests
    from diff9d_ros.pipeline import PipelineConfig
    from diff9d_ros.ros import convert
    from diff9d_ros.ros.convert_grasp_planning import (
        FAILURE,
        INVALID_OBJECT_NAME,
        SUCCESS,
        UNABLE_TO_AQUIRE_SENSOR_DATA,
        grasp_planning_request,
        response_grasps,
    )
    from diff9d_ros.ros.frames import frame_from_messages
    from diff9d_ros.ros.nodes.grasp_node import GraspNode
    from diff9d_ros.sources.synthetic import SyntheticSource
    from diff9d_ros.stages import build_stages

    item = next(
        iter(SyntheticSource(seconds=0.1, fps=10, seed=3, intrinsics=Intrinsics.realsense_d435(320, 240)))
    )
    truth = item.truth  # detections with ids, as the forecast node's tracks carry them
    grasp = GraspNode(namespace="t", parameter_overrides=[Parameter("grasp_per_frame", value=False)])
    listener = Listener(ros, {"/t/grasps": PoseArray})
    publishers = {
        key: listener.node.create_publisher(msg_type, f"/t/{key}", 10)
        for key, msg_type in (
            ("rgb/image", Image),
            ("depth/image", Image),
            ("rgb/camera_info", CameraInfo),
            ("detections", Detection3DArray),
        )
    }
    client = listener.node.create_client(GraspPlanning, "/t/grasp_node/plan_grasps")
    executor = MultiThreadedExecutor(num_threads=2)  # as spin_node runs grasp_node
    for node in (grasp, listener.node):
        executor.add_node(node)
    types = convert.RclpyTypes()
    gripper = load_gripper()

    def call(object_id: str, **unused):
        request = grasp_planning_request(object_id, types)
        for name, value in unused.items():
            setattr(request, name, value)
        future = client.call_async(request)
        assert _spin_until(executor, future.done, 60.0), "no answer from ~/plan_grasps"
        return future.result()

    try:
        assert grasp._service.callback_group is not grasp.default_callback_group
        assert _spin_until(executor, lambda: client.service_is_ready(), 10.0)
        assert call("").error_code.val == FAILURE  # the service is there before the node is active
        assert grasp.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert grasp.trigger_activate() == TransitionCallbackReturn.SUCCESS
        first = call("")
        assert first.error_code.val == UNABLE_TO_AQUIRE_SENSOR_DATA and len(first.grasps) == 0

        stamp = grasp.now_ns()
        frame_id = item.frame.frame_id
        messages = (
            convert.rgb_to_image(item.frame.rgb, stamp, frame_id, types),
            convert.depth_to_image(item.frame.depth_m, stamp, frame_id, types, "16UC1"),
            convert.intrinsics_to_camera_info(item.frame.intrinsics, stamp, frame_id, types),
        )
        for key, msg in zip(("rgb/image", "depth/image", "rgb/camera_info"), messages, strict=True):
            publishers[key].publish(msg)
        _spin_until(executor, lambda: len(grasp.frames) == 1, 10.0)
        publishers["detections"].publish(convert.detections_to_msg(truth, stamp, frame_id, types))
        assert _spin_until(executor, lambda: grasp.stats.processed == 1, 30.0)

        # the same frame as the node sees it (depth in mm), planned without ROS
        (stage,) = build_stages(PipelineConfig(), ["grasp"])
        expected = GraspRequests(stage)
        expected.offer(frame_from_messages(*messages), truth)
        reference = expected.plan([], stamp)
        everything = call("")
        assert everything.error_code.val == SUCCESS and len(everything.grasps) >= 1
        for msg in everything.grasps:
            header = msg.grasp_pose.header
            assert convert.header_stamp_ns(header) == stamp and header.frame_id == frame_id
        got = response_grasps(everything, gripper)
        assert [p.object_id for p in got] == [p.object_id for p in reference.grasps]
        for planned, want in zip(got, reference.grasps, strict=True):
            np.testing.assert_allclose(planned.grasp.pose, want.grasp.pose, atol=1e-9)
            assert planned.grasp.score == pytest.approx(want.grasp.score, rel=1e-9)

        chosen = got[0].object_id
        some = call(chosen, group_name="arm", support_surfaces=["table"])  # not used: same answer
        assert some.error_code.val == SUCCESS
        assert {g.id.rsplit("/", 1)[0] for g in some.grasps} == {chosen}
        assert [g.id for g in some.grasps] == [f"{chosen}/{rank}" for rank in range(len(some.grasps))]
        unknown = call("no_such_object")
        assert unknown.error_code.val == INVALID_OBJECT_NAME and len(unknown.grasps) == 0
        assert listener.messages["/t/grasps"] == []  # grasp_per_frame off: nothing planned per frame
    finally:
        grasp.teardown()
        executor.shutdown()
        grasp.destroy_node()
        listener.node.destroy_node()


def test_grasp_node_without_the_service_type_says_so_once(ros, monkeypatch, capfd) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    from diff9d_ros.ros.nodes.grasp_node import GraspNode

    monkeypatch.setitem(sys.modules, "moveit_msgs", None)  # as where it is not installed
    monkeypatch.setitem(sys.modules, "moveit_msgs.srv", None)
    grasp = GraspNode(namespace="t")
    try:
        assert grasp.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert grasp.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert not any(s.srv_name.endswith("plan_grasps") for s in grasp.services)
        assert grasp.outputs["grasps"] is not None  # the topic path is unchanged
    finally:
        grasp.teardown()
        grasp.destroy_node()
    lines = [line for line in capfd.readouterr().err.splitlines() if "plan_grasps" in line]
    assert len(lines) == 1 and "service ~/plan_grasps is off" in lines[0]
    assert "moveit_msgs/srv/GraspPlanning" in lines[0] and "ros-<distro>-moveit-msgs" in lines[0]
