"""Scripted tracking cases: birth, crossing paths, occlusion, death, gates, re-identification,
duplicate segments, confirmation before publishing, and time jumping back."""

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


def test_gates_on_centre_size_and_category() -> None:
    """Far, three times larger, or another category beyond half the gate: a new track. A category
    flip close by (the estimator's bowl/mug confusion) keeps the track, unless the gate is strict."""
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=1)
    first = det(np.array([0.0, 0.0, 1.0]), "mug")
    tracker.update([first], PERIOD_NS)
    far = det(np.array([0.5, 0.0, 1.0]), "mug")
    big = Detection("mug", np.eye(3), [0.0, 0.2, 1.0], np.full(3, 0.3))
    flipped = det(np.array([0.01, 0.0, 1.0]), "bowl")
    tracker.update([far, big, flipped], 2 * PERIOD_NS)
    assert flipped.track_id == first.track_id
    assert len({first.track_id, far.track_id, big.track_id}) == 3
    assert tracker.tracks[0].category == "mug"  # the majority of its detections

    strict = MultiObjectTracker(gate_m=0.1, min_hits=1, category_penalty=np.inf)
    strict.update([det(np.array([0.0, 0.0, 1.0]), "mug")], PERIOD_NS)
    other = det(np.array([0.01, 0.0, 1.0]), "bowl")
    strict.update([other], 2 * PERIOD_NS)
    assert other.track_id == "track_1"
    oversized = MultiObjectTracker(gate_m=0.1, min_hits=1)
    oversized.update([det(np.array([0.0, 0.0, 1.0]))], PERIOD_NS)
    grown = Detection("can", np.eye(3), [0.0, 0.0, 1.0], np.full(3, 0.25))  # 2.5 x the size
    oversized.update([grown], 2 * PERIOD_NS)
    assert grown.track_id == "track_1"


def test_tentative_tracks_publish_no_id() -> None:
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=3)
    ids = []
    for k in range(4):
        detection = det(np.array([0.0, 0.0, 1.0]))
        tracker.update([detection], (k + 1) * PERIOD_NS)
        ids.append(detection.track_id)
    assert ids == ["", "", "track_0", "track_0"]
    loud = MultiObjectTracker(gate_m=0.1, min_hits=3, publish_tentative=True)
    first = det(np.array([0.0, 0.0, 1.0]))
    loud.update([first], PERIOD_NS)
    assert first.track_id == "track_0"


@pytest.mark.parametrize(("gap", "same_id"), [(10, True), (40, False)])
def test_lost_track_is_reidentified_within_the_window(gap: int, same_id: bool) -> None:
    """Hidden for 1 s (10 frames, past max_misses 5): the old id; for 4 s (beyond the 3 s window): new."""
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=2, max_misses=5, reid_window_s=3.0)
    ids = []
    for k in range(60):
        hidden = 10 <= k < 10 + gap
        detection = det(np.array([0.3, 0.0, 1.0]))
        tracker.update([] if hidden else [detection], (k + 1) * PERIOD_NS)
        if not hidden and k >= 2:
            ids.append(detection.track_id)
    ids = [i for i in ids if i]
    assert (len(set(ids)) == 1) == same_id, ids


def test_a_second_segment_of_one_object_is_no_new_track() -> None:
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=1)
    for k in range(5):
        whole = Detection("laptop", np.eye(3), [0.0, 0.0, 1.0], [0.3, 0.02, 0.2])
        part = Detection("can", np.eye(3), [0.1, 0.0, 1.05], [0.05, 0.05, 0.05])  # inside the laptop's box
        tracker.update([whole, part], (k + 1) * PERIOD_NS)
        assert whole.track_id == "track_0" and part.track_id == ""
    assert len(tracker.tracks) == 1


def test_time_jumping_back_resets_the_tracks_once(caplog: pytest.LogCaptureFixture) -> None:
    """A bag played again (ros2 bag play -l): the tracks start afresh instead of failing every frame."""
    tracker = MultiObjectTracker(gate_m=0.1, min_hits=1)
    for k in range(5):
        tracker.update([det(np.array([0.01 * k, 0.0, 1.0]))], (k + 1) * PERIOD_NS)
    assert len(tracker.tracks) == 1 and len(tracker.tracks[0].history) == 5
    for k in range(5):
        tracker.update([det(np.array([0.01 * k, 0.0, 1.0]))], (k + 1) * PERIOD_NS)
    assert tracker.resets == 1 and len(tracker.tracks) == 1 and len(tracker.tracks[0].history) == 5
    assert sum("time jumped back" in r.getMessage() for r in caplog.records) == 1


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="gate_m"):
        MultiObjectTracker(gate_m=0.0)
    with pytest.raises(ValueError, match="size_ratio"):
        MultiObjectTracker(size_ratio=0.5)
    tracker = MultiObjectTracker()
    tracker.update([], 10)
    with pytest.raises(ValueError, match="stamps must increase: 10 repeats"):
        tracker.update([], 10)


def test_a_confirmed_track_coasts_for_coast_frames_at_its_predicted_centre() -> None:
    """Missed for 1..coast_frames updates, a confirmed track is reported as a detection of its own
    (its last one, moved to the predicted centre, under its id); after that, and while tentative
    or matched, it is not."""
    tracker = MultiObjectTracker(gate_m=0.2, min_hits=2, max_misses=5, coast_frames=2)
    stamp = 0
    for k in range(3):  # moving 1 cm per frame along x: confirmed
        stamp += PERIOD_NS
        tracker.update([det(np.array([0.01 * k, 0.0, 1.0]), "mug")], stamp)
        assert tracker.coasting() == []  # matched: its own detection carries the id
    (track,) = [t for t in tracker.tracks if t.confirmed]
    for missed in (1, 2):
        stamp += PERIOD_NS
        tracker.update([], stamp)
        (coast,) = tracker.coasting()
        assert coast.track_id == track.track_id and coast.category == "mug" and coast.mask_id == 0
        np.testing.assert_allclose(coast.translation_m, [0.02 + 0.01 * missed, 0.0, 1.0], atol=1e-9)
    stamp += PERIOD_NS
    tracker.update([], stamp)  # a third miss: still a live track, no longer reported
    assert tracker.coasting() == [] and [t.track_id for t in tracker.tracks] == [track.track_id]
    with pytest.raises(ValueError, match="coast_frames must lie in"):
        MultiObjectTracker(max_misses=2, coast_frames=3)
