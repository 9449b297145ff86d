"""``diff9d grasp``: grasp planning commands (``diff9d grasp eval``: physics-checked success).

``diff9d grasp eval`` renders procedural scenes, or with ``--meshes DIR`` places the meshes of a
folder one per scene among procedural clutter, plans the best grasp of every visible object (of
the folder's object) from each pose source and executes it in MuJoCo. ``DIR`` holds the mesh files
and a ``meshes.yaml`` listing them (file, category, axes, scale, family), the same mesh folder
``diff9d synth generate --meshes`` and ``diff9d pose eval/finetune --meshes`` read
(:mod:`diff9d_ros.synth.library`).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

LOG = logging.getLogger(__name__)
#: Diff9D samples per object for the estimated-pose sources: their spread is the pose covariance
#: the planner ranks with (one sample gives only the estimator's covariance floor).
HYPOTHESES = 8


def frame_detectors(estimator, pipeline_estimator=None, segmentation=None) -> dict:
    """The frame detectors of a Diff9D ``estimator`` (``diff9d_ros.pose.estimator.PoseEstimator``):

    * ``diff9d``: the estimator on the frame's true instance masks and categories (the true table
      plane is used for planning);
    * ``pipeline``: what the pipeline runs: the built-in tabletop segmentation (``segmentation``, a
      ``SegmentationConfig``; its defaults if None) with its fitted table plane, categories from the
      network, poses from ``pipeline_estimator`` (``estimator`` if None).
    """
    from diff9d_ros.geometry.camera import instance_masks
    from diff9d_ros.grasp.evaluate import ESTIMATED_SOURCE, PIPELINE_SOURCE, FrameDetections
    from diff9d_ros.pose.segmentation import segment_tabletop

    def given_masks(frame) -> FrameDetections:
        return FrameDetections(estimator.estimate(frame), frame.instance_mask)

    def pipeline(frame) -> FrameDetections:
        bare = replace(frame, instance_mask=None, categories={})
        mask, plane = segment_tabletop(bare, segmentation)
        masks = instance_masks(mask)
        detections = (pipeline_estimator or estimator).estimate_masks(bare, masks, {})
        return FrameDetections(detections, mask, plane)

    return {ESTIMATED_SOURCE: given_masks, PIPELINE_SOURCE: pipeline}


def load_mesh_folder(folder: str | Path) -> list:
    """The meshes of a ``--meshes`` folder (``meshes.yaml``, :meth:`MeshLibrary.from_folder`), in
    manifest order; ValueError naming the problem for a missing or malformed manifest or mesh."""
    from diff9d_ros.synth.library import MeshLibrary

    library = MeshLibrary.from_folder(folder)
    return [library.mesh(instance_id) for instance_id in range(len(library.entries))]


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
        help="grasp success in MuJoCo on synthetic scenes or on a folder of meshes",
        description=(
            "Render synthetic tabletop scenes (or place the meshes of --meshes DIR among procedural "
            "clutter), plan the best grasp of every visible object from each pose source, execute it "
            "in MuJoCo (approach, close, lift 0.10 m, hold 2 s) and report success per family or "
            "category (per mesh with --meshes)."
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
        help="object instances (and clutter with --meshes): test (reported numbers) or val (development)",
    )
    evaluate.add_argument(
        "--meshes",
        default=None,
        help="mesh folder with meshes.yaml: evaluate each mesh, --views scenes each, per mesh",
    )
    evaluate.add_argument("--views", type=int, default=4, help="scenes per mesh with --meshes (default 4)")
    evaluate.add_argument(
        "--model",
        default=None,
        help="Diff9D checkpoint: adds 'diff9d' (estimated poses on the true masks), 'diff9d_unrefined' "
        "(the same poses planned without the observed points) and 'pipeline' (built-in segmentation, "
        "fitted table plane, estimated poses)",
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

    from diff9d_ros.grasp.evaluate import (
        ESTIMATED_SOURCE,
        PIPELINE_SOURCE,
        UNREFINED_SOURCE,
        evaluate_grasps,
        evaluate_meshes,
        summarise,
    )

    sources = tuple(args.sources)
    detectors = {}
    if args.model:
        from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig

        if args.hypotheses < 1:
            LOG.error("--hypotheses must be at least 1, got %d", args.hypotheses)
            return 2
        estimator = PoseEstimator.from_file(args.model, SamplerConfig(hypotheses=args.hypotheses))
        detectors = frame_detectors(estimator)
        sources = tuple(dict.fromkeys((*sources, ESTIMATED_SOURCE, UNREFINED_SOURCE, PIPELINE_SOURCE)))
    try:
        if args.meshes:
            if args.views < 1:
                raise ValueError(f"--views must be at least 1, got {args.views}")
            trials = evaluate_meshes(
                load_mesh_folder(args.meshes),
                views=args.views,
                seed=args.seed,
                sources=sources,
                sensor=args.sensor,
                split=args.split,
                detectors=detectors,
            )
        else:
            trials = evaluate_grasps(
                args.scenes,
                seed=args.seed,
                sources=sources,
                sensor=args.sensor,
                split=args.split,
                detectors=detectors,
            )
    except ValueError as error:
        LOG.error("%s", error)
        return 2
    key = "instance" if args.meshes else "group"
    print(f"{'source':<18}{key:<16}{'attempts':>9}{'planned':>9}{'success':>9}{'rate':>8}")
    for row in summarise(trials, sources, key=key):
        print(
            f"{row['source']:<18}{row[key]:<16}{row['attempts']:>9}{row['planned']:>9}"
            f"{row['successes']:>9}{row['success_rate']:>8.3f}"
        )
    if not args.model:
        print(
            f"{ESTIMATED_SOURCE}, {PIPELINE_SOURCE}: not evaluated "
            "(give --model models/diff9d_pose.pt to score them)"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([asdict(t) for t in trials], handle, indent=1)
    return 0
