"""NOCS metrics of 9-DoF poses (Wang et al., "Normalized Object Coordinate Space for Category-Level
6D Object Pose and Size Estimation", CVPR 2019, Sec. 6).

* 3-D IoU at 25/50/75 % (:mod:`diff9d_ros.geometry.iou`, best turn about y for symmetric objects);
* rotation/translation accuracy at 5°2 cm, 5°5 cm, 10°2 cm, 10°5 cm, the rotation error ignoring
  the turn about y for bottle, bowl, can and for a mug whose handle is out of view.

With ground-truth masks every object has exactly one prediction and the metric is the fraction of
objects under the threshold. With detections (built-in segmentation) it is NOCS-style average
precision: predictions ranked by score are greedily matched to ground truth of the same category,
and AP is the area under the all-point interpolated precision-recall curve. Both are per category;
``mean`` averages the categories present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diff9d_ros.geometry.iou import symmetric_box_iou_3d
from diff9d_ros.geometry.rotations import rotation_error_rad
from diff9d_ros.nocs import CATEGORIES, Detection, is_symmetric

IOU_THRESHOLDS: tuple[float, ...] = (0.25, 0.50, 0.75)
POSE_THRESHOLDS: tuple[tuple[float, float], ...] = ((5.0, 2.0), (5.0, 5.0), (10.0, 2.0), (10.0, 5.0))
#: Minimum IoU for a detection to be scored on pose (NOCS ``use_matches_for_pose``).
POSE_MATCH_MIN_IOU = 0.1


def metric_names() -> list[str]:
    """Metric keys in report order: ``IoU25``, ``IoU50``, ``IoU75``, ``5deg2cm``, ..."""
    return [f"IoU{round(t * 100)}" for t in IOU_THRESHOLDS] + [
        f"{deg:g}deg{cm:g}cm" for deg, cm in POSE_THRESHOLDS
    ]


@dataclass(frozen=True)
class PoseError:
    """Errors of one prediction against one ground-truth object."""

    category: str
    iou: float
    rotation_deg: float
    translation_cm: float

    def passes(self) -> dict[str, bool]:
        """Each metric of :func:`metric_names` -> whether this pair is within its threshold."""
        out = {f"IoU{round(t * 100)}": self.iou >= t for t in IOU_THRESHOLDS}
        for deg, cm in POSE_THRESHOLDS:
            out[f"{deg:g}deg{cm:g}cm"] = self.rotation_deg <= deg and self.translation_cm <= cm
        return out


def pose_error(pred: Detection, gt: Detection, handle_visible: bool = True) -> PoseError:
    """IoU, rotation error (deg) and translation error (cm) of ``pred`` against ``gt``."""
    symmetric = is_symmetric(gt.category, handle_visible)
    iou = symmetric_box_iou_3d(
        pred.rotation, pred.translation_m, pred.size_m, gt.rotation, gt.translation_m, gt.size_m, symmetric
    )
    rot_deg = float(np.degrees(rotation_error_rad(pred.rotation, gt.rotation, symmetric)))
    trans_cm = float(np.linalg.norm(pred.translation_m - gt.translation_m) * 100.0)
    return PoseError(gt.category, iou, rot_deg, trans_cm)


def _summarise(per_category: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    present = [c for c in CATEGORIES if c in per_category]
    out = {c: per_category[c] for c in present}
    out["mean"] = {m: float(np.mean([per_category[c][m] for c in present])) for m in metric_names()}
    return out


def accuracy_table(errors: Sequence[PoseError]) -> dict[str, dict[str, float]]:
    """Percent of objects within each threshold, per category and ``mean`` over categories."""
    if not errors:
        raise ValueError("accuracy_table: no pose errors to summarise")
    table = group_accuracy(errors, [e.category for e in errors])
    for row in table.values():
        row.pop("objects")
    return _summarise(table)


def group_accuracy(errors: Sequence[PoseError], groups: Sequence[str]) -> dict[str, dict[str, float]]:
    """Percent of objects within each threshold per group (``groups[i]`` names the group of
    ``errors[i]``: a sub-family, an instance), with the group's object count under ``objects``."""
    if len(errors) != len(groups):
        raise ValueError(f"group_accuracy: {len(errors)} errors but {len(groups)} group names")
    table: dict[str, dict[str, float]] = {}
    for group in sorted(set(groups)):
        passes = [e.passes() for e, g in zip(errors, groups, strict=True) if g == group]
        table[group] = {m: 100.0 * float(np.mean([p[m] for p in passes])) for m in metric_names()}
        table[group]["objects"] = len(passes)
    return table


def average_precision(scores: Sequence[float], true_positive: Sequence[bool], num_gt: int) -> float:
    """All-point interpolated AP (PASCAL VOC 2010+) of ranked predictions against ``num_gt`` objects."""
    if num_gt <= 0:
        raise ValueError("average_precision: needs at least one ground-truth object")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    tp = np.asarray(true_positive, dtype=np.float64)[order]
    if tp.size == 0:
        return 0.0
    precision = np.cumsum(tp) / np.arange(1, tp.size + 1)
    recall = np.cumsum(tp) / num_gt
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [recall[-1]]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _match_frame(scores: Sequence[float], errors: list[list[PoseError]], metric: str) -> list[bool]:
    """Greedy NOCS matching in score order: each prediction takes the free ground truth that
    passes ``metric`` (best IoU first). ``errors[i][j]`` is prediction i against ground truth j;
    returns true-positive flags in input order."""
    num_gt = len(errors[0]) if errors else 0
    taken = np.zeros(num_gt, dtype=bool)
    flags = [False] * len(scores)
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        candidates = [
            (err.iou, j, err)
            for j, err in enumerate(errors[i])
            if not taken[j] and (metric.startswith("IoU") or err.iou >= POSE_MATCH_MIN_IOU)
        ]
        for _, j, err in sorted(candidates, key=lambda c: (-c[0], c[1])):
            if err.passes()[metric]:
                taken[j] = True
                flags[i] = True
                break
    return flags


def detection_ap_table(
    predictions: Sequence[Sequence[Detection]],
    ground_truth: Sequence[Sequence[Detection]],
    handle_visible: Sequence[Sequence[bool]],
) -> dict[str, dict[str, float]]:
    """NOCS-style AP (percent) per category and ``mean``, over frames of predictions and truth."""
    if not (len(predictions) == len(ground_truth) == len(handle_visible)):
        raise ValueError("detection_ap_table: predictions, ground truth and handle flags differ in length")
    table: dict[str, dict[str, float]] = {}
    categories = {g.category for frame in ground_truth for g in frame}
    if not categories:
        raise ValueError("detection_ap_table: no ground-truth objects")
    for category in categories:
        frames = []  # (scores, error matrix, number of ground-truth objects) per frame
        for preds, gts, handles in zip(predictions, ground_truth, handle_visible, strict=True):
            keep_p = [p for p in preds if p.category == category]
            keep_g = [(g, h) for g, h in zip(gts, handles, strict=True) if g.category == category]
            errors = [[pose_error(p, g, h) for g, h in keep_g] for p in keep_p]
            frames.append(([p.score for p in keep_p], errors, len(keep_g)))
        row = {}
        for metric in metric_names():
            scores = [s for frame_scores, _, _ in frames for s in frame_scores]
            positives = [
                f for frame_scores, errs, _ in frames for f in _match_frame(frame_scores, errs, metric)
            ]
            row[metric] = 100.0 * average_precision(scores, positives, sum(n for _, _, n in frames))
        table[category] = row
    return _summarise(table)
