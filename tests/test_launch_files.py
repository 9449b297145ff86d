"""Launch files, node modules, bridge config, worlds and the RViz config, checked without ROS.

Compiled and linted like the package; the bridge's types must be pairs ros_gz_bridge converts;
every world must parse and hold the RGB-D camera whose topics the bridge carries; RViz must show
topics the nodes publish; no module outside ``ros/nodes/`` may import rclpy.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from diff9d_ros.geometry.transforms import rotation_from_quaternion
from diff9d_ros.ros.gz_bridge import (
    OPTICAL_IN_BODY_ROTATION,
    OPTICAL_IN_BODY_XYZW,
    BridgeEntry,
    GzCamera,
    bridged_camera,
    load_bridge_config,
    world_cameras,
)
from diff9d_ros.ros.nodes.launch_arguments import NODE_ARGUMENTS, node_arguments
from diff9d_ros.ros.topics import NODE_TOPICS

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
NODE_FILES = sorted((ROOT / "diff9d_ros" / "ros" / "nodes").glob("*.py"))
WORLDS = sorted((ROOT / "sim" / "worlds").glob("*.sdf"))
BRIDGE = ROOT / "sim" / "bridge.yaml"


def test_launch_files_exist() -> None:
    names = {path.name for path in LAUNCH_FILES}
    assert {"robot.launch.py", "sim.launch.py", "bag.launch.py", "nodes.launch.py"} <= names


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    paths = [str(p) for p in LAUNCH_FILES + NODE_FILES]
    for command in ([ruff, "check", *paths], [ruff, "format", "--check", *paths]):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_launch_files_pass_on_only_arguments_of_the_node_table() -> None:
    """robot, sim and bag declare what they pass to nodes.launch.py from its one table."""
    for name in ("robot", "sim", "bag"):
        tree = ast.parse((ROOT / "launch" / f"{name}.launch.py").read_text())
        (passed_on,) = [
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PASSED_ON"
        ]
        assert set(passed_on) <= set(NODE_ARGUMENTS), name
    assert node_arguments(["log_level"]) == {"log_level": ("info", "log level of the nodes")}
    with pytest.raises(KeyError, match="no_such"):
        node_arguments(["no_such"])


def test_rclpy_is_imported_only_by_the_nodes() -> None:
    pattern = re.compile(r"^\s*(import rclpy|from rclpy)", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "diff9d_ros").rglob("*.py")
        if "nodes" not in path.parts and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_node_has_a_main_and_a_lifecycle_class() -> None:
    for node in NODE_TOPICS:
        text = (ROOT / "diff9d_ros" / "ros" / "nodes" / f"{node}.py").read_text(encoding="utf-8")
        assert f'NODE = "{node}"' in text and "def main(" in text


def test_bridge_config_uses_valid_ros_gz_pairs_and_feeds_the_nodes() -> None:
    entries = load_bridge_config(BRIDGE)
    by_topic = {entry.ros_topic: entry for entry in entries}
    assert by_topic["/clock"].ros_type == "rosgraph_msgs/msg/Clock"
    for spec in NODE_TOPICS["pose_node"]:
        if spec.direction == "in" and not spec.optional:
            assert by_topic[spec.key].ros_type == spec.msg_type, spec.key
            assert by_topic[spec.key].direction == "GZ_TO_ROS"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- ros_topic_name: a\n  gz_topic_name: b\n  ros_type_name: sensor_msgs/msg/Image\n"
            "  gz_type_name: gz.msgs.CameraInfo\n",
            "bridges to gz.msgs.Image",
        ),
        (
            "- topic_name: a\n  ros_type_name: vision_msgs/msg/Foo\n  gz_type_name: gz.msgs.Image\n",
            "cannot bridge ROS type",
        ),
        (
            "- topic_name: a\n  ros_type_name: rosgraph_msgs/msg/Clock\n  gz_type_name: gz.msgs.Clock\n"
            "  direction: SIDEWAYS\n",
            "direction must be one of",
        ),
        ("- ros_type_name: rosgraph_msgs/msg/Clock\n  gz_type_name: gz.msgs.Clock\n", "needs topic_name"),
        ("{}\n", "non-empty YAML list"),
    ],
)
def test_bad_bridge_configs_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_bridge_config(path)


def test_fortress_spelling_is_the_same_pair(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(
        "- topic_name: c\n  ros_type_name: rosgraph_msgs/msg/Clock\n  gz_type_name: ignition.msgs.Clock\n"
    )
    assert load_bridge_config(path)[0].gz_type == "ignition.msgs.Clock"


def _world(camera: str) -> str:
    return f"""<?xml version="1.0"?>
<sdf version="1.9"><world name="w"><model name="cam"><link name="l">{camera}</link></model></world></sdf>"""


def test_world_camera_matching(tmp_path: Path) -> None:
    entries = load_bridge_config(BRIDGE)
    good = tmp_path / "good.sdf"
    good.write_text(
        _world(
            '<sensor name="rgbd" type="rgbd_camera"><topic>rgbd_camera</topic>'
            "<gz_frame_id>camera_link</gz_frame_id></sensor>"
        )
    )
    camera = bridged_camera(entries, world_cameras(good))
    assert camera == GzCamera("rgbd", "rgbd_camera", "rgbd_camera", "camera_link", "l")
    other = tmp_path / "other.sdf"
    other.write_text(_world('<sensor name="rgbd" type="rgbd_camera"><topic>kinect</topic></sensor>'))
    with pytest.raises(ValueError, match=r"rgbd \(topic kinect\)"):
        bridged_camera(entries, world_cameras(other))
    broken = tmp_path / "broken.sdf"
    broken.write_text("<sdf><world>")
    with pytest.raises(ValueError, match="not a readable SDF file"):
        world_cameras(broken)
    gz_only = [BridgeEntry("x", "/rgbd_camera/image", "sensor_msgs/msg/Image", "gz.msgs.Image", "ROS_TO_GZ")]
    with pytest.raises(ValueError, match="no world camera publishes"):
        bridged_camera(gz_only, world_cameras(good))


@pytest.mark.parametrize("world", WORLDS, ids=lambda p: p.name)
def test_every_world_parses_and_has_the_bridged_camera(world: Path) -> None:
    camera = bridged_camera(load_bridge_config(BRIDGE), world_cameras(world))
    assert camera.frame_id == "camera_color_optical_frame", (
        f"{world.name}: images must be in the optical frame"
    )
    assert camera.link, f"{world.name}: {camera.name} is not on a link"
    # where the world also declares the optical frame, its rotation is REP 103's (sim.launch.py's TF)
    for frame in ET.parse(world).getroot().iter("frame"):
        if frame.get("name") == camera.frame_id and frame.get("attached_to") == camera.link:
            roll, pitch, yaw = (float(v) for v in frame.findtext("pose").split()[3:6])
            np.testing.assert_allclose(_rpy_matrix(roll, pitch, yaw), OPTICAL_IN_BODY_ROTATION, atol=1e-6)


def _rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """SDF pose angles: fixed-axis roll about x, then pitch about y, then yaw about z."""
    cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_worlds_folder_has_the_default_world() -> None:
    assert "tabletop.sdf" in {w.name for w in WORLDS}, "sim.launch.py defaults to world:=tabletop"


def test_optical_frame_quaternion_is_the_rep103_rotation() -> None:
    rotation = rotation_from_quaternion(np.array(OPTICAL_IN_BODY_XYZW))
    np.testing.assert_allclose(rotation, OPTICAL_IN_BODY_ROTATION, atol=1e-12)
    # optical z (forward) is body x, optical x (right) is body -y, optical y (down) is body -z
    np.testing.assert_allclose(OPTICAL_IN_BODY_ROTATION @ [0, 0, 1], [1, 0, 0])
    np.testing.assert_allclose(OPTICAL_IN_BODY_ROTATION @ [1, 0, 0], [0, -1, 0])
    np.testing.assert_allclose(OPTICAL_IN_BODY_ROTATION @ [0, 1, 0], [0, 0, -1])


def test_rviz_config_shows_topics_the_nodes_publish() -> None:
    config = yaml.safe_load((ROOT / "config" / "diff9d.rviz").read_text(encoding="utf-8"))
    displays = config["Visualization Manager"]["Displays"]
    published = {f"/diff9d/{t.key}" for specs in NODE_TOPICS.values() for t in specs if t.direction == "out"}
    topics = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert topics <= published, sorted(topics - published)
    for needed in ("/diff9d/rgb/image", "/diff9d/markers", "/diff9d/grasps", "/diff9d/forecasts"):
        assert needed in topics
    classes = {d["Class"] for d in displays}
    assert {
        "rviz_default_plugins/Image",
        "rviz_default_plugins/MarkerArray",
        "rviz_default_plugins/Path",
    } <= classes


def test_only_the_launch_time_activation_is_automatic() -> None:
    """nodes.launch.py activates a node when it first reaches inactive, once: after an operator's
    cleanup and configure the node must wait for the operator's activate."""
    tree = ast.parse((ROOT / "launch" / "nodes.launch.py").read_text(encoding="utf-8"))
    handlers = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "OnStateTransition"
    ]
    assert len(handlers) == 1
    keywords = {k.arg: k.value for k in handlers[0].keywords}
    assert isinstance(keywords.get("handle_once"), ast.Constant) and keywords["handle_once"].value is True
    assert keywords["goal_state"].value == "inactive"
