"""Tabletop scene composer: table, floor, category objects, distractors, lights and a camera.

World frame (ROS REP 103): z up, the table top is the plane z = 0 and the table is centred at the
origin. Category objects come from a :class:`~diff9d_ros.synth.library.MeshLibrary` (procedural
instances of a split, or your own meshes) and stand in stable poses (upright with a random yaw;
bottles and cans taller than wide also lying on their side, oval ones on their wide face) with
non-overlapping footprints. The camera looks at them from ``camera_distance_m`` (never nearer
than the sensor's minimum range plus a margin) and ``camera_elevation_deg``; nearer cameras see a
tighter group (the placement square shrinks with the distance). Every random choice comes from
the generator passed in, so a scene is a pure function of its seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import SYMMETRY
from diff9d_ros.synth.distractors import draw_distractor_dims
from diff9d_ros.synth.library import MeshLibrary
from diff9d_ros.synth.materials import Appearance, appearance_for
from diff9d_ros.synth.meshes import CategoryMesh, instance_mesh
from diff9d_ros.synth.noise import RandomizationConfig, SensorModel

#: Shapes that are not category objects: the table, the floor and distractors.
PRIMITIVE_KINDS: tuple[str, ...] = ("box", "cylinder", "sphere")
PRIMITIVE_SECTIONS = 32
TABLE_THICKNESS_M = 0.04
TABLE_HEIGHT_M = 0.75
FLOOR_SIZE_M = 6.0
#: Names of the supporting surfaces (everything else stands on the table).
SUPPORT_NAMES: tuple[str, ...] = ("table", "floor")
#: The camera stays this far beyond its sensor's minimum range, metres.
MIN_RANGE_MARGIN_M = 0.1
#: Objects are placed within +-(this x camera distance) of the table centre (at most the config's
#: ``placement_half_extent_m``, at least PLACEMENT_MIN_HALF_M): a near camera sees a tight group.
PLACEMENT_PER_DISTANCE = 0.3
PLACEMENT_MIN_HALF_M = 0.08
#: Random positions tried per object (the first free one is taken).
PLACEMENT_TRIES = 100


@dataclass
class SceneObject:
    """Anything in the scene. ``kind`` is a NOCS category or a primitive kind.

    ``pose`` (4x4) maps the object's local frame (the NOCS canonical frame for categories, the
    shape's centre for primitives) into the world. ``mask_id`` is the instance-mask value, stable
    for the object's lifetime (0 = background: table, floor, distractors). ``dims_m`` holds the
    primitive's extents (box: x, y, z; cylinder: radius, radius, length along z; sphere: radius x3).
    ``category_mesh`` is a category object's own mesh: size, rendering, visibility and handle
    ground truth all come from it. Left empty it is resolved from ``mesh_file`` (a mesh already
    in the canonical frame, e.g. loaded back from an SDF world) or else from the procedural
    instance ``instance_id``.
    """

    name: str
    kind: str
    pose: np.ndarray
    appearance: Appearance
    mask_id: int = 0
    instance_id: int = -1
    dims_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    mesh_file: str = ""
    category_mesh: CategoryMesh | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.pose = np.asarray(self.pose, dtype=np.float64).reshape(4, 4)
        self.dims_m = np.asarray(self.dims_m, dtype=np.float64).reshape(3)
        if self.kind not in SYMMETRY and self.kind not in PRIMITIVE_KINDS:
            raise ValueError(f"unknown object kind {self.kind!r}")
        if self.is_category and self.category_mesh is None:
            if self.mesh_file:
                self.category_mesh = CategoryMesh.from_file(
                    self.mesh_file, self.kind, instance_id=self.instance_id
                )
            else:
                self.category_mesh = instance_mesh(self.kind, self.instance_id)
        if self.category_mesh is not None and self.category_mesh.category != self.kind:
            raise ValueError(
                f"object {self.name} is a {self.kind} but carries a {self.category_mesh.category} mesh"
            )

    @property
    def is_category(self) -> bool:
        return self.kind in SYMMETRY

    @property
    def family(self) -> str:
        """The category mesh's sub-family ("" for primitives)."""
        return self.category_mesh.family if self.category_mesh is not None else ""

    def mesh(self) -> trimesh.Trimesh:
        """The object's mesh in its local frame (cached; do not modify)."""
        if self.category_mesh is not None:
            return self.category_mesh.mesh
        if self.mesh_file:
            return load_mesh_file(self.mesh_file)
        return primitive_mesh(self.kind, tuple(float(v) for v in self.dims_m))

    def size_m(self) -> np.ndarray:
        """Extents of the local-frame box (the NOCS box for category objects)."""
        if self.category_mesh is not None:
            return self.category_mesh.size_m
        return self.mesh().extents


@dataclass
class Light:
    """A directional light; ``direction`` points from the scene towards the light (world frame)."""

    direction: np.ndarray
    intensity: float

    def __post_init__(self) -> None:
        direction = np.asarray(self.direction, dtype=np.float64).reshape(3)
        norm = np.linalg.norm(direction)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(f"light direction must be a non-zero vector, got {direction}")
        self.direction = direction / norm


@dataclass
class Scene:
    """A renderable scene: objects, lights and a camera (``camera_pose`` = world from optical frame)."""

    objects: list[SceneObject]
    lights: list[Light]
    ambient: float
    camera_pose: np.ndarray
    intrinsics: Intrinsics
    background_rgb: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.5, 0.5]))

    def category_objects(self) -> list[SceneObject]:
        return [obj for obj in self.objects if obj.mask_id > 0]

    def with_camera(self, camera_pose: np.ndarray) -> Scene:
        return replace(self, camera_pose=np.asarray(camera_pose, dtype=np.float64))


@functools.lru_cache(maxsize=128)
def load_mesh_file(path: str) -> trimesh.Trimesh:
    """A mesh file as one trimesh (cached per process)."""
    return trimesh.load(path, force="mesh", process=False)


@functools.cache
def _unit_sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=3, radius=1.0)


@functools.lru_cache(maxsize=256)
def primitive_mesh(kind: str, dims_m: tuple[float, float, float]) -> trimesh.Trimesh:
    """Deterministic tessellation of a primitive centred at the origin (cylinder axis along z)."""
    if kind == "box":
        return trimesh.creation.box(extents=dims_m)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=dims_m[0], height=dims_m[2], sections=PRIMITIVE_SECTIONS)
    if kind == "sphere":
        return _unit_sphere().copy().apply_scale(dims_m[0])
    raise ValueError(f"unknown primitive kind {kind!r}; expected one of {PRIMITIVE_KINDS}")


def look_at(eye_m: np.ndarray, target_m: np.ndarray, roll_rad: float = 0.0) -> np.ndarray:
    """World-from-optical pose (4x4) of a camera at ``eye_m`` looking at ``target_m``, world z up."""
    eye_m, target_m = np.asarray(eye_m, dtype=np.float64), np.asarray(target_m, dtype=np.float64)
    forward = target_m - eye_m
    if np.linalg.norm(forward) == 0:
        raise ValueError("look_at: eye and target coincide")
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, [0.0, 0.0, 1.0])
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is vertical; the image x axis is undefined")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rotation = np.stack([x, y, z], axis=1) @ Rotation.from_rotvec([0.0, 0.0, roll_rad]).as_matrix()
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = eye_m
    return pose


def _resting_pose(mesh: trimesh.Trimesh, rotation: np.ndarray, xy_m: np.ndarray) -> np.ndarray:
    """Pose with ``rotation`` whose lowest vertex touches the table plane z = 0 at ``xy_m``."""
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:2, 3] = xy_m
    pose[2, 3] = -np.min(mesh.vertices @ rotation[2])
    return pose


def footprint_radius_m(mesh: trimesh.Trimesh, rotation: np.ndarray) -> float:
    """Radius of the smallest origin-centred disc containing the mesh's top view."""
    xy = mesh.vertices @ rotation[:2].T
    return float(np.max(np.linalg.norm(xy, axis=1)))


def stable_rotation(
    kind: str, rng: np.random.Generator, lying_probability: float, size_m: np.ndarray | None = None
) -> np.ndarray:
    """A stable resting rotation: canonical y up with a random yaw, or (bottle, can) on the side.

    With the object's ``size_m`` only objects taller than wide lie down (a squat tin stays on its
    base), and an oval cross-section (x and z extents differing by over 10 %) rests on its wide
    face (canonical z vertical); without it any spin about the axis.
    """
    yaw = Rotation.from_rotvec([0.0, 0.0, rng.uniform(0, 2 * np.pi)])
    upright = Rotation.from_rotvec([np.pi / 2, 0.0, 0.0])  # canonical y -> world z
    tall = size_m is None or size_m[1] > max(size_m[0], size_m[2])
    if kind in ("bottle", "can") and tall and rng.random() < lying_probability:
        spin_rad = rng.uniform(0, 2 * np.pi)
        if size_m is not None and abs(size_m[0] - size_m[2]) > 0.1 * max(size_m[0], size_m[2]):
            spin_rad = np.pi * np.round(spin_rad / np.pi)  # canonical z (the short side) vertical
        spin = Rotation.from_rotvec([spin_rad, 0.0, 0.0])  # about the world x axis
        y_to_x = Rotation.from_rotvec([0.0, 0.0, -np.pi / 2])
        return (yaw * spin * y_to_x).as_matrix()
    if kind == "cylinder":
        return yaw.as_matrix()  # primitive cylinders stand on their flat face (axis z)
    return (yaw * upright).as_matrix() if kind in SYMMETRY else yaw.as_matrix()


def _table_objects(rng: np.random.Generator, config: RandomizationConfig) -> list[SceneObject]:
    (lx, hx), (ly, hy) = config.table_size_m
    table_dims = np.array([rng.uniform(lx, hx), rng.uniform(ly, hy), TABLE_THICKNESS_M])
    table_pose = np.eye(4)
    table_pose[2, 3] = -TABLE_THICKNESS_M / 2
    table = SceneObject(
        SUPPORT_NAMES[0], "box", table_pose, appearance_for("table", "", rng, config), dims_m=table_dims
    )
    floor_pose = np.eye(4)
    floor_pose[2, 3] = -TABLE_HEIGHT_M - 0.01
    floor_dims = np.array([FLOOR_SIZE_M, FLOOR_SIZE_M, 0.02])
    floor = SceneObject(
        SUPPORT_NAMES[1], "box", floor_pose, appearance_for("floor", "", rng, config), dims_m=floor_dims
    )
    return [table, floor]


def camera_distance_range_m(config: RandomizationConfig, sensor: SensorModel | None) -> tuple[float, float]:
    """The config's camera distance range, its low end raised to the sensor's minimum range plus
    MIN_RANGE_MARGIN_M (and capped at the high end)."""
    low, high = config.camera_distance_m
    if sensor is not None and sensor.min_range_m > 0:
        low = min(max(low, sensor.min_range_m + MIN_RANGE_MARGIN_M), high)
    return low, high


def compose_scene(
    rng: np.random.Generator,
    config: RandomizationConfig,
    intrinsics: Intrinsics,
    split: str = "train",
    library: MeshLibrary | None = None,
    sensor: SensorModel | None = None,
) -> Scene:
    """A random tabletop scene (see the module docstring).

    Category objects come from ``library`` (default: the procedural instances of ``split``);
    ``sensor`` (default ``config.sensor``) bounds how near the camera may come.
    """
    library = library or MeshLibrary.procedural(split)
    categories = [c for c in config.categories if c in library.categories()]
    if not categories:
        raise ValueError(f"mesh library {library.name} has none of the categories {config.categories}")
    distance = rng.uniform(*camera_distance_range_m(config, sensor or config.sensor))
    objects = _table_objects(rng, config)
    table_half = objects[0].dims_m[:2] / 2
    spread = min(config.placement_half_extent_m, max(PLACEMENT_MIN_HALF_M, PLACEMENT_PER_DISTANCE * distance))
    placed: list[tuple[np.ndarray, float]] = []

    def place(mesh: trimesh.Trimesh, rotation: np.ndarray) -> np.ndarray | None:
        radius = footprint_radius_m(mesh, rotation)
        half = np.minimum(spread, table_half - radius)
        if np.any(half <= 0):
            return None
        tries = rng.uniform(-half, half, size=(PLACEMENT_TRIES, 2))
        free = np.ones(PLACEMENT_TRIES, dtype=bool)
        for centre, other in placed:
            free &= np.linalg.norm(tries - centre, axis=1) >= radius + other + 0.01
        if not free.any():
            return None
        xy = tries[int(np.argmax(free))]
        placed.append((xy, radius))
        return _resting_pose(mesh, rotation, xy)

    n_objects = int(rng.integers(config.objects_range[0], config.objects_range[1] + 1))
    attempts = 0
    while sum(o.mask_id > 0 for o in objects) < n_objects and attempts < 4 * n_objects:
        attempts += 1
        kind = str(rng.choice(categories))
        record = library.draw(kind, rng)
        rotation = stable_rotation(kind, rng, config.lying_probability, record.size_m)
        pose = place(record.mesh, rotation)
        if pose is not None:
            mask_id = sum(o.mask_id > 0 for o in objects) + 1
            appearance = appearance_for(kind, record.family, rng, config)
            objects.append(
                SceneObject(
                    f"{kind}_{mask_id}",
                    kind,
                    pose,
                    appearance,
                    mask_id,
                    record.instance_id,
                    category_mesh=record,
                )
            )
    for d in range(int(rng.integers(config.distractors_range[0], config.distractors_range[1] + 1))):
        kind = str(rng.choice(PRIMITIVE_KINDS))
        dims = draw_distractor_dims(kind, rng)
        rotation = stable_rotation(kind, rng, 0.0)
        pose = place(primitive_mesh(kind, tuple(float(v) for v in dims)), rotation)
        if pose is not None:
            appearance = appearance_for(kind, "", rng, config)
            objects.append(SceneObject(f"distractor_{d}", kind, pose, appearance, dims_m=dims))

    lights = []
    for _ in range(int(rng.integers(config.lights_range[0], config.lights_range[1] + 1))):
        elevation = np.radians(rng.uniform(*config.light_elevation_deg))
        azimuth = rng.uniform(0, 2 * np.pi)
        direction = [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
        lights.append(Light(np.array(direction), float(rng.uniform(*config.light_intensity_range))))
    scene = Scene(
        objects=objects,
        lights=lights,
        ambient=float(rng.uniform(*config.ambient_range)),
        camera_pose=np.eye(4),
        intrinsics=intrinsics,
        background_rgb=rng.uniform(0.2, 0.8, size=3) ** 2.2,
    )
    return scene.with_camera(random_camera_pose(rng, config, scene, distance))


def random_camera_pose(
    rng: np.random.Generator, config: RandomizationConfig, scene: Scene, distance_m: float | None = None
) -> np.ndarray:
    """A camera above the table looking at the objects from ``distance_m`` (drawn per try from the
    config when None); retried until every object centre is in view."""
    centres = np.array([o.pose[:3, 3] for o in scene.category_objects()] or [np.zeros(3)])
    pose = np.eye(4)
    for _ in range(30):
        target = centres.mean(axis=0) + rng.normal(0.0, config.look_at_jitter_m, size=3) * [1, 1, 0.3]
        distance = distance_m if distance_m is not None else rng.uniform(*config.camera_distance_m)
        elevation = np.radians(rng.uniform(*config.camera_elevation_deg))
        azimuth = rng.uniform(0, 2 * np.pi)
        offset = distance * np.array(
            [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
        )
        roll = np.radians(rng.uniform(-config.camera_roll_deg, config.camera_roll_deg))
        pose = look_at(target + offset, target, roll)
        local = (centres - pose[:3, 3]) @ pose[:3, :3]
        if np.all(local[:, 2] > 0.1):
            uv = scene.intrinsics.project(local)
            margin = 0.05 * np.array([scene.intrinsics.width, scene.intrinsics.height])
            inside = (uv >= margin) & (
                uv <= np.array([scene.intrinsics.width, scene.intrinsics.height]) - margin
            )
            if np.all(inside):
                return pose
    return pose
