"""The parallel-jaw gripper model, read from the robot description in ``urdf/``.

Everything the planner and the physics evaluation know about the gripper comes from the URDF
(parsed with yourdfpy): the palm and finger collision boxes, the finger joint travel (hence the
maximum opening), the finger force limit, masses and the tool centre point (TCP). Geometry is
expressed in the TCP frame: z is the approach axis (palm -> fingertips), y the closing axis
(finger travel), x = y × z.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yourdfpy

#: Link and joint names of the gripper in the robot description.
HAND_LINK = "gripper_hand"
TCP_LINK = "gripper_tcp"
FINGER_JOINTS: tuple[str, str] = ("gripper_left_finger_joint", "gripper_right_finger_joint")
URDF_NAME = "diff9d_robot.urdf"


def default_urdf_path() -> Path:
    """The shipped robot description: the source tree's ``urdf/`` or the installed share folder."""
    candidates = [
        Path(__file__).resolve().parents[2] / "urdf" / URDF_NAME,
        Path(sys.prefix) / "share" / "diff9d_ros" / "urdf" / URDF_NAME,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"robot description {URDF_NAME} not found in {[str(p) for p in candidates]}")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in the TCP frame: centre (3,) and half extents (3,), metres."""

    centre_m: np.ndarray
    half_extents_m: np.ndarray

    @property
    def low_m(self) -> np.ndarray:
        return self.centre_m - self.half_extents_m

    @property
    def high_m(self) -> np.ndarray:
        return self.centre_m + self.half_extents_m


@dataclass(frozen=True)
class Finger:
    """One finger: its collision box at joint value 0, the travel direction and the joint limit."""

    box: Box
    travel_direction: np.ndarray
    upper_limit_m: float
    mass_kg: float


@dataclass(frozen=True)
class GripperModel:
    """Collision geometry and limits of a parallel-jaw gripper, in its TCP frame.

    ``palm`` holds the boxes rigidly attached to the hand; ``fingers`` the two moving fingers.
    The opening is the gap between the fingers' inner faces along the closing axis (y).
    ``tcp_to_hand`` is the pose (4x4) of the hand link in the TCP frame; ``parent_link`` the link
    the hand is fixed to (the end effector's parent link in MoveIt's sense, e.g. the arm's
    flange; the hand link itself where it is the root or hangs from a moving joint) and
    ``tcp_to_parent`` its pose in the TCP frame: a TCP pose ``T`` puts that link at
    ``T @ tcp_to_parent``.
    """

    palm: tuple[Box, ...]
    fingers: tuple[Finger, Finger]
    hand_mass_kg: float
    finger_force_n: float
    tcp_to_hand: np.ndarray
    source: str
    parent_link: str
    tcp_to_parent: np.ndarray

    def __post_init__(self) -> None:
        for finger in self.fingers:
            if abs(abs(finger.travel_direction[1]) - 1.0) > 1e-6:
                raise ValueError(
                    f"finger travel {finger.travel_direction} is not along the TCP y (closing) axis; "
                    "the robot description must move the fingers along the hand's y axis"
                )
        if self.fingers[0].travel_direction[1] * self.fingers[1].travel_direction[1] > 0:
            raise ValueError("the two fingers travel in the same direction; expected opposing fingers")

    @property
    def _left_right(self) -> tuple[Finger, Finger]:
        """(finger on +y, finger on -y)."""
        a, b = self.fingers
        return (a, b) if a.travel_direction[1] > 0 else (b, a)

    @property
    def closed_gap_m(self) -> float:
        """Gap between the inner faces at joint value 0."""
        left, right = self._left_right
        return float(left.box.low_m[1] - right.box.high_m[1])

    @property
    def max_opening_m(self) -> float:
        """Largest gap between the fingers (both joints at their upper limit)."""
        return self.closed_gap_m + sum(f.upper_limit_m for f in self.fingers)

    def joint_value_m(self, opening_m: np.ndarray | float) -> np.ndarray:
        """Finger joint value(s) (both fingers, mimic joints) that give ``opening_m``."""
        opening_m = np.asarray(opening_m, dtype=np.float64)
        if np.any(opening_m < 0.0) or np.any(opening_m > self.max_opening_m + 1e-9):
            raise ValueError(f"opening {opening_m} m outside [0, {self.max_opening_m:.4f}] m")
        return np.maximum(0.0, (opening_m - self.closed_gap_m) / 2.0)

    def opening_m(self, joint_value_m: np.ndarray | float) -> np.ndarray:
        """The opening at finger joint value(s) ``joint_value_m``: the inverse of :meth:`joint_value_m`
        (which maps every opening below :attr:`closed_gap_m` to 0)."""
        return self.closed_gap_m + 2.0 * np.asarray(joint_value_m, dtype=np.float64)

    def finger_bounds(self, opening_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Bounds (low, high), each (..., 2, 3), of the (left, right) finger boxes at ``opening_m``."""
        q = self.joint_value_m(opening_m)[..., None, None]
        left, right = self._left_right
        centre = np.stack([left.box.centre_m, right.box.centre_m])
        travel = np.stack([left.travel_direction, right.travel_direction])
        half = np.stack([left.box.half_extents_m, right.box.half_extents_m])
        centre = centre + q * travel
        return centre - half, centre + half

    def closing_bounds(self, opening_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Bounds (low, high), each (..., 3), of the space between the pads closing from ``opening_m``."""
        low_f, high_f = self.finger_bounds(opening_m)
        low = np.stack([low_f[..., :, 0].max(-1), high_f[..., 1, 1], low_f[..., :, 2].max(-1)], axis=-1)
        high = np.stack([high_f[..., :, 0].min(-1), low_f[..., 0, 1], high_f[..., :, 2].min(-1)], axis=-1)
        return low, high

    @property
    def finger_half_extents_m(self) -> np.ndarray:
        """Half extents (3,) of the finger box (x: pad width, y: thickness, z: length)."""
        return self._left_right[0].box.half_extents_m

    @property
    def finger_z_range_m(self) -> tuple[float, float]:
        """(low, high) of the fingers along the approach axis, TCP frame."""
        left = self._left_right[0].box
        return float(left.low_m[2]), float(left.high_m[2])

    @property
    def palm_front_z_m(self) -> float:
        """Largest z (towards the fingertips) of any palm box."""
        return float(max(b.high_m[2] for b in self.palm))


def _box_of(collision: yourdfpy.Collision, link_in_tcp: np.ndarray, link_name: str) -> Box:
    if collision.geometry.box is None:
        raise ValueError(
            f"link {link_name!r}: the planner needs box collision geometry, got {collision.geometry}"
        )
    origin = collision.origin if collision.origin is not None else np.eye(4)
    pose = link_in_tcp @ origin
    rotation = pose[:3, :3]
    # Axis-aligned in the TCP frame up to a permutation/sign: the AABB is then exact.
    if not np.allclose(np.abs(rotation), np.round(np.abs(rotation)), atol=1e-6):
        raise ValueError(f"link {link_name!r}: collision box is not aligned with the TCP frame axes")
    half = np.abs(rotation) @ (np.asarray(collision.geometry.box.size, dtype=np.float64) / 2.0)
    return Box(pose[:3, 3].copy(), half)


def _link_pose(robot: yourdfpy.URDF, link: str, root: str) -> np.ndarray:
    """Pose of ``link`` in ``root`` with all joints at 0 (walks the joint chain upwards)."""
    parent_joint = {j.child: j for j in robot.joint_map.values()}
    pose = np.eye(4)
    while link != root:
        if link not in parent_joint:
            raise ValueError(f"link {link!r} is not below {root!r} in the robot description")
        joint = parent_joint[link]
        pose = (joint.origin if joint.origin is not None else np.eye(4)) @ pose
        link = joint.parent
    return pose


@functools.lru_cache(maxsize=8)
def load_gripper(urdf_path: str | None = None) -> GripperModel:
    """Read the gripper from the robot description (default: the shipped ``urdf/diff9d_robot.urdf``)."""
    path = Path(urdf_path) if urdf_path is not None else default_urdf_path()
    if not path.is_file():
        raise FileNotFoundError(f"robot description {path} does not exist")
    robot = yourdfpy.URDF.load(str(path), load_meshes=False, build_scene_graph=False)
    for name in (HAND_LINK, TCP_LINK):
        if name not in robot.link_map:
            raise ValueError(f"{path}: no link named {name!r}")
    tcp_to_hand = np.linalg.inv(_link_pose(robot, TCP_LINK, HAND_LINK))
    finger_links = set()
    fingers = []
    for joint_name in FINGER_JOINTS:
        joint = robot.joint_map.get(joint_name)
        if joint is None or joint.type != "prismatic" or joint.limit is None:
            raise ValueError(f"{path}: {joint_name!r} must be a prismatic joint with limits")
        link_in_tcp = tcp_to_hand @ _link_pose(robot, joint.child, HAND_LINK)
        collisions = robot.link_map[joint.child].collisions
        if len(collisions) != 1:
            raise ValueError(f"{path}: finger link {joint.child!r} needs exactly one collision box")
        axis = (joint.origin[:3, :3] if joint.origin is not None else np.eye(3)) @ np.asarray(joint.axis)
        axis_in_tcp = tcp_to_hand[:3, :3] @ (axis / np.linalg.norm(axis))
        inertial = robot.link_map[joint.child].inertial
        fingers.append(
            Finger(
                _box_of(collisions[0], link_in_tcp, joint.child),
                axis_in_tcp,
                float(joint.limit.upper),
                float(inertial.mass) if inertial is not None else 0.0,
            )
        )
        finger_links.add(joint.child)
    # Palm: every collision box on links rigidly attached (fixed joints) below the hand.
    palm = []
    rigid = [HAND_LINK] + [
        j.child for j in robot.joint_map.values() if j.type == "fixed" and j.parent == HAND_LINK
    ]
    hand_mass = 0.0
    for link_name in rigid:
        link = robot.link_map[link_name]
        link_in_tcp = tcp_to_hand @ _link_pose(robot, link_name, HAND_LINK)
        palm += [_box_of(c, link_in_tcp, link_name) for c in link.collisions]
        hand_mass += float(link.inertial.mass) if link.inertial is not None else 0.0
    if not palm:
        raise ValueError(f"{path}: the hand link {HAND_LINK!r} has no collision boxes")
    effort = min(float(robot.joint_map[j].limit.effort) for j in FINGER_JOINTS)
    parent_link, tcp_to_parent = HAND_LINK, tcp_to_hand
    into_hand = next((j for j in robot.joint_map.values() if j.child == HAND_LINK), None)
    if into_hand is not None and into_hand.type == "fixed":
        hand_in_parent = into_hand.origin if into_hand.origin is not None else np.eye(4)
        parent_link, tcp_to_parent = into_hand.parent, tcp_to_hand @ np.linalg.inv(hand_in_parent)
    return GripperModel(
        tuple(palm),
        (fingers[0], fingers[1]),
        hand_mass,
        effort,
        tcp_to_hand,
        str(path),
        parent_link,
        tcp_to_parent,
    )
