"""``diff9d synth bag``: a real rosbag2 that reads back with AnyReader and agrees with its ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from diff9d_ros import cli
from diff9d_ros.bag.synthetic import TOPICS, write_sequence_bag
from diff9d_ros.geometry.boxes import points_in_box
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import get_typestore
from diff9d_ros.synth.noise import RandomizationConfig

SMALL = Intrinsics.realsense_d435(160, 120)
FPS = 5.0
EXPECTED_TYPES = {
    TOPICS["rgb"]: "sensor_msgs/msg/Image",
    TOPICS["depth"]: "sensor_msgs/msg/Image",
    TOPICS["camera_info"]: "sensor_msgs/msg/CameraInfo",
    TOPICS["tf"]: "tf2_msgs/msg/TFMessage",
    TOPICS["tf_static"]: "tf2_msgs/msg/TFMessage",
    TOPICS["detections"]: "vision_msgs/msg/Detection3DArray",
}


def _read(path: Path) -> dict[str, list[tuple[int, object]]]:
    out: dict[str, list[tuple[int, object]]] = {}
    with AnyReader([path], default_typestore=get_typestore()) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == EXPECTED_TYPES
        for connection, stamp_ns, raw in reader.messages():
            out.setdefault(connection.topic, []).append(
                (stamp_ns, reader.deserialize(raw, connection.msgtype))
            )
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_reads_back_and_agrees_with_rendered_depth(tmp_path: Path, storage: str) -> None:
    config = RandomizationConfig.for_domain("clean", objects_range=(3, 4), distractors_range=(0, 0))
    path = write_sequence_bag(
        tmp_path / f"seq_{storage}",
        seconds=1.2,
        fps=FPS,
        storage=storage,
        seed=3,
        config=config,
        intrinsics=SMALL,
        progress=False,
    )
    topics = _read(path)
    frames = 6
    assert len(topics[TOPICS["tf_static"]]) == 1
    static = convert.tf_to_frame_transforms(topics[TOPICS["tf_static"]][0][1])[0]
    assert (static.parent_frame, static.child_frame) == ("camera_link", "camera_color_optical_frame")
    stamps = [stamp for stamp, _ in topics[TOPICS["rgb"]]]
    assert len(stamps) == frames
    np.testing.assert_allclose(np.diff(stamps), 1e9 / FPS, atol=1)
    ids_per_frame = []
    for k in range(frames):
        stamp, rgb_msg = topics[TOPICS["rgb"]][k]
        _, depth_msg = topics[TOPICS["depth"]][k]
        _, info_msg = topics[TOPICS["camera_info"]][k]
        _, tf_msg = topics[TOPICS["tf"]][k]
        _, det_msg = topics[TOPICS["detections"]][k]
        assert rgb_msg.encoding == "rgb8" and depth_msg.encoding == "16UC1"
        for msg in (rgb_msg, depth_msg, info_msg, det_msg):
            assert convert.header_stamp_ns(msg.header) == stamp
            assert msg.header.frame_id == "camera_color_optical_frame"
        assert convert.camera_info_to_intrinsics(info_msg) == SMALL
        assert convert.image_to_rgb(rgb_msg).shape == (120, 160, 3)
        depth_m = convert.image_to_depth_m(depth_msg)
        world = convert.tf_to_frame_transforms(tf_msg)[0]
        assert (world.parent_frame, world.child_frame, world.stamp_ns) == ("world", "camera_link", stamp)
        world_from_optical = world.transform @ static.transform
        detections = convert.msg_to_detections(det_msg)
        ids_per_frame.append(sorted(d.track_id for d in detections))
        # Every depth point above the table top lies in some ground-truth box (no distractors here).
        points = SMALL.backproject(depth_m)
        height = points @ world_from_optical[:3, :3].T[:, 2] + world_from_optical[2, 3]
        raised = points[height > 0.004]
        inside = np.zeros(len(raised), dtype=bool)
        for det in detections:
            in_box = points_in_box(raised, det.rotation, det.translation_m, det.size_m, tolerance_m=2e-3)
            inside |= in_box
        assert len(raised) > 100 and inside.mean() > 0.99
    assert all(ids == ids_per_frame[0] for ids in ids_per_frame)  # stable object ids


def test_bag_command(tmp_path: Path) -> None:
    out = tmp_path / "cli_bag"
    args = ["synth", "bag", "--out", str(out), "--seconds", "0.4", "--fps", "5", "--storage", "sqlite3"]
    assert cli.main([*args, "--width", "80", "--height", "60", "--domain", "realsense"]) == 0
    assert (out / "metadata.yaml").is_file()
    with pytest.raises(ValueError, match="already exists"):
        write_sequence_bag(out, seconds=0.2, fps=5, intrinsics=SMALL, progress=False)


def test_sequence_objects_move_without_overlapping() -> None:
    from diff9d_ros.synth.scene import footprint_radius_m
    from diff9d_ros.synth.sequence import make_sequence

    config = RandomizationConfig(objects_range=(3, 3), distractors_range=(0, 0))
    moved = []
    for seed in range(3):
        scenes = [scene for _, scene in make_sequence(seed, 3.0, 5.0, config, SMALL)]
        first, last = scenes[0].category_objects(), scenes[-1].category_objects()
        moved.append(
            max(np.linalg.norm(a.pose[:2, 3] - b.pose[:2, 3]) for a, b in zip(first, last, strict=True))
        )
        assert len({tuple(np.round(s.camera_pose[:3, 3], 6)) for s in scenes}) == len(scenes)  # camera moves
        for scene in scenes:
            objs = scene.category_objects()
            for i, a in enumerate(objs):
                for b in objs[i + 1 :]:
                    gap = np.linalg.norm(a.pose[:2, 3] - b.pose[:2, 3])
                    assert gap >= footprint_radius_m(a.mesh(), a.pose[:3, :3]) + footprint_radius_m(
                        b.mesh(), b.pose[:3, :3]
                    )
    assert max(moved) > 0.03
