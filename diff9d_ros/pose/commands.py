"""``diff9d pose``: train the Diff9D pose network and evaluate it on synthetic shards."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

LOG = logging.getLogger(__name__)

#: Name of the observed-object cache written beside the shards of a data directory (v2: views
#: through imperfect masks and background examples).
OBJECT_CACHE = "pose_objects_v2_n{num_points}_s{crop_px}.npz"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``diff9d pose`` with its ``train`` and ``eval`` subcommands."""
    parser = subparsers.add_parser(
        "pose",
        help="Diff9D category-level 9-DoF pose: train and evaluate",
        description="Train the compact Diff9D pose network on synthetic shards; evaluate it (NOCS metrics).",
    )
    sub = parser.add_subparsers(dest="pose_command", metavar="SUBCOMMAND")

    train = sub.add_parser(
        "train",
        help="train on shards of `diff9d synth generate` (resumable; torchrun for DDP)",
        description="Train the pose network. Run under `torchrun --nproc_per_node N` for DDP (gloo on CPU).",
    )
    train.add_argument(
        "--data", type=Path, required=True, action="append", help="shard directory (repeatable)"
    )
    train.add_argument("--out", type=Path, required=True, help="checkpoint path (the model file)")
    train.add_argument("--steps", type=int, default=6000)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--schedule", choices=("linear", "cosine"), default="linear")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    train.add_argument("--checkpoint-every", type=int, default=250)
    train.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this")
    train.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    train.set_defaults(func=_train)

    export = sub.add_parser(
        "export",
        help="strip the optimiser state from a training checkpoint (the file shipped in models/)",
        description="Write a training checkpoint's weights and configs, without optimiser state.",
    )
    export.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint")
    export.add_argument("--out", type=Path, required=True, help="model file to write")
    export.set_defaults(func=_export)

    calibrate = sub.add_parser(
        "calibrate",
        help="fit the hypotheses' spread-to-sigma factors on validation shards; store them in the model",
        description="Run K perturbed hypotheses per object on validation frames (ground-truth masks), choose "
        "the factors with which the reported 2 sigma covers --coverage of the errors, and write them into "
        "the model file (reported, never fitted, on test frames).",
    )
    calibrate.add_argument("--data", type=Path, required=True, help="shard directory (validation split)")
    calibrate.add_argument("--model", type=Path, required=True, help="pose model file (rewritten in place)")
    calibrate.add_argument("--hypotheses", type=int, default=8, help="samples per object (K)")
    calibrate.add_argument("--frames", type=int, default=None, help="use at most this many frames")
    calibrate.add_argument("--coverage", type=float, default=0.85, help="share of errors within 2 sigma")
    calibrate.add_argument(
        "--corrupt-masks",
        type=float,
        default=0.5,
        help="share of masks passed through a random real-segmenter corruption (bleed, erosion/dilation, "
        "blobby, partial), as deployed masks are imperfect",
    )
    calibrate.set_defaults(func=_calibrate)

    evaluate = sub.add_parser(
        "eval",
        help="NOCS metrics on a held-out split (JSON, curves, overlays)",
        description="Evaluate a pose model and the geometric baseline on shards with ground truth.",
    )
    evaluate.add_argument("--data", type=Path, required=True, help="shard directory (test split)")
    evaluate.add_argument("--model", type=Path, required=True, help="pose checkpoint")
    evaluate.add_argument("--out", type=Path, default=Path("pose_eval"), help="output directory")
    evaluate.add_argument("--steps", type=int, default=3, help="DDIM steps")
    evaluate.add_argument("--timesteps", default="trailing", help="spacing or named schedule")
    evaluate.add_argument("--hypotheses", type=int, default=1, help="samples per object (K)")
    evaluate.add_argument("--frames", type=int, default=None, help="use at most this many frames")
    evaluate.add_argument("--overlays", type=int, default=8, help="overlay images to write")
    evaluate.add_argument("--no-segmentation", action="store_true", help="skip the built-in segmentation AP")
    evaluate.set_defaults(func=_eval)


def load_objects(data_dirs: list[Path], num_points: int, crop_px: int, seed: int = 0):
    """Observed training objects of the shard directories (cached per directory)."""
    from diff9d_ros.pose.dataset import ObjectArrays, observe_objects
    from diff9d_ros.synth.dataset import SynthDataset

    parts = []
    for data_dir in data_dirs:
        cache = data_dir / OBJECT_CACHE.format(num_points=num_points, crop_px=crop_px)
        if not cache.exists():
            total = len(SynthDataset(data_dir))
            observe_objects(read_frames(data_dir), num_points, crop_px, seed=seed, total=total).save(cache)
        parts.append(ObjectArrays.load(cache))
    return ObjectArrays.concatenate(parts)


def read_frames(data_dir: Path, limit: int | None = None):
    """(RGBDFrame, ground truth) pairs of the shards in ``data_dir``."""
    from diff9d_ros.synth.dataset import SynthDataset

    dataset = SynthDataset(data_dir)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(count):
        synth_frame = dataset[index]
        yield synth_frame.frame, synth_frame.objects


def _export(args: argparse.Namespace) -> int:
    from diff9d_ros.model_export import run_export
    from diff9d_ros.pose.train import export_weights

    return run_export(export_weights, args.checkpoint, args.out)


def _train(args: argparse.Namespace) -> int:
    import torch

    from diff9d_ros.pose.network import NetworkConfig
    from diff9d_ros.pose.train import TrainConfig, train

    torch.set_num_threads(args.threads)
    net_config = NetworkConfig()
    objects = load_objects(args.data, net_config.num_points, net_config.crop_px, args.seed)
    LOG.info("training on %d objects", len(objects))
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    max_seconds = args.max_minutes * 60 if args.max_minutes else None
    log_path = args.out.with_suffix(".log.jsonl")
    train(
        objects, args.out, config, net_config, resume=args.resume, log_path=log_path, max_seconds=max_seconds
    )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    import torch

    from diff9d_ros.pose.calibration import (
        apply_calibration,
        calibration_report,
        fit_calibration,
        spread_samples,
        write_calibration,
    )
    from diff9d_ros.pose.estimator import Calibration, PoseEstimator, SamplerConfig
    from diff9d_ros.pose.evaluate import corrupted_masks
    from diff9d_ros.synth.dataset import SynthDataset

    torch.set_num_threads(1)
    estimator = PoseEstimator.from_file(args.model, SamplerConfig(hypotheses=args.hypotheses))
    split = SynthDataset(args.data).split
    if split == "test":
        raise ValueError(f"{args.data} is a test split: calibrate on validation frames")
    estimator.calibration = Calibration()  # raw spreads
    masks = corrupted_masks(share=args.corrupt_masks, seed=0)
    samples = spread_samples(read_frames(args.data, args.frames), estimator.estimate_masks, masks)
    calibration = fit_calibration(samples, args.coverage)
    info = {
        "data": args.data.name,
        "split": split,
        "hypotheses": args.hypotheses,
        "coverage": args.coverage,
        "corrupt_masks": args.corrupt_masks,
        "objects": len(samples),
    }
    write_calibration(args.model, calibration, info)
    calibrated = apply_calibration(samples, calibration)
    print(f"calibration {calibration} written to {args.model}")
    print(
        json.dumps(
            {"raw": calibration_report(samples), "calibrated (val)": calibration_report(calibrated)}, indent=2
        )
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
    from diff9d_ros.pose.evaluate import (
        baseline_method,
        evaluate_detections,
        evaluate_with_gt_masks,
        plot_curves,
    )

    torch.set_num_threads(1)
    sampler = SamplerConfig(num_steps=args.steps, timesteps=args.timesteps, hypotheses=args.hypotheses)
    estimator = PoseEstimator.from_file(args.model, sampler)
    frames = list(read_frames(args.data, args.frames))
    if not frames:
        raise ValueError(f"no frames in {args.data}")
    methods = {"diff9d": estimator.estimate_masks, "obb_baseline": baseline_method}
    results = evaluate_with_gt_masks(frames, methods, args.out / "overlays", args.overlays)
    report = {
        "model": str(args.model),
        "data": str(args.data),
        "frames": len(frames),
        "sampler": vars(sampler),
        "gt_masks": {name: {"missed": r.missed, "table": r.table()} for name, r in results.items()},
    }
    if not args.no_segmentation:
        report["segmentation_ap"] = evaluate_detections(frames, estimator.estimate)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_curves(results, args.out / "accuracy_curves.png")
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, r in results.items():
        _print_table(f"{name} (ground-truth masks, accuracy %)", r.table())
    if "segmentation_ap" in report:
        _print_table("diff9d (built-in segmentation, AP %)", report["segmentation_ap"])
    print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    from diff9d_ros.pose.metrics import metric_names

    names = metric_names()
    print(title)
    print("category  " + "  ".join(f"{n:>9}" for n in names))
    for category, row in table.items():
        print(f"{category:<9} " + "  ".join(f"{row[n]:9.1f}" for n in names))
