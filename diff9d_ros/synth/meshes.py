"""Procedural mesh families of the six NOCS categories, indexed by integer instance id.

Every instance is a watertight trimesh in the NOCS canonical frame (:mod:`diff9d_ros.nocs`):
the NOCS box is centred at the origin, y points up along the symmetry axis, and coordinates are
metric (not normalised), so ``size_m`` is the real extent. The mug's handle points along +x and
its box is centred on the body axis (x extent mirrored); the camera's lens looks along +x; the
laptop's front edge is on +x and its hinge runs along z at -x.

An instance's shape parameters are drawn from a generator seeded by (category, instance id), so
an id names the same mesh on every machine. Ids are split per category into disjoint train / val /
test ranges (``SPLIT_IDS``) so that test instances never appear in training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import trimesh

from diff9d_ros.nocs import CATEGORIES, FRONT_ON_X, SYMMETRY, nocs_box

#: Instance id ranges per split (the same ranges for every category).
SPLIT_IDS: dict[str, range] = {"train": range(0, 800), "val": range(800, 900), "test": range(900, 1000)}

#: Angular resolution of the surfaces of revolution (bottle, bowl, can, mug body, lens).
SECTIONS = 32


@dataclass(frozen=True)
class CategoryMesh:
    """One object instance in its canonical frame (treat ``mesh`` as read-only)."""

    category: str
    instance_id: int
    mesh: trimesh.Trimesh
    size_m: np.ndarray
    params: dict[str, float]
    #: Boolean per face: True on the mug handle (all False for other categories).
    handle_faces: np.ndarray = field(repr=False)

    @property
    def symmetry(self) -> str:
        return SYMMETRY[self.category]


def split_of(instance_id: int) -> str:
    """The split ("train", "val" or "test") an instance id belongs to."""
    for name, ids in SPLIT_IDS.items():
        if instance_id in ids:
            return name
    raise ValueError(f"instance id {instance_id} is outside every split range {SPLIT_IDS}")


def split_ids(split: str) -> range:
    """The instance ids of ``split``."""
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
    return SPLIT_IDS[split]


def _revolve_y(profile_rh: list[tuple[float, float]] | np.ndarray) -> trimesh.Trimesh:
    """Solid of revolution of a (radius, height) profile about the y axis.

    The profile must start and end on the axis (radius 0) so the result is closed.
    """
    profile = np.asarray(profile_rh, dtype=np.float64)
    mesh = trimesh.creation.revolve(profile, sections=SECTIONS)
    # revolve spins about z; turn z into y (rotation by -90 degrees about x).
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _tube(path: np.ndarray, half_width_m: float, half_depth_m: float, ring: int = 12) -> trimesh.Trimesh:
    """Closed tube of elliptical cross-section swept along a planar path (N, 3) in the z = 0 plane."""
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    binormal = np.array([0.0, 0.0, 1.0])
    normal = np.cross(binormal, tangent)
    phi = np.linspace(0.0, 2 * np.pi, ring, endpoint=False)
    rings = (
        path[:, None, :]
        + half_width_m * np.cos(phi)[None, :, None] * normal[:, None, :]
        + half_depth_m * np.sin(phi)[None, :, None] * binormal
    )
    n = len(path)
    vertices = np.concatenate([rings.reshape(-1, 3), path[[0, -1]]])
    faces = []
    for i in range(n - 1):
        for j in range(ring):
            a, b = i * ring + j, i * ring + (j + 1) % ring
            faces += [[a, b, a + ring], [b, b + ring, a + ring]]
    start, end = n * ring, n * ring + 1
    for j in range(ring):
        faces.append([start, (j + 1) % ring, j])
        faces.append([end, (n - 1) * ring + j, (n - 1) * ring + (j + 1) % ring])
    mesh = trimesh.Trimesh(vertices, np.array(faces), process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _union(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    return trimesh.boolean.union(parts, engine="manifold")


def _box(extents: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def _cylinder_z(radius: float, length: float, centre: tuple[float, float, float]) -> trimesh.Trimesh:
    transform = trimesh.transformations.translation_matrix(centre)
    return trimesh.creation.cylinder(radius=radius, height=length, sections=SECTIONS, transform=transform)


def _bottle(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float]]:
    """Body, shoulder (ogive of varying fullness), neck and cap."""
    p = {
        "height": rng.uniform(0.16, 0.32),
        "body_radius": rng.uniform(0.028, 0.045),
        "shoulder_start": rng.uniform(0.45, 0.7),
        "shoulder_length": rng.uniform(0.1, 0.22),
        "shoulder_fullness": rng.uniform(0.5, 2.0),
        "neck_ratio": rng.uniform(0.32, 0.5),
        "waist": rng.uniform(0.0, 0.08),
        "cap_height": rng.uniform(0.012, 0.025),
        "cap_flare": rng.uniform(1.0, 1.25),
    }
    h, r = p["height"], p["body_radius"]
    r_neck = max(0.011, r * p["neck_ratio"])
    y_shoulder = h * p["shoulder_start"]
    y_neck = min(y_shoulder + h * p["shoulder_length"], h - p["cap_height"] - 0.01)
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
    return _revolve_y(profile), p


def _bowl(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float]]:
    """Thin shell with a foot ring; depth, flare (wall curvature) and wall thickness vary."""
    p = {
        "rim_radius": rng.uniform(0.06, 0.11),
        "depth": rng.uniform(0.045, 0.09),
        "base_ratio": rng.uniform(0.3, 0.5),
        "flare": rng.uniform(0.35, 0.9),
        "wall": rng.uniform(0.003, 0.006),
        "foot": rng.uniform(0.004, 0.01),
    }
    r_rim, depth, wall, foot = p["rim_radius"], p["depth"], p["wall"], p["foot"]
    r_base = r_rim * p["base_ratio"]
    s = np.linspace(0.0, 1.0, 12)
    outer_r = r_base + (r_rim - r_base) * s ** p["flare"]
    outer_y = foot + (depth - foot) * s
    inner = [(max(rr - wall, 0.0), yy + wall) for rr, yy in zip(outer_r[:-1], outer_y[:-1], strict=True)]
    profile = [(0.0, 0.0), (r_base, 0.0), *zip(outer_r, outer_y, strict=True)]
    profile += [(r_rim - wall, depth), *inner[::-1], (0.0, foot + wall)]
    return _revolve_y(profile), p


def _can(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float]]:
    """Cylinder with bevelled bottom, necked-in top and rim lip."""
    p = {
        "height": rng.uniform(0.09, 0.17),
        "radius": rng.uniform(0.026, 0.042),
        "bevel": rng.uniform(0.003, 0.008),
        "neck_in": rng.uniform(0.002, 0.006),
        "neck_height": rng.uniform(0.006, 0.014),
    }
    h, r, bevel = p["height"], p["radius"], p["bevel"]
    r_top = r - p["neck_in"]
    profile = [
        (0.0, 0.0),
        (r - bevel, 0.0),
        (r, bevel),
        (r, h - p["neck_height"]),
        (r_top, h - 0.002),
        (r_top, h),
        (r_top - 0.002, h),
        (r_top - 0.002, h - 0.003),
        (0.0, h - 0.003),
    ]
    return _revolve_y(profile), p


def _mug(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float], np.ndarray]:
    """Tapered cup with a C- or D-shaped handle along +x; returns the handle face mask too."""
    p = {
        "height": rng.uniform(0.08, 0.12),
        "radius": rng.uniform(0.035, 0.048),
        "taper": rng.uniform(1.0, 1.12),
        "wall": rng.uniform(0.003, 0.005),
        "bottom": rng.uniform(0.005, 0.01),
        "handle_span": rng.uniform(0.5, 0.78),
        "handle_top": rng.uniform(0.78, 0.9),
        "handle_reach": rng.uniform(0.022, 0.04),
        "handle_squareness": rng.uniform(2.0, 5.0),
        "handle_half_width": rng.uniform(0.004, 0.007),
        "handle_half_depth": rng.uniform(0.004, 0.008),
    }
    h, r_b, wall = p["height"], p["radius"], p["wall"]
    r_t = r_b * p["taper"]
    profile = [(0.0, 0.0), (r_b - 0.003, 0.0), (r_b, 0.003), (r_t, h), (r_t - wall, h)]
    profile += [(r_b - wall, p["bottom"]), (0.0, p["bottom"])]
    body = _revolve_y(profile)

    def outer_radius(y: np.ndarray) -> np.ndarray:
        return np.interp(y, [0.003, h], [r_b, r_t])

    y_top = h * p["handle_top"]
    span = h * p["handle_span"]
    y_mid = y_top - span / 2
    t = np.linspace(0.0, np.pi, 24)
    y = y_mid + (span / 2) * np.cos(t)
    bulge = np.sin(t) ** (2.0 / p["handle_squareness"])
    x = outer_radius(y) - 0.6 * wall + (0.6 * wall + p["handle_reach"]) * bulge
    path = np.stack([x, y, np.zeros_like(x)], axis=1)
    handle = _tube(path, p["handle_half_width"], p["handle_half_depth"])
    mesh = _union([body, handle])
    centroids = mesh.triangles_center
    radial = np.hypot(centroids[:, 0], centroids[:, 2])
    handle_faces = (centroids[:, 0] > 0) & (radial > outer_radius(centroids[:, 1]) + 5e-4)
    return mesh, p, handle_faces


def _camera(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float]]:
    """Body box, one- or two-stage lens along +z, hand grip, top hump and shutter button."""
    p = {
        "width": rng.uniform(0.10, 0.14),
        "height": rng.uniform(0.06, 0.09),
        "depth": rng.uniform(0.03, 0.05),
        "lens_radius": rng.uniform(0.016, 0.03),
        "lens_length": rng.uniform(0.02, 0.06),
        "lens_offset": rng.uniform(-0.01, 0.015),
        "two_stage": float(rng.random() < 0.5),
        "grip_width": rng.uniform(0.02, 0.03),
        "grip_depth": rng.uniform(0.01, 0.025),
        "hump_height": rng.uniform(0.0, 0.02),
    }
    w, h, d = p["width"], p["height"], p["depth"]
    r_lens, l_lens = p["lens_radius"], p["lens_length"]
    parts = [_box((w, h, d), (0.0, 0.0, 0.0))]
    x_lens = p["lens_offset"]
    if p["two_stage"]:
        parts.append(_cylinder_z(r_lens, l_lens * 0.5 + 0.002, (x_lens, 0.0, d / 2 + l_lens * 0.25 - 0.001)))
        parts.append(
            _cylinder_z(r_lens * 0.8, l_lens * 0.5 + 0.002, (x_lens, 0.0, d / 2 + l_lens * 0.75 - 0.001))
        )
    else:
        parts.append(_cylinder_z(r_lens, l_lens + 0.002, (x_lens, 0.0, d / 2 + l_lens / 2 - 0.001)))
    g_w, g_d = p["grip_width"], p["grip_depth"]
    parts.append(_box((g_w, h * 0.92, g_d + 0.002), (-w / 2 + g_w / 2, -h * 0.04, d / 2 + g_d / 2 - 0.001)))
    if p["hump_height"] > 0.004:
        hump = p["hump_height"]
        parts.append(_box((w * 0.3, hump + 0.002, d * 0.7), (x_lens, h / 2 + hump / 2 - 0.001, 0.0)))
    button = trimesh.creation.cylinder(radius=0.005, height=0.006, sections=16)
    button.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    button.apply_translation((-w / 2 + g_w / 2, h / 2 + 0.002, d * 0.1))
    parts.append(button)
    return _union(parts), p


def _laptop(rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float]]:
    """Base slab and lid slab hinged along x at the back edge, opened by a random angle."""
    p = {
        "width": rng.uniform(0.28, 0.38),
        "depth": rng.uniform(0.19, 0.26),
        "base_thickness": rng.uniform(0.012, 0.022),
        "lid_thickness": rng.uniform(0.004, 0.009),
        "lid_angle_deg": rng.uniform(70.0, 130.0),
    }
    w, d, t_b, t_l = p["width"], p["depth"], p["base_thickness"], p["lid_thickness"]
    base = _box((w, t_b, d), (0.0, t_b / 2, 0.0))
    lid = _box((w, t_l, d), (0.0, t_b + t_l / 2, 0.0))
    hinge = np.array([0.0, t_b, -d / 2])
    opening = trimesh.transformations.rotation_matrix(-np.radians(p["lid_angle_deg"]), [1, 0, 0], hinge)
    lid.apply_transform(opening)
    return _union([base, lid]), p


#: The camera and laptop builders put the front on +z; this turn (+90 degrees about y) takes +z to
#: the NOCS front, +x.
FRONT_Z_TO_X = trimesh.transformations.rotation_matrix(np.pi / 2, [0.0, 1.0, 0.0])


def _build(category: str, rng: np.random.Generator) -> tuple[trimesh.Trimesh, dict[str, float], np.ndarray]:
    if category == "mug":
        return _mug(rng)
    builders = {"bottle": _bottle, "bowl": _bowl, "can": _can, "camera": _camera, "laptop": _laptop}
    mesh, params = builders[category](rng)
    if category in FRONT_ON_X:
        mesh.apply_transform(FRONT_Z_TO_X)
    return mesh, params, np.zeros(len(mesh.faces), dtype=bool)


@functools.lru_cache(maxsize=512)
def instance_mesh(category: str, instance_id: int) -> CategoryMesh:
    """The mesh of instance ``instance_id`` of ``category`` (deterministic, cached per process)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    split_of(instance_id)
    rng = np.random.default_rng([CATEGORIES.index(category), instance_id])
    mesh, params, handle_faces = _build(category, rng)
    centre, size_m = nocs_box(mesh.vertices, category)
    mesh.apply_translation(-centre)
    if not mesh.is_watertight:
        raise RuntimeError(f"{category} instance {instance_id} is not watertight")
    return CategoryMesh(
        category, instance_id, mesh, size_m, {k: float(v) for k, v in params.items()}, handle_faces
    )
