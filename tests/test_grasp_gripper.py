"""The gripper model equals the robot description, and the URDF's camera frames follow REP 103."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yourdfpy

from diff9d_ros.grasp.gripper import default_urdf_path, load_gripper


def _box_sizes(root: ET.Element, link: str) -> list[np.ndarray]:
    element = root.find(f"./link[@name='{link}']")
    return [np.array(b.get("size").split(), dtype=float) for b in element.findall("./collision/geometry/box")]


def test_gripper_dimensions_equal_the_urdf() -> None:
    """Parsed independently with ElementTree: palm and finger boxes, opening, TCP offset, force."""
    root = ET.parse(default_urdf_path()).getroot()
    gripper = load_gripper()
    palm_sizes = _box_sizes(root, "gripper_hand")
    assert len(gripper.palm) == len(palm_sizes) == 1
    np.testing.assert_allclose(2 * gripper.palm[0].half_extents_m, palm_sizes[0])
    finger_size = _box_sizes(root, "gripper_left_finger")[0]
    np.testing.assert_allclose(2 * gripper.finger_half_extents_m, finger_size)
    limit = root.find("./joint[@name='gripper_left_finger_joint']/limit")
    assert gripper.max_opening_m == pytest.approx(2 * float(limit.get("upper")))
    assert gripper.max_opening_m == pytest.approx(0.08)
    assert gripper.finger_force_n == pytest.approx(float(limit.get("effort")))
    tcp_z = float(root.find("./joint[@name='gripper_tcp_joint']/origin").get("xyz").split()[2])
    finger_base_z = float(
        root.find("./joint[@name='gripper_left_finger_joint']/origin").get("xyz").split()[2]
    )
    # In the TCP frame the finger bases sit tcp_z - finger_base_z behind the TCP.
    assert gripper.finger_z_range_m[0] == pytest.approx(finger_base_z - tcp_z)
    assert gripper.palm_front_z_m == pytest.approx(finger_base_z - tcp_z)


def test_finger_geometry_tracks_the_opening() -> None:
    gripper = load_gripper()
    for opening in (0.0, 0.03, 0.08):
        low, high = gripper.closing_bounds(opening)
        assert high[1] - low[1] == pytest.approx(opening)
        f_low, f_high = gripper.finger_bounds(opening)
        assert f_low[0, 1] == pytest.approx(opening / 2) and f_high[1, 1] == pytest.approx(-opening / 2)
        assert gripper.opening_m(gripper.joint_value_m(opening)) == pytest.approx(opening)
    with pytest.raises(ValueError, match="opening"):
        gripper.joint_value_m(0.09)


def test_the_end_effector_parent_link_is_where_the_hand_is_fixed() -> None:
    """The flange carries the hand: its pose in the TCP frame is yourdfpy's forward kinematics."""
    gripper = load_gripper()
    assert gripper.parent_link == "arm_flange"
    robot = yourdfpy.URDF.load(str(default_urdf_path()), load_meshes=False)
    np.testing.assert_allclose(
        gripper.tcp_to_parent, robot.get_transform("arm_flange", "gripper_tcp"), atol=1e-12
    )
    np.testing.assert_allclose(
        gripper.tcp_to_hand, robot.get_transform("gripper_hand", "gripper_tcp"), atol=1e-12
    )


def test_a_gripper_alone_is_its_own_parent(tmp_path) -> None:
    """A description whose root is the hand (no arm): the hand link is the parent link."""
    root = ET.parse(default_urdf_path()).getroot()
    gripper_parts = {"gripper_hand", "gripper_left_finger", "gripper_right_finger", "gripper_tcp"}
    for element in list(root):
        child = element.find("child")
        is_part = element.get("name") in gripper_parts if element.tag == "link" else True
        if element.tag == "joint" and child.get("link") not in gripper_parts - {"gripper_hand"}:
            is_part = False
        if element.tag in ("link", "joint") and not is_part:
            root.remove(element)
    path = tmp_path / "gripper.urdf"
    ET.ElementTree(root).write(path)
    alone = load_gripper(str(path))
    assert alone.parent_link == "gripper_hand"
    np.testing.assert_allclose(alone.tcp_to_parent, load_gripper().tcp_to_hand, atol=1e-12)


def test_urdf_tf_tree_is_complete_and_optical_frame_follows_rep103() -> None:
    robot = yourdfpy.URDF.load(str(default_urdf_path()), load_meshes=False)
    assert robot.validate()
    for frame in ("camera_color_optical_frame", "gripper_tcp"):
        assert np.all(np.isfinite(robot.get_transform(frame, "base_link")))
    link_from_optical = robot.get_transform("camera_color_optical_frame", "camera_link")
    # optical z = body x (forward), optical x = -body y (right), optical y = -body z (down)
    np.testing.assert_allclose(link_from_optical[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-9)


def test_missing_urdf_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_gripper(str(tmp_path / "nope.urdf"))
