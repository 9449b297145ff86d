"""``diff9d grasp``: grasp planning commands (``diff9d grasp eval``: physics-checked success)."""

from __future__ import annotations

import argparse
import json
import logging

LOG = logging.getLogger(__name__)
#: Diff9D samples per object for the estimated-pose sources: their spread is the pose covariance
#: the planner ranks with (one sample gives only the estimator's covariance floor).
HYPOTHESES = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``diff9d grasp`` and its subcommands."""
    parser = subparsers.add_parser(
        "grasp",
        help="grasp planning from 9-DoF poses",
        description="Grasp planning from 9-DoF poses with the gripper of urdf/, checked in MuJoCo.",
    )
    sub = parser.add_subparsers(dest="grasp_command", metavar="SUBCOMMAND")
    evaluate = sub.add_parser(
        "eval",
        help="grasp success in MuJoCo on synthetic scenes",
        description=(
            "Render synthetic tabletop scenes, plan the best grasp of every visible object from each "
            "pose source, execute it in MuJoCo (approach, close, lift 0.10 m, hold 2 s) and report "
            "success per category."
        ),
    )
    evaluate.add_argument("--scenes", type=int, default=20, help="number of scenes (default 20)")
    evaluate.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    evaluate.add_argument(
        "--sources",
        nargs="+",
        default=["ground_truth", "noisy"],
        help="pose sources: ground_truth, noisy (GT perturbed by a known covariance)",
    )
    evaluate.add_argument("--sensor", default="realsense", help="depth sensor model: clean or realsense")
    evaluate.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="object instances: test (reported numbers) or val (development and tuning)",
    )
    evaluate.add_argument(
        "--model",
        default=None,
        help="Diff9D checkpoint: adds the 'diff9d' pose source (estimated poses) and 'diff9d_unrefined' "
        "(the same poses planned without the refinement on the observed points)",
    )
    evaluate.add_argument(
        "--hypotheses",
        type=int,
        default=HYPOTHESES,
        help=f"Diff9D samples per object; their spread is the pose covariance (default {HYPOTHESES})",
    )
    evaluate.add_argument("--json", default=None, help="also write the per-trial records to this JSON file")
    evaluate.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from diff9d_ros.grasp.evaluate import ESTIMATED_SOURCE, UNREFINED_SOURCE, evaluate_grasps, summarise

    sources = tuple(args.sources)
    estimator = None
    if args.model:
        from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig

        if args.hypotheses < 1:
            LOG.error("--hypotheses must be at least 1, got %d", args.hypotheses)
            return 2
        estimator = PoseEstimator.from_file(args.model, SamplerConfig(hypotheses=args.hypotheses))
        sources = tuple(dict.fromkeys((*sources, ESTIMATED_SOURCE, UNREFINED_SOURCE)))
    try:
        trials = evaluate_grasps(
            args.scenes,
            seed=args.seed,
            sources=sources,
            sensor=args.sensor,
            split=args.split,
            estimator=estimator,
        )
    except ValueError as error:
        LOG.error("%s", error)
        return 2
    print(f"{'source':<18}{'category':<10}{'attempts':>9}{'planned':>9}{'success':>9}{'rate':>8}")
    for row in summarise(trials, sources):
        print(
            f"{row['source']:<18}{row['category']:<10}{row['attempts']:>9}{row['planned']:>9}"
            f"{row['successes']:>9}{row['success_rate']:>8.3f}"
        )
    if estimator is None:
        print(f"{ESTIMATED_SOURCE}: not evaluated (give --model models/diff9d_pose.pt to score it)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([asdict(t) for t in trials], handle, indent=1)
    return 0
