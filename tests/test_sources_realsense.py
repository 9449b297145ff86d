"""The RealSense source against the real SDK: software device, rs.align, recorder and playback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyrealsense2 as rs
import pytest

from diff9d_ros.sources.realsense import (
    RealSenseCamera,
    RealSenseConfig,
    frame_from_frameset,
)
from tests.realsense_software import SoftwareD400, make_intrinsics

W, H = 96, 72


def _scene(depth_intr: rs.intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """A wall at 1.2 m in the depth image with a square block at 0.8 m; a colour gradient."""
    depth_raw = np.full((depth_intr.height, depth_intr.width), 1200, np.uint16)
    depth_raw[20:40, 30:50] = 800
    depth_raw[0, 0] = 0  # a hole
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = np.arange(W, dtype=np.uint8)[None, :] * 2
    rgb[..., 1] = np.arange(H, dtype=np.uint8)[:, None] * 3
    return depth_raw, rgb


def test_aligned_frame_has_colour_intrinsics_metres_and_stamp() -> None:
    cam = SoftwareD400(make_intrinsics(W, H, 50.0), make_intrinsics(W, H, 60.0))
    cam.start()
    depth_raw, rgb = _scene(cam.depth_intr)
    try:
        for i in range(3):
            cam.push(depth_raw, rgb, i, stamp_ms=1000.0 + 33.0 * i)
        frameset = cam.paired[-1]
        frame = frame_from_frameset(frameset, rs.align(rs.stream.color))
    finally:
        cam.stop()
    frame.validate()
    assert frame.intrinsics.fx == pytest.approx(60.0)
    assert (frame.intrinsics.width, frame.intrinsics.height) == (W, H)
    assert frame.stamp_ns == round(frameset.get_color_frame().get_timestamp() * 1e6)
    assert frame.stamp_ns in {1000 * 1_000_000, 1033 * 1_000_000, 1066 * 1_000_000}
    assert frame.frame_id == "camera_color_optical_frame"
    np.testing.assert_array_equal(frame.rgb, rgb)
    valid = np.isfinite(frame.depth_m)
    # Alignment re-projects into the colour camera: the wall stays at 1.2 m, the block at 0.8 m,
    # both in metres; the depth camera's wider FOV covers the colour image but for few holes.
    assert valid.mean() > 0.9
    values = set(np.unique(np.round(frame.depth_m[valid].astype(np.float64), 4)).tolist())
    assert values == {0.8, 1.2}
    # The block lands where the pinhole model puts it in the colour camera: depth column u_d at
    # z = 0.8 m maps to u_c = f_c * ((u_d - c_d) * z / f_d + baseline) / z + c_c.
    near_cols = np.nonzero(np.any(frame.depth_m < 1.0, axis=0))[0]
    c = (W - 1) / 2.0
    expected = [60.0 * ((u - c) * 0.8 / 50.0 + 0.015) / 0.8 + c for u in (29.5, 49.5)]
    assert near_cols.min() == pytest.approx(expected[0], abs=1.0)
    assert near_cols.max() + 1 == pytest.approx(expected[1], abs=1.0)


def test_depth_units_other_than_millimetres() -> None:
    intr = make_intrinsics(W, H, 60.0)
    cam = SoftwareD400(intr, intr, baseline_m=0.0, depth_units_m=0.0001)
    cam.start()
    depth_raw = np.full((H, W), 5000, np.uint16)
    try:
        for i in range(3):
            cam.push(depth_raw, np.zeros((H, W, 3), np.uint8), i, stamp_ms=10.0 * i)
        frame = frame_from_frameset(cam.paired[-1], rs.align(rs.stream.color))
    finally:
        cam.stop()
    assert np.nanmedian(frame.depth_m) == pytest.approx(0.5, abs=1e-4)


def _record(tmp_path: Path, frames: int, period_ms: float) -> tuple[Path, np.ndarray]:
    """A recording of ``frames`` software-device framesets of :func:`_scene`; its path and colour image."""
    intr = make_intrinsics(W, H, 60.0)
    cam = SoftwareD400(intr, intr, baseline_m=0.0)
    path = tmp_path / "software.db3"
    recorder = rs.recorder(str(path), cam.device)
    cam.start(recorder.query_sensors())
    depth_raw, rgb = _scene(intr)
    for i in range(frames):
        cam.push(depth_raw, rgb, i, stamp_ms=period_ms * i)
    cam.stop()
    del recorder
    return path, rgb


def test_recording_plays_back_through_the_camera_source(tmp_path: Path) -> None:
    path, rgb = _record(tmp_path, frames=6, period_ms=33.0)
    assert path.stat().st_size > 0

    frames = []
    with RealSenseCamera(RealSenseConfig(recording=str(path), timeout_s=2.0)) as camera:
        assert camera.intrinsics is not None and camera.intrinsics.fx == pytest.approx(60.0)
        try:
            while len(frames) < 10:
                frames.append(camera.read())
        except TimeoutError:
            pass
    assert frames, "the recording played back no frame"
    for frame in frames:
        frame.validate()
        assert np.nanmax(frame.depth_m) == pytest.approx(1.2, abs=1e-3)
        np.testing.assert_array_equal(frame.rgb, rgb)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0}, "resolution"),
        ({"fps": 31}, "fps"),
        ({"serial": "123", "recording": "x.db3"}, "either"),
        ({"recording": "/nonexistent/file.db3"}, "not found"),
    ],
)
def test_bad_config_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RealSenseConfig(**kwargs).validate()


def test_run_command_plays_a_recording_through_the_stack(tmp_path: Path) -> None:
    """`diff9d run --source realsense-file:REC` hands every recorded frame to the stack (no real-time
    drops) and writes the report; the device's intrinsics reach the frames."""
    import json

    from diff9d_ros.cli import main

    path, _ = _record(tmp_path, frames=8, period_ms=100.0)
    out = tmp_path / "run"
    options = ["--pose", "baseline", "--forecast", "constant_velocity", "--overlays", "0"]
    assert main(["run", "--source", f"realsense-file:{path}", *options, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["info"]["source"].startswith(f"RealSense recording {path}")
    throughput = report["metrics"]["throughput"]
    assert throughput["frames_in"] >= 6 and throughput["processed"] == throughput["frames_in"]
    assert report["info"]["threads"] == 1
