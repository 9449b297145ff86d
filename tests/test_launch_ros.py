"""The launch files under real launch / launch_ros (marker ``ros``; skipped without ROS 2).

The package is exposed to ament through a temporary install prefix (share/diff9d_ros linking to
this checkout, lib/diff9d_ros/<node> running this interpreter), the way colcon installs it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

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
    _assert_clean_exit(output, ["camera_node"])


def _change_state(node, client, transition_id: int) -> bool:
    """Ask a lifecycle node (through ``client``, its change_state service) for one transition."""
    import rclpy
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request()
    request.transition.id = transition_id
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=60.0)
    return future.done() and future.result().success


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("node_name", "parameters"),
    [("forecast_node", ["forecast_backend:=constant_velocity"]), ("grasp_node", [])],
    ids=["single_threaded", "grasp_node_two_threads"],
)
def test_an_active_node_process_ends_cleanly_on_a_signal(
    prefix: Path, tmp_path: Path, signum, node_name: str, parameters: list[str]
) -> None:
    """A node process (as ``ros2 run`` starts it), configured and activated, ends within launch's 5 s
    grace after SIGINT or SIGTERM, with status 0 and no traceback; on one executor thread
    (forecast_node) and on two (grasp_node)."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    script = prefix / "lib" / "diff9d_ros" / node_name
    namespace = f"/signal_{signum.name.lower()}"
    command = [str(script), "--ros-args", "-r", f"__ns:={namespace}"]
    for parameter in parameters:
        command += ["-p", parameter]
    log_path = tmp_path / "node.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    rclpy.init()
    node = rclpy.create_node("signal_test_client")
    try:
        client = node.create_client(ChangeState, f"{namespace}/{node_name}/change_state")
        assert client.wait_for_service(timeout_sec=60.0), log_path.read_text(encoding="utf-8")
        assert _change_state(node, client, Transition.TRANSITION_CONFIGURE)
        assert _change_state(node, client, Transition.TRANSITION_ACTIVATE)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        process.send_signal(signum)
    try:
        returncode = process.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"{node_name} still runs 5 s after {signum.name}:\n{log_path.read_text(encoding='utf-8')}"
        )
    output = log_path.read_text(encoding="utf-8")
    assert returncode == 0 and "Traceback" not in output, output
    assert "activated" in output


def _lifecycle_state(node, client) -> str:
    """The label of a lifecycle node's current state (``"unknown"`` while it does not answer)."""
    import rclpy
    from lifecycle_msgs.srv import GetState

    future = client.call_async(GetState.Request())
    rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
    return future.result().current_state.label if future.done() else "unknown"


def test_after_an_operators_cleanup_and_configure_the_launched_node_waits_for_activate(
    prefix: Path, tmp_path: Path
) -> None:
    """Only the launch-time activation is automatic: ``deactivate``, ``cleanup``, ``configure`` by an
    operator leave the node ``inactive`` until the operator's ``activate``."""
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    command = ["ros2", "launch", "diff9d_ros", "nodes.launch.py", "namespace:=lc"]
    command += [f"params_file:={_baseline_params(tmp_path)}", "use_camera:=false", "use_pose:=false"]
    command += ["use_grasp:=false", "use_forecast:=true"]
    log_path = tmp_path / "launch.log"
    with _launched(command, log_path, "lifecycle_operator") as (node, _):
        get = node.create_client(GetState, "/lc/forecast_node/get_state")
        change = node.create_client(ChangeState, "/lc/forecast_node/change_state")
        assert get.wait_for_service(timeout_sec=60.0), log_path.read_text(encoding="utf-8")
        deadline = time.monotonic() + 60.0
        while _lifecycle_state(node, get) != "active" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _lifecycle_state(node, get) == "active", log_path.read_text(encoding="utf-8")
        for transition in (
            Transition.TRANSITION_DEACTIVATE,
            Transition.TRANSITION_CLEANUP,
            Transition.TRANSITION_CONFIGURE,
        ):
            assert _change_state(node, change, transition), transition
        time.sleep(2.0)  # the launch file's handler would have fired by now
        assert _lifecycle_state(node, get) == "inactive"
        assert _change_state(node, change, Transition.TRANSITION_ACTIVATE)
        assert _lifecycle_state(node, get) == "active"
    _assert_clean_exit(log_path.read_text(encoding="utf-8"), ["forecast_node"])


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
    params = yaml.safe_load((ROOT / "config" / "diff9d.yaml").read_text(encoding="utf-8"))
    changes = {
        "camera_node": {"recording": str(recording or "")},
        "pose_node": {"pose_backend": "baseline"},
        "forecast_node": {"forecast_backend": "constant_velocity"},
    }
    for node, values in changes.items():
        node_params = params[f"/**/{node}"]["ros__parameters"]
        assert set(values) <= set(node_params), (node, values)
        node_params.update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@contextlib.contextmanager
def _launched(command: list[str], log_path: Path, node_name: str) -> Iterator[Any]:
    """Run ``command`` (``ros2 launch ...``, output to ``log_path``, so a chatty launch never blocks on
    a pipe) beside an rclpy node ``node_name`` of the test; on leaving, destroy the node and stop the
    launch with SIGINT to its process group (a terminal's Ctrl-C)."""
    import rclpy

    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node(node_name)
    try:
        yield node, process
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


def _launch_and_listen(
    command: list[str],
    topics: dict[str, type],
    needed: dict[str, int],
    log_path: Path,
    timeout_s: float,
    until: Callable[[dict[str, list]], bool] | None = None,
) -> tuple[dict[str, list], str]:
    """Run ``command`` (see :func:`_launched`), collect messages on ``topics`` until each topic in
    ``needed`` has that many and ``until`` (if given) holds, or ``timeout_s`` passed; stop the launch,
    and return the messages and the launch output."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    received: dict[str, list] = {topic: [] for topic in topics}
    with _launched(command, log_path, "launch_test_listener") as (node, process):
        for topic, msg_type in topics.items():
            node.create_subscription(msg_type, topic, received[topic].append, qos_profile_sensor_data)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
            if all(len(received[topic]) >= count for topic, count in needed.items()) and (
                until is None or until(received)
            ):
                break
    return received, log_path.read_text(encoding="utf-8")


def _assert_clean_exit(output: str, processes: list[str]) -> None:
    """Every one of ``processes`` (launch's names, e.g. ``pose_node``) ended by itself after SIGINT:
    within launch's 5 s grace (launch escalates to SIGTERM after it), with status 0, no traceback.

    On a busy CPU, asyncio's child watcher in ``ros2 launch`` now and then loses a child's exit status
    (``Unknown child process pid N, will report returncode 255``); such a process ended in time too,
    with a status nobody can read."""
    tail = output[output.rfind("user interrupted") :] if "user interrupted" in output else output
    assert "Traceback" not in output, output[-6000:]
    assert "SIGTERM" not in tail and "SIGKILL" not in tail, tail[-3000:]
    lost = {
        int(pid) for pid in re.findall(r"Unknown child process pid (\d+), will report returncode 255", tail)
    }
    for process in processes:
        if re.search(rf"\[{process}-\d+\]: process has finished cleanly", output):
            continue
        died = re.search(rf"\[{process}-\d+\]: process has died \[pid (\d+), exit code 255", tail)
        assert died and int(died.group(1)) in lost, (process, tail[-3000:])


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
    command += ["use_camera:=true", "start_delay_s:=150.0"]  # the camera waits for the nodes, not the timer
    topics = {
        "/st/detections": Detection3DArray,
        "/st/grasps": PoseArray,
        "/st/tracks": Detection3DArray,
        "/st/forecasts": PathMsg,
    }
    needed = {"/st/detections": 3, "/st/grasps": 1, "/st/tracks": 3, "/st/forecasts": 1}
    received, output = _launch_and_listen(command, topics, needed, tmp_path / "launch.log", 200.0)
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert all(counts[topic] >= needed[topic] for topic in needed), f"{counts}\n{output[-6000:]}"
    assert any(len(d.detections) for d in received["/st/detections"])
    assert any(len(g.poses) for g in received["/st/grasps"])
    assert any(d.id for t in received["/st/tracks"] for d in t.detections)
    # The recording starts once the consumers are active, and Ctrl-C ends every node within launch's
    # 5 s grace (no escalation to SIGTERM).
    camera_at = output.index("[st.camera_node]: activated")
    for node in ("pose_node", "grasp_node", "forecast_node"):
        assert output.index(f"[st.{node}]: activated") < camera_at, output[-6000:]
    _assert_clean_exit(output, ["camera_node", "pose_node", "grasp_node", "forecast_node"])


def _rendered_bag(tmp_path: Path, seconds: float) -> Path:
    """A sqlite3 bag of ``diff9d synth bag`` (10 Hz, 320x240); skips where ``ros2 bag`` is missing."""
    if shutil.which("ros2") is None:
        pytest.skip("ros2 command line (ros2cli, ros2launch) is not installed")
    if any(importlib.util.find_spec(name) is None for name in ("ros2bag", "rosbag2_py")):
        pytest.skip(
            "`ros2 bag` is not installed (ros2bag / rosbag2_py not importable): build or install rosbag2"
        )
    from diff9d_ros.bag.synthetic import write_sequence_bag
    from diff9d_ros.geometry.camera import Intrinsics

    return write_sequence_bag(
        tmp_path / "bag",
        seconds=seconds,
        fps=10.0,
        storage="sqlite3",
        seed=3,
        intrinsics=Intrinsics.realsense_d435(320, 240),
        progress=False,
    )


def _detection_rows(msg) -> list[tuple]:
    """What pose_node found in one frame: category, score, pose and box size per object."""
    rows = []
    for detection in msg.detections:
        hypothesis = detection.results[0].hypothesis
        pose = detection.bbox.center  # the object's canonical frame (convert_vision's contract)
        values = (
            pose.position.x, pose.position.y, pose.position.z,
            pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w,
            detection.bbox.size.x, detection.bbox.size.y, detection.bbox.size.z,
        )  # fmt: skip
        rows.append((hypothesis.class_id, round(hypothesis.score, 6), *np.round(values, 6)))
    return sorted(rows)


def _pose_rows(msg) -> list[tuple]:
    """The poses of a PoseArray (grasp_node's grasps), rounded to 1e-6."""
    return [
        tuple(np.round([p.position.x, p.position.y, p.position.z, p.orientation.x, p.orientation.y,
                        p.orientation.z, p.orientation.w], 6))
        for p in msg.poses
    ]  # fmt: skip


def _play(prefix: Path, tmp_path: Path, bag: Path, params: Path, last_stamp_ns: int, run: int):
    """``bag.launch.py`` on ``bag`` until pose_node and forecast_node answered its last frame; the
    messages received and the launch output."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseArray
    from nav_msgs.msg import Path as PathMsg
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.bag.synthetic import TOPICS

    command = [
        "ros2",
        "launch",
        "diff9d_ros",
        "bag.launch.py",
        f"bag:={bag}",
        "namespace:=bt",
        f"params_file:={params}",
        f"rgb_topic:={TOPICS['rgb']}",
        f"depth_topic:={TOPICS['depth']}",
        f"camera_info_topic:={TOPICS['camera_info']}",
        "start_delay_s:=90.0",  # playback must be started by the nodes becoming active, not by this
        "rate:=0.2",  # 15 s of wall time: a busy 2-core machine runs pose + grasp at about 1 Hz
    ]
    topics = {
        "/bt/detections": Detection3DArray,
        "/bt/grasps": PoseArray,
        "/bt/tracks": Detection3DArray,
        "/bt/forecasts": PathMsg,
        "/diagnostics": DiagnosticArray,
    }
    needed = {"/bt/detections": 3, "/bt/grasps": 1, "/bt/tracks": 3, "/bt/forecasts": 1, "/diagnostics": 6}

    log_path = tmp_path / f"launch{run}.log"

    def played_and_answered(received: dict[str, list]) -> bool:
        # The newest frame always reaches the worker (nothing newer supersedes it), so both nodes answer
        # the last one; the player ends by itself at the end of the bag.
        return all(
            any(header_stamp_ns(msg.header) == last_stamp_ns for msg in received[topic])
            for topic in ("/bt/detections", "/bt/tracks")
        ) and bool(
            re.search(r"\[ros2-\d+\]: process has finished cleanly", log_path.read_text(encoding="utf-8"))
        )

    return _launch_and_listen(command, topics, needed, log_path, 180.0, until=played_and_answered)


@pytest.mark.slow
def test_ros2_launch_bag_replays_a_rosbag2_on_its_clock_twice_alike(prefix: Path, tmp_path: Path) -> None:
    """``bag.launch.py`` plays a rendered sqlite3 bag with ``ros2 bag play --clock`` once the nodes are
    active; results carry the bag's stamps and /diagnostics the bag's clock (use_sim_time); Ctrl-C
    ends every process cleanly; a second launch on the same bag gives the same detections."""
    from diff9d_ros.bag.io import read_messages
    from diff9d_ros.bag.synthetic import TOPICS

    bag = _rendered_bag(tmp_path, seconds=3.0)
    frame_stamps_ns = {stamp_ns for _, stamp_ns, _ in read_messages(bag, [TOPICS["rgb"]])}
    first_ns, last_ns = min(frame_stamps_ns), max(frame_stamps_ns)
    params = _baseline_params(tmp_path)
    detections_by_stamp, grasps_by_stamp = [], []
    for run in (1, 2):
        received, output = _play(prefix, tmp_path, bag, params, last_ns, run)
        counts = {topic: len(messages) for topic, messages in received.items()}
        assert all(counts[topic] > 0 for topic in counts), f"run {run}: {counts}\n{output[-6000:]}"
        for topic in ("/bt/detections", "/bt/tracks", "/bt/grasps"):
            stamps_ns = {header_stamp_ns(msg.header) for msg in received[topic]}
            assert stamps_ns <= frame_stamps_ns, f"{topic} stamps are not those of the bag's frames"
        assert any(len(d.detections) for d in received["/bt/detections"])
        assert any(len(g.poses) for g in received["/bt/grasps"])
        assert any(d.id for t in received["/bt/tracks"] for d in t.detections)
        # /diagnostics is stamped with the node clock: under use_sim_time, the bag's /clock (2023),
        # not the wall clock.
        ours = [a for a in received["/diagnostics"] if a.status and a.status[0].name.startswith("/bt/")]
        off_clock = [
            (a.status[0].name, header_stamp_ns(a.header))
            for a in ours
            if not first_ns <= header_stamp_ns(a.header) <= last_ns + 10**9
        ]
        assert ours and not off_clock, (first_ns, off_clock)
        assert {a.status[0].name for a in ours} >= {"/bt/pose_node", "/bt/grasp_node", "/bt/forecast_node"}
        # The player starts after the three nodes report "activated".
        played_at = output.index("rosbag2_player")
        assert output.count("activated", 0, played_at) == 3, output[-6000:]
        _assert_clean_exit(output, ["pose_node", "grasp_node", "forecast_node", "ros2"])
        detections_by_stamp.append(
            {header_stamp_ns(msg.header): _detection_rows(msg) for msg in received["/bt/detections"]}
        )
        grasps_by_stamp.append(
            {header_stamp_ns(msg.header): _pose_rows(msg) for msg in received["/bt/grasps"]}
        )
    # Both runs answered the last frame (and whichever others each had time for): the same frame gives
    # the same detections and grasps, whatever ran before.
    for name, (first, second) in (("detections", detections_by_stamp), ("grasps", grasps_by_stamp)):
        common_ns = sorted(set(first) & set(second))
        # The last frame is answered in both runs; which others are depends on the CPU.
        assert len(common_ns) >= 1 + (name == "detections"), (name, sorted(first), sorted(second))
        for stamp_ns in common_ns:
            assert first[stamp_ns] == second[stamp_ns], (name, stamp_ns)
        assert any(first[stamp_ns] for stamp_ns in common_ns), name
    assert last_ns in set(detections_by_stamp[0]) & set(detections_by_stamp[1])


@pytest.mark.slow
def test_ros2_launch_bag_in_a_loop_keeps_tracking_after_time_jumps_back(prefix: Path, tmp_path: Path) -> None:
    """``bag.launch.py loop:=true`` on a ``diff9d synth bag`` without topic arguments: the camera topics
    come from the bag's metadata; at each restart of the bag the clock and the stamps jump back, and
    forecast_node says so, starts its tracks over, and publishes tracks and forecasts again."""
    from nav_msgs.msg import Path as PathMsg
    from vision_msgs.msg import Detection3DArray

    from diff9d_ros.bag.synthetic import TOPICS

    bag = _rendered_bag(tmp_path, seconds=2.0)
    command = ["ros2", "launch", "diff9d_ros", "bag.launch.py", f"bag:={bag}", "loop:=true", "rate:=0.3"]
    command += [
        "namespace:=lp",
        f"params_file:={_baseline_params(tmp_path)}",
        "use_grasp:=false",
        "start_delay_s:=90.0",
    ]
    # No topic arguments: bag.launch.py reads the camera topics from the bag's metadata.
    topics = {"/lp/tracks": Detection3DArray, "/lp/forecasts": PathMsg}

    def tracked_after_a_jump(received: dict[str, list]) -> bool:
        """Confirmed tracks, then a stamp older than one before it, then confirmed tracks again."""
        stamps_ns = [header_stamp_ns(msg.header) for msg in received["/lp/tracks"]]
        jumps = [i for i in range(1, len(stamps_ns)) if stamps_ns[i] < stamps_ns[i - 1]]
        if not jumps:
            return False
        before, after = received["/lp/tracks"][: jumps[0]], received["/lp/tracks"][jumps[0] :]
        return all(any(d.id for msg in part for d in msg.detections) for part in (before, after))

    log_path = tmp_path / "launch.log"
    received, output = _launch_and_listen(
        command, topics, {"/lp/forecasts": 1}, log_path, 180.0, until=tracked_after_a_jump
    )
    counts = {topic: len(messages) for topic, messages in received.items()}
    assert tracked_after_a_jump(received), f"{counts}\n{output[-6000:]}"
    assert f"camera topics {TOPICS['rgb']}, {TOPICS['depth']}, {TOPICS['camera_info']}" in output
    assert "time jumped back by" in output and "stamps must increase" not in output, output[-6000:]
    _assert_clean_exit(output, ["pose_node", "forecast_node"])  # the looping player is stopped by SIGINT


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
