"""The stages wired together: the one code path of the ROS nodes and the ``diff9d`` runner.

A frame moves through a list of :class:`Stage` objects, each reading and filling fields of one
:class:`FrameState` (typed input and output per stage, named in its ``reads``/``writes``). The
:class:`Pipeline` times every stage and turns an exception of one bad frame into a failed
:class:`FrameState` with the stage and the reason, so the stream goes on with the next frame.
:class:`LatestFrameSlot` gives newest-frame-wins hand-over between a source that produces faster
than the stages consume.

The concrete stages (``SegmentationStage``, ``PoseStage``, ``TrackingStage``, ``ForecastStage``,
``GraspStage``) and ``build_stages`` live one layer up, in :mod:`diff9d_ros.stages` (they import
torch and open3d); this module stays light for the message layer.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.nocs import Detection
from diff9d_ros.threads import DEFAULT_THREADS

if TYPE_CHECKING:
    from diff9d_ros.trajectory.sampling import SpeedTemperature

LOG = logging.getLogger(__name__)

POSE_BACKENDS: tuple[str, ...] = ("auto", "diff9d", "baseline")
POSE_ENGINES: tuple[str, ...] = ("auto", "torch", "onnxruntime", "onnxruntime-int8")
FORECAST_BACKENDS: tuple[str, ...] = ("auto", "geotdm", "constant_velocity")
FORECAST_SAMPLERS: tuple[str, ...] = ("dpmpp_2m", "ddim")
STAGE_NAMES: tuple[str, ...] = (
    "segmentation",
    "pose",
    "tracking",
    "forecast",
    "grasp",
    "people_tracking",
    "people_forecast",
)
#: The stages of the people path (people_forecast_node, ``diff9d run``/``eval-bag`` on a people bag).
PEOPLE_STAGES: tuple[str, ...] = ("people_tracking", "people_forecast")


@dataclass
class PipelineConfig:
    """Every setting of the stages (field names match the ROS node parameters).

    Empty model paths mean "the shipped file in models/". ``pose_backend``: ``auto`` (Diff9D when
    its checkpoint exists, else the geometric baseline with a warning), ``diff9d`` (error without a
    checkpoint) or ``baseline``; ``forecast_backend`` likewise with ``geotdm`` and
    ``constant_velocity``. ``use_given_masks``: use a frame's own instance mask (external
    segmenter, synthetic renderer) instead of the built-in tabletop segmentation;
    ``segmentation_stride`` is its pixel stride at 640 px width, scaled with the image width.
    ``pose_engine``: ``auto`` (ONNX Runtime int8 on the CPU when installed, else torch), ``torch``,
    ``onnxruntime`` (fp32) or ``onnxruntime-int8`` (:mod:`diff9d_ros.pose.engines`).
    Temporal warm start (:mod:`diff9d_ros.pose.warm_start`): with ``pose_warm_steps`` > 0 an
    object seen in the last frame whose points' centroid moved less than ``pose_warm_gate_m``
    starts from its last pose and runs only the last ``pose_warm_steps`` DDIM steps (0, or not
    fewer than ``ddim_steps``: every object cold).
    ``threads``: CPU threads of torch, OpenMP and BLAS in this process (0 = the free cores;
    :mod:`diff9d_ros.threads`), set when the stages are built.
    Work at the rate it is needed: with ``forecast_at_model_rate`` the forecast stage runs once per
    forecaster frame period (a GeoTDM model's 0.1 s for objects, 0.4 s for people) and skips the
    camera frames in between; ``grasp_period_s`` > 0 plans grasps at most once per that many
    seconds (0: on every frame), and ``grasp_per_frame`` off plans them only on request
    (:mod:`diff9d_ros.grasp.on_request`), on the newest frame when its stamp is at most
    ``grasp_request_max_age_s`` behind the newest frame in (0: any age). Skipped stages are listed
    in ``FrameState.skipped``.
    The built-in segmentation's workspace: clusters beyond ``max_range_m`` or off the table are
    rejected, and so are those outside ``workspace_polygon_m`` when given ("x y z; x y z; ..."
    camera-frame vertices of a polygon on the table, metres); a cluster grows into the thin parts
    attached to it up to ``thin_part_reach_m`` (a laptop's base; 0: off); its detections need a
    score of at least ``min_score``.
    """

    pose_backend: str = "auto"
    pose_model_path: str = ""
    pose_engine: str = "auto"
    device: str = "cpu"
    ddim_steps: int = 3
    num_hypotheses: int = 1
    pose_warm_steps: int = 1
    pose_warm_gate_m: float = 0.03
    seed: int = 0
    use_given_masks: bool = True
    segmentation_stride: int = 4
    ransac_iterations: int = 100
    max_range_m: float = 2.0
    workspace_polygon_m: str = ""
    thin_part_reach_m: float = 0.35
    min_score: float = 0.86
    grasp_urdf_path: str = ""
    max_grasps: int = 5
    scene_stride: int = 2
    tracker_gate_m: float = 0.1
    tracker_min_hits: int = 3
    tracker_max_misses: int = 5
    tracker_reid_window_s: float = 3.0
    tracker_coast_frames: int = 3
    forecast_backend: str = "auto"
    forecast_model_path: str = ""
    forecast_horizon: int = 12
    forecast_samples: int = 20
    forecast_sampler: str = "dpmpp_2m"
    forecast_steps: int = 3
    forecast_at_model_rate: bool = True
    grasp_period_s: float = 0.0
    grasp_per_frame: bool = True
    grasp_request_max_age_s: float = 1.0
    # People (trajectory.people): planar GeoTDM on person detections in a fixed z-up frame.
    people_model_path: str = ""
    fixed_frame: str = "map"
    person_class: str = "person"
    people_gate_m: float = 1.0
    people_max_age_s: float = 1.0
    # Sampler and initial-noise temperature of the people forecaster, chosen on validation by
    # benchmarks/trajectory.py with the pedestrian models trained by denoising (DPM-Solver++ 2M; their
    # few-step samples spread less than the people do, so the temperature ramps from
    # people_temperature_first at the first future frame to people_temperature at the last, as the
    # forecast's uncertainty grows; objects keep forecast_sampler, forecast_steps and 1). The shipped
    # models are fine-tuned for these settings at people_steps 2 (best of 20 through the sampler;
    # docs/people.md), which the benchmark checks.
    people_sampler: str = "dpmpp_2m"
    people_steps: int = 2
    people_temperature_first: float = 0.5
    people_temperature: float = 3.0
    # People who step farther than this per model frame (median over a group's observed steps; 0.4 s
    # for the ETH-UCY models: 0.875 m/s) are forecast at this speed and scaled back: the models know
    # their training scenes' walking speeds only (trajectory.sampling.speed_normalised; 0: off).
    # Chosen on validation windows at their own speed and sped up three times (benchmarks/trajectory.py).
    people_max_step_m: float = 0.35
    # Each person's temperature times (s + floor) / (reference + floor), s their observed step per
    # model frame: a standing person's future spreads less than a walker's (trajectory.sampling.
    # SpeedTemperature; reference 0: off). Chosen on validation by benchmarks/trajectory.py.
    people_speed_reference_m: float = 0.3
    people_speed_floor_m: float = 0.2
    # Samples drawn per person, of which forecast_samples are kept by farthest-point selection of
    # their end points (trajectory.covering; GeoTDM's ETH-UCY protocol keeps 20 of 60 draws; 0: draw
    # forecast_samples and keep them all). Each draw costs sampling time; the default is the fewest
    # draws within 1 % of the best validation minADE of 20, 30, 40 and 60 (benchmarks/trajectory.py,
    # which also times it).
    people_draws: int = 30
    threads: int = DEFAULT_THREADS

    @property
    def people_temperatures(self) -> float | tuple[float, float]:
        """The people sampler's temperature as the forecaster takes it: one number, or (first, last)
        ramped over the future frames."""
        if self.people_temperature_first == self.people_temperature:
            return self.people_temperature
        return (self.people_temperature_first, self.people_temperature)

    @property
    def people_speed_temperature(self) -> SpeedTemperature | None:
        """The people sampler's per-person speed scaling of the temperature (None: off)."""
        from diff9d_ros.trajectory.sampling import SpeedTemperature

        if self.people_speed_reference_m == 0:
            return None
        return SpeedTemperature(self.people_speed_reference_m, self.people_speed_floor_m)

    def validate(self) -> None:
        """ValueError naming the first bad field."""
        if self.pose_backend not in POSE_BACKENDS:
            raise ValueError(f"pose_backend must be one of {POSE_BACKENDS}, got {self.pose_backend!r}")
        if self.pose_engine not in POSE_ENGINES:
            raise ValueError(f"pose_engine must be one of {POSE_ENGINES}, got {self.pose_engine!r}")
        if self.forecast_backend not in FORECAST_BACKENDS:
            raise ValueError(
                f"forecast_backend must be one of {FORECAST_BACKENDS}, got {self.forecast_backend!r}"
            )
        for name in ("forecast_sampler", "people_sampler"):
            if getattr(self, name) not in FORECAST_SAMPLERS:
                raise ValueError(f"{name} must be one of {FORECAST_SAMPLERS}, got {getattr(self, name)!r}")
        positive = (
            "ddim_steps",
            "num_hypotheses",
            "segmentation_stride",
            "ransac_iterations",
            "max_grasps",
            "scene_stride",
            "tracker_min_hits",
            "forecast_horizon",
            "forecast_samples",
            "forecast_steps",
            "people_steps",
        )
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        people = ("people_gate_m", "people_max_age_s", "people_temperature_first", "people_temperature")
        if not all(getattr(self, name) > 0 for name in people):
            raise ValueError(
                f"{', '.join(people)} must be > 0, got {', '.join(str(getattr(self, n)) for n in people)}"
            )
        if self.people_max_step_m < 0:
            raise ValueError(f"people_max_step_m must be >= 0 (0: off), got {self.people_max_step_m}")
        if self.people_speed_reference_m < 0 or not self.people_speed_floor_m > 0:
            raise ValueError(
                "people_speed_reference_m must be >= 0 (0: off) and people_speed_floor_m > 0, got "
                f"{self.people_speed_reference_m} and {self.people_speed_floor_m}"
            )
        if int(self.people_draws) < 0:
            raise ValueError(f"people_draws must be >= 0 (0: forecast_samples), got {self.people_draws}")
        if not self.fixed_frame or not self.person_class:
            raise ValueError("fixed_frame and person_class must not be empty")
        if int(self.threads) < 0:
            raise ValueError(f"threads must be >= 0 (0 = the free cores), got {self.threads}")
        if self.pose_warm_steps < 0 or not self.pose_warm_gate_m > 0:
            raise ValueError(
                f"pose_warm_steps must be >= 0 and pose_warm_gate_m > 0, got "
                f"{self.pose_warm_steps}, {self.pose_warm_gate_m}"
            )
        if self.tracker_reid_window_s < 0:
            raise ValueError(f"tracker_reid_window_s must be >= 0, got {self.tracker_reid_window_s}")
        if not 0.0 <= self.grasp_period_s <= 3600.0:
            raise ValueError(
                f"grasp_period_s must lie in [0, 3600] (0 = every frame), got {self.grasp_period_s}"
            )
        if not 0.0 <= self.grasp_request_max_age_s <= 3600.0:
            raise ValueError(
                "grasp_request_max_age_s must lie in [0, 3600] (0 = any age), got "
                f"{self.grasp_request_max_age_s}"
            )
        if self.max_range_m <= 0 or not 0.0 <= self.min_score <= 1.0:
            raise ValueError(
                f"max_range_m must be > 0 and min_score in [0, 1], got {self.max_range_m}, {self.min_score}"
            )
        if self.thin_part_reach_m < 0:
            raise ValueError(f"thin_part_reach_m must be >= 0 (0: off), got {self.thin_part_reach_m}")
        if self.tracker_gate_m <= 0 or self.tracker_max_misses < 0:
            raise ValueError(
                f"tracker_gate_m must be > 0 and tracker_max_misses >= 0, got "
                f"{self.tracker_gate_m}, {self.tracker_max_misses}"
            )
        if not 0 <= self.tracker_coast_frames <= self.tracker_max_misses:
            raise ValueError(
                f"tracker_coast_frames must lie in [0, tracker_max_misses = {self.tracker_max_misses}], "
                f"got {self.tracker_coast_frames}"
            )


@dataclass
class FrameState:
    """Everything known about one input frame; stages fill the fields in order.

    ``index`` counts input frames from 0 (gaps in a run's indices are frames dropped by
    newest-frame-wins). ``error`` is ``None`` for a frame that went through every stage.
    ``frame`` is ``None`` where a stage chain starts from detections (the forecast node), then
    ``stamp_ns`` comes from the detections' header. ``camera_pose`` (4x4, the camera's pose in a
    fixed frame at ``stamp_ns``, or None) comes from the frame's own unless given.
    """

    index: int
    frame: RGBDFrame | None
    stamp_ns: int = 0
    instance_mask: np.ndarray | None = None
    categories: dict[int, str] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)
    table_plane: Any = None
    tracks: list[Any] = field(default_factory=list)
    grasps: dict[int, list[Any]] = field(default_factory=dict)
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    forecast_period_s: float | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    failed_stage: str | None = None
    camera_pose: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __post_init__(self) -> None:
        if self.frame is not None and not self.stamp_ns:
            self.stamp_ns = self.frame.stamp_ns
        if self.frame is not None and self.camera_pose is None:
            self.camera_pose = self.frame.camera_pose


@dataclass
class SourceFrame:
    """What a source yields: a frame with its stamp, optional ground truth, or why there is none.

    ``frame`` is ``None`` when the source could not build one (a message with a bad encoding, an
    RGB image without a depth partner); ``error`` then says why, so every input is accounted for.
    ``truth`` holds ground-truth detections (``track_id`` = stable object id) where known.
    """

    stamp_ns: int
    frame: RGBDFrame | None = None
    truth: list[Detection] | None = None
    error: str | None = None


class Stage(ABC):
    """One step of the pipeline. ``reads``/``writes`` name the :class:`FrameState` fields it uses."""

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def __call__(self, state: FrameState) -> None:
        """Fill this stage's ``writes`` of ``state``; raise on a frame it cannot process."""


class RateGate:
    """Whether a stage is due at a stamp: once per ``period_s`` of stamps (``None`` or 0: always).

    A frame is due when at least ``TOLERANCE`` of a period has passed since the last due frame, so
    a 10 Hz stream meets a 0.1 s period on every frame despite stamp jitter, and a 30 Hz stream on
    every third. Stamps that go backwards (a looped bag, a simulation reset) restart the gate.
    """

    #: Fraction of the period that must have passed (half a frame of slack at the period's rate).
    TOLERANCE = 0.75

    def __init__(self, period_s: float | None) -> None:
        self.period_ns = round((period_s or 0.0) * 1e9)
        self.last_ns: int | None = None

    def due(self, stamp_ns: int) -> bool:
        """True (and the stamp remembered) when the stage should run at ``stamp_ns``."""
        if self.period_ns <= 0:
            return True
        if (
            self.last_ns is None
            or stamp_ns < self.last_ns
            or stamp_ns - self.last_ns >= self.TOLERANCE * self.period_ns
        ):
            self.last_ns = stamp_ns
            return True
        return False


class Pipeline:
    """Stages in order, each timed; one bad frame fails alone and never stops the stream."""

    def __init__(self, stages: Iterable[Stage], inputs: tuple[str, ...] = ("frame",)) -> None:
        """``inputs`` are the :class:`FrameState` fields the caller fills before the first stage."""
        self.stages = list(stages)
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline: stage names must be unique, got {names}")
        available = set(inputs)
        for stage in self.stages:
            missing = [name for name in stage.reads if name not in available]
            if missing:
                raise ValueError(
                    f"pipeline: stage {stage.name!r} reads {missing} that no earlier stage writes"
                )
            available.update(stage.writes)

    def process(self, index: int, frame: RGBDFrame) -> FrameState:
        """Run every stage on ``frame``; a failure is recorded in the returned state, not raised."""
        state = FrameState(index=index, frame=frame)
        start = time.perf_counter()
        try:
            frame.validate()
        except ValueError as error:
            return self._fail(state, "input", error)
        state.timings_s["input"] = time.perf_counter() - start
        return self.process_state(state)

    def process_state(self, state: FrameState) -> FrameState:
        """Run every stage on a prepared ``state`` (e.g. one holding only detections)."""
        for stage in self.stages:
            start = time.perf_counter()
            try:
                stage(state)
            except Exception as error:  # one bad frame must not stop the stream
                state.timings_s[stage.name] = time.perf_counter() - start
                return self._fail(state, stage.name, error)
            state.timings_s[stage.name] = time.perf_counter() - start
        return state

    def run(self, frames: Iterable[RGBDFrame]) -> Iterator[FrameState]:
        """:meth:`process` every frame of ``frames`` in order."""
        for index, frame in enumerate(frames):
            yield self.process(index, frame)

    @staticmethod
    def _fail(state: FrameState, stage: str, error: BaseException) -> FrameState:
        """Record the failure in ``state``; the caller reports it (the runner's report, a node's
        throttled log), so it is logged here only at debug level."""
        state.failed_stage = stage
        state.error = f"{type(error).__name__}: {error}"
        LOG.debug("frame %d (stamp %d ns) failed in %s: %s", state.index, state.stamp_ns, stage, state.error)
        return state


T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """A one-item hand-over where a newer item replaces an unread one (newest frame wins).

    The producer calls :meth:`put` at its own rate; the consumer :meth:`take` blocks for the
    newest item. Replaced items are counted in ``dropped`` so every input is accounted for.
    """

    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._condition = threading.Condition()
        self.dropped = 0
        self.accepted = 0

    def put(self, item: T) -> None:
        with self._condition:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.accepted += 1
            self._condition.notify()

    def close(self) -> None:
        """No more items: a waiting :meth:`take` returns ``None`` once the slot is empty."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout_s``; ``None`` on timeout or when closed and empty."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            item, self._item = self._item, None
            return item


def run_newest_first(
    items: Iterable[T], consume: Callable[[T], None], *, slot: LatestFrameSlot[T] | None = None
) -> LatestFrameSlot[T]:
    """Feed ``items`` from a producer thread while ``consume`` handles the newest one at a time.

    Returns the slot, whose ``dropped``/``accepted`` counters say which inputs were skipped.
    """
    slot = slot or LatestFrameSlot()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                slot.put(item)
        except BaseException as error:  # re-raised in the consumer thread
            failure.append(error)
        finally:
            slot.close()

    producer = threading.Thread(target=produce, name="frame-producer", daemon=True)
    producer.start()
    while True:
        item = slot.take()
        if item is None:
            break
        consume(item)
    producer.join()
    if failure:
        raise failure[0]
    return slot
