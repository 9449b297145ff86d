"""MuJoCo grasp check: a centred can grasp lifts the can, fingers closing on air do not."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from diff9d_ros.grasp.physics import DENSITY_KG_M3, GraspSimulator, PhysicsObject
from diff9d_ros.synth.meshes import instance_mesh

#: TCP orientation of a horizontal side grasp: approach +x, closing +y (columns x, y, z).
SIDE = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def grasp_at(position, rotation=SIDE, back_m: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    grasp = np.eye(4)
    grasp[:3, :3], grasp[:3, 3] = rotation, position
    pre = grasp.copy()
    pre[:3, 3] -= back_m * rotation[:, 2]
    return grasp, pre


@pytest.fixture(scope="module")
def can_sim() -> GraspSimulator:
    """A test-split synthetic can standing upright at the origin (CoACD parts, 1000 kg/m^3)."""
    can = instance_mesh("can", 900)
    pose = np.eye(4)
    pose[:3, :3] = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])[:3, :3]  # y up -> z up
    pose[2, 3] = can.size_m[1] / 2
    assert can.size_m[0] < 0.075, "this instance must fit the 0.08 m gripper"
    return GraspSimulator([PhysicsObject.from_mesh("can", can.mesh, pose, DENSITY_KG_M3["can"])])


def test_centred_can_grasp_passes(can_sim: GraspSimulator) -> None:
    height = instance_mesh("can", 900).size_m[1]
    grasp, pre = grasp_at([0.018, 0.0, height / 2])  # pad centres (18 mm behind the TCP) on the axis
    result = can_sim.run("can", grasp, pre, 0.08)
    assert result.success
    assert result.lift_achieved_m == pytest.approx(0.10, abs=0.015)
    assert result.finger_gap_m == pytest.approx(instance_mesh("can", 900).size_m[0], abs=0.006)


def test_fingers_closing_on_air_fail(can_sim: GraspSimulator) -> None:
    grasp, pre = grasp_at([0.25, 0.2, 0.06])
    result = can_sim.run("can", grasp, pre, 0.08)
    assert not result.success
    assert not result.between_fingers
    assert result.finger_gap_m < 0.005
    assert abs(result.lift_achieved_m) < 0.01


def test_grasp_that_misses_the_can_sideways_fails(can_sim: GraspSimulator) -> None:
    """Offset along the closing axis by more than the opening: one finger lands on the can."""
    height = instance_mesh("can", 900).size_m[1]
    grasp, pre = grasp_at([0.018, 0.07, height / 2])
    assert not can_sim.run("can", grasp, pre, 0.08).success


def test_unknown_object_is_a_clear_error(can_sim: GraspSimulator) -> None:
    grasp, pre = grasp_at([0.0, 0.0, 0.06])
    with pytest.raises(ValueError, match="unknown object"):
        can_sim.run("mug", grasp, pre, 0.08)
