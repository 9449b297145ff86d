"""Watertight solid primitives the mesh families are built from (metres, y up).

* :func:`revolve_y` spins a (radius, height) profile about the y axis;
* :func:`shape_cross_sections` then reshapes every horizontal circle of such a solid into a
  superellipse ``|x / a|^p + |z / b|^p = r^p`` (Lamé curve) whose relative semi-axes ``a``, ``b``,
  exponent ``p`` and x offset vary along the height: an oval shampoo bottle (``b < a``), a square
  spirits bottle (``p ~ 6``), a body with rounded vertical edges, a spout off the axis. The map is,
  at every height, a radial scaling by a positive factor per direction (plus a shift), so it is
  one-to-one and a watertight solid stays watertight;
* :func:`tube` sweeps an elliptical cross-section along a planar path (mug handles);
* :func:`union` is the boolean union of the manifold3d library.
"""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

#: Angular resolution of the surfaces of revolution.
SECTIONS = 32


def revolve_y(
    profile_rh: list[tuple[float, float]] | np.ndarray, sections: int = SECTIONS
) -> trimesh.Trimesh:
    """Solid of revolution of a (radius, height) profile about the y axis, outward normals.

    The profile must start and end on the axis (radius 0) and stay off it in between, so the
    result is closed: a ring of ``sections`` vertices per inner profile point, one pole at each end.
    Repeated consecutive points are dropped.
    """
    profile = np.asarray(profile_rh, dtype=np.float64)
    keep = np.r_[True, np.any(np.diff(profile, axis=0) != 0, axis=1)]
    profile = profile[keep]
    inner = profile[1:-1]
    if len(profile) < 3 or profile[0, 0] != 0 or profile[-1, 0] != 0 or np.any(inner[:, 0] <= 0):
        raise ValueError("a revolved profile must start and end on the axis and stay off it in between")
    angle = np.linspace(0.0, 2 * np.pi, sections, endpoint=False)
    rings = np.empty((len(inner), sections, 3))
    rings[..., 0] = inner[:, :1] * np.cos(angle)
    rings[..., 1] = inner[:, 1:2]
    rings[..., 2] = -inner[:, :1] * np.sin(angle)
    n = len(inner) * sections
    vertices = np.concatenate([rings.reshape(-1, 3), [[0.0, profile[0, 1], 0.0], [0.0, profile[-1, 1], 0.0]]])
    j = np.arange(sections)
    k = (j + 1) % sections
    first = np.stack([np.full(sections, n), k, j], axis=1)
    last = np.stack(
        [np.full(sections, n + 1), (len(inner) - 1) * sections + j, (len(inner) - 1) * sections + k], axis=1
    )
    i = np.arange(len(inner) - 1)[:, None] * sections
    a, b = (i + j).ravel(), (i + k).ravel()
    side = np.concatenate(
        [np.stack([a, b, a + sections], axis=1), np.stack([b, b + sections, a + sections], axis=1)]
    )
    faces = np.concatenate([first, side, last])
    # The surface's orientation follows the profile's turning sense in the (r, y) half-plane (the
    # polygon closed along the axis): its shoelace area is negative when the faces point inwards.
    r, y = profile[:, 0], profile[:, 1]
    if np.dot(r, np.roll(y, -1)) - np.dot(np.roll(r, -1), y) < 0:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(vertices, faces, process=False)


def shape_cross_sections(
    mesh: trimesh.Trimesh,
    heights_m: np.ndarray | list[float],
    semi_x: np.ndarray | list[float],
    semi_z: np.ndarray | list[float],
    exponent: np.ndarray | list[float] | float = 2.0,
    offset_x_m: np.ndarray | list[float] | float = 0.0,
) -> trimesh.Trimesh:
    """Reshape the horizontal circles of a y-axis solid of revolution into superellipses, in place.

    A vertex at radius ``r``, direction ``theta`` and height ``y`` moves to radius
    ``r * rho(theta)`` with ``rho = (|cos(theta) / a|^p + |sin(theta) / b|^p)^(-1/p)``, then by
    ``c`` along x; ``a``, ``b``, ``p`` and ``c`` are interpolated piecewise linearly in ``y`` from
    the values given at ``heights_m`` (held constant beyond them). ``a = b = 1, p = 2, c = 0`` is
    the identity.
    """
    heights = np.asarray(heights_m, dtype=np.float64)
    y = mesh.vertices[:, 1]

    def along(values: np.ndarray | list[float] | float) -> np.ndarray:
        return np.interp(y, heights, np.broadcast_to(np.asarray(values, dtype=np.float64), heights.shape))

    a, b, p, c = along(semi_x), along(semi_z), along(exponent), along(offset_x_m)
    if np.any(a <= 0) or np.any(b <= 0) or np.any(p <= 0):
        raise ValueError("superellipse semi-axes and exponent must be positive")
    x, z = mesh.vertices[:, 0], mesh.vertices[:, 2]
    radius, theta = np.hypot(x, z), np.arctan2(z, x)
    rho = (np.abs(np.cos(theta) / a) ** p + np.abs(np.sin(theta) / b) ** p) ** (-1.0 / p)
    vertices = mesh.vertices.copy()
    vertices[:, 0] = radius * rho * np.cos(theta) + c
    vertices[:, 2] = radius * rho * np.sin(theta)
    mesh.vertices = vertices
    return mesh


def rounded_prism(
    width_x_m: float, height_y_m: float, depth_z_m: float, exponent: float, sections: int = 48
) -> trimesh.Trimesh:
    """A box with rounded vertical edges (superellipse cross-section), base on y = 0."""
    prism = revolve_y([(0.0, 0.0), (1.0, 0.0), (1.0, height_y_m), (0.0, height_y_m)], sections)
    return shape_cross_sections(prism, [0.0], [width_x_m / 2], [depth_z_m / 2], exponent)


def tube(path: np.ndarray, half_width_m: float, half_depth_m: float, ring: int = 12) -> trimesh.Trimesh:
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


def union(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Boolean union of watertight, outward-facing parts (manifold3d, without trimesh's checks)."""
    solids = [
        manifold3d.Manifold(
            manifold3d.Mesh(
                vert_properties=np.asarray(part.vertices, dtype=np.float32),
                tri_verts=np.asarray(part.faces, dtype=np.uint32),
            )
        )
        for part in parts
    ]
    result = manifold3d.Manifold.batch_boolean(solids, manifold3d.OpType.Add).to_mesh()
    return trimesh.Trimesh(result.vert_properties[:, :3], result.tri_verts, process=False)


def box(extents: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def cylinder_z(radius: float, length: float, centre: tuple[float, float, float]) -> trimesh.Trimesh:
    """A cylinder with its axis along z."""
    transform = trimesh.transformations.translation_matrix(centre)
    return trimesh.creation.cylinder(radius=radius, height=length, sections=SECTIONS, transform=transform)


#: +90 degrees about x: takes +y to +z (a solid built along y, e.g. a revolved lens, to lie along z).
Y_TO_Z = trimesh.transformations.rotation_matrix(np.pi / 2, [1.0, 0.0, 0.0])
