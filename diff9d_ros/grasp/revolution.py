"""Convex parts of a solid of revolution, exact to a stated tolerance, for the physics check.

An approximate convex decomposition (CoACD, :mod:`diff9d_ros.grasp.physics`) tuned to be quick
fills concavities below its threshold: the 3 mm recess inside a can's rim disappears and a rim
pinch closes on a solid disc. A solid of revolution about the canonical y axis has an exact
decomposition from its profile instead:

1. The profile: the mesh's section by a half-plane through the axis, as radial intervals
   ``[a(y), b(y)]`` per horizontal slab between consecutive vertex heights of the section (in a
   slab every section edge is straight, so each interval is a trapezoid). The mesh is a solid of
   revolution when the sections by eight half-planes agree within the tolerance.
2. Trapezoids of consecutive slabs that share their boundary interval merge while the merged piece
   stays convex within the tolerance: ``a`` convex and ``b`` concave in ``y`` (the largest gap to
   the chain's convex, resp. concave, envelope at most ``tolerance_m``).
3. A piece that touches the axis (``a = 0``) revolves into one convex solid (``{rho <= b(y)}`` is
   convex for concave ``b``); an annular piece is cut into angular sectors, few enough that a
   sector's chord stays within the tolerance of the circle (``r (1 - cos(pi / n)) <= tolerance``).
   Each part is the convex hull of its vertices.
"""

from __future__ import annotations

import itertools

import numpy as np
import trimesh
from scipy.spatial import ConvexHull

#: Half-planes whose sections must agree for a mesh to count as a solid of revolution.
CHECK_HALF_PLANES = 8
#: Angle of the first half-plane (rad): off the vertex columns of meshes revolved from angle 0.
FIRST_HALF_PLANE_RAD = 0.1
#: Most sectors an annular piece is cut into.
MAX_SECTORS = 48

Interval = tuple[float, float, float, float]  # (a at y0, b at y0, a at y1, b at y1)


def _section(mesh: trimesh.Trimesh, angle_rad: float, centre_xz: np.ndarray) -> np.ndarray:
    """Segments (K, 2, 2) of (x, y) where the plane through the axis at ``angle_rad`` cuts the mesh;
    x is the signed distance from the axis along the half-plane's direction."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    vertices = mesh.vertices - [centre_xz[0], 0.0, centre_xz[1]]
    # Rotate by -angle about y so the half-plane direction becomes +x and its plane z = 0.
    rotated = np.stack(
        [c * vertices[:, 0] + s * vertices[:, 2], vertices[:, 1], -s * vertices[:, 0] + c * vertices[:, 2]],
        axis=1,
    )
    turned = trimesh.Trimesh(rotated, mesh.faces, process=False)
    lines = trimesh.intersections.mesh_plane(
        turned, plane_normal=[0.0, 0.0, 1.0], plane_origin=[0.0, 0.0, 0.0]
    )
    return np.asarray(lines, dtype=np.float64).reshape(-1, 2, 3)[:, :, :2]


def _intervals(segments: np.ndarray, y0: float, y1: float) -> list[Interval]:
    """Radial intervals (r >= 0) of the section inside the slab ``[y0, y1]``, as their end radii at
    the slab's bottom and top; the section's edges crossing the slab are straight there."""
    ya, yb = segments[:, 0, 1], segments[:, 1, 1]
    ymid = 0.5 * (y0 + y1)
    crossing = (np.minimum(ya, yb) < ymid) & (np.maximum(ya, yb) > ymid)
    seg = segments[crossing]
    if len(seg) == 0:
        return []
    dy = seg[:, 1, 1] - seg[:, 0, 1]
    slope = (seg[:, 1, 0] - seg[:, 0, 0]) / dy

    def x_at(y: float) -> np.ndarray:
        return seg[:, 0, 0] + slope * (y - seg[:, 0, 1])

    order = np.argsort(x_at(ymid))
    x0, xm, x1 = x_at(y0)[order], x_at(ymid)[order], x_at(y1)[order]
    out = []
    for i in range(0, len(order) - 1, 2):
        if xm[i + 1] <= 0.0:
            continue
        if xm[i] <= 0.0:  # the interval spans the axis: its half on this side starts at r = 0
            out.append((0.0, max(x0[i + 1], 0.0), 0.0, max(x1[i + 1], 0.0)))
        else:
            out.append((x0[i], x0[i + 1], x1[i], x1[i + 1]))
    return out


def _envelope_gap(y: np.ndarray, r: np.ndarray, upper: bool) -> float:
    """Largest distance between a chain r(y) and its concave (``upper``) or convex envelope."""
    if len(y) <= 2:
        return 0.0
    sign = 1.0 if upper else -1.0
    hull: list[int] = []
    for i in range(len(y)):  # monotone chain over increasing y
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            cross = (y[k] - y[j]) * (sign * r[i] - sign * r[j]) - (sign * r[k] - sign * r[j]) * (y[i] - y[j])
            if cross >= 0.0:
                hull.pop()
            else:
                break
        hull.append(i)
    envelope = np.interp(y, y[hull], r[hull])
    return float(np.max(sign * (envelope - r)))


def _pieces(slabs: list[tuple[float, float, list[Interval]]], tolerance_m: float) -> list[np.ndarray]:
    """Merge the slab trapezoids into convex profile pieces: arrays (K, 3) of (y, a, b) rows."""
    open_pieces: list[list[tuple[float, float, float]]] = []
    closed: list[list[tuple[float, float, float]]] = []
    for y0, y1, intervals in slabs:
        extended: set[int] = set()
        next_open = []
        for a0, b0, a1, b1 in intervals:
            for index, piece in enumerate(open_pieces):
                y_top, a_top, b_top = piece[-1]
                if (
                    index in extended
                    or abs(y_top - y0) > 1e-9
                    or max(abs(a_top - a0), abs(b_top - b0)) > 1e-6
                ):
                    continue
                rows = np.array([*piece, (y1, a1, b1)])
                on_axis = bool(np.all(rows[:, 1] == 0.0))
                if (on_axis or _envelope_gap(rows[:, 0], rows[:, 1], upper=False) <= tolerance_m) and (
                    _envelope_gap(rows[:, 0], rows[:, 2], upper=True) <= tolerance_m
                ):
                    piece.append((y1, a1, b1))
                    extended.add(index)
                    next_open.append(piece)
                    break
            else:
                next_open.append([(y0, a0, b0), (y1, a1, b1)])
        closed += [p for i, p in enumerate(open_pieces) if i not in extended]
        open_pieces = next_open
    return [np.array(p) for p in closed + open_pieces]


def _sectors(radius_m: float, tolerance_m: float) -> int:
    if radius_m <= tolerance_m:
        return 8
    return int(min(MAX_SECTORS, max(8, np.ceil(np.pi / np.arccos(1.0 - tolerance_m / radius_m)))))


def _hull(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Vertices, outward-oriented triangles and volume of the convex hull of ``points``."""
    hull = ConvexHull(points)
    vertices = points[hull.vertices]
    faces = np.searchsorted(hull.vertices, hull.simplices)
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    inward = np.einsum("ij,ij->i", normals, corners[:, 0] - vertices.mean(axis=0)) < 0.0
    faces[inward] = faces[inward][:, ::-1]
    return vertices, faces, float(hull.volume)


def profile_slabs(
    mesh: trimesh.Trimesh, tolerance_m: float
) -> tuple[np.ndarray, list[tuple[float, float, list[Interval]]]] | None:
    """The axis position (x, z) and the profile slabs of ``mesh`` if it is a solid of revolution about
    a vertical (y) axis through its bounding-box centre, else None."""
    centre_xz = mesh.bounds.mean(axis=0)[[0, 2]]
    sections = [
        _section(mesh, FIRST_HALF_PLANE_RAD + k * 2.0 * np.pi / CHECK_HALF_PLANES, centre_xz)
        for k in range(CHECK_HALF_PLANES)
    ]
    if any(len(s) == 0 for s in sections):
        return None
    heights = np.unique(np.round(sections[0][:, :, 1].reshape(-1), 7))
    slabs = []
    for y0, y1 in itertools.pairwise(heights):
        reference = _intervals(sections[0], y0, y1)
        radius = max((max(iv[1], iv[3]) for iv in reference), default=0.0)
        allowed = tolerance_m + radius * (1.0 - np.cos(np.pi / 16))  # the mesh's own facets
        for other in sections[1:]:
            check = _intervals(other, y0, y1)
            if len(check) != len(reference):
                return None
            mid_ref = np.array([[(a0 + a1) / 2, (b0 + b1) / 2] for a0, b0, a1, b1 in reference])
            mid_chk = np.array([[(a0 + a1) / 2, (b0 + b1) / 2] for a0, b0, a1, b1 in check])
            if len(mid_ref) and np.max(np.abs(mid_ref - mid_chk)) > allowed:
                return None
        slabs.append((float(y0), float(y1), reference))
    return centre_xz, slabs


def revolved_parts(
    mesh: trimesh.Trimesh, tolerance_m: float = 5e-4
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Convex parts (vertices, faces) of a solid of revolution about y, or None if ``mesh`` is not one
    (or the parts miss its volume by more than 3 %)."""
    found = profile_slabs(mesh, tolerance_m)
    if found is None:
        return None
    centre_xz, slabs = found
    offset = np.array([centre_xz[0], 0.0, centre_xz[1]])
    parts = []
    for piece in _pieces(slabs, tolerance_m):
        y, a, b = piece[:, 0], piece[:, 1], piece[:, 2]
        if np.max(b - a) <= 1e-6:
            continue
        n = _sectors(float(b.max()), tolerance_m)
        if np.all(a == 0.0):
            phi = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
            ring = b[:, None]
            points = np.stack(
                [(ring * np.cos(phi)).ravel(), np.repeat(y, n), (ring * np.sin(phi)).ravel()], axis=1
            )
            points = np.concatenate([points, np.stack([np.zeros_like(y), y, np.zeros_like(y)], axis=1)])
            parts.append(_hull(points + offset))
            continue
        edges = np.linspace(0.0, 2.0 * np.pi, n + 1)
        profile = np.concatenate([np.stack([a, y], axis=1), np.stack([b, y], axis=1)])
        for phi0, phi1 in itertools.pairwise(edges):
            points = np.concatenate(
                [
                    np.stack([profile[:, 0] * np.cos(p), profile[:, 1], profile[:, 0] * np.sin(p)], axis=1)
                    for p in (phi0, phi1)
                ]
            )
            parts.append(_hull(points + offset))
    volume = sum(v for _, _, v in parts)
    if not parts or abs(volume - mesh.volume) > 0.03 * abs(mesh.volume):
        return None
    return [(v, f) for v, f, _ in parts]
