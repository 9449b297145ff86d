"""Parameters of the nodes: names, defaults, descriptions, ranges and validation, without rclpy.

Each node declares its :class:`ParamSpec` list (the node turns ``range``/``choices`` into a ROS
``ParameterDescriptor``, so ``ros2 param describe`` shows them) and validates the values it read
with :func:`validate_params` in ``on_configure``: a bad value fails the transition with a
message naming the parameter, instead of failing later inside a callback.

One source of defaults: a parameter named like a :class:`~diff9d_ros.pipeline.PipelineConfig`
field takes that field's default (:func:`pipeline_param`; the one deliberate exception is listed in
:data:`DIFFERS_FROM_PIPELINE`), and ``config/diff9d.yaml`` is generated from these tables
(``diff9d docs yaml``; the tests check the file equals the generated text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from diff9d_ros.pipeline import (
    FORECAST_BACKENDS,
    FORECAST_SAMPLERS,
    POSE_BACKENDS,
    POSE_ENGINES,
    PipelineConfig,
)
from diff9d_ros.ros.topics import RELIABILITIES

Scalar = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (its type is the parameter's type), description, and allowed values.

    ``range`` is an inclusive (low, high) for int/float parameters; ``choices`` lists the allowed
    values of a string or int parameter.
    """

    name: str
    default: Scalar
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[Scalar, ...] | None = None

    def __post_init__(self) -> None:
        if self.range is not None and not isinstance(self.default, (int, float)):
            raise ValueError(f"parameter {self.name!r}: a range needs a numeric default")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"parameter {self.name!r}: range {self.range} is empty")

    @property
    def kind(self) -> type:
        """bool, int, float or str (bool first: a bool is also an int in Python)."""
        for kind in (bool, int, float, str):
            if isinstance(self.default, kind):
                return kind
        raise ValueError(f"parameter {self.name!r}: unsupported default {self.default!r}")

    def check(self, value: Any, node: str) -> Scalar:
        """``value`` converted to the parameter's type; ValueError naming node, parameter and rule."""
        where = f"{node}: parameter {self.name!r}"
        kind = self.kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"{where} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
        if self.range is not None:
            low, high = self.range
            if not low <= value <= high:
                raise ValueError(f"{where} must lie in [{low:g}, {high:g}], got {value!r}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"{where} must be one of {allowed}, got {value!r}")
        return value


#: PipelineConfig's defaults: the one source of every pipeline parameter's default.
PIPELINE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(PipelineConfig)}
#: Node parameters whose default differs from PipelineConfig's on purpose, and why.
DIFFERS_FROM_PIPELINE: dict[str, str] = {
    "use_given_masks": "a node without an external segmenter must not wait for masks nobody sends",
}


def pipeline_param(name: str, description: str, **limits: Any) -> ParamSpec:
    """A parameter that sets the PipelineConfig field ``name``, with that field's default."""
    return ParamSpec(name, PIPELINE_DEFAULTS[name], description, **limits)


def realsense_param(name: str, description: str, **limits: Any) -> ParamSpec:
    """A camera_node parameter that sets the RealSenseConfig field ``name``, with its default."""
    from diff9d_ros.sources.realsense import RealSenseConfig

    return ParamSpec(name, getattr(RealSenseConfig, name), description, **limits)


def common_params(expected_rate_hz: float = 0.0, qos_depth: int = 1) -> tuple[ParamSpec, ...]:
    """Parameters of every node; ``expected_rate_hz`` and ``qos_depth`` defaults differ per node."""
    return (
        ParamSpec(
            "reliability",
            "best_effort",
            "QoS reliability of the sensor streams (images, camera info); results are always reliable",
            choices=RELIABILITIES,
        ),
        ParamSpec(
            "qos_depth", qos_depth, "QoS history depth (keep last) of the sensor streams", range=(1, 100)
        ),
        ParamSpec("diagnostics_period_s", 1.0, "period of the /diagnostics status", range=(0.1, 60.0)),
        ParamSpec(
            "expected_rate_hz",
            expected_rate_hz,
            "diagnostics warn when the output rate falls below this (0 = no rate check)",
            range=(0.0, 1000.0),
        ),
        pipeline_param(
            "threads",
            "CPU threads of torch, OpenMP and BLAS in this node's process (0 = the free cores)",
            range=(0, 256),
        ),
        ParamSpec(
            "no_input_warn_s",
            5.0,
            "warn (naming the topics heard and available) when no input arrived this long after "
            "activation (0 = never)",
            range=(0.0, 3600.0),
        ),
    )


def max_age_param(default_s: float) -> ParamSpec:
    """``max_frame_age_s``: pose node 1 s; grasp and forecast nodes 0 (their input, detections,
    already carries the pose node's latency, so an age limit would drop every result of a slow
    model)."""
    return ParamSpec(
        "max_frame_age_s",
        default_s,
        "drop an input whose header stamp is older than this on arrival (0 = keep all)",
        range=(0.0, 60.0),
    )


SYNC_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "sync_slop_s",
        0.05,
        "approximate-time synchronisation: largest stamp difference within one RGB-D set",
        range=(0.0, 1.0),
    ),
    ParamSpec("sync_queue_size", 10, "messages per input kept by the synchroniser", range=(1, 1000)),
)

_DEVICE = pipeline_param("device", "torch device of the model: cpu, cuda or cuda:N")
#: Image transports of the pose and grasp nodes' camera inputs (image_transport's names).
TRANSPORT_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "rgb_transport",
        "raw",
        "colour input: raw (sensor_msgs/Image) or compressed (CompressedImage, jpeg/png); remap "
        "rgb/image to the compressed topic, e.g. /camera/camera/color/image_raw/compressed",
        choices=("raw", "compressed"),
    ),
    ParamSpec(
        "depth_transport",
        "raw",
        "depth input: raw (sensor_msgs/Image) or compressedDepth (CompressedImage, png)",
        choices=("raw", "compressedDepth"),
    ),
)

CAMERA_PARAMS: tuple[ParamSpec, ...] = (
    realsense_param("width", "colour and depth width in pixels", range=(1, 4096)),
    realsense_param("height", "colour and depth height in pixels", range=(1, 4096)),
    realsense_param("fps", "frame rate of both streams", choices=(6, 15, 30, 60, 90)),
    realsense_param("serial", "serial number of the camera to open (empty = first found)"),
    realsense_param("recording", "play a RealSense recording (.bag/.db3) instead of a camera"),
    realsense_param("frame_id", "frame id of the published images"),
    ParamSpec(
        "depth_encoding",
        "16UC1",
        "published depth: 16UC1 millimetres or 32FC1 metres",
        choices=("16UC1", "32FC1"),
    ),
    realsense_param(
        "timeout_s", "wait this long for a frameset before reporting the camera lost", range=(0.01, 60.0)
    ),
    ParamSpec(
        "stamp_source",
        "ros_clock",
        "header stamps: ros_clock (time of arrival) or device (librealsense timestamp)",
        choices=("ros_clock", "device"),
    ),
)

_LIFETIME = ParamSpec(
    "marker_lifetime_s", 0.5, "RViz drops a marker this long after its message", range=(0.0, 60.0)
)

POSE_PARAMS: tuple[ParamSpec, ...] = (
    pipeline_param(
        "pose_backend",
        "auto (Diff9D when its checkpoint exists, else the geometric baseline), diff9d or baseline",
        choices=POSE_BACKENDS,
    ),
    pipeline_param("pose_model_path", "Diff9D checkpoint (empty = the shipped model in models/)"),
    _DEVICE,
    pipeline_param(
        "pose_engine",
        "runs the pose network: auto (onnxruntime-int8 on the CPU if ONNX Runtime is installed, else "
        "torch), torch, onnxruntime (fp32), onnxruntime-int8",
        choices=POSE_ENGINES,
    ),
    pipeline_param("ddim_steps", "DDIM steps of the pose sampler (Diff9D uses 3)", range=(1, 1000)),
    pipeline_param(
        "num_hypotheses", "diffusion samples per object; their spread gives the covariance", range=(1, 256)
    ),
    pipeline_param(
        "pose_warm_steps",
        "temporal warm start: an object seen in the last frame starts from its last pose and runs only "
        "the last this many DDIM steps (0 = every object cold)",
        range=(0, 1000),
    ),
    pipeline_param(
        "pose_warm_gate_m",
        "warm start only when the centroid of the object's points moved less than this since the last frame",
        range=(0.001, 1.0),
    ),
    pipeline_param("seed", "seed of the pose sampler's noise", range=(0, 2**31 - 1)),
    ParamSpec(
        "use_given_masks",
        False,
        "subscribe to segmentation/image + segmentation/detections and use those instance masks "
        "instead of the built-in tabletop segmentation",
    ),
    pipeline_param("segmentation_stride", "pixel stride of the tabletop segmentation", range=(1, 64)),
    pipeline_param("ransac_iterations", "RANSAC iterations of the table-plane fit", range=(1, 100000)),
    pipeline_param(
        "max_range_m", "built-in segmentation: clusters beyond this range are rejected", range=(0.1, 20.0)
    ),
    ParamSpec(
        "workspace_polygon_m",
        "",
        "built-in segmentation: 'x y z; x y z; ...' camera-frame polygon on the table; clusters outside it "
        "are rejected (empty = the whole table)",
    ),
    pipeline_param(
        "thin_part_reach_m",
        "built-in segmentation: how far a cluster grows into thin parts attached to it (a laptop's base "
        "under the depth noise); 0 = off",
        range=(0.0, 2.0),
    ),
    pipeline_param(
        "min_score", "built-in segmentation: detections scoring less are dropped", range=(0.0, 1.0)
    ),
    ParamSpec(
        "frame_id_override",
        "",
        "publish results in this frame instead of the image's (e.g. an optical frame in Gazebo)",
    ),
    ParamSpec("publish_tf", True, "broadcast one TF frame per detected object"),
    _LIFETIME,
)

GRASP_PARAMS: tuple[ParamSpec, ...] = (
    pipeline_param("grasp_urdf_path", "URDF with the gripper (empty = urdf/diff9d_robot.urdf)"),
    pipeline_param("max_grasps", "grasps kept per object, best first", range=(1, 1000)),
    pipeline_param("scene_stride", "pixel stride of the scene cloud for collision checks", range=(1, 64)),
    pipeline_param("ransac_iterations", "RANSAC iterations of the table-plane fit", range=(1, 100000)),
    pipeline_param(
        "grasp_period_s",
        "plan grasps at most once per this many seconds of stamps (0 = every frame)",
        range=(0.0, 3600.0),
    ),
    pipeline_param(
        "grasp_per_frame",
        "plan grasps on the incoming detections (at most once per grasp_period_s) and publish them; "
        "false: only on request (~/plan_grasps)",
    ),
    pipeline_param(
        "grasp_request_max_age_s",
        "~/plan_grasps refuses a request when the newest frame with detections is older than this "
        "(0 = any age)",
        range=(0.0, 3600.0),
    ),
    ParamSpec(
        "frame_buffer_size",
        60,
        "RGB-D frames kept to meet the detections computed from them (latency x rate)",
        range=(1, 1000),
    ),
    ParamSpec(
        "stamp_tolerance_s",
        0.001,
        "a detections message matches the frame whose stamp is this close",
        range=(0.0, 1.0),
    ),
    _LIFETIME,
)

_TF_TIMEOUT = ParamSpec(
    "tf_timeout_s",
    0.1,
    "wait this long for a tf2 transform at the detections' stamp (into fixed_frame or tracking_frame)",
    range=(0.0, 10.0),
)

FORECAST_PARAMS: tuple[ParamSpec, ...] = (
    pipeline_param(
        "forecast_backend",
        "auto (GeoTDM when its checkpoint exists, else constant velocity), geotdm or constant_velocity",
        choices=FORECAST_BACKENDS,
    ),
    pipeline_param(
        "forecast_model_path",
        "GeoTDM checkpoint (empty = models/geotdm_objects.pt, else constant velocity)",
    ),
    _DEVICE,
    pipeline_param("forecast_horizon", "future frames per forecast", range=(1, 1000)),
    pipeline_param("forecast_samples", "diffusion samples per track", range=(1, 1000)),
    pipeline_param(
        "forecast_sampler",
        "fast GeoTDM sampler: dpmpp_2m (DPM-Solver++ 2M) or ddim",
        choices=FORECAST_SAMPLERS,
    ),
    pipeline_param("forecast_steps", "sampler steps of the forecaster", range=(1, 1000)),
    pipeline_param(
        "forecast_at_model_rate",
        "forecast once per model frame period (GeoTDM objects 0.1 s, people 0.4 s) instead of on every input",
    ),
    pipeline_param("tracker_gate_m", "largest distance of a detection to its track", range=(1e-4, 100.0)),
    pipeline_param("tracker_min_hits", "detections before a track is confirmed", range=(1, 1000)),
    pipeline_param("tracker_max_misses", "missed frames before a track is dropped", range=(0, 1000)),
    pipeline_param(
        "tracker_reid_window_s",
        "seconds a lost track can be re-identified under its old id (0 = never)",
        range=(0.0, 3600.0),
    ),
    pipeline_param(
        "tracker_coast_frames",
        "missed frames during which a confirmed track is still published, at its predicted centre "
        "(at most tracker_max_misses)",
        range=(0, 1000),
    ),
    ParamSpec(
        "tracking_frame",
        "",
        "fixed frame (odom, map) the objects are tracked in, through tf2 at the detections' stamp, so that "
        "a moving camera does not move them; forecasts still come in the detections' frame; empty: "
        "track in the detections' own (camera) frame",
    ),
    _TF_TIMEOUT,
    ParamSpec(
        "forecast_period_s",
        0.1,
        "time between constant-velocity forecast frames (Path pose stamps); a GeoTDM model's own "
        "frame period takes precedence",
        range=(0.001, 60.0),
    ),
    _LIFETIME,
)

_FORECAST_BY_NAME = {spec.name: spec for spec in FORECAST_PARAMS}

PEOPLE_PARAMS: tuple[ParamSpec, ...] = (
    _FORECAST_BY_NAME["forecast_backend"],
    pipeline_param(
        "people_model_path",
        "planar GeoTDM checkpoint of pedestrians (empty = the first shipped models/geotdm_<scene>.pt, "
        "eth, hotel, univ, zara1, zara2)",
    ),
    _DEVICE,
    *(_FORECAST_BY_NAME[name] for name in ("forecast_horizon", "forecast_samples")),
    pipeline_param(
        "people_sampler",
        "fast GeoTDM sampler of the people: ddim or dpmpp_2m (DPM-Solver++ 2M); the default was chosen "
        "on validation with the temperature",
        choices=FORECAST_SAMPLERS,
    ),
    pipeline_param(
        "people_steps",
        "sampler steps of the people forecaster (the shipped models are fine-tuned for 2; docs/people.md)",
        range=(1, 1000),
    ),
    pipeline_param(
        "people_temperature_first",
        "scale of the sampler's initial noise at the first future frame, ramped linearly to "
        "people_temperature at the last (equal: one scale for all; 1 = as trained; the default was "
        "chosen on validation: 3-step samples spread less than people do, the more so the later)",
        range=(0.01, 10.0),
    ),
    pipeline_param(
        "people_temperature",
        "scale of the sampler's initial noise at the last future frame (see people_temperature_first)",
        range=(0.01, 10.0),
    ),
    pipeline_param(
        "people_max_step_m",
        "people stepping farther than this per model frame (median; 0.4 s frames: 0.35 m = 0.875 m/s) are "
        "forecast at this speed and scaled back: the models know their training scenes' speeds only "
        "(0 = off; chosen on validation with sped-up windows)",
        range=(0.0, 10.0),
    ),
    pipeline_param(
        "people_speed_reference_m",
        "each person's temperature is scaled by (s + people_speed_floor_m) / (this + people_speed_floor_m), "
        "s their observed step per model frame: standing people's samples spread less than walkers' "
        "(0 = off; chosen on validation)",
        range=(0.0, 10.0),
    ),
    pipeline_param(
        "people_speed_floor_m",
        "the speed-independent part of the people's temperature scaling (see people_speed_reference_m)",
        range=(0.001, 10.0),
    ),
    pipeline_param(
        "people_draws",
        "samples drawn per person, of which forecast_samples are kept, those whose end points cover the "
        "draws' (farthest-point selection; GeoTDM's protocol keeps 20 of 60); each draw costs time "
        "(0 = forecast_samples, all kept; the default was chosen on validation)",
        range=(0, 1000),
    ),
    _FORECAST_BY_NAME["forecast_at_model_rate"],
    pipeline_param("fixed_frame", "z-up frame the people are tracked and forecast in (map or odom)"),
    pipeline_param("person_class", "class id of the detections that are people (others are ignored)"),
    pipeline_param(
        "people_gate_m", "largest distance of a person to its track (no ids given)", range=(1e-3, 100.0)
    ),
    pipeline_param(
        "people_max_age_s", "forget a person (given ids) not seen for this long", range=(1e-3, 3600.0)
    ),
    _FORECAST_BY_NAME["tracker_min_hits"],
    _FORECAST_BY_NAME["tracker_max_misses"],
    _TF_TIMEOUT,
    _LIFETIME,
)

NODE_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "camera_node": (*CAMERA_PARAMS, *common_params(expected_rate_hz=25.0)),
    "pose_node": (*POSE_PARAMS, *TRANSPORT_PARAMS, *SYNC_PARAMS, max_age_param(1.0), *common_params()),
    "grasp_node": (
        *GRASP_PARAMS,
        *TRANSPORT_PARAMS,
        *SYNC_PARAMS,
        max_age_param(0.0),
        *common_params(qos_depth=5),
    ),
    "forecast_node": (*FORECAST_PARAMS, max_age_param(0.0), *common_params()),
    "people_forecast_node": (*PEOPLE_PARAMS, max_age_param(0.0), *common_params()),
}
#: Parameters every rclpy node has already (never declared by us, accepted in config files).
BUILTIN_PARAMS: frozenset[str] = frozenset({"use_sim_time"})
_DEVICE_RE = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")


def node_params(node: str) -> tuple[ParamSpec, ...]:
    """The parameter specs of ``node``; ValueError for an unknown node."""
    if node not in NODE_PARAMS:
        raise ValueError(f"unknown node {node!r}; nodes: {', '.join(NODE_PARAMS)}")
    return NODE_PARAMS[node]


def validate_params(node: str, values: Mapping[str, Any]) -> dict[str, Scalar]:
    """Every parameter of ``node`` checked and typed: ``values`` over the defaults.

    ValueError names the first bad value: unknown name, wrong type, out of range, not a choice,
    or an inconsistent combination (a device string torch does not know, a serial together with a
    recording).
    """
    specs = {spec.name: spec for spec in node_params(node)}
    unknown = sorted(set(values) - set(specs) - BUILTIN_PARAMS)
    if unknown:
        raise ValueError(f"{node}: unknown parameter(s) {unknown}; known: {', '.join(sorted(specs))}")
    out = {name: spec.check(values.get(name, spec.default), node) for name, spec in specs.items()}
    if "device" in out and not _DEVICE_RE.match(str(out["device"])):
        device = out["device"]
        raise ValueError(f"{node}: parameter 'device' must be cpu, cuda, cuda:N or mps, got {device!r}")
    if node == "camera_node" and out["serial"] and out["recording"]:
        raise ValueError("camera_node: give either parameter 'serial' or 'recording', not both")
    return out


def realsense_config(values: Mapping[str, Scalar]) -> Any:
    """:class:`~diff9d_ros.sources.realsense.RealSenseConfig` of validated camera_node values."""
    from diff9d_ros.sources.realsense import RealSenseConfig

    config = RealSenseConfig(
        width=int(values["width"]),
        height=int(values["height"]),
        fps=int(values["fps"]),
        serial=str(values["serial"]),
        recording=str(values["recording"]),
        frame_id=str(values["frame_id"]),
        timeout_s=float(values["timeout_s"]),
    )
    config.validate()
    return config


def pipeline_config(values: Mapping[str, Scalar]) -> Any:
    """``diff9d_ros.pipeline.PipelineConfig`` from validated node values.

    Node parameters named like a PipelineConfig field set that field (``device``,
    ``pose_model_path``, ``forecast_horizon``, ...); the others, and empty strings ("use the
    shipped file"), keep PipelineConfig's default.
    """
    from diff9d_ros.pipeline import PipelineConfig

    names = {f.name for f in fields(PipelineConfig)}
    return PipelineConfig(**{k: v for k, v in values.items() if k in names and v != ""})
