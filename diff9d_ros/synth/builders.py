"""One parametric builder per NOCS category: a parameter dict (metres, degrees) -> a watertight mesh.

The parameters of every builder are listed in its ``PARAMETERS`` tuple; the sub-families of
:mod:`diff9d_ros.synth.families` give each parameter a range. Builders return the mesh in the NOCS
canonical orientation (y up; handle, lens and laptop front edge on +x) but not yet centred:
:func:`diff9d_ros.synth.meshes.instance_mesh` centres the NOCS box. Mugs come with a per-face
handle mask.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from diff9d_ros.synth.shapes import (
    Y_TO_Z,
    box,
    revolve_y,
    rounded_prism,
    shape_cross_sections,
    tube,
    union,
)

Params = dict[str, float]

#: The camera and laptop builders put the front on +z; this turn (+90 degrees about y) takes +z to
#: the NOCS front, +x.
FRONT_Z_TO_X = trimesh.transformations.rotation_matrix(np.pi / 2, [0.0, 1.0, 0.0])

BOTTLE_PARAMETERS = (
    "height",
    "body_radius",
    "depth_ratio",
    "squareness",
    "shoulder_start",
    "shoulder_length",
    "shoulder_fullness",
    "neck_ratio",
    "waist",
    "cap_height",
    "cap_flare",
    "cap_offset",
)


def bottle(p: Params) -> trimesh.Trimesh:
    """Body (round, oval or square cross-section), shoulder (ogive of varying fullness), neck and cap.

    ``body_radius`` is the half width along x; ``depth_ratio`` the body's z/x half-width ratio
    (oval shampoo and sauce bottles < 1) and ``squareness`` its superellipse exponent (2 round,
    ~6 square); both relax to a round neck through the shoulder. ``cap_offset`` moves neck and
    cap along +x (a squeeze bottle's spout off the body axis).
    """
    h, r = p["height"], p["body_radius"]
    r_neck = max(0.009, r * p["neck_ratio"])
    y_neck_top = h - p["cap_height"] - 0.008  # at least 8 mm of neck below the cap
    y_shoulder = min(h * p["shoulder_start"], y_neck_top - 0.012)
    y_neck = min(y_shoulder + h * p["shoulder_length"], y_neck_top)
    profile = [(0.0, 0.0), (r - 0.004, 0.0), (r, 0.004)]
    for s in np.linspace(0.1, 1.0, 6):
        y = 0.004 + s * (y_shoulder - 0.004)
        profile.append((r * (1.0 - p["waist"] * np.sin(np.pi * s)), y))
    for s in np.linspace(0.15, 1.0, 7):
        blend = (1.0 - np.cos(np.pi * s)) / 2.0
        profile.append(
            (r - (r - r_neck) * blend ** p["shoulder_fullness"], y_shoulder + s * (y_neck - y_shoulder))
        )
    r_cap = r_neck * p["cap_flare"]
    y_cap = h - p["cap_height"]
    profile.append((r_neck, y_cap))
    if r_cap - r_neck > 1e-4:  # a cap flush with the neck has no step (a 0-width step is degenerate)
        profile.append((r_cap, y_cap))
    profile += [(r_cap, h), (0.0, h)]
    mesh = revolve_y(profile)
    # Through the shoulder the cross-section relaxes to the round neck: the short (z) half width
    # stays at the body's until the narrowing radius falls below it, then follows the radius.
    shoulder = np.array([(rr, yy) for rr, yy in profile if y_shoulder <= yy <= y_neck and rr > 0])
    heights = np.r_[0.0, shoulder[:, 1], h]
    relaxed = np.r_[p["depth_ratio"], np.minimum(1.0, r * p["depth_ratio"] / shoulder[:, 0]), 1.0]
    progress = np.clip((heights - y_shoulder) / (y_neck - y_shoulder), 0.0, 1.0)
    squareness = p["squareness"] + (2.0 - p["squareness"]) * progress
    offset = p["cap_offset"] * progress
    return shape_cross_sections(mesh, heights, np.ones_like(heights), relaxed, squareness, offset)


BOWL_PARAMETERS = ("rim_radius", "depth", "base_ratio", "flare", "wall", "foot", "brim", "brim_rise")


def bowl(p: Params) -> trimesh.Trimesh:
    """Thin shell with a foot ring; depth, flare (wall curvature), wall thickness and an optional
    flat brim (``brim`` > 0: the wide rim of a pasta plate-bowl, rising by ``brim_rise``) vary."""
    r_rim, depth, wall, foot = p["rim_radius"], p["depth"], p["wall"], p["foot"]
    r_base = r_rim * p["base_ratio"]
    s = np.linspace(0.0, 1.0, 12)
    outer_r = r_base + (r_rim - r_base) * s ** p["flare"]
    outer_y = foot + (depth - foot) * s
    inner = [(max(rr - wall, 0.0), yy + wall) for rr, yy in zip(outer_r[:-1], outer_y[:-1], strict=True)]
    profile = [(0.0, 0.0), (r_base, 0.0), *zip(outer_r, outer_y, strict=True)]
    if p["brim"] > 0.002:
        edge = r_rim + p["brim"]
        top = depth + p["brim_rise"]
        profile += [(edge, top), (edge, top + wall), (r_rim - wall, depth + wall)]
    else:
        profile.append((r_rim - wall, depth))
    profile += [*inner[::-1], (0.0, foot + wall)]
    return revolve_y(profile)


CAN_PARAMETERS = (
    "diameter",
    "height",
    "beverage",
    "bevel",
    "neck_in",
    "neck_height",
    "seam_out",
    "seam_height",
    "lid_sink",
    "beads",
)


def can(p: Params) -> trimesh.Trimesh:
    """A beverage can (``beverage`` >= 0.5: bevelled foot, necked-in top, rim lip) or a food tin
    (double seams proud of the body at both ends, lids sunk by ``lid_sink``, ``beads`` rolled ribs)."""
    h, r = p["height"], p["diameter"] / 2.0
    if p["beverage"] >= 0.5:
        bevel, r_top = p["bevel"], r - p["neck_in"]
        profile = [
            (0.0, 0.004),
            (r - bevel - 0.004, 0.0),
            (r - bevel, 0.0),
            (r, bevel),
            (r, h - p["neck_height"]),
            (r_top, h - 0.002),
            (r_top, h),
            (r_top - 0.002, h),
            (r_top - 0.002, h - 0.003),
            (0.0, h - 0.003),
        ]
        return revolve_y(profile)
    seam_out, seam_h, sink = p["seam_out"], p["seam_height"], p["lid_sink"]
    r_lid = r - 0.002
    profile = [
        (0.0, sink),
        (r_lid, sink),
        (r_lid, 0.0),
        (r + seam_out, 0.0),
        (r + seam_out, seam_h),
        (r, seam_h),
    ]
    n_beads = round(p["beads"])
    if n_beads:
        bead_half = min(0.002, (h - 2 * seam_h) / (6 * n_beads))
        for y in np.linspace(seam_h, h - seam_h, n_beads + 2)[1:-1]:
            profile += [(r, y - bead_half), (r - 0.0008, y), (r, y + bead_half)]
    profile += [(r, h - seam_h), (r + seam_out, h - seam_h), (r + seam_out, h), (r_lid, h)]
    profile += [(r_lid, h - sink), (0.0, h - sink)]
    return revolve_y(profile)


MUG_PARAMETERS = (
    "height",
    "radius",
    "flare",
    "flare_curve",
    "wall",
    "bottom",
    "handle_span",
    "handle_top",
    "handle_reach",
    "handle_squareness",
    "handle_half_width",
    "handle_half_depth",
)


def mug(p: Params) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Cup whose outer radius grows from ``radius`` at the base to ``flare * radius`` at the rim as
    ``s ** flare_curve`` of the height fraction s (1: a straight or conical wall; > 1 a bell), with a
    C- or D-shaped handle along +x; returns the mesh and its handle face mask."""
    h, r_b, wall = p["height"], p["radius"], p["wall"]
    r_t = r_b * p["flare"]

    def outer_radius(y: np.ndarray) -> np.ndarray:
        s = np.clip((np.asarray(y) - 0.003) / (h - 0.003), 0.0, 1.0)
        return r_b + (r_t - r_b) * s ** p["flare_curve"]

    ys = np.linspace(0.003, h, 10)
    profile = [(0.0, 0.0), (r_b - 0.003, 0.0), *zip(outer_radius(ys), ys, strict=True)]
    inner_ys = np.linspace(h, p["bottom"], 10)
    profile += [(float(outer_radius(y)) - wall, float(y)) for y in inner_ys]
    profile.append((0.0, p["bottom"]))
    body = revolve_y(profile)

    y_top = h * p["handle_top"]
    span = h * p["handle_span"]
    y_mid = y_top - span / 2
    t = np.linspace(0.0, np.pi, 24)
    y = y_mid + (span / 2) * np.cos(t)
    bulge = np.sin(t) ** (2.0 / p["handle_squareness"])
    x = outer_radius(y) - 0.6 * wall + (0.6 * wall + p["handle_reach"]) * bulge
    path = np.stack([x, y, np.zeros_like(x)], axis=1)
    handle = tube(path, p["handle_half_width"], p["handle_half_depth"])
    mesh = union([body, handle])
    centroids = mesh.triangles_center
    radial = np.hypot(centroids[:, 0], centroids[:, 2])
    handle_faces = (centroids[:, 0] > 0) & (radial > outer_radius(centroids[:, 1]) + 5e-4)
    return mesh, handle_faces


CAMERA_PARAMETERS = (
    "width",
    "height",
    "depth",
    "rounding",
    "grip_width",
    "grip_depth",
    "hump_height",
    "lens_radius",
    "lens_length",
    "lens_front_ratio",
    "lens_square",
    "lens_offset_x",
    "lens_offset_y",
    "flash",
)


def camera(p: Params) -> trimesh.Trimesh:
    """Body (box with rounded vertical edges), hand grip, top hump (pentaprism or viewfinder),
    shutter button (2.5 mm proud), an optional flash window, and a lens along the builder's +z: a
    round barrel with mount ring and front element (``lens_front_ratio``), or a square housing
    (action cameras);
    ``lens_length`` ~ 0.005 is a body cap. Turned to the NOCS frame (lens on +x) at the end."""
    w, h, d = p["width"], p["height"], p["depth"]
    parts = [rounded_prism(w, h, d, p["rounding"]).apply_translation((0.0, -h / 2, 0.0))]
    g_w, g_d = p["grip_width"], p["grip_depth"]
    if g_d > 0.002:
        grip = rounded_prism(g_w, h * 0.9, d / 2 + g_d, p["rounding"])
        parts.append(grip.apply_translation((-w / 2 + g_w / 2 + 0.002, -h * 0.47, d / 4 + g_d / 2 - 0.001)))
    x_lens, y_lens = p["lens_offset_x"], p["lens_offset_y"]
    hump = p["hump_height"]
    if hump > 0.004:
        parts.append(
            box((min(w * 0.32, 0.06), hump + 0.002, d * 0.7), (x_lens, h / 2 + hump / 2 - 0.001, 0.0))
        )
    if p["flash"] >= 0.5:
        size = min(w, h) * 0.18
        parts.append(box((size * 1.4, size, 0.006), (w / 2 - size, h / 2 - size * 0.8, d / 2 + 0.002)))
    button = trimesh.creation.cylinder(radius=0.005, height=0.004, sections=16)
    button.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    button.apply_translation((-w / 2 + g_w / 2, h / 2 + 0.0005, d * 0.1))
    parts.append(button)
    reach = max(h / 2 - p["lens_radius"], 0.0)  # the lens stays within the body's height when it fits
    parts.append(_lens(p).apply_translation((x_lens, float(np.clip(y_lens, -reach, reach)), d / 2 - 0.001)))
    mesh = union(parts)
    mesh.apply_transform(FRONT_Z_TO_X)
    return mesh


def _lens(p: Params) -> trimesh.Trimesh:
    """The lens along +z from z = 0 (its mount face)."""
    r, length = p["lens_radius"], p["lens_length"] + 0.001
    if p["lens_square"] >= 0.5:
        housing = rounded_prism(2 * r, length, 2 * r, 5.0)
    else:
        r_front = r * p["lens_front_ratio"]
        mount = min(0.004, length * 0.3)
        profile = [(0.0, 0.0), (r * 0.92, 0.0), (r * 0.92, mount), (r, mount), (r, max(mount, length * 0.7))]
        profile += [(r_front, max(mount + 1e-4, length * 0.75)), (r_front, length), (0.0, length)]
        housing = revolve_y(profile)
    return housing.apply_transform(Y_TO_Z)


LAPTOP_PARAMETERS = ("width", "depth", "base_thickness", "lid_thickness", "lid_angle_deg")


def laptop(p: Params) -> trimesh.Trimesh:
    """Base slab, lid slab and a hinge barrel (radius: the lid's thickness) along x at the back
    edge, the lid opened by ``lid_angle_deg``; the barrel overlaps both slabs, so the union is one
    manifold solid. Turned to the NOCS frame (front edge on +x, hinge along z at -x) at the end."""
    w, d, t_b, t_l = p["width"], p["depth"], p["base_thickness"], p["lid_thickness"]
    base = box((w, t_b, d), (0.0, t_b / 2, 0.0))
    lid = box((w, t_l, d), (0.0, t_b + t_l / 2, 0.0))
    hinge = np.array([0.0, t_b, -d / 2])
    opening = trimesh.transformations.rotation_matrix(-np.radians(p["lid_angle_deg"]), [1, 0, 0], hinge)
    lid.apply_transform(opening)
    barrel = trimesh.creation.cylinder(radius=min(t_l, t_b), height=w, sections=16)
    barrel.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    barrel.apply_translation(hinge)
    mesh = union([base, lid, barrel])
    mesh.apply_transform(FRONT_Z_TO_X)
    return mesh


#: Builder and parameter names per category.
BUILDERS: dict[str, tuple[Callable[[Params], object], tuple[str, ...]]] = {
    "bottle": (bottle, BOTTLE_PARAMETERS),
    "bowl": (bowl, BOWL_PARAMETERS),
    "camera": (camera, CAMERA_PARAMETERS),
    "can": (can, CAN_PARAMETERS),
    "laptop": (laptop, LAPTOP_PARAMETERS),
    "mug": (mug, MUG_PARAMETERS),
}


def build(category: str, params: Params) -> tuple[trimesh.Trimesh, np.ndarray]:
    """The mesh of ``params`` (NOCS orientation, not centred) and its handle face mask."""
    builder, names = BUILDERS[category]
    missing = sorted(set(names) - set(params))
    if missing:
        raise ValueError(f"{category} parameters missing: {missing}")
    out = builder(params)
    if isinstance(out, tuple):
        return out
    return out, np.zeros(len(out.faces), dtype=bool)
