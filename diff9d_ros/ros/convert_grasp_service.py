"""The PlanGrasps service (``diff9d_interfaces/srv/PlanGrasps``, grasp_node's ``~/plan_grasps``):
its request, a :class:`~diff9d_ros.grasp.on_request.GraspPlan` as its response, and back.

The type lives in the ``diff9d_interfaces`` package (``interfaces/diff9d_interfaces/srv/``); as
everywhere in this package, builders take a :class:`MessageTypes` provider (rclpy in the node, a
rosbags type store with the service's definitions in the tests) and readers any object with the
field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from diff9d_ros.grasp.on_request import GraspPlan, PlannedGrasp
from diff9d_ros.grasp.planner import Grasp
from diff9d_ros.ros.convert_std import header_stamp_ns, make_header, pose_from_transform, transform_from_pose
from diff9d_ros.ros.message_types import MessageTypes

PLAN_GRASPS = "diff9d_interfaces/srv/PlanGrasps"
PLAN_GRASPS_REQUEST = f"{PLAN_GRASPS}_Request"
PLAN_GRASPS_RESPONSE = f"{PLAN_GRASPS}_Response"


def plan_grasps_request(object_ids: Sequence[str], types: MessageTypes) -> Any:
    """A PlanGrasps request for the objects ``object_ids`` (track ids; empty: every object)."""
    return types.new(PLAN_GRASPS_REQUEST, object_ids=[str(i) for i in object_ids])


def request_object_ids(msg: Any) -> list[str]:
    """The object ids of a PlanGrasps request."""
    return [str(i) for i in msg.object_ids]


def plan_to_response(plan: GraspPlan, types: MessageTypes) -> Any:
    """The successful PlanGrasps response of ``plan``: its grasps in order (best first)."""
    grasps = [planned.grasp for planned in plan.grasps]
    without = f", none for {', '.join(repr(i) for i in plan.without_grasps)}" if plan.without_grasps else ""
    return types.new(
        PLAN_GRASPS_RESPONSE,
        success=True,
        message=f"{len(grasps)} grasp(s) for {len(plan.object_ids)} object(s){without}",
        header=make_header(plan.stamp_ns, plan.frame_id, types),
        planning_time_s=float(plan.planning_s),
        planned_object_ids=list(plan.object_ids),
        objects_without_grasps=list(plan.without_grasps),
        poses=[pose_from_transform(g.pose, types) for g in grasps],
        pre_grasp_poses=[pose_from_transform(g.pre_grasp, types) for g in grasps],
        object_ids=[planned.object_id for planned in plan.grasps],
        categories=[g.category for g in grasps],
        families=[g.family for g in grasps],
        scores=types.sequence(np.array([g.score for g in grasps]), "float32"),
        widths_m=types.sequence(np.array([g.width_m for g in grasps]), "float32"),
        openings_m=types.sequence(np.array([g.opening_m for g in grasps]), "float32"),
    )


def error_response(message: str, types: MessageTypes) -> Any:
    """A PlanGrasps response saying why no plan was made (``success`` false, no grasps)."""
    return types.new(PLAN_GRASPS_RESPONSE, success=False, message=str(message))


def response_to_plan(msg: Any) -> GraspPlan:
    """The :class:`GraspPlan` of a successful PlanGrasps response (grasp scores, widths and
    openings at float32 precision); ValueError with the response's message for a failed one."""
    if not msg.success:
        raise ValueError(f"plan_grasps failed: {msg.message}")
    columns = (
        msg.poses,
        msg.pre_grasp_poses,
        msg.object_ids,
        msg.categories,
        msg.families,
        msg.scores,
        msg.widths_m,
        msg.openings_m,
    )
    if len({len(column) for column in columns}) != 1:
        raise ValueError(
            f"PlanGrasps response: the per-grasp arrays differ in length: {[len(c) for c in columns]}"
        )
    grasps = []
    for pose, pre, object_id, category, family, score, width, opening in zip(*columns, strict=True):
        transform = transform_from_pose(pose)
        grasp = Grasp(
            pose=transform,
            pre_grasp=transform_from_pose(pre),
            width_m=float(width),
            opening_m=float(opening),
            score=float(score),
            approach=transform[:3, 2].copy(),
            family=str(family),
            category=str(category),
        )
        grasps.append(PlannedGrasp(str(object_id), grasp))
    return GraspPlan(
        stamp_ns=header_stamp_ns(msg.header),
        frame_id=str(msg.header.frame_id),
        object_ids=[str(i) for i in msg.planned_object_ids],
        grasps=grasps,
        without_grasps=[str(i) for i in msg.objects_without_grasps],
        planning_s=float(msg.planning_time_s),
    )
