"""Grasp success in simulation on synthetic tabletop scenes, per pose source and category.

Per scene (``diff9d_ros.synth``: test-split instances, rendered with the chosen sensor model):
the depth image is back-projected into the scene cloud, the table plane comes from the scene
(``z = 0`` in the world, as a tabletop segmenter would supply it), and for every category object
seen by at least ``min_visible_pixels`` pixels a pose source gives a detection, the planner ranks
grasps, and the best one is executed in MuJoCo (:mod:`diff9d_ros.grasp.physics`) in the full scene
(all objects and distractors present, reset before each grasp). Objects without any feasible grasp
count as failures.

Pose sources: ``ground_truth`` (the renderer's poses) and ``noisy`` (ground truth perturbed by a
known Gaussian covariance, which the planner is given: a robustness check, not an estimator).
``diff9d`` (``ESTIMATED_SOURCE``) runs the Diff9D estimator on the rendered frame (ground-truth
instance masks and categories) when a trained model file is given; without one that column is
reported as unavailable. ``diff9d_unrefined`` (``UNREFINED_SOURCE``) plans from the same estimated
detections with the planner's refinement on the observed points switched off: the baseline the
refinement is measured against, in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp.physics import (
    GraspSimulator,
    PhysicsConfig,
    PhysicsObject,
)
from diff9d_ros.grasp.planner import GraspPlanner
from diff9d_ros.nocs import CATEGORIES, DENSITY_KG_M3, PRIMITIVE_DENSITY_KG_M3, Detection

#: Name of the pose-estimator column; reported as unavailable until the estimator lands.
ESTIMATED_SOURCE = "diff9d"
#: The estimated poses planned without the refinement on the observed points.
UNREFINED_SOURCE = "diff9d_unrefined"


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
    """The available pose sources by name."""
    return {"ground_truth": ground_truth_poses, "noisy": noise or NoisyPoses()}


@dataclass
class GraspTrial:
    """One object, one pose source: what was planned and what happened in simulation."""

    scene: int
    object_name: str
    category: str
    source: str
    planned: bool
    success: bool
    planning_ms: float
    score: float = float("nan")
    family: str = ""
    lift_m: float = 0.0


def table_plane_in_camera(camera_pose: np.ndarray) -> TablePlane:
    """The world table plane ``z = 0`` in the optical frame of a camera (pose: world from optical)."""
    rotation, origin = camera_pose[:3, :3], camera_pose[:3, 3]
    return TablePlane(rotation.T @ np.array([0.0, 0.0, 1.0]), float(origin[2]))


def physics_objects(scene) -> list[PhysicsObject]:
    """Category objects (CoACD parts) and distractors (convex) of a synthetic scene; no table or floor."""
    out = []
    for obj in scene.objects:
        if obj.is_category:
            out.append(PhysicsObject.from_mesh(obj.name, obj.mesh(), obj.pose, DENSITY_KG_M3[obj.kind]))
        elif obj.name.startswith("distractor"):
            out.append(
                PhysicsObject.from_mesh(obj.name, obj.mesh(), obj.pose, PRIMITIVE_DENSITY_KG_M3, False)
            )
    return out


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
    estimator: object | None = None,
    progress: bool = True,
) -> list[GraspTrial]:
    """Simulate the best planned grasp of every visible object in ``n_scenes`` synthetic scenes.

    ``estimator`` (a ``diff9d_ros.pose.estimator.PoseEstimator``) enables the ``diff9d`` source.
    ``split`` picks the object instances: ``test`` for reported numbers, ``val`` for tuning.
    """
    from tqdm import tqdm

    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    if n_scenes < 1:
        raise ValueError(f"n_scenes must be at least 1, got {n_scenes}")
    available: dict[str, PoseSource | None] = dict(pose_sources())
    if estimator is not None:
        available[ESTIMATED_SOURCE] = available[UNREFINED_SOURCE] = None
    unknown = [s for s in sources if s not in available]
    if unknown:
        raise ValueError(f"unknown pose source(s) {unknown}; available: {sorted(available)}")
    planner = planner or GraspPlanner()
    planners = dict.fromkeys(sources, planner)
    if UNREFINED_SOURCE in sources:
        planners[UNREFINED_SOURCE] = GraspPlanner(
            planner.gripper, replace(planner.config, refine_on_points=False)
        )
    config = RandomizationConfig.for_domain(sensor, objects_range=objects_range)
    intrinsics = Intrinsics.realsense_d435()
    renderer = Renderer(intrinsics, shadows=False)
    trials: list[GraspTrial] = []
    for index in tqdm(range(n_scenes), desc="grasp eval scenes", disable=not progress):
        rng = np.random.default_rng([seed, index])
        scene = compose_scene(rng, config, intrinsics, split=split)
        frame = synthesize(scene, renderer, config.sensor, rng)
        cloud = planner.prepare_scene(
            intrinsics.backproject(frame.frame.depth_m), table_plane_in_camera(frame.camera_pose)
        )
        names = {o.mask_id: o.name for o in scene.category_objects()}
        estimated = {}
        if {ESTIMATED_SOURCE, UNREFINED_SOURCE} & set(sources):
            estimated = {d.mask_id: d for d in estimator.estimate(frame.frame)}
        sim = GraspSimulator(
            physics_objects(scene), planner.gripper, physics, tuple(scene.objects[0].dims_m[:2])
        )
        for truth in frame.objects:
            if truth.visible_pixels < min_visible_pixels:
                continue
            name = names[truth.detection.mask_id]
            for source in sources:
                if source in (ESTIMATED_SOURCE, UNREFINED_SOURCE):
                    detection = estimated.get(truth.detection.mask_id)
                else:
                    detection = available[source](truth.detection, rng)
                if detection is None:
                    trials.append(GraspTrial(index, name, truth.category, source, False, False, 0.0))
                    continue
                start = time.perf_counter()
                grasps = planners[source].plan(detection, cloud)
                planning_ms = 1000.0 * (time.perf_counter() - start)
                trial = GraspTrial(index, name, truth.category, source, bool(grasps), False, planning_ms)
                if grasps:
                    best = grasps[0]
                    result = sim.run(
                        name,
                        frame.camera_pose @ best.pose,
                        frame.camera_pose @ best.pre_grasp,
                        best.opening_m,
                    )
                    trial.success, trial.lift_m = result.success, result.lift_achieved_m
                    trial.score, trial.family = best.score, best.family
                trials.append(trial)
    return trials


def summarise(trials: list[GraspTrial], sources: tuple[str, ...]) -> list[dict[str, object]]:
    """Rows per pose source and category (plus "all"): attempts, planned, successes, success rate."""
    rows = []
    for source in sources:
        mine = [t for t in trials if t.source == source]
        for category in (*CATEGORIES, "all"):
            subset = [t for t in mine if category in ("all", t.category)]
            n = len(subset)
            rows.append(
                {
                    "source": source,
                    "category": category,
                    "attempts": n,
                    "planned": sum(t.planned for t in subset),
                    "successes": sum(t.success for t in subset),
                    "success_rate": (sum(t.success for t in subset) / n) if n else float("nan"),
                    "median_planning_ms": float(np.median([t.planning_ms for t in subset]))
                    if n
                    else float("nan"),
                }
            )
    return rows
