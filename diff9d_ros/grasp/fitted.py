"""Grasp candidates fitted on the object's observed points rather than on its estimated box.

The model families of :mod:`diff9d_ros.grasp.candidates` assume the category's shape: a round neck
on the symmetry axis, a can narrow enough to take across its body. Real objects break those
assumptions (a squeeze bottle's neck is oval and off the axis; food tins are wider than the
opening; a laptop's box may be turned round), so these families are placed on the own points
instead, expressed in the detected canonical frame (y up) and seen from the camera:

* **Slices** (bottles): the own points are cut into horizontal bands as tall as the pad is wide;
  a band whose halves differ in width by more than ``MAX_TAPER_M`` (a shoulder) is skipped. In
  each band the extent across the line of sight (``u``, horizontal and perpendicular to the
  camera's direction) is measured, not assumed; the band's centre is the middle of that extent
  across, and its near surface plus half the extent along the line of sight (a round or oval
  section seen from the side). A side grasp closes along ``u`` there, approaching along the line
  of sight (level and tilted down by 30°), with that extent as the width: the neck where the
  bottle is narrow ("neck") or the body ("side"). A top-down grasp takes the narrow top (the cap)
  when the bands from the top down stay narrow for at least ``MIN_TOP_LENGTH_M``; its fingertips
  stop ``TOP_CLEARANCE_M`` above where the object widens.
* **Can tops** (cans): the points within ``TOP_BAND_M`` of the top, down to ``LID_BAND_M`` below
  their median height (the lid and the rim, not a neck widening below them), are the top face, a
  disc seen from above (it must reach ``MIN_DISC_DEPTH_FRACTION`` of its width along the line of
  sight, or the top is not seen); its radius is half its extent across the line of sight and its
  centre the middle of its extents across and along the line of sight (a centroid would lean
  towards the camera). A top narrow enough for the opening is taken whole, ``CAN_NECK_DEPTH_M``
  over the rim, centred on that disc (replacing the model's top-end family). A wider top gets
  **rim pinches**, tried only when nothing else is accepted. The fingers
  come down on the rim at ``RIM_ANGLES`` places, closing radially across it, the inner fingertip
  resting on the lid inside the rim (``RIM_TIP_BELOW_LID_M`` below the lid: the median height
  of the points over the middle of the disc, ``LID_INNER_FRACTION`` of its radius; the top band
  itself keeps the upper tail of the depth noise, several millimetres at 1.5 m); own points that
  deep under the fingers, and the sensor's noise above that, are contacts, not collisions
  (``own_limit_z_m``), and the pinch closes across the rim it was fitted on. They are offered
  only for cans whose observed top is wider than the gripper takes (narrower tops are taken
  whole, across the top or the neck): a pinch holds a few
  millimetres of rim, and on a necked-in top the outer finger meets the sloping neck below the
  rim, which pushes the rim out of the pinch (food tins, whose wall runs straight up to a seam,
  are what it is for). A rim pinch holds the can by friction on a few millimetres of
  rim, so it is offered only when the can's weight moment about the pinch, ``m g r`` with ``m`` the
  can's density times the cylinder of the observed radius and the box's height, is at most the
  grip force times
  ``RIM_CONTACT_M`` (in MuJoCo, 70 N on a 3.5 mm rim held 0.19 N m and dropped 0.27 N m).

* **Lid edges** (laptops): the points within ``EDGE_BAND_M`` of the top are the lid's top edge
  (its direction their principal horizontal axis; at least ``MIN_EDGE_LENGTH_M`` long), and the
  points ``LID_FACE_BAND_M`` below the top, along the edge's length, the lid's face: their run
  across the edge per drop below it is the lid's slope. Pinches come down the lid from the
  highest edge point (the palm stays above the edge's noise), fingertips ``LAPTOP_PINCH_DEPTH_M``
  down, closing across the lid, at the edge's middle and off-centre, tilted by the slope and by
  ``LID_TILT_STEP_RAD`` either way. They join the model's edge pinches, which follow the box: a
  box turned round (the lid on the wrong side) or too small puts those in front of the lid.

Every fitted candidate's closing and approach axes are placed on the points, so the planner does
not re-centre them and does not charge them the pose error along those axes. Where the slices
exist, they replace the bottle's model neck and top families (``REPLACED_FAMILIES``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from diff9d_ros.grasp.candidates import (
    CAN_NECK_DEPTH_M,
    LAPTOP_LID_WIDTH_M,
    LAPTOP_PINCH_DEPTH_M,
    CandidateSet,
    make_spec,
    place,
)
from diff9d_ros.grasp.gripper import GripperModel
from diff9d_ros.nocs import DENSITY_KG_M3, Detection

GRAVITY_M_S2 = 9.81
#: Model families (:mod:`diff9d_ros.grasp.candidates`) that the fitted ones replace when the points
#: measured them: a bottle's neck and cap are taken where they are seen, not on the axis.
REPLACED_FAMILIES: dict[str, tuple[str, ...]] = {"bottle": ("neck", "top"), "can": ("neck",)}
#: How far an observed extent across the line of sight falls short of the object's width (m): the
#: silhouette loses its edge pixels (depth holes at the jump to the background, grazing views) and
#: the scene cloud keeps one point per 5 mm voxel. Measured on rendered val cans and bottles at
#: 0.5-1 m (D435 noise model): 3 to 7 mm short, median 5.7 mm; the smaller value keeps the
#: corrected width a lower bound for most views.
SILHOUETTE_DEFICIT_M = 0.004
#: Fewest own points a band (or the top disc) needs to be measured.
MIN_BAND_POINTS = 6
#: Step between the centres of consecutive bands (m).
BAND_STEP_M = 0.008
#: Bands considered, from the top down to this fraction of the object's height.
BAND_DEPTH_FRACTION = 0.75
#: Largest difference between the widths of a band's lower and upper halves (m): a band across a
#: shoulder mixes two sections, and its centre and width describe neither.
MAX_TAPER_M = 0.01
#: Approach tilts below level of the slice grasps (rad).
SLICE_TILTS_RAD = np.radians([0.0, 30.0])
#: A band narrower than this fraction of the widest band is a neck.
NECK_FRACTION = 0.75
#: Top-down grasps of the narrow top: least length of the narrow part and fingertip clearance
#: above where it widens (m); widest part counted as narrow, as a fraction of the opening.
MIN_TOP_LENGTH_M = 0.012
TOP_CLEARANCE_M = 0.004
TOP_MAX_WIDTH_FRACTION = 0.6
#: Rim pinches: band below the top taken as the top face (m), quantile trimmed off each side of its
#: extents, inset of the grasp point from the rim's edge (m), prior width across the rim (m), rim
#: height above the lid assumed for the grasp point (m), depth of the fingertips below the median of
#: the top band (the lid, m), angles around the rim, rim height that holds the moment (m).
TOP_BAND_M = 0.008
#: The top face: points at most this far below the band's median height (the lid, mostly) (m); the
#: face must reach along the line of sight at least this fraction of its width across.
LID_BAND_M = 0.001
#: Depths of the fingertips below the rim of a top taken whole (m), deepest (most held) preferred:
#: a short neck widens into the body above the deepest, whose fingers then land on the shoulder
#: (the width check drops them), and a shallower one is taken.
NECK_DEPTHS_M = np.array([CAN_NECK_DEPTH_M, 0.009, 0.007])
NECK_SHALLOW_PENALTY = 0.1
MIN_DISC_DEPTH_FRACTION = 0.7
#: The lid's height is the median of the points within this fraction of the disc's radius of its centre.
LID_INNER_FRACTION = 0.6
RIM_EDGE_QUANTILE = 0.01
RIM_INSET_M = 0.0015
RIM_WIDTH_M = 0.006
RIM_HEIGHT_M = 0.004
RIM_TIP_BELOW_LID_M = 0.0015
RIM_ANGLES = 16
RIM_CONTACT_M = 0.003
#: Laptop lids: points this far below the top are the lid's top edge (m), which must be at least
#: this long (m); points between these depths below the top are the lid's face, whose slope gives
#: the lid's plane (m); the edge pinches are also tilted by this much about the edge (rad).
EDGE_BAND_M = 0.012
MIN_EDGE_LENGTH_M = 0.08
LID_FACE_BAND_M = (0.02, 0.07)
LID_TILT_STEP_RAD = float(np.radians(10.0))
#: Own points this far above the planned lid contact still count as collisions of a rim pinch (m).
RIM_CONTACT_ALLOWANCE_M = 0.008


def _view_axes(detection: Detection) -> tuple[np.ndarray, np.ndarray] | None:
    """(line of sight, across) as horizontal unit vectors of the canonical frame, or None when the
    camera looks straight down the object's axis."""
    camera = -detection.rotation.T @ detection.translation_m  # camera centre, canonical frame
    sight = np.array([-camera[0], 0.0, -camera[2]])
    norm = np.linalg.norm(sight)
    if norm < 1e-6:
        return None
    sight /= norm
    return sight, np.cross([0.0, 1.0, 0.0], sight)


def _bands(
    points: np.ndarray, top_m: float, half_height_m: float, bottom_m: float
) -> list[tuple[float, np.ndarray]]:
    """(centre height, points) of bands ``2 half_height_m`` tall from ``top_m`` down to ``bottom_m``."""
    out = []
    centre = top_m - half_height_m
    while centre >= bottom_m:
        members = points[np.abs(points[:, 1] - centre) <= half_height_m]
        if len(members) >= MIN_BAND_POINTS:
            out.append((centre, members))
        centre -= BAND_STEP_M
    return out


def _slices(points: np.ndarray, detection: Detection, gripper: GripperModel, max_width_m: float) -> list:
    """Side grasps across the observed bands and top-down grasps of the narrow top (bottles)."""
    axes = _view_axes(detection)
    if axes is None or len(points) < MIN_BAND_POINTS:
        return []
    sight, across = axes
    top = float(np.quantile(points[:, 1], 0.98))
    height = detection.size_m[1]
    pad_half = float(gripper.finger_half_extents_m[0])
    bands = _bands(points, top, pad_half, top - BAND_DEPTH_FRACTION * height)
    if not bands:
        return []
    measured = []
    for centre_y, members in bands:
        u, d = members @ across, members @ sight
        halves = [u[members[:, 1] < centre_y], u[members[:, 1] >= centre_y]]
        if any(len(h) < 2 for h in halves) or abs(np.ptp(halves[0]) - np.ptp(halves[1])) > MAX_TAPER_M:
            continue  # the section changes within the pads' height: not a prism to close on
        width = float(u.max() - u.min()) + SILHOUETTE_DEFICIT_M
        middle = 0.5 * (u.max() + u.min()) * across + (d.min() + 0.5 * width) * sight
        measured.append((centre_y, width, middle + centre_y * np.array([0.0, 1.0, 0.0]), width / 2.0))
    if not measured:
        return []
    widest = max(w for _, w, _, _ in measured)
    specs = []
    down = np.array([0.0, -1.0, 0.0])
    for _, width, point, near in measured:
        if width > max_width_m:
            continue
        family = "neck" if width < NECK_FRACTION * widest else "side"
        approach = np.cos(SLICE_TILTS_RAD)[:, None] * sight + np.sin(SLICE_TILTS_RAD)[:, None] * down
        near_m = near / np.cos(SLICE_TILTS_RAD)
        specs.append(
            make_spec(np.broadcast_to(point, (len(approach), 3)), approach, across, near_m, width, family)
        )
    # The narrow top: bands from the top down while they stay narrow.
    narrow_limit = TOP_MAX_WIDTH_FRACTION * gripper.max_opening_m
    length, top_band = 0.0, measured[0]
    for centre_y, width, _, _ in measured:
        if width > narrow_limit:
            break
        length = top - (centre_y - pad_half)
    if length >= MIN_TOP_LENGTH_M and top_band[1] <= narrow_limit:
        centre = top_band[2].copy()
        centre[1] = top
        phi = np.linspace(0.0, np.pi, 4, endpoint=False)
        closing = np.cos(phi)[:, None] * across + np.sin(phi)[:, None] * sight
        tip = min(length - TOP_CLEARANCE_M, 0.6 * gripper.finger_half_extents_m[2] * 2.0)
        specs.append(
            make_spec(np.broadcast_to(centre, (4, 3)), down, closing, 0.0, top_band[1], "top", tip_m=tip)
        )
    return specs


def rim_moment_ok(detection: Detection, radius_m: float, grip_force_n: float) -> bool:
    """Whether a rim pinch on a can of observed radius ``radius_m`` holds its weight moment: the can
    is taken as a cylinder of that radius (or the box's, if larger) and the box's height."""
    s = detection.size_m
    area_m2 = np.pi * max(radius_m**2, s[0] * s[2] / 4.0)
    mass_kg = DENSITY_KG_M3[detection.category] * area_m2 * s[1]
    return bool(mass_kg * GRAVITY_M_S2 * radius_m <= grip_force_n * RIM_CONTACT_M)


def _top_disc(points: np.ndarray, detection: Detection) -> tuple[np.ndarray, float] | None:
    """(rim top centre (3,), radius) of a can's top face seen from above, or None (module docstring)."""
    axes = _view_axes(detection)
    if axes is None or len(points) < MIN_BAND_POINTS:
        return None
    sight, across = axes
    top = float(np.quantile(points[:, 1], 0.98))
    disc = points[points[:, 1] >= top - TOP_BAND_M]
    camera = -detection.rotation.T @ detection.translation_m
    if len(disc) < 3 * MIN_BAND_POINTS or camera[1] <= top:
        return None
    band_median = float(np.median(disc[:, 1]))
    face = disc[disc[:, 1] >= band_median - LID_BAND_M]  # lid and rim, not the wall or a neck below them
    u_low, u_high = np.quantile(face @ across, [RIM_EDGE_QUANTILE, 1.0 - RIM_EDGE_QUANTILE])
    d_low, d_high = np.quantile(face @ sight, [RIM_EDGE_QUANTILE, 1.0 - RIM_EDGE_QUANTILE])
    if d_high - d_low < MIN_DISC_DEPTH_FRACTION * (u_high - u_low):
        return None  # the far rim is missing: the top face is not seen, the band is the near wall
    radius = (float(u_high - u_low) + SILHOUETTE_DEFICIT_M) / 2.0
    if not 0.25 * detection.size_m[0] <= radius <= 0.7 * detection.size_m[0]:
        return None
    centre = 0.5 * (u_low + u_high) * across + 0.5 * (d_low + d_high) * sight
    # The band keeps the upper tail of the depth noise (several mm at 1.5 m), so its median lies
    # above the lid; the points over the middle of the disc, at any height above the box's middle,
    # are the lid alone, noise both ways.
    inside = np.hypot(points[:, 0] - centre[0], points[:, 2] - centre[2]) <= LID_INNER_FRACTION * radius
    lid_points = points[inside & (points[:, 1] > 0.0), 1]
    lid = float(np.median(lid_points)) if len(lid_points) >= MIN_BAND_POINTS else band_median
    centre[1] = lid + RIM_HEIGHT_M
    return centre, radius


def _can_top(points: np.ndarray, detection: Detection, gripper: GripperModel, max_width_m: float):
    """Top-end grasps of a can centred on its observed top, or rim pinches (fallback) when the top is
    wider than ``max_width_m``; None without a measured top or when a rim pinch cannot hold."""
    disc = _top_disc(points, detection)
    if disc is None:
        return None
    centre, radius = disc
    if 2.0 * radius <= max_width_m:
        phi, depth = (
            g.reshape(-1) for g in np.meshgrid(np.linspace(0.0, np.pi, 8, endpoint=False), NECK_DEPTHS_M)
        )
        closing = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], axis=1)
        point = np.broadcast_to(centre, (len(phi), 3))
        preference = 1.0 - NECK_SHALLOW_PENALTY * (NECK_DEPTHS_M[0] - depth) / (
            NECK_DEPTHS_M[0] - NECK_DEPTHS_M[-1]
        )
        return make_spec(point, [0.0, -1.0, 0.0], closing, 0.0, 2.0 * radius, "neck", depth, preference)
    if not rim_moment_ok(detection, radius, gripper.finger_force_n):
        return None
    phi = np.linspace(0.0, 2.0 * np.pi, RIM_ANGLES, endpoint=False)
    radial = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], axis=1)
    point = centre + (radius - RIM_INSET_M) * radial
    tip = RIM_HEIGHT_M + RIM_TIP_BELOW_LID_M
    return make_spec(point, [0.0, -1.0, 0.0], radial, 0.0, RIM_WIDTH_M, "rim", tip_m=tip)


def _lid_edge(points: np.ndarray) -> list:
    """Pinches over a laptop lid's top edge placed on the points (module docstring), or []."""
    top = float(np.quantile(points[:, 1], 0.99))
    edge = points[points[:, 1] >= top - EDGE_BAND_M]
    if len(edge) < MIN_BAND_POINTS:
        return []
    flat = edge[:, [0, 2]]
    middle = np.median(flat, axis=0)
    along_xz = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)[2][0]
    along = np.array([along_xz[0], 0.0, along_xz[1]])
    offsets = (edge - np.array([middle[0], 0.0, middle[1]])) @ along
    low, high = np.quantile(offsets, [0.02, 0.98])
    if high - low < MIN_EDGE_LENGTH_M:
        return []
    across = np.cross(along, [0.0, 1.0, 0.0])
    # At the highest edge point: the palm stops above the noise of the edge.
    centre = np.array([middle[0], edge[:, 1].max(), middle[1]]) + 0.5 * (low + high) * along
    below = top - points[:, 1]
    on_face = (below >= LID_FACE_BAND_M[0]) & (below <= LID_FACE_BAND_M[1])
    on_face &= np.abs((points - centre) @ along) <= 0.5 * (high - low)
    face = points[on_face]
    if len(face) < MIN_BAND_POINTS:
        return []
    # From the edge down the lid towards the hinge: its run across the edge per drop below it.
    run = float(np.median((face - centre) @ across))
    drop = float(np.median(top - face[:, 1]))
    tilt = np.arctan2(run, drop)
    specs = []
    for step, tilt_preference in ((0.0, 1.0), (-1.0, 0.95), (1.0, 0.95)):
        angle = tilt + step * LID_TILT_STEP_RAD
        approach = np.sin(angle) * across - np.cos(angle) * np.array([0.0, 1.0, 0.0])
        closing = np.cross(along, approach)
        for shift, preference in ((0.0, 1.0), (-0.12, 0.9), (0.12, 0.9)):
            point = centre + shift * (high - low) * along
            specs.append(
                make_spec(
                    point[None],
                    approach,
                    closing,
                    0.0,
                    LAPTOP_LID_WIDTH_M,
                    "edge",
                    LAPTOP_PINCH_DEPTH_M,
                    preference * tilt_preference,
                )
            )
    return specs


def fitted_candidates(
    detection: Detection,
    own_points_m: np.ndarray,
    gripper: GripperModel,
    max_width_m: float,
    depth_noise_m: float = 0.0,
) -> CandidateSet | None:
    """Candidates (canonical frame) fitted on the object's own points (camera frame), or None.

    ``max_width_m`` is the widest object the gripper takes with its margins; ``depth_noise_m`` how
    far the sensor's noise scatters the points at the object's range (the own points that far
    above a rim pinch's contact allowance still count as touching the rim).
    """
    if detection.category not in ("bottle", "can", "laptop") or len(own_points_m) == 0:
        return None
    points = (np.asarray(own_points_m, dtype=np.float64) - detection.translation_m) @ detection.rotation
    if detection.category == "laptop":
        specs = _lid_edge(points)
        return place(specs, gripper) if specs else None
    if detection.category == "bottle":
        specs = _slices(points, detection, gripper, max_width_m)
        return place(specs, gripper) if specs else None
    top = _can_top(points, detection, gripper, max_width_m)
    if top is None:
        return None
    candidates = place([top], gripper)
    if top.family != "rim":
        return candidates
    limit = np.full(len(candidates), gripper.finger_z_range_m[1] - RIM_CONTACT_ALLOWANCE_M - depth_noise_m)
    fallback = np.ones(len(candidates), dtype=bool)
    return replace(candidates, own_limit_z_m=limit, fallback=fallback)


def silhouette_widths(
    detection: Detection, own_points_m: np.ndarray, poses: np.ndarray, gripper: GripperModel
) -> np.ndarray:
    """Least object width (N,) along each candidate's closing axis that the observed points allow.

    For bottles and cans, at the height of the pads (``poses`` (N, 4, 4), camera frame): the own
    points there are a section seen from one side. Its extent across the line of sight is measured
    (between the two limbs, lengthened by the edge points the sensor loses,
    ``SILHOUETTE_DEFICIT_M``); its depth along the line of sight is not (the far side is hidden),
    so the section is taken at least as deep as it is wide, and any level closing direction needs
    the measured width: an estimated size smaller than the object, or a round box on an oval one
    seen end-on, no longer lets the fingers close on it. Conservative for an oval seen broadside:
    closing along the line of sight, across its narrow side, is then refused. NaN where no bound
    applies (other categories, closing not level, fewer than ``MIN_BAND_POINTS`` points there).
    """
    out = np.full(len(poses), np.nan)
    axes = _view_axes(detection)
    if detection.category not in ("bottle", "can") or axes is None or len(own_points_m) == 0:
        return out
    across = axes[1]
    points = (np.asarray(own_points_m, dtype=np.float64) - detection.translation_m) @ detection.rotation
    z_pad = float(np.mean(gripper.finger_z_range_m))
    pad = poses[:, :3, 3] + z_pad * poses[:, :3, 2]
    pad_y = (pad - detection.translation_m) @ detection.rotation[:, 1]
    closing = poses[:, :3, 1] @ detection.rotation  # canonical closing directions (N, 3)
    level = np.abs(closing[:, 1]) < 0.3
    band = np.abs(points[None, :, 1] - pad_y[:, None]) <= gripper.finger_half_extents_m[0]
    enough = band.sum(axis=1) >= MIN_BAND_POINTS
    u = points @ across
    u_low = np.where(band, u, np.inf).min(axis=1, initial=np.inf)
    u_high = np.where(band, u, -np.inf).max(axis=1, initial=-np.inf)
    use = level & enough
    out[use] = (u_high - u_low)[use] + SILHOUETTE_DEFICIT_M
    return out
