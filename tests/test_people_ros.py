"""The people path under a real rclpy and tf2 (marker ``ros``; skipped where ROS 2 is not sourced).

tf2's own buffer must agree with the ROS-free :class:`TransformTree`; ``people_forecast_node`` takes
person detections in a camera frame, moves them into ``map`` through tf2 and publishes one Path per
person stamped at the forecast times, and starts over when the clock jumps back (a looped bag).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_nodes_ros import _spin_until
from tests.test_people import scripted_tree

pytestmark = pytest.mark.ros


@pytest.fixture
def ros():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.shutdown()


def _stamped(parent: str, child: str, transform: np.ndarray, stamp_ns: int):
    from diff9d_ros.ros import convert

    msg = convert.frame_transforms_to_tf(
        [convert.FrameTransform(parent, child, transform, stamp_ns)], convert.RclpyTypes()
    )
    return msg.transforms[0]


def test_tf2_buffer_agrees_with_the_transform_tree() -> None:
    from rclpy.time import Time
    from tf2_ros.buffer import Buffer

    from diff9d_ros.ros import convert

    tree = scripted_tree()
    buffer = Buffer()
    for parent, child, stamp, transform in tree.edges():
        stamped = _stamped(parent, child, transform, stamp)
        if child == "camera":
            buffer.set_transform_static(stamped, "test")
        else:
            buffer.set_transform(stamped, "test")
    for stamp in (0, 500_000_000, 1_000_000_000, 2_000_000_000):
        answer = buffer.lookup_transform("map", "camera", Time(nanoseconds=stamp))
        got = convert.transform_stamped_to_frame_transform(answer).transform
        np.testing.assert_allclose(got, tree.lookup("map", "camera", stamp), atol=1e-9)


def test_people_node_forecasts_camera_frame_people_in_map(ros, tmp_path: Path) -> None:
    from nav_msgs.msg import Path as PathMsg
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.nocs import Detection
    from diff9d_ros.ros import convert
    from diff9d_ros.ros.nodes.people_forecast_node import PeopleForecastNode
    from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig

    torch.manual_seed(0)
    model = tmp_path / "people.pt"
    GeoTDM(GeoTDMConfig(node_dim=1, edge_dim=0, num_obs=8, num_future=12, hidden_dim=16, num_layers=2)).save(
        model, task="zara1", planar=True
    )
    node = PeopleForecastNode(
        namespace="t",
        parameter_overrides=[
            Parameter("people_model_path", value=str(model)),
            Parameter("forecast_samples", value=4),
            Parameter("tf_timeout_s", value=0.5),
        ],
    )
    listener = ros.create_node("people_listener")
    got: dict[str, list] = defaultdict(list)
    for topic, msg_type in (("/t/people/forecasts", PathMsg), ("/t/people/tracks", Detection3DArray)):
        listener.create_subscription(msg_type, topic, lambda m, t=topic: got[t].append(m), 10)
    people_pub = listener.create_publisher(Detection3DArray, "/t/people", 10)
    tf_pub = listener.create_publisher(TFMessage, "/tf", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener)
    types = convert.RclpyTypes()
    tree = scripted_tree()
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        start_ns = node.now_ns()
        walkers = np.array([[4.0, 1.0, 0.0], [6.0, -1.0, 0.0]])
        velocity = np.array([[0.5, 0.0, 0.0], [0.0, 0.4, 0.0]])
        for k in range(6):
            stamp = start_ns + k * 400_000_000
            edges = [
                _stamped(parent, child, tree.lookup(parent, child, 0), stamp)
                for parent, child, *_ in tree.edges()
            ]
            tf_pub.publish(TFMessage(transforms=edges))
            to_camera = np.linalg.inv(tree.lookup("map", "camera", 0))
            in_map = walkers + k * velocity
            seen = [
                Detection(
                    "person",
                    to_camera[:3, :3],
                    to_camera[:3, :3] @ p + to_camera[:3, 3],
                    [0.5, 0.5, 1.7],
                    track_id=f"p{i}",
                )
                for i, p in enumerate(in_map)
            ]
            _spin_until(executor, lambda: False, 0.1)
            people_pub.publish(convert.detections_to_msg(seen, stamp, "camera", types))
            _spin_until(executor, lambda: False, 0.3)
        assert _spin_until(executor, lambda: len(got["/t/people/forecasts"]) >= 2, 30.0), dict(got)
        tracks = got["/t/people/tracks"][-1]
        assert tracks.header.frame_id == "map"
        centres = sorted(
            (d.id, d.bbox.center.position.x, d.bbox.center.position.y) for d in tracks.detections
        )
        last = convert.header_stamp_ns(tracks.header)
        k = round((last - start_ns) / 400_000_000)
        np.testing.assert_allclose([c[1:] for c in centres], (walkers + k * velocity)[:, :2], atol=1e-6)
        path = got["/t/people/forecasts"][-1]
        stamps = [convert.header_stamp_ns(p.header) for p in path.poses]
        assert path.header.frame_id == "map" and len(stamps) == 12
        assert np.all(np.diff(stamps) == 400_000_000)
    finally:
        node.teardown()
        executor.shutdown()
        node.destroy_node()
        listener.destroy_node()
