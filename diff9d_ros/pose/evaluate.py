"""Evaluation of pose methods on frames with ground truth: NOCS tables, curves and overlays.

A *method* maps ``(frame, masks, categories)`` to detections. Ground-truth objects with no
visible pixel (occluded or out of view) are not part of the benchmark, as in NOCS' annotations.
With ground-truth masks each object gets exactly one prediction (paired by mask id) and the NOCS
metrics are accuracies
(:func:`metrics.accuracy_table`); with the built-in segmentation the detections are scored as
NOCS-style detection AP (:func:`metrics.detection_ap_table`). Outputs: the tables, accuracy-vs-
threshold curves (PNG) and overlay images with the projected boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diff9d_ros.geometry.boxes import BOX_EDGES, box_corners
from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.baseline import obb_baseline
from diff9d_ros.pose.dataset import ObjectTruth
from diff9d_ros.pose.metrics import PoseError, accuracy_table, detection_ap_table, pose_error
from diff9d_ros.pose.observation import ObservationError, masked_points
from diff9d_ros.pose.segmentation import table_plane
from diff9d_ros.synth.masks import CORRUPTIONS, corrupt_mask

LOG = logging.getLogger(__name__)

#: (frame, masks by id, categories by id) -> detections (``mask_id`` names the mask used).
Method = Callable[[RGBDFrame, dict[int, np.ndarray], dict[int, str]], list[Detection]]

#: Box edges as pairs of :data:`diff9d_ros.geometry.boxes.CORNER_SIGNS` indices (differ in one sign).


def box_method(fit: Callable[..., Detection], needs_plane: bool = False) -> Method:
    """A learning-free method: ``fit(points, category, plane, mask_id)`` on each mask's cleaned
    points (:func:`observation.masked_points`) for every mask with a category; masks that cannot be
    observed (or, with ``needs_plane``, frames without a table plane) are skipped with a log line."""

    def method(frame: RGBDFrame, masks: dict[int, np.ndarray], categories: dict[int, str]) -> list[Detection]:
        plane = table_plane(frame)
        if plane is None and needs_plane:
            LOG.warning("%s skips a frame without a table plane", fit.__name__)
            return []
        out = []
        for mask_id, mask in masks.items():
            try:
                out.append(fit(masked_points(frame, mask, plane), categories[mask_id], plane, mask_id))
            except (ObservationError, KeyError) as error:
                LOG.warning("%s skips mask %d: %s", fit.__name__, mask_id, error)
        return out

    return method


#: The geometric OBB baseline (:func:`baseline.obb_baseline`), Diff9D's starting box.
baseline_method = box_method(obb_baseline)


def _handle_visible(truth: ObjectTruth) -> bool:
    return truth.detection.category != "mug" or not truth.symmetric


@dataclass
class GroundTruthMaskResult:
    """Per-object errors of one method with ground-truth masks (missed objects count as failures)."""

    errors: list[PoseError] = field(default_factory=list)
    missed: int = 0

    def table(self) -> dict[str, dict[str, float]]:
        return accuracy_table(self.errors)


def _miss(truth: ObjectTruth) -> PoseError:
    return PoseError(truth.detection.category, 0.0, 180.0, float("inf"))


MaskSource = Callable[[RGBDFrame, Sequence[ObjectTruth]], dict[int, np.ndarray]]


def exact_masks(frame: RGBDFrame, truths: Sequence[ObjectTruth]) -> dict[int, np.ndarray]:
    """The rendered (exact) mask of each object."""
    return {t.detection.mask_id: frame.instance_mask == t.detection.mask_id for t in truths}


def corrupted_masks(
    kinds: tuple[str, ...] = tuple(CORRUPTIONS), combine: float = 0.0, share: float = 1.0, seed: int = 0
) -> MaskSource:
    """A mask source that passes a ``share`` of the exact masks through a random corruption of
    ``kinds`` (:func:`diff9d_ros.synth.masks.corrupt_mask`), seeded: imperfect masks like a real
    segmenter's."""
    rng = np.random.default_rng(seed)

    def masks_of(frame: RGBDFrame, truths: Sequence[ObjectTruth]) -> dict[int, np.ndarray]:
        return {
            mask_id: corrupt_mask(mask, frame.depth_m, rng, kinds, combine)[0]
            if rng.random() < share
            else mask
            for mask_id, mask in exact_masks(frame, truths).items()
        }

    return masks_of


def evaluate_with_gt_masks(
    frames: Iterable[tuple[RGBDFrame, Sequence[ObjectTruth]]],
    methods: dict[str, Method],
    overlay_dir: Path | None = None,
    overlays: int = 0,
    masks_of: MaskSource = exact_masks,
) -> dict[str, GroundTruthMaskResult]:
    """Run every method on each frame's ground-truth categories and the masks ``masks_of`` gives
    (default: the exact ones; an imperfect-mask condition passes its own); collect errors."""
    results = {name: GroundTruthMaskResult() for name in methods}
    for index, (frame, all_truths) in enumerate(frames):
        if frame.instance_mask is None:
            raise ValueError("ground-truth evaluation needs frames with an instance mask")
        truths = [t for t in all_truths if t.visible_pixels > 0]
        masks = masks_of(frame, truths)
        categories = {t.detection.mask_id: t.detection.category for t in truths}
        for name, method in methods.items():
            by_mask = {d.mask_id: d for d in method(frame, masks, categories)}
            for truth in truths:
                pred = by_mask.get(truth.detection.mask_id)
                if pred is None:
                    results[name].errors.append(_miss(truth))
                    results[name].missed += 1
                else:
                    results[name].errors.append(pose_error(pred, truth.detection, _handle_visible(truth)))
            if overlay_dir is not None and index < overlays:
                draw_overlay(
                    frame,
                    list(by_mask.values()),
                    [t.detection for t in truths],
                    overlay_dir / f"{name}_{index:04d}.png",
                )
    return results


def evaluate_detections(
    frames: Iterable[tuple[RGBDFrame, Sequence[ObjectTruth]]],
    detector: Callable[[RGBDFrame], list[Detection]],
) -> dict[str, dict[str, float]]:
    """NOCS detection AP of ``detector`` (frame without masks -> detections)."""
    predictions, truth_dets, handles = [], [], []
    for frame, all_truths in frames:
        truths = [t for t in all_truths if t.visible_pixels > 0]
        bare = RGBDFrame(frame.rgb, frame.depth_m, frame.intrinsics, frame.stamp_ns, frame.frame_id)
        predictions.append(detector(bare))
        truth_dets.append([t.detection for t in truths])
        handles.append([_handle_visible(t) for t in truths])
    return detection_ap_table(predictions, truth_dets, handles)


def plot_curves(results: dict[str, GroundTruthMaskResult], path: Path) -> None:
    """Accuracy (percent of objects) against IoU, rotation and translation thresholds, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    grids = {
        "3-D IoU": (np.linspace(0, 1, 101), lambda e: e.iou, True),
        "rotation error (deg)": (np.linspace(0, 60, 121), lambda e: e.rotation_deg, False),
        "translation error (cm)": (np.linspace(0, 15, 151), lambda e: e.translation_cm, False),
    }
    for ax, (label, (grid, value, higher)) in zip(axes, grids.items(), strict=True):
        for name, result in results.items():
            values = np.array([value(e) for e in result.errors])
            acc = [100.0 * np.mean(values >= g if higher else values <= g) for g in grid]
            ax.plot(grid, acc, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_overlay(frame: RGBDFrame, detections: list[Detection], truths: list[Detection], path: Path) -> None:
    """The RGB image with projected ground-truth (green) and predicted (red) boxes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(frame.rgb.shape[1] / 100, frame.rgb.shape[0] / 100), dpi=100)
    ax.imshow(frame.rgb)
    for dets, colour in ((truths, "lime"), (detections, "red")):
        for det in dets:
            corners = box_corners(det.rotation, det.translation_m, det.size_m)
            if np.any(corners[:, 2] <= 0.01):
                continue
            uv = frame.intrinsics.project(corners)
            for a, b in BOX_EDGES:
                ax.plot(uv[[a, b], 0], uv[[a, b], 1], color=colour, linewidth=1)
            ax.text(*uv.min(axis=0), det.category, color=colour, fontsize=7)
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
