"""grasp_node's service messages, ``moveit_msgs/srv/GraspPlanning``, against the released
definitions: registered into the rosbags store from ``diff9d_ros/ros/definitions/``, a plan made on
a rendered frame goes through CDR as a response and its grasps come back; where ROS 2 and
moveit_msgs are installed (``ros`` marker), rclpy's bytes of the same response decode alike."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.grasp.gripper import FINGER_JOINTS, GripperModel, load_gripper
from diff9d_ros.grasp.on_request import (
    GraspPlan,
    GraspRequests,
    NoFrameError,
    StaleFrameError,
    UnknownObjectError,
)
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_grasp_planning import (
    ERROR_NAMES,
    GRASP_PLANNING,
    GRASP_PLANNING_REQUEST,
    GRASP_PLANNING_RESPONSE,
    INVALID_OBJECT_NAME,
    MIN_DISTANCE_FRACTION,
    PLANNING_FAILED,
    SUCCESS,
    error_code_of,
    grasp_planning_request,
    grasp_planning_response,
    ignored_request_fields,
    plan_to_response,
    request_object_ids,
    response_grasps,
)
from diff9d_ros.ros.convert_std import xyz_of
from diff9d_ros.ros.typestore import cdr_round_trip, get_typestore
from diff9d_ros.stages import build_stages

TYPES = convert.RosbagsTypes()
HAS_MOVEIT_MSGS = importlib.util.find_spec("moveit_msgs") is not None


@pytest.fixture(scope="module")
def gripper() -> GripperModel:
    return load_gripper()


@pytest.fixture(scope="module")
def plan() -> GraspPlan:
    """Grasps planned on request on a rendered frame, for its objects with track ids."""
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain("realsense", camera_distance_m=(0.5, 0.7))
    rng = np.random.default_rng(3)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "test"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    frame = replace(synth.frame, stamp_ns=1_700_000_000_123_456_789)
    detections = [replace(o.detection, track_id=f"track_{k}") for k, o in enumerate(synth.objects)]
    (stage,) = build_stages(PipelineConfig(), ["grasp"])
    requests = GraspRequests(stage)
    requests.offer(frame, detections)
    out = requests.plan([], frame.stamp_ns)
    assert len(out.grasps) >= 2 and len({p.object_id for p in out.grasps}) >= 2
    assert out.table_normal is not None
    return out


def test_the_registered_definitions_have_the_humble_fields() -> None:
    store = get_typestore()

    def fields(msgtype: str) -> list[str]:
        return [name for name, _ in store.fielddefs[msgtype][1]]

    assert fields(GRASP_PLANNING_REQUEST) == [
        "group_name",
        "target",
        "support_surfaces",
        "candidate_grasps",
        "movable_obstacles",
    ]
    assert fields(GRASP_PLANNING_RESPONSE) == ["grasps", "error_code"]
    assert fields("moveit_msgs/msg/Grasp") == [
        "id",
        "pre_grasp_posture",
        "grasp_posture",
        "grasp_pose",
        "grasp_quality",
        "pre_grasp_approach",
        "post_grasp_retreat",
        "post_place_retreat",
        "max_contact_force",
        "allowed_touch_objects",
    ]
    assert fields("moveit_msgs/msg/GripperTranslation") == ["direction", "desired_distance", "min_distance"]
    assert fields("object_recognition_msgs/msg/ObjectType") == ["key", "db"]
    codes = store.types["moveit_msgs/msg/MoveItErrorCodes"]
    for value, name in ERROR_NAMES.items():
        assert getattr(codes, name) == value


def test_a_plan_survives_the_response_on_the_wire(plan: GraspPlan, gripper: GripperModel) -> None:
    msg = cdr_round_trip(plan_to_response(plan, gripper, TYPES))
    assert msg.__msgtype__ == GRASP_PLANNING_RESPONSE == f"{GRASP_PLANNING}_Response"
    assert msg.error_code.val == SUCCESS and len(msg.grasps) == len(plan.grasps)
    _assert_same_grasps(response_grasps(msg, gripper), plan)
    ranks: dict[str, int] = {}
    for grasp, planned in zip(msg.grasps, plan.grasps, strict=True):
        rank = ranks.setdefault(planned.object_id, 0)
        ranks[planned.object_id] += 1
        assert grasp.id == f"{planned.object_id}/{rank}"
        assert list(grasp.allowed_touch_objects) == [planned.object_id]
        assert grasp.grasp_quality == planned.grasp.score and grasp.max_contact_force == 0.0
        for header in (
            grasp.grasp_pose.header,
            grasp.pre_grasp_approach.direction.header,
            grasp.post_grasp_retreat.direction.header,
        ):
            assert convert.header_stamp_ns(header) == plan.stamp_ns and header.frame_id == plan.frame_id


def test_the_grasp_pose_is_the_flange_and_the_motions_are_the_planner_s(plan: GraspPlan, gripper) -> None:
    msg = cdr_round_trip(plan_to_response(plan, gripper, TYPES))
    for grasp, planned in zip(msg.grasps, plan.grasps, strict=True):
        tcp, approach = planned.grasp.pose, planned.grasp.pose[:3, 2]
        flange = convert.pose_stamped_to_transform(grasp.grasp_pose)
        # The flange's x axis points along the approach, 0.1034 m behind the TCP (urdf/).
        np.testing.assert_allclose(flange[:3, 0], approach, atol=1e-9)
        np.testing.assert_allclose(flange[:3, 3] + 0.1034 * approach, tcp[:3, 3], atol=1e-9)
        np.testing.assert_allclose(xyz_of(grasp.pre_grasp_approach.direction.vector), approach, atol=1e-12)
        np.testing.assert_allclose(xyz_of(grasp.post_grasp_retreat.direction.vector), plan.table_normal)
        for motion in (grasp.pre_grasp_approach, grasp.post_grasp_retreat):
            assert motion.desired_distance == pytest.approx(
                0.10, rel=1e-6
            )  # PlannerConfig.approach_distance_m
            assert motion.min_distance == pytest.approx(MIN_DISTANCE_FRACTION * 0.10, rel=1e-6)
        for posture, opening in (
            (grasp.pre_grasp_posture, planned.grasp.opening_m),
            (grasp.grasp_posture, planned.grasp.width_m),
        ):
            assert list(posture.joint_names) == list(FINGER_JOINTS) and len(posture.points) == 1
            np.testing.assert_allclose(posture.points[0].positions, [opening / 2, opening / 2], atol=1e-12)


def test_without_a_table_the_retreat_goes_back_along_the_approach(plan: GraspPlan, gripper) -> None:
    msg = cdr_round_trip(plan_to_response(replace(plan, table_normal=None), gripper, TYPES))
    for grasp, planned in zip(msg.grasps, plan.grasps, strict=True):
        retreat = xyz_of(grasp.post_grasp_retreat.direction.vector)
        np.testing.assert_allclose(retreat, -planned.grasp.approach, atol=1e-12)


def _assert_same_grasps(got: list, plan: GraspPlan) -> None:
    assert [p.object_id for p in got] == [p.object_id for p in plan.grasps]
    for a, b in zip((p.grasp for p in got), (p.grasp for p in plan.grasps), strict=True):
        np.testing.assert_allclose(a.pose, b.pose, atol=1e-9)
        np.testing.assert_allclose(a.pre_grasp, b.pre_grasp, atol=1e-7)  # float32 distance
        np.testing.assert_allclose(a.approach, b.approach, atol=1e-9)
        np.testing.assert_allclose(
            [a.score, a.width_m, a.opening_m], [b.score, b.width_m, b.opening_m], rtol=1e-9
        )


def test_requests_on_the_wire() -> None:
    request = cdr_round_trip(grasp_planning_request("track_3", TYPES))
    assert request.__msgtype__ == GRASP_PLANNING_REQUEST
    assert request_object_ids(request) == ["track_3"] and ignored_request_fields(request) == []
    assert request_object_ids(cdr_round_trip(grasp_planning_request("", TYPES))) == []
    moveit_style = grasp_planning_request("track_1", TYPES)
    moveit_style.group_name = "arm"
    moveit_style.support_surfaces = ["table"]
    moveit_style = cdr_round_trip(moveit_style)
    assert ignored_request_fields(moveit_style) == ["group_name", "support_surfaces"]
    assert request_object_ids(moveit_style) == ["track_1"]


def test_refusals_answer_a_moveit_error_code(plan: GraspPlan, gripper: GripperModel) -> None:
    assert error_code_of(UnknownObjectError("x")) == INVALID_OBJECT_NAME == -19
    assert error_code_of(NoFrameError("x")) == -5  # UNABLE_TO_AQUIRE_SENSOR_DATA
    assert error_code_of(StaleFrameError("x")) == -24  # SENSOR_INFO_STALE
    assert error_code_of(ValueError("x")) == 99999  # FAILURE
    refused = cdr_round_trip(grasp_planning_response(INVALID_OBJECT_NAME, TYPES))
    assert refused.error_code.val == INVALID_OBJECT_NAME and len(refused.grasps) == 0
    with pytest.raises(ValueError, match=r"plan_grasps failed: INVALID_OBJECT_NAME \(-19\)"):
        response_grasps(refused, gripper)
    nothing = cdr_round_trip(plan_to_response(replace(plan, grasps=[]), gripper, TYPES))
    assert nothing.error_code.val == PLANNING_FAILED and len(nothing.grasps) == 0


def test_service_type_names_are_checked() -> None:
    with pytest.raises(ValueError, match="package/srv/Name_Request"):
        convert.RclpyTypes().new(GRASP_PLANNING)


@pytest.mark.skipif(HAS_MOVEIT_MSGS, reason="moveit_msgs is installed")
def test_missing_moveit_msgs_is_named() -> None:
    with pytest.raises(ValueError, match="'moveit_msgs' is not installed"):
        convert.RclpyTypes().new(GRASP_PLANNING_RESPONSE)


@pytest.mark.ros
@pytest.mark.skipif(not HAS_MOVEIT_MSGS, reason="needs moveit_msgs: apt install ros-<distro>-moveit-msgs")
def test_rclpy_response_matches_the_definition_on_the_wire(plan: GraspPlan, gripper: GripperModel) -> None:
    from moveit_msgs.msg import MoveItErrorCodes
    from rclpy.serialization import serialize_message

    for value, name in ERROR_NAMES.items():
        assert getattr(MoveItErrorCodes, name) == value
    msg = plan_to_response(plan, gripper, convert.RclpyTypes())
    _assert_same_grasps(response_grasps(msg, gripper), plan)
    decoded = get_typestore().deserialize_cdr(serialize_message(msg), GRASP_PLANNING_RESPONSE)
    _assert_same_grasps(response_grasps(decoded, gripper), plan)
    assert [g.id for g in decoded.grasps] == [g.id for g in msg.grasps]
