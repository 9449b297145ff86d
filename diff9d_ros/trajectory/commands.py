"""``diff9d traj train|export|eval|bag``: train GeoTDM on N-body, ETH-UCY or tabletop object tracks,
evaluate it against constant velocity, write an ETH-UCY test scene as a rosbag2 of person detections."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable

from diff9d_ros.trajectory.datasets import DEFAULT_ETH_UCY, PEDESTRIAN_TASKS, TASKS

LOG = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``traj`` family: ``train``, ``export``, ``eval`` and ``bag``."""
    parser = subparsers.add_parser(
        "traj",
        help="GeoTDM trajectory forecasting: train and evaluate",
        description="GeoTDM (equivariant trajectory diffusion) on N-body systems, ETH-UCY pedestrians and "
        "tabletop object tracks.",
    )
    leaves = parser.add_subparsers(dest="traj_command", metavar="SUBCOMMAND", required=True)

    train = leaves.add_parser(
        "train",
        help="train (or resume) a GeoTDM model",
        description="Train GeoTDM; checkpoints to OUT/last.pt (periodic) and OUT/best.pt (validation ADE). "
        "Runs under torchrun (gloo) for data-parallel training.",
    )
    train.add_argument("--task", choices=TASKS, required=True)
    train.add_argument("--out", required=True, help="output folder for checkpoints and log.jsonl")
    train.add_argument(
        "--data", default=None, help=f"N-body cache folder or ETH-UCY root (default {DEFAULT_ETH_UCY})"
    )
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    train.add_argument("--steps", type=int, default=6000, help="total optimiser steps")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--hidden", type=int, default=64, help="EGTN width")
    train.add_argument("--layers", type=int, default=3, help="EGTN depth (paper: 6)")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument(
        "--prior-loss-weight",
        type=float,
        default=1.0,
        help="auxiliary prior error weight (0: as in the paper)",
    )
    train.add_argument(
        "--loss-weighting",
        default="simple",
        help="simple: the paper's eps MSE; edm: EDM lambda(sigma), the same weight at every noise level "
        "(diff9d_ros.trajectory.train.LOSS_WEIGHTINGS)",
    )
    train.add_argument(
        "--sigma-data",
        default="0.25",
        help="EDM sigma_data, the typical residual about the prior per coordinate (diffusion units); "
        "auto: measured on the training windows (constant-velocity residual)",
    )
    train.add_argument("--prior-layers", type=int, default=2, help="depth of the prior's EGTN")
    train.add_argument(
        "--history-encoder",
        action="store_true",
        help="observed frames attend to one another only, encoded once per forecast; each sampler step "
        "runs on the future frames alone (faster online forecasts)",
    )
    train.add_argument(
        "--speed-augment",
        type=float,
        default=1.0,
        help="scale each training window by a factor log-uniform in [1/A, A] (A = 1: off)",
    )
    train.add_argument(
        "--obs-noise-m",
        type=float,
        default=0.0,
        help="Gaussian noise on each training window's observed positions, of a standard deviation "
        "uniform in [0, this] (data units; 0: off)",
    )
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.add_argument("--checkpoint-minutes", type=float, default=3.0)
    train.add_argument("--eval-every", type=int, default=1000, help="validate every N steps")
    train.add_argument("--eval-windows", type=int, default=256, help="validation windows per evaluation")
    train.add_argument(
        "--eval-sampler",
        default="ddim:10",
        metavar="NAME:STEPS",
        help="the validation sampler (and the best-of-K objective's), e.g. dpmpp_2m:3",
    )
    train.add_argument("--eval-steps", type=int, default=None, help="its steps (overrides NAME:STEPS)")
    add_sampler_settings(train, "eval-")
    train.add_argument(
        "--init",
        default=None,
        metavar="CHECKPOINT",
        help="fine-tune: start from this model's weights and configuration (its sizes replace --hidden etc.)",
    )
    train.add_argument(
        "--variety-samples",
        type=int,
        default=0,
        metavar="K",
        help="train the best of K samples of the validation sampler (Social-GAN's variety loss, through "
        "the sampler) instead of the denoising loss; 0: the denoising loss",
    )
    train.add_argument(
        "--num-trajectories", type=int, default=None, help="N-body split size override (smoke runs)"
    )
    train.set_defaults(func=_one_line_errors(_run_training))

    export = leaves.add_parser(
        "export",
        help="strip the resume-only state from a training checkpoint (the file shipped in models/)",
        description="Write a checkpoint's EMA weights, config, task and training record to OUT.",
    )
    export.add_argument("--checkpoint", required=True, help="training checkpoint (e.g. RUN/best.pt)")
    export.add_argument("--out", required=True, help="model file to write")
    export.set_defaults(func=_export)

    evaluate = leaves.add_parser(
        "eval",
        help="ADE/FDE of a checkpoint and of constant velocity",
        description="ADE/FDE (N-body: mean over K=5 samples) or minADE/minFDE (pedestrians: K=20) "
        "on a split, for each requested sampler, next to the constant-velocity baseline.",
    )
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--task", choices=TASKS, default=None, help="default: the checkpoint's task")
    evaluate.add_argument("--split", choices=("val", "test"), default="test")
    evaluate.add_argument("--data", default=None)
    evaluate.add_argument(
        "--sampler",
        action="append",
        default=None,
        metavar="NAME:STEPS",
        help="e.g. ddim:10, dpmpp_2m:5, ddpm:1000 (repeatable; default ddim:10)",
    )
    evaluate.add_argument("--limit", type=int, default=None, help="first N windows only")
    evaluate.add_argument(
        "--windows", type=int, default=None, help="N windows drawn at random (seed 0, as the benchmark)"
    )
    add_sampler_settings(evaluate, "")
    evaluate.add_argument("--draws", type=int, default=None, help="draws of which the K samples are kept")
    evaluate.add_argument(
        "--jitter-m", type=float, default=0.0, help="Gaussian noise on the observed positions (m, fixed seed)"
    )
    evaluate.add_argument(
        "--speed", type=float, default=1.0, help="scale every position (a faster scene); errors per metre"
    )
    evaluate.add_argument("--batch-size", type=int, default=128)
    evaluate.add_argument("--threads", type=int, default=2)
    evaluate.add_argument("--json", default=None, help="also write the rows to this JSON file")
    evaluate.set_defaults(func=_one_line_errors(_evaluate))

    bag = leaves.add_parser(
        "bag",
        help="write an ETH-UCY test scene as a rosbag2 of person detections (+ /tf, /clock, ground truth)",
        description="People as vision_msgs/Detection3DArray on /people at the scene's 2.5 Hz, /tf, /clock "
        "and /ground_truth/people; play it to people_forecast_node or score it with `diff9d eval-bag`.",
    )
    bag.add_argument("--scene", choices=PEDESTRIAN_TASKS, required=True, help="leave-one-out scene")
    bag.add_argument(
        "--data", default=str(DEFAULT_ETH_UCY), help="ETH-UCY root (ROOT/SCENE/{train,val,test})"
    )
    bag.add_argument("--out", required=True, help="rosbag2 folder to create")
    bag.add_argument("--split", choices=("train", "val", "test"), default="test")
    bag.add_argument("--no-ids", action="store_true", help="leave the detection ids empty (the node tracks)")
    bag.add_argument(
        "--frame",
        choices=("map", "scene_camera_optical_frame"),
        default="map",
        help="frame of the detections: map, or an overhead camera's optical frame (through /tf)",
    )
    bag.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    bag.set_defaults(func=_bag)


def add_sampler_settings(parser: argparse.ArgumentParser, prefix: str) -> None:
    """``--{prefix}temperature``, ``--{prefix}max-step`` and ``--{prefix}speed-temperature``: the
    settings of a sampler run by ``forecast_samples`` (the people path's: 0.5,3, 0.35 and 0.3,0.2)."""
    parser.add_argument(
        f"--{prefix}temperature",
        default="1",
        metavar="T or FIRST,LAST",
        help="initial-noise temperature, or a ramp over the future frames (people path: 0.5,3)",
    )
    parser.add_argument(
        f"--{prefix}max-step",
        type=float,
        default=None,
        help="step limit of fast scenes (m/frame; people: 0.35)",
    )
    parser.add_argument(
        f"--{prefix}speed-temperature",
        default=None,
        metavar="REF,FLOOR",
        help="speed scaling (people: 0.3,0.2)",
    )


def _one_line_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``command`` with a bad option or checkpoint (a ValueError) reported as one clear line and exit
    code 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ValueError as error:
            LOG.error("%s", error)
            return 2

    return run


def _run_training(args: argparse.Namespace) -> int:
    from diff9d_ros.trajectory.train import TrainOptions, train

    sampler, steps = parse_sampler(args.eval_sampler)
    opts = TrainOptions(
        task=args.task,
        out_dir=args.out,
        data_dir=args.data,
        hidden_dim=args.hidden,
        num_layers=args.layers,
        prior_layers=args.prior_layers,
        history_encoder=args.history_encoder,
        residual_std=_sigma_data(args.sigma_data),
        batch_size=args.batch_size,
        steps=args.steps,
        speed_augment=args.speed_augment,
        obs_noise_m=args.obs_noise_m,
        lr=args.lr,
        prior_loss_weight=args.prior_loss_weight,
        loss_weighting=args.loss_weighting,
        seed=args.seed,
        threads=args.threads,
        checkpoint_minutes=args.checkpoint_minutes,
        eval_every=args.eval_every,
        eval_windows=args.eval_windows,
        eval_sampler=sampler,
        eval_steps=steps if args.eval_steps is None else args.eval_steps,
        eval_temperature=_temperature(args.eval_temperature, "--eval-temperature"),
        eval_max_step=args.eval_max_step,
        eval_speed_temperature=_pair(args.eval_speed_temperature, "--eval-speed-temperature"),
        init_from=args.init,
        variety_samples=args.variety_samples,
        num_trajectories=args.num_trajectories,
    )
    path = train(opts, resume=args.resume)
    LOG.info("checkpoint: %s", path)
    return 0


def _sigma_data(text: str) -> float | None:
    """``--sigma-data``: ``auto`` (None: measured on the data) or a positive number."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"--sigma-data must be 'auto' or a number > 0, got {text!r}")
    return value


def _export(args: argparse.Namespace) -> int:
    from diff9d_ros.training import run_export
    from diff9d_ros.trajectory.train import export_weights

    return run_export(export_weights, args.checkpoint, args.out)


def parse_sampler(text: str) -> tuple[str, int]:
    """``"ddim:10"`` -> ("ddim", 10)."""
    name, _, steps = text.partition(":")
    if not steps.isdigit() or int(steps) < 1:
        raise ValueError(f"sampler must look like NAME:STEPS (e.g. ddim:10), got {text!r}")
    return name, int(steps)


def _numbers(text: str, what: str) -> list[float]:
    """``"0.5,3"`` -> [0.5, 3.0]; ValueError naming ``what`` otherwise."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{what} must be numbers separated by commas, got {text!r}") from None


def _temperature(text: str, what: str) -> tuple[float, float]:
    """``"2"`` -> (2.0, 2.0), ``"0.5,3"`` -> (0.5, 3.0): one temperature or a ramp over the future
    frames; ValueError naming ``what`` otherwise."""
    values = _numbers(text, what)
    if len(values) not in (1, 2):
        raise ValueError(f"{what} takes T or FIRST,LAST, got {text!r}")
    return values[0], values[-1]


def _pair(text: str | None, what: str) -> tuple[float, float] | None:
    """``"0.3,0.2"`` -> (0.3, 0.2), None -> None; ValueError naming ``what`` otherwise."""
    if text is None:
        return None
    values = _numbers(text, what)
    if len(values) != 2:
        raise ValueError(f"{what} takes two numbers A,B, got {text!r}")
    return values[0], values[1]


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from diff9d_ros.trajectory.datasets import load_windows, task_spec
    from diff9d_ros.trajectory.evaluate import evaluate, summary_row
    from diff9d_ros.trajectory.model import GeoTDM
    from diff9d_ros.trajectory.sampling import SpeedTemperature
    from diff9d_ros.trajectory.windows import jittered, random_windows, sped_up

    torch.set_num_threads(args.threads)
    model, payload = GeoTDM.load(args.checkpoint)
    model.eval()
    task = args.task or payload.get("task")
    if task is None:
        raise ValueError(f"{args.checkpoint} names no task; pass --task")
    spec = task_spec(task)
    samplers = [parse_sampler(text) for text in (args.sampler or ["ddim:10"])]
    temperature = _temperature(args.temperature, "--temperature")
    pair = _pair(args.speed_temperature, "--speed-temperature")
    speed_temperature = None if pair is None else SpeedTemperature(*pair)
    if not args.speed > 0:
        raise ValueError(f"--speed must be > 0, got {args.speed}")
    groups = load_windows(task, args.split, data_dir=args.data, limit=args.limit)
    if args.windows is not None:
        groups = random_windows(groups, args.windows, seed=0)
    if args.speed != 1.0:
        groups = sped_up(groups, args.speed)
    if args.jitter_m > 0:
        groups = jittered(groups, args.jitter_m)
    common = {"batch_size": args.batch_size, "progress": True}
    rows = [summary_row("constant velocity", evaluate(None, groups, num_samples=1, reduce="mean", **common))]
    for name, steps in samplers:
        result = evaluate(
            model,
            groups,
            num_samples=spec.num_eval_samples,
            reduce=spec.metric,
            sampler=name,
            num_steps=steps,
            planar=spec.planar,
            temperature=temperature,
            max_step=args.max_step,
            speed_temperature=speed_temperature,
            draws=args.draws,
            **common,
        )
        rows.append(summary_row(f"GeoTDM {name}-{steps}", result))
    for row in rows:  # errors per metre of the sped-up scene
        for key in ("ade", "fde", "spread", "energy"):
            if key in row:
                row[key] /= args.speed
    label = "ADE/FDE (mean over K=%d)" if spec.metric == "mean" else "minADE/minFDE (K=%d)"
    setting = []
    if args.windows is not None:
        setting.append(f"{args.windows} random windows")
    if args.speed != 1.0:
        setting.append(f"positions x{args.speed:g}, errors per metre")
    if args.jitter_m > 0:
        setting.append(f"observed positions jittered {args.jitter_m:g} m")
    print(f"{task} {args.split}: {label % spec.num_eval_samples}" + "".join(f"; {part}" for part in setting))
    for row in rows:
        timing = f"{row['s_per_batch']:.3f} s/batch"
        spread = f"  spread {row['spread']:.4f}  energy {row['energy']:.4f}" if "spread" in row else ""
        print(f"  {row['method']:<24} ADE {row['ade']:.4f}  FDE {row['fde']:.4f}{spread}  ({timing})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"task": task, "split": args.split, "checkpoint": args.checkpoint, "rows": rows},
                handle,
                indent=2,
            )
    return 0


def _bag(args: argparse.Namespace) -> int:
    # The writer builds ROS messages and a rosbag2 (layers above trajectory); imported on use only.
    from diff9d_ros.sources.people import write_people_bag

    try:
        counts = write_people_bag(
            args.data,
            args.scene,
            args.out,
            split=args.split,
            ids=not args.no_ids,
            frame=args.frame,
            storage=args.storage,
        )
    except ValueError as error:  # missing data, an existing bag: one clear line, not a traceback
        LOG.error("%s", error)
        return 2
    print(f"wrote {args.out}: " + ", ".join(f"{topic} {n}" for topic, n in sorted(counts.items())))
    return 0
