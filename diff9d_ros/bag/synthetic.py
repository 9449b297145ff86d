"""``diff9d synth bag``: a rendered sequence as a rosbag2 with RealSense-style topics and ground truth.

Topics (realsense-ros names and encodings; every image and the ground truth share one header):

* ``/camera/color/image_raw`` sensor_msgs/Image rgb8, ``camera_color_optical_frame``
* ``/camera/aligned_depth_to_color/image_raw`` sensor_msgs/Image 16UC1 millimetres (0 = none)
* ``/camera/color/camera_info`` sensor_msgs/CameraInfo
* ``/tf`` world -> camera_link per frame; ``/tf_static`` camera_link -> camera_color_optical_frame
  (the usual x-forward body to z-forward optical rotation), once at the start
* ``/ground_truth/detections`` vision_msgs/Detection3DArray in the optical frame, one Detection3D
  per category object with its stable id (``id`` = the object's mask id as a string)

Messages are built with ``diff9d_ros.ros.convert`` and written by ``diff9d_ros.bag.io.BagWriter``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from diff9d_ros.bag.io import BagWriter
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros import convert
from diff9d_ros.synth.library import MeshLibrary
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.sdf import LINK_FROM_OPTICAL
from diff9d_ros.synth.sequence import make_sequence
from diff9d_ros.synth.truth import OPTICAL_FRAME_ID, synthesize

TOPICS = {
    "rgb": "/camera/color/image_raw",
    "depth": "/camera/aligned_depth_to_color/image_raw",
    "camera_info": "/camera/color/camera_info",
    "tf": "/tf",
    "tf_static": "/tf_static",
    "detections": "/ground_truth/detections",
}
WORLD_FRAME_ID = "world"
CAMERA_LINK_ID = "camera_link"


def write_sequence_bag(
    out: str | Path,
    *,
    seconds: float = 10.0,
    fps: float = 15.0,
    storage: str = "mcap",
    seed: int = 0,
    split: str = "test",
    config: RandomizationConfig | None = None,
    intrinsics: Intrinsics | None = None,
    progress: bool = True,
    library: MeshLibrary | None = None,
) -> Path:
    """Render a ``make_sequence`` sequence and write it as a rosbag2 directory at ``out``
    (objects from ``library``, default the procedural instances of ``split``)."""
    config = config or RandomizationConfig()
    intrinsics = intrinsics or Intrinsics.realsense_d435()
    renderer = Renderer(intrinsics, shadows=config.shadows)
    types = convert.RosbagsTypes()
    out = Path(out)
    frames = round(seconds * fps)
    with BagWriter(out, storage=storage) as bag:
        for k, (stamp_ns, scene) in enumerate(
            tqdm(
                make_sequence(seed, seconds, fps, config, intrinsics, split, library),
                total=frames,
                disable=not progress,
            )
        ):
            if k == 0:
                static = convert.FrameTransform(CAMERA_LINK_ID, OPTICAL_FRAME_ID, LINK_FROM_OPTICAL, stamp_ns)
                bag.write(TOPICS["tf_static"], convert.frame_transforms_to_tf([static], types), stamp_ns)
            rng = np.random.default_rng([seed, 8, k])
            synth = synthesize(scene, renderer, config.sensor, rng, stamp_ns=stamp_ns, index=k)
            world_from_link = scene.camera_pose @ np.linalg.inv(LINK_FROM_OPTICAL)
            moving = convert.FrameTransform(WORLD_FRAME_ID, CAMERA_LINK_ID, world_from_link, stamp_ns)
            frame = synth.frame
            messages = {
                "tf": convert.frame_transforms_to_tf([moving], types),
                "rgb": convert.rgb_to_image(frame.rgb, stamp_ns, frame.frame_id, types),
                "depth": convert.depth_to_image(
                    frame.depth_m, stamp_ns, frame.frame_id, types, encoding="16UC1"
                ),
                "camera_info": convert.intrinsics_to_camera_info(intrinsics, stamp_ns, frame.frame_id, types),
                "detections": convert.detections_to_msg(
                    [o.detection for o in synth.objects], stamp_ns, frame.frame_id, types
                ),
            }
            for key, msg in messages.items():
                bag.write(TOPICS[key], msg, stamp_ns)
    return out
