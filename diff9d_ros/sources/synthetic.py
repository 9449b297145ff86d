"""Synthetic RGB-D sources for the runner: a rendered moving-camera sequence, or an SDF world.

:class:`SyntheticSource` renders :func:`diff9d_ros.synth.sequence.make_sequence` (an orbiting,
bobbing camera while up to two objects slide or roll) frame by frame with the sensor model of a
domain; :class:`SdfSource` renders a Gazebo world read by :func:`diff9d_ros.synth.sdf.load_world`
from its own camera, orbiting about the objects at ``orbit_deg_s``. Both yield
:class:`~diff9d_ros.pipeline.SourceFrame` with the ground truth of the visible objects
(``track_id`` = the object's stable id) and the camera's pose in the world (``camera_pose``, as
tf gives it on a robot). The renderer's instance masks are passed on only with
``give_masks`` (an "external segmenter"); otherwise the pipeline segments the tabletop itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pipeline import SourceFrame
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.scene import Scene
from diff9d_ros.synth.truth import SynthFrame
from diff9d_ros.validation import frame_count, one_line

#: First stamp of an SDF source (the same epoch as synthetic sequences).
SDF_START_NS = 1_700_000_000_000_000_000


def _source_frame(synth: SynthFrame, give_masks: bool) -> SourceFrame:
    frame = replace(synth.frame, camera_pose=synth.camera_pose)  # the simulator knows where its camera is
    if not give_masks:
        frame = replace(frame, instance_mask=None, categories={})
    truth = [o.detection for o in synth.objects if o.visible_pixels > 0]
    return SourceFrame(stamp_ns=frame.stamp_ns, frame=frame, truth=truth)


class SyntheticSource:
    """``round(seconds * fps)`` rendered frames of one seeded sequence."""

    def __init__(
        self,
        *,
        seconds: float = 3.0,
        fps: float = 10.0,
        seed: int = 0,
        domain: str = "realsense",
        objects: tuple[int, int] = (3, 3),
        split: str = "test",
        intrinsics: Intrinsics | None = None,
        give_masks: bool = False,
    ) -> None:
        self.frames = frame_count(seconds, fps)
        self.seconds, self.fps, self.seed, self.split = seconds, fps, seed, split
        self.config = RandomizationConfig.for_domain(domain, objects_range=objects)
        self.intrinsics = intrinsics or Intrinsics.realsense_d435()
        self.give_masks = give_masks
        self.period_s = 1.0 / fps
        self.description = (
            f"synthetic sequence (seed {seed}, {domain} sensor, {objects[0]}-{objects[1]} objects)"
        )

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[SourceFrame]:
        for synth in self.synth_frames():
            yield _source_frame(synth, self.give_masks)

    def synth_frames(self) -> Iterator[SynthFrame]:
        """The rendered frames with their full ground truth (masks, visibility) in order."""
        from diff9d_ros.synth.render import Renderer
        from diff9d_ros.synth.sequence import make_sequence
        from diff9d_ros.synth.truth import synthesize

        renderer = Renderer(self.intrinsics, shadows=self.config.shadows)
        sequence = make_sequence(self.seed, self.seconds, self.fps, self.config, self.intrinsics, self.split)
        for k, (stamp_ns, scene) in enumerate(sequence):
            rng = np.random.default_rng([self.seed, 8, k])
            yield synthesize(scene, renderer, self.config.sensor, rng, stamp_ns=stamp_ns, index=k)


def orbit_camera(scene: Scene, angle_rad: float) -> np.ndarray:
    """The scene's camera pose turned by ``angle_rad`` about the vertical (world z) axis through
    the centroid of the category objects."""
    centres = np.array([o.pose[:3, 3] for o in scene.category_objects()] or [np.zeros(3)])
    pivot = centres.mean(axis=0)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    turn = np.eye(4)
    turn[:2, :2] = [[c, -s], [s, c]]
    turn[:3, 3] = pivot - turn[:3, :3] @ pivot
    return turn @ scene.camera_pose


def read_world(path: Path) -> Scene:
    """The scene of the SDF world at ``path``, its ``model://`` URIs looked up as Gazebo does
    (:func:`~diff9d_ros.ros.gz_bridge.model_search_path`); ValueError naming the file and the problem."""
    import xml.etree.ElementTree as ET

    from diff9d_ros.ros.gz_bridge import model_search_path
    from diff9d_ros.synth.sdf import load_world

    try:
        return load_world(path, model_search_path(path))
    except ET.ParseError as error:
        raise ValueError(f"SDF world {path} is not well-formed XML ({error})") from error
    except ValueError as error:
        raise ValueError(f"SDF world {path}: {one_line(error)}") from error
    except (AttributeError, TypeError, KeyError, IndexError, UnicodeDecodeError) as error:
        raise ValueError(
            f"SDF world {path} lacks what a diff9d world has (a <world> with models and an rgbd_camera; "
            f"write one with `diff9d synth sdf`): {type(error).__name__}: {one_line(error)}"
        ) from error


class SdfSource:
    """Frames of a Gazebo SDF world rendered by the built-in renderer from the world's camera."""

    def __init__(
        self,
        world: str | Path,
        *,
        seconds: float = 3.0,
        fps: float = 10.0,
        orbit_deg_s: float = 10.0,
        seed: int = 0,
        domain: str = "realsense",
        give_masks: bool = False,
    ) -> None:
        path = Path(world)
        if not path.is_file():
            raise ValueError(f"SDF world {path} does not exist")
        self.frames = frame_count(seconds, fps)
        self.scene = read_world(path)
        self.seconds, self.fps, self.seed = seconds, fps, seed
        self.orbit_rad_s = np.radians(orbit_deg_s)
        self.sensor = RandomizationConfig.for_domain(domain).sensor
        self.give_masks = give_masks
        self.period_s = 1.0 / fps
        self.description = f"SDF world {path} ({domain} sensor, orbit {orbit_deg_s:g} deg/s)"

    def __len__(self) -> int:
        return self.frames

    def __iter__(self) -> Iterator[SourceFrame]:
        from diff9d_ros.synth.render import Renderer
        from diff9d_ros.synth.truth import synthesize

        renderer = Renderer(self.scene.intrinsics)
        for k in range(len(self)):
            t_s = k / self.fps
            scene = self.scene.with_camera(orbit_camera(self.scene, self.orbit_rad_s * t_s))
            rng = np.random.default_rng([self.seed, 9, k])
            stamp_ns = SDF_START_NS + round(t_s * 1e9)
            synth = synthesize(scene, renderer, self.sensor, rng, stamp_ns=stamp_ns, index=k)
            yield _source_frame(synth, self.give_masks)
