"""Which end of a lying bottle or can is its top: a linear classifier of the surface profile at
each end, one per category.

A bottle's neck and cap are a fraction of its body's width, a beverage can's top is necked in
(its radius drops 3-7 mm over 8-14 mm) and its foot bevelled (3-7 mm over 3-7 mm); on a real
sensor a can's taper lies within the depth noise (several millimetres at 1 m), and which parts
show depends on the view (the end facing the camera shows its face, the other end hides its
taper behind the body). A hand rule on the top outline of the points was right for 67 % of the
lying beverage cans of validation frames, the network's sign for about half of them; for lying
bottles the network's sign was right for 94-96 % of them on validation frames.

Here each end is described by the object's points near it, in the frame of the measured axis
line (:func:`~diff9d_ros.pose.baseline.lying_line`):

* ``s`` along the axis, and the radius ``rho`` of each point about the axis: the centre of the
  circle fitted to the points across the axis (the algebraic fit of Kåsa, IEEE Trans. Instrum.
  Meas. 1976);
* the ends are the 0.5 % and 99.5 % quantiles of ``s``; the body, the points more than
  :data:`BODY_MARGIN_M` from both ends, gives the radius ``R`` (median ``rho``), its ridge (the
  0.95 quantile of the height above the table) and the number of points per distance bin;
* per end, the histogram of the points over (distance from the end, ``rho / R``) in
  :data:`DISTANCE_EDGES_M` x :data:`RADIUS_EDGES`, divided by the body's points per bin, and per
  distance bin the drop of the ridge below the body's (as a share of ``R``).

The top is at ``+axis`` when ``w . (f+ - f-) > 0`` (logistic regression, antisymmetric in the
two ends so that no end is preferred: P(top at +axis) = sigmoid(w . (f+ - f-))). ``diff9d pose
fit-top-end`` fits ``w`` per category on rendered training-split frames of lying bottles and
cans and stores the classifiers in the pose model file; their validation accuracy is in the
model card (models/diff9d_pose.md). Food tins are the same at both ends
(:data:`SAME_ENDS_FAMILIES`): for them the answer is a coin flip, whatever rule decides.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.pose.baseline import lying_line
from diff9d_ros.pose.observation import ObservationError, masked_points
from diff9d_ros.pose.segmentation import SegmentationConfig, table_plane

#: Distance (m) from an end: the bin edges of the profile (2 mm bins over the last 30 mm).
DISTANCE_EDGES_M = tuple(float(v) for v in np.round(np.arange(0.0, 0.0301, 0.002), 4))
#: Radius about the axis as a share of the body's: the bin edges of the profile. Chosen on
#: validation frames with the distance bins (1.5 and 2 mm bins, 7 and 10 radius bins tried).
RADIUS_EDGES = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.94, 0.97, 1.0, 1.03, 100.0)
#: Points farther than this (m) from both ends are the body (half of it when too few are).
BODY_MARGIN_M = 0.03
#: Height quantile that is the ridge (the top outline) of a stretch of the object.
RIDGE_QUANTILE = 0.95
#: L2 weight of the fit, chosen on validation frames (1e-4 to 3e-2 tried).
DEFAULT_L2 = 1e-3
#: Fewest points for which a profile is measured.
MIN_PROFILE_POINTS = 40
#: Key of the classifiers (category -> entry) in a pose model file.
CHECKPOINT_KEY = "top_end"
#: Families whose two ends have the same shape (seamed lids at both ends): their top cannot be
#: told, and accuracy is reported apart for them.
SAME_ENDS_FAMILIES = frozenset({"food_tin", "squat_tin", "squat_small"})


def _axis_frame(points_m: np.ndarray, axis: np.ndarray, plane: TablePlane) -> tuple[np.ndarray, ...]:
    """``s`` along ``axis`` (made parallel to the table), ``rho`` about the fitted axis and the
    height above the table of each point."""
    up, along = plane.normal, np.asarray(axis, dtype=np.float64)
    along = along - (along @ up) * up
    along /= np.linalg.norm(along)
    s, across, height = points_m @ along, points_m @ np.cross(up, along), plane.height_m(points_m)
    design = np.c_[2.0 * across, 2.0 * height, np.ones(len(s))]
    centre, *_ = np.linalg.lstsq(design, across**2 + height**2, rcond=None)
    return s, np.hypot(across - centre[0], height - centre[1]), height


def end_profiles(
    points_m: np.ndarray,
    axis: np.ndarray,
    plane: TablePlane,
    distance_edges_m: Sequence[float] = DISTANCE_EDGES_M,
    radius_edges: Sequence[float] = RADIUS_EDGES,
) -> np.ndarray:
    """The profiles (2, F) of the ends at ``+axis`` and ``-axis`` of a lying bottle's or can's
    camera-frame points (N, 3) (module docstring); ValueError if there are too few points."""
    points_m = np.asarray(points_m, dtype=np.float64)
    if points_m.ndim != 2 or points_m.shape[1] != 3 or len(points_m) < MIN_PROFILE_POINTS:
        raise ValueError(
            f"a lying object's profile needs (N >= {MIN_PROFILE_POINTS}, 3) points, got {points_m.shape}"
        )
    s, rho, height = _axis_frame(points_m, axis, plane)
    low, high = np.quantile(s, [0.005, 0.995])
    body = (s > low + BODY_MARGIN_M) & (s < high - BODY_MARGIN_M)
    if body.sum() < 20:
        body = (s > low + BODY_MARGIN_M / 2) & (s < high - BODY_MARGIN_M / 2)
    if body.sum() < 10:
        body = np.ones(len(s), dtype=bool)
    radius = max(float(np.median(rho[body])), 1e-4)
    ridge = float(np.quantile(height[body], RIDGE_QUANTILE))
    distance_edges = np.asarray(distance_edges_m, dtype=np.float64)
    bin_m = float(np.mean(np.diff(distance_edges)))
    body_length_m = max(float(np.ptp(s[body])), bin_m)
    per_bin = max(body.sum() * bin_m / body_length_m, 1.0)
    profiles = []
    for distance in (high - s, s - low):
        counts, _, _ = np.histogram2d(distance, rho / radius, bins=(distance_edges, np.asarray(radius_edges)))
        drops = []
        for start, stop in itertools.pairwise(distance_edges):
            in_bin = (distance >= start) & (distance < stop)
            top = np.quantile(height[in_bin], RIDGE_QUANTILE) if in_bin.sum() >= 2 else ridge - radius
            drops.append((ridge - float(top)) / radius)  # an empty bin: the whole radius
        profiles.append(np.concatenate([counts.ravel() / per_bin, drops]))
    return np.stack(profiles)


def feature_count(distance_edges_m: Sequence[float], radius_edges: Sequence[float]) -> int:
    """Length of one end's profile."""
    bins = len(distance_edges_m) - 1
    return bins * (len(radius_edges) - 1) + bins


@dataclass(frozen=True)
class TopEndClassifier:
    """The weights ``w`` of one category's top-end rule (module docstring) and the profile's bin
    edges."""

    weights: np.ndarray
    distance_edges_m: tuple[float, ...] = DISTANCE_EDGES_M
    radius_edges: tuple[float, ...] = RADIUS_EDGES
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=np.float64).reshape(-1)
        expected = feature_count(self.distance_edges_m, self.radius_edges)
        if len(weights) != expected or not np.all(np.isfinite(weights)):
            raise ValueError(
                f"top-end weights must be {expected} finite numbers for these bins, got {len(weights)}"
                + ("" if np.all(np.isfinite(weights)) else " with NaN or inf")
            )
        object.__setattr__(self, "weights", weights)

    def score(self, points_m: np.ndarray, axis: np.ndarray, plane: TablePlane) -> float:
        """``w . (f+ - f-)``: positive when the top is at ``+axis``."""
        plus, minus = end_profiles(points_m, axis, plane, self.distance_edges_m, self.radius_edges)
        return float(self.weights @ (plus - minus))

    def top(self, points_m: np.ndarray, axis: np.ndarray, plane: TablePlane) -> np.ndarray:
        """``axis`` (unit) of a lying object's camera-frame points (N, 3), signed towards its top."""
        axis = np.asarray(axis, dtype=np.float64)
        return axis if self.score(points_m, axis, plane) > 0.0 else -axis

    def to_entry(self) -> dict:
        """This classifier as an entry of :func:`classifiers_from_checkpoint`'s table."""
        return {
            "weights": self.weights.tolist(),
            "distance_edges_m": list(self.distance_edges_m),
            "radius_edges": list(self.radius_edges),
            "info": dict(self.info),
        }

    @classmethod
    def from_entry(cls, entry: dict) -> TopEndClassifier:
        """The classifier of one stored entry; ValueError if it is malformed."""
        try:
            return cls(
                np.asarray(entry["weights"], dtype=np.float64),
                tuple(float(v) for v in entry["distance_edges_m"]),
                tuple(float(v) for v in entry["radius_edges"]),
                dict(entry.get("info", {})),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"the model file's top-end entry is malformed: {error!r}") from error

    @classmethod
    def fit(
        cls, differences: np.ndarray, top_at_plus: np.ndarray, l2: float = DEFAULT_L2
    ) -> TopEndClassifier:
        """Logistic regression without intercept of ``top_at_plus`` (N,) on ``differences`` (N, F)
        (``f+ - f-`` of each example), L2 weight ``l2``; L-BFGS in float64 (deterministic)."""
        x = torch.as_tensor(np.asarray(differences, dtype=np.float64))
        y = torch.as_tensor(np.asarray(top_at_plus, dtype=np.float64))
        if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
            raise ValueError(f"fit needs (N >= 2, F) differences and N labels: {tuple(x.shape)}, {len(y)}")
        weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
        optimiser = torch.optim.LBFGS([weights], max_iter=3000, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights, y)
            loss = loss + l2 * (weights**2).sum()
            loss.backward()
            return loss

        optimiser.step(closure)
        return cls(weights.detach().numpy().copy())


@dataclass(frozen=True)
class LyingExamples:
    """Lying objects of one category in rendered frames: ``f+ - f-`` per object (N, F), whether its
    top is at ``+axis`` of its measured line, its distance from the camera (m) and its family
    (``beverage_standard``)."""

    differences: np.ndarray
    top_at_plus: np.ndarray
    range_m: np.ndarray
    family: np.ndarray


def lying_examples(
    frames: Iterable[tuple[RGBDFrame, Sequence]],
    category: str,
    lying_cos: float,
    segmentation: SegmentationConfig | None = None,
    distance_edges_m: Sequence[float] = DISTANCE_EDGES_M,
    radius_edges: Sequence[float] = RADIUS_EDGES,
) -> LyingExamples:
    """The lying objects of ``category`` (axis within ``lying_cos`` of the table, as |cos|) of
    ``frames`` ((frame, ground-truth objects) pairs) as the estimator sees them: the cleaned
    points of the exact mask, the fitted table plane and the measured axis line."""
    rows, tops, ranges, families = [], [], [], []
    for frame, truths in frames:
        plane = table_plane(frame, segmentation)
        if plane is None:
            continue
        for truth in truths:
            detection = truth.detection
            if (
                detection.category != category
                or abs(float(detection.rotation[:, 1] @ plane.normal)) > lying_cos
            ):
                continue
            try:
                points = masked_points(frame, frame.instance_mask == detection.mask_id, plane)
            except ObservationError:
                continue
            line, _ = lying_line(points, plane)
            if line is None or len(points) < MIN_PROFILE_POINTS:
                continue
            plus, minus = end_profiles(points, line, plane, distance_edges_m, radius_edges)
            rows.append(plus - minus)
            tops.append(bool(detection.rotation[:, 1] @ line > 0.0))
            ranges.append(float(np.linalg.norm(detection.translation_m)))
            families.append(getattr(truth, "family", ""))
    width = feature_count(distance_edges_m, radius_edges)
    return LyingExamples(
        np.array(rows).reshape(-1, width),
        np.array(tops, dtype=bool),
        np.array(ranges),
        np.array(families, dtype=str),
    )


#: Camera ranges (m) by which the accuracy is reported.
RANGE_BANDS_M = ((0.0, 0.7), (0.7, 1.1), (1.1, np.inf))


def accuracy_report(classifier: TopEndClassifier, examples: LyingExamples) -> dict:
    """Share of ``examples`` whose top ``classifier`` finds: all of them, each family, and those
    whose ends differ (not of :data:`SAME_ENDS_FAMILIES`) overall and per camera range band."""
    right = (examples.differences @ classifier.weights > 0.0) == examples.top_at_plus
    differ = ~np.isin(examples.family, list(SAME_ENDS_FAMILIES))

    def share(chosen: np.ndarray) -> float:
        return float(right[chosen].mean()) if chosen.any() else float("nan")

    report = {"objects": len(right), "accuracy": share(np.ones(len(right), dtype=bool))}
    report["families"] = {str(f): share(examples.family == f) for f in sorted(set(examples.family))}
    report.update({"ends_differ": int(differ.sum()), "ends_differ_accuracy": share(differ)})
    for low, high in RANGE_BANDS_M:
        band = (examples.range_m >= low) & (examples.range_m < high)
        report[f"ends_differ_accuracy_{low:g}-{high:g}m"] = share(differ & band)
    return report


def classifiers_from_checkpoint(payload: dict) -> dict[str, TopEndClassifier]:
    """The top-end classifiers (category -> classifier) stored in a pose checkpoint (none: an
    empty table); ValueError if an entry is malformed."""
    table = payload.get(CHECKPOINT_KEY, {})
    if not isinstance(table, dict):
        raise ValueError(f"the model file's {CHECKPOINT_KEY!r} entry is not a table of categories")
    return {str(category): TopEndClassifier.from_entry(entry) for category, entry in table.items()}


def write_top_ends(model: str | Path, classifiers: dict[str, TopEndClassifier]) -> None:
    """Store ``classifiers`` (category -> classifier) in the pose model file, atomically,
    beside those of other categories it holds."""
    from diff9d_ros.pose.train import load_checkpoint, update_checkpoint

    table = {c: k.to_entry() for c, k in classifiers_from_checkpoint(load_checkpoint(model)).items()}
    table.update({category: classifier.to_entry() for category, classifier in classifiers.items()})
    update_checkpoint(model, {CHECKPOINT_KEY: table})


def rendered_examples(
    count: int,
    split: str,
    seed: int,
    category: str,
    lying_cos: float,
    segmentation: SegmentationConfig | None = None,
) -> LyingExamples:
    """:func:`lying_examples` of ``count`` frames of ``split`` objects of ``category``, all lying,
    rendered with ``seed`` (the realsense domain: its camera, ranges and depth noise)."""
    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.dataset import render_frame, renderer_for
    from diff9d_ros.synth.noise import RandomizationConfig

    config = RandomizationConfig.for_domain("realsense", categories=(category,), lying_probability=1.0)
    renderer = renderer_for(Intrinsics.realsense_d435())
    frames = (
        (synth.frame, synth.objects)
        for synth in (
            render_frame(seed, split, index, config, renderer)
            for index in tqdm(range(count), desc=f"lying {category}s, {split} frames")
        )
    )
    return lying_examples(frames, category, lying_cos, segmentation)
