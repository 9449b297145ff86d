"""The ROS-free runner end to end: every frame accounted for, real ROS 2 messages in the bag."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from diff9d_ros.bag.io import bag_topics, read_messages
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pipeline import PipelineConfig, SourceFrame
from diff9d_ros.ros import convert
from diff9d_ros.runner import run_stack
from diff9d_ros.sources.synthetic import SyntheticSource


class BrokenInSlots:
    """A real synthetic source where frame 2 is a source failure and frame 4 has NaN-only depth."""

    def __init__(self) -> None:
        self.inner = SyntheticSource(
            seconds=0.6, fps=10, seed=5, intrinsics=Intrinsics.realsense_d435(320, 240)
        )
        self.description = "broken synthetic"

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        for k, item in enumerate(self.inner):
            if k == 2:
                yield SourceFrame(
                    item.stamp_ns, error="source: test: image encoding 'yuv422' is not supported"
                )
                continue
            if k == 4:
                item.frame.depth_m = np.full_like(item.frame.depth_m, np.nan)
            yield item


@pytest.mark.slow
def test_runner_writes_messages_overlays_and_report(tmp_path) -> None:
    config = PipelineConfig(pose_backend="baseline", forecast_backend="constant_velocity", tracker_min_hits=2)
    result = run_stack(BrokenInSlots(), config, tmp_path / "out", overlays=2, progress=False)
    statuses = [(r.index, r.status, r.stage) for r in result.records]
    assert [s[0] for s in statuses] == list(range(6))
    assert statuses[2] == (2, "failed", "source") and statuses[4] == (4, "failed", "input")
    assert all(s[1] == "ok" for s in statuses if s[0] not in (2, 4))

    bag = tmp_path / "out" / "bag"
    topics = bag_topics(bag)
    assert topics["/diff9d/detections"] == "vision_msgs/msg/Detection3DArray"
    assert topics["/diff9d/grasps"] == "geometry_msgs/msg/PoseArray"
    assert topics["/diff9d/forecasts"] == "nav_msgs/msg/Path"
    assert topics["/diff9d/markers"] == "visualization_msgs/msg/MarkerArray"
    detections = [m for _, _, m in read_messages(bag, ["/diff9d/detections"])]
    assert len(detections) == 4  # one per processed frame
    ok = [r for r in result.records if r.status == "ok"]
    for msg, record in zip(detections, ok, strict=True):
        back = convert.msg_to_detections(msg)
        assert [d.category for d in back] == [d.category for d in record.detections]
        assert convert.header_stamp_ns(msg.header) == record.stamp_ns
    paths = list(read_messages(bag, ["/diff9d/forecasts"]))
    assert paths and all(len(m.poses) == config.forecast_horizon for _, _, m in paths)

    assert len(result.overlays) == 2
    assert Image.open(result.overlays[0]).size == (320, 240)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    reasons = {r["index"]: r["reason"] for r in report["not_processed"]}
    assert "yuv422" in reasons[2] and "no valid measurement" in reasons[4]
    assert report["info"]["pose_backend"] == "baseline"
    assert "constant_velocity" in report["info"]["forecast_backend"]
    assert report["metrics"]["pose"]["mean"]["IoU25"] > 0
    text = result.report_path.read_text()
    assert "no trained Diff9D model" in text and "Failures" in text


@pytest.mark.slow
def test_realtime_mode_accounts_for_every_frame(tmp_path) -> None:
    source = SyntheticSource(seconds=0.4, fps=20, seed=2, intrinsics=Intrinsics.realsense_d435(320, 240))
    frames = list(source)
    config = PipelineConfig(pose_backend="baseline", forecast_backend="constant_velocity")
    result = run_stack(frames, config, tmp_path / "rt", overlays=0, realtime=True, rate=4.0, progress=False)
    assert [r.index for r in result.records] == list(range(len(frames)))
    counts = result.metrics["throughput"]
    assert counts["processed"] + counts["failed"] + counts["dropped"] == len(frames)
    assert counts["processed"] >= 1
