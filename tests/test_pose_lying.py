"""Aligning a lying bottle's or can's sampled pose with the measured axis line."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.baseline import lying_line
from diff9d_ros.pose.lying import AGREE_DEG, align_to_axis, lying_box_axis, measured_axis
from diff9d_ros.pose.top_end import classifiers_from_checkpoint
from diff9d_ros.pose.train import load_checkpoint
from diff9d_ros.resources import share_path

UP = np.array([0.0, -0.8, -0.6])
MODEL = share_path("models") / "diff9d_pose.pt"


def _detection(rotation: np.ndarray) -> Detection:
    return Detection("bottle", rotation, np.array([0.0, 0.1, 0.7]), np.array([0.07, 0.25, 0.07]), score=0.9)


def test_only_a_lying_box_of_a_lying_category_gives_an_axis() -> None:
    horizontal = np.cross(UP, [1.0, 0.0, 0.0])
    horizontal /= np.linalg.norm(horizontal)
    assert lying_box_axis("can", horizontal * 2.0, UP) is not None
    assert np.isclose(np.linalg.norm(lying_box_axis("bottle", horizontal, UP)), 1.0)
    assert lying_box_axis("can", UP, UP) is None  # standing
    assert lying_box_axis("mug", horizontal, UP) is None  # mugs are not aligned


def test_the_axis_becomes_the_line_with_the_network_sign() -> None:
    rotation = Rotation.from_euler("xyz", [80.0, 10.0, 30.0], degrees=True).as_matrix()
    tilted = Rotation.from_rotvec(np.radians(20.0) * rotation[:, 0]).as_matrix() @ rotation
    detection = _detection(tilted)
    line = -rotation[:, 1]  # the measured line, signed the other way
    aligned = align_to_axis(detection, line)
    assert np.allclose(aligned.rotation[:, 1], rotation[:, 1], atol=1e-9)  # the network's sign
    assert np.allclose(aligned.rotation.T @ aligned.rotation, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(aligned.rotation), 1.0)
    assert np.allclose(aligned.translation_m, detection.translation_m)
    assert np.allclose(aligned.size_m, detection.size_m) and aligned.score == detection.score


def test_a_sampled_axis_far_from_the_line_is_kept() -> None:
    rotation = np.eye(3)
    far = Rotation.from_rotvec(np.radians(AGREE_DEG + 5.0) * np.array([1.0, 0.0, 0.0])).as_matrix()
    detection = _detection(rotation)
    assert align_to_axis(detection, far[:, 1]) is detection
    near = Rotation.from_rotvec(np.radians(AGREE_DEG - 5.0) * np.array([1.0, 0.0, 0.0])).as_matrix()
    assert np.allclose(align_to_axis(detection, near[:, 1]).rotation, near, atol=1e-9)


def _upper_half(
    s: np.ndarray, radius: np.ndarray, top: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, TablePlane]:
    """Noisy points of the upper half of a body of revolution lying on the table z = 0 of a
    camera-like frame: at ``s`` along its axis (towards ``top``, unit, horizontal) its radius is
    ``radius``; it rests on its widest part."""
    angle = rng.uniform(0.0, np.pi, len(s))  # the half facing up
    side = np.cross([0.0, 0.0, 1.0], top)
    points = (
        s[:, None] * top
        + (radius * np.cos(angle))[:, None] * side
        + (radius.max() + radius * np.sin(angle))[:, None] * np.array([0.0, 0.0, 1.0])
    )
    points += rng.normal(0.0, 0.0008, points.shape) + np.array([0.1, -0.05, 0.0])
    return points, TablePlane(np.array([0.0, 0.0, 1.0]), 0.0)


def _lying_beverage_can(top: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, TablePlane]:
    """A lying beverage can (radius 33 mm, 120 mm long), its necked-in top (5 mm over 11 mm)
    towards ``top`` and its bevelled foot (5 mm over 5 mm) the other way."""
    s = rng.uniform(-0.06, 0.06, 6000)  # along the axis, top at +0.06
    to_top, to_foot = 0.06 - s, s + 0.06
    radius = 0.033 - np.clip(5.0 / 9.0 * (0.011 - to_top), 0.0, 0.005) - np.clip(0.005 - to_foot, 0.0, None)
    return _upper_half(s, radius, top, rng)


def _lying_bottle(top: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, TablePlane]:
    """A lying bottle (body radius 35 mm, 240 mm long), its neck (radius 13 mm, 40 mm long, above a
    40 mm shoulder) towards ``top``."""
    s = rng.uniform(-0.12, 0.12, 8000)  # along the axis, the cap at +0.12
    return _upper_half(s, np.interp(s, [-0.12, 0.04, 0.08, 0.12], [0.035, 0.035, 0.013, 0.013]), top, rng)


def test_the_shipped_classifiers_tell_a_lying_bottle_s_and_beverage_can_s_top() -> None:
    classifiers = classifiers_from_checkpoint(load_checkpoint(MODEL))
    assert set(classifiers) == {"bottle", "can"}, "the shipped model lacks a top-end classifier"
    rng = np.random.default_rng(3)
    for category, lying_object in (("can", _lying_beverage_can), ("bottle", _lying_bottle)):
        top_end = classifiers[category]
        for angle in np.radians([0.0, 70.0, 200.0, 300.0]):
            top = np.array([np.cos(angle), np.sin(angle), 0.0])
            points, plane = lying_object(top, rng)
            assert np.allclose(top_end.top(points, top, plane), top)
            assert np.allclose(top_end.top(points, -top, plane), top)
            measured, signed, _ = measured_axis(points, -top, plane, top_end)
            assert signed and measured @ top > np.cos(np.radians(3.0))  # the line measured, signed to the top
            line, signed, _ = measured_axis(points, -top, plane, None)
            assert not signed and abs(line @ top) > np.cos(np.radians(3.0))  # no classifier: the line only


def test_a_signed_axis_overrules_the_network_sign() -> None:
    rotation = Rotation.from_euler("xyz", [80.0, 10.0, 30.0], degrees=True).as_matrix()
    detection = _detection(rotation)
    flipped = align_to_axis(detection, -rotation[:, 1], signed=True)
    assert np.allclose(flipped.rotation[:, 1], -rotation[:, 1], atol=1e-9)
    assert np.isclose(np.linalg.det(flipped.rotation), 1.0)


def _visible_cylinder(
    radius_m: float, length_m: float, axis: np.ndarray, view: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Noisy surface points (end faces included) of a cylinder on the table z = 0 with its axis
    ``axis`` (unit), the half of them that faces ``view`` (unit, from the object to the camera)."""
    n = 8000
    on_side = rng.random(n) < 0.7
    s = np.where(on_side, rng.uniform(0.0, length_m, n), rng.integers(0, 2, n) * length_m)
    r = np.where(on_side, radius_m, radius_m * np.sqrt(rng.random(n)))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    e1 = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    radial = np.cos(angle)[:, None] * e1 + np.sin(angle)[:, None] * e2
    normal = np.where(on_side[:, None], radial, np.where((s > 0)[:, None], axis, -axis))
    points = s[:, None] * axis + r[:, None] * radial
    points -= points.min(axis=0) * np.array([0.0, 0.0, 1.0])  # resting on z = 0
    points = points[normal @ view > 0]
    return points + rng.normal(0.0, 0.002, points.shape)


def _certainly_lying(points_m: np.ndarray, plane: TablePlane) -> bool:
    return lying_line(points_m, plane)[1]


def test_extents_tell_a_lying_can_from_a_standing_one() -> None:
    rng = np.random.default_rng(5)
    plane = TablePlane(np.array([0.0, 0.0, 1.0]), 0.0)
    view = np.array([0.0, -np.cos(np.radians(40.0)), np.sin(np.radians(40.0))])  # 40 deg elevation
    for yaw in np.radians([0.0, 35.0, 90.0]):
        horizontal = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        assert _certainly_lying(_visible_cylinder(0.033, 0.12, horizontal, view, rng), plane)  # can
        assert _certainly_lying(_visible_cylinder(0.035, 0.28, horizontal, view, rng), plane)  # bottle
    up = np.array([0.0, 0.0, 1.0])
    assert not _certainly_lying(_visible_cylinder(0.033, 0.12, up, view, rng), plane)  # standing can
    assert not _certainly_lying(_visible_cylinder(0.052, 0.046, up, view, rng), plane)  # squat tin
    assert not _certainly_lying(_visible_cylinder(0.052, 0.10, up, view, rng), plane)  # food tin
    squat = _visible_cylinder(0.04, 0.04, up, view, rng)
    sliver = squat[np.abs(squat[:, 0] - squat[:, 0].mean()) < 0.006]  # the rest hidden behind others
    assert not _certainly_lying(sliver, plane)  # long and low, but no wider than a finger


def test_a_certain_lying_axis_overrules_a_standing_sample() -> None:
    standing = Detection("can", np.eye(3), np.zeros(3), np.array([0.07, 0.068, 0.12]), score=0.9)
    axis = np.array([0.0, 0.0, 1.0])  # 90 deg from the sampled y
    assert align_to_axis(standing, axis) is standing
    lying = align_to_axis(standing, axis, signed=True, certain=True)
    assert np.allclose(lying.rotation[:, 1], axis)
    assert np.allclose(lying.rotation.T @ lying.rotation, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(lying.rotation), 1.0)
    assert np.allclose(lying.size_m, [0.068, 0.12, 0.068])  # its height was its diameter
