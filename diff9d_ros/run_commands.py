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

if TYPE_CHECKING:
    from diff9d_ros.bag.report import RunResult
    from diff9d_ros.pipeline import PipelineConfig, SourceFrame
    from diff9d_ros.sources.bag import BagSource

LOG = logging.getLogger(__name__)


def _default_out(kind: str) -> Path:
    return Path("diff9d_out") / f"{kind}_{time.strftime('%Y%m%d_%H%M%S')}"


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stack")
    group.add_argument(
        "--pose",
        choices=("auto", "diff9d", "baseline"),
        default="auto",
        help="pose backend: auto = Diff9D if a trained model exists, else the geometric baseline",
    )
    group.add_argument("--model", default="", help="Diff9D checkpoint (default: models/diff9d_pose.pt)")
    group.add_argument("--ddim-steps", type=int, default=3, help="DDIM steps of the pose sampler")
    group.add_argument("--hypotheses", type=int, default=1, help="pose samples per object")
    group.add_argument(
        "--forecast",
        choices=("auto", "geotdm", "constant_velocity"),
        default="auto",
        help="forecaster: auto = GeoTDM if weights exist, else the constant-velocity fallback",
    )
    group.add_argument(
        "--forecast-model", default="", help="GeoTDM checkpoint (default: models/geotdm_objects.pt)"
    )
    group.add_argument("--horizon", type=int, default=12, help="forecast frames")
    group.add_argument("--samples", type=int, default=20, help="forecast samples per track")
    group.add_argument("--urdf", default="", help="robot description with the gripper (default: urdf/)")
    group.add_argument("--seed", type=int, default=0)
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--out", type=Path, default=None, help="output folder (default: diff9d_out/<kind>_<time>)"
    )
    out.add_argument("--overlays", type=int, default=6, help="overlay PNGs to write")
    out.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="output bag storage")
    out.add_argument("--record-inputs", action="store_true", help="also write the input images to the bag")
    out.add_argument(
        "--realtime", action="store_true", help="play the source at its recorded rate; newest frame wins"
    )


def _add_bag_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bag topics")
    group.add_argument(
        "--topics",
        choices=("realsense", "gazebo"),
        default="realsense",
        help="topic names: realsense-ros (/camera/color/...) or a Gazebo rgbd_camera (/rgbd_camera/...)",
    )
    group.add_argument("--rgb-topic", default="", help="colour image topic (overrides the preset)")
    group.add_argument("--depth-topic", default="", help="aligned depth image topic (overrides the preset)")
    group.add_argument("--info-topic", default="", help="colour CameraInfo topic (overrides the preset)")
    group.add_argument("--gt-topic", default="/ground_truth/detections", help="ground-truth Detection3DArray")
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


def _config(args: argparse.Namespace, give_masks: bool = False) -> PipelineConfig:
    from diff9d_ros.pipeline import PipelineConfig

    return PipelineConfig(
        pose_backend=args.pose,
        pose_model_path=args.model,
        ddim_steps=args.ddim_steps,
        num_hypotheses=args.hypotheses,
        seed=args.seed,
        use_given_masks=give_masks,
        grasp_urdf_path=args.urdf,
        forecast_backend=args.forecast,
        forecast_model_path=args.forecast_model,
        forecast_horizon=args.horizon,
        forecast_samples=args.samples,
    )


def _bag_source(path: str, args: argparse.Namespace) -> BagSource:
    from diff9d_ros.sources.bag import BagSource, topics_from_options

    topics = topics_from_options(args.topics, args.rgb_topic, args.depth_topic, args.info_topic)
    return BagSource(path, topics, gt_topic=args.gt_topic, slop_s=args.slop_ms / 1000.0)


def _make_source(args: argparse.Namespace) -> Iterable[SourceFrame]:
    spec = args.source
    if spec == "synthetic":
        from diff9d_ros.sources.synthetic import SyntheticSource

        return SyntheticSource(
            seconds=args.seconds,
            fps=args.fps,
            seed=args.seed,
            objects=(args.objects, args.objects),
            give_masks=args.gt_masks,
        )
    if spec.startswith("sdf:"):
        from diff9d_ros.sources.synthetic import SdfSource

        return SdfSource(
            spec[4:], seconds=args.seconds, fps=args.fps, seed=args.seed, give_masks=args.gt_masks
        )
    if spec.startswith("bag:"):
        return _bag_source(spec[4:], args)
    raise ValueError(f"unknown source {spec!r}: use synthetic, bag:PATH or sdf:WORLD")


def _finish(result: RunResult, kind: str) -> int:
    tp = result.metrics["throughput"]
    print(
        f"\n{kind}: {tp['processed']}/{tp['frames_in']} frames processed, "
        f"{tp['failed']} failed, {tp['dropped']} dropped"
    )
    pose = f"pose: {result.info['pose_backend']}; " if "pose_backend" in result.info else ""
    print(f"{pose}forecasting: {result.info['forecast_backend']}")
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
    print(f"outputs in {result.out_dir.resolve()} (report: {result.report_path.name}, bag: bag/, overlays/)")
    return 0 if tp["processed"] else 1


def _people_run(args: argparse.Namespace, path: str, kind: str) -> int | None:
    """The people path when the bag at ``path`` carries person detections; None otherwise."""
    import dataclasses

    from diff9d_ros.sources.people import PeopleBagSource, is_people_bag

    if not is_people_bag(path, args.people_topic):
        return None
    from diff9d_ros.people_runner import run_people

    config = dataclasses.replace(
        _config(args), people_model_path=args.people_model, fixed_frame=args.fixed_frame
    )
    source = PeopleBagSource(path, args.people_topic, args.people_gt_topic)
    result = run_people(
        source,
        config,
        args.out or _default_out(kind),
        realtime=args.realtime,
        title=f"diff9d {kind} (people)",
    )
    return _finish(result, kind)


def _run(args: argparse.Namespace, source: Iterable[SourceFrame], kind: str, give_masks: bool = False) -> int:
    from diff9d_ros.runner import run_stack

    result = run_stack(
        source,
        _config(args, give_masks),
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
    if args.source.startswith("bag:"):
        code = _people_run(args, args.source[4:], "run")
        if code is not None:
            return code
    return _run(args, _make_source(args), "run", give_masks=args.gt_masks)


def _cmd_demo(args: argparse.Namespace) -> int:
    from diff9d_ros.sources.synthetic import SyntheticSource

    source = SyntheticSource(seconds=args.seconds, fps=args.fps, seed=args.seed, objects=(3, 3))
    return _run(args, source, "demo")


def _cmd_eval_bag(args: argparse.Namespace) -> int:
    from diff9d_ros.bag.io import BagError
    from diff9d_ros.sources.bag import UnreadableBag

    try:
        code = _people_run(args, args.bag, "eval-bag")
        if code is not None:
            return code
        source = _bag_source(args.bag, args)
    except BagError as error:  # still write the (empty) report that says why
        LOG.error("%s", error)
        source = UnreadableBag(args.bag, str(error))
    return _run(args, source, "eval-bag")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``, ``demo`` and ``eval-bag``."""
    run = subparsers.add_parser(
        "run",
        help="run the whole stack on a source, without ROS",
        description="Frames -> detections -> tracks -> grasps -> forecasts; writes a rosbag2 of the ROS 2 "
        "messages, overlay PNGs and a report to --out.",
    )
    run.add_argument(
        "--source", default="synthetic", help="synthetic | bag:PATH | sdf:WORLD (default synthetic)"
    )
    run.add_argument("--seconds", type=float, default=3.0, help="synthetic/sdf: sequence length")
    run.add_argument("--fps", type=float, default=10.0, help="synthetic/sdf: frame rate")
    run.add_argument("--objects", type=int, default=3, help="synthetic: objects on the table")
    run.add_argument("--gt-masks", action="store_true", help="synthetic/sdf: use the renderer's masks")
    _add_stack_options(run)
    _add_bag_options(run)
    run.set_defaults(func=_guarded(_cmd_run))

    demo = subparsers.add_parser(
        "demo",
        help="render a short synthetic sequence and run the whole stack on it",
        description="A 3-object rendered sequence through segmentation, pose, tracking, grasps, forecasts; "
        "prints the folder with the bag, overlays and report.",
    )
    demo.add_argument("--seconds", type=float, default=3.0, help="sequence length")
    demo.add_argument("--fps", type=float, default=10.0, help="frame rate")
    _add_stack_options(demo)
    demo.set_defaults(func=_guarded(_cmd_demo))

    evaluate = subparsers.add_parser(
        "eval-bag",
        help="run the stack on a rosbag2 and score it against its ground truth",
        description="NOCS pose AP against --gt-topic, track id switches, forecast ADE/FDE against the future "
        "ground truth, and throughput/latency; JSON plus a Markdown report with plots.",
    )
    evaluate.add_argument("bag", help="rosbag2 folder (mcap or sqlite3)")
    _add_stack_options(evaluate)
    _add_bag_options(evaluate)
    evaluate.set_defaults(func=_guarded(_cmd_eval_bag))
