"""Grasp benchmark: physics-checked grasp success per category and pose source, and planning time.

Synthetic test-split scenes (realsense depth model), the best planned grasp of every visible object
executed in MuJoCo (approach, force-controlled close, lift 0.10 m, hold 2 s), per pose source:
``ground_truth`` and ``noisy`` (ground truth perturbed with sigma 1 cm / 5 deg, the covariance given
to the planner; a robustness row, not an estimator). The ``diff9d`` (estimated poses) column runs
only with ``--model PATH`` (a trained Diff9D checkpoint; ``--hypotheses`` samples per object, whose
spread is the covariance the planner ranks with); without one it is reported as unavailable.
``diff9d_unrefined`` plans from the same estimated poses without the refinement on the observed
points: the baseline of that refinement, measured on the same frames in the same run.
Planning time is per object on a scene cloud prepared once per frame (its time is reported too).

Run from the repository root: ``python -m benchmarks.grasp [--quick] [--scenes N] [--model PATH]
[--hypotheses K] [--split val]``.
Full run: 100 scenes; ``--quick``: 3 scenes. Writes ``benchmarks/results/grasp.json``
(``grasp_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import Target, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.grasp.commands import HYPOTHESES
from diff9d_ros.grasp.evaluate import (
    ESTIMATED_SOURCE,
    UNREFINED_SOURCE,
    evaluate_grasps,
    summarise,
    table_plane_in_camera,
)
from diff9d_ros.grasp.planner import GraspPlanner


def scene_prep_ms(n_frames: int, seed: int) -> float:
    """Median time to prepare the scene cloud (filter, table band, voxel grid) of one 640x480 frame."""
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    intrinsics = Intrinsics.realsense_d435()
    config = RandomizationConfig.for_domain("realsense", objects_range=(2, 4))
    renderer = Renderer(intrinsics, shadows=False)
    planner = GraspPlanner()
    times = []
    for index in range(n_frames):
        rng = np.random.default_rng([seed, index])
        frame = synthesize(compose_scene(rng, config, intrinsics, split="test"), renderer, config.sensor, rng)
        points = intrinsics.backproject(frame.frame.depth_m)
        start = time.perf_counter()
        planner.prepare_scene(points, table_plane_in_camera(frame.camera_pose))
        times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (3 scenes)")
    parser.add_argument("--scenes", type=int, default=None, help="override the number of scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="object instances: test (reported numbers) or val (tuning, overfitting check)",
    )
    parser.add_argument("--model", default=None, help="Diff9D checkpoint for the estimated-pose column")
    parser.add_argument(
        "--hypotheses", type=int, default=HYPOTHESES, help=f"Diff9D samples per object (default {HYPOTHESES})"
    )
    args = parser.parse_args()
    n_scenes = args.scenes or (3 if args.quick else 100)
    sources: tuple[str, ...] = ("ground_truth", "noisy")
    estimator = None
    if args.model:
        from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig

        estimator = PoseEstimator.from_file(args.model, SamplerConfig(hypotheses=args.hypotheses))
        sources = (*sources, ESTIMATED_SOURCE, UNREFINED_SOURCE)

    start = time.perf_counter()
    trials = evaluate_grasps(n_scenes, seed=args.seed, sources=sources, estimator=estimator, split=args.split)
    wall_s = time.perf_counter() - start
    rows = summarise(trials, sources)
    prep_ms = scene_prep_ms(min(n_scenes, 10), args.seed)

    def rate(source: str, category: str = "all") -> float:
        return next(r["success_rate"] for r in rows if r["source"] == source and r["category"] == category)

    gt_categories = [
        r for r in rows if r["source"] == "ground_truth" and r["category"] != "all" and r["attempts"]
    ]
    planned = [t.planning_ms for t in trials if t.source == "ground_truth"]
    targets = [
        Target("success with ground-truth poses", rate("ground_truth"), 0.90),
        Target(
            "worst category success with ground-truth poses",
            min(r["success_rate"] for r in gt_categories),
            0.60,
        ),
        Target(
            "median planning time per object (ms)", float(np.median(planned)), 20.0, higher_is_better=False
        ),
    ]
    unavailable = []
    if estimator is not None:
        est = [
            r for r in rows if r["source"] == ESTIMATED_SOURCE and r["category"] != "all" and r["attempts"]
        ]
        targets.append(Target("success with Diff9D-estimated poses", rate(ESTIMATED_SOURCE), 0.80))
        targets.append(
            Target("worst category success, estimated poses", min(r["success_rate"] for r in est), 0.60)
        )
    else:
        unavailable.append(
            {
                "name": "success with Diff9D-estimated poses >= 0.80",
                "reason": "no trained Diff9D model (--model)",
            }
        )
        print("[N/A] success with Diff9D-estimated poses: no trained model given (--model); not measured")
    report(
        "grasp" if args.split == "test" else f"grasp_{args.split}",
        rows,
        targets,
        quick=args.quick,
        extra={
            "scenes": n_scenes,
            "split": args.split,
            "trials": len(trials),
            "wall_s": wall_s,
            "scene_prep_median_ms": prep_ms,
            "unavailable_targets": unavailable,
            "noisy_source": "ground truth + N(0, (1 cm)^2 I, (5 deg)^2 I); not an estimator",
            "estimator_hypotheses": args.hypotheses if estimator is not None else None,
            "unrefined_source": "the diff9d poses planned without the refinement on the observed points",
        },
    )


if __name__ == "__main__":
    main()
