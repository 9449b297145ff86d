"""Robustness benchmark: Diff9D under real-sensor stress, beside the learning-free box fit.

Test-split frames (test instances, realsense depth model) rendered in this process under each
condition, and per condition the NOCS accuracy (ground-truth categories, the condition's masks,
mean over categories) of

* ``diff9d``: the shipped model, DDIM-3, K = 1;
* ``box_fit``: the learning-free fit the real-camera measurements compared against (RANSAC table
  plane for up, the minimum-area rectangle of the masked points, height from their spread along
  up; :func:`~diff9d_ros.pose.baseline.rectangle_box_fit`), on the same cleaned points;
* ``obb_prior``: the oriented box Diff9D starts from (:func:`~diff9d_ros.pose.baseline.obb_baseline`);
* on the lying frames also ``diff9d, sampled axis``: the model without the measured axis line
  (:mod:`diff9d_ros.pose.lying`), and a row that scores Diff9D's axis as a line (which end is the
  top not scored), to show how much of the lying loss is a flipped top.

Conditions (:data:`CONDITIONS`): clean masks; masks with bleed (5-12 % of the points 5-25 cm
behind); masks eroded or dilated 1-4 px; Mask R-CNN-like blobby masks (28x28 upsampled); objects
1.0-1.6 m away; bottles and cans lying down; heavy clutter (4-6 objects, 4-8 distractors); all at
once (0.45-1.6 m, a third of the bottles and cans lying, clutter, every mask corrupted). Mask
corruptions come from :mod:`diff9d_ros.synth.masks`.

Also: the built-in segmentation on the clutter frames (no masks given): false positives per frame
(detections whose segment overlaps no ground-truth object with mask IoU >= 0.3 and lies mostly on
none, or only on objects a detection with a higher score claimed; the stricter count with the mask
IoU alone is reported beside it) and NOCS detection AP50 (3-D IoU 50, categories from the
network's head); and
calibration on the "all at once" frames with K = 8 perturbed hypotheses: the share of rotation
errors within the reported 2 sigma (the model's calibration, fitted on validation frames by
``diff9d pose calibrate``) and Spearman's correlation of the reported sigma and the error.

Run from the repository root: ``python -m benchmarks.robustness [--quick] [--model PATH]
[--frames N] [--split val]``. Writes ``robustness.json`` into ``diff9d_out/benchmarks/``
(``robustness_quick.json`` with ``--quick``; ``robustness_val.json`` on validation instances, the
split models and settings are chosen on).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Target, repo_relative, report
from benchmarks.pose import DEFAULT_MODEL, rendered_frames
from diff9d_ros.pose.baseline import rectangle_box_fit
from diff9d_ros.pose.calibration import calibration_report, spread_samples
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.evaluate import (
    GroundTruthMaskResult,
    MaskSource,
    baseline_method,
    box_method,
    corrupted_masks,
    evaluate_detections,
    evaluate_with_gt_masks,
    exact_masks,
)
from diff9d_ros.pose.metrics import PoseError, accuracy_table, metric_names
from diff9d_ros.pose.segmentation import segment_tabletop
from diff9d_ros.synth import masks as mask_corruptions
from diff9d_ros.synth.noise import RandomizationConfig

#: Hypotheses per object for the calibration rows.
CALIBRATION_HYPOTHESES = 8
#: Mask IoU with which a segment claims a ground-truth object (else it is a false positive).
SEGMENT_MATCH_IOU = 0.3


@dataclass(frozen=True)
class Condition:
    """Scenes (``RandomizationConfig`` overrides of the realsense domain) and masks of one condition."""

    name: str
    scene: dict
    masks: tuple[str, ...] = ()  # corruptions of every mask; none: the exact masks
    combine: float = 0.0

    def mask_source(self, seed: int) -> MaskSource:
        return corrupted_masks(self.masks, self.combine, seed=seed) if self.masks else exact_masks


CLUTTER = {"objects_range": (4, 6), "distractors_range": (4, 8)}
CONDITIONS: tuple[Condition, ...] = (
    Condition("clean", {}),
    Condition("bleed", {}, ("bleed",)),
    Condition("erode_dilate", {}, ("erode_dilate",)),
    Condition("blobby", {}, ("blobby",)),
    Condition("far_1.0-1.6m", {"camera_distance_m": (1.0, 1.6)}),
    Condition("lying", {"categories": ("bottle", "can"), "lying_probability": 1.0}),
    Condition("clutter", CLUTTER),
    Condition(
        "all_at_once",
        {**CLUTTER, "camera_distance_m": (0.45, 1.6), "lying_probability": 0.33},
        ("bleed", "erode_dilate", "blobby"),
        combine=0.5,
    ),
)


def accuracy_rows(
    condition: str, frames: list, masks: MaskSource, methods: dict
) -> tuple[list[dict], dict, dict[str, GroundTruthMaskResult]]:
    """Per method the NOCS accuracy tables on ``frames`` with the condition's masks, mean rows,
    and the per-object results."""
    results = evaluate_with_gt_masks(frames, methods, masks_of=masks)
    rows, tables = [], {}
    for name, result in results.items():
        tables[name] = result.table()
        mean = tables[name]["mean"]
        rows.append({"condition": condition, "method": name, **{m: round(v, 2) for m, v in mean.items()}})
    return rows, tables, results


def as_line(error: PoseError) -> PoseError:
    """``error`` with its rotation error taken modulo the flip of the axis (bottle and can errors
    are the angle between the y axes): the axis scored as a line."""
    return replace(error, rotation_deg=min(error.rotation_deg, 180.0 - error.rotation_deg))


def false_positive_kinds(
    segments: dict[int, np.ndarray], detections: list, objects: list[np.ndarray]
) -> dict[str, int]:
    """Counts of the detections (highest score first) that claim no ground-truth object, by kind.

    A detection claims the object its segment overlaps with mask IoU >= :data:`SEGMENT_MATCH_IOU`,
    or else the object that holds at least half of the segment's pixels (a segment that covers
    the part of an object that returns depth: a laptop whose dark lid returns none), if no
    detection with a higher score claimed it. The rest are

    * ``background``: the segment overlaps no object either way (a distractor, the table's
      clutter, a merge with more background than object);
    * ``duplicate``: it does, but the object was claimed (a second segment of one object);
    * and, counted apart, ``mask_iou``: the stricter count of earlier versions, with the mask IoU
      alone (partial masks count as false positives).
    """
    counts = {"background": 0, "duplicate": 0, "mask_iou": 0}
    claimed: set[int] = set()
    claimed_by_iou: set[int] = set()
    for det in sorted(detections, key=lambda d: -d.score):
        segment = segments[det.mask_id]
        ious = [np.sum(segment & m) / np.sum(segment | m) for m in objects]
        shares = [np.sum(segment & m) / max(np.sum(segment), 1) for m in objects]
        overlapped = [i for i in np.argsort(ious)[::-1] if ious[i] >= SEGMENT_MATCH_IOU]
        overlapped += [i for i in range(len(objects)) if shares[i] >= 0.5 and i not in overlapped]
        free = [i for i in overlapped if i not in claimed]
        if free:
            claimed.add(free[0])
        else:
            counts["duplicate" if overlapped else "background"] += 1
        best = int(np.argmax(ious)) if ious else -1
        if best < 0 or ious[best] < SEGMENT_MATCH_IOU or best in claimed_by_iou:
            counts["mask_iou"] += 1
        else:
            claimed_by_iou.add(best)
    return counts


def segmentation_rows(estimator: PoseEstimator, frames: list) -> tuple[list[dict], float, float]:
    """False positives per frame (on the background, or a second detection of an object) and
    detection AP50 of the built-in segmentation path."""
    counts = {"background": 0, "duplicate": 0, "mask_iou": 0}
    for frame, truths in frames:
        bare = replace(frame, instance_mask=None, categories={})
        labels, plane = segment_tabletop(bare, estimator.segmentation, estimator.sampler.seed)
        segments = {int(k): labels == k for k in np.unique(labels) if k > 0}
        detections = estimator.estimate_masks(bare, segments, {}, plane)
        objects = [frame.instance_mask == t.detection.mask_id for t in truths if t.visible_pixels > 0]
        for kind, count in false_positive_kinds(segments, detections, objects).items():
            counts[kind] += count
    ap = evaluate_detections(frames, estimator.estimate)
    per_frame = {kind: count / max(len(frames), 1) for kind, count in counts.items()}
    fp_per_frame = per_frame["background"] + per_frame["duplicate"]
    rows = [
        {
            "condition": "clutter",
            "method": "diff9d, built-in segmentation (AP); value: false positives per frame",
            **{m: round(v, 2) for m, v in ap["mean"].items()},
            "value": round(fp_per_frame, 3),
        },
        *(
            {
                "condition": "clutter",
                "method": f"false positives per frame: {label}",
                "value": round(value, 3),
            }
            for label, value in (
                ("on the background", per_frame["background"]),
                ("second detections of an object", per_frame["duplicate"]),
                (f"mask IoU < {SEGMENT_MATCH_IOU} (stricter, earlier count)", per_frame["mask_iou"]),
            )
        ),
    ]
    return rows, fp_per_frame, ap["mean"]["IoU50"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min); targets informative only")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--frames", type=int, default=None, help="frames per condition")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--split",
        choices=("val", "test"),
        default="test",
        help="instances to render: test (the published table) or val (to choose models and settings "
        "on; writes robustness_val.json)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    count = args.frames or (2 if args.quick else 30)
    started = time.perf_counter()
    estimator = PoseEstimator.from_file(args.model, SamplerConfig(num_steps=3))
    methods = {
        "diff9d": estimator.estimate_masks,
        "box_fit": box_method(rectangle_box_fit, needs_plane=True),
        "obb_prior": baseline_method,
    }
    rows: list[dict] = []
    tables: dict[str, dict] = {}
    frames_of: dict[str, list] = {}
    for index, condition in enumerate(CONDITIONS):
        scene = RandomizationConfig.for_domain("realsense", **condition.scene)
        frames = rendered_frames(count, args.split, args.seed + 100 * index, scene)
        frames_of[condition.name] = frames
        masks = condition.mask_source(args.seed + 100 * index + 1)
        if condition.name == "bleed":
            drawn = [
                (frame, masks(frame, [t for t in truths if t.visible_pixels > 0])) for frame, truths in frames
            ]
            shares = [
                mask_corruptions.bleed_fraction(frame.instance_mask == i, m, frame.depth_m, 0.04)
                for frame, by_id in drawn
                for i, m in by_id.items()
            ]
            rows.append(
                {
                    "condition": "bleed",
                    "method": "bleed: share of points > 4 cm behind",
                    "value": float(np.mean(shares)),
                }
            )
            masks = condition.mask_source(args.seed + 100 * index + 1)  # the same draws again
        if condition.name == "lying":
            sampled_axis = PoseEstimator.from_file(args.model, SamplerConfig(num_steps=3, align_lying=False))
            condition_methods = {**methods, "diff9d, sampled axis": sampled_axis.estimate_masks}
        else:
            condition_methods = methods
        condition_rows, tables[condition.name], results = accuracy_rows(
            condition.name, frames, masks, condition_methods
        )
        rows += condition_rows
        if condition.name == "lying":
            line = accuracy_table([as_line(e) for e in results["diff9d"].errors])
            tables["lying"]["diff9d, axis as a line"] = line
            rows.append(
                {
                    "condition": "lying",
                    "method": "diff9d, axis as a line (top not scored)",
                    **{m: round(v, 2) for m, v in line["mean"].items()},
                }
            )
        print(f"{condition.name}: {len(frames)} frames, {time.perf_counter() - started:.0f} s", flush=True)

    seg_rows, fp_per_frame, ap50 = segmentation_rows(estimator, frames_of["clutter"])
    rows += seg_rows

    calibrated = PoseEstimator.from_file(
        args.model, SamplerConfig(num_steps=3, hypotheses=CALIBRATION_HYPOTHESES)
    )
    stress = CONDITIONS[-1].mask_source(args.seed + 999)
    samples = spread_samples(frames_of["all_at_once"], calibrated.estimate_masks, stress)
    calibration = calibration_report(samples)
    for key in (
        "rotation_within_2sigma_pct",
        "rotation_spearman",
        "translation_within_2sigma_pct",
        "translation_spearman",
    ):
        rows.append(
            {
                "condition": "all_at_once",
                "method": f"calibration K={CALIBRATION_HYPOTHESES}: {key}",
                "value": round(calibration[key], 3),
            }
        )

    clean, stressed = tables["clean"]["diff9d"]["mean"], tables["all_at_once"]["diff9d"]["mean"]
    fit = tables["all_at_once"]["box_fit"]["mean"]
    lying = tables["lying"]["diff9d"]["mean"]
    targets = [
        *(
            Target(f"all at once: Diff9D minus box fit, {m}", stressed[m] - fit[m], 0.01)
            for m in metric_names()
        ),
        Target(
            "all at once vs clean: 10deg5cm loss (points)",
            clean["10deg5cm"] - stressed["10deg5cm"],
            5.0,
            False,
        ),
        Target("lying bottles and cans: 10deg5cm", lying["10deg5cm"], 80.0),
        Target("built-in segmentation in clutter: false positives per frame", fp_per_frame, 0.2, False),
        Target("built-in segmentation in clutter: detection AP50", ap50, 70.0),
        Target(
            "calibration: rotation errors within 2 sigma (%)", calibration["rotation_within_2sigma_pct"], 80.0
        ),
        Target("calibration: Spearman(sigma, rotation error)", calibration["rotation_spearman"], 0.4),
    ]
    extra = {
        "split": args.split,
        "frames_per_condition": count,
        "model": repo_relative(args.model),
        "calibration_of_model": vars(calibrated.calibration),
        "per_category": tables,
        "calibration": calibration,
        "eval_seconds": time.perf_counter() - started,
    }
    columns = ["condition", "method", *metric_names(), "value"]
    name = "robustness" if args.split == "test" else "robustness_val"
    report(name, rows, targets, quick=args.quick, columns=columns, extra=extra)


if __name__ == "__main__":
    main()
