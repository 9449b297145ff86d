"""Grasps planned on request (``GraspRequests``, ``Stack.plan_grasps``) on rendered frames: the
grasps the per-frame stage gives, for the objects asked for, and clear errors otherwise."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from diff9d_ros.bag.io import bag_topics
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.grasp.on_request import GraspRequests, NoFrameError, StaleFrameError, UnknownObjectError
from diff9d_ros.pipeline import FrameState, PipelineConfig
from diff9d_ros.runner import Stack, run_stack
from diff9d_ros.sources.synthetic import SyntheticSource

# Every detection tracked from its first frame: these tests are about requests, not confirmation.
CONFIG = PipelineConfig(pose_backend="baseline", forecast_backend="constant_velocity", tracker_min_hits=1)


@pytest.fixture(scope="module")
def frames() -> list:
    source = SyntheticSource(seconds=0.3, fps=10, seed=5, intrinsics=Intrinsics.realsense_d435(320, 240))
    return [item.frame for item in source]


@pytest.fixture(scope="module")
def per_frame(frames: list) -> FrameState:
    """The last state of the stack planning grasps on every frame."""
    stack = Stack(CONFIG)
    states = [stack.process(i, frame) for i, frame in enumerate(frames)]
    assert all(s.ok and "grasp" not in s.skipped for s in states)
    return states[-1]


@pytest.fixture(scope="module")
def on_request(frames: list) -> Stack:
    """A stack that plans grasps on no frame by itself, after the same frames."""
    stack = Stack(replace(CONFIG, grasp_per_frame=False))
    for i, frame in enumerate(frames):
        state = stack.process(i, frame)
        assert state.ok and "grasp" in state.skipped and state.grasps == {}
    return stack


def test_a_request_for_every_object_gives_the_per_frame_grasps(per_frame: FrameState, on_request: Stack):
    ids = [d.track_id for d in per_frame.detections]
    assert len(ids) >= 2 and all(ids), ids  # tracked objects
    plan = on_request.plan_grasps([])
    assert plan.object_ids == ids
    assert plan.stamp_ns == per_frame.stamp_ns and plan.frame_id == per_frame.frame.frame_id
    scores = [p.grasp.score for p in plan.grasps]
    assert scores == sorted(scores, reverse=True) and scores
    for index, object_id in enumerate(ids):
        expected = per_frame.grasps[index]
        got = [p.grasp for p in plan.grasps if p.object_id == object_id]
        assert len(got) == len(expected), object_id
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a.pose, b.pose, atol=1e-12)
            assert (a.score, a.width_m, a.family) == (b.score, b.width_m, b.family)
    assert plan.without_grasps == [i for n, i in enumerate(ids) if not per_frame.grasps[n]]
    assert plan.planning_s > 0
    np.testing.assert_allclose(plan.table_normal, per_frame.table_plane.normal, atol=1e-12)


def test_a_request_for_some_objects_plans_only_those(per_frame: FrameState, on_request: Stack) -> None:
    everything = on_request.plan_grasps()
    last = per_frame.detections[-1].track_id
    plan = on_request.plan_grasps([last, last])
    assert plan.object_ids == [last]
    assert {p.object_id for p in plan.grasps} <= {last}
    mine = [p.grasp.pose for p in everything.grasps if p.object_id == last]
    assert len(plan.grasps) == len(mine)
    for planned, pose in zip(plan.grasps, mine, strict=True):
        np.testing.assert_allclose(planned.grasp.pose, pose, atol=1e-12)


def test_unknown_ids_and_a_bare_string_are_refused(per_frame: FrameState, on_request: Stack) -> None:
    known = per_frame.detections[0].track_id
    with pytest.raises(UnknownObjectError, match=rf"unknown object id\(s\) 'track_99', '': .* has '{known}'"):
        on_request.plan_grasps(["track_99", known, ""])
    with pytest.raises(ValueError, match="must be a list of track id strings"):
        on_request.plan_grasps(known)
    with pytest.raises(ValueError, match="must be a list of track id strings"):
        on_request.plan_grasps([3])


def test_no_frame_yet_and_a_stale_frame_are_refused(frames: list) -> None:
    stack = Stack(replace(CONFIG, grasp_per_frame=False, grasp_request_max_age_s=0.5))
    with pytest.raises(NoFrameError, match="no frame with detections yet"):
        stack.plan_grasps()
    assert stack.process(0, frames[0]).ok
    assert stack.plan_grasps().stamp_ns == frames[0].stamp_ns
    # frames that fail (no valid depth) do not replace the newest good one, which ages
    broken = replace(
        frames[1], stamp_ns=frames[0].stamp_ns + 2_000_000_000, depth_m=frames[1].depth_m * np.nan
    )
    assert not stack.process(1, broken).ok
    with pytest.raises(StaleFrameError, match=r"is 2\.000 s old, more than max_age_s 0\.5 s"):
        stack.plan_grasps()
    later = replace(frames[2], stamp_ns=broken.stamp_ns + 100_000_000)
    assert stack.process(2, later).ok
    assert stack.plan_grasps().stamp_ns == later.stamp_ns


def test_max_age_is_validated(on_request: Stack) -> None:
    with pytest.raises(ValueError, match="grasp_request_max_age_s"):
        PipelineConfig(grasp_request_max_age_s=-1.0).validate()
    with pytest.raises(ValueError, match="max_age_s must be finite"):
        GraspRequests(on_request.stages[3], max_age_s=float("nan"))


@pytest.mark.slow
def test_a_program_plans_grasps_while_the_runner_runs(tmp_path) -> None:
    config = replace(CONFIG, grasp_per_frame=False)
    source = SyntheticSource(seconds=0.5, fps=10, seed=5, intrinsics=Intrinsics.realsense_d435(320, 240))
    stack = Stack(config)
    with pytest.raises(ValueError, match="another config"):
        run_stack(source, CONFIG, tmp_path / "other", progress=False, stack=stack)
    plans, errors = [], []
    done = threading.Event()

    def robot() -> None:  # asks again and again, as a robot program polling for grasps would
        while not done.wait(0.02):
            try:
                plans.append(stack.plan_grasps())
            except ValueError as error:
                errors.append(str(error))

    thread = threading.Thread(target=robot)
    thread.start()
    try:
        result = run_stack(source, config, tmp_path / "out", overlays=0, progress=False, stack=stack)
    finally:
        done.set()
        thread.join()
    assert all(r.status == "ok" for r in result.records)
    assert plans and all(p.object_ids for p in plans)
    assert all("no frame with detections yet" in e for e in errors)
    assert len({p.stamp_ns for p in plans}) >= 2  # the newest frame moved on under the requests
    assert "/diff9d/grasps" not in bag_topics(tmp_path / "out" / "bag")  # none planned per frame
    final = stack.plan_grasps()
    assert final.stamp_ns == result.records[-1].stamp_ns and final.grasps
