"""Tabletop scene composer: table, floor, category objects, distractors, lights and a camera.

World frame (ROS REP 103): z up, the table top is the plane z = 0 and the table is centred at the
origin. Category objects stand in stable poses (upright with a random yaw; bottles and cans also
lying on their side) with non-overlapping footprints; the camera looks down at them from a
realistic height and angle. Every random choice comes from the generator passed in, so a scene is
a pure function of its seed.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import SYMMETRY
from diff9d_ros.synth.meshes import instance_mesh, split_ids
from diff9d_ros.synth.noise import RandomizationConfig

#: Shapes that are not category objects: the table, the floor and distractors.
PRIMITIVE_KINDS: tuple[str, ...] = ("box", "cylinder", "sphere")
PRIMITIVE_SECTIONS = 32
TABLE_THICKNESS_M = 0.04
TABLE_HEIGHT_M = 0.75
FLOOR_SIZE_M = 6.0
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checker")
#: Names of the supporting surfaces (everything else stands on the table).
SUPPORT_NAMES: tuple[str, ...] = ("table", "floor")


@dataclass
class Appearance:
    """Surface reflectance: linear-RGB albedo, an optional two-colour pattern, Blinn-Phong specular."""

    colour: np.ndarray
    colour2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pattern: str = "plain"
    pattern_scale_m: float = 0.02
    specular: float = 0.0
    shininess: float = 32.0

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}; expected one of {PATTERNS}")
        self.colour = np.asarray(self.colour, dtype=np.float64).reshape(3)
        self.colour2 = np.asarray(self.colour2, dtype=np.float64).reshape(3)


@dataclass
class SceneObject:
    """Anything in the scene. ``kind`` is a NOCS category or a primitive kind.

    ``pose`` (4x4) maps the object's local frame (the NOCS canonical frame for categories, the
    shape's centre for primitives) into the world. ``mask_id`` is the instance-mask value, stable
    for the object's lifetime (0 = background: table, floor, distractors). ``dims_m`` holds the
    primitive's extents (box: x, y, z; cylinder: radius, radius, length along z; sphere: radius x3).
    ``mesh_file``, when set, replaces the procedural mesh (e.g. a mesh loaded back from an SDF world).
    """

    name: str
    kind: str
    pose: np.ndarray
    appearance: Appearance
    mask_id: int = 0
    instance_id: int = -1
    dims_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    mesh_file: str = ""

    def __post_init__(self) -> None:
        self.pose = np.asarray(self.pose, dtype=np.float64).reshape(4, 4)
        self.dims_m = np.asarray(self.dims_m, dtype=np.float64).reshape(3)
        if self.kind not in SYMMETRY and self.kind not in PRIMITIVE_KINDS:
            raise ValueError(f"unknown object kind {self.kind!r}")

    @property
    def is_category(self) -> bool:
        return self.kind in SYMMETRY

    def mesh(self) -> trimesh.Trimesh:
        """The object's mesh in its local frame (cached; do not modify)."""
        if self.mesh_file:
            return load_mesh_file(self.mesh_file)
        if self.is_category:
            return instance_mesh(self.kind, self.instance_id).mesh
        return primitive_mesh(self.kind, tuple(float(v) for v in self.dims_m))

    def size_m(self) -> np.ndarray:
        """Extents of the local-frame tight box."""
        if self.is_category:
            return instance_mesh(self.kind, self.instance_id).size_m
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


@functools.lru_cache(maxsize=256)
def primitive_mesh(kind: str, dims_m: tuple[float, float, float]) -> trimesh.Trimesh:
    """Deterministic tessellation of a primitive centred at the origin (cylinder axis along z)."""
    if kind == "box":
        return trimesh.creation.box(extents=dims_m)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=dims_m[0], height=dims_m[2], sections=PRIMITIVE_SECTIONS)
    if kind == "sphere":
        return trimesh.creation.icosphere(subdivisions=3, radius=dims_m[0])
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


def random_appearance(rng: np.random.Generator, config: RandomizationConfig) -> Appearance:
    """Random colours (HSV-uniform, dark to bright), maybe a pattern, maybe a specular lobe."""

    def colour() -> np.ndarray:
        rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.08, 0.95))
        return np.asarray(rgb) ** 2.2

    pattern = "plain"
    if rng.random() < config.texture_probability:
        pattern = str(rng.choice(["stripes", "checker"]))
    specular = rng.uniform(0.1, 0.5) if rng.random() < config.specular_probability else 0.0
    return Appearance(
        colour=colour(),
        colour2=colour(),
        pattern=pattern,
        pattern_scale_m=rng.uniform(0.008, 0.04),
        specular=specular,
        shininess=rng.uniform(*config.shininess_range),
    )


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


def stable_rotation(kind: str, rng: np.random.Generator, lying_probability: float) -> np.ndarray:
    """A stable resting rotation: canonical y up with a random yaw, or (bottle, can) on the side."""
    yaw = Rotation.from_rotvec([0.0, 0.0, rng.uniform(0, 2 * np.pi)])
    upright = Rotation.from_rotvec([np.pi / 2, 0.0, 0.0])  # canonical y -> world z
    if kind in ("bottle", "can") and rng.random() < lying_probability:
        spin = Rotation.from_rotvec([rng.uniform(0, 2 * np.pi), 0.0, 0.0])  # about the world x axis
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
        SUPPORT_NAMES[0], "box", table_pose, random_appearance(rng, config), dims_m=table_dims
    )
    floor_pose = np.eye(4)
    floor_pose[2, 3] = -TABLE_HEIGHT_M - 0.01
    floor_dims = np.array([FLOOR_SIZE_M, FLOOR_SIZE_M, 0.02])
    floor = SceneObject(
        SUPPORT_NAMES[1], "box", floor_pose, random_appearance(rng, config), dims_m=floor_dims
    )
    return [table, floor]


def _random_primitive_dims(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "box":
        return rng.uniform(0.03, 0.12, size=3)
    if kind == "cylinder":
        radius = rng.uniform(0.015, 0.05)
        return np.array([radius, radius, rng.uniform(0.03, 0.15)])
    return np.full(3, rng.uniform(0.02, 0.05))


def compose_scene(
    rng: np.random.Generator,
    config: RandomizationConfig,
    intrinsics: Intrinsics,
    split: str = "train",
) -> Scene:
    """A random tabletop scene with objects of ``split``'s instances (see module docstring)."""
    ids = split_ids(split)
    objects = _table_objects(rng, config)
    table_half = objects[0].dims_m[:2] / 2
    placed: list[tuple[np.ndarray, float]] = []

    def place(mesh: trimesh.Trimesh, rotation: np.ndarray) -> np.ndarray | None:
        radius = footprint_radius_m(mesh, rotation)
        half = np.minimum(config.placement_half_extent_m, table_half - radius)
        if np.any(half <= 0):
            return None
        for _ in range(100):
            xy = rng.uniform(-half, half)
            if all(np.linalg.norm(xy - c) >= radius + r + 0.01 for c, r in placed):
                placed.append((xy, radius))
                return _resting_pose(mesh, rotation, xy)
        return None

    n_objects = int(rng.integers(config.objects_range[0], config.objects_range[1] + 1))
    attempts = 0
    while sum(o.mask_id > 0 for o in objects) < n_objects and attempts < 4 * n_objects:
        attempts += 1
        kind = str(rng.choice(config.categories))
        instance_id = int(rng.integers(ids.start, ids.stop))
        rotation = stable_rotation(kind, rng, config.lying_probability)
        pose = place(instance_mesh(kind, instance_id).mesh, rotation)
        if pose is not None:
            mask_id = sum(o.mask_id > 0 for o in objects) + 1
            appearance = random_appearance(rng, config)
            objects.append(SceneObject(f"{kind}_{mask_id}", kind, pose, appearance, mask_id, instance_id))
    for d in range(int(rng.integers(config.distractors_range[0], config.distractors_range[1] + 1))):
        kind = str(rng.choice(PRIMITIVE_KINDS))
        dims = _random_primitive_dims(kind, rng)
        rotation = stable_rotation(kind, rng, 0.0)
        pose = place(primitive_mesh(kind, tuple(float(v) for v in dims)), rotation)
        if pose is not None:
            appearance = random_appearance(rng, config)
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
    return scene.with_camera(random_camera_pose(rng, config, scene))


def random_camera_pose(rng: np.random.Generator, config: RandomizationConfig, scene: Scene) -> np.ndarray:
    """A camera above the table looking at the objects; retried until every object centre is in view."""
    centres = np.array([o.pose[:3, 3] for o in scene.category_objects()] or [np.zeros(3)])
    pose = np.eye(4)
    for _ in range(30):
        target = centres.mean(axis=0) + rng.normal(0.0, config.look_at_jitter_m, size=3) * [1, 1, 0.3]
        distance = rng.uniform(*config.camera_distance_m)
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
