"""The PlanGrasps service messages against the real definitions: the request and response types are
registered into a rosbags type store from ``interfaces/diff9d_interfaces/srv/PlanGrasps.srv``, a
plan made on a rendered frame goes through CDR and comes back; where ROS 2 and diff9d_interfaces
are installed (``ros`` marker), rclpy's bytes of the same response decode to the same plan."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.grasp.on_request import GraspPlan, GraspRequests
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_grasp_service import (
    PLAN_GRASPS,
    PLAN_GRASPS_REQUEST,
    PLAN_GRASPS_RESPONSE,
    error_response,
    plan_grasps_request,
    plan_to_response,
    request_object_ids,
    response_to_plan,
)
from diff9d_ros.stages import build_stages

SRV = Path(__file__).resolve().parents[1] / "interfaces" / "diff9d_interfaces" / "srv" / "PlanGrasps.srv"


def service_typestore() -> Typestore:
    """The Humble store with PlanGrasps' request and response registered from the .srv text
    (rosbags parses messages; a service is two of them, split at ``---``)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    request, response = SRV.read_text(encoding="utf-8").split("\n---\n")
    for part, text in ((PLAN_GRASPS_REQUEST, request), (PLAN_GRASPS_RESPONSE, response)):
        (definition,) = get_types_from_msg(text, part).values()  # filed by rosbags under pkg/srv/msg/
        store.register({part: definition})
    return store


@pytest.fixture(scope="module")
def store() -> Typestore:
    return service_typestore()


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
    return out


def _round_trip(store: Typestore, msg):
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def test_a_plan_survives_the_response_on_the_wire(store: Typestore, plan: GraspPlan) -> None:
    msg = plan_to_response(plan, convert.RosbagsTypes(store))
    assert msg.__msgtype__ == PLAN_GRASPS_RESPONSE == f"{PLAN_GRASPS}_Response"
    back = _round_trip(store, msg)
    assert back.success and back.message.startswith(f"{len(plan.grasps)} grasp(s) for ")
    assert convert.header_stamp_ns(back.header) == plan.stamp_ns
    _assert_same_plan(response_to_plan(back), plan)


def _assert_same_plan(got: GraspPlan, plan: GraspPlan) -> None:
    assert (got.stamp_ns, got.frame_id, got.object_ids) == (plan.stamp_ns, plan.frame_id, plan.object_ids)
    assert got.without_grasps == plan.without_grasps
    assert got.planning_s == pytest.approx(plan.planning_s, rel=1e-6)
    assert [p.object_id for p in got.grasps] == [p.object_id for p in plan.grasps]
    for a, b in zip((p.grasp for p in got.grasps), (p.grasp for p in plan.grasps), strict=True):
        np.testing.assert_allclose(a.pose, b.pose, atol=1e-9)
        np.testing.assert_allclose(a.pre_grasp, b.pre_grasp, atol=1e-9)
        np.testing.assert_allclose(a.approach, b.approach, atol=1e-9)
        assert (a.category, a.family) == (b.category, b.family)
        np.testing.assert_allclose(
            [a.score, a.width_m, a.opening_m], [b.score, b.width_m, b.opening_m], rtol=1e-6
        )


def test_request_and_failure_on_the_wire(store: Typestore) -> None:
    types = convert.RosbagsTypes(store)
    request = _round_trip(store, plan_grasps_request(["track_3", "track_1"], types))
    assert request_object_ids(request) == ["track_3", "track_1"]
    assert request_object_ids(_round_trip(store, plan_grasps_request([], types))) == []
    failed = _round_trip(store, error_response("unknown object id(s) 'track_9'", types))
    assert not failed.success and len(failed.poses) == 0 and len(failed.scores) == 0
    with pytest.raises(ValueError, match="plan_grasps failed: unknown object id"):
        response_to_plan(failed)


def test_ragged_response_is_refused(store: Typestore, plan: GraspPlan) -> None:
    msg = plan_to_response(plan, convert.RosbagsTypes(store))
    msg.families = msg.families[:-1]
    with pytest.raises(ValueError, match="per-grasp arrays differ in length"):
        response_to_plan(msg)


def test_service_type_names_are_checked() -> None:
    with pytest.raises(ValueError, match="package/srv/Name_Request"):
        convert.RclpyTypes().new(PLAN_GRASPS)


@pytest.mark.skipif(
    importlib.util.find_spec("diff9d_interfaces") is not None, reason="diff9d_interfaces is installed"
)
def test_missing_interface_package_is_named() -> None:
    with pytest.raises(ValueError, match="'diff9d_interfaces' is not installed"):
        convert.RclpyTypes().new(PLAN_GRASPS_RESPONSE)


@pytest.mark.ros
def test_rclpy_response_matches_the_definition_on_the_wire(store: Typestore, plan: GraspPlan) -> None:
    if importlib.util.find_spec("diff9d_interfaces") is None:
        pytest.skip("needs diff9d_interfaces: build interfaces/diff9d_interfaces and source its setup")
    from rclpy.serialization import serialize_message

    msg = plan_to_response(plan, convert.RclpyTypes())
    _assert_same_plan(response_to_plan(msg), plan)
    decoded = store.deserialize_cdr(serialize_message(msg), PLAN_GRASPS_RESPONSE)
    _assert_same_plan(response_to_plan(decoded), plan)
