"""sensor_msgs/CompressedImage as image_transport writes it, through real CDR and real rosbag2 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.bag.io import BagWriter
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_compressed import DEPTH_HEADER, RVL_DEPTH
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.ros.nodes.launch_arguments import NODE_ARGUMENTS, bag_topic_arguments
from diff9d_ros.ros.typestore import cdr_round_trip
from diff9d_ros.sources.bag import BagSource, topics_for_bag

TYPES = convert.RosbagsTypes()
K = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)


def _smooth_rgb() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


def _depth_m() -> np.ndarray:
    depth = np.random.default_rng(0).uniform(0.3, 3.0, (48, 64)).astype(np.float32)
    depth[0, :5] = np.nan
    return depth


def test_colour_round_trips_png_exactly_and_jpeg_closely() -> None:
    rgb = _smooth_rgb()
    png = cdr_round_trip(convert.rgb_to_compressed(rgb, 7, "cam", TYPES, image_format="png"))
    assert png.format == "rgb8; png compressed bgr8" and convert.header_stamp_ns(png.header) == 7
    np.testing.assert_array_equal(convert.compressed_to_rgb(png), rgb)
    jpeg = cdr_round_trip(convert.rgb_to_compressed(rgb, 7, "cam", TYPES))
    assert jpeg.format == "rgb8; jpeg compressed bgr8"
    assert np.abs(convert.message_to_rgb(jpeg).astype(int) - rgb).mean() < 2.0


@pytest.mark.parametrize(("encoding", "power", "tolerance"), [("16UC1", 0, 0.0005), ("32FC1", 2, 6e-5)])
def test_compressed_depth_round_trips(encoding: str, power: int, tolerance: float) -> None:
    """16UC1: millimetres in a 16-bit PNG (error <= 0.5 mm); 32FC1: quantised inverse depth, whose
    error grows with depth squared (half a step of 1 / 10100 per metre)."""
    depth = _depth_m()
    msg = cdr_round_trip(convert.depth_to_compressed(depth, 7, "cam", TYPES, encoding=encoding))
    assert msg.format == f"{encoding}; compressedDepth png"
    out = convert.message_to_depth_m(msg)
    assert np.isnan(out[0, :5]).all()
    valid = ~np.isnan(depth)
    assert np.max(np.abs(out[valid] - depth[valid]) / depth[valid] ** power) < tolerance


def test_compressed_sets_become_frames() -> None:
    rgb, depth = _smooth_rgb(), _depth_m()
    frame = frame_from_messages(
        convert.rgb_to_compressed(rgb, 5, "cam", TYPES, image_format="png"),
        convert.depth_to_compressed(depth, 5, "cam", TYPES),
        convert.intrinsics_to_camera_info(K, 5, "cam", TYPES),
    )
    np.testing.assert_array_equal(frame.rgb, rgb)
    assert frame.stamp_ns == 5 and frame.frame_id == "cam" and frame.depth_m.shape == (48, 64)


def test_bad_compressed_images_are_named() -> None:
    good = convert.rgb_to_compressed(_smooth_rgb(), 5, "cam", TYPES)
    truncated = convert.rgb_to_compressed(_smooth_rgb(), 5, "cam", TYPES)
    truncated.data = truncated.data[:30]
    with pytest.raises(ValueError, match="not a readable JPEG/PNG"):
        convert.compressed_to_rgb(truncated)
    with pytest.raises(ValueError, match="as depth; expected '16UC1; compressedDepth png'"):
        convert.compressed_to_depth_m(good)
    depth = convert.depth_to_compressed(_depth_m(), 5, "cam", TYPES)
    with pytest.raises(ValueError, match="as colour \\(it is depth\\)"):
        convert.compressed_to_rgb(depth)
    rvl = convert.depth_to_compressed(_depth_m(), 5, "cam", TYPES)
    rvl.data = np.concatenate([np.frombuffer(DEPTH_HEADER.pack(RVL_DEPTH, 0, 0), np.uint8), rvl.data[12:]])
    with pytest.raises(ValueError, match="RVL"):
        convert.compressed_to_depth_m(rvl)


def _compressed_bag(path: Path, prefix: str) -> Path:
    with BagWriter(path) as bag:
        for i in range(3):
            stamp = 1_000_000_000 + i * 100_000_000
            bag.write(
                f"{prefix}/color/image_raw/compressed",
                convert.rgb_to_compressed(_smooth_rgb(), stamp, "cam", TYPES),
                stamp,
            )
            bag.write(
                f"{prefix}/aligned_depth_to_color/image_raw/compressedDepth",
                convert.depth_to_compressed(_depth_m(), stamp, "cam", TYPES),
                stamp,
            )
            bag.write(
                f"{prefix}/color/camera_info",
                convert.intrinsics_to_camera_info(K, stamp, "cam", TYPES),
                stamp,
            )
    return path


def test_a_realsense_ros_4_bag_of_compressed_images_is_found_and_read(tmp_path: Path) -> None:
    bag = _compressed_bag(tmp_path / "rs4", "/camera/camera")
    topics = topics_for_bag(bag)
    assert topics.rgb == "/camera/camera/color/image_raw/compressed"
    assert topics.depth == "/camera/camera/aligned_depth_to_color/image_raw/compressedDepth"
    frames = list(BagSource(bag, topics))
    assert len(frames) == 3 and all(f.frame is not None for f in frames)
    given = {name: default for name, (default, _) in NODE_ARGUMENTS.items()}
    arguments, note = bag_topic_arguments(str(bag), given)
    assert arguments["rgb_topic"] == topics.rgb and arguments["rgb_transport"] == "compressed"
    assert arguments["depth_transport"] == "compressedDepth" and "camera topics" in note


def test_bag_launch_arguments_keep_what_the_user_gave_and_list_unknown_bags(tmp_path: Path) -> None:
    bag = _compressed_bag(tmp_path / "other", "/cam")
    given = {name: default for name, (default, _) in NODE_ARGUMENTS.items()}
    arguments, note = bag_topic_arguments(str(bag), given)
    assert (
        arguments == given and "no preset's camera topics found" in note and "/cam/color/camera_info" in note
    )
    given |= {
        "rgb_topic": "/cam/color/image_raw",
        "depth_topic": "/cam/aligned_depth_to_color/image_raw",
        "camera_info_topic": "/cam/color/camera_info",
    }
    arguments, _ = bag_topic_arguments(str(bag), given)
    assert arguments["rgb_topic"] == "/cam/color/image_raw/compressed"
    with pytest.raises(ValueError, match="does not exist"):
        bag_topic_arguments(str(tmp_path / "absent"), given)
