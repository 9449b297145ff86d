"""The whole stack in one process, without ROS: frames -> detections -> tracks -> grasps -> forecasts.

:func:`run_stack` pulls :class:`~diff9d_ros.pipeline.SourceFrame` items from a source (synthetic,
SDF world, rosbag2), runs the five stages of :func:`diff9d_ros.stages.build_stages` on each,
and writes into ``out_dir``:

* ``bag/``: a rosbag2 with the messages the ROS nodes would publish (built by
  :mod:`diff9d_ros.ros.outputs`, so the bytes match the nodes'): ``/diff9d/detections``
  (Detection3DArray), ``/diff9d/markers``, ``/tf``, ``/diff9d/grasps`` (PoseArray, ranked),
  ``/diff9d/grasp`` (PoseStamped), ``/diff9d/grasp_markers``, ``/diff9d/tracks``,
  ``/diff9d/forecasts`` (one nav_msgs/Path per track), ``/diff9d/forecast_markers`` and
  ``/diff9d/camera_info``; the input images too with ``record_inputs``;
* ``overlays/``: PNGs of a few frames (:mod:`diff9d_ros.overlay`);
* ``report.md``, ``report.json`` and plots (:mod:`diff9d_ros.bag.report`).

Every input frame ends as a :class:`~diff9d_ros.bag.evaluate.FrameRecord`: processed, failed
(stage and reason) or dropped (``realtime``: the source is played at its recorded rate and the
newest frame wins, as in the nodes).

The stages run in a :class:`Stack`, which a Python program can also drive itself, frame by
frame, and ask for grasps on request (:meth:`Stack.plan_grasps`), from any thread, while frames
go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from diff9d_ros.bag.evaluate import FrameRecord, evaluate_records
from diff9d_ros.bag.report import RunResult, write_report
from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.grasp.on_request import GraspPlan, GraspRequests
from diff9d_ros.log_throttle import ReasonThrottle
from diff9d_ros.pipeline import FrameState, Pipeline, PipelineConfig, SourceFrame, run_newest_first
from diff9d_ros.threads import apply_threads

LOG = logging.getLogger(__name__)

#: Stage order of the runner: grasps from the tracked detections, forecasts last.
RUN_STAGES: tuple[str, ...] = ("segmentation", "pose", "tracking", "grasp", "forecast")
NAMESPACE = "/diff9d"
DEFAULT_PERIOD_S = 0.1


class Stack:
    """The runner's stages (:data:`RUN_STAGES`) as one object: frames in, states out, and grasps
    planned on request for the newest frame's tracked objects.

    :meth:`process` runs the stages on a frame and keeps the frame and its tracked detections;
    :meth:`plan_grasps` plans for some of them by track id, from any thread, while frames go on
    (with ``config.grasp_per_frame`` off the grasp stage plans on no frame by itself). A request
    fails (ValueError) when the newest frame the stages processed is more than
    ``config.grasp_request_max_age_s`` behind the newest frame in: the frames in between failed.
    """

    def __init__(self, config: PipelineConfig) -> None:
        """Build the stages; ValueError for a bad config or a missing or corrupt model."""
        from diff9d_ros.stages import build_stages

        self.config = config
        self.stages = build_stages(config, RUN_STAGES)
        self.pipeline = Pipeline(self.stages)
        grasp_stage = self.stages[RUN_STAGES.index("grasp")]
        self.grasp_requests = GraspRequests(grasp_stage, config.grasp_request_max_age_s)
        self._newest_stamp_ns = 0

    def process(self, index: int, frame: RGBDFrame) -> FrameState:
        """Run the stages on ``frame`` (input number ``index``); a failure is recorded in the state."""
        state = self.pipeline.process(index, frame)
        self._newest_stamp_ns = state.stamp_ns
        if state.ok:
            self.grasp_requests.offer(frame, state.detections, state.table_plane)
        return state

    def plan_grasps(self, object_ids: Sequence[str] = ()) -> GraspPlan:
        """Ranked grasps of the objects ``object_ids`` (track ids, e.g. ``"track_3"``; empty: every
        object) of the newest processed frame; ValueError naming the problem (no frame yet, the
        newest frame too old, an unknown id)."""
        return self.grasp_requests.plan(object_ids, self._newest_stamp_ns)


class BagOutputs:
    """Writes the messages of each processed :class:`FrameState` into a new rosbag2."""

    def __init__(self, path: Path, storage: str = "mcap", record_inputs: bool = False) -> None:
        from diff9d_ros.bag.io import BagWriter
        from diff9d_ros.ros import convert

        self.types = convert.RosbagsTypes()
        self.writer = BagWriter(path, storage=storage).__enter__()
        self.record_inputs = record_inputs
        self.path = path
        self.counts: dict[str, int] = {}

    def _put(self, key: str, msg: Any, stamp_ns: int) -> None:
        topic = key if key.startswith("/") else f"{NAMESPACE}/{key}"
        self.writer.write(topic, msg, stamp_ns)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write(self, state: FrameState, period_s: float) -> None:
        from diff9d_ros.ros import outputs

        frame, stamp = state.frame, state.stamp_ns
        frame_id = frame.frame_id
        camera = outputs.camera_messages(frame, stamp, "16UC1", self.types)
        self._put("camera_info", camera.camera_info, stamp)
        if self.record_inputs:
            self._put("rgb/image", camera.rgb, stamp)
            self._put("depth/image", camera.depth, stamp)
        pose = outputs.pose_messages(state, frame_id, self.types, lifetime_s=period_s * 2)
        self._put("detections", pose.detections, stamp)
        self._put("markers", pose.markers, stamp)
        if state.detections:
            self._put("/tf", pose.tf, stamp)
        if "grasp" not in state.skipped:  # planned at grasp_period_s
            grasps = outputs.grasp_messages(state, frame_id, self.types, lifetime_s=period_s * 2)
            self._put("grasps", grasps.grasps, stamp)
            if grasps.best is not None:
                self._put("grasp", grasps.best, stamp)
            self._put("grasp_markers", grasps.markers, stamp)
        lifetime_s = 2 * max(period_s, state.forecast_period_s or 0.0)  # forecasts come at the model's rate
        forecast = outputs.forecast_messages(state, frame_id, period_s, self.types, lifetime_s=lifetime_s)
        self._put("tracks", forecast.tracks, stamp)
        for path in forecast.paths:
            self._put("forecasts", path, stamp)
        if forecast.markers is not None:
            self._put("forecast_markers", forecast.markers, stamp)

    def close(self) -> None:
        self.writer.__exit__(None, None, None)


def paced(items: Iterable[tuple[int, SourceFrame]], rate: float) -> Iterator[tuple[int, SourceFrame]]:
    """``items`` released at their stamps' pace (``rate`` x recorded speed)."""
    start_wall, start_stamp = None, None
    for index, item in items:
        if start_wall is None:
            start_wall, start_stamp = time.perf_counter(), item.stamp_ns
        due = start_wall + (item.stamp_ns - start_stamp) * 1e-9 / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        yield index, item


class _Run:
    """One pass over a source: process, record, write messages and overlays."""

    def __init__(
        self, stack: Stack, out_dir: Path, bag: BagOutputs | None, overlay_every: int, overlays: int
    ):
        self.stack, self.out_dir, self.bag = stack, out_dir, bag
        self.overlay_every, self.max_overlays = overlay_every, overlays
        self.records: dict[int, FrameRecord] = {}
        self.overlays: list[Path] = []
        self.stamps: list[int] = []
        self.progress: tqdm | None = None
        self.throttle = ReasonThrottle()

    def _warn(self, message: str) -> None:
        text = self.throttle.text(message)
        if text is not None:
            LOG.warning("%s", text)

    def period_s(self) -> float:
        if len(self.stamps) < 2:
            return DEFAULT_PERIOD_S
        return float(np.median(np.diff(self.stamps[-20:]))) * 1e-9 or DEFAULT_PERIOD_S

    def consume(self, indexed: tuple[int, SourceFrame]) -> None:
        index, item = indexed
        if item.frame is None:
            self.records[index] = FrameRecord(
                index, item.stamp_ns, "failed", "source", item.error, truth=item.truth
            )
            self._warn(f"frame {index}: {item.error}")
            self._tick()
            return
        state = self.stack.process(index, item.frame)
        if not state.ok:
            self._warn(f"frame {index} failed in {state.failed_stage}: {state.error}")
        record = FrameRecord(
            index, state.stamp_ns, "ok" if state.ok else "failed", state.failed_stage, state.error
        )
        record.timings_s, record.latency_s, record.truth = (
            dict(state.timings_s),
            sum(state.timings_s.values()),
            item.truth,
        )
        if state.ok:
            self.stamps.append(state.stamp_ns)
            record.detections, record.forecasts = state.detections, state.forecasts
            record.forecast_period_s, record.camera_pose = state.forecast_period_s, state.camera_pose
            record.grasp_count = sum(len(g) for g in state.grasps.values())
            try:
                if self.bag is not None:
                    self.bag.write(state, self.period_s())
                if (
                    self.max_overlays
                    and index % self.overlay_every == 0
                    and len(self.overlays) < self.max_overlays
                ):
                    self._overlay(state, item)
            except Exception as error:  # an output that cannot be written fails this frame only
                record.status, record.stage, record.error = (
                    "failed",
                    "output",
                    f"{type(error).__name__}: {error}",
                )
                self._warn(f"frame {index}: writing outputs failed: {record.error}")
        self.records[index] = record
        self._tick()

    def _overlay(self, state: FrameState, item: SourceFrame) -> None:
        from diff9d_ros.overlay import draw_overlay, save_overlay

        caption = f"frame {state.index}  {1000 * sum(state.timings_s.values()):.0f} ms"
        image = draw_overlay(
            state.frame,
            state.detections,
            grasps=state.grasps,
            forecasts=state.forecasts,
            truth=item.truth,
            caption=caption,
        )
        self.overlays.append(save_overlay(self.out_dir / "overlays" / f"frame_{state.index:05d}.png", image))

    def _tick(self) -> None:
        if self.progress is not None:
            ok = [r for r in self.records.values() if r.status == "ok"]
            if ok:
                last = ok[-1]
                self.progress.set_postfix(
                    {k[:4]: f"{1000 * v:.0f}ms" for k, v in last.timings_s.items() if k != "input"},
                    refresh=False,
                )
            self.progress.update(1)


def drive(
    source: Iterable[Any],
    run: Any,
    *,
    realtime: bool,
    rate: float,
    title: str,
    progress: bool,
    unit: str = "frame",
) -> tuple[list[FrameRecord], float, bool]:
    """Feed ``(index, item)`` of every item of ``source`` to ``run.consume`` (in order, or at the
    recorded pace with newest-item-wins when ``realtime``), with a progress bar in ``run.progress``.

    Returns ``run.records`` in index order, items that were never consumed recorded as dropped, the
    wall time, and whether Ctrl-C stopped it (the records so far are kept).
    """
    total = len(source) if hasattr(source, "__len__") else 0
    produced: list[tuple[int, int]] = []

    def numbered() -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(source):
            produced.append((index, item.stamp_ns))
            yield index, item

    start = time.perf_counter()
    interrupted = False
    with tqdm(total=total or None, desc=title, unit=unit, disable=not progress) as bar:
        run.progress = bar
        try:
            if realtime:
                run_newest_first(paced(numbered(), rate), run.consume)
            else:
                for indexed in numbered():
                    run.consume(indexed)
        except KeyboardInterrupt:
            interrupted = True
            LOG.warning("stopped by Ctrl-C after %d %s(s): writing the report", len(run.records), unit)
    wall_s = time.perf_counter() - start
    for index, stamp_ns in produced:
        if index not in run.records:
            run.records[index] = FrameRecord(
                index, stamp_ns, "dropped", "input", "newest frame won (stage busy)"
            )
    return [run.records[i] for i in sorted(run.records)], wall_s, interrupted


def run_stack(
    source: Iterable[SourceFrame],
    config: PipelineConfig,
    out_dir: str | Path,
    *,
    overlays: int = 6,
    realtime: bool = False,
    rate: float = 1.0,
    record_inputs: bool = False,
    storage: str = "mcap",
    progress: bool = True,
    title: str = "diff9d run",
    stack: Stack | None = None,
) -> RunResult:
    """Run the stack on ``source`` and write bag, overlays and report into ``out_dir`` (new or empty).

    ``stack``: a :class:`Stack` built from ``config``, for a program that calls its
    :meth:`~Stack.plan_grasps` from another thread during the run (default: built here).
    ValueError before any frame for a bad config, a missing or corrupt model, a ``stack`` of
    another config or an existing bag. Ctrl-C ends the stream like the end of the source: the bag
    is closed and the report written.
    """
    out_dir = Path(out_dir)
    if (out_dir / "bag").exists():
        raise ValueError(f"{out_dir / 'bag'} already exists: choose a new output folder")
    if stack is not None and stack.config != config:
        raise ValueError("run_stack: the stack was built from another config than the one given")
    threads = apply_threads(config.threads)
    stack = stack or Stack(config)
    stages = stack.stages
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "title": title,
        "source": getattr(source, "description", type(source).__name__),
        "pose_backend": stages[1].backend_name,
        "pose_model": str(stages[1].model_path) if stages[1].model_path else None,
        "forecast_backend": stages[4].backend_name,
        "forecast_model": str(stages[4].model_path) if stages[4].model_path else None,
        "segmentation": "the source's instance masks"
        if config.use_given_masks and getattr(source, "give_masks", False)
        else "built-in tabletop segmentation (RANSAC plane + Euclidean clusters)",
        "realtime": realtime,
        "threads": threads,
        "config": vars(config).copy(),
    }
    total = len(source) if hasattr(source, "__len__") else 0
    bag = BagOutputs(out_dir / "bag", storage, record_inputs)
    run = _Run(stack, out_dir, bag, max(1, total // max(overlays, 1)) if total else 10, overlays)
    try:
        records, wall_s, interrupted = drive(
            source, run, realtime=realtime, rate=rate, title=title, progress=progress
        )
    finally:
        bag.close()
    source_error = getattr(source, "error", None) or ("stopped by Ctrl-C" if interrupted else None)
    info["bag_topics"] = bag.counts
    metrics = evaluate_records(records, wall_s, config.tracker_gate_m)
    result = RunResult(out_dir, records, wall_s, metrics, info, source_error, run.overlays)
    result.report_path = write_report(result)
    return result
