"""Multi-object tracking of 3-D detections: gated Hungarian matching in a cascade, birth,
confirmation, re-identification and death.

In the manner of SORT (Bewley et al., 2016) and nav2_dynamic's kf_hungarian_tracker, on 3-D box
centres, with DeepSORT's matching cascade (Wojke et al., 2017: established tracks choose first) and
its gating on more than position. Every update

1. predicts each track's centre (constant velocity, optional);
2. matches confirmed tracks, then tentative ones, to the detections by the Hungarian method
   (``scipy.optimize.linear_sum_assignment``) on a cost of centre distance (in units of the gate),
   box-size change and category change, where a pair must pass three gates: centre within
   ``gate_m``, box extents within a factor ``size_ratio`` of the track's (sorted, so a category
   flip that permutes the axes passes), and a category change costs ``category_penalty`` (the
   estimator's flips between similar shapes, e.g. bowl and mug, must not cut a track, but of two
   candidates the one of the track's category wins; inf makes the category gate strict);
3. re-identifies: a confirmed track missed for more than ``max_misses`` updates is kept as *lost*
   for ``reid_window_s`` seconds, and a detection that no live track took and that lies within
   ``reid_gate_m`` of a lost track's last centre (same size and category gates) revives it under
   its old id (an object behind an arm for a second keeps its id);
4. suppresses duplicates: an unmatched detection whose centre lies inside the box, or within half
   the gate of the centre, of a detection matched (or, larger, born) in this update is a second
   segment of the same object, not a new object, and gets no track;
5. gives birth to a tentative track for every other detection;
6. coasts: a confirmed track missed for at most ``coast_frames`` updates in a row is reported as
   a detection of its own (:meth:`MultiObjectTracker.coasting`: its last detection moved to the
   predicted centre, under its id), so that a detection that flickers for a frame or two (a
   merged or split segment, an arm passing) does not take the object's id off the output.

A track is confirmed after ``min_hits`` matched updates; only confirmed tracks are returned and
only their detections get a ``track_id`` (``publish_tentative`` gives tentative ones theirs too). A
tentative track dies at its first miss. While a confirmed track is missed, its history continues
with the predicted centre, marked unobserved, so that forecasts see a regularly sampled history.
The track's category is the most frequent one of its detections.

Stamps must increase. A stamp older than the previous one means the clock jumped back (a bag
restarted or looped, ``ros2 bag play -l``): as tf2 does on a jump back in time, every track and
history is dropped, the jump is logged once, and tracking starts afresh. A repeated stamp is an error.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from diff9d_ros.nocs import Detection

LOG = logging.getLogger(__name__)
#: Weight of the size change (in units of the size gate) in the matching cost.
SIZE_COST_WEIGHT = 0.5
#: Weight of the new size in the track's running box size.
SIZE_SMOOTHING = 0.3


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
    size_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    categories: Counter = field(default_factory=Counter)
    last_seen_ns: int = 0
    last_detection: Detection | None = None

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

    def last_observed(self) -> np.ndarray:
        """The last centre that came from a detection (not a prediction)."""
        for position, seen in zip(reversed(self.positions_m), reversed(self.observed), strict=True):
            if seen:
                return position
        return self.positions_m[-1]


class MultiObjectTracker:
    """Tracks from a stream of :class:`Detection` lists (see the module docstring).

    ``gate_m``: largest matched centre distance; ``min_hits``: matched updates until a track is
    reported; ``max_misses``: consecutive misses a confirmed track survives; ``use_velocity``:
    constant-velocity prediction (smoothed by ``velocity_smoothing`` in [0, 1), 0 = last
    displacement only); ``history_length``: centres kept per track; ``size_ratio``: largest factor
    between a detection's and its track's box extents (0: no size gate); ``category_penalty``:
    matching cost of a category change (inf: strict category gate); ``reid_window_s``: how long a
    lost track can be re-identified (0: never); ``reid_gate_m``: its centre gate (default twice
    ``gate_m``); ``suppress_duplicates``: no track for a detection inside a matched one's box;
    ``publish_tentative``: give tentative tracks' detections their id as well; ``coast_frames``:
    consecutive misses during which a confirmed track is still reported by :meth:`coasting`.
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
        *,
        size_ratio: float = 2.0,
        category_penalty: float = 1.0,
        reid_window_s: float = 3.0,
        reid_gate_m: float | None = None,
        suppress_duplicates: bool = True,
        publish_tentative: bool = False,
        coast_frames: int = 0,
    ) -> None:
        if gate_m <= 0 or min_hits < 1 or max_misses < 0 or history_length < 2:
            raise ValueError(
                f"tracker: need gate_m > 0, min_hits >= 1, max_misses >= 0, history_length >= 2; got "
                f"{gate_m}, {min_hits}, {max_misses}, {history_length}"
            )
        if coast_frames < 0 or coast_frames > max_misses:
            raise ValueError(
                f"tracker: coast_frames must lie in [0, max_misses = {max_misses}], got {coast_frames}"
            )
        if not 0.0 <= velocity_smoothing < 1.0:
            raise ValueError(f"velocity_smoothing must lie in [0, 1), got {velocity_smoothing}")
        if not (size_ratio == 0 or size_ratio > 1) or category_penalty < 0 or reid_window_s < 0:
            raise ValueError(
                f"tracker: need size_ratio 0 or > 1, category_penalty >= 0, reid_window_s >= 0; got "
                f"{size_ratio}, {category_penalty}, {reid_window_s}"
            )
        self.gate_m = gate_m
        self.min_hits = min_hits
        self.max_misses = max_misses
        self.use_velocity = use_velocity
        self.velocity_smoothing = velocity_smoothing
        self.history_length = history_length
        self.id_prefix = id_prefix
        self.size_ratio = size_ratio
        self.category_penalty = category_penalty
        self.reid_window_s = reid_window_s
        self.reid_gate_m = 2.0 * gate_m if reid_gate_m is None else reid_gate_m
        self.suppress_duplicates = suppress_duplicates
        self.publish_tentative = publish_tentative
        self.coast_frames = coast_frames
        self.tracks: list[Track] = []
        self.lost: list[Track] = []
        self.resets = 0
        self._next_id = 0
        self._last_stamp_ns: int | None = None

    # ----- costs and gates -----
    def _pair_cost(self, track: Track, centre: np.ndarray, detection: Detection, gate_m: float) -> float:
        """Matching cost of ``track`` (expected at ``centre``) and ``detection``; inf outside a gate."""
        distance = float(np.linalg.norm(centre - detection.translation_m))
        if distance > gate_m:
            return math.inf
        cost = distance / gate_m
        if self.size_ratio and np.all(track.size_m > 0) and np.all(detection.size_m > 0):
            change = float(np.max(np.abs(np.log(np.sort(detection.size_m) / np.sort(track.size_m)))))
            if change > math.log(self.size_ratio):
                return math.inf
            cost += SIZE_COST_WEIGHT * change / math.log(self.size_ratio)
        if detection.category != track.category:
            if math.isinf(self.category_penalty):
                return math.inf
            cost += self.category_penalty
        return cost

    def _match(
        self,
        tracks: Sequence[Track],
        centres: Sequence[np.ndarray],
        detections: Sequence[Detection],
        free: list[int],
        gate_m: float,
    ) -> list[tuple[int, int]]:
        """(track index, detection index) pairs of the cheapest gated assignment among ``free`` detections."""
        if not tracks or not free:
            return []
        cost = np.array(
            [
                [self._pair_cost(t, c, detections[j], gate_m) for j in free]
                for t, c in zip(tracks, centres, strict=True)
            ]
        )
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
        return [(int(r), free[int(c)]) for r, c in zip(rows, cols, strict=True) if np.isfinite(cost[r, c])]

    # ----- the update -----
    def reset(self) -> None:
        """Drop every track, lost track and the last stamp (ids keep counting up)."""
        self.tracks, self.lost = [], []
        self._last_stamp_ns = None

    def update(self, detections: Sequence[Detection], stamp_ns: int) -> list[Track]:
        """Ingest the detections of one frame; returns the confirmed live tracks.

        Detections of confirmed tracks get their ``track_id`` set (tentative ones too with
        ``publish_tentative``); the others get an empty one.
        """
        if self._last_stamp_ns is not None and stamp_ns == self._last_stamp_ns:
            raise ValueError(f"stamps must increase: {stamp_ns} repeats the previous stamp")
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            LOG.warning(
                "time jumped back by %.3f s (a bag restarted or looped?): dropping %d track(s) and "
                "their histories",
                (self._last_stamp_ns - stamp_ns) * 1e-9,
                len(self.tracks) + len(self.lost),
            )
            self.reset()
            self.resets += 1
        self._last_stamp_ns = stamp_ns
        self.lost = [t for t in self.lost if (stamp_ns - t.last_seen_ns) * 1e-9 <= self.reid_window_s]
        for detection in detections:
            detection.track_id = ""
        free = list(range(len(detections)))
        matched: dict[int, int] = {}  # track position in self.tracks -> detection index
        for confirmed in (True, False):
            indices = [i for i, t in enumerate(self.tracks) if t.confirmed == confirmed]
            tracks = [self.tracks[i] for i in indices]
            centres = [t.predict(stamp_ns, self.use_velocity) for t in tracks]
            for row, j in self._match(tracks, centres, detections, free, self.gate_m):
                matched[indices[row]] = j
                free.remove(j)
        revived = []
        if self.lost and free:
            centres = [t.last_observed() for t in self.lost]
            for row, j in self._match(self.lost, centres, detections, free, self.reid_gate_m):
                revived.append((self.lost[row], j))
                free.remove(j)
        survivors = []
        for index, track in enumerate(self.tracks):
            if index in matched:
                self._hit(track, detections[matched[index]], stamp_ns)
                survivors.append(track)
                continue
            track.misses += 1
            if not track.confirmed:
                continue
            if track.misses > self.max_misses:
                if self.reid_window_s > 0:
                    self.lost.append(track)
                continue
            self._append(track, track.predict(stamp_ns, self.use_velocity), stamp_ns, False)
            survivors.append(track)
        for track, j in revived:
            self.lost.remove(track)
            track.misses = 0
            self._hit(track, detections[j], stamp_ns)
            survivors.append(track)
        taken = [detections[j] for j in (*matched.values(), *(j for _, j in revived))]
        for j in sorted(free, key=lambda j: -float(np.prod(detections[j].size_m))):  # largest first
            if self.suppress_duplicates and any(self._duplicate(detections[j], other) for other in taken):
                continue
            taken.append(detections[j])
            survivors.append(self._birth(detections[j], stamp_ns))
        self.tracks = survivors
        return [t for t in self.tracks if t.confirmed]

    def coasting(self) -> list[Detection]:
        """A detection of each confirmed track missed in the last ``1..coast_frames`` updates: a
        copy of its last detection at the predicted centre, with its ``track_id`` (step 6)."""
        out = []
        for track in self.tracks:
            if track.confirmed and 1 <= track.misses <= self.coast_frames and track.last_detection:
                out.append(
                    replace(
                        track.last_detection,
                        translation_m=track.positions_m[-1].copy(),
                        mask_id=0,
                        track_id=track.track_id,
                    )
                )
        return out

    def _duplicate(self, detection: Detection, other: Detection) -> bool:
        """Whether ``detection`` is a second segment of ``other``'s object: its centre inside
        ``other``'s box or within half the gate of ``other``'s centre."""
        close = np.linalg.norm(detection.translation_m - other.translation_m) <= 0.5 * self.gate_m
        return bool(close or other.contains(detection.translation_m))

    def _append(self, track: Track, position: np.ndarray, stamp_ns: int, observed: bool) -> None:
        track.positions_m.append(position)
        track.stamps_ns.append(stamp_ns)
        track.observed.append(observed)
        if len(track.positions_m) > self.history_length:
            del track.positions_m[0], track.stamps_ns[0], track.observed[0]

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
        track.last_seen_ns = stamp_ns
        track.size_m = (1 - SIZE_SMOOTHING) * track.size_m + SIZE_SMOOTHING * np.asarray(detection.size_m)
        track.categories[detection.category] += 1
        track.category = track.categories.most_common(1)[0][0]
        track.confirmed |= track.hits >= self.min_hits
        track.last_detection = detection
        if track.confirmed or self.publish_tentative:
            detection.track_id = track.track_id

    def _birth(self, detection: Detection, stamp_ns: int) -> Track:
        track = Track(f"{self.id_prefix}{self._next_id}", detection.category, hits=1)
        self._next_id += 1
        self._append(track, detection.translation_m.copy(), stamp_ns, True)
        track.size_m = np.asarray(detection.size_m, dtype=np.float64).copy()
        track.categories[detection.category] += 1
        track.last_seen_ns = stamp_ns
        track.last_detection = detection
        track.confirmed = self.min_hits <= 1
        if track.confirmed or self.publish_tentative:
            detection.track_id = track.track_id
        return track
