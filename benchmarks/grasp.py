"""Grasp benchmark: physics-checked grasp success per pose source and object family, and planning time.

Synthetic scenes of one split (realsense depth model); the best planned grasp of every visible
object is executed in MuJoCo (approach, force-controlled close, lift 0.10 m, hold 2 s). Results are
grouped by the object's sub-family where its mesh record has one (``CategoryMesh.family``), by
category otherwise. Pose sources:

* ``ground_truth``; ``noisy`` (ground truth perturbed with sigma 1 cm / 5 deg, the covariance given
  to the planner: a robustness row, not an estimator);
* with ``--model PATH`` (a Diff9D checkpoint): ``diff9d``, the estimator on the true instance masks
  with the true table plane (``--hypotheses`` samples per object, whose spread is the covariance
  the planner ranks with); ``diff9d_unrefined``, the same poses planned without the observed
  points (the baseline of the planner's use of the points, same frames, same run); ``pipeline``,
  what the pipeline runs: built-in tabletop segmentation with its fitted table plane, categories
  from the network, ``PipelineConfig``'s segmentation settings and samples per object.

Wide tins: standard tin sizes wider than the 0.08 m opening (:data:`diff9d_ros.grasp.shapes.WIDE_TIN_SIZES_M`)
are each placed in ``--wide-views`` scenes among the split's clutter and evaluated alone (family
``wide_tin``), until the procedural families include wide cans. Planning time is per object on a
scene cloud prepared once per frame (its time is reported too).

Run from the repository root: ``python -m benchmarks.grasp [--quick] [--scenes N] [--model PATH]
[--hypotheses K] [--split val] [--threads T]``. Full run: 100 scenes and 4 views per wide tin;
``--quick``: 3 scenes, 1 view of two tins. Writes ``benchmarks/results/grasp.json`` (``grasp_val.json``
with ``--split val``; ``_quick`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import Target, format_table, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.grasp.commands import HYPOTHESES, frame_detectors
from diff9d_ros.grasp.evaluate import (
    ESTIMATED_SOURCE,
    PIPELINE_SOURCE,
    UNREFINED_SOURCE,
    LibraryMesh,
    evaluate_grasps,
    evaluate_meshes,
    summarise,
    table_plane_in_camera,
)
from diff9d_ros.grasp.planner import GraspPlanner
from diff9d_ros.grasp.shapes import WIDE_TIN_SIZES_M, food_tin

#: Family name of the added wide tins.
WIDE_FAMILY = "wide_tin"


def wide_tins(names: list[str] | None = None) -> list[LibraryMesh]:
    """The wide tins of :data:`WIDE_TIN_SIZES_M` (all, or those ``names``) as meshes to evaluate."""
    out = []
    for name, (width, height) in WIDE_TIN_SIZES_M.items():
        if names is None or name in names:
            mesh = food_tin(width, height)
            out.append(LibraryMesh("can", mesh, mesh.extents.copy(), WIDE_FAMILY, name))
    return out


def scene_prep_ms(n_frames: int, seed: int, split: str) -> float:
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
        frame = synthesize(compose_scene(rng, config, intrinsics, split=split), renderer, config.sensor, rng)
        points = intrinsics.backproject(frame.frame.depth_m)
        start = time.perf_counter()
        planner.prepare_scene(points, table_plane_in_camera(frame.camera_pose))
        times.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(times))


def _detectors(model: str, hypotheses: int) -> dict:
    """``diff9d`` with ``hypotheses`` samples per object; ``pipeline`` with the pipeline's settings."""
    from diff9d_ros.pipeline import PipelineConfig
    from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
    from diff9d_ros.stages import SegmentationStage

    pipeline = PipelineConfig()
    estimator = PoseEstimator.from_file(model, SamplerConfig(hypotheses=hypotheses))
    live = PoseEstimator.from_file(model, SamplerConfig(hypotheses=pipeline.num_hypotheses))
    segmentation = SegmentationStage(pipeline).config_for(Intrinsics.realsense_d435().width)
    return frame_detectors(estimator, live, segmentation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (3 scenes, 2 tins x 1 view)")
    parser.add_argument("--scenes", type=int, default=None, help="override the number of scenes")
    parser.add_argument("--wide-views", type=int, default=None, help="scenes per wide tin (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="object instances: test (reported numbers) or val (development)",
    )
    parser.add_argument("--model", default=None, help="Diff9D checkpoint for the estimated-pose columns")
    parser.add_argument(
        "--hypotheses", type=int, default=HYPOTHESES, help=f"Diff9D samples per object (default {HYPOTHESES})"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    n_scenes = args.scenes or (3 if args.quick else 100)
    wide_views = args.wide_views or (1 if args.quick else 4)
    tins = wide_tins(["307x109", "401x411"] if args.quick else None)
    sources: tuple[str, ...] = ("ground_truth", "noisy")
    detectors = {}
    if args.model:
        detectors = _detectors(args.model, args.hypotheses)
        sources = (*sources, ESTIMATED_SOURCE, UNREFINED_SOURCE, PIPELINE_SOURCE)

    start = time.perf_counter()
    trials = evaluate_grasps(n_scenes, seed=args.seed, sources=sources, split=args.split, detectors=detectors)
    wide = evaluate_meshes(
        tins, views=wide_views, seed=args.seed, sources=sources, split=args.split, detectors=detectors
    )
    wall_s = time.perf_counter() - start
    rows = summarise(trials, sources) + [r for r in summarise(wide, sources) if r["group"] != "all"]
    tin_rows = summarise(wide, sources, key="instance")
    prep_ms = scene_prep_ms(min(n_scenes, 10), args.seed, args.split)
    print("wide tins, per size:")
    print(format_table(tin_rows, ["source", "instance", "attempts", "planned", "successes", "success_rate"]))
    print()

    def row(source: str, group: str = "all") -> dict:
        return next(r for r in rows if r["source"] == source and r["group"] == group)

    def worst(source: str) -> float:
        return min(
            r["success_rate"] for r in rows if r["source"] == source and r["group"] != "all" and r["attempts"]
        )

    planned = [t.planning_ms for t in trials + wide if t.source == "ground_truth" and t.planning_ms > 0]
    targets = [
        Target("success with ground-truth poses", row("ground_truth")["success_rate"], 0.90),
        Target("worst family success with ground-truth poses", worst("ground_truth"), 0.60),
        Target(
            "median planning time per object (ms)", float(np.median(planned)), 20.0, higher_is_better=False
        ),
    ]
    unavailable = []
    if args.model:
        targets += [
            Target("success with Diff9D-estimated poses", row(ESTIMATED_SOURCE)["success_rate"], 0.85),
            Target(
                "worst family success, estimated poses (wide tins included)", worst(ESTIMATED_SOURCE), 0.70
            ),
        ]
    else:
        reason = "no trained Diff9D model (--model)"
        unavailable = [{"name": "success with Diff9D-estimated poses >= 0.85", "reason": reason}]
        print(f"[N/A] estimated-pose targets: {reason}; not measured")
    report(
        "grasp" if args.split == "test" else f"grasp_{args.split}",
        rows,
        targets,
        quick=args.quick,
        columns=[
            "source",
            "group",
            "attempts",
            "planned",
            "successes",
            "success_rate",
            "planned_success_rate",
            "median_planning_ms",
        ],
        extra={
            "scenes": n_scenes,
            "split": args.split,
            "trials": len(trials),
            "wide_tin_trials": len(wide),
            "wide_tin_views": wide_views,
            "wide_tin_rows": tin_rows,
            "wall_s": wall_s,
            "scene_prep_median_ms": prep_ms,
            "unavailable_targets": unavailable,
            "noisy_source": "ground truth + N(0, (1 cm)^2 I, (5 deg)^2 I); not an estimator",
            "estimator_hypotheses": args.hypotheses if args.model else None,
            "unrefined_source": "the diff9d poses planned without the observed points",
            "pipeline_source": "built-in segmentation and its table plane, network categories, "
            "PipelineConfig settings",
            "groups": "family where the mesh record has one, else category; wide_tin: added food tins",
        },
    )


if __name__ == "__main__":
    main()
