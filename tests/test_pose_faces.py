"""A standing camera's or laptop's heading taken from the faces its points show."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.faces import face_heading, turn_onto_faces
from diff9d_ros.pose.segmentation import table_plane
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import synthesize

UP = np.array([0.0, -0.8, -0.6])
CENTRE = np.array([0.05, 0.1, 0.7])


def _standing(yaw_deg: float) -> np.ndarray:
    """The rotation of an object standing on the table of normal :data:`UP`, turned by ``yaw_deg``."""
    x = np.cross(UP, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    base = np.stack([x, UP, np.cross(x, UP)], axis=1)
    return Rotation.from_rotvec(np.radians(yaw_deg) * UP).as_matrix() @ base


def _visible_box_points(rotation: np.ndarray, size_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy points (1 mm) on the faces of a box (centre :data:`CENTRE`) that face the camera at
    the origin, 3 mm apart on average."""
    points = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = sign * rotation[:, axis]
            face_centre = CENTRE + normal * size_m[axis] / 2.0
            if normal @ face_centre >= 0.0:  # faces away from the camera
                continue
            u, v = (i for i in range(3) if i != axis)
            area = size_m[u] * size_m[v]
            s = rng.uniform(-0.5, 0.5, size=(int(area / 9e-6), 2))
            points.append(
                face_centre
                + np.outer(s[:, 0] * size_m[u], rotation[:, u])
                + np.outer(s[:, 1] * size_m[v], rotation[:, v])
            )
    points = np.concatenate(points)
    return points + rng.normal(0.0, 0.001, size=points.shape)


def _camera(rotation: np.ndarray) -> Detection:
    return Detection("camera", rotation, CENTRE, np.array([0.09, 0.11, 0.13]), score=0.9)


def test_a_turned_sample_takes_the_faces_heading_and_keeps_its_front() -> None:
    rng = np.random.default_rng(0)
    truth = _standing(20.0)
    points = _visible_box_points(truth, np.array([0.09, 0.11, 0.13]), rng)
    for error_deg in (-35.0, -10.0, 25.0, 40.0):
        turned = turn_onto_faces(_camera(_standing(20.0 + error_deg)), points, UP)
        assert np.degrees(Rotation.from_matrix(turned.rotation.T @ truth).magnitude()) < 2.0
        assert np.allclose(turned.translation_m, CENTRE) and np.allclose(turned.size_m, [0.09, 0.11, 0.13])
    # The network's front stays: a sample facing backwards is turned onto the back face.
    backwards = turn_onto_faces(_camera(_standing(200.0 + 25.0)), points, UP)
    assert np.degrees(Rotation.from_matrix(backwards.rotation.T @ _standing(200.0)).magnitude()) < 2.0


def test_a_round_body_or_a_sample_that_does_not_stand_is_left_alone() -> None:
    rng = np.random.default_rng(1)
    angle = rng.uniform(-np.pi / 2.0, np.pi / 2.0, 3000)  # the half of a cylinder facing the camera
    rotation = _standing(0.0)
    towards_camera = -CENTRE / np.linalg.norm(CENTRE)
    front = towards_camera - (towards_camera @ UP) * UP
    front /= np.linalg.norm(front)
    side = np.cross(UP, front)
    height = rng.uniform(-0.05, 0.05, 3000)
    cylinder = (
        CENTRE
        + 0.04 * (np.outer(np.cos(angle), front) + np.outer(np.sin(angle), side))
        + np.outer(height, UP)
    )
    _, concentration = face_heading(cylinder, UP)
    assert concentration < 0.1
    sample = _camera(_standing(17.0))
    assert turn_onto_faces(sample, cylinder, UP) is sample
    box = _visible_box_points(rotation, np.array([0.09, 0.11, 0.13]), rng)
    leaning = _camera(Rotation.from_rotvec(np.radians(5.0) * rotation[:, 0]).as_matrix() @ _standing(17.0))
    assert turn_onto_faces(leaning, box, UP) is leaning
    assert face_heading(box[:10], UP) == (None, 0.0)


def test_the_faces_of_rendered_cameras_and_laptops_give_their_heading() -> None:
    """Rendered test-split cameras and laptops with stereo depth noise, points from their exact
    masks: the heading of the faces is within 5 degrees (up to a quarter turn) of the truth's."""
    intrinsics = Intrinsics.realsense_d435()
    config = replace(RandomizationConfig.for_domain("realsense"), categories=("camera", "laptop"))
    renderer = Renderer(intrinsics, nthreads=1)
    rng = np.random.default_rng(3)
    errors = []
    for _ in range(5):
        synth = synthesize(compose_scene(rng, config, intrinsics, "test"), renderer, config.sensor, rng)
        plane = table_plane(synth.frame)
        assert plane is not None
        for truth in synth.objects:
            standing = abs(truth.detection.rotation[:, 1] @ plane.normal) > np.cos(np.radians(3.0))
            if truth.visible_pixels < 800 or not standing:
                continue
            mask = synth.frame.instance_mask == truth.detection.mask_id
            heading, _ = face_heading(
                synth.frame.intrinsics.backproject(synth.frame.depth_m, mask), plane.normal
            )
            assert heading is not None
            cos = np.abs(truth.detection.rotation[:, [0, 2]].T @ heading).max()
            errors.append(np.degrees(np.arccos(min(cos, 1.0))))
    assert len(errors) >= 8
    assert np.mean(np.array(errors) < 5.0) >= 0.8, np.round(errors, 1)
