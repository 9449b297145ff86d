"""NOCS metrics: per-object errors, accuracy tables and detection AP on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.rotations import rotation_about_y
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.metrics import (
    accuracy_table,
    average_precision,
    detection_ap_table,
    metric_names,
    pose_error,
)

R0 = Rotation.from_euler("x", -70, degrees=True).as_matrix()


def _det(category: str, rotation=R0, t=(0.0, 0.0, 0.6), size=(0.08, 0.2, 0.08), score=1.0) -> Detection:
    return Detection(category, rotation, np.array(t), np.array(size), score=score)


def test_turn_about_y_costs_a_bottle_nothing_and_a_laptop_everything() -> None:
    turned = R0 @ rotation_about_y(np.radians(40))
    bottle = pose_error(_det("bottle", turned), _det("bottle"))
    assert bottle.rotation_deg == pytest.approx(0.0, abs=1e-5) and bottle.iou == pytest.approx(1.0)
    assert all(bottle.passes().values())
    size = (0.3, 0.2, 0.25)
    laptop = pose_error(_det("laptop", turned, size=size), _det("laptop", size=size))
    assert laptop.rotation_deg == pytest.approx(40.0)
    assert not laptop.passes()["10deg5cm"]


def test_mug_is_symmetric_only_without_visible_handle() -> None:
    turned = R0 @ rotation_about_y(np.radians(30))
    assert pose_error(_det("mug", turned), _det("mug"), handle_visible=False).rotation_deg < 1e-5
    assert pose_error(_det("mug", turned), _det("mug"), handle_visible=True).rotation_deg == pytest.approx(30)


def test_translation_thresholds() -> None:
    err = pose_error(_det("can", t=(0.03, 0.0, 0.6)), _det("can"))
    assert err.translation_cm == pytest.approx(3.0)
    passes = err.passes()
    assert passes["5deg5cm"] and passes["10deg5cm"] and not passes["5deg2cm"] and not passes["10deg2cm"]


def test_accuracy_table_per_category_and_mean() -> None:
    good = pose_error(_det("bottle"), _det("bottle"))
    far = pose_error(_det("bottle", t=(0.5, 0.0, 0.6)), _det("bottle"))
    laptop = pose_error(_det("laptop"), _det("laptop"))
    table = accuracy_table([good, far, laptop])
    assert table["bottle"]["IoU50"] == pytest.approx(50.0)
    assert table["laptop"]["10deg5cm"] == pytest.approx(100.0)
    assert table["mean"]["IoU50"] == pytest.approx(75.0)
    assert set(table["mean"]) == set(metric_names())
    with pytest.raises(ValueError, match="no pose errors"):
        accuracy_table([])


def test_average_precision_hand_computed() -> None:
    assert average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0)
    # TP, FP, TP over 2 objects: precision 1 to recall 0.5, then 2/3 to recall 1.
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision([0.9], [True], 4) == pytest.approx(0.25)
    assert average_precision([], [], 3) == 0.0


def test_detection_ap_duplicates_and_wrong_category_are_false_positives() -> None:
    gt = [[_det("bottle"), _det("laptop", t=(0.3, 0.0, 0.7))]]
    preds = [[_det("bottle", score=0.9), _det("bottle", score=0.8), _det("camera", t=(0.3, 0.0, 0.7))]]
    table = detection_ap_table(preds, gt, [[True, True]])
    # Bottle: TP then a duplicate FP -> AP 1; laptop: never found -> AP 0.
    assert table["bottle"]["IoU50"] == pytest.approx(100.0)
    assert table["laptop"]["IoU50"] == pytest.approx(0.0)
    assert table["mean"]["IoU50"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="length"):
        detection_ap_table(preds, [], [])
