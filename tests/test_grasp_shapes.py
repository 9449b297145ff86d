"""Grasps for shapes the category families do not assume, checked in MuJoCo.

Each object stands on a table and is seen by a depth camera: the scene is ray-cast (open3d) from
a camera 0.6 m away at 50 degrees elevation, with 1 mm Gaussian depth noise, so the planner gets
one side of the object as a real camera gives it. The detection is the true pose and box unless
a test changes it.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
import trimesh

from diff9d_ros.geometry.clusters import STEREO_DEPTH_NOISE_PER_M
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp.physics import GraspSimulator, PhysicsObject
from diff9d_ros.grasp.planner import GraspPlanner
from diff9d_ros.grasp.shapes import food_tin, oval_necked_bottle
from diff9d_ros.nocs import DENSITY_KG_M3, Detection
from diff9d_ros.synth.scene import look_at

#: Canonical y (up) to world z.
Y_UP = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
FOCAL_PX, WIDTH_PX, HEIGHT_PX = 600.0, 640, 480


def camera_pose(azimuth_rad: float, distance_m: float = 0.6, elevation_deg: float = 50.0) -> np.ndarray:
    """World from optical frame of a camera looking at (0, 0, 0.05)."""
    target = np.array([0.0, 0.0, 0.05])
    elevation = np.radians(elevation_deg)
    eye = target + distance_m * np.array(
        [np.cos(elevation) * np.cos(azimuth_rad), np.cos(elevation) * np.sin(azimuth_rad), np.sin(elevation)]
    )
    return look_at(eye, target)


def seen_points(
    mesh_world: trimesh.Trimesh, cam: np.ndarray, seed: int, noise_per_m: float = 0.0
) -> np.ndarray:
    """Camera-frame points of the mesh and a 1 m table, ray-cast with 1 mm depth noise, or with a
    stereo sensor's ``noise_per_m * depth^2`` when ``noise_per_m`` is given."""
    table = trimesh.creation.box(
        extents=[1.0, 1.0, 0.02], transform=trimesh.transformations.translation_matrix([0, 0, -0.01])
    )
    scene = o3d.t.geometry.RaycastingScene()
    inverse = np.linalg.inv(cam)
    for mesh in (mesh_world, table):
        vertices = mesh.vertices @ inverse[:3, :3].T + inverse[:3, 3]
        scene.add_triangles(
            o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32))
        )
    v, u = np.mgrid[0:HEIGHT_PX, 0:WIDTH_PX]
    rays = np.stack(
        [(u - WIDTH_PX / 2) / FOCAL_PX, (v - HEIGHT_PX / 2) / FOCAL_PX, np.ones_like(u, float)], -1
    )
    rays = rays.reshape(-1, 3)
    hit = scene.cast_rays(o3d.core.Tensor(np.concatenate([np.zeros_like(rays), rays], 1).astype(np.float32)))
    depth = hit["t_hit"].numpy()
    valid = np.isfinite(depth)
    depth = depth[valid]
    sigma_m = noise_per_m * depth**2 if noise_per_m else 0.001
    depth = depth + np.random.default_rng(seed).normal(0.0, 1.0, valid.sum()) * sigma_m
    return rays[valid] * depth[:, None]


def upright_pose(mesh: trimesh.Trimesh, yaw_rad: float = 0.3) -> np.ndarray:
    """World pose of the canonical frame: standing on the table, turned by ``yaw_rad``."""
    pose = trimesh.transformations.rotation_matrix(yaw_rad, [0, 0, 1]) @ Y_UP
    pose[2, 3] = mesh.extents[1] / 2.0
    return pose


def plan_and_lift(
    mesh, category: str, azimuth_rad: float, detection_size_m=None, planner=None, camera=None, noise_per_m=0.0
):
    """(best grasp or None, MuJoCo trial or None) for ``mesh`` upright at the origin, seen by
    ``camera`` (world from optical; default :func:`camera_pose` of ``azimuth_rad``)."""
    pose = upright_pose(mesh)
    cam = camera_pose(azimuth_rad) if camera is None else camera
    world = mesh.copy()
    world.apply_transform(pose)
    points = seen_points(world, cam, seed=int(1000 * azimuth_rad), noise_per_m=noise_per_m)
    in_camera = np.linalg.inv(cam) @ pose
    size = mesh.extents if detection_size_m is None else np.asarray(detection_size_m, dtype=float)
    detection = Detection(category, in_camera[:3, :3], in_camera[:3, 3], size)
    planner = planner or GraspPlanner()
    plane = TablePlane(cam[:3, :3].T @ [0.0, 0.0, 1.0], float(cam[2, 3]))
    grasps = planner.plan(detection, points, plane)
    if not grasps:
        return None, None
    best = grasps[0]
    sim = GraspSimulator([PhysicsObject.from_mesh("object", mesh, pose, DENSITY_KG_M3[category])])
    return best, sim.run("object", cam @ best.pose, cam @ best.pre_grasp, best.opening_m)


@pytest.mark.slow
@pytest.mark.parametrize(("width_m", "height_m"), [(0.086, 0.034), (0.1025, 0.04)])
def test_tin_wider_than_the_opening_is_lifted_by_a_rim_pinch(width_m: float, height_m: float) -> None:
    """A tuna-style tin (0.086 m) and a wide tin (0.1025 m): no side grasp fits the 0.08 m opening;
    the rim pinch fitted on the seen top lifts them in MuJoCo."""
    tin = food_tin(width_m, height_m)
    for azimuth in (0.4, 2.5):
        best, trial = plan_and_lift(tin, "can", azimuth)
        assert best is not None, "a rim pinch is planned"
        assert best.family == "rim" and best.width_m < 0.01
        assert trial.success, trial
        assert trial.lift_achieved_m > 0.08


@pytest.mark.slow
def test_rim_pinch_reaches_the_seam_of_a_tin_seen_from_far() -> None:
    """A tuna-style tin (lid 3.5 mm below its 3 mm seam) 1.4 m away under a stereo sensor's noise
    (about 5 mm there), six views. The top band keeps the noise's upper tail: a lid height taken from
    the band put the fingertips above the tin, and no view lifted it. The lid is now measured over
    the middle of the disc: every pinch reaches down beside the seam onto the lid, and most lift (the
    views that do not are those whose disc centre the noise moved by 3 mm or more)."""
    tin = food_tin(0.086, 0.034)
    top_m = tin.extents[1] / 2.0
    lid_m = top_m - 0.0035
    lifted = 0
    for azimuth in (0.4, 1.0, 2.5, 2.6, 4.0, 5.5):
        camera = camera_pose(azimuth, distance_m=1.4, elevation_deg=60.0)
        best, trial = plan_and_lift(tin, "can", azimuth, camera=camera, noise_per_m=STEREO_DEPTH_NOISE_PER_M)
        assert best is not None, "a rim pinch is planned"
        assert best.family == "rim" and best.width_m < 0.01
        tcp = np.linalg.inv(upright_pose(tin)) @ camera @ best.pose  # canonical frame, approach -y
        tips_m = tcp[1, 3] - GraspPlanner().gripper.finger_z_range_m[1]
        assert lid_m - 0.003 <= tips_m <= top_m - 0.002, (azimuth, tips_m)
        lifted += trial.success
    assert lifted >= 3, lifted


@pytest.mark.slow
def test_tin_too_heavy_to_hang_from_its_rim_gets_no_plan() -> None:
    """A 0.1025 x 0.11 m tin weighs 0.86 kg: its weight moment about the rim (0.44 N m) is twice
    what 70 N holds on a few millimetres of rim, and MuJoCo drops it from the same pinch."""
    tin = food_tin(0.1025, 0.11)
    best, _ = plan_and_lift(tin, "can", 0.4)
    assert best is None
    # The pinch the planner refuses, placed by hand: down onto the seam, closing radially (world x),
    # the fingertips 1.5 mm below the lid; it does not hold.
    sim = GraspSimulator([PhysicsObject.from_mesh("tin", tin, upright_pose(tin, 0.0), DENSITY_KG_M3["can"])])
    tip_z = sim.gripper.finger_z_range_m[1]
    grasp = np.eye(4)
    grasp[:3, :3] = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]).T  # x, y, z columns
    grasp[:3, 3] = [0.1025 / 2 - 0.0015, 0.0, 0.11 - 0.0035 - 0.0015 + tip_z]
    pre = grasp.copy()
    pre[2, 3] += 0.10
    assert not sim.run("tin", grasp, pre, 0.018).success


@pytest.mark.slow
def test_oval_off_axis_neck_gets_a_neck_grasp_that_lifts() -> None:
    """The body is too wide both ways; the neck is oval and 18 mm off the axis, where the category
    family's round neck on the axis would close on the shoulder. The neck found on the points lifts."""
    bottle = oval_necked_bottle()
    for azimuth in (0.4, 2.0):
        best, trial = plan_and_lift(bottle, "bottle", azimuth)
        assert best is not None, "a grasp on the neck or cap is planned"
        assert best.family in ("neck", "top")
        assert trial.success, trial


@pytest.mark.slow
def test_underestimated_size_gives_no_plan_rather_than_a_failing_one() -> None:
    """A 0.09 m wide, 0.12 m tall tin detected as 0.072 m wide (20 % under): too wide for the opening
    and too heavy to hang from its rim. The points show the width, so no view gets a plan (the
    planner before the points were used planned side grasps here that MuJoCo failed)."""
    tin = food_tin(0.09, 0.12)
    for azimuth in (0.4, 1.5, 2.6, 3.7, 4.8):
        best, _ = plan_and_lift(tin, "can", azimuth, detection_size_m=[0.072, 0.12, 0.072])
        assert best is None, best


def test_bottle_seen_only_where_it_tapers_gets_no_slices() -> None:
    """A cone-shaped bottle: every band's halves differ by more than the taper limit, so no slice
    grasp is fitted (and planning still returns the model families' grasps or none, no error)."""
    from diff9d_ros.grasp.fitted import fitted_candidates
    from diff9d_ros.grasp.gripper import load_gripper
    from diff9d_ros.grasp.shapes import revolved

    cone = revolved([(0.0, 0.0), (0.06, 0.0), (0.004, 0.09), (0.0, 0.09)])
    pose = upright_pose(cone)
    cam = camera_pose(0.4)
    world = cone.copy()
    world.apply_transform(pose)
    in_camera = np.linalg.inv(cam) @ pose
    detection = Detection("bottle", in_camera[:3, :3], in_camera[:3, 3], cone.extents)
    points = seen_points(world, cam, seed=3)
    mine = points[np.linalg.norm(points - in_camera[:3, 3], axis=1) < 0.12]
    assert fitted_candidates(detection, mine, load_gripper(), 0.077) is None
    GraspPlanner().plan(detection, points, TablePlane(cam[:3, :3].T @ [0.0, 0.0, 1.0], float(cam[2, 3])))
