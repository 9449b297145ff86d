"""A RealSense D400-like device made with librealsense's ``software_device``.

Real SDK code paths (stream profiles, syncer, ``rs.align``, recorder/playback) fed with
synthetic images, so the camera source is tested against the real RealSense SDK without a camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyrealsense2 as rs


def make_intrinsics(width: int, height: int, f: float) -> rs.intrinsics:
    intr = rs.intrinsics()
    intr.width, intr.height = width, height
    intr.fx = intr.fy = f
    intr.ppx, intr.ppy = (width - 1) / 2.0, (height - 1) / 2.0
    intr.model = rs.distortion.none
    intr.coeffs = [0.0] * 5
    return intr


def _video_stream(kind: rs.stream, uid: int, fmt: rs.format, bpp: int, intr: rs.intrinsics):
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = kind, 0, uid
    stream.width, stream.height, stream.fps = intr.width, intr.height, 30
    stream.bpp, stream.fmt, stream.intrinsics = bpp, fmt, intr
    return stream


@dataclass
class SoftwareD400:
    """Depth and colour sensors with their own intrinsics and a depth-to-colour extrinsic."""

    depth_intr: rs.intrinsics
    color_intr: rs.intrinsics
    baseline_m: float = 0.015
    depth_units_m: float = 0.001

    def __post_init__(self) -> None:
        self.device = rs.software_device()
        self.depth_sensor = self.device.add_sensor("Depth")
        self.color_sensor = self.device.add_sensor("Color")
        self.depth_profile = self.depth_sensor.add_video_stream(
            _video_stream(rs.stream.depth, 0, rs.format.z16, 2, self.depth_intr)
        )
        self.color_profile = self.color_sensor.add_video_stream(
            _video_stream(rs.stream.color, 1, rs.format.rgb8, 3, self.color_intr)
        )
        self.depth_sensor.add_read_only_option(rs.option.depth_units, self.depth_units_m)
        extrinsics = rs.extrinsics()
        extrinsics.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        extrinsics.translation = [self.baseline_m, 0.0, 0.0]
        self.depth_profile.register_extrinsics_to(self.color_profile, extrinsics)

    def start(self, sensors: list[rs.sensor] | None = None) -> rs.syncer:
        """Open and start both sensors (or the recorder's wrappers of them) into a syncer."""
        depth, color = sensors or (self.depth_sensor, self.color_sensor)
        self.syncer = rs.syncer()
        self.paired: list[rs.composite_frame] = []
        depth.open(self.depth_profile)
        color.open(self.color_profile)
        depth.start(self.syncer)
        color.start(self.syncer)
        self._started = (depth, color)
        return self.syncer

    def stop(self) -> None:
        for sensor in self._started:
            sensor.stop()
            sensor.close()

    def push(self, depth_raw: np.ndarray, rgb: np.ndarray, index: int, stamp_ms: float) -> None:
        """Inject one depth + colour pair; paired framesets collect in ``self.paired``."""
        for sensor, profile, image in (
            (self.depth_sensor, self.depth_profile, depth_raw),
            (self.color_sensor, self.color_profile, rgb),
        ):
            frame = rs.software_video_frame()
            frame.pixels = np.ascontiguousarray(image)
            frame.bpp = image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
            frame.stride = image.shape[1] * frame.bpp
            frame.timestamp = stamp_ms
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = index
            frame.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(frame)
        while True:
            ok, frameset = self.syncer.try_wait_for_frames(50)
            if not ok:
                return
            if frameset.get_depth_frame() and frameset.get_color_frame():
                self.paired.append(frameset)
