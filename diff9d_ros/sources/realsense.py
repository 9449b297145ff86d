"""Intel RealSense source: colour + depth aligned to colour, as :class:`RGBDFrame`.

Used by the ``camera_node`` and by the ROS-free runner (``diff9d run --source realsense[:SERIAL]``
or ``--source realsense-file:REC.bag``, :class:`RealSenseSource`). It mirrors what realsense-ros does with
``align_depth.enable:=true``: depth (z16) is re-projected into the colour camera by librealsense's
``rs.align`` block, so one set of intrinsics (the colour stream's) serves both images, and the
published depth is ``aligned_depth_to_color`` in the colour optical frame.

The same code reads a live camera (optionally by serial number) or a RealSense recording
(``.db3`` rosbag2 written by librealsense's recorder, or a legacy ``.bag``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.pipeline import SourceFrame

LOG = logging.getLogger(__name__)

COLOR_OPTICAL_FRAME = "camera_color_optical_frame"


@dataclass(frozen=True)
class RealSenseConfig:
    """What to open: resolution and rate of both streams, a serial or a recording file.

    ``real_time``: a recording plays at its recorded pace and drops the frames a slow reader
    misses (as a camera would); False hands every frame over, however long the reader takes.
    """

    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str = ""
    recording: str = ""
    frame_id: str = COLOR_OPTICAL_FRAME
    timeout_s: float = 2.0
    real_time: bool = True

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"realsense: resolution must be positive, got {self.width}x{self.height}")
        if self.fps not in (6, 15, 30, 60, 90):
            raise ValueError(f"realsense: fps must be one of 6, 15, 30, 60, 90, got {self.fps}")
        if self.serial and self.recording:
            raise ValueError("realsense: give either a serial number or a recording, not both")
        if self.recording and not Path(self.recording).is_file():
            raise ValueError(f"realsense: recording file not found: {self.recording}")
        if self.timeout_s <= 0:
            raise ValueError(f"realsense: timeout must be positive, got {self.timeout_s}")


def intrinsics_from_profile(profile: Any) -> Intrinsics:
    """:class:`Intrinsics` of a ``rs.video_stream_profile`` (distortion is logged, not modelled).

    D400 colour streams report (inverse) Brown-Conrady with zero coefficients; a stream with
    non-zero coefficients is used as if undistorted, with a warning.
    """
    intr = profile.as_video_stream_profile().get_intrinsics()
    if any(abs(c) > 1e-6 for c in intr.coeffs):
        LOG.warning("realsense: ignoring non-zero distortion %s (%s)", list(intr.coeffs), intr.model)
    return Intrinsics(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy)


def frame_from_frameset(frameset: Any, align: Any, frame_id: str = COLOR_OPTICAL_FRAME) -> RGBDFrame:
    """Align ``frameset``'s depth to its colour image and convert both to an :class:`RGBDFrame`.

    Depth becomes float32 metres (raw z16 times the sensor's depth units; 0 means no
    measurement and becomes NaN). ``stamp_ns`` is the colour frame's timestamp (librealsense
    milliseconds); its clock domain is logged once per source by the caller.
    """
    import pyrealsense2 as rs

    aligned = align.process(frameset)
    color = aligned.get_color_frame()
    depth = aligned.get_depth_frame()
    if not color or not depth:
        raise ValueError("realsense: frameset lacks a colour or a depth frame")
    color_format = color.get_profile().format()
    rgb = np.asanyarray(color.get_data())
    if color_format == rs.format.bgr8:
        rgb = rgb[..., ::-1]
    elif color_format != rs.format.rgb8:
        raise ValueError(f"realsense: colour format {color_format} is not rgb8 or bgr8")
    raw = np.asanyarray(depth.get_data())
    if raw.dtype != np.uint16:
        raise ValueError(f"realsense: depth frame is {raw.dtype}, expected z16 (uint16)")
    depth_m = raw.astype(np.float32) * np.float32(depth.get_units())
    depth_m[raw == 0] = np.nan
    return RGBDFrame(
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        depth_m=depth_m,
        intrinsics=intrinsics_from_profile(color.get_profile()),
        stamp_ns=round(color.get_timestamp() * 1e6),
        frame_id=frame_id,
    )


class RealSenseCamera:
    """A started ``rs.pipeline`` delivering aligned :class:`RGBDFrame` objects.

    Use as a context manager; :meth:`read` blocks up to ``timeout_s`` for the next frameset and
    raises ``TimeoutError`` when none came (camera unplugged, recording finished).
    """

    def __init__(self, config: RealSenseConfig) -> None:
        config.validate()
        self.config = config
        self._pipeline: Any = None
        self._align: Any = None
        self.intrinsics: Intrinsics | None = None
        self.depth_scale_m = float("nan")

    def start(self) -> RealSenseCamera:
        import pyrealsense2 as rs

        cfg = rs.config()
        if self.config.recording:
            cfg.enable_device_from_file(str(self.config.recording), repeat_playback=False)
        else:
            if self.config.serial:
                cfg.enable_device(self.config.serial)
            w, h, fps = self.config.width, self.config.height, self.config.fps
            cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, fps)
            cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(cfg)
        except RuntimeError as error:
            what = self.config.recording or self.config.serial or "any connected device"
            raise RuntimeError(f"realsense: could not start streaming from {what}: {error}") from error
        self._pipeline = pipeline
        self._align = rs.align(rs.stream.color)
        self.intrinsics = intrinsics_from_profile(profile.get_stream(rs.stream.color))
        device = profile.get_device()
        if self.config.recording:
            device.as_playback().set_real_time(self.config.real_time)
        depth_sensor = device.first_depth_sensor()
        self.depth_scale_m = float(depth_sensor.get_depth_scale()) if depth_sensor else float("nan")
        return self

    def read(self) -> RGBDFrame:
        if self._pipeline is None:
            raise RuntimeError("realsense: read() before start()")
        ok, frameset = self._pipeline.try_wait_for_frames(int(self.config.timeout_s * 1000))
        if not ok:
            raise TimeoutError(f"realsense: no frames within {self.config.timeout_s} s")
        return frame_from_frameset(frameset, self._align, self.config.frame_id)

    def stop(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None

    def __enter__(self) -> RealSenseCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def connected_serials() -> list[str]:
    """Serial numbers of the RealSense devices librealsense finds (USB)."""
    import pyrealsense2 as rs

    return [device.get_info(rs.camera_info.serial_number) for device in rs.context().query_devices()]


def check_connected(serial: str = "") -> None:
    """ValueError unless a RealSense (the one with ``serial``, if given) is connected."""
    found = connected_serials()
    if not found:
        raise ValueError(
            "no RealSense device is connected (librealsense finds none: check the USB 3 cable, "
            "`rs-enumerate-devices`, and the udev rules of librealsense); to replay a recording use "
            "--source realsense-file:REC.bag"
        )
    if serial and serial not in found:
        raise ValueError(f"no RealSense with serial {serial}; connected: {', '.join(found)}")


class RealSenseSource:
    """:class:`~diff9d_ros.pipeline.SourceFrame` per aligned frameset, for the ROS-free runner.

    A live camera (checked at construction: ValueError when none is connected) streams for
    ``seconds`` (None: until Ctrl-C); a recording plays to its end (or for ``seconds``), handing
    every frame over unless ``config.real_time``. A frameset that does not convert becomes a
    frame-less item with the reason; a camera that stops delivering ends the stream with ``error``.
    """

    def __init__(self, config: RealSenseConfig, seconds: float | None = None) -> None:
        config.validate()
        if seconds is not None and not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if not config.recording:
            check_connected(config.serial)
        self.config, self.seconds = config, seconds
        self.period_s = 1.0 / config.fps
        self.error: str | None = None
        what = (
            f"recording {config.recording}"
            if config.recording
            else f"camera {config.serial or '(first found)'}"
        )
        self.description = f"RealSense {what}, depth aligned to colour"

    def __iter__(self) -> Iterator[SourceFrame]:
        with RealSenseCamera(self.config) as camera:
            LOG.info(
                "realsense: colour intrinsics %s, depth scale %.6g m", camera.intrinsics, camera.depth_scale_m
            )
            first_ns = None
            while True:
                try:
                    frame = camera.read()
                except TimeoutError as error:
                    if not self.config.recording:
                        self.error = f"{error}: camera unplugged or stalled"
                    return
                except (RuntimeError, ValueError) as error:
                    yield SourceFrame(0, error=f"source: {error}")
                    continue
                first_ns = frame.stamp_ns if first_ns is None else first_ns
                if self.seconds is not None and frame.stamp_ns - first_ns >= self.seconds * 1e9:
                    return
                yield SourceFrame(frame.stamp_ns, frame=frame)
