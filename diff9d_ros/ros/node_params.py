"""Parameters of the four nodes: names, defaults, descriptions, ranges and validation, without rclpy.

Each node declares its :class:`ParamSpec` list (the node turns ``range``/``choices`` into a ROS
``ParameterDescriptor``, so ``ros2 param describe`` shows them) and validates the values it read
with :func:`validate_params` in ``on_configure``: a bad value fails the transition with a
message naming the parameter, instead of failing later inside a callback. ``config/*.yaml`` is
checked against the same tables by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from diff9d_ros.pipeline import FORECAST_BACKENDS, FORECAST_SAMPLERS, POSE_BACKENDS
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


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "reliability",
        "best_effort",
        "QoS reliability of the sensor streams (images, camera info); results are always reliable",
        choices=RELIABILITIES,
    ),
    ParamSpec("qos_depth", 1, "QoS history depth (keep last) of the sensor streams", range=(1, 100)),
    ParamSpec("diagnostics_period_s", 1.0, "period of the /diagnostics status", range=(0.1, 60.0)),
    ParamSpec(
        "expected_rate_hz",
        0.0,
        "diagnostics warn when the output rate falls below this (0 = no rate check)",
        range=(0.0, 1000.0),
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

_DEVICE = ParamSpec("device", "cpu", "torch device of the model: cpu, cuda or cuda:N")

CAMERA_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("width", 640, "colour and depth width in pixels", range=(1, 4096)),
    ParamSpec("height", 480, "colour and depth height in pixels", range=(1, 4096)),
    ParamSpec("fps", 30, "frame rate of both streams", choices=(6, 15, 30, 60, 90)),
    ParamSpec("serial", "", "serial number of the camera to open (empty = first found)"),
    ParamSpec("recording", "", "play a RealSense recording (.bag/.db3) instead of a camera"),
    ParamSpec("frame_id", "camera_color_optical_frame", "frame id of the published images"),
    ParamSpec(
        "depth_encoding",
        "16UC1",
        "published depth: 16UC1 millimetres or 32FC1 metres",
        choices=("16UC1", "32FC1"),
    ),
    ParamSpec(
        "timeout_s", 2.0, "wait this long for a frameset before reporting the camera lost", range=(0.01, 60.0)
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
    ParamSpec(
        "pose_backend",
        "auto",
        "auto (Diff9D when its checkpoint exists, else the geometric baseline), diff9d or baseline",
        choices=POSE_BACKENDS,
    ),
    ParamSpec("pose_model_path", "", "Diff9D checkpoint (empty = the shipped model in models/)"),
    _DEVICE,
    ParamSpec("ddim_steps", 3, "DDIM steps of the pose sampler (Diff9D uses 3)", range=(1, 1000)),
    ParamSpec(
        "num_hypotheses", 1, "diffusion samples per object; their spread gives the covariance", range=(1, 256)
    ),
    ParamSpec("seed", 0, "seed of the pose sampler's noise", range=(0, 2**31 - 1)),
    ParamSpec(
        "use_given_masks",
        False,
        "subscribe to segmentation/image + segmentation/detections and use those instance masks "
        "instead of the built-in tabletop segmentation",
    ),
    ParamSpec("segmentation_stride", 4, "pixel stride of the tabletop segmentation", range=(1, 64)),
    ParamSpec("ransac_iterations", 100, "RANSAC iterations of the table-plane fit", range=(1, 100000)),
    ParamSpec(
        "frame_id_override",
        "",
        "publish results in this frame instead of the image's (e.g. an optical frame in Gazebo)",
    ),
    ParamSpec("publish_tf", True, "broadcast one TF frame per detected object"),
    _LIFETIME,
)

GRASP_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("grasp_urdf_path", "", "URDF with the gripper (empty = urdf/diff9d_robot.urdf)"),
    ParamSpec("max_grasps", 5, "grasps kept per object, best first", range=(1, 1000)),
    ParamSpec("scene_stride", 2, "pixel stride of the scene cloud for collision checks", range=(1, 64)),
    ParamSpec("ransac_iterations", 100, "RANSAC iterations of the table-plane fit", range=(1, 100000)),
    ParamSpec(
        "frame_buffer_size",
        30,
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

FORECAST_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "forecast_backend",
        "auto",
        "auto (GeoTDM when its checkpoint exists, else constant velocity), geotdm or constant_velocity",
        choices=FORECAST_BACKENDS,
    ),
    ParamSpec(
        "forecast_model_path",
        "",
        "GeoTDM checkpoint (empty = models/geotdm_objects.pt, else constant velocity)",
    ),
    _DEVICE,
    ParamSpec("forecast_horizon", 12, "future frames per forecast", range=(1, 1000)),
    ParamSpec("forecast_samples", 20, "diffusion samples per track", range=(1, 1000)),
    ParamSpec(
        "forecast_sampler",
        "dpmpp_2m",
        "fast GeoTDM sampler: dpmpp_2m (DPM-Solver++ 2M) or ddim",
        choices=FORECAST_SAMPLERS,
    ),
    ParamSpec("forecast_steps", 3, "sampler steps of the forecaster", range=(1, 1000)),
    ParamSpec("tracker_gate_m", 0.1, "largest distance of a detection to its track", range=(1e-4, 100.0)),
    ParamSpec("tracker_min_hits", 3, "detections before a track is confirmed", range=(1, 1000)),
    ParamSpec("tracker_max_misses", 5, "missed frames before a track is dropped", range=(0, 1000)),
    ParamSpec(
        "forecast_period_s",
        0.4,
        "time between constant-velocity forecast frames (Path pose stamps); a GeoTDM model's own "
        "frame period takes precedence",
        range=(0.001, 60.0),
    ),
    _LIFETIME,
)

_FORECAST_BY_NAME = {spec.name: spec for spec in FORECAST_PARAMS}

PEOPLE_PARAMS: tuple[ParamSpec, ...] = (
    _FORECAST_BY_NAME["forecast_backend"],
    ParamSpec(
        "people_model_path",
        "",
        "planar GeoTDM checkpoint of pedestrians (empty = the shipped models/geotdm_eth.pt)",
    ),
    _DEVICE,
    *(_FORECAST_BY_NAME[name] for name in ("forecast_horizon", "forecast_samples", "forecast_sampler")),
    _FORECAST_BY_NAME["forecast_steps"],
    ParamSpec("fixed_frame", "map", "z-up frame the people are tracked and forecast in (map or odom)"),
    ParamSpec("person_class", "person", "class id of the detections that are people (others are ignored)"),
    ParamSpec(
        "people_gate_m", 1.0, "largest distance of a person to its track (no ids given)", range=(1e-3, 100.0)
    ),
    ParamSpec(
        "people_max_age_s",
        1.0,
        "forget a person (given ids) not seen for this long",
        range=(1e-3, 3600.0),
    ),
    _FORECAST_BY_NAME["tracker_min_hits"],
    _FORECAST_BY_NAME["tracker_max_misses"],
    ParamSpec(
        "tf_timeout_s",
        0.1,
        "wait this long for the transform into fixed_frame at the detections' stamp",
        range=(0.0, 10.0),
    ),
    _LIFETIME,
)

NODE_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "camera_node": CAMERA_PARAMS + COMMON_PARAMS,
    "pose_node": (*POSE_PARAMS, *SYNC_PARAMS, max_age_param(1.0), *COMMON_PARAMS),
    "grasp_node": (*GRASP_PARAMS, *SYNC_PARAMS, max_age_param(0.0), *COMMON_PARAMS),
    "forecast_node": (*FORECAST_PARAMS, max_age_param(0.0), *COMMON_PARAMS),
    "people_forecast_node": (*PEOPLE_PARAMS, max_age_param(0.0), *COMMON_PARAMS),
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
