"""Grasp success in simulation on synthetic tabletop scenes, per pose source and object family.

Per scene (``diff9d_ros.synth``: instances of a split, rendered with the chosen sensor model): the
depth image is back-projected into the scene cloud, and for every category object seen by at least
``min_visible_pixels`` pixels a pose source gives a detection, the planner ranks grasps, and the
best one is executed in MuJoCo (:mod:`diff9d_ros.grasp.physics`) in the full scene (all objects
and distractors present, reset before each grasp). Objects without any feasible grasp count as
failures. Every trial records the object's category and, where its mesh record has one, its
sub-family (``CategoryMesh.family``); results are grouped by family where there is one, by category
otherwise.

Pose sources:

* ``ground_truth`` (the renderer's poses) and ``noisy`` (ground truth perturbed by a known Gaussian
  covariance, which the planner is given: a robustness check, not an estimator), both with the
  scene's true table plane;
* frame detectors (:data:`FrameDetector`), given by the caller: ``diff9d`` runs the estimator on
  the ground-truth instance masks and categories, with the true table plane; ``pipeline`` is what
  the pipeline runs (built-in tabletop segmentation, its fitted table plane, categories from the
  network). A detector's detections are matched to the objects by mask overlap
(:func:`match_detections`). ``NAME_unrefined``
  plans from detector ``NAME``'s detections with the planner's use of the observed points
  switched off: the baseline of that refinement, in the same run.

:func:`evaluate_grasps` evaluates the objects of procedural scenes; :func:`evaluate_meshes` places
given meshes (a mesh library, or shapes the procedural families lack) one per scene among
procedural clutter and evaluates them alone, per instance.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp.physics import GraspSimulator, PhysicsConfig, PhysicsObject
from diff9d_ros.grasp.planner import GraspPlanner
from diff9d_ros.nocs import CATEGORIES, DENSITY_KG_M3, PRIMITIVE_DENSITY_KG_M3, Detection

#: Frame detectors the commands build from a Diff9D model: on the given masks, and the pipeline's.
ESTIMATED_SOURCE = "diff9d"
PIPELINE_SOURCE = "pipeline"
#: Suffix of a source that plans a detector's poses without the refinement on the observed points.
UNREFINED_SUFFIX = "_unrefined"
UNREFINED_SOURCE = ESTIMATED_SOURCE + UNREFINED_SUFFIX
#: A detection is an object's when at least this share of its mask lies on the object ...
MIN_MASK_OVERLAP = 0.5
#: ... and it covers at least this share of the object's visible pixels.
MIN_MASK_COVER = 0.1


@dataclass(frozen=True)
class NoisyPoses:
    """Ground truth perturbed by ``N(0, diag(sigma_t^2 I, sigma_r^2 I))`` (translation, rotation vector).

    The rotation perturbation is applied in the camera frame, ``R' = Exp(dtheta) R``, matching the
    covariance convention the planner uses; the detection carries that covariance.
    """

    sigma_translation_m: float = 0.01
    sigma_rotation_rad: float = float(np.radians(5.0))

    def covariance(self) -> np.ndarray:
        return np.diag([self.sigma_translation_m**2] * 3 + [self.sigma_rotation_rad**2] * 3)

    def __call__(self, truth: Detection, rng: np.random.Generator) -> Detection:
        delta = rng.multivariate_normal(np.zeros(6), self.covariance())
        rotation = Rotation.from_rotvec(delta[3:]).as_matrix() @ truth.rotation
        return replace(
            truth,
            rotation=rotation,
            translation_m=truth.translation_m + delta[:3],
            covariance=self.covariance(),
        )


def ground_truth_poses(truth: Detection, rng: np.random.Generator) -> Detection:
    """The ground-truth detection itself (zero covariance)."""
    return truth


PoseSource = Callable[[Detection, np.random.Generator], Detection]


def pose_sources(noise: NoisyPoses | None = None) -> dict[str, PoseSource]:
    """The per-object pose sources by name."""
    return {"ground_truth": ground_truth_poses, "noisy": noise or NoisyPoses()}


@dataclass
class FrameDetections:
    """What a frame detector found: detections whose ``mask_id`` names their region in
    ``instance_mask`` (H, W), and the table plane it used (None: the scene's true plane)."""

    detections: list[Detection]
    instance_mask: np.ndarray
    table_plane: TablePlane | None = None


#: Detects the objects of a rendered frame (which carries the true instance mask and categories;
#: a detector that segments for itself ignores them).
FrameDetector = Callable[[RGBDFrame], FrameDetections]


@dataclass(frozen=True)
class LibraryMesh:
    """A mesh to evaluate (:func:`evaluate_meshes`): watertight, in the NOCS canonical frame of
    ``category`` with box extents ``size_m``; ``family`` groups results, ``name`` names the mesh."""

    category: str
    mesh: trimesh.Trimesh
    size_m: np.ndarray
    family: str = ""
    name: str = ""


@dataclass
class GraspTrial:
    """One object, one pose source: what was planned and what happened in simulation.

    ``family`` is the object's sub-family (empty where its mesh record has none), ``instance`` its
    instance id or mesh name, ``grasp_family`` the family of the executed grasp.
    """

    scene: int
    object_name: str
    category: str
    source: str
    planned: bool
    success: bool
    planning_ms: float
    score: float = float("nan")
    grasp_family: str = ""
    lift_m: float = 0.0
    tilt_deg: float = 0.0
    family: str = ""
    instance: str = ""

    @property
    def group(self) -> str:
        """The family where there is one, else the category."""
        return self.family or self.category


@dataclass
class ObjectView:
    """Ground truth of one category object in one rendered frame."""

    name: str
    detection: Detection
    visible_pixels: int
    family: str
    instance: str


def table_plane_in_camera(camera_pose: np.ndarray) -> TablePlane:
    """The world table plane ``z = 0`` in the optical frame of a camera (pose: world from optical)."""
    rotation, origin = camera_pose[:3, :3], camera_pose[:3, 3]
    return TablePlane(rotation.T @ np.array([0.0, 0.0, 1.0]), float(origin[2]))


@functools.cache
def _scene_object_class():
    """:class:`SceneObject` subclass carrying its own mesh record (defined on first use, like every
    synth import of this module)."""
    from diff9d_ros.synth.scene import SceneObject

    @dataclass
    class MeshObject(SceneObject):
        """A scene object whose mesh and box come from ``record``, not from a procedural instance."""

        record: object = None

        def mesh(self) -> trimesh.Trimesh:
            return self.record.mesh

        def size_m(self) -> np.ndarray:
            return np.asarray(self.record.size_m, dtype=np.float64)

    return MeshObject


def _record_of(obj) -> object:
    from diff9d_ros.synth.meshes import instance_mesh

    record = getattr(obj, "record", None)
    return record if record is not None else instance_mesh(obj.kind, obj.instance_id)


def render_frame(scene, renderer, sensor, rng: np.random.Generator) -> tuple[RGBDFrame, list[ObjectView]]:
    """Render ``scene``, apply ``sensor``, and list the category objects' ground truth."""
    from diff9d_ros.synth.noise import corrupt_depth, corrupt_rgb
    from diff9d_ros.synth.render import camera_from_object

    result = renderer.render(scene)
    frame = RGBDFrame(
        rgb=corrupt_rgb(result.linear_rgb, sensor, rng),
        depth_m=corrupt_depth(result.depth_m, result.view_cos, result.albedo_luminance, sensor, rng),
        intrinsics=renderer.intrinsics,
        instance_mask=result.instance_mask,
        categories={o.mask_id: o.kind for o in scene.category_objects()},
    )
    counts = np.bincount(result.instance_mask.ravel(), minlength=1 + max(o.mask_id for o in scene.objects))
    views = []
    for obj in scene.category_objects():
        transform = camera_from_object(scene, obj)
        record = _record_of(obj)
        detection = Detection(
            obj.kind, transform[:3, :3], transform[:3, 3], obj.size_m(), mask_id=obj.mask_id
        )
        instance = getattr(record, "name", "") or f"{obj.kind}_{obj.instance_id}"
        views.append(
            ObjectView(obj.name, detection, int(counts[obj.mask_id]), getattr(record, "family", ""), instance)
        )
    return frame, views


def physics_objects(scene) -> list[PhysicsObject]:
    """Category objects (convex parts) and distractors (convex) of a synthetic scene; no table or floor."""
    out = []
    for obj in scene.objects:
        if obj.is_category:
            out.append(PhysicsObject.from_mesh(obj.name, obj.mesh(), obj.pose, DENSITY_KG_M3[obj.kind]))
        elif obj.name.startswith("distractor"):
            out.append(
                PhysicsObject.from_mesh(obj.name, obj.mesh(), obj.pose, PRIMITIVE_DENSITY_KG_M3, False)
            )
    return out


def match_detections(
    views: list[ObjectView], found: FrameDetections, truth_mask: np.ndarray
) -> dict[str, Detection]:
    """Object name -> its detection, one to one, greedily by overlap: a detection's mask must lie at
    least ``MIN_MASK_OVERLAP`` on the object and cover at least ``MIN_MASK_COVER`` of what is seen
    of it (a segmentation that splits an object still detects it by its largest part)."""
    by_id = {d.mask_id: d for d in found.detections}
    if not by_id:
        return {}
    size = int(max(truth_mask.max(), found.instance_mask.max())) + 1
    codes = truth_mask.astype(np.int64) * size + found.instance_mask.astype(np.int64)
    pairs = np.bincount(codes.ravel(), minlength=size * size).reshape(size, size)
    segment_pixels = pairs.sum(axis=0)
    scored = []
    for view in views:
        for mask_id in by_id:
            overlap = int(pairs[view.detection.mask_id, mask_id])
            on_object = overlap / max(int(segment_pixels[mask_id]), 1)
            if on_object >= MIN_MASK_OVERLAP and overlap >= MIN_MASK_COVER * view.visible_pixels:
                scored.append((overlap, view.name, mask_id))
    matched: dict[str, Detection] = {}
    used: set[int] = set()
    for _, name, mask_id in sorted(scored, reverse=True):
        if name not in matched and mask_id not in used:
            matched[name] = by_id[mask_id]
            used.add(mask_id)
    return matched


@dataclass
class _Evaluator:
    """The per-scene loop shared by :func:`evaluate_grasps` and :func:`evaluate_meshes`."""

    sources: tuple[str, ...]
    planner: GraspPlanner
    physics: PhysicsConfig | None
    detectors: dict[str, FrameDetector]
    min_visible_pixels: int
    planners: dict[str, GraspPlanner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        per_object = pose_sources()
        for source in self.sources:
            base = source.removesuffix(UNREFINED_SUFFIX)
            if source not in per_object and base not in self.detectors:
                available = sorted(per_object) + sorted(self.detectors)
                raise ValueError(
                    f"unknown pose source {source!r}; available: {available} (+ '{UNREFINED_SUFFIX}')"
                )
            refine = not source.endswith(UNREFINED_SUFFIX)
            self.planners[source] = (
                self.planner
                if refine == self.planner.config.refine_on_points
                else GraspPlanner(self.planner.gripper, replace(self.planner.config, refine_on_points=refine))
            )

    def run(
        self,
        index: int,
        scene,
        frame: RGBDFrame,
        views: list[ObjectView],
        camera_pose: np.ndarray,
        rng: np.random.Generator,
        only: Sequence[str] | None = None,
    ) -> list[GraspTrial]:
        points = frame.intrinsics.backproject(frame.depth_m)
        true_plane = table_plane_in_camera(camera_pose)
        clouds = {None: self.planner.prepare_scene(points, true_plane)}
        found: dict[str, FrameDetections] = {}
        matched: dict[str, dict[str, Detection]] = {}
        for source in self.sources:
            base = source.removesuffix(UNREFINED_SUFFIX)
            if base in self.detectors and base not in found:
                found[base] = self.detectors[base](frame)
                matched[base] = match_detections(views, found[base], frame.instance_mask)
                plane = found[base].table_plane
                if plane is not None:
                    clouds[base] = self.planner.prepare_scene(points, plane)
        sim = GraspSimulator(
            physics_objects(scene), self.planner.gripper, self.physics, tuple(scene.objects[0].dims_m[:2])
        )
        per_object = pose_sources()
        trials = []
        for view in views:
            if view.visible_pixels < self.min_visible_pixels or (only is not None and view.name not in only):
                continue
            category = view.detection.category
            for source in self.sources:
                base = source.removesuffix(UNREFINED_SUFFIX)
                trial = GraspTrial(
                    index,
                    view.name,
                    category,
                    source,
                    False,
                    False,
                    0.0,
                    family=view.family,
                    instance=view.instance,
                )
                trials.append(trial)
                if source in per_object:
                    detection, cloud = per_object[source](view.detection, rng), clouds[None]
                else:
                    detection = matched[base].get(view.name)
                    cloud = clouds.get(base, clouds[None])
                if detection is None:
                    continue
                start = time.perf_counter()
                grasps = self.planners[source].plan(detection, cloud)
                trial.planning_ms = 1000.0 * (time.perf_counter() - start)
                trial.planned = bool(grasps)
                if grasps:
                    best = grasps[0]
                    result = sim.run(
                        view.name, camera_pose @ best.pose, camera_pose @ best.pre_grasp, best.opening_m
                    )
                    trial.success, trial.lift_m, trial.tilt_deg = (
                        result.success,
                        result.lift_achieved_m,
                        result.tilt_deg,
                    )
                    trial.score, trial.grasp_family = best.score, best.family
        return trials


def _setup(sensor: str, objects_range: tuple[int, int]):
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer

    config = RandomizationConfig.for_domain(sensor, objects_range=objects_range)
    intrinsics = Intrinsics.realsense_d435()
    return config, intrinsics, Renderer(intrinsics, shadows=False)


def evaluate_grasps(
    n_scenes: int,
    *,
    seed: int = 0,
    sources: tuple[str, ...] = ("ground_truth", "noisy"),
    sensor: str = "realsense",
    split: str = "test",
    objects_range: tuple[int, int] = (2, 4),
    min_visible_pixels: int = 200,
    planner: GraspPlanner | None = None,
    physics: PhysicsConfig | None = None,
    detectors: dict[str, FrameDetector] | None = None,
    progress: bool = True,
) -> list[GraspTrial]:
    """Simulate the best planned grasp of every visible object in ``n_scenes`` procedural scenes.

    ``detectors`` (name -> :data:`FrameDetector`) enable the frame sources of those names (and
    their ``_unrefined`` twins). ``split`` picks the object instances: ``test`` for reported
    numbers, ``val`` for tuning.
    """
    from tqdm import tqdm

    from diff9d_ros.synth.scene import compose_scene

    if n_scenes < 1:
        raise ValueError(f"n_scenes must be at least 1, got {n_scenes}")
    evaluator = _Evaluator(sources, planner or GraspPlanner(), physics, detectors or {}, min_visible_pixels)
    config, intrinsics, renderer = _setup(sensor, objects_range)
    trials: list[GraspTrial] = []
    for index in tqdm(range(n_scenes), desc="grasp eval scenes", disable=not progress):
        rng = np.random.default_rng([seed, index])
        scene = compose_scene(rng, config, intrinsics, split=split)
        frame, views = render_frame(scene, renderer, config.sensor, rng)
        trials += evaluator.run(index, scene, frame, views, scene.camera_pose, rng)
    return trials


def _place(scene, record, rng: np.random.Generator, config) -> object | None:
    """A :class:`MeshObject` of ``record`` standing upright at a free spot of ``scene``'s table, or None."""
    from diff9d_ros.synth.scene import footprint_radius_m, random_appearance

    mesh_object = _scene_object_class()
    upright = Rotation.from_rotvec([0.0, 0.0, rng.uniform(0, 2 * np.pi)]) * Rotation.from_rotvec(
        [np.pi / 2, 0, 0]
    )
    rotation = upright.as_matrix()
    radius = footprint_radius_m(record.mesh, rotation)
    table_half = scene.objects[0].dims_m[:2] / 2.0
    half = np.minimum(config.placement_half_extent_m, table_half - radius)
    if np.any(half <= 0):
        return None
    others = [
        (o.pose[:2, 3], footprint_radius_m(o.mesh(), o.pose[:3, :3]))
        for o in scene.objects[1:]
        if o.name not in ("table", "floor")
    ]
    for _ in range(100):
        xy = rng.uniform(-half, half)
        if all(np.linalg.norm(xy - c) >= radius + r + 0.01 for c, r in others):
            pose = np.eye(4)
            pose[:3, :3] = rotation
            pose[:2, 3] = xy
            pose[2, 3] = -np.min(record.mesh.vertices @ rotation[2])
            mask_id = 1 + max(o.mask_id for o in scene.objects)
            return mesh_object(
                f"{record.category}_{mask_id}",
                record.category,
                pose,
                random_appearance(rng, config),
                mask_id,
                record=record,
            )
    return None


def mesh_scenes(
    records: Sequence[LibraryMesh], views: int, *, seed: int, split: str, sensor: str
) -> Iterator[tuple[int, object, object, object]]:
    """(index, scene, the record's scene object, record) for ``views`` scenes per record: procedural
    clutter of ``split`` (1 to 2 objects and distractors) with the record's mesh standing among it."""
    from diff9d_ros.synth.scene import compose_scene, random_camera_pose

    config, intrinsics, _ = _setup(sensor, (1, 2))
    index = 0
    for record in records:
        for _ in range(views):
            rng = np.random.default_rng([seed, 7919, index])
            for _attempt in range(10):
                scene = compose_scene(rng, config, intrinsics, split=split)
                placed = _place(scene, record, rng, config)
                if placed is not None:
                    break
            else:
                raise ValueError(
                    f"no free place on the table for a {record.category} of size {record.size_m}"
                )
            scene.objects.append(placed)
            scene = scene.with_camera(random_camera_pose(rng, config, scene))
            yield index, scene, placed, record
            index += 1


def evaluate_meshes(
    records: Sequence[LibraryMesh],
    *,
    views: int = 4,
    seed: int = 0,
    sources: tuple[str, ...] = ("ground_truth", "noisy"),
    sensor: str = "realsense",
    split: str = "test",
    min_visible_pixels: int = 200,
    planner: GraspPlanner | None = None,
    physics: PhysicsConfig | None = None,
    detectors: dict[str, FrameDetector] | None = None,
    progress: bool = True,
) -> list[GraspTrial]:
    """Simulate the best planned grasp of each mesh record, ``views`` scenes each (see :func:`mesh_scenes`);
    only the record's object is evaluated. Records without a ``family`` are grouped by category."""
    from tqdm import tqdm

    for record in records:
        if record.category not in CATEGORIES:
            raise ValueError(f"mesh record category {record.category!r} is not one of {CATEGORIES}")
        if not record.mesh.is_watertight:
            raise ValueError(f"mesh record {getattr(record, 'name', record.category)!r} is not watertight")
    evaluator = _Evaluator(sources, planner or GraspPlanner(), physics, detectors or {}, min_visible_pixels)
    config, _, renderer = _setup(sensor, (1, 2))
    trials: list[GraspTrial] = []
    scenes: Iterable = mesh_scenes(records, views, seed=seed, split=split, sensor=sensor)
    for index, scene, placed, _record in tqdm(
        scenes, total=len(records) * views, desc="grasp eval meshes", disable=not progress
    ):
        rng = np.random.default_rng([seed, 104729, index])
        frame, object_views = render_frame(scene, renderer, config.sensor, rng)
        trials += evaluator.run(index, scene, frame, object_views, scene.camera_pose, rng, only=[placed.name])
    return trials


def summarise(
    trials: list[GraspTrial], sources: tuple[str, ...], key: str = "group"
) -> list[dict[str, object]]:
    """Rows per pose source and group (``key``: "group" = family or category, "category",
    "instance"), plus "all": attempts, planned, successes, success rate, success among planned,
    median planning time."""
    rows = []
    groups = sorted({getattr(t, key) for t in trials})
    for source in sources:
        mine = [t for t in trials if t.source == source]
        for group in (*groups, "all"):
            subset = [t for t in mine if group in ("all", getattr(t, key))]
            n, planned, successes = (
                len(subset),
                sum(t.planned for t in subset),
                sum(t.success for t in subset),
            )
            times = [t.planning_ms for t in subset if t.planning_ms > 0]
            rows.append(
                {
                    "source": source,
                    key: group,
                    "attempts": n,
                    "planned": planned,
                    "successes": successes,
                    "success_rate": successes / n if n else float("nan"),
                    "planned_success_rate": successes / planned if planned else float("nan"),
                    "median_planning_ms": float(np.median(times)) if times else float("nan"),
                }
            )
    return rows
