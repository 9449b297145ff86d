"""What the robustness benchmark counts as a false positive of the built-in segmentation."""

from __future__ import annotations

import numpy as np

from benchmarks.robustness import false_positive_kinds
from diff9d_ros.nocs import Detection


def _detection(mask_id: int, score: float) -> Detection:
    return Detection("laptop", np.eye(3), np.zeros(3), np.ones(3), score=score, mask_id=mask_id)


def _box(top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((100, 100), dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def test_background_duplicates_and_partial_masks_are_told_apart() -> None:
    laptop = _box(0, 0, 50, 50)  # 2500 pixels; its lid returns no depth
    can = _box(60, 60, 20, 10)
    segments = {
        1: _box(25, 0, 25, 25),  # the laptop's base only: mask IoU 0.25
        2: _box(0, 0, 20, 20),  # a second segment on the laptop
        3: _box(60, 80, 20, 15),  # a distractor beside the can, touching nothing
        4: _box(60, 60, 20, 10),  # the can
    }
    detections = [_detection(1, 0.99), _detection(2, 0.9), _detection(3, 0.95), _detection(4, 0.8)]
    counts = false_positive_kinds(segments, detections, [laptop, can])
    assert counts == {"background": 1, "duplicate": 1, "mask_iou": 3}


def test_a_segment_merging_an_object_with_much_more_background_is_background() -> None:
    can = _box(0, 0, 10, 10)
    counts = false_positive_kinds({1: _box(0, 0, 10, 40)}, [_detection(1, 0.9)], [can])  # IoU 0.25
    assert counts["background"] == 1
    counts = false_positive_kinds({1: _box(0, 0, 10, 30)}, [_detection(1, 0.9)], [can])  # IoU 0.33
    assert counts == {"background": 0, "duplicate": 0, "mask_iou": 0}
