"""Moving-camera sequences: an orbiting, bobbing camera over a tabletop where objects slide or roll.

The camera circles the objects' centroid at a constant azimuth rate, its elevation and distance
oscillating gently. Up to two objects move: a can lying on its side rolls without slipping
(angular velocity ``omega = (z x v) / r``), anything else slides. A moving object stops for good
before its footprint would touch another object's or leave the placement square, so poses stay
stable and non-intersecting. Everything is a pure function of the seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.library import MeshLibrary
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.scene import (
    SUPPORT_NAMES,
    Scene,
    SceneObject,
    compose_scene,
    footprint_radius_m,
    look_at,
)

#: Sequences start at this ROS time (2023-11-14T22:13:20Z), so stamps look like real recordings.
START_NS = 1_700_000_000_000_000_000
FOOTPRINT_MARGIN_M = 0.01


@dataclass
class Motion:
    """Planar velocity of one object; ``roll_radius_m`` > 0 makes it roll instead of slide."""

    index: int  # into scene.objects
    velocity_m_s: np.ndarray
    roll_radius_m: float = 0.0
    stopped: bool = False


def _is_lying_can(obj: SceneObject) -> bool:
    return obj.kind == "can" and abs(obj.pose[2, :3] @ [0.0, 1.0, 0.0]) < 0.5


def _choose_motions(scene: Scene, rng: np.random.Generator) -> list[Motion]:
    candidates = [i for i, o in enumerate(scene.objects) if o.mask_id > 0]
    movers = rng.permutation(candidates)[: min(2, len(candidates))]
    motions = []
    for index in movers:
        obj = scene.objects[int(index)]
        if _is_lying_can(obj):
            axis = obj.pose[:3, 1]
            direction = np.cross([0.0, 0.0, 1.0], axis)[:2]
            speed = rng.uniform(0.03, 0.06) * rng.choice([-1.0, 1.0])
            radius = obj.size_m()[0] / 2
            motions.append(Motion(int(index), direction / np.linalg.norm(direction) * speed, radius))
        else:
            angle = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(0.02, 0.05)
            motions.append(Motion(int(index), speed * np.array([np.cos(angle), np.sin(angle)])))
    return motions


def _step(scene: Scene, motion: Motion, dt_s: float, limit_m: float) -> None:
    """Advance one object by ``dt_s`` unless the move would collide; then it stops for good."""
    if motion.stopped:
        return
    obj = scene.objects[motion.index]
    pose = obj.pose.copy()
    pose[:2, 3] += motion.velocity_m_s * dt_s
    if motion.roll_radius_m > 0:
        velocity = np.append(motion.velocity_m_s, 0.0)
        omega = np.cross([0.0, 0.0, 1.0], velocity) / motion.roll_radius_m
        pose[:3, :3] = Rotation.from_rotvec(omega * dt_s).as_matrix() @ pose[:3, :3]
    radius = footprint_radius_m(obj.mesh(), pose[:3, :3])
    clear = np.all(np.abs(pose[:2, 3]) + radius <= limit_m)
    for other in scene.objects:
        if other is obj or other.name in SUPPORT_NAMES:
            continue
        other_radius = footprint_radius_m(other.mesh(), other.pose[:3, :3])
        if np.linalg.norm(pose[:2, 3] - other.pose[:2, 3]) < radius + other_radius + FOOTPRINT_MARGIN_M:
            clear = False
    if clear:
        scene.objects[motion.index] = replace(obj, pose=pose)
    else:
        motion.stopped = True


def make_sequence(
    seed: int,
    seconds: float,
    fps: float,
    config: RandomizationConfig,
    intrinsics: Intrinsics,
    split: str = "test",
    library: MeshLibrary | None = None,
) -> Iterator[tuple[int, Scene]]:
    """Yield ``(stamp_ns, scene)`` for ``round(seconds * fps)`` frames (each scene is a fresh copy;
    objects from ``library``, default the procedural instances of ``split``)."""
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {seconds}, {fps}")
    rng = np.random.default_rng([seed, 7])
    scene = compose_scene(rng, config, intrinsics, split, library)
    motions = _choose_motions(scene, rng)
    centres = np.array([o.pose[:3, 3] for o in scene.category_objects()] or [np.zeros(3)])
    target = np.array([*centres.mean(axis=0)[:2], 0.03])
    distance = float(np.linalg.norm(scene.camera_pose[:3, 3] - target))  # the composed scene's distance
    elevation = np.radians(
        rng.uniform(max(config.camera_elevation_deg[0], 35.0), config.camera_elevation_deg[1])
    )
    azimuth = rng.uniform(0, 2 * np.pi)
    azimuth_rate = rng.uniform(0.1, 0.25) * rng.choice([-1.0, 1.0])
    bob_period_s = rng.uniform(4.0, 8.0)
    dt_s = 1.0 / fps
    limit = config.placement_half_extent_m + 0.1
    for k in range(round(seconds * fps)):
        t = k * dt_s
        if k > 0:
            for motion in motions:
                _step(scene, motion, dt_s, limit)
        phase = 2 * np.pi * t / bob_period_s
        el = elevation + np.radians(5.0) * np.sin(phase)
        dist = distance + 0.03 * np.sin(0.5 * phase)
        az = azimuth + azimuth_rate * t
        eye = target + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        frame_scene = replace(scene, objects=list(scene.objects), camera_pose=look_at(eye, target))
        yield START_NS + round(t * 1e9), frame_scene
