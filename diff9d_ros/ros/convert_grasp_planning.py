"""grasp_node's ``~/plan_grasps`` service, ``moveit_msgs/srv/GraspPlanning``: its request, a
:class:`~diff9d_ros.grasp.on_request.GraspPlan` as its response, and the response's grasps back.

The mapping (also in docs/ros.md):

* request: ``target.id`` names the object (its Detection3D id, the track id on the forecast node's
  ``tracks``); an empty id asks for every object of the newest frame. ``group_name``,
  ``support_surfaces``, ``candidate_grasps``, ``movable_obstacles`` and the rest of ``target``
  are not used (:func:`ignored_request_fields`).
* response ``grasps``, best score first, each a ``moveit_msgs/Grasp``: ``id`` ``"<object id>/<rank>"``
  (rank 0 = that object's best), ``grasp_pose`` the pose of the gripper's parent link
  (:attr:`GripperModel.parent_link`, as Grasp.msg defines it: the link the hand is fixed to, not
  the TCP) stamped with the frame's header, ``grasp_quality`` the score, ``pre_grasp_approach``
  along the approach (the TCP's z) from the pre-grasp pose, ``post_grasp_retreat`` up along the
  table normal (back along the approach where no table was found), both with their direction in
  the frame's ``frame_id`` (the camera optical frame), ``desired_distance`` the planner's pre-grasp
  distance and ``min_distance`` :data:`MIN_DISTANCE_FRACTION` of it; ``pre_grasp_posture`` and
  ``grasp_posture`` one point of the finger joints (:data:`~diff9d_ros.grasp.gripper.FINGER_JOINTS`,
  the second a mimic of the first, both listed) at the opening and at the object's width;
  ``allowed_touch_objects`` the object id; ``max_contact_force`` 0 (unknown: disabled).
* ``error_code.val``: a MoveItErrorCodes value (:func:`error_code_of`, :data:`ERROR_NAMES`).

As everywhere in this package, builders take a :class:`MessageTypes` provider (rclpy in the node,
the rosbags store of :mod:`~diff9d_ros.ros.typestore` in tests) and readers any object with the
field names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diff9d_ros.grasp.gripper import FINGER_JOINTS, GripperModel
from diff9d_ros.grasp.on_request import (
    GraspPlan,
    NoFrameError,
    PlannedGrasp,
    StaleFrameError,
    UnknownObjectError,
)
from diff9d_ros.grasp.planner import Grasp
from diff9d_ros.ros.convert_nav import pose_stamped_to_transform, transform_to_pose_stamped
from diff9d_ros.ros.convert_std import make_header, make_vector3, xyz_of
from diff9d_ros.ros.message_types import MessageTypes

GRASP_PLANNING = "moveit_msgs/srv/GraspPlanning"
GRASP_PLANNING_REQUEST = f"{GRASP_PLANNING}_Request"
GRASP_PLANNING_RESPONSE = f"{GRASP_PLANNING}_Response"

#: The MoveItErrorCodes values answered (moveit_msgs 2.2, ``msg/MoveItErrorCodes.msg``).
SUCCESS = 1
FAILURE = 99999
PLANNING_FAILED = -1
UNABLE_TO_AQUIRE_SENSOR_DATA = -5
INVALID_OBJECT_NAME = -19
SENSOR_INFO_STALE = -24
ERROR_NAMES: dict[int, str] = {
    SUCCESS: "SUCCESS",
    FAILURE: "FAILURE",
    PLANNING_FAILED: "PLANNING_FAILED",
    UNABLE_TO_AQUIRE_SENSOR_DATA: "UNABLE_TO_AQUIRE_SENSOR_DATA",
    INVALID_OBJECT_NAME: "INVALID_OBJECT_NAME",
    SENSOR_INFO_STALE: "SENSOR_INFO_STALE",
}

#: ``min_distance`` of the approach and the retreat, as a fraction of their ``desired_distance``.
MIN_DISTANCE_FRACTION = 0.5

#: Request fields the planner does not use (beside everything of ``target`` but its id).
IGNORED_REQUEST_FIELDS = ("group_name", "support_surfaces", "candidate_grasps", "movable_obstacles")


def grasp_planning_request(object_id: str, types: MessageTypes) -> Any:
    """A GraspPlanning request for the object ``object_id`` ("": every object)."""
    target = types.new("moveit_msgs/msg/CollisionObject", id=str(object_id))
    return types.new(GRASP_PLANNING_REQUEST, target=target)


def request_object_ids(msg: Any) -> list[str]:
    """The object ids a GraspPlanning request asks for: ``[target.id]``, or [] (every object)."""
    object_id = str(msg.target.id)
    return [object_id] if object_id else []


def ignored_request_fields(msg: Any) -> list[str]:
    """The names of the request's non-empty fields that the planner does not use."""
    return [name for name in IGNORED_REQUEST_FIELDS if len(getattr(msg, name))]


def error_code_of(error: Exception) -> int:
    """The MoveItErrorCodes value of a refused request (the errors of ``GraspRequests.plan``)."""
    if isinstance(error, UnknownObjectError):
        return INVALID_OBJECT_NAME
    if isinstance(error, NoFrameError):
        return UNABLE_TO_AQUIRE_SENSOR_DATA
    if isinstance(error, StaleFrameError):
        return SENSOR_INFO_STALE
    return FAILURE


def grasp_planning_response(code: int, types: MessageTypes, grasps: list[Any] | None = None) -> Any:
    """A GraspPlanning response with ``error_code.val`` ``code`` and ``grasps`` (default none)."""
    error_code = types.new("moveit_msgs/msg/MoveItErrorCodes", val=int(code))
    return types.new(GRASP_PLANNING_RESPONSE, grasps=list(grasps or []), error_code=error_code)


def plan_to_response(plan: GraspPlan, gripper: GripperModel, types: MessageTypes) -> Any:
    """The GraspPlanning response of ``plan``: its grasps in order (best first) with SUCCESS, or
    none with PLANNING_FAILED where the plan has no grasp."""
    if not plan.grasps:
        return grasp_planning_response(PLANNING_FAILED, types)
    ranks: dict[str, int] = {}
    grasps = []
    for planned in plan.grasps:
        rank = ranks.get(planned.object_id, 0)
        ranks[planned.object_id] = rank + 1
        grasps.append(_grasp_msg(planned, rank, plan, gripper, types))
    return grasp_planning_response(SUCCESS, types, grasps)


def _grasp_msg(
    planned: PlannedGrasp, rank: int, plan: GraspPlan, gripper: GripperModel, types: MessageTypes
) -> Any:
    """The ``moveit_msgs/Grasp`` of one planned grasp (module docstring: the mapping)."""
    grasp = planned.grasp
    distance_m = float(np.linalg.norm(grasp.pose[:3, 3] - grasp.pre_grasp[:3, 3]))
    retreat = -grasp.approach if plan.table_normal is None else plan.table_normal
    return types.new(
        "moveit_msgs/msg/Grasp",
        id=f"{planned.object_id}/{rank}",
        pre_grasp_posture=_posture(grasp.opening_m, gripper, types),
        grasp_posture=_posture(grasp.width_m, gripper, types),
        grasp_pose=transform_to_pose_stamped(
            grasp.pose @ gripper.tcp_to_parent, plan.stamp_ns, plan.frame_id, types
        ),
        grasp_quality=float(grasp.score),
        pre_grasp_approach=_translation(grasp.approach, distance_m, plan, types),
        post_grasp_retreat=_translation(retreat, distance_m, plan, types),
        max_contact_force=0.0,
        allowed_touch_objects=[planned.object_id] if planned.object_id else [],
    )


def _posture(opening_m: float, gripper: GripperModel, types: MessageTypes) -> Any:
    """``trajectory_msgs/JointTrajectory``: one point with the finger joints at ``opening_m``."""
    value = float(gripper.joint_value_m(opening_m))
    point = types.new(
        "trajectory_msgs/msg/JointTrajectoryPoint",
        positions=types.sequence(np.full(len(FINGER_JOINTS), value), "float64"),
    )
    return types.new("trajectory_msgs/msg/JointTrajectory", joint_names=list(FINGER_JOINTS), points=[point])


def _translation(direction: np.ndarray, distance_m: float, plan: GraspPlan, types: MessageTypes) -> Any:
    """``moveit_msgs/GripperTranslation`` along ``direction`` in the plan's frame."""
    vector = types.new(
        "geometry_msgs/msg/Vector3Stamped",
        header=make_header(plan.stamp_ns, plan.frame_id, types),
        vector=make_vector3(direction, types),
    )
    return types.new(
        "moveit_msgs/msg/GripperTranslation",
        direction=vector,
        desired_distance=distance_m,
        min_distance=MIN_DISTANCE_FRACTION * distance_m,
    )


def response_grasps(msg: Any, gripper: GripperModel) -> list[PlannedGrasp]:
    """The grasps of a GraspPlanning response made by :func:`plan_to_response`, best first: TCP and
    pre-grasp poses (the pre-grasp distance at float32 precision), width and opening, score and
    approach; category and family are not in the message (empty). ValueError naming the code
    where it is not SUCCESS."""
    code = int(msg.error_code.val)
    if code != SUCCESS:
        raise ValueError(f"plan_grasps failed: {ERROR_NAMES.get(code, 'MoveItErrorCodes')} ({code})")
    out = []
    for grasp in msg.grasps:
        pose = pose_stamped_to_transform(grasp.grasp_pose) @ np.linalg.inv(gripper.tcp_to_parent)
        approach = xyz_of(grasp.pre_grasp_approach.direction.vector)
        pre_grasp = pose.copy()
        pre_grasp[:3, 3] -= float(grasp.pre_grasp_approach.desired_distance) * approach
        object_id = str(grasp.allowed_touch_objects[0]) if len(grasp.allowed_touch_objects) else ""
        planned = Grasp(
            pose=pose,
            pre_grasp=pre_grasp,
            width_m=float(gripper.opening_m(grasp.grasp_posture.points[0].positions[0])),
            opening_m=float(gripper.opening_m(grasp.pre_grasp_posture.points[0].positions[0])),
            score=float(grasp.grasp_quality),
            approach=approach,
            family="",
        )
        out.append(PlannedGrasp(object_id, planned))
    return out
