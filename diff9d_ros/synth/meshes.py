"""Category meshes in the NOCS canonical frame: procedural instances by id, or your own mesh files.

Every :class:`CategoryMesh` is a watertight trimesh in the NOCS canonical frame
(:mod:`diff9d_ros.nocs`): the NOCS box is centred at the origin, y points up along the symmetry
axis, and coordinates are metric (not normalised), so ``size_m`` is the real extent. The mug's
handle points along +x and its box is centred on the body axis (x extent mirrored); the camera's
lens looks along +x; the laptop's front edge is on +x and its hinge runs along z at -x.

Procedural instances (:func:`instance_mesh`): the generator seeded by (category, instance id)
draws a sub-family (:mod:`diff9d_ros.synth.families`), then its parameters, so an id names the
same mesh on every machine. Ids are split per category into disjoint ranges (``SPLIT_IDS``):
train / val / test draw from the in-family sub-families only, ``ood`` only from the held-out
ones, so neither test instances nor held-out styles ever appear in training. Building an instance
takes about 8 ms and a dataset draws thousands (4,800 train instances), so built instances are
kept on disk (``meshes/<generator digest>`` under :func:`~diff9d_ros.atomic_files.cache_root`,
about 30 kB each) and read back in about 1 ms; the digest covers the source of every module that
builds them and the versions of numpy, trimesh and manifold3d, so a changed generator never reads
an old mesh.

Mesh files (:meth:`CategoryMesh.from_file`): any trimesh-readable mesh, given its up and front
axes and a scale, is turned into the same canonical frame, repaired if it has holes, and checked
for a plausible metric size.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import open3d as o3d
import trimesh

from diff9d_ros.atomic_files import cache_root, cached_npz
from diff9d_ros.nocs import CATEGORIES, SYMMETRY, category_name, nocs_box
from diff9d_ros.synth.builders import build
from diff9d_ros.synth.families import Family, draw_family, draw_params

__all__ = [
    "SPLIT_IDS",
    "CategoryMesh",
    "instance_family",
    "instance_mesh",
    "split_ids",
    "split_of",
]

#: Instance id ranges per split (the same ranges for every category). ``ood`` instances come
#: from the held-out sub-families only; train, val and test from the others.
SPLIT_IDS: dict[str, range] = {
    "train": range(0, 800),
    "val": range(800, 900),
    "test": range(900, 1000),
    "ood": range(1000, 1200),
}
#: Splits whose instances come from the in-family sub-families.
IN_FAMILY_SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Plausible largest extent (metres) per category, the metric-scale check of mesh files.
EXTENT_RANGE_M: dict[str, tuple[float, float]] = {
    "bottle": (0.05, 0.6),
    "bowl": (0.05, 0.5),
    "camera": (0.03, 0.4),
    "can": (0.03, 0.3),
    "laptop": (0.15, 0.6),
    "mug": (0.04, 0.3),
}
#: A face belongs to the mug handle when its centre lies this far outside the body's radius.
HANDLE_MARGIN_M = 5e-4
#: The body radius at a face's height is probed this far above and below it, metres.
RIM_PROBE_M = 2e-4
_AXES = {"x": 0, "y": 1, "z": 2}
#: Modules whose code decides a procedural instance's mesh (the mesh cache's digest reads them).
GENERATOR_MODULES: tuple[str, ...] = (
    "diff9d_ros.nocs",
    "diff9d_ros.synth.shapes",
    "diff9d_ros.synth.builders",
    "diff9d_ros.synth.families",
    "diff9d_ros.synth.meshes",
)


@dataclass(frozen=True)
class CategoryMesh:
    """One object instance in its canonical frame (treat ``mesh`` as read-only).

    ``family`` names the sub-family (or, for a mesh file, the manifest's family, default the file
    name); ``source`` is ``"procedural"`` or the file and axes it was loaded with.
    """

    category: str
    instance_id: int
    mesh: trimesh.Trimesh
    size_m: np.ndarray
    params: dict[str, float]
    #: Boolean per face: True on the mug handle (all False for other categories).
    handle_faces: np.ndarray = field(repr=False)
    family: str = ""
    source: str = "procedural"

    @property
    def symmetry(self) -> str:
        return SYMMETRY[self.category]

    @property
    def key(self) -> tuple[str, str, int]:
        """Identifies the mesh within a process (caches of ray-casting scenes use it)."""
        return (self.source, self.category, self.instance_id)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        category: str,
        up_axis: str = "+y",
        front_axis: str = "+x",
        scale: float = 1.0,
        *,
        instance_id: int = 0,
        family: str | None = None,
    ) -> CategoryMesh:
        """A mesh file turned into the NOCS canonical frame (cached per process).

        ``up_axis`` / ``front_axis`` ("+z", "-x", ...) name the file's axes that become +y (up: the
        symmetry axis of bottles, bowls and cans) and +x (front: the camera's lens, the laptop's
        front edge, the mug's handle; any horizontal axis for the symmetric categories).
        ``scale`` multiplies the file's units into metres (0.001 for millimetres). The mesh is
        merged and repaired with trimesh when it is not watertight; the NOCS box is centred (a
        mug's box on its body axis, found from the side opposite the handle) and the mug's handle
        faces are those outside the body's radius (:func:`mug_handle_faces`). Raises ValueError
        for a missing or empty file, bad axes, a mesh that stays open after repair, or a size
        implausible for the category.
        """
        return _load_category_mesh(
            str(path), category_name(category), up_axis, front_axis, float(scale), int(instance_id), family
        )

    @classmethod
    def from_trimesh(
        cls, mesh: trimesh.Trimesh, category: str, *, name: str, instance_id: int = 0, family: str = ""
    ) -> CategoryMesh:
        """A metric mesh already oriented as the canonical frame (y up, front on +x), e.g. built in
        code, put into the canonical frame with the checks of :meth:`from_file`; ``name`` names it."""
        category = category_name(category)
        mesh = _repaired(trimesh.Trimesh(mesh.vertices, mesh.faces, process=True), name)
        _check_scale(float(mesh.extents.max()), category, name, 1.0)
        return _canonical(mesh, category, instance_id, family or name, name)

    @property
    def name(self) -> str:
        """``category_id`` for a procedural instance, else the mesh file's stem (or given name)."""
        if self.source == "procedural":
            return f"{self.category}_{self.instance_id}"
        return Path(self.source.split("|")[0]).stem


def split_of(instance_id: int) -> str:
    """The split ("train", "val", "test" or "ood") an instance id belongs to."""
    for name, ids in SPLIT_IDS.items():
        if instance_id in ids:
            return name
    raise ValueError(f"instance id {instance_id} is outside every split range {SPLIT_IDS}")


def split_ids(split: str) -> range:
    """The instance ids of ``split``."""
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
    return SPLIT_IDS[split]


def _instance_draws(category: str, instance_id: int) -> tuple[Family, np.random.Generator]:
    """The sub-family of an instance and the generator that then draws its parameters."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    held_out = split_of(instance_id) not in IN_FAMILY_SPLITS
    rng = np.random.default_rng([CATEGORIES.index(category), instance_id])
    return draw_family(category, held_out, rng), rng


def instance_family(category: str, instance_id: int) -> str:
    """The sub-family name of an instance, without building its mesh."""
    return _instance_draws(category, instance_id)[0].name


@functools.cache
def generator_digest() -> str:
    """Digest of the procedural mesh generator: the source of :data:`GENERATOR_MODULES` and the
    versions of the libraries that build and measure the meshes."""
    digest = hashlib.sha256()
    for module in GENERATOR_MODULES:
        digest.update(Path(importlib.import_module(module).__file__).read_bytes())
    for package in ("numpy", "trimesh", "manifold3d"):
        digest.update(f"{package}=={version(package)};".encode())
    return digest.hexdigest()[:16]


def mesh_cache_dir() -> Path:
    """The folder of the built procedural instances of this generator (see the module docstring)."""
    return cache_root() / "meshes" / generator_digest()


def _built_arrays(category: str, instance_id: int, family: Family, params: dict[str, float]) -> dict:
    mesh, handle_faces = build(category, params)
    centre, size_m = nocs_box(mesh.vertices, category)
    mesh.apply_translation(-centre)
    if not mesh.is_watertight:
        raise RuntimeError(f"{category} instance {instance_id} ({family.name}) is not watertight")
    return {
        "vertices_m": np.asarray(mesh.vertices, dtype=np.float64),
        "faces": np.asarray(mesh.faces, dtype=np.int32),
        "handle_faces": np.asarray(handle_faces, dtype=bool),
        "size_m": np.asarray(size_m, dtype=np.float64),
    }


@functools.lru_cache(maxsize=1024)  # ~170 MB of meshes with their trimesh caches
def instance_mesh(category: str, instance_id: int) -> CategoryMesh:
    """The mesh of instance ``instance_id`` of ``category`` (deterministic; cached per process and
    on disk, see the module docstring). Built or read, the mesh is made from the same arrays."""
    family, rng = _instance_draws(category, instance_id)
    params = draw_params(family, rng)
    arrays = cached_npz(
        mesh_cache_dir() / f"{category}_{instance_id}.npz",
        lambda: _built_arrays(category, instance_id, family, params),
    )
    mesh = trimesh.Trimesh(arrays["vertices_m"], arrays["faces"].astype(np.int64), process=False)
    return CategoryMesh(
        category, instance_id, mesh, arrays["size_m"], params, arrays["handle_faces"], family.name
    )


def _axis_vector(name: str) -> np.ndarray:
    text = name.strip().lower()
    sign = -1.0 if text.startswith("-") else 1.0
    letter = text.lstrip("+-")
    if letter not in _AXES:
        raise ValueError(f"axis {name!r} must be one of x, y, z with an optional sign (e.g. '+z', '-x')")
    vector = np.zeros(3)
    vector[_AXES[letter]] = sign
    return vector


def axes_rotation(up_axis: str, front_axis: str) -> np.ndarray:
    """The proper rotation (3x3) taking the file's ``up_axis`` to +y and ``front_axis`` to +x."""
    up, front = _axis_vector(up_axis), _axis_vector(front_axis)
    if abs(up @ front) > 0:
        raise ValueError(f"up axis {up_axis!r} and front axis {front_axis!r} must be perpendicular")
    return np.stack([front, up, np.cross(front, up)])


def _repaired(mesh: trimesh.Trimesh, path: str) -> trimesh.Trimesh:
    mesh.merge_vertices()
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
    if not mesh.is_watertight:
        open_edges = len(trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1))
        raise ValueError(
            f"{path}: the mesh is not watertight ({open_edges} open edges) and trimesh could not repair it; "
            "close it in a mesh editor (e.g. Blender's 3D-Print toolbox) first"
        )
    trimesh.repair.fix_normals(mesh)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _check_scale(extent_m: float, category: str, path: str, scale: float) -> None:
    low, high = EXTENT_RANGE_M[category]
    if low <= extent_m <= high:
        return
    hint = ""
    for factor, unit in ((0.001, "millimetres"), (0.01, "centimetres"), (0.0254, "inches")):
        if low <= extent_m * factor <= high:
            hint = f"; if the file is in {unit}, pass scale={scale * factor:g}"
            break
    raise ValueError(
        f"{path}: a {category} {extent_m:.4g} m across (scale {scale:g}) is implausible; "
        f"expected {low}-{high} m{hint}"
    )


def mug_body_axis(vertices_m: np.ndarray) -> np.ndarray:
    """(x, z) of a mug's body axis, its handle on +x: the body's z extent gives the axis's z and
    the body's radius; the back of the body (min x) lies one radius behind the axis."""
    low, high = vertices_m.min(axis=0), vertices_m.max(axis=0)
    radius = (high[2] - low[2]) / 2.0
    return np.array([low[0] + radius, (low[2] + high[2]) / 2.0])


def mug_handle_faces(mesh: trimesh.Trimesh, margin_m: float = HANDLE_MARGIN_M) -> np.ndarray:
    """Per face: True where the face centre lies on the +x side, farther from the body axis
    (x = z = 0) than the body's outer surface. The body is round and has no handle at -x, so its
    outer radius in the direction of a centre is measured in the mirror direction (x -> -x): rays
    from outside towards the axis, just above and below the centre's height, first meet the body
    there (the larger radius counts)."""
    centres = mesh.triangles_center
    radial = np.hypot(centres[:, 0], centres[:, 2])
    candidates = np.flatnonzero((centres[:, 0] > 0.0) & (radial > 1e-9))
    unit_x, unit_z = centres[candidates, 0] / radial[candidates], centres[candidates, 2] / radial[candidates]
    far = 2.0 * float(np.abs(mesh.vertices).max()) + 0.01
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32))
    )
    body_radius = np.zeros(len(candidates))
    for dy in (-RIM_PROBE_M, RIM_PROBE_M):  # either side of the height: flat rims and bases are hit
        rays = np.zeros((len(candidates), 6), dtype=np.float32)
        rays[:, 0], rays[:, 1], rays[:, 2] = -unit_x * far, centres[candidates, 1] + dy, unit_z * far
        rays[:, 3], rays[:, 5] = unit_x, -unit_z
        t_hit = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)["t_hit"].numpy()
        body_radius = np.maximum(body_radius, np.where(np.isfinite(t_hit), far - t_hit, 0.0))
    handle = np.zeros(len(centres), dtype=bool)
    handle[candidates] = radial[candidates] > body_radius + margin_m
    return handle


@functools.lru_cache(maxsize=256)
def _load_category_mesh(
    path: str,
    category: str,
    up_axis: str,
    front_axis: str,
    scale: float,
    instance_id: int,
    family: str | None,
) -> CategoryMesh:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"mesh file {path} does not exist")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rotation = axes_rotation(up_axis, front_axis)
    try:
        loaded = trimesh.load(file, force="mesh", process=False)
    except Exception as error:  # trimesh raises many types for unreadable files
        raise ValueError(f"{path}: not a readable mesh ({error})") from error
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"{path}: the file holds no triangles")
    mesh = _repaired(trimesh.Trimesh(loaded.vertices, loaded.faces, process=True), path)
    transform = np.eye(4)
    transform[:3, :3] = rotation * scale
    mesh.apply_transform(transform)
    _check_scale(float(mesh.extents.max()), category, path, scale)
    source = f"{file.resolve()}|{up_axis}|{front_axis}|{scale:g}"
    return _canonical(mesh, category, instance_id, family or file.stem, source)


def _canonical(
    mesh: trimesh.Trimesh, category: str, instance_id: int, family: str, source: str
) -> CategoryMesh:
    """A watertight metric mesh with canonical axes, its NOCS box centred (a mug's on its body axis)."""
    handle_faces = np.zeros(len(mesh.faces), dtype=bool)
    if category == "mug":
        axis_x, axis_z = mug_body_axis(mesh.vertices)
        mesh.apply_translation((-axis_x, 0.0, -axis_z))
        handle_faces = mug_handle_faces(mesh)
    centre, size_m = nocs_box(mesh.vertices, category)
    mesh.apply_translation(-centre)
    return CategoryMesh(category, instance_id, mesh, size_m, {}, handle_faces, family, source)
