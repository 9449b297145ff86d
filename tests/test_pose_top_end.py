"""The rules that tell a lying bottle's or can's top from its points: profiles, fit, model-file
entries, command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.cli import main
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.pose.estimator import PoseEstimator
from diff9d_ros.pose.lying import LYING_COS
from diff9d_ros.pose.top_end import (
    CHECKPOINT_KEY,
    DISTANCE_EDGES_M,
    RADIUS_EDGES,
    SAME_ENDS_FAMILIES,
    TopEndClassifier,
    accuracy_report,
    classifiers_from_checkpoint,
    end_profiles,
    feature_count,
    rendered_examples,
    write_top_ends,
)
from diff9d_ros.pose.train import load_checkpoint
from diff9d_ros.resources import share_path
from diff9d_ros.synth.families import FAMILIES

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
    classifier = TopEndClassifier.fit(differences, tops)
    assert np.mean((differences @ classifier.weights > 0.0) == tops) > 0.95
    assert np.mean((-differences @ classifier.weights > 0.0) == ~tops) > 0.95  # antisymmetric: no intercept


def test_weights_that_do_not_fit_the_bins_are_refused() -> None:
    with pytest.raises(ValueError, match=f"must be {WIDTH} finite"):
        TopEndClassifier(np.zeros(WIDTH - 1))
    with pytest.raises(ValueError, match="NaN or inf"):
        TopEndClassifier(np.full(WIDTH, np.nan))
    with pytest.raises(ValueError, match="malformed"):
        classifiers_from_checkpoint({CHECKPOINT_KEY: {"can": {"weights": [0.0] * WIDTH}}})
    with pytest.raises(ValueError, match="not a table"):
        classifiers_from_checkpoint({CHECKPOINT_KEY: [0.0] * WIDTH})
    assert classifiers_from_checkpoint({}) == {}


def test_classifiers_round_trip_through_a_model_file_and_keep_the_other_categories(tmp_path: Path) -> None:
    model = tmp_path / "pose.pt"
    shutil.copy(MODEL, model)
    bottle = TopEndClassifier(np.arange(WIDTH, dtype=float), info={"seed": 3})
    write_top_ends(model, {"bottle": bottle})
    again = classifiers_from_checkpoint(load_checkpoint(model))
    assert np.array_equal(again["bottle"].weights, bottle.weights) and again["bottle"].info == {"seed": 3}
    assert (
        again["bottle"].radius_edges == RADIUS_EDGES and again["bottle"].distance_edges_m == DISTANCE_EDGES_M
    )
    shipped = classifiers_from_checkpoint(load_checkpoint(MODEL))
    assert np.array_equal(again["can"].weights, shipped["can"].weights)  # the can's rule stays


def test_the_families_whose_ends_are_the_same_are_can_families() -> None:
    can_families = {f.name for f in FAMILIES["can"]}
    assert SAME_ENDS_FAMILIES <= can_families and not any(
        f.startswith("beverage") for f in SAME_ENDS_FAMILIES
    )


@pytest.mark.parametrize("category", ["bottle", "can"])
def test_rendered_objects_are_labelled_by_their_true_top(category: str) -> None:
    examples = rendered_examples(6, "val", 5, category, LYING_COS)
    assert len(examples.differences) >= 6  # 3-6 objects a frame, most of them lying
    assert examples.differences.shape[1] == WIDTH and np.isfinite(examples.differences).all()
    assert examples.top_at_plus.dtype == bool
    assert 0.3 <= examples.range_m.min() <= examples.range_m.max() <= 2.2
    shipped = classifiers_from_checkpoint(load_checkpoint(MODEL))[category]
    flipped = TopEndClassifier(-shipped.weights)
    right, wrong = accuracy_report(shipped, examples), accuracy_report(flipped, examples)
    assert right["accuracy"] + wrong["accuracy"] == pytest.approx(1.0)  # one answer or the other
    assert right["ends_differ_accuracy"] > wrong["ends_differ_accuracy"]
    assert set(right["families"]) == set(examples.family)


def test_the_command_writes_classifiers_the_estimator_loads(tmp_path: Path) -> None:
    model = tmp_path / "pose.pt"
    shutil.copy(MODEL, model)
    payload = load_checkpoint(model)
    payload.pop(CHECKPOINT_KEY)
    torch.save(payload, model)
    assert PoseEstimator.from_file(model).top_ends == {}
    command = ["pose", "fit-top-end", "--model", str(model), "--frames", "8", "--val-frames", "4"]
    assert main(command) == 0
    loaded = PoseEstimator.from_file(model).top_ends
    assert set(loaded) == {"bottle", "can"}
    for classifier in loaded.values():
        assert classifier.info["frames"] == 8 and 0.0 <= classifier.info["val"]["accuracy"] <= 1.0
