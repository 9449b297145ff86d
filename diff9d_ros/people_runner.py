"""People forecasting from a rosbag2 without ROS: what ``people_forecast_node`` does, on a recording.

Every message of person detections (:class:`~diff9d_ros.sources.people.PeopleBagSource`) is moved
into the fixed frame through the bag's ``/tf`` (:class:`~diff9d_ros.trajectory.people.TransformTree`),
tracked (``people_tracking``) and forecast by a planar GeoTDM model (``people_forecast``), and
ends as a :class:`~diff9d_ros.bag.evaluate.FrameRecord`. The output folder gets

* ``bag/``: ``/diff9d/people/tracks`` (Detection3DArray, id = track id), ``/diff9d/people/forecasts``
  (one nav_msgs/Path of the mean forecast per person, poses stamped at the forecast times) and
  ``/diff9d/people/forecast_markers`` (the samples), all in the fixed frame, built by
  :func:`diff9d_ros.ros.outputs.forecast_messages` like the node's;
* ``report.md``/``report.json``: throughput, id switches and, against the ground truth, ADE/FDE and
  minADE/minFDE of the forecasts whose person was present over the model's whole observed window
  and forecast horizon, the ETH-UCY window rule (:func:`diff9d_ros.bag.evaluate.forecast_errors`).

A bag written by ``diff9d traj bag`` names its ETH-UCY scene; the model that held that scene out
(``models/geotdm_<scene>.pt``) is then the default, and a pedestrian model trained on the scene's
recordings is refused (:func:`people_config_for_scene`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from tqdm import tqdm

from diff9d_ros.bag.evaluate import FrameRecord, evaluate_records
from diff9d_ros.bag.report import RunResult, write_report
from diff9d_ros.pipeline import PEOPLE_STAGES, FrameState, Pipeline, PipelineConfig
from diff9d_ros.runner import NAMESPACE, drive
from diff9d_ros.sources.people import PeopleBagSource, PeopleFrame
from diff9d_ros.threads import apply_threads
from diff9d_ros.trajectory.people import people_in_frame

LOG = logging.getLogger(__name__)


def people_config_for_scene(config: PipelineConfig, scene: str | None) -> PipelineConfig:
    """``config`` with the people model for a recording of ETH-UCY ``scene``.

    Without a configured model the shipped ``geotdm_<scene>.pt`` (trained with ``scene`` held out) is
    chosen, and without that one the node's default (another scene's model) is refused; a configured
    pedestrian model trained on ``scene``'s recordings (its held-out scene is
    another one) is a ValueError: its score on this bag would be a score on training data.
    """
    if scene is None or config.forecast_backend == "constant_velocity":
        return config
    from diff9d_ros.stages import DEFAULT_PEOPLE_MODELS, _models_dir, resolve_forecast_model
    from diff9d_ros.trajectory.datasets import PEDESTRIAN_TASKS
    from diff9d_ros.trajectory.model import GeoTDM

    if not config.people_model_path:
        path = _models_dir() / f"geotdm_{scene}.pt"
        if path.is_file():
            LOG.info(
                "bag of ETH-UCY scene %s: people model %s (trained with %s held out)", scene, path, scene
            )
            return dataclasses.replace(config, people_model_path=str(path))
        other = resolve_forecast_model(config, "", DEFAULT_PEOPLE_MODELS)
        if other is not None:
            raise ValueError(
                f"bag of ETH-UCY scene {scene!r}: no {path.name} (the model that held it out) is shipped, "
                f"and the default {other.name} was trained on {scene!r}: pass --people-model or "
                "--forecast constant_velocity"
            )
        return config
    try:
        task = GeoTDM.load(config.people_model_path)[1].get("task")
    except Exception as error:  # torch.load raises many types on a damaged file
        raise ValueError(
            f"people model {config.people_model_path} is not a GeoTDM checkpoint: {error}"
        ) from error
    if task in PEDESTRIAN_TASKS and task != scene:
        raise ValueError(
            f"people model {config.people_model_path} held out ETH-UCY scene {task!r} and was trained on "
            f"{scene!r}, the scene of this bag: use the model that held {scene!r} out "
            f"(models/geotdm_{scene}.pt)"
        )
    return config


class _PeopleRun:
    """One pass over a people source: fixed frame, stages, records, output messages."""

    def __init__(self, source: PeopleBagSource, pipeline: Pipeline, config: PipelineConfig, bag_path: Path):
        from diff9d_ros.bag.io import BagWriter
        from diff9d_ros.ros import convert

        self.source, self.pipeline, self.config = source, pipeline, config
        self.types = convert.RosbagsTypes()
        self.writer = BagWriter(bag_path).__enter__()
        self.counts: dict[str, int] = {}
        self.records: dict[int, FrameRecord] = {}
        self.progress: tqdm | None = None

    def _fixed(self, item: PeopleFrame, detections: list) -> list:
        transform = self.source.tree.lookup(self.config.fixed_frame, item.frame_id, item.stamp_ns)
        return people_in_frame(detections, transform, self.config.person_class)

    def consume(self, indexed: tuple[int, PeopleFrame]) -> None:
        index, item = indexed
        record = FrameRecord(index, item.stamp_ns, "failed", "source", item.error)
        if item.error is None:
            record = self._process(index, item)
        self.records[index] = record
        if self.progress is not None:
            self.progress.update(1)

    def _process(self, index: int, item: PeopleFrame) -> FrameRecord:
        start = time.perf_counter()
        try:
            people = self._fixed(item, item.people)
            truth = None
            if item.truth is not None:
                truth = self._fixed(dataclasses.replace(item, frame_id=item.truth_frame_id), item.truth)
        except ValueError as error:
            return FrameRecord(index, item.stamp_ns, "failed", "transform", f"ValueError: {error}")
        state = FrameState(index, frame=None, stamp_ns=item.stamp_ns, detections=people)
        state.timings_s["transform"] = time.perf_counter() - start
        state = self.pipeline.process_state(state)
        record = FrameRecord(
            index, item.stamp_ns, "ok" if state.ok else "failed", state.failed_stage, state.error
        )
        record.timings_s, record.latency_s, record.truth = (
            dict(state.timings_s),
            sum(state.timings_s.values()),
            truth,
        )
        if state.ok:
            record.detections, record.forecasts = state.detections, state.forecasts
            record.forecast_period_s = state.forecast_period_s
            try:
                self._write(state)
            except Exception as error:  # an output that cannot be written fails this message only
                record.status, record.stage, record.error = (
                    "failed",
                    "output",
                    f"{type(error).__name__}: {error}",
                )
        return record

    def _write(self, state: FrameState) -> None:
        from diff9d_ros.ros.outputs import people_messages

        messages = people_messages(state, self.config.fixed_frame, self.types, 2 * state.forecast_period_s)
        for key, msgs in (
            ("tracks", [messages.tracks]),
            ("forecasts", messages.paths),
            ("forecast_markers", [] if messages.markers is None else [messages.markers]),
        ):
            topic = f"{NAMESPACE}/people/{key}"
            for msg in msgs:
                self.writer.write(topic, msg, state.stamp_ns)
                self.counts[topic] = self.counts.get(topic, 0) + 1


def run_people(
    source: PeopleBagSource,
    config: PipelineConfig,
    out_dir: str | Path,
    *,
    realtime: bool = False,
    rate: float = 1.0,
    progress: bool = True,
    title: str = "diff9d people",
) -> RunResult:
    """Forecast the people of ``source`` and write bag and report into ``out_dir`` (new or empty).

    ValueError before any message for a bad config, a missing, corrupt or 3-D model, a model that was
    trained on the bag's scene, or an existing output bag.
    """
    from diff9d_ros.stages import build_stages
    from diff9d_ros.trajectory.datasets import PEDESTRIAN_TASKS, task_spec

    out_dir = Path(out_dir)
    if (out_dir / "bag").exists():
        raise ValueError(f"{out_dir / 'bag'} already exists: choose a new output folder")
    config = people_config_for_scene(config, source.scene)
    threads = apply_threads(config.threads)
    stages = build_stages(config, PEOPLE_STAGES)
    forecaster = stages[1].forecaster
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _PeopleRun(source, Pipeline(stages, inputs=("detections",)), config, out_dir / "bag")
    try:
        records, wall_s, interrupted = drive(
            source, run, realtime=realtime, rate=rate, title=title, progress=progress, unit="msg"
        )
    finally:
        run.writer.__exit__(None, None, None)
    model = getattr(forecaster, "model", None)  # the constant-velocity fallback has none
    history = model.config.num_obs if model is not None else task_spec(PEDESTRIAN_TASKS[0]).num_obs
    metrics = evaluate_records(records, wall_s, config.tracker_gate_m, pose=False, history_frames=history)
    info = {
        "title": title,
        "source": source.description,
        "scene": source.scene,
        "forecast_backend": stages[1].backend_name,
        "forecast_model": str(stages[1].model_path) if stages[1].model_path else None,
        "fixed_frame": config.fixed_frame,
        "realtime": realtime,
        "threads": threads,
        "config": vars(config).copy(),
        "bag_topics": run.counts,
    }
    source_error = source.error or ("stopped by Ctrl-C" if interrupted else None)
    result = RunResult(out_dir, records, wall_s, metrics, info, source_error)
    result.report_path = write_report(result)
    return result
