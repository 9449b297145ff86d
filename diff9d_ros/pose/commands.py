"""``diff9d pose``: train the Diff9D pose network and evaluate it on synthetic shards."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from diff9d_ros.nocs import LYING_CATEGORIES
from diff9d_ros.pose.own_meshes import FinetuneConfig

LOG = logging.getLogger(__name__)
FINETUNE_DEFAULTS = FinetuneConfig()

#: Test frames ``diff9d pose eval --meshes`` renders unless ``--frames`` says otherwise.
MESH_FRAMES = 40

#: Name of the observed-object cache written beside the shards of a data directory (v2: views
#: through imperfect masks and background examples).


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
    train.add_argument(
        "--init",
        type=Path,
        default=None,
        help="fine-tune: start from this model file's weights (fresh optimiser, step 0)",
    )
    train.add_argument("--warmup-steps", type=int, default=None, help="linear warm-up steps (300)")
    train.add_argument(
        "--class-weight",
        type=float,
        default=None,
        help="weight of the category head's cross-entropy beside the diffusion loss (0.2)",
    )
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

    top_end = sub.add_parser(
        "fit-top-end",
        help="fit the rules that tell a lying bottle's or can's top from its points; store them in the model",
        description="Render frames of lying bottles and cans (training split to fit, validation split to "
        "report), measure each object's profile at both ends as the estimator does, fit one linear rule "
        "per category (diff9d_ros.pose.top_end) and write them into the model file.",
    )
    top_end.add_argument("--model", type=Path, required=True, help="pose model file (rewritten in place)")
    top_end.add_argument(
        "--categories",
        nargs="+",
        choices=sorted(LYING_CATEGORIES),
        default=sorted(LYING_CATEGORIES),
        help="categories to fit (the model's rules for the others stay)",
    )
    top_end.add_argument(
        "--frames", type=int, default=800, help="training-split frames to fit on, per category"
    )
    top_end.add_argument("--val-frames", type=int, default=400, help="validation-split frames to report on")
    top_end.add_argument("--seed", type=int, default=1)
    top_end.add_argument("--l2", type=float, default=None, help="L2 weight (default: the chosen one)")
    top_end.set_defaults(func=_fit_top_end)

    evaluate = sub.add_parser(
        "eval",
        help="NOCS metrics on a held-out split or on rendered frames of your meshes (JSON, curves, overlays)",
        description="Evaluate a pose model and the geometric baseline on shards with ground truth.",
    )
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="shard directory (test split)")
    source.add_argument(
        "--meshes",
        type=Path,
        help="mesh folder with meshes.yaml: render --frames test frames of its objects (seed --seed) "
        "and add per-mesh results",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="frame seed with --meshes (default 0)")
    evaluate.add_argument(
        "--sensor", default="realsense", help="sensor domain or RealSense preset(s) with --meshes (realsense)"
    )
    evaluate.add_argument("--model", type=Path, required=True, help="pose checkpoint")
    evaluate.add_argument("--out", type=Path, default=Path("pose_eval"), help="output directory")
    evaluate.add_argument("--steps", type=int, default=3, help="DDIM steps")
    evaluate.add_argument(
        "--timesteps", default=None, help="spacing or named schedule (default: SamplerConfig's)"
    )
    evaluate.add_argument("--hypotheses", type=int, default=1, help="samples per object (K)")
    evaluate.add_argument(
        "--frames", type=int, default=None, help=f"use at most this many frames ({MESH_FRAMES} with --meshes)"
    )
    evaluate.add_argument("--overlays", type=int, default=8, help="overlay images to write")
    evaluate.add_argument("--no-segmentation", action="store_true", help="skip the built-in segmentation AP")
    evaluate.set_defaults(func=_eval)

    finetune = sub.add_parser(
        "finetune",
        help="fine-tune the shipped model on your own meshes (a folder with meshes.yaml), then export",
        description="Render training frames of the folder's meshes (imperfect masks and sensor noise as in "
        "training), fine-tune --model from its weights for at most --max-minutes (resumable from "
        "--work), export to --out, and report 10deg5cm per mesh before and after on separately seeded "
        "test frames of the same meshes.",
    )
    finetune.add_argument("--meshes", type=Path, required=True, help="mesh folder with meshes.yaml")
    finetune.add_argument("--out", type=Path, required=True, help="fine-tuned model file to write")
    finetune.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model to start from (default: the shipped models/diff9d_pose.pt)",
    )
    finetune.add_argument(
        "--work",
        type=Path,
        default=None,
        help="frames, checkpoint and log (default: OUT + '.work'); reruns resume",
    )
    defaults = FINETUNE_DEFAULTS
    finetune.add_argument("--frames", type=int, default=defaults.frames, help="training frames to render")
    finetune.add_argument("--eval-frames", type=int, default=40, help="test frames for before/after (40)")
    finetune.add_argument("--steps", type=int, default=defaults.steps, help="training steps")
    finetune.add_argument("--batch-size", type=int, default=defaults.batch_size)
    finetune.add_argument("--lr", type=float, default=defaults.lr)
    finetune.add_argument(
        "--max-minutes", type=float, default=defaults.max_minutes, help="training time bound"
    )
    finetune.add_argument("--seed", type=int, default=defaults.seed, help="training frame and batch seed")
    finetune.add_argument("--sensor", default=defaults.sensor, help="sensor domain or RealSense preset(s)")
    finetune.add_argument("--workers", type=int, default=defaults.workers, help="render worker processes")
    finetune.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    finetune.set_defaults(func=_finetune)


def _export(args: argparse.Namespace) -> int:
    from diff9d_ros.pose.train import export_weights
    from diff9d_ros.training import run_export

    return run_export(export_weights, args.checkpoint, args.out)


def _train(args: argparse.Namespace) -> int:
    import torch

    from diff9d_ros.pose.dataset import load_objects
    from diff9d_ros.pose.network import NetworkConfig
    from diff9d_ros.pose.train import TrainConfig, load_checkpoint, train

    torch.set_num_threads(args.threads)
    initial = load_checkpoint(args.init) if args.init else None
    net_config = NetworkConfig(**initial["network_config"]) if initial else NetworkConfig()
    objects = load_objects(args.data, net_config.num_points, net_config.crop_px, args.seed)
    LOG.info("training on %d objects", len(objects))
    tuned = {"warmup_steps": args.warmup_steps, "class_weight": args.class_weight}
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        **{name: value for name, value in tuned.items() if value is not None},
    )
    max_seconds = args.max_minutes * 60 if args.max_minutes else None
    log_path = args.out.with_suffix(".log.jsonl")
    train(
        objects,
        args.out,
        config,
        net_config,
        resume=args.resume,
        log_path=log_path,
        max_seconds=max_seconds,
        initial=initial,
    )
    return 0


def _fit_top_end(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from diff9d_ros.pose.lying import LYING_COS
    from diff9d_ros.pose.top_end import (
        DEFAULT_L2,
        TopEndClassifier,
        accuracy_report,
        rendered_examples,
        write_top_ends,
    )
    from diff9d_ros.pose.train import load_checkpoint

    load_checkpoint(args.model)  # a readable pose model before minutes of rendering
    l2 = DEFAULT_L2 if args.l2 is None else args.l2
    info = {"frames": args.frames, "val_frames": args.val_frames, "seed": args.seed, "l2": l2}
    fitted, reports = {}, {}
    for category in args.categories:
        train = rendered_examples(args.frames, "train", args.seed, category, LYING_COS)
        val = rendered_examples(args.val_frames, "val", args.seed, category, LYING_COS)
        classifier = TopEndClassifier.fit(train.differences, train.top_at_plus, l2)
        reports[category] = {
            "train": accuracy_report(classifier, train),
            "val": accuracy_report(classifier, val),
        }
        fitted[category] = replace(classifier, info={**info, **reports[category]})
    write_top_ends(args.model, fitted)
    print(f"top-end classifiers for {', '.join(fitted)} written to {args.model}")
    print(json.dumps(reports, indent=2))
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
    from diff9d_ros.pose.dataset import read_frames
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

    from diff9d_ros.pose.dataset import read_frames
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
    library = None
    if args.meshes is not None:
        from diff9d_ros.pose.own_meshes import render_frames
        from diff9d_ros.synth.library import MeshLibrary

        library = MeshLibrary.from_folder(args.meshes)
        frames = render_frames(library, args.frames or MESH_FRAMES, args.seed, sensor=args.sensor)
    else:
        frames = list(read_frames(args.data, args.frames))
    if not frames:
        raise ValueError(f"no frames in {args.data}")
    methods = {"diff9d": estimator.estimate_masks, "obb_baseline": baseline_method}
    results = evaluate_with_gt_masks(frames, methods, args.out / "overlays", args.overlays)
    report = {
        "model": str(args.model),
        "data": str(args.data or args.meshes),
        "frames": len(frames),
        "sampler": {**vars(sampler), "timesteps": sampler.spacing},
        "gt_masks": {
            name: {"missed": r.missed, "table": r.table(), "per_family": r.family_table()}
            for name, r in results.items()
        },
    }
    if library is not None:
        from diff9d_ros.pose.own_meshes import instance_label

        report["seed"] = args.seed
        for name, r in results.items():
            report["gt_masks"][name]["per_instance"] = r.table_by(lambda t: instance_label(library, t))
    if not args.no_segmentation:
        report["segmentation_ap"] = evaluate_detections(frames, estimator.estimate)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_curves(results, args.out / "accuracy_curves.png")
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, r in results.items():
        _print_table(f"{name} (ground-truth masks, accuracy %)", r.table())
        _print_table(f"{name} per sub-family (accuracy %)", r.family_table())
        if library is not None:
            _print_table(f"{name} per mesh (accuracy %)", report["gt_masks"][name]["per_instance"])
    if "segmentation_ap" in report:
        _print_table("diff9d (built-in segmentation, AP %)", report["segmentation_ap"])
    print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    from diff9d_ros.pose.metrics import metric_names

    names = metric_names()
    print(title)
    width = max(9, *(len(key) for key in table))
    counts = all("objects" in row for row in table.values())
    print(f"{'':<{width}} " + "  ".join(f"{n:>9}" for n in names) + ("  objects" if counts else ""))
    for key, row in table.items():
        cells = "  ".join(f"{row[n]:9.1f}" for n in names)
        print(f"{key:<{width}} " + cells + (f"  {row['objects']:7d}" if counts else ""))


def _finetune(args: argparse.Namespace) -> int:
    """Bad input (a folder without meshes.yaml, a bad mesh or model, bad sizes) is one clear line and
    exit code 2, before anything is rendered."""
    import dataclasses

    import torch

    from diff9d_ros.pose.own_meshes import TEST_SPLIT, compare_models, finetune, render_frames
    from diff9d_ros.synth.library import MeshLibrary

    torch.set_num_threads(args.threads)
    model = args.model
    if model is None:
        from diff9d_ros.resources import share_path

        model = share_path("models", "diff9d_pose.pt")
    config = dataclasses.replace(
        FINETUNE_DEFAULTS,
        frames=args.frames,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        max_minutes=args.max_minutes,
        seed=args.seed,
        sensor=args.sensor,
        workers=args.workers,
    )
    work = args.work or args.out.with_name(args.out.name + ".work")
    try:
        if args.eval_frames < 1:
            raise ValueError(f"--eval-frames must be at least 1, got {args.eval_frames}")
        library = MeshLibrary.from_folder(args.meshes)
        done = finetune(library, model, args.out, work, config)
    except (ValueError, FileNotFoundError) as error:
        LOG.error("%s", error)
        return 2
    # separately seeded test frames of the same meshes (another seed and split code than training)
    frames = render_frames(library, args.eval_frames, args.seed + 1, split=TEST_SPLIT, sensor=args.sensor)
    table = compare_models(frames, {"before": Path(model), "after": args.out}, library)
    report = {**done, "model": str(model), "out": str(args.out), "eval_frames": len(frames), "results": table}
    report_path = args.out.with_name(args.out.name + ".finetune.json")
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    width = max(len(mesh) for mesh in table["before"]) + 2
    header = f"{'10deg5cm before':>16}{'after':>8}{'IoU50 before':>14}{'after':>8}{'objects':>9}"
    print(f"{'mesh':<{width}}{header}")
    for mesh, before in table["before"].items():
        after = table["after"][mesh]
        print(
            f"{mesh:<{width}}{before['10deg5cm']:>16.1f}{after['10deg5cm']:>8.1f}"
            f"{before['IoU50']:>14.1f}{after['IoU50']:>8.1f}{before['objects']:>9d}"
        )
    print(f"fine-tuned model {args.out} (step {done['step']} of {done['steps']}); report {report_path}")
    return 0
