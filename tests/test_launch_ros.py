"""The launch files under real launch / launch_ros (marker ``ros``; skipped without ROS 2).

The package is exposed to ament through a temporary install prefix (share/diff9d_ros linking to
this checkout, lib/diff9d_ros/<node> running this interpreter), the way colcon installs it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.ros.topics import NODE_TOPICS

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    prefix = tmp_path / "install"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "diff9d_ros").write_text("", encoding="utf-8")
    share = prefix / "share" / "diff9d_ros"
    share.mkdir()
    for name in ("package.xml", "sim", "urdf"):
        (share / name).symlink_to(ROOT / name)
    for folder in ("launch", "config"):  # real folders, as colcon installs them (ros2 launch walks them)
        (share / folder).mkdir()
        for path in (ROOT / folder).iterdir():
            (share / folder / path.name).symlink_to(path)
    lib = prefix / "lib" / "diff9d_ros"
    lib.mkdir(parents=True)
    for node in NODE_TOPICS:
        script = lib / node
        script.write_text(f"#!{sys.executable}\nfrom diff9d_ros.ros.nodes.{node} import main\nmain()\n")
        script.chmod(0o755)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{prefix}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return prefix


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize("name", ["robot", "sim", "bag", "nodes"])
def test_launch_descriptions_build_with_their_arguments(prefix: Path, name: str) -> None:
    description = _load(prefix / "share" / "diff9d_ros" / "launch" / f"{name}.launch.py")
    arguments = {argument.name for argument in description.get_launch_arguments()}
    assert {"namespace", "device", "pose_model_path", "forecast_model_path"} <= arguments
    if name != "sim":
        assert {"rgb_topic", "depth_topic", "camera_info_topic"} <= arguments
    if name == "bag":
        assert "bag" in arguments
    if name == "sim":
        assert "world" in arguments


def test_ros2_launch_configures_and_activates_the_camera_node(prefix: Path, tmp_path: Path) -> None:
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from tests.test_nodes_ros import _record

    recording = tmp_path / "software.db3"
    _record(recording, frames=60)
    params = tmp_path / "params.yaml"
    params.write_text(
        (ROOT / "config" / "diff9d.yaml")
        .read_text(encoding="utf-8")
        .replace('recording: ""', f'recording: "{recording}"'),
        encoding="utf-8",
    )
    command = [
        "ros2",
        "launch",
        "diff9d_ros",
        "nodes.launch.py",
        "namespace:=lt",
        f"params_file:={params}",
        "use_camera:=true",
        "use_pose:=false",
        "use_grasp:=false",
        "use_forecast:=false",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    rclpy.init()
    node = rclpy.create_node("launch_test_listener")
    images = []
    node.create_subscription(Image, "/lt/rgb/image", images.append, qos_profile_sensor_data)
    try:
        deadline = time.monotonic() + 40.0
        while time.monotonic() < deadline and not images and process.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0]
    assert images, f"no image from the launched camera_node; launch output:\n{output[-4000:]}"
    assert images[0].encoding == "rgb8" and images[0].header.frame_id == "camera_color_optical_frame"
    assert np.frombuffer(bytes(images[0].data), np.uint8).max() == 120
    assert "activated" in output


def _record_rendered(path: Path, frames: int, period_ms: float) -> None:
    """A RealSense recording (software device) of rendered tabletop frames, one per ``period_ms``."""
    import pyrealsense2 as rs

    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.sources.synthetic import SyntheticSource
    from tests.realsense_software import SoftwareD400, make_intrinsics

    intrinsics = Intrinsics.realsense_d435(320, 240)
    rendered = [item.frame for item in SyntheticSource(seconds=0.5, fps=10, seed=3, intrinsics=intrinsics)]
    intr = make_intrinsics(320, 240, intrinsics.fx)
    camera = SoftwareD400(intr, intr, baseline_m=0.0)
    recorder = rs.recorder(str(path), camera.device)
    camera.start(recorder.query_sensors())
    for i in range(frames):
        frame = rendered[i % len(rendered)]
        depth_mm = np.where(np.isfinite(frame.depth_m), np.rint(frame.depth_m * 1000.0), 0).astype(np.uint16)
        camera.push(depth_mm, frame.rgb, i, stamp_ms=period_ms * i)
        time.sleep(period_ms / 1000.0)  # playback reproduces the recording's arrival times
    camera.stop()
    del recorder


@pytest.mark.slow
def test_ros2_launch_runs_the_whole_stack_on_a_recording(prefix: Path, tmp_path: Path) -> None:
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    import rclpy
    from geometry_msgs.msg import PoseArray
    from nav_msgs.msg import Path as PathMsg
    from rclpy.qos import qos_profile_sensor_data
    from vision_msgs.msg import Detection3DArray

    recording = tmp_path / "rendered.db3"
    _record_rendered(recording, frames=80, period_ms=250.0)  # 20 s at 4 Hz: model loading takes seconds
    text = (ROOT / "config" / "diff9d.yaml").read_text(encoding="utf-8")
    text = text.replace('recording: ""', f'recording: "{recording}"')
    text = text.replace("pose_backend: auto", "pose_backend: baseline")
    text = text.replace("forecast_backend: auto", "forecast_backend: constant_velocity")
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    command = ["ros2", "launch", "diff9d_ros", "nodes.launch.py", "namespace:=st", f"params_file:={params}"]
    command.append("use_camera:=true")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    rclpy.init()
    node = rclpy.create_node("stack_test_listener")
    received: dict[str, list] = {"detections": [], "grasps": [], "tracks": [], "forecasts": []}
    needed = {"detections": 3, "grasps": 1, "tracks": 3, "forecasts": 1}
    for topic, msg_type in (
        ("detections", Detection3DArray),
        ("grasps", PoseArray),
        ("tracks", Detection3DArray),
        ("forecasts", PathMsg),
    ):
        node.create_subscription(msg_type, f"/st/{topic}", received[topic].append, qos_profile_sensor_data)
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and process.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
            if all(len(messages) >= needed[topic] for topic, messages in received.items()):
                break
    finally:
        node.destroy_node()
        rclpy.shutdown()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0]
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert all(counts[topic] >= needed[topic] for topic in counts), f"{counts}\n{output[-6000:]}"
    assert any(len(d.detections) for d in received["detections"])
    assert any(len(g.poses) for g in received["grasps"])
    assert any(d.id for t in received["tracks"] for d in t.detections)
    assert output.count("activated") >= 4
