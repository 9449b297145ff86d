"""rosbag2 write + read in both storages, and clear errors for missing, truncated and corrupt bags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.bag.io import STORAGES, BagError, BagWriter, bag_topics, read_messages
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.ros import convert

TYPES = convert.RosbagsTypes()
FRAME = "camera_color_optical_frame"
FRAMES = 5
T0_NS = 1_700_000_000_000_000_000


def frame_rgb(index: int) -> np.ndarray:
    return np.full((6, 8, 3), index * 10, dtype=np.uint8) + np.arange(8, dtype=np.uint8)[None, :, None]


def write_demo_bag(path: Path, storage: str) -> None:
    """FRAMES frames of rgb, depth, camera info and detections, one TF and a marker array."""
    with BagWriter(path, storage=storage) as bag:
        for index in range(FRAMES):
            stamp_ns = T0_NS + index * 33_000_000
            depth_m = np.full((6, 8), 0.5 + index / 100.0)
            detection = Detection(
                "can", np.eye(3), [0.0, 0.0, 0.5 + index], [0.06, 0.12, 0.06], track_id=str(index)
            )
            bag.write(
                "/camera/color/image_raw",
                convert.rgb_to_image(frame_rgb(index), stamp_ns, FRAME, TYPES),
                stamp_ns,
            )
            bag.write(
                "/camera/aligned_depth_to_color/image_raw",
                convert.depth_to_image(depth_m, stamp_ns, FRAME, TYPES, encoding="16UC1"),
                stamp_ns + 1,
            )
            bag.write(
                "/camera/color/camera_info",
                convert.intrinsics_to_camera_info(Intrinsics.realsense_d435(8, 6), stamp_ns, FRAME, TYPES),
                stamp_ns,
            )
            bag.write(
                "/diff9d/detections",
                convert.detections_to_msg([detection], stamp_ns, FRAME, TYPES),
                stamp_ns + 2,
            )
        world = convert.FrameTransform("world", FRAME, np.eye(4), T0_NS)
        bag.write("/tf_static", convert.frame_transforms_to_tf([world], TYPES), T0_NS)
        bag.write("/diff9d/markers", convert.axes_to_markers([np.eye(4)], T0_NS, FRAME, TYPES), T0_NS + 3)


@pytest.fixture(params=list(STORAGES))
def demo_bag(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"demo_{request.param}"
    write_demo_bag(path, request.param)
    return path


def test_write_then_read_preserves_types_stamps_frames_and_content(demo_bag: Path) -> None:
    assert bag_topics(demo_bag) == {
        "/camera/color/image_raw": "sensor_msgs/msg/Image",
        "/camera/aligned_depth_to_color/image_raw": "sensor_msgs/msg/Image",
        "/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
        "/diff9d/detections": "vision_msgs/msg/Detection3DArray",
        "/tf_static": "tf2_msgs/msg/TFMessage",
        "/diff9d/markers": "visualization_msgs/msg/MarkerArray",
    }
    messages = list(read_messages(demo_bag))
    assert len(messages) == 4 * FRAMES + 2
    stamps = [stamp for _, stamp, _ in messages]
    assert stamps == sorted(stamps)
    by_topic: dict[str, list] = {}
    for topic, stamp_ns, msg in messages:
        by_topic.setdefault(topic, []).append((stamp_ns, msg))
    for index, (stamp_ns, msg) in enumerate(by_topic["/camera/color/image_raw"]):
        assert stamp_ns == T0_NS + index * 33_000_000 == convert.header_stamp_ns(msg.header)
        assert msg.header.frame_id == FRAME
        assert np.array_equal(convert.image_to_rgb(msg), frame_rgb(index))
    for index, (stamp_ns, msg) in enumerate(by_topic["/camera/aligned_depth_to_color/image_raw"]):
        assert stamp_ns == T0_NS + index * 33_000_000 + 1
        np.testing.assert_allclose(convert.image_to_depth_m(msg), 0.5 + index / 100.0, rtol=1e-6)
    for _, msg in by_topic["/camera/color/camera_info"]:
        assert convert.camera_info_to_intrinsics(msg) == Intrinsics.realsense_d435(8, 6)
    for index, (_, msg) in enumerate(by_topic["/diff9d/detections"]):
        (detection,) = convert.msg_to_detections(msg)
        assert detection.track_id == str(index) and detection.translation_m[2] == pytest.approx(0.5 + index)
    ((_, tf),) = by_topic["/tf_static"]
    assert [(t.parent_frame, t.child_frame) for t in convert.tf_to_frame_transforms(tf)] == [("world", FRAME)]


def test_topic_filter_and_missing_topic(demo_bag: Path) -> None:
    selected = list(read_messages(demo_bag, topics=["/diff9d/detections"]))
    assert len(selected) == FRAMES and {topic for topic, _, _ in selected} == {"/diff9d/detections"}
    with pytest.raises(BagError, match=r"has no topic.* /camera/depth/image_rect_raw; it has: /camera/"):
        list(read_messages(demo_bag, topics=["/camera/depth/image_rect_raw", "/diff9d/detections"]))


def test_truncated_bag_is_read_to_the_cut_or_a_clear_error(demo_bag: Path) -> None:
    """MCAP: the complete records before the cut (a recorder killed mid-file); sqlite3: an error."""
    (storage_file,) = [f for f in demo_bag.iterdir() if f.suffix in (".mcap", ".db3")]
    whole = list(read_messages(demo_bag))
    data = storage_file.read_bytes()
    storage_file.write_bytes(data[: len(data) // 2])
    if storage_file.suffix == ".mcap":
        kept = list(read_messages(demo_bag))
        assert 0 < len(kept) < len(whole)
        assert {(t, s) for t, s, _ in kept} < {(t, s) for t, s, _ in whole}  # in file, not time order
        assert set(bag_topics(demo_bag)) <= {t for t, _, _ in whole}
        return
    with pytest.raises(BagError, match=f"bag {demo_bag}.*(corrupt|truncated)"):
        list(read_messages(demo_bag))
    with pytest.raises(BagError):
        bag_topics(demo_bag)


def test_garbage_storage_file_is_a_clear_error(demo_bag: Path) -> None:
    (storage_file,) = [f for f in demo_bag.iterdir() if f.suffix in (".mcap", ".db3")]
    storage_file.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(BagError, match="corrupt"):
        list(read_messages(demo_bag))


def test_missing_and_non_bag_paths(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        list(read_messages(tmp_path / "nothing"))
    with pytest.raises(BagError, match="does not exist"):
        bag_topics(tmp_path / "nothing")
    (tmp_path / "file.mcap").write_bytes(b"\x89MCAP0\r\n")
    with pytest.raises(BagError, match="not a rosbag2 directory"):
        bag_topics(tmp_path / "file.mcap")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(BagError, match="cannot open bag"):
        bag_topics(tmp_path / "empty_dir")


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="unknown bag storage 'rosbag1'"):
        BagWriter(tmp_path / "a", storage="rosbag1")
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="already exists"):
        BagWriter(tmp_path / "exists")
    image = convert.rgb_to_image(frame_rgb(0), 0, FRAME, TYPES)
    with BagWriter(tmp_path / "b") as bag:
        bag.write("/image", image, 0)
        with pytest.raises(
            BagError, match="carries sensor_msgs/msg/Image, cannot write a sensor_msgs/msg/CameraInfo"
        ):
            bag.write(
                "/image", convert.intrinsics_to_camera_info(Intrinsics.realsense_d435(), 0, FRAME, TYPES), 1
            )
        with pytest.raises(BagError, match="cannot tell the ROS type"):
            bag.write("/other", object(), 1)
        with pytest.raises(BagError, match="non-negative"):
            bag.write("/image", image, -5)
    with pytest.raises(BagError, match="not open"):
        bag.write("/image", image, 2)
    assert [topic for topic, _, _ in read_messages(tmp_path / "b")] == ["/image"]
