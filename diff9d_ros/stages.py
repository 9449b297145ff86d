"""The concrete pipeline stages and how they are built from one :class:`PipelineConfig`.

They sit one layer above :mod:`diff9d_ros.pipeline` because they pull in torch and open3d, which
the pipeline machinery (used by the message layer) must not.

* :class:`SegmentationStage`: the frame's own instance mask (external segmenter, synthetic
  renderer) when it has one and ``use_given_masks`` is set, else the built-in tabletop segmentation
  (RANSAC plane + Euclidean clusters in a workspace); always the table plane, once per frame
  here (searched by RANSAC at least once a second and tracked by a least-squares refit on the
  frames between: :class:`~diff9d_ros.pose.segmentation.TableTracker`) and used by the pose and
  grasp stages.
* :class:`PoseStage`: Diff9D (DDIM, ``ddim_steps`` steps, ``num_hypotheses`` samples per object,
  Liu et al. TPAMI 2025 Sec. 3.4) or the geometric oriented-box baseline; ``auto`` picks Diff9D
  when a trained checkpoint exists and says so in the log when it does not.
* :class:`TrackingStage`: gated Hungarian matching with re-identification (:class:`MultiObjectTracker`).
* :class:`ForecastStage`: GeoTDM samples (Han et al. NeurIPS 2024) or, without weights, the
  constant-velocity extrapolation labelled as such (``backend_name``).
* :class:`GraspStage`: ranked parallel-jaw grasps per detection against the scene cloud.
* :class:`PeopleTrackingStage` and :class:`PeopleForecastStage`: person detections already in the
  fixed frame (:func:`diff9d_ros.trajectory.people.people_in_frame`) -> one history per person
  (their ids, or the tracker) -> planar GeoTDM samples at the model's 0.4 s period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diff9d_ros.geometry.camera import RGBDFrame, instance_masks
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.nocs import CATEGORIES, Detection, category_name
from diff9d_ros.pipeline import STAGE_NAMES, FrameState, PipelineConfig, RateGate, Stage
from diff9d_ros.pose.segmentation import (
    SegmentationConfig,
    TableTracker,
    fit_table_plane,
    segment_tabletop,
)
from diff9d_ros.threads import apply_threads
from diff9d_ros.trajectory.eth_ucy import FRAME_PERIOD_S
from diff9d_ros.validation import one_line

if TYPE_CHECKING:
    from diff9d_ros.grasp.planner import Grasp, SceneCloud
    from diff9d_ros.trajectory.sampling import SpeedTemperature

LOG = logging.getLogger(__name__)

#: File names of the shipped weights in ``models/`` (see the model cards beside them).
DEFAULT_POSE_MODEL = "diff9d_pose.pt"
# Only a model trained on object (or pedestrian) tracks is a default: the shipped charged-particle
# model forecasts Coulomb dynamics, not tabletop objects; pass it by path to try it anyway.
DEFAULT_FORECAST_MODELS: tuple[str, ...] = ("geotdm_objects.pt",)
#: The pedestrian model of the people stages: the first shipped of the leave-one-scene-out ETH-UCY
#: models (planar; see their model cards).
DEFAULT_PEOPLE_MODELS: tuple[str, ...] = tuple(
    f"geotdm_{scene}.pt" for scene in ("eth", "hotel", "univ", "zara1", "zara2")
)


def _models_dir() -> Path:
    from diff9d_ros.resources import share_path

    return share_path("models")


def resolve_pose_model(config: PipelineConfig) -> Path | None:
    """The Diff9D checkpoint to load: the configured path (must exist) or the shipped one, if any."""
    if config.pose_model_path:
        path = Path(config.pose_model_path)
        if not path.is_file():
            raise ValueError(f"pose model {path} does not exist")
        return path
    path = _models_dir() / DEFAULT_POSE_MODEL
    return path if path.is_file() else None


def resolve_forecast_model(
    config: PipelineConfig, configured: str | None = None, defaults: Sequence[str] = DEFAULT_FORECAST_MODELS
) -> Path | None:
    """The GeoTDM checkpoint to load: the configured path (``configured``, default
    ``config.forecast_model_path``; must exist) or the first shipped one of ``defaults``, if any."""
    configured = config.forecast_model_path if configured is None else configured
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ValueError(f"forecast model {path} does not exist")
        return path
    for name in defaults:
        path = _models_dir() / name
        if path.is_file():
            return path
    return None


class SegmentationStage(Stage):
    """Instance mask, categories and table plane of the frame (see the module docstring)."""

    name = "segmentation"
    reads = ("frame",)
    writes = ("instance_mask", "categories", "table_plane")

    def __init__(self, config: PipelineConfig) -> None:
        self.use_given_masks = config.use_given_masks
        self.seed = config.seed
        self.stride_640 = config.segmentation_stride
        self.ransac_iterations = config.ransac_iterations
        self.max_range_m = config.max_range_m
        self.thin_part_reach_m = config.thin_part_reach_m
        self.workspace_polygon_m = parse_polygon(config.workspace_polygon_m)
        self.tables = TableTracker(config.seed)

    def config_for(self, width_px: int) -> SegmentationConfig:
        """The segmentation settings with the stride scaled from 640 px to ``width_px``."""
        stride = max(1, round(self.stride_640 * width_px / 640))
        return SegmentationConfig(
            stride=stride,
            ransac_iterations=self.ransac_iterations,
            max_range_m=self.max_range_m,
            thin_part_reach_m=self.thin_part_reach_m,
            workspace_polygon_m=self.workspace_polygon_m,
        )

    def __call__(self, state: FrameState) -> None:
        frame = state.frame
        segmentation = self.config_for(frame.intrinsics.width)
        table = self.tables.fit(frame, segmentation)  # the frame's one plane fit, tracked
        state.table_plane = table.plane
        if self.use_given_masks and frame.instance_mask is not None:
            state.instance_mask = np.asarray(frame.instance_mask)
            state.categories = dict(frame.categories)
            return
        state.instance_mask, _ = segment_tabletop(frame, segmentation, self.seed, table=table)
        state.categories = {}


def parse_polygon(text: str) -> tuple[tuple[float, float, float], ...]:
    """Vertices of ``"x y z; x y z; ..."`` (commas also separate numbers); ValueError naming the
    bad vertex. An empty string is no polygon."""
    vertices = []
    for index, part in enumerate(p for p in text.split(";") if p.strip()):
        numbers = part.replace(",", " ").split()
        try:
            vertex = tuple(float(n) for n in numbers)
        except ValueError as error:
            raise ValueError(f"workspace_polygon_m vertex {index} {part.strip()!r}: {error}") from error
        if len(vertex) != 3:
            raise ValueError(f"workspace_polygon_m vertex {index} {part.strip()!r} needs x y z")
        vertices.append(vertex)
    if vertices and len(vertices) < 3:
        raise ValueError(f"workspace_polygon_m needs at least 3 vertices, got {len(vertices)}")
    return tuple(vertices)


@cache
def category_log_sizes() -> dict[str, np.ndarray]:
    """Mean log box size (3,) per category over the first 16 training instances of the mesh
    families (:mod:`diff9d_ros.synth.meshes`): the baseline's size prior for classification."""
    from diff9d_ros.synth.meshes import instance_mesh

    return {c: np.mean([np.log(instance_mesh(c, i).size_m) for i in range(16)], axis=0) for c in CATEGORIES}


def classify_by_size(points_m: np.ndarray, plane: TablePlane | None, mask_id: int) -> Detection:
    """The baseline box of the category whose mean size is nearest (in log size) to the box the
    baseline fits under that category's axis rules: the learning-free classifier of the baseline."""
    from diff9d_ros.pose.baseline import obb_baseline

    priors = category_log_sizes()
    boxes = [obb_baseline(points_m, c, plane, mask_id) for c in CATEGORIES]
    distances = [np.linalg.norm(np.log(b.size_m) - priors[b.category]) for b in boxes]
    best = boxes[int(np.argmin(distances))]
    best.score = float(np.exp(-min(distances)))
    return best


class PoseStage(Stage):
    """9-DoF detections of every mask: Diff9D or the geometric baseline (``backend_name``)."""

    name = "pose"
    reads = ("frame", "instance_mask", "categories", "table_plane")
    writes = ("detections",)

    def __init__(self, config: PipelineConfig) -> None:
        model = resolve_pose_model(config) if config.pose_backend != "baseline" else None
        if config.pose_backend == "diff9d" and model is None:
            raise ValueError(
                f"pose_backend 'diff9d' needs a trained checkpoint: none at "
                f"{_models_dir() / DEFAULT_POSE_MODEL} and no pose_model_path given "
                "(train with `diff9d pose train`, or use the baseline)"
            )
        self.estimator = None
        self.memory = None
        self.model_path = model
        if model is None:
            if config.pose_backend == "auto":
                LOG.warning(
                    "no trained Diff9D model (looked for %s): using the geometric baseline for poses",
                    _models_dir() / DEFAULT_POSE_MODEL,
                )
            self.backend_name = "baseline"
            return
        from diff9d_ros.device import torch_device
        from diff9d_ros.pose.engines import resolve_engine
        from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
        from diff9d_ros.pose.warm_start import WarmStartConfig, WarmStartMemory

        sampler = SamplerConfig(
            num_steps=config.ddim_steps,
            hypotheses=config.num_hypotheses,
            seed=config.seed,
            min_score=config.min_score,
        )
        # an unavailable device or engine is its own error, not a "corrupt model"
        resolve_engine(config.pose_engine, torch_device(config.device))
        try:
            self.estimator = PoseEstimator.from_file(
                model, sampler, device=config.device, engine=config.pose_engine
            )
        except Exception as error:  # torch.load raises many types on a file that is not a checkpoint
            raise ValueError(
                f"pose model {model} is corrupt or not a Diff9D checkpoint: {one_line(error)}"
            ) from error
        engine = self.estimator.engine_name
        warm_config = WarmStartConfig(config.pose_warm_steps, config.pose_warm_gate_m)
        warm_on = warm_config.chain_start(self.estimator.timesteps) > 0
        self.memory = WarmStartMemory(warm_config) if warm_on else None
        warm = f", warm {warm_config.steps}" if warm_on else ""
        self.backend_name = (
            f"diff9d (DDIM-{config.ddim_steps}{warm}, K={config.num_hypotheses}, {config.device}, {engine})"
        )
        LOG.info(
            "pose: Diff9D from %s on %s (%s), DDIM %d steps, %d hypotheses",
            model,
            config.device,
            engine,
            config.ddim_steps,
            config.num_hypotheses,
        )

    def __call__(self, state: FrameState) -> None:
        mask = state.instance_mask
        masks = instance_masks(mask)
        if self.estimator is not None:
            state.detections = self.estimator.estimate_masks(
                state.frame, masks, state.categories, state.table_plane, self.memory
            )
            return
        state.detections = self._baseline(state.frame, masks, state.categories, state.table_plane)

    @staticmethod
    def _baseline(
        frame: RGBDFrame,
        masks: Mapping[int, np.ndarray],
        categories: Mapping[int, str],
        plane: TablePlane | None,
    ) -> list[Detection]:
        from diff9d_ros.pose.baseline import obb_baseline
        from diff9d_ros.pose.observation import ObservationError, masked_points

        out = []
        for mask_id, mask in masks.items():
            try:
                points = masked_points(frame, mask, plane)
            except ObservationError as error:
                LOG.info("pose skips mask %d: %s", mask_id, error)
                continue
            category = categories.get(mask_id)
            if category is None:
                out.append(classify_by_size(points, plane, mask_id))
            else:
                out.append(obb_baseline(points, category_name(category), plane, mask_id))
        return out


class TrackingStage(Stage):
    """Track ids over time (sets ``Detection.track_id``) and the confirmed tracks.

    With a camera pose (``state.camera_pose``: the frame's camera in a fixed frame, from tf or a
    simulator), the tracker sees the detections moved into that fixed frame, so a camera that moves
    (on an arm, on a mobile base, orbiting in simulation) does not move the objects: gates,
    constant-velocity prediction and re-identification after a gap then see a still object as still.
    The tracks' histories are in the fixed frame; the detections keep the camera frame and get
    their ids, and coasted detections come back into the camera frame. Without poses, tracking runs
    in the camera frame. When poses start or stop arriving the tracks are dropped (their frame
    changed) and that is logged once.
    """

    name = "tracking"
    reads = ("detections",)
    writes = ("detections", "tracks")

    def __init__(self, config: PipelineConfig) -> None:
        from diff9d_ros.trajectory.tracker import MultiObjectTracker

        self.tracker = MultiObjectTracker(
            gate_m=config.tracker_gate_m,
            min_hits=config.tracker_min_hits,
            max_misses=config.tracker_max_misses,
            history_length=64,
            reid_window_s=config.tracker_reid_window_s,
            coast_frames=config.tracker_coast_frames,
        )
        self._in_fixed_frame: bool | None = None

    def __call__(self, state: FrameState) -> None:
        for detection in state.detections:
            if not (np.all(np.isfinite(detection.translation_m)) and np.all(np.isfinite(detection.rotation))):
                raise ValueError(f"detection {detection.track_id or detection.mask_id} has a NaN or inf pose")
        pose = state.camera_pose
        fixed = pose is not None
        if self._in_fixed_frame is not None and fixed != self._in_fixed_frame:
            LOG.warning(
                "camera poses %s: dropping %d track(s) and tracking in the %s frame from now on",
                "started" if fixed else "stopped",
                len(self.tracker.tracks),
                "fixed" if fixed else "camera",
            )
            self.tracker.reset()
        self._in_fixed_frame = fixed
        if not fixed:
            state.tracks = self.tracker.update(state.detections, state.stamp_ns)
            state.detections = [*state.detections, *self.tracker.coasting()]
            return
        in_fixed = [detection.moved(pose) for detection in state.detections]
        state.tracks = self.tracker.update(in_fixed, state.stamp_ns)
        for detection, moved in zip(state.detections, in_fixed, strict=True):
            detection.track_id = moved.track_id
        to_camera = np.linalg.inv(pose)
        state.detections = [*state.detections, *(d.moved(to_camera) for d in self.tracker.coasting())]


class ConstantVelocityForecaster:
    """The fallback without GeoTDM weights: each track's last displacement per frame, extrapolated
    (the constant-velocity baseline of GeoTDM's tables); one deterministic sample per track.

    ``frame_period_s``: None steps once per processed frame; a period resamples each history at it
    from the stamps first (:func:`~diff9d_ros.trajectory.forecaster.resample_history`).
    """

    def __init__(self, frame_period_s: float | None = None) -> None:
        self.frame_period_s = frame_period_s

    def forecast(self, tracks: Sequence, horizon: int, n_samples: int) -> dict[str, np.ndarray]:
        out = {}
        for track in tracks:
            history = track.history
            if self.frame_period_s is not None:
                from diff9d_ros.trajectory.forecaster import resample_history

                history = resample_history(history, track.stamps_ns, self.frame_period_s, 2)
            step = history[-1] - history[-2] if len(history) > 1 else np.zeros(3)
            ahead = np.arange(1, horizon + 1)[:, None] * step[None]
            out[track.track_id] = (history[-1][None] + ahead)[None]
        return out


class ForecastStage(Stage):
    """Future centre samples (K, horizon, 3) per confirmed track, ``forecast_period_s`` apart (the
    GeoTDM model's frame period; the constant-velocity fallback leaves it None: one processed frame).

    Object tracks live in the camera optical frame (3-D models), or in the fixed frame of the
    camera poses when frames carry them (:class:`TrackingStage`); the forecasts are then moved
    back into the camera frame at the input's stamp, so every consumer reads forecasts in the
    frame of the input. A planar (pedestrian) checkpoint is refused with a clear error, and the
    people stage below refuses a 3-D one: they are told apart by the ``planar`` flag every GeoTDM
    checkpoint stores.
    """

    name = "forecast"
    reads = ("tracks",)
    writes = ("forecasts", "forecast_period_s")
    #: Whether this stage needs a planar (ground-plane, pedestrian) model.
    planar_model = False
    default_models = DEFAULT_FORECAST_MODELS
    #: Frame period of the constant-velocity fallback (None: one step per processed frame).
    fallback_period_s: float | None = None

    def model_path_of(self, config: PipelineConfig) -> str:
        """The configured checkpoint path of this stage ("" = shipped default)."""
        return config.forecast_model_path

    def sampler_of(self, config: PipelineConfig) -> str:
        """The fast GeoTDM sampler of this stage."""
        return config.forecast_sampler

    def steps_of(self, config: PipelineConfig) -> int:
        """The sampler steps of this stage."""
        return config.forecast_steps

    def temperature_of(self, config: PipelineConfig) -> float | tuple[float, float]:
        """The initial-noise temperature of this stage's sampler (a pair: ramped over the future
        frames)."""
        return 1.0

    def max_step_of(self, config: PipelineConfig) -> float | None:
        """The largest median step per model frame forecast as observed (None: every speed)."""
        return None

    def speed_temperature_of(self, config: PipelineConfig) -> SpeedTemperature | None:
        """Each track's temperature scaled with its observed speed (None: the same for all)."""
        return None

    def draws_of(self, config: PipelineConfig) -> int | None:
        """Samples drawn per track, of which ``forecast_samples`` are kept (None: as many)."""
        return None

    def __init__(self, config: PipelineConfig) -> None:
        self.horizon, self.samples = config.forecast_horizon, config.forecast_samples
        model = (
            resolve_forecast_model(config, self.model_path_of(config), self.default_models)
            if config.forecast_backend != "constant_velocity"
            else None
        )
        if config.forecast_backend == "geotdm" and model is None:
            raise ValueError(
                f"forecast_backend 'geotdm' needs weights: none of {self.default_models} in "
                f"{_models_dir()} and no model path given (train with `diff9d traj train`)"
            )
        self.model_path = model
        if model is None:
            if config.forecast_backend == "auto":
                LOG.warning(
                    "no GeoTDM weights (looked for %s in %s): forecasting with the CONSTANT-VELOCITY "
                    "fallback, not GeoTDM",
                    ", ".join(self.default_models),
                    _models_dir(),
                )
            self.forecaster = ConstantVelocityForecaster(self.fallback_period_s)
            chosen = config.forecast_backend == "constant_velocity"
            self.backend_name = "constant_velocity" + ("" if chosen else " (fallback, no GeoTDM weights)")
            self.gate = self._gate(config)
            return
        from diff9d_ros.device import torch_device
        from diff9d_ros.trajectory.forecaster import Forecaster
        from diff9d_ros.trajectory.sampling import temperature_label

        torch_device(config.device)  # an unavailable device is its own error, not a "corrupt model"
        sampler, temperature = self.sampler_of(config), self.temperature_of(config)
        try:
            self.forecaster = Forecaster.from_checkpoint(
                model,
                sampler=sampler,
                num_steps=self.steps_of(config),
                temperature=temperature,
                max_step=self.max_step_of(config),
                speed_temperature=self.speed_temperature_of(config),
                draws=self.draws_of(config),
                seed=config.seed,
                device=config.device,
            )
        except Exception as error:  # torch.load raises many types on a damaged file
            raise ValueError(
                f"forecast model {model} is corrupt or not a GeoTDM checkpoint: {one_line(error)}"
            ) from error
        if self.forecaster.planar != self.planar_model:
            raise ValueError(self._wrong_kind(model))
        if self.horizon > self.forecaster.model.config.num_future:
            raise ValueError(
                f"forecast_horizon {self.horizon} exceeds the model's "
                f"{self.forecaster.model.config.num_future} future frames"
            )
        parts = [model.name, f"{sampler}-{self.steps_of(config)}"]
        label = temperature_label(temperature)
        if label:
            parts.append(f"temperature {label}")
        if self.forecaster.speed_temperature is not None:
            parts.append(self.forecaster.speed_temperature.label())
        if (self.forecaster.draws or 0) > self.samples:
            parts.append(f"{self.samples} of {self.forecaster.draws} draws")
        self.backend_name = f"geotdm ({', '.join(parts)})"
        self.gate = self._gate(config)

    def _gate(self, config: PipelineConfig) -> RateGate:
        """Once per forecaster frame period with ``forecast_at_model_rate`` (a forecaster without a
        period of its own, the objects' constant velocity, steps once per processed frame)."""
        return RateGate(self.forecaster.frame_period_s if config.forecast_at_model_rate else None)

    @staticmethod
    def _wrong_kind(model: Path) -> str:
        return (
            f"forecast model {model} is a planar (pedestrian) model; object tracks are in the camera's "
            "optical frame and need a 3-D model (models/geotdm_objects.pt); people go to the people "
            "stages (people_forecast_node)"
        )

    def __call__(self, state: FrameState) -> None:
        state.forecast_period_s = self.forecaster.frame_period_s
        if not self.gate.due(state.stamp_ns):
            state.skipped.append(self.name)
            return
        forecasts = self.forecaster.forecast(state.tracks, self.horizon, self.samples)
        if state.camera_pose is not None and not self.planar_model:  # people stay in the fixed frame
            to_camera = np.linalg.inv(state.camera_pose)
            forecasts = {
                track_id: samples @ to_camera[:3, :3].T + to_camera[:3, 3]
                for track_id, samples in forecasts.items()
            }
        state.forecasts = forecasts


class PeopleTrackingStage(Stage):
    """One history per person (:class:`~diff9d_ros.trajectory.people.PeopleTracker`): the people of
    ``state.detections`` must already be in the fixed frame; they get their track ids."""

    name = "people_tracking"
    reads = ("detections",)
    writes = ("detections", "tracks")

    def __init__(self, config: PipelineConfig) -> None:
        from diff9d_ros.trajectory.people import PeopleTracker

        self.tracker = PeopleTracker(
            gate_m=config.people_gate_m,
            min_hits=config.tracker_min_hits,
            max_misses=config.tracker_max_misses,
            max_age_s=config.people_max_age_s,
        )

    def __call__(self, state: FrameState) -> None:
        state.tracks = self.tracker.update(state.detections, state.stamp_ns)


class PeopleForecastStage(ForecastStage):
    """Planar GeoTDM samples per person at the model's frame period (ETH-UCY: 0.4 s); a 3-D (object)
    checkpoint is refused. Without weights (or ``constant_velocity``), constant velocity at 0.4 s."""

    name = "people_forecast"
    planar_model = True
    default_models = DEFAULT_PEOPLE_MODELS
    fallback_period_s = FRAME_PERIOD_S

    def model_path_of(self, config: PipelineConfig) -> str:
        return config.people_model_path

    def sampler_of(self, config: PipelineConfig) -> str:
        return config.people_sampler

    def steps_of(self, config: PipelineConfig) -> int:
        return config.people_steps

    def temperature_of(self, config: PipelineConfig) -> float | tuple[float, float]:
        return config.people_temperatures

    def max_step_of(self, config: PipelineConfig) -> float | None:
        return config.people_max_step_m or None

    def speed_temperature_of(self, config: PipelineConfig) -> SpeedTemperature | None:
        return config.people_speed_temperature

    def draws_of(self, config: PipelineConfig) -> int | None:
        return config.people_draws or None

    @staticmethod
    def _wrong_kind(model: Path) -> str:
        return (
            f"people model {model} is a 3-D (object) model; people are forecast on the ground plane "
            "of the fixed frame by a planar pedestrian model (models/geotdm_<scene>.pt)"
        )


class GraspStage(Stage):
    """Ranked grasps per detection index, on the segmentation stage's table plane; only where no
    segmentation stage runs (the grasp node, a separate process) is the plane fitted here.

    Plans on every frame due at ``grasp_period_s``, or on none with ``grasp_per_frame`` off; it is
    also the :class:`~diff9d_ros.grasp.on_request.FramePlanner` of grasps planned on request, which
    may come from another thread: one plan runs at a time.
    """

    name = "grasp"
    reads = ("frame", "detections")
    writes = ("grasps",)

    def __init__(self, config: PipelineConfig) -> None:
        from diff9d_ros.grasp.gripper import load_gripper
        from diff9d_ros.grasp.planner import GraspPlanner, PlannerConfig

        if config.grasp_urdf_path and not Path(config.grasp_urdf_path).is_file():
            raise ValueError(f"grasp_urdf_path {config.grasp_urdf_path} does not exist")
        gripper = load_gripper(config.grasp_urdf_path) if config.grasp_urdf_path else None
        self.planner = GraspPlanner(gripper, PlannerConfig(max_grasps=config.max_grasps))
        self.stride = config.scene_stride
        self.plane_config = SegmentationConfig(stride=8, ransac_iterations=config.ransac_iterations)
        self.seed = config.seed
        self.gate = RateGate(config.grasp_period_s)
        self.per_frame = config.grasp_per_frame
        self._planning = threading.Lock()

    def prepare_scene(self, frame: RGBDFrame, table_plane: TablePlane | None) -> SceneCloud:
        """The planner's scene cloud of ``frame`` on ``table_plane`` (None: fitted here)."""
        plane = table_plane
        if plane is None:
            plane = fit_table_plane(frame, self.plane_config, self.seed)
        points, _, _ = frame.intrinsics.backproject_grid(frame.depth_m, self.stride)
        return self.planner.prepare_scene(points, plane)

    def plan_objects(self, detections: Sequence[Detection], scene: SceneCloud) -> list[list[Grasp]]:
        """Ranked grasps of each of ``detections`` in ``scene``, one caller at a time (the planner
        keeps the counts of its last plan)."""
        with self._planning:
            return [self.planner.plan(detection, scene) for detection in detections]

    def __call__(self, state: FrameState) -> None:
        if not (self.per_frame and self.gate.due(state.stamp_ns)):
            state.skipped.append(self.name)
            return
        if not state.detections:
            state.grasps = {}
            return
        scene = self.prepare_scene(state.frame, state.table_plane)
        state.grasps = dict(enumerate(self.plan_objects(state.detections, scene)))


STAGE_CLASSES: dict[str, type[Stage]] = {
    "segmentation": SegmentationStage,
    "pose": PoseStage,
    "tracking": TrackingStage,
    "forecast": ForecastStage,
    "grasp": GraspStage,
    "people_tracking": PeopleTrackingStage,
    "people_forecast": PeopleForecastStage,
}


def build_stages(config: PipelineConfig, names: Sequence[str]) -> list[Stage]:
    """The stages ``names`` (from :data:`STAGE_NAMES`) in that order, built from ``config``.

    ValueError for a bad config, an unknown or repeated stage name, a missing or corrupt model.
    Sets the process's CPU threads to ``config.threads`` first (:func:`apply_threads`).
    """
    config.validate()
    apply_threads(config.threads)
    unknown = [n for n in names if n not in STAGE_CLASSES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGE_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"stage names repeat: {list(names)}")
    return [STAGE_CLASSES[n](config) for n in names]
