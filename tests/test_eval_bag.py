"""Bag replay and offline evaluation: pairing by stamps, clear errors, metrics on known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diff9d_ros.bag.evaluate import (
    FrameRecord,
    forecast_error_table,
    forecast_errors,
    id_switches,
    mean_forecast_errors,
)
from diff9d_ros.bag.io import BagError, BagWriter
from diff9d_ros.bag.synthetic import write_sequence_bag
from diff9d_ros.cli import main
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.ros import convert
from diff9d_ros.sources.bag import BagSource, topics_from_options

K = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)


@pytest.fixture(scope="module")
def synth_bag(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bags") / "seq"
    write_sequence_bag(
        out, seconds=0.8, fps=10, intrinsics=Intrinsics.realsense_d435(320, 240), progress=False
    )
    return str(out)


def _write_rgbd(path, rgb_stamps, depth_stamps, info_stamps, topics=None) -> None:
    types = convert.RosbagsTypes()
    topics = topics or topics_from_options("synth")
    rgb = np.zeros((K.height, K.width, 3), np.uint8)
    depth = np.full((K.height, K.width), 0.8, np.float32)
    events = [(s, topics.rgb, convert.rgb_to_image(rgb, s, "cam", types)) for s in rgb_stamps]
    events += [
        (s, topics.depth, convert.depth_to_image(depth, s, "cam", types, encoding="32FC1"))
        for s in depth_stamps
    ]
    events += [(s, topics.info, convert.intrinsics_to_camera_info(K, s, "cam", types)) for s in info_stamps]
    with BagWriter(path) as bag:  # received in stamp order, as recorded live
        for stamp, topic, msg in sorted(events, key=lambda event: event[0]):
            bag.write(topic, msg, stamp)


def test_synthetic_bag_replays_with_ground_truth(synth_bag) -> None:
    source = BagSource(synth_bag, gt_topic="/ground_truth/detections")
    items = list(source)
    assert len(items) == len(source) == 8
    assert all(item.frame is not None and item.truth for item in items)
    assert source.period_s == pytest.approx(0.1)
    assert items[0].frame.depth_m.shape == (240, 320)


def test_camera_poses_come_from_the_bags_tf_in_the_tracking_frame(synth_bag, tmp_path) -> None:
    """A synth bag's /tf (world -> camera_link, camera_link -> optical) gives each frame the pose the
    sequence rendered it from; a frame the tree cannot reach is reported; a bag without /tf is
    refused when a tracking frame is asked for."""
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.sequence import make_sequence

    items = list(BagSource(synth_bag, tracking_frame="world"))
    rendered = make_sequence(0, 0.8, 10, RandomizationConfig(), Intrinsics.realsense_d435(320, 240), "test")
    for item, (stamp_ns, scene) in zip(items, rendered, strict=True):
        assert item.stamp_ns == stamp_ns
        np.testing.assert_allclose(item.frame.camera_pose, scene.camera_pose, atol=1e-6)
    assert all(item.frame.camera_pose is None for item in BagSource(synth_bag))
    (first, *_) = BagSource(synth_bag, tracking_frame="odom")
    assert first.frame is None and "no transform from 'camera_color_optical_frame' to 'odom'" in first.error
    _write_rgbd(tmp_path / "no_tf", [10**8], [10**8], [10**8])
    with pytest.raises(BagError, match="has no /tf or /tf_static: no camera poses in tracking frame 'odom'"):
        BagSource(tmp_path / "no_tf", tracking_frame="odom")


def test_missing_topics_name_what_the_bag_has(synth_bag) -> None:
    with pytest.raises(
        BagError, match=r"no topic\(s\) /rgbd_camera/image.*it has: .*/camera/color/image_raw"
    ):
        BagSource(synth_bag, topics_from_options("gazebo"))


def test_pairing_by_stamps_reports_mismatches_and_repeats(tmp_path) -> None:
    ms = 1_000_000
    rgb = [100 * ms, 200 * ms, 300 * ms, 300 * ms, 400 * ms]
    depth = [101 * ms, 260 * ms, 301 * ms, 399 * ms]
    _write_rgbd(tmp_path / "b", rgb, depth, [100 * ms], topics_from_options("gazebo"))
    source = BagSource(tmp_path / "b", topics_from_options("gazebo"), slop_s=0.005)
    items = sorted(source, key=lambda item: (item.stamp_ns, item.frame is None))
    assert [i.stamp_ns for i in items] == rgb  # every colour image accounted for
    assert [i.frame is not None for i in items] == [True, False, True, False, True]
    assert "mismatched stamps" in items[1].error
    assert "repeats" in items[3].error
    assert source.unpaired_depth == 1  # the depth at 260 ms


@pytest.mark.slow
def test_eval_bag_command_writes_a_report(synth_bag, tmp_path) -> None:
    out = tmp_path / "eval"
    assert main(["eval-bag", synth_bag, "--out", str(out), "--pose", "baseline", "--overlays", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    metrics = report["metrics"]
    assert metrics["throughput"]["frames_in"] == 8
    assert {"pose", "tracking", "forecast"} <= set(metrics)
    assert (out / "latency.png").is_file() and (out / "report.md").is_file()


def _det(x: float, track_id: str) -> Detection:
    return Detection("can", np.eye(3), [x, 0.0, 0.5], [0.05, 0.1, 0.05], track_id=track_id)


def test_id_switches_and_forecast_errors_on_known_answers() -> None:
    truth = [[_det(0.0, "a"), _det(0.5, "b")] for _ in range(4)]
    preds = [["t1", "t2"], ["t1", "t2"], ["t2", "t1"], ["t2", "t1"]]  # the ids swap once
    records = [
        FrameRecord(i, i, "ok", detections=[_det(0.0, p[0]), _det(0.5, p[1])], truth=truth[i])
        for i, p in enumerate(preds)
    ]
    minute = 60_000_000_000  # stamps one minute apart: 2 switches over 2 objects x 3 minutes
    for k, record in enumerate(records):
        record.stamp_ns = k * minute
    assert id_switches(records, gate_m=0.1) == {
        "id_switches": 2,
        "matched": 8,
        "gt_instances": 8,
        "gt_objects": 2,
        "misses": 0,
        "false_positives": 0,
        "mota": pytest.approx(1 - 2 / 8),
        "switches_per_object_minute": pytest.approx(2 / 6),
    }
    # a miss (object b undetected) and a false positive (a tracked detection far from both)
    records[3].detections = [_det(0.0, "t2"), _det(2.0, "t9"), _det(3.0, "")]
    counts = id_switches(records, gate_m=0.1)
    assert (counts["misses"], counts["false_positives"]) == (1, 1)
    assert counts["mota"] == pytest.approx(1 - (1 + 1 + 2) / 8)

    # An object at x = 0.01 k; a forecast from frame 0 of 3 steps that is 2 cm off at every step.
    truth = [[_det(0.01 * k, "a")] for k in range(5)]
    records = [FrameRecord(k, k, "ok", detections=[_det(0.01 * k, "t")], truth=truth[k]) for k in range(5)]
    future = np.array([[[0.01 * k + 0.02, 0.0, 0.5] for k in (1, 2, 3)]])
    records[0].forecasts = {"t": future}
    errors = forecast_errors(records, gate_m=0.1)
    assert errors["forecasts_scored"] == 1
    assert errors["ade_m"] == pytest.approx(0.02) and errors["fde_m"] == pytest.approx(0.02)


def test_forecast_error_table_keys_forecasts_by_frame_and_object() -> None:
    """Two runs over one stream compare on the forecasts both made: the same object at the same
    frame, whatever track id each run gave it."""
    truth = [[_det(0.01 * k, "a"), _det(0.5, "b")] for k in range(5)]

    def run(track_ids: tuple[str, str], forecast_b: bool) -> list[FrameRecord]:
        records = [
            FrameRecord(
                k, k, "ok", detections=[_det(0.01 * k, track_ids[0]), _det(0.5, track_ids[1])], truth=truth[k]
            )
            for k in range(5)
        ]
        records[0].forecasts = {track_ids[0]: np.array([[[0.01 * k + 0.02, 0.0, 0.5] for k in (1, 2, 3)]])}
        if forecast_b:
            records[1].forecasts = {track_ids[1]: np.array([[[0.5, 0.04, 0.5]] * 3])}
        return records

    one = forecast_error_table(run(("t1", "t2"), forecast_b=False), gate_m=0.1)
    two = forecast_error_table(run(("u7", "u8"), forecast_b=True), gate_m=0.1)
    assert set(one) == {(0, "a")} and set(two) == {(0, "a"), (1, "b")}
    assert one[(0, "a")] == pytest.approx((0.02, 0.02, 0.02, 0.02))
    assert two[(1, "b")] == pytest.approx((0.04, 0.04, 0.04, 0.04))
    assert mean_forecast_errors(list(two.values()))["ade_m"] == pytest.approx(0.03)
    assert mean_forecast_errors([]) == {"forecasts_scored": 0}


def test_forecast_errors_follow_the_forecast_period_not_the_frame_rate() -> None:
    """Frames every 50 ms, a forecaster with a 100 ms period: step i is scored at (i + 1) * 100 ms,
    with the ground truth interpolated; a forecast reaching past the last frame is not scored."""
    ms = 1_000_000
    truth = [[_det(0.01 * k, "a")] for k in range(9)]  # x = 0.2 m/s * t
    records = [
        FrameRecord(k, 50 * k * ms, "ok", detections=[_det(0.01 * k, "t")], truth=truth[k]) for k in range(9)
    ]
    exact = np.array([[[0.02 * (i + 1), 0.0, 0.5] for i in range(3)]])
    records[0].forecasts = {"t": exact + np.array([0.0, 0.03, 0.0])}
    records[0].forecast_period_s = 0.1
    records[3].forecasts = {"t": exact + 0.03}  # needs truth until 450 ms: frame 9 is missing
    records[3].forecast_period_s = 0.1
    errors = forecast_errors(records, gate_m=0.1)
    assert errors["forecasts_scored"] == 1
    assert errors["ade_m"] == pytest.approx(0.03) and errors["fde_m"] == pytest.approx(0.03)


def test_forecast_errors_move_the_later_truth_into_the_forecasts_camera_frame() -> None:
    """A still object seen by a camera sliding 1 cm per frame along its x axis appears to move
    -1 cm per frame. With the camera poses, a forecast that keeps it where frame 0 saw it is exact
    (the later truth is moved into frame 0's camera frame); without them it is scored against the
    apparent motion."""
    poses = []
    for k in range(5):
        pose = np.eye(4)
        pose[0, 3] = 0.01 * k
        poses.append(pose)
    truth = [[_det(-0.01 * k, "a")] for k in range(5)]

    def records(with_poses: bool) -> list[FrameRecord]:
        out = [
            FrameRecord(
                k,
                k,
                "ok",
                detections=[_det(-0.01 * k, "t")],
                truth=truth[k],
                camera_pose=poses[k] if with_poses else None,
            )
            for k in range(5)
        ]
        out[0].forecasts = {"t": np.tile([[0.0, 0.0, 0.5]], (1, 3, 1))}
        return out

    assert forecast_errors(records(True), gate_m=0.1)["fde_m"] == pytest.approx(0.0, abs=1e-12)
    assert forecast_errors(records(False), gate_m=0.1)["fde_m"] == pytest.approx(0.03)
