"""Rotations: 6-D round trip, SO(3) projection of any input, NOCS symmetric errors, rotation mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.rotations import (
    canonicalise_symmetric,
    geodesic_angle_rad,
    project_to_so3,
    rotation_about_y,
    rotation_error_rad,
    rotation_from_6d,
    rotation_mean,
    rotation_to_6d,
)
from diff9d_ros.nocs import is_symmetric


def _assert_proper(r: torch.Tensor) -> None:
    r = r.double()
    eye = torch.eye(3, dtype=torch.float64).expand_as(r)
    assert torch.allclose(r.transpose(-1, -2) @ r, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(r.shape[:-2], dtype=torch.float64), atol=1e-5)


def test_6d_round_trip() -> None:
    r = torch.from_numpy(Rotation.random(50, random_state=1).as_matrix())
    assert torch.allclose(rotation_from_6d(rotation_to_6d(r)), r, atol=1e-12)


def test_any_six_numbers_give_a_proper_rotation() -> None:
    gen = torch.Generator().manual_seed(0)
    scales = torch.logspace(-8, 4, 400)[:, None]
    d6 = torch.randn(400, 6, generator=gen) * scales
    d6[0] = 0.0  # all zero
    d6[1, 3:] = d6[1, :3] * 2.0  # parallel columns
    _assert_proper(rotation_from_6d(d6))
    _assert_proper(rotation_from_6d(d6.float()))


def test_projection_keeps_rotations_and_fixes_reflections() -> None:
    r = torch.from_numpy(Rotation.random(5, random_state=2).as_matrix())
    assert torch.allclose(project_to_so3(r), r, atol=1e-12)
    reflected = r * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    _assert_proper(project_to_so3(reflected))
    with pytest.raises(ValueError, match="NaN"):
        project_to_so3(torch.full((3, 3), float("nan")))
    with pytest.raises(ValueError, match="3, 3"):
        project_to_so3(torch.zeros(3, 4))


def test_geodesic_angle_known_value() -> None:
    r = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    assert geodesic_angle_rad(np.eye(3), r) == pytest.approx(np.radians(30))


def test_rotation_about_y_is_free_for_symmetric_only() -> None:
    r = Rotation.random(random_state=3).as_matrix()
    turned = r @ rotation_about_y(1.1)
    assert rotation_error_rad(turned, r, symmetric=True) == pytest.approx(0.0, abs=1e-7)
    assert rotation_error_rad(turned, r, symmetric=False) == pytest.approx(1.1)
    tilted = r @ Rotation.from_euler("x", 20, degrees=True).as_matrix()
    assert rotation_error_rad(tilted, r, symmetric=True) == pytest.approx(np.radians(20))


def test_symmetry_rule() -> None:
    assert is_symmetric("bottle") and is_symmetric("can") and is_symmetric("bowl")
    assert not is_symmetric("laptop") and not is_symmetric("camera")
    assert is_symmetric("mug", handle_visible=False) and not is_symmetric("mug", handle_visible=True)


def test_canonicalise_symmetric_is_invariant_to_the_free_turn() -> None:
    r = Rotation.random(random_state=4).as_matrix()
    a = canonicalise_symmetric(r)
    b = canonicalise_symmetric(r @ rotation_about_y(2.0))
    assert np.allclose(a, b, atol=1e-9)
    assert np.allclose(a[:, 1], r[:, 1]) and np.linalg.det(a) == pytest.approx(1.0)


def test_rotation_mean_recovers_centre_and_handles_symmetry() -> None:
    centre = Rotation.random(random_state=5).as_matrix()
    noise = Rotation.from_rotvec(np.random.default_rng(0).normal(scale=0.05, size=(200, 3))).as_matrix()
    mean = rotation_mean(centre @ noise)
    assert np.degrees(geodesic_angle_rad(mean, centre)) < 1.0
    # Free turns about y would cancel a plain mean; the symmetric mean keeps the y axis.
    spun = centre @ rotation_about_y(np.linspace(0, 2 * np.pi, 12, endpoint=False))
    assert rotation_error_rad(rotation_mean(spun, symmetric=True), centre, symmetric=True) < 1e-6
    with pytest.raises(ValueError, match="K, 3, 3"):
        rotation_mean(np.zeros((0, 3, 3)))
