"""camera_node's frame handling against the real RealSense SDK (software device, rs.align).

Frames come out of librealsense exactly as on a camera; the node's message building is checked on
them: rgb8 and 16UC1 encodings, one header (stamp, colour optical frame) for all three messages,
colour intrinsics in CameraInfo, and the alignment assumption (depth in colour's size and frame).
"""

from __future__ import annotations

import numpy as np
import pyrealsense2 as rs
import pytest

from diff9d_ros.ros import convert
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.ros.outputs import camera_messages
from diff9d_ros.sources.realsense import frame_from_frameset
from tests.realsense_software import SoftwareD400, make_intrinsics

W, H = 64, 48


def _frames() -> list:
    camera = SoftwareD400(make_intrinsics(W, H, 40.0), make_intrinsics(W, H, 48.0))
    camera.start()
    depth_raw = np.full((H, W), 1000, np.uint16)
    depth_raw[10:20, 20:30] = 650
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = np.arange(W, dtype=np.uint8)[None, :] * 3
    align = rs.align(rs.stream.color)
    try:
        for i in range(4):
            camera.push(depth_raw, rgb, i, stamp_ms=5000.0 + 33.0 * i)
        return [(frame_from_frameset(frameset, align), rgb) for frameset in camera.paired]
    finally:
        camera.stop()


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_software_device_frames_become_consistent_messages(encoding: str) -> None:
    frames = _frames()
    assert frames, "the software device paired no frameset"
    types = convert.RosbagsTypes()
    for frame, rgb in frames:
        stamp_ns = frame.stamp_ns + 17  # the node stamps with its clock; any stamp must pass through
        out = camera_messages(frame, stamp_ns, encoding, types)
        assert out.rgb.encoding == "rgb8" and out.depth.encoding == encoding
        headers = [m.header for m in (out.rgb, out.depth, out.camera_info)]
        assert {h.frame_id for h in headers} == {"camera_color_optical_frame"}
        assert {convert.header_stamp_ns(h) for h in headers} == {stamp_ns}
        intr = convert.camera_info_to_intrinsics(out.camera_info)
        assert (intr.fx, intr.width, intr.height) == (pytest.approx(48.0), W, H)  # the colour camera's
        np.testing.assert_array_equal(convert.image_to_rgb(out.rgb), rgb)
        depth_m = convert.image_to_depth_m(out.depth)
        valid = np.isfinite(depth_m)
        assert valid.mean() > 0.9
        assert set(np.round(depth_m[valid].astype(np.float64), 3).tolist()) == {0.65, 1.0}
        # what pose_node rebuilds from the three messages is the frame the camera produced
        rebuilt = frame_from_messages(out.rgb, out.depth, out.camera_info)
        np.testing.assert_allclose(rebuilt.depth_m, frame.depth_m, atol=5e-4, equal_nan=True)
        assert rebuilt.intrinsics == frame.intrinsics


def test_device_stamps_are_librealsense_milliseconds() -> None:
    stamps = [frame.stamp_ns for frame, _ in _frames()]
    assert stamps == sorted(stamps)
    assert all(s % 1_000_000 == 0 and 5000 * 1_000_000 <= s <= 5099 * 1_000_000 for s in stamps)
