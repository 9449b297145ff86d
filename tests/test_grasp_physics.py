"""MuJoCo grasp check: a centred can grasp lifts the can, fingers closing on air do not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh

from diff9d_ros.grasp.candidates import canonical_candidates
from diff9d_ros.grasp.physics import GraspSimulator, PhysicsObject, coacd_parts
from diff9d_ros.nocs import DENSITY_KG_M3, nocs_box
from diff9d_ros.synth.builders import build
from diff9d_ros.synth.meshes import instance_mesh, split_ids

#: The first test-split can that fits the 0.08 m gripper with margin.
CAN_ID = next(i for i in split_ids("test") if instance_mesh("can", i).size_m[0] < 0.075)

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
    can = instance_mesh("can", CAN_ID)
    pose = np.eye(4)
    pose[:3, :3] = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])[:3, :3]  # y up -> z up
    pose[2, 3] = can.size_m[1] / 2
    assert can.size_m[0] < 0.075, "this instance must fit the 0.08 m gripper"
    return GraspSimulator([PhysicsObject.from_mesh("can", can.mesh, pose, DENSITY_KG_M3["can"])])


def test_centred_can_grasp_passes(can_sim: GraspSimulator) -> None:
    height = instance_mesh("can", CAN_ID).size_m[1]
    grasp, pre = grasp_at([0.018, 0.0, height / 2])  # pad centres (18 mm behind the TCP) on the axis
    result = can_sim.run("can", grasp, pre, 0.08)
    assert result.success
    assert result.lift_achieved_m == pytest.approx(0.10, abs=0.015)
    assert result.finger_gap_m == pytest.approx(instance_mesh("can", CAN_ID).size_m[0], abs=0.006)


def test_fingers_closing_on_air_fail(can_sim: GraspSimulator) -> None:
    grasp, pre = grasp_at([0.25, 0.2, 0.06])
    result = can_sim.run("can", grasp, pre, 0.08)
    assert not result.success
    assert not result.between_fingers
    assert result.finger_gap_m < 0.005
    assert abs(result.lift_achieved_m) < 0.01


def test_grasp_that_misses_the_can_sideways_fails(can_sim: GraspSimulator) -> None:
    """Offset along the closing axis by more than the opening: one finger lands on the can."""
    height = instance_mesh("can", CAN_ID).size_m[1]
    grasp, pre = grasp_at([0.018, 0.07, height / 2])
    assert not can_sim.run("can", grasp, pre, 0.08).success


def test_unknown_object_is_a_clear_error(can_sim: GraspSimulator) -> None:
    grasp, pre = grasp_at([0.0, 0.0, 0.06])
    with pytest.raises(ValueError, match="unknown object"):
        can_sim.run("mug", grasp, pre, 0.08)


def _upright(mesh_size_m: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])[:3, :3]
    pose[2, 3] = mesh_size_m[1] / 2
    return pose


def test_bowl_rim_pinch_lifts_the_bowl() -> None:
    """A shallow, flared test bowl (0.185 m wide, 0.059 m high) that vertical rim pinches dropped."""
    bowl = instance_mesh("bowl", 955)
    pose = _upright(bowl.size_m)
    sim = GraspSimulator([PhysicsObject.from_mesh("bowl", bowl.mesh, pose, DENSITY_KG_M3["bowl"])])
    cands = canonical_candidates("bowl", bowl.size_m, sim.gripper)
    best = int(np.argmax(cands.stability))
    grasp = pose @ cands.poses[best]
    pre = grasp.copy()
    pre[:3, 3] -= 0.10 * grasp[:3, 2]
    result = sim.run("bowl", grasp, pre, cands.prior_width_m[best] + 0.012)
    assert result.success, result
    assert result.lift_achieved_m > 0.08


def _wide_necked_can() -> tuple[trimesh.Trimesh, np.ndarray]:
    """A beverage-style can 0.081 m wide (wider than the 0.08 m opening) necked in by 6 mm over its
    top 7 mm, built by the can builder and centred on its NOCS box."""
    params = {"diameter": 0.0813, "height": 0.165, "beverage": 1.0, "bevel": 0.0046, "neck_in": 0.0059}
    params |= {"neck_height": 0.0071, "seam_out": 0.0, "seam_height": 0.0, "lid_sink": 0.0, "beads": 0.0}
    mesh, _ = build("can", params)
    centre, size_m = nocs_box(mesh.vertices, "can")
    mesh.apply_translation(-centre)
    return mesh, size_m


def test_wide_can_is_lifted_by_its_necked_top() -> None:
    """A can wider than the 0.08 m opening taken over its narrower top."""
    mesh, size_m = _wide_necked_can()
    can = SimpleNamespace(mesh=mesh, size_m=size_m)
    assert can.size_m[0] > 0.08
    pose = _upright(can.size_m)
    sim = GraspSimulator([PhysicsObject.from_mesh("can", can.mesh, pose, DENSITY_KG_M3["can"])])
    cands = canonical_candidates("can", can.size_m, sim.gripper)
    neck = int(np.flatnonzero(cands.family == "neck")[0])
    grasp = pose @ cands.poses[neck]
    pre = grasp.copy()
    pre[:3, 3] -= 0.10 * grasp[:3, 2]
    result = sim.run("can", grasp, pre, sim.gripper.max_opening_m)
    assert result.success, result


def test_a_coacd_abort_does_not_take_the_process_with_it() -> None:
    """A mesh (from a validation scene) on which CoACD's native code fails an assertion and aborts:
    its child process dies, the manifold-preprocessed retry decomposes it, and this process lives on."""
    mesh = np.load(Path(__file__).parent / "data" / "coacd_assertion_mesh.npz")
    parts = coacd_parts(mesh["vertices"], mesh["faces"])
    assert parts is not None and len(parts) >= 2
    hull_volume = trimesh.Trimesh(mesh["vertices"], mesh["faces"]).convex_hull.volume
    assert sum(trimesh.Trimesh(v, f).convex_hull.volume for v, f in parts) < 1.5 * hull_volume
    box = trimesh.creation.box((0.05, 0.05, 0.05))
    assert len(coacd_parts(box.vertices, box.faces)) == 1  # a convex mesh is its own part
