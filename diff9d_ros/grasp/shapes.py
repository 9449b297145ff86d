"""Object shapes the procedural families do not have yet, for the grasp tests and benchmark.

Watertight meshes in the NOCS canonical frame (box centred at the origin, y up, metres):

* :func:`food_tin`: a tin can with a straight wall up to a double seam (3 mm wide, 0.5 mm proud of
  the wall) and the lid 3.5 mm below the seam's top, the construction of 300- and 400-series tin
  ends. :data:`WIDE_TIN_SIZES_M` lists published standard tin sizes (diameter x height) wider than
  the gripper's 0.08 m opening.
* :func:`oval_necked_bottle`: a squeeze bottle with an oval body too wide for the opening both ways
  and an oval neck and cap off the body's axis.
"""

from __future__ import annotations

import numpy as np
import trimesh

#: Standard tin sizes wider than 0.08 m, (diameter, height) in metres from the US can-size
#: designations (inches and sixteenths): 303x406, 307x409 ("No. 2"), 401x411 ("No. 2 1/2"),
#: 307x113 and 307x109 (tuna), 401x206, 300-series squat 303x204, and a 0.1025 m wide shallow tin.
WIDE_TIN_SIZES_M: dict[str, tuple[float, float]] = {
    "303x406": (0.081, 0.111),
    "307x409": (0.087, 0.116),
    "401x411": (0.103, 0.119),
    "307x113": (0.087, 0.046),
    "307x109": (0.087, 0.040),
    "401x206": (0.103, 0.060),
    "303x204": (0.081, 0.057),
    "shallow_102": (0.1025, 0.040),
}


def revolved(profile_rh: list[tuple[float, float]], sections: int = 48) -> trimesh.Trimesh:
    """Solid of revolution about y of a closed (radius, height) profile, box-centred."""
    mesh = trimesh.creation.revolve(np.asarray(profile_rh, dtype=np.float64), sections=sections)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    if mesh.volume < 0:
        mesh.invert()
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


def food_tin(width_m: float, height_m: float) -> trimesh.Trimesh:
    """A food tin ``width_m`` across the seam and ``height_m`` tall (see the module docstring)."""
    if not 0.02 < width_m < 0.3 or not 0.015 < height_m < 0.4:
        raise ValueError(f"tin size {width_m} x {height_m} m is outside 0.02-0.3 x 0.015-0.4 m")
    r_seam, r_wall = width_m / 2.0, width_m / 2.0 - 0.0005
    return revolved(
        [
            (0.0, 0.0),
            (r_wall - 0.003, 0.0),
            (r_wall, 0.003),
            (r_wall, height_m - 0.003),
            (r_seam, height_m - 0.003),
            (r_seam, height_m),
            (r_seam - 0.003, height_m),
            (r_seam - 0.003, height_m - 0.0035),
            (0.0, height_m - 0.0035),
        ]
    )


def oval_necked_bottle(neck_offset_m: float = 0.018) -> trimesh.Trimesh:
    """Oval body 0.095 x 0.082 m, 0.19 m tall overall, a shoulder up to an oval neck and cap
    (0.032 x 0.024 m) ``neck_offset_m`` off the body's axis along x."""
    body = trimesh.creation.cylinder(radius=1.0, height=0.13, sections=64)
    body.apply_scale([0.0475, 0.041, 1.0])
    body.apply_translation([0.0, 0.0, 0.065])
    neck_ring = trimesh.creation.cylinder(radius=1.0, height=0.002, sections=48)
    neck_ring.apply_scale([0.016, 0.012, 1.0])
    neck_ring.apply_translation([neck_offset_m, 0.0, 0.152])
    shoulder = trimesh.convex.convex_hull(np.concatenate([body.vertices, neck_ring.vertices]))
    cap = trimesh.creation.cylinder(radius=1.0, height=0.04, sections=48)
    cap.apply_scale([0.016, 0.012, 1.0])
    cap.apply_translation([neck_offset_m, 0.0, 0.17])
    mesh = trimesh.boolean.union([shoulder, cap], engine="manifold")
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))  # z up -> y up
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh
