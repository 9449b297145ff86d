"""The whole stack: latency per 640x480 frame, a long soak, and a bad-input sweep.

Run from the repository root: ``python -m benchmarks.pipeline`` (``--quick`` for a smoke run;
``--pose-model PATH`` / ``--forecast-model PATH`` to try checkpoints not yet in models/).

1. Latency: rendered 640x480 frames with 3 objects (realsense sensor), built-in segmentation,
   pose (Diff9D with DDIM-3 when models/diff9d_pose.pt exists, else the geometric baseline; both
   when Diff9D is available), tracking, grasps and forecasts; the median end-to-end latency and
   the per-stage split, the first frame excluded as warm-up.
2. Soak: 10 000 small (160x120) frames cycled from a rendered sequence with increasing stamps,
   every 100th frame broken (NaN depth); resident memory growth after a 1 000-frame warm-up, and
   every frame accounted for (processed or failed with a reason).
3. Bad-input sweep: malformed messages, frames, detections, model files and bags, each through the
   code path that meets it in a run (message conversion + pipeline, stage builders, bag source).
   A kind passes when no exception escapes and a reason is recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.common import Target, report
from diff9d_ros.bag.io import BagError, BagWriter
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import FrameState, Pipeline, PipelineConfig
from diff9d_ros.ros import convert
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.runner import RUN_STAGES
from diff9d_ros.sources.bag import BagSource, topics_from_options
from diff9d_ros.sources.synthetic import SyntheticSource
from diff9d_ros.stages import build_stages

LOG = logging.getLogger("benchmarks.pipeline")


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latency_rows(config: PipelineConfig, frames: list, label: str) -> dict:
    pipeline = Pipeline(build_stages(config, RUN_STAGES))
    states = [pipeline.process(i, f) for i, f in enumerate(tqdm(frames, desc=f"latency {label}"))]
    ok = [s for s in states[1:] if s.ok]
    row = {"run": f"latency {label}", "backend": pipeline.stages[1].backend_name, "frames": len(ok)}
    row["failed"] = sum(not s.ok for s in states)
    row["end_to_end_ms"] = float(np.median([1000 * sum(s.timings_s.values()) for s in ok]))
    for stage in ("input", *RUN_STAGES):
        row[f"{stage}_ms"] = float(np.median([1000 * s.timings_s.get(stage, 0.0) for s in ok]))
    row["objects"] = float(np.mean([len(s.detections) for s in ok]))
    return row


def soak(config: PipelineConfig, total: int, warmup: int) -> dict:
    pool = [
        item.frame
        for item in SyntheticSource(
            seconds=2.0, fps=10, seed=11, intrinsics=Intrinsics.realsense_d435(160, 120)
        )
    ]
    pipeline = Pipeline(build_stages(config, RUN_STAGES))
    ok = failed = 0
    reasons: set[str] = set()
    rss_warm = rss_peak = 0
    start = time.perf_counter()
    for index in tqdm(range(total), desc="soak"):
        frame = replace(pool[index % len(pool)], stamp_ns=1_000_000_000 + index * 100_000_000)
        if index % 100 == 99:
            frame = replace(frame, depth_m=np.full_like(frame.depth_m, np.nan))
        state = pipeline.process(index, frame)
        if state.ok:
            ok += 1
        else:
            failed += 1
            reasons.add(f"{state.failed_stage}: {state.error}")
        if index == warmup:
            rss_warm = rss_bytes()
        if index > warmup:
            rss_peak = max(rss_peak, rss_bytes())
    wall = time.perf_counter() - start
    growth = 100.0 * (rss_peak - rss_warm) / rss_warm
    return {
        "run": f"soak {total} frames 160x120",
        "processed": ok,
        "failed": failed,
        "accounted": ok + failed,
        "rss_warm_mb": rss_warm / 2**20,
        "rss_peak_mb": rss_peak / 2**20,
        "rss_growth_pct": growth,
        "frames_per_s": total / wall,
        "failure_reasons": sorted(reasons),
    }


# --- bad-input sweep -------------------------------------------------------------------------

K = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
TYPES = convert.RosbagsTypes()


def _scene_arrays() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((K.height, K.width, 3), 90, np.uint8)
    depth = np.full((K.height, K.width), 0.8, np.float32)
    depth[18:30, 26:38] = 0.7  # a box on the plane
    return rgb, depth


def _messages(**changes: object) -> tuple:
    rgb, depth = _scene_arrays()
    rgb_msg = convert.rgb_to_image(rgb, 1_000, "cam", TYPES)
    depth_msg = convert.depth_to_image(depth, 1_000, "cam", TYPES, encoding="32FC1")
    info_msg = convert.intrinsics_to_camera_info(K, 1_000, "cam", TYPES)
    for key, value in changes.items():
        target, field = key.split("__")
        setattr({"rgb": rgb_msg, "depth": depth_msg, "info": info_msg}[target], field, value)
    return rgb_msg, depth_msg, info_msg


class Sweep:
    """Runs each case through the path a run takes and records whether a reason came back."""

    def __init__(self, config: PipelineConfig, workdir: Path) -> None:
        self.config, self.workdir = config, workdir
        self.pipeline = Pipeline(build_stages(config, RUN_STAGES))
        self.rows: list[dict] = []

    def frame_case(self, msgs: tuple, **frame_changes: object) -> str:
        """Message conversion then the pipeline, as the bag source and the pose node do."""
        try:
            frame = frame_from_messages(*msgs)
        except ValueError as error:
            return f"rejected at conversion: {error}"
        frame = replace(frame, **frame_changes)
        state = self.pipeline.process(0, frame)
        return "processed" if state.ok else f"failed in {state.failed_stage}: {state.error}"

    def detections_case(self, stamps: list[int], detections: list) -> str:
        """The forecast node's chain (a fresh tracker per case) on detections at ``stamps``."""
        chain = Pipeline(build_stages(self.config, ["tracking", "forecast"]), inputs=("detections",))
        states = [
            chain.process_state(FrameState(i, None, t, detections=detections)) for i, t in enumerate(stamps)
        ]
        bad = [s for s in states if not s.ok]
        if bad:
            return f"failed in {bad[0].failed_stage}: {bad[0].error}"
        return f"processed {len(states)} ({len(states[-1].forecasts)} forecasts)"

    def message_case(self, msg: object) -> str:
        try:
            detections = convert.msg_to_detections(msg)
        except ValueError as error:
            return f"rejected at conversion: {error}"
        return self.detections_case([1], detections)

    def model_case(self, **fields: str) -> str:
        try:
            build_stages(replace(self.config, **fields), RUN_STAGES)
        except ValueError as error:
            return f"rejected: {error}"
        return "accepted"

    def bag_case(self, path: Path, **options: object) -> str:
        try:
            source = BagSource(path, **options)
            items = list(source)
        except BagError as error:
            return f"rejected: {error}"
        errors = [i.error for i in items if i.error] + ([source.error] if source.error else [])
        return f"{len(items) - len(errors)} frames; " + ("; ".join(errors[:2]) if errors else "no error")

    def run(self, kind: str, case: Callable[[], str], expect_reason: bool = True) -> None:
        try:
            outcome = case()
            escaped = None
        except Exception as error:  # what the sweep exists to catch
            outcome, escaped = "", f"{type(error).__name__}: {error}"
        has_reason = bool(outcome) and (
            not expect_reason or any(w in outcome for w in ("rejected", "failed", ";"))
        )
        passed = escaped is None and has_reason
        LOG.info("%-34s %s %s", kind, "PASS" if passed else "FAIL", outcome or escaped)
        self.rows.append({"kind": kind, "passed": passed, "outcome": (outcome or escaped)[:200]})


def bad_input_sweep(config: PipelineConfig) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="diff9d_sweep_"))
    try:
        return _sweep(Sweep(config, workdir), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _write_bag(path: Path, rgb_stamps: list[int], depth_stamps: list[int]) -> Path:
    rgb, depth = _scene_arrays()
    with BagWriter(path) as bag:
        events = [
            (s, "/camera/color/image_raw", convert.rgb_to_image(rgb, s, "cam", TYPES)) for s in rgb_stamps
        ]
        events += [
            (
                s,
                "/camera/aligned_depth_to_color/image_raw",
                convert.depth_to_image(depth, s, "cam", TYPES, encoding="32FC1"),
            )
            for s in depth_stamps
        ]
        events.append(
            (
                rgb_stamps[0],
                "/camera/color/camera_info",
                convert.intrinsics_to_camera_info(K, rgb_stamps[0], "cam", TYPES),
            )
        )
        for stamp, topic, msg in sorted(events, key=lambda e: e[0]):
            bag.write(topic, msg, stamp)
    return path


def _sweep(s: Sweep, workdir: Path) -> list[dict]:
    rgb, depth = _scene_arrays()
    ok_msgs = _messages()
    s.run("unknown rgb encoding (yuv422)", lambda: s.frame_case(_messages(rgb__encoding="yuv422")))
    s.run("depth with an rgb encoding", lambda: s.frame_case(_messages(depth__encoding="rgb8")))
    s.run("zero-size image", lambda: s.frame_case(_messages(rgb__height=0, rgb__data=np.zeros(0, np.uint8))))
    s.run("data size does not match step", lambda: s.frame_case(_messages(rgb__data=ok_msgs[0].data[:-7])))
    s.run("step shorter than a row", lambda: s.frame_case(_messages(rgb__step=10)))
    s.run("NaN depth everywhere", lambda: s.frame_case(ok_msgs, depth_m=np.full_like(depth, np.nan)))
    s.run("inf depth everywhere", lambda: s.frame_case(ok_msgs, depth_m=np.full_like(depth, np.inf)))
    s.run("zero depth everywhere", lambda: s.frame_case(ok_msgs, depth_m=np.zeros_like(depth)))
    s.run("image/depth size mismatch", lambda: s.frame_case(_messages(depth__width=32, depth__step=128)))
    s.run("missing intrinsics (zero K)", lambda: s.frame_case(_messages(info__k=np.zeros(9))))
    s.run("camera_info of size 0x0", lambda: s.frame_case(_messages(info__width=0, info__height=0)))
    s.run(
        "depth in another frame than colour",
        lambda: s.frame_case(_messages(depth__header=convert.make_header(1_000, "other", TYPES))),
    )
    s.run("rgb of float dtype", lambda: s.frame_case(ok_msgs, rgb=rgb.astype(np.float32)))
    s.run(
        "instance mask of the wrong size",
        lambda: s.frame_case(ok_msgs, instance_mask=np.ones((5, 5), np.int32)),
    )
    one = [convert.msg_to_detections(convert.detections_to_msg([_can(0.0)], 1, "cam", TYPES))[0]]
    s.run("out-of-order stamps", lambda: s.detections_case([3, 2], one))
    s.run("duplicate stamps", lambda: s.detections_case([5, 5], one))
    s.run("empty detections", lambda: s.detections_case([1, 2], []), expect_reason=False)
    s.run(
        "huge detections (2000)",
        lambda: s.detections_case([1, 2, 3], [_can(0.1 * i) for i in range(2000)]),
        expect_reason=False,
    )
    nan_msg = convert.detections_to_msg([_can(0.0)], 1, "cam", TYPES)
    nan_msg.detections[0].bbox.center.orientation.w = float("nan")
    s.run("NaN orientation in Detection3DArray", lambda: s.message_case(nan_msg))
    empty_hyp = convert.detections_to_msg([_can(0.0)], 1, "cam", TYPES)
    empty_hyp.detections[0].results = []
    s.run("detection without hypotheses", lambda: s.message_case(empty_hyp))
    junk = workdir / "corrupt.pt"
    junk.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 50)
    s.run("corrupt pose model file", lambda: s.model_case(pose_backend="diff9d", pose_model_path=str(junk)))
    s.run("corrupt forecast model file", lambda: s.model_case(forecast_model_path=str(junk)))
    s.run("missing model file", lambda: s.model_case(pose_model_path=str(workdir / "absent.pt")))
    good = _write_bag(workdir / "good", [100, 200, 300], [100, 200, 300])
    truncated = workdir / "truncated"
    shutil.copytree(good, truncated)
    storage = next(truncated.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    s.run("truncated bag", lambda: s.bag_case(truncated))
    s.run("bag without the RGB-D topics", lambda: s.bag_case(good, topics=topics_from_options("gazebo")))
    mismatched = _write_bag(workdir / "mismatched", [100_000_000, 200_000_000], [150_000_000, 250_000_000])
    s.run("bag with mismatched stamps", lambda: s.bag_case(mismatched))
    return s.rows


def _can(x: float):

    return Detection("can", np.eye(3), [x, 0.0, 0.6], [0.06, 0.1, 0.06])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min); targets informative only")
    parser.add_argument("--pose-model", default="", help="Diff9D checkpoint (default: models/diff9d_pose.pt)")
    parser.add_argument(
        "--forecast-model", default="", help="GeoTDM checkpoint (default: models/geotdm_*.pt)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("diff9d_ros.pipeline", "diff9d_ros.pose", "diff9d_ros.stages"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = PipelineConfig(pose_model_path=args.pose_model, forecast_model_path=args.forecast_model)
    n_latency, soak_total, warmup = (4, 300, 100) if args.quick else (31, 10_000, 1_000)

    source = SyntheticSource(seconds=n_latency / 10, fps=10, seed=7, objects=(3, 3))
    frames = [item.frame for item in tqdm(source, desc="render 640x480")]
    rows = [latency_rows(config, frames, "default")]
    if "diff9d" in rows[0]["backend"]:
        rows.append(latency_rows(replace(config, pose_backend="baseline"), frames, "baseline"))
    soak_row = soak(config, soak_total, warmup)
    sweep_rows = bad_input_sweep(config)
    passed = sum(r["passed"] for r in sweep_rows)
    rows.append(soak_row)
    rows.append({"run": "bad-input sweep", "kinds": len(sweep_rows), "passed": passed})
    targets = [
        Target(
            f"median end-to-end latency, 640x480, 3 objects ({rows[0]['backend']}), ms",
            rows[0]["end_to_end_ms"],
            100.0,
            higher_is_better=False,
        ),
        Target("soak: RSS growth after warm-up, %", soak_row["rss_growth_pct"], 5.0, higher_is_better=False),
        Target("soak: frames accounted for, % of input", 100.0 * soak_row["accounted"] / soak_total, 100.0),
        Target("bad-input sweep: kinds tried", float(len(sweep_rows)), 20.0),
        Target(
            "bad-input sweep: kinds passed (no escape, reason logged), %",
            100.0 * passed / len(sweep_rows),
            100.0,
        ),
    ]
    load = os.getloadavg()
    report(
        "pipeline",
        rows,
        targets,
        quick=args.quick,
        columns=[
            "run",
            "backend",
            "frames",
            "end_to_end_ms",
            "segmentation_ms",
            "pose_ms",
            "tracking_ms",
            "grasp_ms",
            "forecast_ms",
            "processed",
            "failed",
            "rss_growth_pct",
            "kinds",
            "passed",
        ],
        extra={"sweep": sweep_rows, "load_average_1_5_15": load, "soak": soak_row},
    )


if __name__ == "__main__":
    main()
