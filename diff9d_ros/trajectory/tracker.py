"""Multi-object tracking of 3-D detections: Hungarian matching with gating, birth and death.

In the manner of SORT (Bewley et al., 2016) and nav2_dynamic's kf_hungarian_tracker, on 3-D box
centres: every update predicts each track's centre (constant velocity, optional), builds the
Euclidean cost between predicted centres and detections of the same category, solves the
assignment with the Hungarian method (``scipy.optimize.linear_sum_assignment``), and rejects pairs
farther than the gate. A track is born tentative, confirmed after ``min_hits`` matched updates, and
removed after more than ``max_misses`` consecutive misses (a tentative track at its first miss).
While a confirmed track is missed, its history continues with the predicted centre, marked
unobserved, so that forecasts see a regularly sampled history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from diff9d_ros.nocs import Detection


@dataclass
class Track:
    """One tracked object: id, category, centre history (K, 3) in metres with stamps and flags."""

    track_id: str
    category: str
    positions_m: list[np.ndarray] = field(default_factory=list)
    stamps_ns: list[int] = field(default_factory=list)
    observed: list[bool] = field(default_factory=list)
    velocity_mps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    hits: int = 0
    misses: int = 0
    confirmed: bool = False

    @property
    def history(self) -> np.ndarray:
        """Centre history (K, 3), oldest first (predicted centres where the track was missed)."""
        return np.array(self.positions_m, dtype=np.float64).reshape(-1, 3)

    def predict(self, stamp_ns: int, use_velocity: bool) -> np.ndarray:
        """Centre expected at ``stamp_ns``."""
        last = self.positions_m[-1]
        if not use_velocity:
            return last
        return last + self.velocity_mps * (stamp_ns - self.stamps_ns[-1]) * 1e-9


class MultiObjectTracker:
    """Tracks from a stream of :class:`Detection` lists (Hungarian matching on 3-D centres).

    ``gate_m``: largest matched centre distance; ``min_hits``: matched updates until a track is
    reported; ``max_misses``: consecutive misses a confirmed track survives; ``use_velocity``:
    constant-velocity prediction (smoothed by ``velocity_smoothing`` in [0, 1), 0 = last
    displacement only); ``history_length``: centres kept per track.
    """

    def __init__(
        self,
        gate_m: float = 0.3,
        min_hits: int = 3,
        max_misses: int = 5,
        use_velocity: bool = True,
        velocity_smoothing: float = 0.5,
        history_length: int = 64,
        id_prefix: str = "track_",
    ) -> None:
        if gate_m <= 0 or min_hits < 1 or max_misses < 0 or history_length < 2:
            raise ValueError(
                f"tracker: need gate_m > 0, min_hits >= 1, max_misses >= 0, history_length >= 2; got "
                f"{gate_m}, {min_hits}, {max_misses}, {history_length}"
            )
        if not 0.0 <= velocity_smoothing < 1.0:
            raise ValueError(f"velocity_smoothing must lie in [0, 1), got {velocity_smoothing}")
        self.gate_m = gate_m
        self.min_hits = min_hits
        self.max_misses = max_misses
        self.use_velocity = use_velocity
        self.velocity_smoothing = velocity_smoothing
        self.history_length = history_length
        self.id_prefix = id_prefix
        self.tracks: list[Track] = []
        self._next_id = 0
        self._last_stamp_ns: int | None = None

    def _cost(self, predicted: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        centres = np.array([d.translation_m for d in detections]).reshape(-1, 3)
        cost = np.linalg.norm(predicted[:, None] - centres[None], axis=-1)
        same = np.array([[t.category == d.category for d in detections] for t in self.tracks], dtype=bool)
        return np.where(same.reshape(cost.shape), cost, np.inf)

    def _append(self, track: Track, position: np.ndarray, stamp_ns: int, observed: bool) -> None:
        track.positions_m.append(position)
        track.stamps_ns.append(stamp_ns)
        track.observed.append(observed)
        if len(track.positions_m) > self.history_length:
            del track.positions_m[0], track.stamps_ns[0], track.observed[0]

    def update(self, detections: Sequence[Detection], stamp_ns: int) -> list[Track]:
        """Ingest the detections of one frame; returns the confirmed live tracks.

        Matched detections get their ``track_id`` set (tentative tracks' ids included).
        """
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            raise ValueError(f"stamps must increase: {stamp_ns} after {self._last_stamp_ns}")
        self._last_stamp_ns = stamp_ns
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        if self.tracks and detections:
            predicted = np.array([t.predict(stamp_ns, self.use_velocity) for t in self.tracks])
            cost = self._cost(predicted, detections)
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= self.gate_m:
                    matched_tracks.add(int(r))
                    matched_dets.add(int(c))
                    self._hit(self.tracks[r], detections[c], stamp_ns)
        survivors = []
        for index, track in enumerate(self.tracks):
            if index not in matched_tracks:
                track.misses += 1
                if not track.confirmed or track.misses > self.max_misses:
                    continue
                self._append(track, track.predict(stamp_ns, self.use_velocity), stamp_ns, False)
            survivors.append(track)
        for index, detection in enumerate(detections):
            if index not in matched_dets:
                survivors.append(self._birth(detection, stamp_ns))
        self.tracks = survivors
        return [t for t in self.tracks if t.confirmed]

    def _hit(self, track: Track, detection: Detection, stamp_ns: int) -> None:
        dt_s = (stamp_ns - track.stamps_ns[-1]) * 1e-9
        position = detection.translation_m.copy()
        velocity = (position - track.positions_m[-1]) / dt_s
        if track.hits > 1 or track.misses:
            velocity = self.velocity_smoothing * track.velocity_mps + (1 - self.velocity_smoothing) * velocity
        track.velocity_mps = velocity
        self._append(track, position, stamp_ns, True)
        track.hits += 1
        track.misses = 0
        track.confirmed |= track.hits >= self.min_hits
        detection.track_id = track.track_id

    def _birth(self, detection: Detection, stamp_ns: int) -> Track:
        track = Track(f"{self.id_prefix}{self._next_id}", detection.category, hits=1)
        self._next_id += 1
        self._append(track, detection.translation_m.copy(), stamp_ns, True)
        track.confirmed = self.min_hits <= 1
        detection.track_id = track.track_id
        return track
