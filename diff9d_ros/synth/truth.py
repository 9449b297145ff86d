"""A rendered, sensor-corrupted frame with its per-object ground truth.

Ground truth follows the NOCS annotation (Wang et al., CVPR 2019, Sec. 3-4): per object the
category, instance id, pose of the canonical frame in the camera optical frame (R, t = box
centre), metric box size, plus what the benchmark's symmetry handling needs: whether rotation
about y is free in this view (bottle, bowl, can always; mug only when its handle is hidden).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff9d_ros.geometry.boxes import box_corners
from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.nocs import SYMMETRY, Detection
from diff9d_ros.synth.noise import SensorModel, corrupt_depth, corrupt_rgb
from diff9d_ros.synth.render import Renderer, camera_from_object
from diff9d_ros.synth.scene import Scene

#: A mug's handle counts as visible when at least this fraction of its surface samples is seen.
HANDLE_VISIBLE_MIN_FRACTION = 0.05
#: Default optical frame id (RealSense naming, as in realsense-ros).
OPTICAL_FRAME_ID = "camera_color_optical_frame"


@dataclass
class ObjectTruth:
    """Ground truth of one category object in one frame.

    ``detection`` carries category, rotation, translation_m (box centre, optical frame), size_m,
    ``mask_id`` (its value in the instance mask) and ``track_id`` (stable object id as a string).
    ``symmetric``: rotation about the canonical y axis is unobservable in this view.
    ``handle_visible`` / ``handle_visible_fraction`` are None for everything but mugs.
    ``visible_fraction`` = visible pixels / pixels it would cover unoccluded and untruncated.
    ``family`` is the object mesh's sub-family (:mod:`diff9d_ros.synth.families`, or a mesh
    folder's family), for per-family reports.
    """

    detection: Detection
    instance_id: int
    symmetric: bool
    handle_visible: bool | None
    handle_visible_fraction: float | None
    visible_pixels: int
    visible_fraction: float
    family: str = ""

    @property
    def category(self) -> str:
        return self.detection.category

    @property
    def mask_id(self) -> int:
        return self.detection.mask_id


@dataclass
class SynthFrame:
    """One synthetic frame: the RGB-D frame the pipeline reads, its ground truth and camera pose."""

    frame: RGBDFrame
    objects: list[ObjectTruth]
    camera_pose: np.ndarray  # 4x4 world (table) from optical frame
    index: int = 0


def synthesize(
    scene: Scene,
    renderer: Renderer,
    sensor: SensorModel,
    rng: np.random.Generator,
    *,
    stamp_ns: int = 0,
    index: int = 0,
    frame_id: str = OPTICAL_FRAME_ID,
) -> SynthFrame:
    """Render ``scene``, apply ``sensor`` and collect the ground truth of every category object."""
    result = renderer.render(scene)
    rgb = corrupt_rgb(result.linear_rgb, sensor, rng)
    depth_m = corrupt_depth(result.depth_m, result.view_cos, result.albedo_luminance, sensor, rng)
    visible_counts = np.bincount(result.instance_mask.ravel())
    objects = []
    for obj in scene.category_objects():
        transform = camera_from_object(scene, obj)
        visible = int(visible_counts[obj.mask_id]) if obj.mask_id < len(visible_counts) else 0
        if np.any(box_corners(transform[:3, :3], transform[:3, 3], obj.size_m())[:, 2] <= 0):
            continue  # a moving camera inside or beside the object: no box to score it against
        full = renderer.unoccluded_pixels(scene, obj, result)
        handle_fraction = None
        handle_visible = None
        symmetric = SYMMETRY[obj.kind] == "y"
        if obj.kind == "mug":
            handle_fraction = renderer.handle_visible_fraction(scene, obj, result)
            handle_visible = handle_fraction >= HANDLE_VISIBLE_MIN_FRACTION
            symmetric = not handle_visible
        detection = Detection(
            category=obj.kind,
            rotation=transform[:3, :3],
            translation_m=transform[:3, 3],
            size_m=obj.size_m(),
            mask_id=obj.mask_id,
            track_id=str(obj.mask_id),
        )
        objects.append(
            ObjectTruth(
                detection=detection,
                instance_id=obj.instance_id,
                symmetric=symmetric,
                handle_visible=handle_visible,
                handle_visible_fraction=handle_fraction,
                visible_pixels=visible,
                visible_fraction=visible / full if full else 0.0,
                family=obj.family,
            )
        )
    frame = RGBDFrame(
        rgb=rgb,
        depth_m=depth_m,
        intrinsics=renderer.intrinsics,
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        instance_mask=result.instance_mask,
        categories={o.mask_id: o.kind for o in scene.category_objects()},
    )
    return SynthFrame(frame=frame, objects=objects, camera_pose=scene.camera_pose.copy(), index=index)
