"""The rule that tells a lying can's top from its points: profiles, fit, model-file entry, command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.cli import main
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.pose.can_top import (
    DISTANCE_EDGES_M,
    RADIUS_EDGES,
    CanTopClassifier,
    accuracy_report,
    end_profiles,
    feature_count,
    rendered_examples,
)
from diff9d_ros.pose.estimator import PoseEstimator
from diff9d_ros.pose.lying import LYING_COS
from diff9d_ros.pose.train import load_checkpoint
from diff9d_ros.resources import share_path

MODEL = share_path("models") / "diff9d_pose.pt"
WIDTH = feature_count(DISTANCE_EDGES_M, RADIUS_EDGES)


def _cylinder_top_half(length_m: float, rng: np.random.Generator) -> tuple[np.ndarray, TablePlane]:
    """Points of the upper half of a plain cylinder (radius 33 mm) lying along x on z = 0."""
    s = rng.uniform(-length_m / 2, length_m / 2, 4000)
    angle = rng.uniform(0.0, np.pi, len(s))
    points = np.c_[s, 0.033 * np.cos(angle), 0.033 + 0.033 * np.sin(angle)]
    return points + rng.normal(0.0, 0.001, points.shape), TablePlane(np.array([0.0, 0.0, 1.0]), 0.0)


def test_the_two_ends_swap_when_the_axis_turns() -> None:
    points, plane = _cylinder_top_half(0.12, np.random.default_rng(0))
    plus, minus = end_profiles(points, np.array([1.0, 0.0, 0.0]), plane)
    turned = end_profiles(points, np.array([-1.0, 0.0, 0.0]), plane)
    assert plus.shape == (WIDTH,)
    assert np.allclose(turned[0], minus) and np.allclose(turned[1], plus)
    body_bins = plus[: WIDTH - (len(DISTANCE_EDGES_M) - 1)].reshape(len(DISTANCE_EDGES_M) - 1, -1)
    near_radius = (np.array(RADIUS_EDGES[:-1]) >= 0.94) & (np.array(RADIUS_EDGES[1:]) <= 1.03)
    assert body_bins[:, near_radius].sum() > 0.8 * body_bins.sum()  # a plain cylinder: radius R to its ends


def test_too_few_points_are_refused() -> None:
    with pytest.raises(ValueError, match="profile needs"):
        end_profiles(np.zeros((10, 3)), np.array([1.0, 0.0, 0.0]), TablePlane(np.array([0.0, 0.0, 1.0]), 0.0))


def test_the_fit_learns_a_separable_rule_and_no_end_is_preferred() -> None:
    rng = np.random.default_rng(1)
    direction = rng.normal(size=WIDTH)
    differences = rng.normal(size=(400, WIDTH))
    tops = differences @ direction > 0.0
    classifier = CanTopClassifier.fit(differences, tops)
    assert np.mean((differences @ classifier.weights > 0.0) == tops) > 0.95
    assert np.mean((-differences @ classifier.weights > 0.0) == ~tops) > 0.95  # antisymmetric: no intercept


def test_weights_that_do_not_fit_the_bins_are_refused() -> None:
    with pytest.raises(ValueError, match=f"must be {WIDTH} finite"):
        CanTopClassifier(np.zeros(WIDTH - 1))
    with pytest.raises(ValueError, match="NaN or inf"):
        CanTopClassifier(np.full(WIDTH, np.nan))
    with pytest.raises(ValueError, match="malformed"):
        CanTopClassifier.from_checkpoint({"can_top": {"weights": [0.0] * WIDTH}})
    assert CanTopClassifier.from_checkpoint({}) is None


def test_the_classifier_round_trips_through_a_model_file_entry() -> None:
    classifier = CanTopClassifier(np.arange(WIDTH, dtype=float), info={"seed": 3})
    again = CanTopClassifier.from_checkpoint({"can_top": classifier.to_checkpoint()})
    assert np.array_equal(again.weights, classifier.weights) and again.info == {"seed": 3}
    assert again.radius_edges == RADIUS_EDGES and again.distance_edges_m == DISTANCE_EDGES_M


def test_rendered_cans_are_labelled_by_their_true_top() -> None:
    examples = rendered_examples(6, "val", 5, LYING_COS)
    assert len(examples.differences) >= 6  # 3-6 cans a frame, most of them lying
    assert examples.differences.shape[1] == WIDTH and np.isfinite(examples.differences).all()
    assert examples.top_at_plus.dtype == bool
    assert 0.3 <= examples.range_m.min() <= examples.range_m.max() <= 2.2
    shipped = CanTopClassifier.from_checkpoint(load_checkpoint(MODEL))
    flipped = CanTopClassifier(-shipped.weights)
    right, wrong = accuracy_report(shipped, examples), accuracy_report(flipped, examples)
    assert right["accuracy"] + wrong["accuracy"] == pytest.approx(1.0)  # a can's answer is one or the other
    assert right["beverage_accuracy"] > wrong["beverage_accuracy"]


def test_the_command_writes_a_classifier_the_estimator_loads(tmp_path: Path) -> None:
    model = tmp_path / "pose.pt"
    shutil.copy(MODEL, model)
    payload = load_checkpoint(model)
    payload.pop("can_top")
    torch.save(payload, model)
    assert PoseEstimator.from_file(model).can_top is None
    assert main(["pose", "fit-can-top", "--model", str(model), "--frames", "8", "--val-frames", "4"]) == 0
    loaded = PoseEstimator.from_file(model).can_top
    assert loaded is not None and loaded.info["frames"] == 8 and 0.0 <= loaded.info["val"]["accuracy"] <= 1.0
