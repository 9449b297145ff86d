"""``diff9d synth``: generate datasets, record rosbag2 sequences, export Gazebo worlds."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.library import MeshLibrary
    from diff9d_ros.synth.noise import RandomizationConfig

LOG = logging.getLogger(__name__)
SPLITS = ("train", "val", "test", "ood")


def _add_camera_args(parser: argparse.ArgumentParser, several_sensors: bool = False) -> None:
    parser.add_argument("--width", type=int, default=None, help="image width in pixels (default 640)")
    parser.add_argument("--height", type=int, default=None, help="image height in pixels (default 480)")
    parser.add_argument("--domain", choices=("clean", "realsense"), default="clean", help="sensor domain")
    sensors = (
        "RealSense preset(s), comma-separated, drawn per frame: "
        if several_sensors
        else "a RealSense preset: "
    )
    parser.add_argument(
        "--sensor",
        default=None,
        help=sensors
        + "d415_640x480, d415_1280x720, d435_..., d455_...; a model name (d455 = both resolutions) "
        "or 'all'. Sets intrinsics and noise (replaces --domain, --width, --height)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--meshes",
        default=None,
        help="mesh folder with meshes.yaml to draw the objects from (default: procedural)",
    )
    parser.add_argument(
        "--lying-probability", type=float, default=None, help="chance a bottle or can lies on its side (0.15)"
    )
    parser.add_argument(
        "--materials",
        type=float,
        default=None,
        metavar="P",
        help="chance a surface gets a material of its kind instead of a random colour (0.5)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="synthetic RGB-D world: datasets, rosbag2 sequences, Gazebo worlds",
        description="Procedural NOCS-category scenes rendered on the CPU (open3d ray casting).",
    )
    commands = parser.add_subparsers(dest="synth_command", metavar="SUBCOMMAND", required=True)

    generate = commands.add_parser(
        "generate",
        help="write a sharded dataset with ground truth",
        description="Render N frames into shards plus index.json, in parallel, deterministic per seed.",
    )
    generate.add_argument("--out", required=True, help="output directory")
    generate.add_argument("--frames", type=int, required=True, help="number of frames")
    generate.add_argument(
        "--split", choices=SPLITS, default="train", help="instance split (ood: held-out sub-families)"
    )
    generate.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    generate.add_argument("--shard-size", type=int, default=32, help="frames per shard (default 32)")
    generate.add_argument("--objects", type=int, nargs=2, metavar=("MIN", "MAX"), default=(1, 6))
    generate.add_argument(
        "--distractors",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=None,
        help="non-NOCS clutter objects per frame (default 0 3); more teaches the category head's "
        "background class",
    )
    _add_camera_args(generate, several_sensors=True)
    generate.set_defaults(func=_generate)

    bag = commands.add_parser(
        "bag",
        help="record a moving-camera sequence as a rosbag2",
        description="Render a sequence (orbiting camera, sliding/rolling objects) into a rosbag2 with "
        "RealSense topics, /tf, /tf_static and ground-truth vision_msgs/Detection3DArray.",
    )
    bag.add_argument("--out", required=True, help="bag directory to create")
    bag.add_argument("--seconds", type=float, default=10.0, help="duration (default 10)")
    bag.add_argument("--fps", type=float, default=15.0, help="frame rate (default 15)")
    bag.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage plugin")
    bag.add_argument("--split", choices=SPLITS, default="test", help="instance split")
    _add_camera_args(bag)
    bag.set_defaults(func=_bag)

    sdf = commands.add_parser(
        "sdf",
        help="export a scene as a Gazebo (gz sim) SDFormat world",
        description="Write the scene's table, objects (meshes under sim/models/), lights and rgbd_camera.",
    )
    sdf.add_argument("--out", required=True, help="world file to write, e.g. sim/worlds/tabletop.sdf")
    sdf.add_argument("--models", default=None, help="model directory (default: ../models next to the world)")
    sdf.add_argument("--objects", type=int, nargs=2, metavar=("MIN", "MAX"), default=(3, 5))
    sdf.add_argument("--split", choices=SPLITS, default="test", help="instance split")
    _add_camera_args(sdf)
    sdf.set_defaults(func=_sdf)


def _intrinsics(args: argparse.Namespace) -> Intrinsics:
    from diff9d_ros.geometry.camera import Intrinsics

    return Intrinsics.realsense_d435(args.width or 640, args.height or 480)


def _world(
    args: argparse.Namespace, several_sensors: bool = False, **overrides: object
) -> tuple[RandomizationConfig, Intrinsics | None, MeshLibrary | None]:
    """The config, intrinsics (None when sensor presets set them per frame) and mesh library."""
    from diff9d_ros.synth.library import MeshLibrary
    from diff9d_ros.synth.noise import SENSOR_PRESETS, RandomizationConfig

    if args.lying_probability is not None:
        overrides["lying_probability"] = args.lying_probability
    if args.materials is not None:
        overrides["realistic_material_probability"] = args.materials
    library = MeshLibrary.from_folder(args.meshes) if args.meshes else None
    if args.sensor is None:
        return RandomizationConfig.for_domain(args.domain, **overrides), _intrinsics(args), library
    if args.width is not None or args.height is not None:
        raise ValueError("--sensor sets the image size; drop --width / --height")
    config = RandomizationConfig.for_domain(args.sensor, **overrides)
    if several_sensors:
        return config, None, library
    if len(config.sensor_presets) != 1:
        raise ValueError(f"this command takes one sensor preset, got {config.sensor_presets}")
    return config, SENSOR_PRESETS[config.sensor_presets[0]].intrinsics, library


def _generate(args: argparse.Namespace) -> int:
    from diff9d_ros.synth.dataset import generate_dataset

    overrides: dict[str, object] = {"objects_range": tuple(args.objects)}
    if args.distractors is not None:
        low, high = args.distractors
        if not 0 <= low <= high:
            raise ValueError(f"--distractors MIN MAX needs 0 <= MIN <= MAX, got {low} {high}")
        overrides["distractors_range"] = (low, high)
    config, intrinsics, library = _world(args, several_sensors=True, **overrides)
    index = generate_dataset(
        args.out,
        args.frames,
        split=args.split,
        seed=args.seed,
        config=config,
        intrinsics=intrinsics,
        workers=args.workers,
        shard_size=args.shard_size,
        library=library,
    )
    LOG.info("wrote %d frames, index %s", args.frames, index)
    return 0


def _check_image_size(args: argparse.Namespace) -> None:
    for name in ("width", "height"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be >= 1, got {value}")


def _bag(args: argparse.Namespace) -> int:
    """Validate everything first, so that bad input leaves no folder behind; a failure while
    writing removes the partial bag, so that the same command can be run again."""
    import shutil
    from pathlib import Path

    from diff9d_ros.bag.synthetic import write_sequence_bag
    from diff9d_ros.validation import frame_count

    try:
        frames = frame_count(args.seconds, args.fps)
        _check_image_size(args)
        config, intrinsics, library = _world(args)
    except ValueError as error:
        LOG.error("%s", error)
        return 2
    out = Path(args.out)
    if out.exists():
        LOG.error("%s already exists: rosbag2 writers only create new bags; choose another --out", out)
        return 2
    try:
        path = write_sequence_bag(
            out,
            seconds=args.seconds,
            fps=args.fps,
            storage=args.storage,
            seed=args.seed,
            split=args.split,
            config=config,
            intrinsics=intrinsics,
            library=library,
        )
    except (ValueError, OSError, KeyboardInterrupt) as error:
        shutil.rmtree(out, ignore_errors=True)
        LOG.error("writing %s failed, partial bag removed: %s", out, error or type(error).__name__)
        return 2
    LOG.info("wrote bag %s (%d frames)", path, frames)
    return 0


def _sdf(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.sdf import export_world

    low, high = args.objects
    if not 1 <= low <= high:
        LOG.error("--objects MIN MAX needs 1 <= MIN <= MAX, got %d %d", low, high)
        return 2
    world = Path(args.out)
    if world.suffix != ".sdf" or world.is_dir():
        LOG.error("--out must name an .sdf world file, got %s", world)
        return 2
    try:
        _check_image_size(args)
        config, intrinsics, library = _world(args, objects_range=(low, high))
        scene = compose_scene(np.random.default_rng(args.seed), config, intrinsics, args.split, library)
        models = Path(args.models) if args.models else world.resolve().parent.parent / "models"
        export_world(scene, world, models, name=world.stem)
    except (ValueError, OSError) as error:
        LOG.error("writing world %s failed: %s", world, error)
        return 2
    LOG.info("wrote world %s (models under %s)", world, models)
    return 0
