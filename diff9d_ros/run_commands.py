"""``diff9d run``, ``diff9d demo`` and ``diff9d eval-bag``: the whole stack without ROS.

* ``run --source synthetic | bag:PATH | sdf:WORLD``: frames -> detections -> grasps -> forecasts,
  written as a rosbag2 of ROS 2 messages, overlay PNGs and a report (:mod:`diff9d_ros.runner`).
* ``demo``: a short rendered sequence through the whole stack (a few minutes on a 2-core CPU).
* ``eval-bag BAG``: the stack on a recorded bag, scored against its ground-truth topic
  (:mod:`diff9d_ros.bag.evaluate`): NOCS pose AP, id switches, forecast ADE/FDE, throughput.

A bag of person detections (a Detection3DArray on ``--people-topic``, e.g. from ``diff9d traj bag``)
runs the people path instead (:mod:`diff9d_ros.people_runner`): fixed frame through the bag's
``/tf``, tracks, planar GeoTDM forecasts, pedestrian ADE/FDE and minADE/minFDE.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from diff9d_ros.pipeline import FORECAST_BACKENDS, POSE_BACKENDS, POSE_ENGINES, PipelineConfig

if TYPE_CHECKING:
    from diff9d_ros.bag.report import RunResult
    from diff9d_ros.pipeline import SourceFrame
    from diff9d_ros.sources.bag import BagSource

LOG = logging.getLogger(__name__)

#: The defaults of every stack option: PipelineConfig's, written once (tests/test_defaults.py).
DEFAULTS = PipelineConfig()
#: Stack option (argparse dest) -> the PipelineConfig field it sets.
OPTION_FIELDS: dict[str, str] = {
    "pose": "pose_backend",
    "model": "pose_model_path",
    "pose_engine": "pose_engine",
    "ddim_steps": "ddim_steps",
    "hypotheses": "num_hypotheses",
    "warm_steps": "pose_warm_steps",
    "forecast": "forecast_backend",
    "forecast_model": "forecast_model_path",
    "horizon": "forecast_horizon",
    "samples": "forecast_samples",
    "forecast_at_model_rate": "forecast_at_model_rate",
    "grasp_period": "grasp_period_s",
    "urdf": "grasp_urdf_path",
    "seed": "seed",
    "threads": "threads",
    "device": "device",
}
#: ``--source`` forms, for the help text and the error message.
SOURCES = "synthetic | sdf:WORLD | bag:PATH | realsense[:SERIAL] | realsense-file:REC.bag"


def _default_out(kind: str) -> Path:
    """``diff9d_out/<kind>_<time>`` under the working directory."""
    return Path("diff9d_out") / f"{kind}_{time.strftime('%Y%m%d_%H%M%S')}"


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stack")
    group.add_argument(
        "--pose",
        choices=POSE_BACKENDS,
        default=DEFAULTS.pose_backend,
        help="pose backend: auto = Diff9D if a trained model exists, else the geometric baseline",
    )
    group.add_argument(
        "--model", default=DEFAULTS.pose_model_path, help="Diff9D checkpoint (empty: models/diff9d_pose.pt)"
    )
    group.add_argument(
        "--pose-engine",
        choices=POSE_ENGINES,
        default=DEFAULTS.pose_engine,
        help="runs the pose network: auto = ONNX Runtime int8 on the CPU when installed, else torch",
    )
    group.add_argument(
        "--ddim-steps", type=int, default=DEFAULTS.ddim_steps, help="DDIM steps of the pose sampler"
    )
    group.add_argument(
        "--hypotheses", type=int, default=DEFAULTS.num_hypotheses, help="pose samples per object"
    )
    group.add_argument(
        "--warm-steps",
        type=int,
        default=DEFAULTS.pose_warm_steps,
        help="temporal warm start: DDIM steps of an object seen in the last frame (0 = always cold)",
    )
    group.add_argument(
        "--forecast",
        choices=FORECAST_BACKENDS,
        default=DEFAULTS.forecast_backend,
        help="forecaster: auto = GeoTDM if weights exist, else the constant-velocity fallback",
    )
    group.add_argument(
        "--forecast-model",
        default=DEFAULTS.forecast_model_path,
        help="GeoTDM checkpoint (empty: models/geotdm_objects.pt)",
    )
    group.add_argument("--horizon", type=int, default=DEFAULTS.forecast_horizon, help="forecast frames")
    group.add_argument(
        "--samples", type=int, default=DEFAULTS.forecast_samples, help="forecast samples per track"
    )
    group.add_argument(
        "--forecast-every-frame",
        dest="forecast_at_model_rate",
        action="store_false",
        help="forecast on every frame instead of once per model period (GeoTDM objects 0.1 s, people 0.4 s)",
    )
    group.add_argument(
        "--grasp-period",
        type=float,
        default=DEFAULTS.grasp_period_s,
        help="plan grasps at most once per this many seconds of stamps (0: every frame)",
    )
    group.add_argument(
        "--urdf", default=DEFAULTS.grasp_urdf_path, help="robot description with the gripper (empty: urdf/)"
    )
    group.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the samplers and the source")
    group.add_argument(
        "--device", default=DEFAULTS.device, help="torch device of the models: cpu, cuda, cuda:N or mps"
    )
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--out", type=Path, default=None, help="output folder (empty: diff9d_out/<kind>_<time> here)"
    )
    out.add_argument("--overlays", type=int, default=6, help="overlay PNGs to write")
    out.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="output bag storage")
    out.add_argument("--record-inputs", action="store_true", help="also write the input images to the bag")
    out.add_argument(
        "--realtime", action="store_true", help="play the source at its recorded rate; newest frame wins"
    )


def _add_bag_options(parser: argparse.ArgumentParser) -> None:
    from diff9d_ros.sources.bag import DEFAULT_GT_TOPIC, PRESET_HELP, TOPIC_PRESETS

    group = parser.add_argument_group("bag topics")
    group.add_argument(
        "--topics",
        choices=("auto", *TOPIC_PRESETS),
        default="auto",
        help=f"topic names: auto = the preset whose topics the bag has; {PRESET_HELP}",
    )
    group.add_argument("--rgb-topic", default="", help="colour image topic (overrides the preset)")
    group.add_argument("--depth-topic", default="", help="aligned depth image topic (overrides the preset)")
    group.add_argument("--info-topic", default="", help="colour CameraInfo topic (overrides the preset)")
    group.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="ground-truth Detection3DArray")
    group.add_argument(
        "--tracking-frame",
        default="",
        help="fixed frame of the bag's /tf (odom, map; world in a synth bag) to track objects in, so a "
        "moving camera does not move them (empty: the camera frame)",
    )
    group.add_argument(
        "--mask-topic",
        default="",
        help="external instance masks (16UC1 ids, e.g. /segmentation/image): use them instead of the "
        "built-in segmentation; needs --mask-detections-topic",
    )
    group.add_argument(
        "--mask-detections-topic",
        default="/segmentation/detections",
        help="Detection2DArray naming the category of each instance id of --mask-topic",
    )
    group.add_argument("--slop-ms", type=float, default=20.0, help="largest colour/depth stamp difference")
    people = parser.add_argument_group("people (a bag of person detections)")
    people.add_argument(
        "--people-topic", default="/people", help="person Detection3DArray topic (present: the people path)"
    )
    people.add_argument("--people-gt-topic", default="/ground_truth/people", help="ground-truth people (ids)")
    people.add_argument(
        "--people-model", default="", help="planar GeoTDM model (default: the one holding the scene out)"
    )
    people.add_argument("--fixed-frame", default="map", help="frame the people are forecast in (map, odom)")
    people.add_argument(
        "--people-draws",
        type=int,
        default=DEFAULTS.people_draws,
        help="samples drawn per person, of which --samples are kept: those whose end points cover the "
        "draws' (chosen on validation; GeoTDM's protocol keeps 20 of 60; each draw costs time; 0: --samples)",
    )


def _config(args: argparse.Namespace, give_masks: bool = False) -> PipelineConfig:
    """The PipelineConfig of the parsed stack options; ValueError for a bad value or a missing file,
    before anything is loaded or created."""
    config = PipelineConfig(
        **{field: getattr(args, dest) for dest, field in OPTION_FIELDS.items()}, use_given_masks=give_masks
    )
    config.validate()
    from diff9d_ros.device import torch_device

    torch_device(config.device)
    for what, path in (("--model", config.pose_model_path), ("--forecast-model", config.forecast_model_path)):
        if path and not Path(path).is_file():
            raise ValueError(f"{what} {path} does not exist")
    if config.grasp_urdf_path and not Path(config.grasp_urdf_path).is_file():
        raise ValueError(f"--urdf {config.grasp_urdf_path} does not exist")
    return config


def _bag_source(path: str, args: argparse.Namespace) -> BagSource:
    from diff9d_ros.sources.bag import BagSource, MaskTopics, topics_for_bag

    topics = topics_for_bag(path, args.topics, args.rgb_topic, args.depth_topic, args.info_topic)
    masks = MaskTopics(args.mask_topic, args.mask_detections_topic) if args.mask_topic else None
    return BagSource(
        path,
        topics,
        gt_topic=args.gt_topic,
        slop_s=args.slop_ms / 1000.0,
        masks=masks,
        tracking_frame=args.tracking_frame,
    )


def _realsense_source(spec: str, args: argparse.Namespace) -> Iterable[SourceFrame]:
    from diff9d_ros.sources.realsense import RealSenseConfig, RealSenseSource

    kind, _, value = spec.partition(":")
    if kind == "realsense-file":
        if not value:
            raise ValueError("--source realsense-file:REC.bag needs the recording's path")
        config = RealSenseConfig(recording=value, real_time=args.realtime)
    else:
        config = RealSenseConfig(serial=value)
    return RealSenseSource(config, seconds=args.seconds)


def _make_source(args: argparse.Namespace) -> Iterable[SourceFrame]:
    spec = args.source
    synthetic_seconds = 3.0 if args.seconds is None else args.seconds
    if spec == "synthetic":
        from diff9d_ros.sources.synthetic import SyntheticSource

        return SyntheticSource(
            seconds=synthetic_seconds,
            fps=args.fps,
            seed=args.seed,
            objects=(args.objects, args.objects),
            give_masks=args.gt_masks,
        )
    if spec.startswith("sdf:"):
        from diff9d_ros.sources.synthetic import SdfSource

        return SdfSource(
            spec[4:], seconds=synthetic_seconds, fps=args.fps, seed=args.seed, give_masks=args.gt_masks
        )
    if spec.startswith("bag:"):
        return _bag_source(spec[4:], args)
    if spec.partition(":")[0] in ("realsense", "realsense-file"):
        return _realsense_source(spec, args)
    raise ValueError(f"unknown source {spec!r}: use {SOURCES}")


def _finish(result: RunResult, kind: str) -> int:
    tp = result.metrics["throughput"]
    print(
        f"\n{kind}: {tp['processed']}/{tp['frames_in']} frames processed, "
        f"{tp['failed']} failed, {tp['dropped']} dropped"
    )
    pose = f"pose: {result.info['pose_backend']}; " if "pose_backend" in result.info else ""
    threads = result.info.get("threads", "not set")
    print(f"{pose}forecasting: {result.info['forecast_backend']}; CPU threads: {threads}")
    forecast = result.metrics.get("forecast", {})
    if forecast.get("forecasts_scored"):
        values = "/".join(f"{forecast[k]:.3f}" for k in ("ade_m", "fde_m", "min_ade_m", "min_fde_m"))
        print(f"forecasts scored: {forecast['forecasts_scored']}; ADE/FDE/minADE/minFDE {values} m")
    if tp["latency"]:
        print(
            f"end-to-end latency: median {tp['latency']['p50_ms']:.0f} ms, "
            f"p90 {tp['latency']['p90_ms']:.0f} ms"
        )
    if result.source_error:
        print(f"source stopped early: {result.source_error}")
    outputs = ["report: " + result.report_path.name, "bag: bag/"] + (["overlays/"] if result.overlays else [])
    print(f"outputs in {result.out_dir.resolve()} ({', '.join(outputs)})")
    return 0 if tp["processed"] else 1


def _people_run(args: argparse.Namespace, path: str, kind: str) -> int | None:
    """The people path when the bag at ``path`` carries person detections; None otherwise."""
    import dataclasses

    from diff9d_ros.sources.people import PeopleBagSource, is_people_bag

    if not is_people_bag(path, args.people_topic):
        return None
    from diff9d_ros.people_runner import run_people

    config = dataclasses.replace(
        _config(args),
        people_model_path=args.people_model,
        fixed_frame=args.fixed_frame,
        people_draws=args.people_draws,
    )
    config.validate()
    source = PeopleBagSource(path, args.people_topic, args.people_gt_topic)
    result = run_people(
        source,
        config,
        args.out or _default_out(kind),
        realtime=args.realtime,
        title=f"diff9d {kind} (people)",
    )
    return _finish(result, kind)


def _run(args: argparse.Namespace, kind: str, give_masks: bool = False) -> int:
    """Validate the options and the source (no model loaded yet), then run the stack (or the people
    path, on a bag of person detections)."""
    if args.source.startswith("bag:"):
        code = _people_run(args, args.source[4:], kind)
        if code is not None:
            return code
    config = _config(args, give_masks)
    source = _make_source(args)
    from diff9d_ros.runner import run_stack

    result = run_stack(
        source,
        config,
        args.out or _default_out(kind),
        overlays=args.overlays,
        realtime=args.realtime,
        record_inputs=args.record_inputs,
        storage=args.storage,
        title=f"diff9d {kind}",
    )
    return _finish(result, kind)


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (ValueError, a missing file) becomes one clear line and exit code 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ValueError, FileNotFoundError) as error:
            LOG.error("%s", error)
            return 2

    return run


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(args, "run", give_masks=args.gt_masks or bool(args.mask_topic))


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run(args, "demo")


def _cmd_eval_bag(args: argparse.Namespace) -> int:
    args.source = f"bag:{args.bag}"
    return _run(args, "eval-bag", give_masks=bool(args.mask_topic))


def _add_source_options(parser: argparse.ArgumentParser, seconds_help: str) -> None:
    parser.add_argument("--source", default="synthetic", help=SOURCES)
    parser.add_argument("--seconds", type=float, default=None, help=seconds_help)
    parser.add_argument("--fps", type=float, default=10.0, help="synthetic/sdf: frame rate")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``, ``demo`` and ``eval-bag``."""
    run = subparsers.add_parser(
        "run",
        help="run the whole stack on a source, without ROS",
        description="Frames -> detections -> tracks -> grasps -> forecasts; writes a rosbag2 of the ROS 2 "
        "messages, overlay PNGs and a report to --out.",
    )
    _add_source_options(
        run,
        "length: synthetic/sdf 3 s by default; realsense: until Ctrl-C; realsense-file: the whole recording",
    )
    run.add_argument("--objects", type=int, default=3, help="synthetic: objects on the table")
    run.add_argument("--gt-masks", action="store_true", help="synthetic/sdf: use the renderer's masks")
    _add_stack_options(run)
    _add_bag_options(run)
    run.set_defaults(func=_guarded(_cmd_run))

    demo = subparsers.add_parser(
        "demo",
        help="render a short synthetic sequence and run the whole stack on it",
        description="A 3-object rendered sequence (or a RealSense: --source realsense) through "
        "segmentation, pose, tracking, grasps, forecasts; prints the folder with the bag, overlays and "
        "report.",
    )
    _add_source_options(demo, "length: 3 s of synthetic frames by default; realsense: until Ctrl-C")
    _add_stack_options(demo)
    _add_bag_options(demo)
    demo.set_defaults(func=_guarded(_cmd_demo), objects=3, gt_masks=False)

    evaluate = subparsers.add_parser(
        "eval-bag",
        help="run the stack on a rosbag2 and score it against its ground truth",
        description="NOCS pose AP against --gt-topic, track id switches and MOTA, forecast ADE/FDE against "
        "the future ground truth, and throughput/latency; JSON plus a Markdown report with plots.",
    )
    evaluate.add_argument("bag", help="rosbag2 folder (mcap or sqlite3)")
    _add_stack_options(evaluate)
    _add_bag_options(evaluate)
    evaluate.set_defaults(func=_guarded(_cmd_eval_bag), seconds=None, fps=10.0)
