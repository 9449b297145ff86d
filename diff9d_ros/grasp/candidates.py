"""Per-category grasp candidate families in the canonical (NOCS) object frame, scaled by size.

The canonical frame follows the NOCS convention (Wang et al., CVPR 2019, Sec. 3.1) as the
synthetic meshes implement it: origin at the tight-box centre, y up along the symmetry axis of
bottle, bowl, can and mug; the mug handle points along +x (the mug body's axis is therefore at
``x = -size_x / 2 + size_z / 2``); the camera lens looks along +z; the laptop hinge runs along x
and its lid rises from the back (−z) edge.

A candidate is a grasp point ``g`` (where the centre of the finger pads should close), an approach
direction ``a`` (TCP z) and a closing direction ``c`` (TCP y), plus a prior object width at the
fingers and a stability prior for its family. The TCP is placed so that the pad centre sits on
``g`` unless the palm would then hit the object's near surface (``near_m`` from ``g`` against the
approach), in which case it backs off; candidates whose fingertips no longer reach ``g`` are
dropped. Families (top-down and side approaches):

* bottle, can: side grasps around the symmetry axis at several heights and any angle about y
  (12 angles, approach tilted by 0 / ±30°), top-down grasps across the top (bottle: the cap);
* bowl: rim pinches (approach along −y, closing radially across the wall);
* mug: body side grasps around its axis, rim pinches, handle pinches from the side and from above;
* laptop: lid-edge pinches (approach in the y-z plane at several tilts, several positions);
* camera: body grasps from the top, the sides, the front and the back, closing across the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff9d_ros.grasp.gripper import GripperModel
from diff9d_ros.pose.detection import CATEGORIES

#: Clearance kept between the palm and the object's near surface when placing the TCP (m).
PALM_CLEARANCE_M = 0.005
#: Least reach of the fingertips past the grasp point (m).
MIN_TIP_REACH_M = 0.004

#: Stability prior per family (1 = body grasp through the centre of mass, lower = pinches).
FAMILY_STABILITY: dict[str, float] = {
    "side": 1.0,
    "body": 0.9,
    "top": 0.75,
    "neck": 0.6,
    "rim": 0.6,
    "edge": 0.55,
    "handle": 0.5,
}


@dataclass(frozen=True)
class CandidateSet:
    """N grasp candidates in the canonical object frame.

    ``poses`` (N, 4, 4) are TCP poses (z approach, y closing), ``prior_width_m`` (N,) the expected
    object width between the fingers, ``stability`` (N,) the family prior, ``family`` (N,) names.
    """

    poses: np.ndarray
    prior_width_m: np.ndarray
    stability: np.ndarray
    family: np.ndarray

    def __len__(self) -> int:
        return len(self.poses)


@dataclass
class _Spec:
    """Grasp points, approach and closing directions (all (N, 3)) before the TCP is placed."""

    point: np.ndarray
    approach: np.ndarray
    closing: np.ndarray
    near_m: np.ndarray
    width_m: np.ndarray
    family: str


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _ring(n: int) -> np.ndarray:
    return np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)


def _spec(point, approach, closing, near_m, width_m, family: str) -> _Spec:
    point, approach, closing = np.broadcast_arrays(
        np.asarray(point, float), np.asarray(approach, float), np.asarray(closing, float)
    )
    n = len(point)
    return _Spec(
        point.reshape(n, 3).copy(),
        _unit(approach.reshape(n, 3)),
        _unit(closing.reshape(n, 3)),
        np.broadcast_to(np.asarray(near_m, float), (n,)).copy(),
        np.broadcast_to(np.asarray(width_m, float), (n,)).copy(),
        family,
    )


def _side_ring(
    axis_xz: tuple[float, float],
    heights_m: np.ndarray,
    radius_m: float,
    width_m: float,
    family: str,
    n: int = 12,
) -> _Spec:
    """Side grasps around a vertical axis: approach towards the axis (tilted 0, ±30°), closing tangent."""
    phi = _ring(n)
    tilts = np.radians([0.0, 30.0, -30.0])
    ph, h, t = (g.reshape(-1) for g in np.meshgrid(phi, heights_m, tilts, indexing="ij"))
    radial = np.stack([np.cos(ph), np.zeros_like(ph), np.sin(ph)], axis=1)
    closing = np.stack([-np.sin(ph), np.zeros_like(ph), np.cos(ph)], axis=1)
    down = np.array([0.0, -1.0, 0.0])
    approach = np.cos(t)[:, None] * -radial + np.sin(t)[:, None] * down
    point = np.stack([np.full_like(h, axis_xz[0]), h, np.full_like(h, axis_xz[1])], axis=1)
    return _spec(point, approach, closing, radius_m / np.maximum(np.cos(t), 0.5), width_m, family)


def _from_top(centre_xz: tuple[float, float], top_m: float, depth_m: float, width_m: float, family: str, n=8):
    """Top-down grasps (approach −y) at ``depth_m`` below ``top_m``, closing at n angles about y."""
    phi = _ring(n) / 2.0  # closing directions repeat after half a turn
    closing = np.stack([np.cos(phi), np.zeros(n), np.sin(phi)], axis=1)
    point = np.array([centre_xz[0], top_m - depth_m, centre_xz[1]])
    return _spec(np.broadcast_to(point, (n, 3)), [0.0, -1.0, 0.0], closing, depth_m, width_m, family)


def _rim(centre_xz: tuple[float, float], radius_m: float, top_m: float, depth_m: float, n: int = 12) -> _Spec:
    """Rim pinches: approach −y onto the rim at n angles, closing radially across the wall."""
    phi = _ring(n)
    radial = np.stack([np.cos(phi), np.zeros(n), np.sin(phi)], axis=1)
    point = np.array([centre_xz[0], top_m - depth_m, centre_xz[1]]) + radius_m * radial
    return _spec(point, [0.0, -1.0, 0.0], radial, depth_m, 0.008, "rim")


def _box_faces(size_m: np.ndarray, width_scale: np.ndarray, family: str) -> _Spec:
    """Body grasps on a box: approach every face but the bottom, close along each other axis.

    Three grasp points along the remaining axis; ``width_scale`` (3,) scales the box extents into
    the prior width along each closing axis (a box-shaped prior overestimates non-box bodies).
    """
    half = size_m / 2.0
    specs = []
    for ax, sign in ((1, 1.0), (0, 1.0), (0, -1.0), (2, 1.0), (2, -1.0)):
        approach = np.zeros(3)
        approach[ax] = -sign
        for cl in (i for i in range(3) if i != ax):
            free = 3 - ax - cl
            closing = np.zeros(3)
            closing[cl] = 1.0
            depth = min(0.5 * size_m[ax], 0.03)
            offsets = np.array([-0.25, 0.0, 0.25]) * size_m[free]
            point = np.zeros((3, 3))
            point[:, ax] = sign * (half[ax] - depth)
            point[:, free] = offsets
            specs.append(_spec(point, approach, closing, depth, size_m[cl] * width_scale[cl], family))
    return _concat(specs, family)


def _concat(specs: list[_Spec], family: str | None = None) -> _Spec:
    return _Spec(
        np.concatenate([s.point for s in specs]),
        np.concatenate([s.approach for s in specs]),
        np.concatenate([s.closing for s in specs]),
        np.concatenate([s.near_m for s in specs]),
        np.concatenate([s.width_m for s in specs]),
        family or specs[0].family,
    )


def _bottle(s: np.ndarray) -> list[_Spec]:
    h, r = s[1], s[0] / 2.0
    body = _side_ring((0.0, 0.0), -h / 2 + h * np.array([0.2, 0.35]), r, s[0], "side")
    neck = _side_ring((0.0, 0.0), np.array([h / 2 - 0.15 * h]), 0.45 * r, 0.9 * r, "neck")
    cap = _from_top((0.0, 0.0), h / 2, min(0.02, 0.1 * h), 0.7 * r, "top")
    return [body, neck, cap]


def _can(s: np.ndarray) -> list[_Spec]:
    h, r = s[1], s[0] / 2.0
    side = _side_ring((0.0, 0.0), h * np.array([-0.2, 0.0, 0.2]), r, s[0], "side")
    top = _from_top((0.0, 0.0), h / 2, min(0.025, 0.4 * h), s[0], "top")
    return [side, top]


def _bowl(s: np.ndarray) -> list[_Spec]:
    r = s[0] / 2.0
    return [_rim((0.0, 0.0), r - 0.003, s[1] / 2, min(0.015, 0.4 * s[1]), n=16)]


def _mug(s: np.ndarray) -> list[_Spec]:
    h, r_body = s[1], s[2] / 2.0
    axis_x = -s[0] / 2 + r_body
    body = _side_ring((axis_x, 0.0), h * np.array([-0.15, 0.1]), r_body, s[2], "body")
    rim = _rim((axis_x, 0.0), r_body - 0.003, h / 2, min(0.015, 0.3 * h))
    handle_x = s[0] / 2 - 0.006
    side_handle = _spec(
        [[handle_x, 0.05 * h, 0.0]], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], 0.006, 0.014, "handle"
    )
    top_handle = _spec(
        [[handle_x - 0.006, 0.2 * h, 0.0]], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], 0.006, 0.014, "handle"
    )
    return [body, rim, side_handle, top_handle]


def _laptop(s: np.ndarray) -> list[_Spec]:
    """Lid-edge pinches; the lid's angle is unknown, so its edges are tried along z and at tilts.

    Top edge: approach from above (tilted in the y-z plane); side edges: approach along ∓x onto
    the lid's left and right edges, closing across the lid.
    """
    tilts = np.radians([-40.0, -20.0, 0.0, 20.0, 40.0])
    depth = 0.015
    tilt, xs, zs = (
        g.reshape(-1)
        for g in np.meshgrid(tilts, np.array([-0.25, 0.0, 0.25]) * s[0], np.linspace(-0.45, 0.45, 7) * s[2])
    )
    approach = np.stack([np.zeros_like(tilt), -np.cos(tilt), np.sin(tilt)], axis=1)
    closing = np.stack([np.zeros_like(tilt), np.sin(tilt), np.cos(tilt)], axis=1)
    point = np.stack([xs, np.full_like(xs, s[1] / 2 - depth), zs], axis=1)
    top = _spec(point, approach, closing, depth, 0.008, "edge")
    side_sign, tilt, zs = (
        g.reshape(-1) for g in np.meshgrid([-1.0, 1.0], tilts, np.linspace(-0.45, 0.45, 5) * s[2])
    )
    approach = np.stack([-side_sign, np.zeros_like(tilt), np.zeros_like(tilt)], axis=1)
    closing = np.stack([np.zeros_like(tilt), np.sin(tilt), np.cos(tilt)], axis=1)
    point = np.stack([side_sign * (s[0] / 2 - depth), np.full_like(zs, 0.2 * s[1]), zs], axis=1)
    side = _spec(point, approach, closing, depth, 0.008, "edge")
    return [top, side]


def _camera(s: np.ndarray) -> list[_Spec]:
    # Along z the box includes the lens; the body itself is a bit under half of it.
    return [_box_faces(s, np.array([1.0, 1.0, 0.45]), "body")]


_FAMILIES = {"bottle": _bottle, "bowl": _bowl, "camera": _camera, "can": _can, "laptop": _laptop, "mug": _mug}


def canonical_candidates(category: str, size_m: np.ndarray, gripper: GripperModel) -> CandidateSet:
    """All grasp candidates of ``category`` for an object of extents ``size_m``, canonical frame."""
    if category not in _FAMILIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    size_m = np.asarray(size_m, dtype=np.float64).reshape(-1)
    if size_m.shape != (3,) or not np.all(np.isfinite(size_m)) or np.any(size_m <= 0):
        raise ValueError(f"size_m must be 3 positive finite extents, got {size_m}")
    specs = _FAMILIES[category](size_m)
    families = np.concatenate([np.full(len(s.point), s.family, dtype=object) for s in specs])
    spec = _concat(specs)
    z_low, z_high = gripper.finger_z_range_m
    pad_centre_z = (z_low + z_high) / 2.0
    # TCP depth past g along the approach: pads centred on g, backed off if the palm would touch.
    depth = np.minimum(-pad_centre_z, -gripper.palm_front_z_m - spec.near_m - PALM_CLEARANCE_M)
    keep = depth + z_high >= MIN_TIP_REACH_M
    x_axis = np.cross(spec.closing, spec.approach)
    poses = np.zeros((len(spec.point), 4, 4))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2] = x_axis, spec.closing, spec.approach
    poses[:, :3, 3] = spec.point + depth[:, None] * spec.approach
    poses[:, 3, 3] = 1.0
    stability = np.array([FAMILY_STABILITY[f] for f in families])
    return CandidateSet(poses[keep], spec.width_m[keep], stability[keep], families[keep])
