"""Planner: collisions with obstacles and the table, clear grasps accepted, uncertainty in the score.

Scenes are built from trimesh primitives in a world frame (table z = 0, z up) seen by a camera
looking down at 45 degrees; the planner works in the camera optical frame as in the pipeline.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp.planner import GraspPlanner, PlannerConfig
from diff9d_ros.nocs import Detection

#: Canonical y (up) to world z.
Y_UP = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])


def camera_pose() -> np.ndarray:
    """World from optical frame: camera at (-0.45, 0, 0.55) looking at the origin."""
    eye = np.array([-0.45, 0.0, 0.55])
    z = -eye / np.linalg.norm(eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    pose[:3, 3] = eye
    return pose


def visible_points(mesh: trimesh.Trimesh, eye: np.ndarray, count: int = 6000) -> np.ndarray:
    """Surface samples facing the camera (world frame)."""
    points, faces = trimesh.sample.sample_surface(mesh, count, seed=1)
    facing = np.einsum("ij,ij->i", mesh.face_normals[faces], points - eye) < 0
    return points[facing]


def table_points() -> np.ndarray:
    grid = np.stack(np.meshgrid(np.linspace(-0.4, 0.4, 161), np.linspace(-0.4, 0.4, 161)), -1).reshape(-1, 2)
    return np.c_[grid, np.zeros(len(grid))]


def to_camera(points_world: np.ndarray, cam: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(cam)
    return points_world @ inv[:3, :3].T + inv[:3, 3]


def plane_in_camera(cam: np.ndarray) -> TablePlane:
    return TablePlane(cam[:3, :3].T @ [0.0, 0.0, 1.0], float(cam[2, 3]))


def detection_of(
    category: str, canonical_to_world: np.ndarray, size_m, cam: np.ndarray, cov=None
) -> Detection:
    transform = np.linalg.inv(cam) @ canonical_to_world
    kwargs = {} if cov is None else {"covariance": cov}
    return Detection(category, transform[:3, :3], transform[:3, 3], size_m, **kwargs)


def can_scene(with_obstacle: bool = False):
    """A 0.066 x 0.12 m can standing at the origin, optionally a tall box right next to it."""
    cam = camera_pose()
    can = trimesh.creation.cylinder(radius=0.033, height=0.12, sections=48)
    can.apply_translation([0, 0, 0.06])
    meshes = [can]
    if with_obstacle:
        meshes.append(trimesh.creation.box(extents=[0.04, 0.3, 0.25], transform=_at([0.075, 0.0, 0.125])))
    world = np.concatenate([table_points()] + [visible_points(m, cam[:3, 3]) for m in meshes])
    pose = _at([0.0, 0.0, 0.06]) @ Y_UP
    return to_camera(world, cam), detection_of("can", pose, [0.066, 0.12, 0.066], cam), cam


def _at(xyz) -> np.ndarray:
    out = np.eye(4)
    out[:3, 3] = xyz
    return out


@pytest.fixture(scope="module")
def planner() -> GraspPlanner:
    return GraspPlanner()


def test_clear_grasp_on_isolated_can_is_accepted(planner: GraspPlanner) -> None:
    points, detection, cam = can_scene()
    grasps = planner.plan(detection, points, plane_in_camera(cam))
    assert grasps, planner.last_stats
    best = grasps[0]
    assert best.width_m == pytest.approx(0.066, abs=0.004)
    assert best.width_m < best.opening_m <= planner.gripper.max_opening_m
    # The pads close on the can: pad centre within the can's radius of its axis, above the table.
    tcp_world = cam @ best.pose
    assert np.hypot(*tcp_world[:2, 3]) < 0.033 + 0.02
    assert 0.0 < tcp_world[2, 3] < 0.12
    pre_world = cam @ best.pre_grasp
    np.testing.assert_allclose(np.linalg.norm(pre_world[:3, 3] - tcp_world[:3, 3]), 0.10, atol=1e-9)
    scores = [g.score for g in grasps]
    assert scores == sorted(scores, reverse=True) and 0.0 < scores[-1] <= scores[0] <= 1.0


def test_grasp_through_an_obstacle_is_rejected() -> None:
    """A wall right beside the can: every grasp approaching through it is rejected."""
    planner = GraspPlanner(config=PlannerConfig(max_grasps=1000))

    def from_wall_side(grasps, cam) -> list:
        return [g for g in grasps if (cam[:3, :3] @ g.approach)[0] < -0.7]  # moving towards -x

    points, detection, cam = can_scene()
    free = planner.plan(detection, points, plane_in_camera(cam))
    assert from_wall_side(free, cam), "without the wall, grasps from +x exist"
    points, detection, cam = can_scene(with_obstacle=True)
    blocked = planner.plan(detection, points, plane_in_camera(cam))
    assert blocked, "grasps from the free side must remain"
    assert from_wall_side(blocked, cam) == []
    assert planner.last_stats.collision > 0
    assert len(blocked) < len(free)


def test_best_mug_grasp_lying_on_side_is_not_through_the_table(planner: GraspPlanner) -> None:
    cam = camera_pose()
    body = trimesh.creation.cylinder(radius=0.04, height=0.1, sections=48)  # axis z, open at +z
    inner = trimesh.creation.cylinder(radius=0.035, height=0.1, sections=48, transform=_at([0, 0, 0.01]))
    mesh = body.difference(inner)
    # Lying on its side: canonical y along world x, resting on the table (axis at z = 0.04).
    canonical_to_world = _at([0.0, 0.0, 0.04]) @ trimesh.transformations.rotation_matrix(
        -np.pi / 2, [0, 0, 1]
    )
    mesh.apply_transform(canonical_to_world @ np.linalg.inv(Y_UP))
    world = np.concatenate([table_points(), visible_points(mesh, cam[:3, 3])])
    detection = detection_of("mug", canonical_to_world, [0.08, 0.1, 0.08], cam)
    plane = plane_in_camera(cam)
    grasps = planner.plan(detection, to_camera(world, cam), plane)
    assert grasps, planner.last_stats
    gripper = planner.gripper
    for grasp in grasps[:3]:
        low, high = gripper.finger_bounds(grasp.opening_m)
        corners = np.concatenate(
            [
                np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
                for lo, hi in zip(low, high, strict=True)
            ]
        )
        world_corners = corners @ (cam @ grasp.pose)[:3, :3].T + (cam @ grasp.pose)[:3, 3]
        assert world_corners[:, 2].min() >= 0.0, "finger below the table top"
        assert (cam[:3, :3] @ grasp.approach)[2] <= 0.2, "approach from below the table"


def test_pose_uncertainty_lowers_scores_and_prefers_insensitive_grasps(planner: GraspPlanner) -> None:
    points, detection, cam = can_scene()
    plane = plane_in_camera(cam)
    certain = planner.plan(detection, points, plane)
    cov = np.diag([0.01**2] * 3 + [np.radians(5.0) ** 2] * 3)
    uncertain = planner.plan(
        Detection("can", detection.rotation, detection.translation_m, detection.size_m, covariance=cov),
        points,
        plane,
    )
    assert uncertain and certain
    assert uncertain[0].score < certain[0].score


def test_wide_object_has_no_grasp(planner: GraspPlanner) -> None:
    cam = camera_pose()
    can = trimesh.creation.cylinder(radius=0.06, height=0.06, sections=48)
    can.apply_translation([0, 0, 0.03])
    world = np.concatenate([table_points(), visible_points(can, cam[:3, 3])])
    detection = detection_of("can", _at([0, 0, 0.03]) @ Y_UP, [0.12, 0.06, 0.12], cam)
    assert planner.plan(detection, to_camera(world, cam), plane_in_camera(cam)) == []
    assert planner.last_stats.too_wide == planner.last_stats.candidates


def test_bad_input_is_a_clear_error(planner: GraspPlanner) -> None:
    points, detection, _ = can_scene()
    with pytest.raises(ValueError, match="scene_points_m"):
        planner.plan(detection, points[:, :2])
    with pytest.raises(ValueError, match="category"):
        planner.plan(Detection("spoon", np.eye(3), [0, 0, 0.5], [0.1, 0.1, 0.1]), points)
    with pytest.raises(ValueError, match="normal"):
        TablePlane(np.zeros(3), 0.0)


def _synthetic_instance_scene(category: str, instance_id: int, yaw_rad: float):
    """A test-split synthetic instance upright at the origin, turned by ``yaw_rad``, seen by the camera."""
    from diff9d_ros.synth.meshes import instance_mesh

    instance = instance_mesh(category, instance_id)
    cam = camera_pose()
    canonical_to_world = (
        _at([0.0, 0.0, instance.size_m[1] / 2])
        @ trimesh.transformations.rotation_matrix(yaw_rad, [0, 0, 1])
        @ Y_UP
    )
    mesh = instance.mesh.copy()
    mesh.apply_transform(canonical_to_world)
    world = np.concatenate([table_points(), visible_points(mesh, cam[:3, 3])])
    detection = detection_of(category, canonical_to_world, instance.size_m, cam)
    return to_camera(world, cam), detection, cam, instance


@pytest.mark.parametrize("yaw_deg", [0.0, 60.0, 150.0])
def test_camera_gets_a_grasp_across_its_body(planner: GraspPlanner, yaw_deg: float) -> None:
    """A test camera 0.128 x 0.105 x 0.095 m (lens included): too wide and too tall for the
    0.08 m opening except across its body's thickness, behind the lens."""
    points, detection, cam, instance = _synthetic_instance_scene("camera", 951, np.radians(yaw_deg))
    grasps = planner.plan(detection, points, plane_in_camera(cam))
    assert grasps, planner.last_stats
    best = grasps[0]
    closing_canonical = detection.rotation.T @ best.pose[:3, 1]
    assert abs(closing_canonical[0]) > 0.99, "closes across the body's thickness (canonical x, the lens axis)"
    body_depth = instance.params["depth"]
    assert best.width_m < 0.08 and best.width_m >= body_depth - 0.005
    # The pads straddle the body: the pad centre lies within the body, behind the lens.
    pad = best.pose[:3, 3] + np.mean(planner.gripper.finger_z_range_m) * best.pose[:3, 2]
    pad_canonical = detection.rotation.T @ (pad - detection.translation_m)
    assert pad_canonical[0] < -instance.size_m[0] / 2 + body_depth


def test_laptop_plans_fast_and_pinches_the_lid(planner: GraspPlanner) -> None:
    points, detection, cam, _ = _synthetic_instance_scene("laptop", 957, np.radians(20.0))
    cloud = planner.prepare_scene(points, plane_in_camera(cam))
    grasps = planner.plan(detection, cloud)
    assert grasps and grasps[0].family == "edge"
    assert planner.last_stats.candidates <= 40


def test_laptop_turned_round_and_too_small_still_pinches_its_lid_edge(planner: GraspPlanner) -> None:
    """The pose network's laptop errors on validation scenes: the box turned by 180 degrees about
    the vertical (the lid on the wrong side) and 10 % too small. The model's pinches then land in
    front of the lid and collide with it; the pinches placed on the highest points (the lid's top
    edge) and the slope of the lid's face below it close across the lid where it is."""
    from dataclasses import replace

    from scipy.spatial.transform import Rotation

    points, truth, cam, instance = _synthetic_instance_scene("laptop", 957, np.radians(20.0))
    turned = truth.rotation @ Rotation.from_rotvec([0.0, np.pi, 0.0]).as_matrix()
    detection = replace(truth, rotation=turned, size_m=0.9 * truth.size_m)
    grasps = planner.plan(detection, points, plane_in_camera(cam))
    assert grasps and grasps[0].family == "edge", planner.last_stats
    best = grasps[0]
    # In the true canonical frame: the fingertips hang over the lid's top edge, at the back (-x)
    # and the top of the box, closing across the lid (mostly along x for a lid near vertical).
    tips = best.pose[:3, 3] + planner.gripper.finger_z_range_m[1] * best.pose[:3, 2]
    tips_canonical = truth.rotation.T @ (tips - truth.translation_m)
    assert tips_canonical[0] < -instance.size_m[0] / 4
    assert instance.size_m[1] / 2 - 0.06 < tips_canonical[1] < instance.size_m[1] / 2
    closing_canonical = truth.rotation.T @ best.pose[:3, 1]
    assert abs(closing_canonical[0]) > 0.7 and abs(closing_canonical[2]) < 0.2


def test_distinct_poses_drops_repeats_including_the_jaw_symmetry() -> None:
    from scipy.spatial.transform import Rotation

    from diff9d_ros.grasp.planner import distinct_poses

    def pose(rotvec: list[float], xyz: list[float]) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
        out[:3, 3] = xyz
        return out

    poses = np.stack(
        [
            pose([0, 0, 0], [0, 0, 0.5]),
            pose([0, 0, np.pi], [0.002, 0, 0.5]),  # the same grasp with the fingers' labels swapped
            pose([0, 0, 0.05], [0, 0.003, 0.5]),  # 3 mm and 3 deg away: a repeat
            pose([0, 0, np.pi / 2], [0, 0, 0.5]),  # closing across the other axis: distinct
            pose([0, 0, 0], [0.02, 0, 0.5]),  # 2 cm away: distinct
        ]
    )
    assert distinct_poses(poses, [0, 1, 2, 3, 4], 0.005, 10.0, limit=10) == [0, 3, 4]
    assert distinct_poses(poses, [0, 1, 2, 3, 4], 0.005, 10.0, limit=2) == [0, 3]


def test_the_table_band_grows_with_the_depth_noise() -> None:
    """A stereo sensor's table 1.3 m away scatters k z^2 = 4.4 mm along the line of sight: a fixed
    8 mm band keeps a skirt of table points that joins every object on it, the noise-scaled band
    (8 mm plus 1.5 deviations at each point's depth) drops it and keeps what stands higher."""
    rng = np.random.default_rng(4)
    cam = camera_pose()
    cam[:3, 3] *= 1.3 / np.linalg.norm(cam[:3, 3])  # 1.3 m from the table centre
    table = to_camera(table_points(), cam)
    sigma_m = PlannerConfig().depth_noise_per_m * table[:, 2:] ** 2
    noisy = table * (1.0 + rng.normal(0.0, 1.0, (len(table), 1)) * sigma_m / table[:, 2:])  # along the ray
    box = to_camera(np.c_[rng.uniform(-0.03, 0.03, (500, 2)), np.full(500, 0.03)], cam)  # a top 3 cm up
    plane = plane_in_camera(cam)
    scene = np.r_[noisy, box]
    fixed = GraspPlanner(config=PlannerConfig(table_noise_deviations=0.0)).prepare_scene(scene, plane)
    scaled = GraspPlanner().prepare_scene(scene, plane)
    skirt = [np.sum(plane.height_m(c.points_m) < 0.02) for c in (fixed, scaled)]
    assert skirt[0] > 100 and skirt[1] < 0.05 * skirt[0]  # the table points above the fixed band
    assert np.sum(plane.height_m(scaled.points_m) > 0.025) >= 20  # the box's top is kept (5 mm voxels)
