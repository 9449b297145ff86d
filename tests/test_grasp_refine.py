"""Refinement of grasp candidates on the observed points: own-point growth, re-centring, snapping."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from diff9d_ros.grasp.gripper import load_gripper
from diff9d_ros.grasp.planner import GraspPlanner, PlannerConfig
from diff9d_ros.grasp.refine import grow_own_points, recentre_on_points, snap_to_surface
from diff9d_ros.nocs import Detection
from tests.test_grasp_planner import (
    Y_UP,
    _at,
    camera_pose,
    can_scene,
    detection_of,
    plane_in_camera,
    table_points,
    to_camera,
    visible_points,
)


def _pad_centres(grasps, planner: GraspPlanner) -> np.ndarray:
    z_pad = np.mean(planner.gripper.finger_z_range_m)
    return np.array([g.pose[:3, 3] + z_pad * g.pose[:3, 2] for g in grasps])


def _shifted_detection(detection: Detection, cam: np.ndarray, offset_world_m) -> Detection:
    offset = cam[:3, :3].T @ np.asarray(offset_world_m, dtype=np.float64)
    return Detection(
        detection.category, detection.rotation, detection.translation_m + offset, detection.size_m
    )


@pytest.mark.parametrize("offset_world_m", [(0.02, 0.0, 0.0), (0.0, -0.02, 0.0), (0.014, 0.014, 0.0)])
def test_grasp_from_offset_pose_is_recentred_on_the_can(offset_world_m) -> None:
    """A pose 2 cm off the can: the best refined grasps close symmetrically about the can's real axis
    (the best two: lower in the list, ties include grasps approaching from the side the camera
    does not see, which the points cannot re-centre)."""
    points, detection, cam = can_scene()
    wrong = _shifted_detection(detection, cam, offset_world_m)
    planner = GraspPlanner(config=PlannerConfig(max_grasps=2))
    grasps = planner.plan(wrong, points, plane_in_camera(cam))
    assert grasps, planner.last_stats
    assert planner.last_stats.refined > 0
    for grasp, pad in zip(grasps, _pad_centres(grasps, planner), strict=True):
        pad_world = cam[:3, :3] @ pad + cam[:3, 3]
        to_axis = np.array([-pad_world[0], -pad_world[1], 0.0])
        closing_world = cam[:3, :3] @ grasp.pose[:3, 1]
        assert abs(to_axis @ closing_world) < 0.003, "pads centred on the can along the closing axis"
        assert np.linalg.norm(to_axis) < 0.033, "pad centre inside the can's outline"
        assert grasp.width_m == pytest.approx(0.066, abs=0.006)


def test_without_refinement_the_offset_pose_misplaces_the_pads() -> None:
    """The same 2 cm error without refinement: the pads close 1 cm off the axis (or no grasp)."""
    points, detection, cam = can_scene()
    wrong = _shifted_detection(detection, cam, (0.0, -0.02, 0.0))
    planner = GraspPlanner(config=PlannerConfig(max_grasps=3, refine_on_points=False))
    grasps = planner.plan(wrong, points, plane_in_camera(cam))
    offsets = [
        abs(np.array([-p[0], -p[1], 0.0]) @ (cam[:3, :3] @ g.pose[:3, 1]))
        for g, p in zip(grasps, _pad_centres(grasps, planner) @ cam[:3, :3].T + cam[:3, 3], strict=True)
    ]
    assert not grasps or max(offsets) > 0.008


def test_refinement_never_moves_fingers_into_the_table() -> None:
    """A low tin whose detected box floats 2 cm above it: snapping down stops at the table."""
    cam = camera_pose()
    tin = trimesh.creation.cylinder(radius=0.03, height=0.035, sections=48)
    tin.apply_translation([0, 0, 0.0175])
    world = np.concatenate([table_points(), visible_points(tin, cam[:3, 3])])
    floating = detection_of("can", _at([0.0, 0.0, 0.0375]) @ Y_UP, [0.06, 0.035, 0.06], cam)
    planner = GraspPlanner(config=PlannerConfig(max_grasps=1000))
    grasps = planner.plan(floating, to_camera(world, cam), plane_in_camera(cam))
    assert grasps, planner.last_stats
    assert planner.last_stats.refined > 0
    gripper = planner.gripper
    lowest = []
    for grasp in grasps:
        low, high = gripper.finger_bounds(grasp.opening_m)
        corners = np.array(
            [
                [x, y, z]
                for lo, hi in zip(low, high, strict=True)
                for x in (lo[0], hi[0])
                for y in (lo[1], hi[1])
                for z in (lo[2], hi[2])
            ]
        )
        world_pose = cam @ grasp.pose
        lowest.append((corners @ world_pose[:3, :3].T + world_pose[:3, 3])[:, 2].min())
    assert min(lowest) >= planner.config.table_clearance_m - 1e-6
    # The snap did move grasps down to the real tin: some fingertips end below the floating box's bottom.
    assert min(lowest) < 0.02


def test_snap_forward_is_capped_by_the_table_and_backing_off_is_always_allowed() -> None:
    gripper = load_gripper()
    poses = np.repeat(np.eye(4)[None], 3, axis=0)
    z_near = -0.04
    # Own points 15 mm further than expected (first two) and 10 mm nearer (third), between the pads.
    surface = np.array([0.015, 0.015, -0.010]) + z_near
    local = np.stack([np.array([[0.0, y, s] for y in (-0.01, 0.0, 0.01)]) for s in surface])
    poses[:, :3, 3] = [0.0, 0.0, 0.3]  # in front of the camera, approach along its view ray
    max_forward = np.array([np.inf, 0.005, np.inf])
    moved, moved_local, shift, observed = snap_to_surface(
        poses, local, np.full(3, z_near), np.full(3, 0.04), gripper, 0.02, max_forward
    )
    np.testing.assert_allclose(shift, [0.015, 0.005, -0.010], atol=1e-9)
    assert observed.all()
    np.testing.assert_allclose(moved[:, 2, 3], 0.3 + shift)
    np.testing.assert_allclose(moved_local[:, :, 2], local[:, :, 2] - shift[:, None], atol=1e-6)
    # Approaching from the side the camera cannot see: only backing off is trusted.
    behind = poses.copy()
    behind[:, :3, 3] = [0.0, 0.0, -0.3]
    _, _, shift, observed = snap_to_surface(
        behind, local, np.full(3, z_near), np.full(3, 0.04), gripper, 0.02, max_forward
    )
    np.testing.assert_allclose(shift, [0.0, 0.0, -0.010], atol=1e-9)
    assert not observed.any()


def test_recentre_moves_least_onto_the_nearest_cluster() -> None:
    gripper = load_gripper()
    z = np.mean(gripper.finger_z_range_m)
    wall = [[0.0, y, z] for y in np.linspace(0.012, 0.020, 5)]  # an 8 mm wall 12 to 20 mm off centre
    far = [[0.0, y, z] for y in np.linspace(-0.055, -0.045, 3)]  # another part, beyond a finger gap
    body = [[0.0, y, z] for y in np.linspace(-0.03, 0.03, 13)]  # a 60 mm body around the centre
    outside = [[0.05, 0.0, z]]  # beside the pads: ignored
    beyond = [[0.0, 0.0, 0.5]]  # past the fingertips: ignored
    local = np.stack([np.array(wall + far + outside * 8), np.array(body + outside + beyond * 2)])
    poses = np.repeat(np.eye(4)[None], 2, axis=0)
    # The wall and the predicted 8 mm interval together (4 mm + 20 mm = 24 mm) exceed 20 mm:
    # the wall is held on its own.
    moved, moved_local, width, shift, observed = recentre_on_points(
        poses, local, np.array([0.008, 0.04]), gripper, 0.02, 0.021, 0.02
    )
    np.testing.assert_allclose(shift, [0.016, 0.0], atol=1e-9)
    np.testing.assert_allclose(width, [0.008, 0.06], atol=1e-9)
    np.testing.assert_allclose(moved[0, :3, 3], [0.0, 0.016, 0.0])
    wall_after = moved_local[0, :5, 1]
    assert wall_after.min() >= -0.004 - 1e-7 and wall_after.max() <= 0.004 + 1e-7
    # Within a 68 mm opening both fit: the fingers enclose the wall and the predicted interval.
    _, _, width, shift, observed = recentre_on_points(
        poses[:1], local[:1], np.array([0.008]), gripper, 0.02, 0.021, 0.068
    )
    assert width[0] == pytest.approx(0.024) and shift[0] == pytest.approx(0.008)
    # Nothing in the slab: left alone.
    _, _, width, shift, observed = recentre_on_points(
        poses[:1], local[:1, 8:], np.array([0.01]), gripper, 0.02, 0.021, 0.068
    )
    assert shift[0] == 0.0 and width[0] == pytest.approx(0.01) and not observed[0]


def test_own_points_grow_past_a_wrong_box_but_not_onto_a_neighbour() -> None:
    rng = np.random.default_rng(0)
    cube = rng.uniform(-0.03, 0.03, size=(4000, 3))  # the object, 6 cm
    neighbour = rng.uniform(-0.02, 0.02, size=(1500, 3)) + np.array([0.075, 0.0, 0.0])  # 2.5 cm gap
    points = np.concatenate([cube, neighbour])
    wrong = Detection("can", np.eye(3), [0.015, 0.0, 0.0], [0.06, 0.06, 0.06])  # 1.5 cm off
    own = grow_own_points(points, wrong, 0.005, 0.025, 0.009)
    assert own[: len(cube)].all()
    assert not own[len(cube) :].any()
    with pytest.raises(ValueError, match="seed_tolerance_m"):
        grow_own_points(points, wrong, 0.03, 0.02, 0.009)
