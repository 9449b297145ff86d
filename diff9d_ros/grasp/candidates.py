"""Per-category grasp candidate families in the canonical (NOCS) object frame, scaled by size.

The canonical frame is the NOCS frame (:mod:`diff9d_ros.nocs`): origin at the box centre, y up
along the symmetry axis of bottle, bowl, can and mug; the mug handle points along +x and the mug's
box is centred on its body axis; the camera lens and the laptop's front edge are on +x (the
laptop's hinge at -x).

A candidate is a grasp point ``g`` (where the centre of the finger pads should close), an approach
direction ``a`` (TCP z) and a closing direction ``c`` (TCP y), plus a prior object width at the
fingers and a stability prior for its family. By default the TCP is placed so that the pad centre
sits on ``g`` unless the palm would then hit the object's near surface (``near_m`` from ``g``
against the approach), in which case it backs off; pinch families instead give a fingertip depth
past ``g`` (``tip_m``). Candidates whose fingertips no longer reach ``g`` are dropped. Families
(top-down and side approaches):

* bottle, can: side grasps around the symmetry axis at several heights and any angle about y
  (12 angles, approach tilted by 0 / ±30°), top-down grasps across the top (bottle: the cap); cans
  also get top-end grasps whose fingertips reach just past the rim onto the necked-in top (moved
  forward onto the observed top by at most ``CAN_NECK_MAX_FORWARD_M``);
* bowl: rim pinches with the fingers tilted along the flared wall, closing across it;
* mug: body side grasps around its axis, rim pinches, handle pinches from the side and from above;
* laptop: deep pinches over the lid's top edge, tilted by the lid angle inferred from the box;
* camera: body grasps across the body's thickness (centred behind the lens, from the top and the
  sides) and across its height (from the sides and the back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff9d_ros.grasp.gripper import GripperModel
from diff9d_ros.nocs import CATEGORIES

#: Clearance kept between the palm and the object's near surface when placing the TCP (m).
PALM_CLEARANCE_M = 0.005
#: Least reach of the fingertips past the grasp point (m).
MIN_TIP_REACH_M = 0.004

#: Bowl rim pinch: tilt factor k of the expected wall angle atan(k r / h) (the synthetic family's mean
#: wall slope at the rim is about 0.4 r / h; tilting further keeps the inner finger clear of the
#: curving wall and gave the most lifts in MuJoCo), tilt step around it, centre of the wall inside
#: the rim radius, fingertip depth along the wall (m).
BOWL_WALL_SLOPE = 1.0
BOWL_TILT_STEP_RAD = float(np.radians(12.0))
BOWL_RIM_INSET_M = 0.0025
BOWL_PINCH_DEPTH_M = 0.03

#: Camera body grasps across the thickness: pad centres this far in front of the back face (m),
#: and fingertip depth past the body's top or side face (m).
CAMERA_BODY_CENTRES_M = (0.018, 0.026)
CAMERA_PINCH_DEPTH_M = 0.03

#: Can top-end grasps: fingertip depth past the top (m) and prior width as a fraction of the
#: diameter (the synthetic cans neck in by 2 to 6 mm over their top 6 to 14 mm).
CAN_NECK_DEPTH_M = 0.012
CAN_NECK_WIDTH = 0.9
#: Can top-end grasps: farthest forward move onto the observed surface (m). The fingertips' depth
#: is measured from the top; when the top is not seen (dark lids drop out of the depth image) the
#: nearest point is on the wall below, and following it puts the fingertips on the wide body.
CAN_NECK_MAX_FORWARD_M = 0.003

#: Laptop lid pinches: assumed base thickness (m), tilt step (rad), edge positions in front of the
#: box's back face (-x, m), fingertip depth below the lid's top edge (m; the fingers are 54 mm long).
LAPTOP_BASE_M = 0.017
LAPTOP_TILT_STEP_RAD = float(np.radians(15.0))
LAPTOP_EDGE_X_M = np.array([0.006, 0.025, 0.05])
LAPTOP_PINCH_DEPTH_M = 0.045
#: Prior width across a laptop's lid (m).
LAPTOP_LID_WIDTH_M = 0.008

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
    object width between the fingers, ``stability`` (N,) the family prior, ``family`` (N,) names,
    ``surface_z_m`` (N,) where the object's near surface is expected along the approach, as a TCP z
    coordinate (the grasp point minus its near-surface distance: what the fingers meet first).
    ``own_limit_z_m`` (N,), where given: the object's own points deeper than this TCP z are
    contacts the fingertips are planned to make (a rim pinch resting on the lid), not collisions;
    NaN (or None for all): no such contact. ``max_forward_m`` (N,), where given: the farthest the
    refinement may move the candidate forward onto the observed surface (inf: up to its shift limit).
    ``fallback`` (N,), where given: candidates tried only when no other one is accepted.
    """

    poses: np.ndarray
    prior_width_m: np.ndarray
    stability: np.ndarray
    family: np.ndarray
    surface_z_m: np.ndarray
    own_limit_z_m: np.ndarray | None = None
    max_forward_m: np.ndarray | None = None
    fallback: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.poses)


@dataclass
class Spec:
    """Grasp points, approach and closing directions (all (N, 3)) before the TCP is placed."""

    point: np.ndarray
    approach: np.ndarray
    closing: np.ndarray
    near_m: np.ndarray
    width_m: np.ndarray
    family: str
    tip_m: np.ndarray
    preference: np.ndarray
    max_forward_m: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _ring(n: int) -> np.ndarray:
    return np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)


def make_spec(
    point, approach, closing, near_m, width_m, family: str, tip_m=np.nan, preference=1.0, max_forward_m=np.inf
) -> Spec:
    """Candidates of one family; ``tip_m`` (not NaN) places the fingertips that far past ``point``
    instead of centring the pads on it; ``preference`` in (0, 1] scales the family's stability;
    ``max_forward_m`` caps the refinement's forward move onto the observed surface."""
    point, approach, closing = np.broadcast_arrays(
        np.asarray(point, float), np.asarray(approach, float), np.asarray(closing, float)
    )
    n = len(point.reshape(-1, 3))

    def per_candidate(value) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, float), (n,)).copy()

    return Spec(
        point.reshape(n, 3).copy(),
        _unit(approach.reshape(n, 3)),
        _unit(closing.reshape(n, 3)),
        per_candidate(near_m),
        per_candidate(width_m),
        family,
        per_candidate(tip_m),
        per_candidate(preference),
        per_candidate(max_forward_m),
    )


def _side_ring(
    axis_xz: tuple[float, float],
    heights_m: np.ndarray,
    half_extents_xz_m: tuple[float, float],
    family: str,
    n: int = 12,
) -> Spec:
    """Side grasps around a vertical axis: approach towards the axis (tilted 0, ±30°), closing tangent.

    The cross-section is the ellipse of semi-axes ``half_extents_xz_m`` (a circle for round bodies):
    the prior width is its extent along the closing direction, the near surface its extent along the
    approach, so an oval body is taken across its narrow side.
    """
    phi = _ring(n)
    tilts = np.radians([0.0, 30.0, -30.0])
    ph, h, t = (g.reshape(-1) for g in np.meshgrid(phi, heights_m, tilts, indexing="ij"))
    radial = np.stack([np.cos(ph), np.zeros_like(ph), np.sin(ph)], axis=1)
    closing = np.stack([-np.sin(ph), np.zeros_like(ph), np.cos(ph)], axis=1)
    down = np.array([0.0, -1.0, 0.0])
    approach = np.cos(t)[:, None] * -radial + np.sin(t)[:, None] * down
    point = np.stack([np.full_like(h, axis_xz[0]), h, np.full_like(h, axis_xz[1])], axis=1)
    a_x, a_z = half_extents_xz_m
    width = 2.0 * np.hypot(a_x * closing[:, 0], a_z * closing[:, 2])
    near = np.hypot(a_x * radial[:, 0], a_z * radial[:, 2])
    return make_spec(point, approach, closing, near / np.maximum(np.cos(t), 0.5), width, family)


def _from_top(centre_xz: tuple[float, float], top_m: float, depth_m: float, width_m: float, family: str, n=8):
    """Top-down grasps (approach −y) at ``depth_m`` below ``top_m``, closing at n angles about y."""
    phi = _ring(n) / 2.0  # closing directions repeat after half a turn
    closing = np.stack([np.cos(phi), np.zeros(n), np.sin(phi)], axis=1)
    point = np.array([centre_xz[0], top_m - depth_m, centre_xz[1]])
    return make_spec(np.broadcast_to(point, (n, 3)), [0.0, -1.0, 0.0], closing, depth_m, width_m, family)


def _rim(centre_xz: tuple[float, float], radius_m: float, top_m: float, depth_m: float, n: int = 12) -> Spec:
    """Rim pinches: approach −y onto the rim at n angles, closing radially across the wall."""
    phi = _ring(n)
    radial = np.stack([np.cos(phi), np.zeros(n), np.sin(phi)], axis=1)
    point = np.array([centre_xz[0], top_m - depth_m, centre_xz[1]]) + radius_m * radial
    return make_spec(point, [0.0, -1.0, 0.0], radial, depth_m, 0.008, "rim")


def _concat(specs: list[Spec], family: str | None = None) -> Spec:
    return Spec(
        np.concatenate([s.point for s in specs]),
        np.concatenate([s.approach for s in specs]),
        np.concatenate([s.closing for s in specs]),
        np.concatenate([s.near_m for s in specs]),
        np.concatenate([s.width_m for s in specs]),
        family or specs[0].family,
        np.concatenate([s.tip_m for s in specs]),
        np.concatenate([s.preference for s in specs]),
        np.concatenate([s.max_forward_m for s in specs]),
    )


def _bottle(s: np.ndarray) -> list[Spec]:
    h, r = s[1], s[0] / 2.0
    body = _side_ring((0.0, 0.0), -h / 2 + h * np.array([0.2, 0.35]), (s[0] / 2, s[2] / 2), "side")
    neck = _side_ring((0.0, 0.0), np.array([h / 2 - 0.15 * h]), (0.45 * r, 0.45 * r), "neck")
    cap = _from_top((0.0, 0.0), h / 2, min(0.02, 0.1 * h), 0.7 * r, "top")
    return [body, neck, cap]


def _can(s: np.ndarray) -> list[Spec]:
    h, r = s[1], s[0] / 2.0
    side = _side_ring((0.0, 0.0), h * np.array([-0.2, 0.0, 0.2]), (r, r), "side")
    top = _from_top((0.0, 0.0), h / 2, min(0.025, 0.4 * h), s[0], "top")
    # Over the top end, fingertips just past the rim onto the necked-in shoulder: the only grasp
    # of cans wider than the opening whose top is narrower; the wider body below keeps it in.
    phi = _ring(8) / 2.0
    closing = np.stack([np.cos(phi), np.zeros(8), np.sin(phi)], axis=1)
    point = np.broadcast_to([0.0, h / 2, 0.0], (8, 3))
    neck = make_spec(
        point,
        [0.0, -1.0, 0.0],
        closing,
        0.0,
        CAN_NECK_WIDTH * s[0],
        "neck",
        CAN_NECK_DEPTH_M,
        max_forward_m=CAN_NECK_MAX_FORWARD_M,
    )
    return [side, top, neck]


def _bowl(s: np.ndarray) -> list[Spec]:
    """Rim pinches with the fingers slid down along the flared wall.

    The wall of a bowl leans outwards near the rim (synthetic family and real bowls alike), so
    vertical fingers long enough to hold the rim meet the wall further down. The approach is tilted
    outwards by the wall's expected angle from vertical, ``atan(BOWL_WALL_SLOPE * r / h)`` (rim
    radius r, height h), and by one and two ``BOWL_TILT_STEP_RAD`` less (less preferred; on
    shallow, wide bowls the palm would otherwise reach below the table), closing across the
    wall; the fingertips reach ``BOWL_PINCH_DEPTH_M``past the rim along the wall.
    """
    r, h = s[0] / 2.0, s[1]
    expected = np.arctan(BOWL_WALL_SLOPE * r / h)
    tilt = np.clip(expected + BOWL_TILT_STEP_RAD * np.array([0.0, -1.0, -2.0]), 0.0, np.radians(60.0))
    phi, tilt = (g.reshape(-1) for g in np.meshgrid(_ring(16), tilt, indexing="ij"))
    radial = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], axis=1)
    up = np.array([0.0, 1.0, 0.0])
    approach = -np.sin(tilt)[:, None] * radial - np.cos(tilt)[:, None] * up
    closing = np.cos(tilt)[:, None] * radial - np.sin(tilt)[:, None] * up
    point = (r - BOWL_RIM_INSET_M) * radial + (h / 2) * up
    preference = np.where(np.isclose(tilt, np.clip(expected, 0.0, np.radians(60.0))), 1.0, 0.9)
    return [make_spec(point, approach, closing, 0.0, 0.008, "rim", BOWL_PINCH_DEPTH_M, preference)]


def _mug(s: np.ndarray) -> list[Spec]:
    h, r_body = s[1], s[2] / 2.0
    body = _side_ring((0.0, 0.0), h * np.array([-0.15, 0.1]), (r_body, r_body), "body")
    rim = _rim((0.0, 0.0), r_body - 0.003, h / 2, min(0.015, 0.3 * h))
    handle_x = s[0] / 2 - 0.006
    side_handle = make_spec(
        [[handle_x, 0.05 * h, 0.0]], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], 0.006, 0.014, "handle"
    )
    top_handle = make_spec(
        [[handle_x - 0.006, 0.2 * h, 0.0]], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], 0.006, 0.014, "handle"
    )
    return [body, rim, side_handle, top_handle]


def _laptop(s: np.ndarray) -> list[Spec]:
    """Deep pinches over the lid's top edge, fingers slid down along the lid, closing across it.

    The lid rises from the hinge at the back (-x) of the base; its top edge is the top of the box,
    near the back face. Its angle ``a`` from the base follows from the box: a lid opened past
    vertical spans ``s_x = d (1 - cos a)`` and ``s_y ~ t + d sin a`` (base thickness t ~
    ``LAPTOP_BASE_M``), so ``a ~ 2 atan(s_x / (s_y - t))``, at least 90 degrees (a lid short of
    vertical gives about 90). Candidates: that tilt and ±``LAPTOP_TILT_STEP_RAD``, a few depths of
    the edge in front of the back face, and the middle of the edge (preferred: the laptop's centre of
    mass lies under it) or off-centre. Side-edge pinches are not offered: the laptop would twist
    about the pads.
    """
    angle = max(np.pi / 2, 2.0 * np.arctan2(s[0], max(s[1] - LAPTOP_BASE_M, 1e-3)))
    tilts = (angle - np.pi / 2) + LAPTOP_TILT_STEP_RAD * np.array([0.0, -1.0, 1.0])
    tilt, zs, xs = (
        g.reshape(-1)
        for g in np.meshgrid(tilts, np.array([0.0, -0.12, 0.12]) * s[2], -s[0] / 2 + LAPTOP_EDGE_X_M)
    )
    approach = np.stack([np.sin(tilt), -np.cos(tilt), np.zeros_like(tilt)], axis=1)
    closing = np.stack([np.cos(tilt), np.sin(tilt), np.zeros_like(tilt)], axis=1)
    point = np.stack([xs, np.full_like(xs, s[1] / 2), zs], axis=1)
    preference = np.where(zs == 0.0, 1.0, 0.9) * np.where(tilt == tilts[0], 1.0, 0.95)
    return [
        make_spec(point, approach, closing, 0.0, LAPTOP_LID_WIDTH_M, "edge", LAPTOP_PINCH_DEPTH_M, preference)
    ]


def _camera(s: np.ndarray) -> list[Spec]:
    """Body grasps across the thickness of the body, and across its height.

    Along x the box holds the body (at the back, ``x = -s_x / 2``) plus the lens and the hand grip
    in front, so a grasp across the thickness is centred ``c`` in front of the back face
    (``CAMERA_BODY_CENTRES_M``) with a prior width of ``2 c`` (the back finger clears the back face;
    the observed front face sets the real width), at the two ends of the body along z (away from
    the lens): from the top and from the sides. Grasps across the height (closing along y) come
    from the sides and from the back.
    """
    half = s / 2.0
    specs = []
    tip = min(CAMERA_PINCH_DEPTH_M, 0.6 * s[1])
    for c in CAMERA_BODY_CENTRES_M:
        x_c = -half[0] + c
        zs = np.array([-0.4, -0.3, 0.3, 0.4]) * s[2]
        point = np.stack([np.full(4, x_c), np.full(4, half[1]), zs], axis=1)
        specs.append(make_spec(point, [0.0, -1.0, 0.0], [1.0, 0.0, 0.0], 0.0, 2 * c, "body", tip))
        for sign in (1.0, -1.0):
            point = np.array([[x_c, y, -sign * half[2]] for y in (-0.1 * s[1], 0.1 * s[1])])
            specs.append(make_spec(point, [0.0, 0.0, sign], [1.0, 0.0, 0.0], 0.0, 2 * c, "body", tip))
    for sign in (1.0, -1.0):  # across the height, from the sides
        point = np.array([[x, 0.0, -sign * (half[2] - 0.015)] for x in (-half[0] + 0.015, 0.0)])
        specs.append(make_spec(point, [0.0, 0.0, sign], [0.0, 1.0, 0.0], 0.015, s[1], "body"))
    point = np.array([[-half[0] + 0.015, 0.0, z] for z in (-0.3 * s[2], 0.0, 0.3 * s[2])])  # from the back
    specs.append(make_spec(point, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], 0.015, s[1], "body"))
    return [_concat(specs, "body")]


_FAMILIES = {"bottle": _bottle, "bowl": _bowl, "camera": _camera, "can": _can, "laptop": _laptop, "mug": _mug}


def canonical_candidates(category: str, size_m: np.ndarray, gripper: GripperModel) -> CandidateSet:
    """All grasp candidates of ``category`` for an object of extents ``size_m``, canonical frame."""
    if category not in _FAMILIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    size_m = np.asarray(size_m, dtype=np.float64).reshape(-1)
    if size_m.shape != (3,) or not np.all(np.isfinite(size_m)) or np.any(size_m <= 0):
        raise ValueError(f"size_m must be 3 positive finite extents, got {size_m}")
    return place(_FAMILIES[category](size_m), gripper)


def place(specs: list[Spec], gripper: GripperModel) -> CandidateSet:
    """TCP poses of candidate specs (canonical frame): pads centred on the grasp point, backed off if
    the palm would touch the near surface, or the fingertips ``tip_m`` past it for pinches."""
    families = np.concatenate([np.full(len(s.point), s.family, dtype=object) for s in specs])
    spec = _concat(specs)
    z_low, z_high = gripper.finger_z_range_m
    pad_centre_z = (z_low + z_high) / 2.0
    # TCP depth past g along the approach: pads centred on g, backed off if the palm would touch.
    depth = np.minimum(-pad_centre_z, -gripper.palm_front_z_m - spec.near_m - PALM_CLEARANCE_M)
    depth = np.where(np.isnan(spec.tip_m), depth, spec.tip_m - z_high)
    keep = depth + z_high >= MIN_TIP_REACH_M
    x_axis = np.cross(spec.closing, spec.approach)
    poses = np.zeros((len(spec.point), 4, 4))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2] = x_axis, spec.closing, spec.approach
    poses[:, :3, 3] = spec.point + depth[:, None] * spec.approach
    poses[:, 3, 3] = 1.0
    stability = np.array([FAMILY_STABILITY[f] for f in families]) * spec.preference
    surface_z = -depth - spec.near_m
    return CandidateSet(
        poses[keep],
        spec.width_m[keep],
        stability[keep],
        families[keep],
        surface_z[keep],
        max_forward_m=spec.max_forward_m[keep],
    )
