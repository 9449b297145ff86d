"""Scripted tracking cases: birth, crossing paths, occlusion, death, gating, categories."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.nocs import Detection
from diff9d_ros.trajectory.tracker import MultiObjectTracker

PERIOD_NS = 100_000_000  # 10 Hz


def det(xyz: np.ndarray, category: str = "can") -> Detection:
    return Detection(category, np.eye(3), xyz, np.full(3, 0.1))


def ids_by_truth(
    tracker: MultiObjectTracker, frames: list[list[tuple[int, np.ndarray]]]
) -> dict[int, set[str]]:
    """Feed frames of (truth id, centre); collect the track ids each truth object received once confirmed."""
    seen: dict[int, set[str]] = {}
    for k, frame in enumerate(frames):
        detections = [det(p) for _, p in frame]
        order = np.random.default_rng(k).permutation(len(detections))  # arrival order must not matter
        tracker.update([detections[i] for i in order], (k + 1) * PERIOD_NS)
        confirmed = {t.track_id for t in tracker.tracks if t.confirmed}
        for (truth, _), detection in zip(frame, detections, strict=True):
            if detection.track_id in confirmed:
                seen.setdefault(truth, set()).add(detection.track_id)
    return seen


def test_birth_after_min_hits_and_death_after_max_misses() -> None:
    tracker = MultiObjectTracker(gate_m=0.2, min_hits=3, max_misses=2)
    outputs = [tracker.update([det(np.array([0.01 * k, 0.0, 1.0]))], (k + 1) * PERIOD_NS) for k in range(3)]
    assert [len(o) for o in outputs] == [0, 0, 1]
    track = outputs[-1][0]
    assert track.track_id.startswith("track_") and track.history.shape == (3, 3)
    assert [len(tracker.update([], (4 + k) * PERIOD_NS)) for k in range(3)] == [1, 1, 0]
    assert track.observed[-2:] == [False, False]  # coasting frames are marked unobserved


def test_crossing_tracks_keep_their_ids() -> None:
    """Two cans cross in an X at 0.5 m/s, 4 cm apart at the crossing frame."""
    frames = []
    for k in range(30):
        t = k * 0.1
        a = np.array([-0.75 + 0.5 * t, -0.75 + 0.5 * t, 1.0])
        b = np.array([-0.75 + 0.5 * t, 0.79 - 0.5 * t, 1.0])
        frames.append([(0, a), (1, b)])
    seen = ids_by_truth(MultiObjectTracker(gate_m=0.1, min_hits=2), frames)
    assert all(len(ids) == 1 for ids in seen.values()), seen
    assert seen[0] != seen[1]


def test_crossing_needs_the_velocity_prediction() -> None:
    """Head-on, 3 cm out of step: nearest-centre matching swaps the ids, prediction does not."""
    frames = []
    for k in range(30):
        t = k * 0.1
        frames.append([(0, np.array([-0.75 + 0.5 * t, 0.0, 1.0])), (1, np.array([0.78 - 0.5 * t, 0.0, 1.0]))])
    with_velocity = ids_by_truth(MultiObjectTracker(gate_m=0.1, min_hits=2), frames)
    without = ids_by_truth(MultiObjectTracker(gate_m=0.1, min_hits=2, use_velocity=False), frames)
    assert all(len(ids) == 1 for ids in with_velocity.values())
    assert any(len(ids) > 1 for ids in without.values())


@pytest.mark.parametrize(("gap", "same_id"), [(3, True), (8, False)])
def test_occlusion_keeps_id_within_max_misses(gap: int, same_id: bool) -> None:
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=2, max_misses=5)
    ids = []
    for k in range(25):
        hidden = 8 <= k < 8 + gap
        detections = [det(np.array([0.4, 0.0, 1.0]))]  # a static neighbour that stays visible
        moving = det(np.array([0.05 * k, 0.3, 1.0]))
        if not hidden:
            detections.append(moving)
        tracker.update(detections, (k + 1) * PERIOD_NS)
        if not hidden and k >= 2:
            ids.append(moving.track_id)
    assert (len(set(ids)) == 1) == same_id, ids


def test_gate_and_category_prevent_matches() -> None:
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=1)
    first = det(np.array([0.0, 0.0, 1.0]), "mug")
    tracker.update([first], PERIOD_NS)
    far, other = det(np.array([0.5, 0.0, 1.0]), "mug"), det(np.array([0.01, 0.0, 1.0]), "bowl")
    tracker.update([far, other], 2 * PERIOD_NS)
    assert len({first.track_id, far.track_id, other.track_id}) == 3


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="gate_m"):
        MultiObjectTracker(gate_m=0.0)
    tracker = MultiObjectTracker()
    tracker.update([], 10)
    with pytest.raises(ValueError, match="stamps must increase"):
        tracker.update([], 10)
