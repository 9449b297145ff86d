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

from diff9d_ros.ros.convert_std import header_stamp_ns
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
    if name != "nodes":
        assert "rviz" in arguments
    if name == "sim":
        assert "world" in arguments


def test_ros2_launch_configures_and_activates_the_camera_node(prefix: Path, tmp_path: Path) -> None:
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    from sensor_msgs.msg import Image

    from tests.test_nodes_ros import _record

    recording = tmp_path / "software.db3"
    _record(recording, frames=60)
    params = _baseline_params(tmp_path, recording)  # only camera_node runs: the backends do not matter
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
    topic = "/lt/rgb/image"
    received, output = _launch_and_listen(command, {topic: Image}, {topic: 1}, tmp_path / "launch.log", 40.0)
    images = received[topic]
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


def _baseline_params(tmp_path: Path, recording: Path | None = None) -> Path:
    """config/diff9d.yaml with the fast baseline pose and constant-velocity forecast backends."""
    text = (ROOT / "config" / "diff9d.yaml").read_text(encoding="utf-8")
    if recording is not None:
        text = text.replace('recording: ""', f'recording: "{recording}"')
    text = text.replace("pose_backend: auto", "pose_backend: baseline")
    text = text.replace("forecast_backend: auto", "forecast_backend: constant_velocity")
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    return params


def _launch_and_listen(
    command: list[str], topics: dict[str, type], needed: dict[str, int], log_path: Path, timeout_s: float
) -> tuple[dict[str, list], str]:
    """Run ``command`` (``ros2 launch ...``), collect messages on ``topics`` until each topic in
    ``needed`` has that many (or ``timeout_s`` passed), stop the launch with SIGINT, and return the
    messages and the launch output (written to ``log_path``, so a chatty launch never blocks on a pipe).
    """
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node("launch_test_listener")
    received: dict[str, list] = {topic: [] for topic in topics}
    for topic, msg_type in topics.items():
        node.create_subscription(msg_type, topic, received[topic].append, qos_profile_sensor_data)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
            if all(len(received[topic]) >= count for topic, count in needed.items()):
                break
    finally:
        node.destroy_node()
        rclpy.shutdown()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return received, log_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_ros2_launch_runs_the_whole_stack_on_a_recording(prefix: Path, tmp_path: Path) -> None:
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    from geometry_msgs.msg import PoseArray
    from nav_msgs.msg import Path as PathMsg
    from vision_msgs.msg import Detection3DArray

    recording = tmp_path / "rendered.db3"
    _record_rendered(recording, frames=80, period_ms=250.0)  # 20 s at 4 Hz: model loading takes seconds
    params = _baseline_params(tmp_path, recording)
    command = ["ros2", "launch", "diff9d_ros", "nodes.launch.py", "namespace:=st", f"params_file:={params}"]
    command.append("use_camera:=true")
    topics = {
        "/st/detections": Detection3DArray,
        "/st/grasps": PoseArray,
        "/st/tracks": Detection3DArray,
        "/st/forecasts": PathMsg,
    }
    needed = {"/st/detections": 3, "/st/grasps": 1, "/st/tracks": 3, "/st/forecasts": 1}
    received, output = _launch_and_listen(command, topics, needed, tmp_path / "launch.log", 120.0)
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert all(counts[topic] >= needed[topic] for topic in needed), f"{counts}\n{output[-6000:]}"
    assert any(len(d.detections) for d in received["/st/detections"])
    assert any(len(g.poses) for g in received["/st/grasps"])
    assert any(d.id for t in received["/st/tracks"] for d in t.detections)
    assert output.count("activated") >= 4


@pytest.mark.slow
def test_ros2_launch_bag_replays_a_rosbag2_on_its_clock(prefix: Path, tmp_path: Path) -> None:
    """``bag.launch.py`` plays a rendered sqlite3 bag with ``ros2 bag play --clock`` once the nodes are
    active; results carry the bag's stamps and /diagnostics the bag's clock (use_sim_time)."""
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    if any(importlib.util.find_spec(name) is None for name in ("ros2bag", "rosbag2_py")):
        pytest.skip(
            "`ros2 bag` is not installed (ros2bag / rosbag2_py not importable): build or install rosbag2"
        )
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseArray
    from nav_msgs.msg import Path as PathMsg
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.bag.io import read_messages
    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.bag import TOPICS, write_sequence_bag

    bag = write_sequence_bag(
        tmp_path / "bag",
        seconds=3.0,
        fps=10.0,
        storage="sqlite3",
        seed=3,
        intrinsics=Intrinsics.realsense_d435(320, 240),
        progress=False,
    )
    frame_stamps_ns = {stamp_ns for _, stamp_ns, _ in read_messages(bag, [TOPICS["rgb"]])}
    command = [
        "ros2",
        "launch",
        "diff9d_ros",
        "bag.launch.py",
        f"bag:={bag}",
        "namespace:=bt",
        f"params_file:={_baseline_params(tmp_path)}",
        f"rgb_topic:={TOPICS['rgb']}",
        f"depth_topic:={TOPICS['depth']}",
        f"camera_info_topic:={TOPICS['camera_info']}",
        "start_delay_s:=90.0",  # playback must be started by the nodes becoming active, not by this
        "rate:=0.3",  # 10 s of wall time: a 2-core CI machine runs pose + grasp at about 1 Hz
    ]
    topics = {
        "/bt/detections": Detection3DArray,
        "/bt/grasps": PoseArray,
        "/bt/tracks": Detection3DArray,
        "/bt/forecasts": PathMsg,
        "/diagnostics": DiagnosticArray,
    }
    needed = {"/bt/detections": 3, "/bt/grasps": 1, "/bt/tracks": 3, "/bt/forecasts": 1, "/diagnostics": 6}
    received, output = _launch_and_listen(command, topics, needed, tmp_path / "launch.log", 90.0)
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert all(counts[topic] >= needed[topic] for topic in needed), f"{counts}\n{output[-6000:]}"
    for topic in ("/bt/detections", "/bt/tracks", "/bt/grasps"):
        stamps_ns = {header_stamp_ns(msg.header) for msg in received[topic]}
        assert stamps_ns <= frame_stamps_ns, f"{topic} stamps are not those of the bag's frames"
    assert any(len(d.detections) for d in received["/bt/detections"])
    # /diagnostics is stamped with the node clock: under use_sim_time, the bag's /clock (2023),
    # not the wall clock.
    ours = [a for a in received["/diagnostics"] if a.status and a.status[0].name.startswith("/bt/")]
    first_ns, last_ns = min(frame_stamps_ns), max(frame_stamps_ns)
    assert ours and all(first_ns <= header_stamp_ns(a.header) <= last_ns + 10**9 for a in ours)
    assert {a.status[0].name for a in ours} >= {"/bt/pose_node", "/bt/grasp_node", "/bt/forecast_node"}
    # The player starts after the three nodes report "activated".
    played_at = output.index("rosbag2_player")
    assert output.count("activated", 0, played_at) == 3, output[-6000:]


@pytest.mark.slow
@pytest.mark.parametrize("loop", [False, True], ids=["once", "looped"])
def test_ros2_launch_people_forecasts_a_people_bag(prefix: Path, tmp_path: Path, loop: bool) -> None:
    """``people.launch.py`` plays a people bag (detections in a camera frame, /tf, /clock) to
    people_forecast_node once it is active: one Path per person in ``map``, stamped on the bag's
    clock; looped (``-l``), the clock jumps back and the node keeps forecasting."""
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    if any(importlib.util.find_spec(name) is None for name in ("ros2bag", "rosbag2_py")):
        pytest.skip("`ros2 bag` is not installed (ros2bag / rosbag2_py not importable)")
    from nav_msgs.msg import Path as PathMsg
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.sources.people import SENSOR_FRAME, write_people_bag
    from tests.test_people import fake_scene

    root = fake_scene(tmp_path / "eth_ucy")
    bag = tmp_path / "people_bag"
    write_people_bag(root, "zara1", bag, frame=SENSOR_FRAME, storage="sqlite3", progress=False)
    command = [
        "ros2",
        "launch",
        "diff9d_ros",
        "people.launch.py",
        f"bag:={bag}",
        "namespace:=pt",
        f"params_file:={_baseline_params(tmp_path)}",
        f"loop:={'true' if loop else 'false'}",
    ]
    # 2.5 Hz: newest-message-wins drops what a loaded machine cannot keep up with, so ask for a part
    topics = {"/pt/people/forecasts": PathMsg, "/pt/people/tracks": Detection3DArray}
    needed = {"/pt/people/forecasts": 20, "/pt/people/tracks": 55 if loop else 12}
    received, output = _launch_and_listen(command, topics, needed, tmp_path / "launch.log", 90.0)
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert all(counts[topic] >= needed[topic] for topic in needed), f"{counts}\n{output[-6000:]}"
    paths = received["/pt/people/forecasts"]
    assert {p.header.frame_id for p in paths} == {"map"} and all(len(p.poses) == 12 for p in paths)
    stamps = [header_stamp_ns(t.header) for t in received["/pt/people/tracks"]]
    bag_stamps = 1_000_000_000 + 400_000_000 * np.arange(40)
    assert set(stamps) <= set(bag_stamps.tolist())
    if loop:
        jumps = [i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]]
        assert jumps, "the loop never restarted the clock"
        assert len(stamps) - jumps[0] >= 5, "no people tracked after the bag started over"
