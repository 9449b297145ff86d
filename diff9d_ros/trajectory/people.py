"""People in a fixed frame: person detections from any frame, moved through a transform tree, tracked.

What the people forecasting path does before GeoTDM, without ROS:

* :class:`TransformTree` answers "the 4x4 transform from frame A to frame B at time t" from
  (parent, child, transform, stamp) edges the way a tf2 buffer does (tf2 ``BufferCore``): it chains
  the edges through the common ancestor, interpolates each edge between the two stamps around
  ``t`` (translation linearly, rotation by slerp), refuses to extrapolate outside an edge's stamps,
  and reads ``t = 0`` as "the latest time every edge of the chain knows". The ROS node asks tf2
  itself; the bag runner fills this tree from ``/tf``; the tests check both agree.
* :func:`people_in_frame` keeps the detections of one class (``person``) and moves their centres
  into the fixed frame (``map`` or ``odom``, z up, REP 105) where the planar model forecasts.
* :class:`PeopleTracker` keeps one history per person: by the ids the detections carry (a
  detector with tracking), else through :class:`~diff9d_ros.trajectory.tracker.MultiObjectTracker`
  (Hungarian matching with a constant-velocity prediction). When the stamps jump backwards (a
  bag played in a loop, a simulation reset) it starts over instead of mixing two timelines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from diff9d_ros.geometry.transforms import split_transform
from diff9d_ros.nocs import Detection
from diff9d_ros.trajectory.tracker import MultiObjectTracker, Track

LOG = logging.getLogger(__name__)

PERSON_CLASS = "person"
#: ``lookup(target_frame, source_frame, stamp_ns)`` -> 4x4 transform of source coordinates into target.
TransformLookup = Callable[[str, str, int], np.ndarray]


@dataclass
class _Edge:
    parent: str
    static: bool = False
    stamps_ns: list[int] = field(default_factory=list)
    transforms: list[np.ndarray] = field(default_factory=list)

    def at(self, stamp_ns: int, child: str) -> np.ndarray:
        """The transform at ``stamp_ns``, interpolated between the stamps around it."""
        stamps = self.stamps_ns
        if self.static or stamp_ns == stamps[-1]:
            return self.transforms[-1]
        if not stamps[0] <= stamp_ns <= stamps[-1]:
            raise ValueError(
                f"transform {self.parent!r} -> {child!r} would need extrapolation to {stamp_ns} ns: "
                f"it is known from {stamps[0]} to {stamps[-1]} ns"
            )
        index = int(np.searchsorted(stamps, stamp_ns, side="right"))
        before, after = self.transforms[index - 1], self.transforms[index]
        weight = (stamp_ns - stamps[index - 1]) / (stamps[index] - stamps[index - 1])
        rotations = Rotation.from_matrix(np.stack([before[:3, :3], after[:3, :3]]))
        out = np.eye(4)
        out[:3, :3] = Slerp([0.0, 1.0], rotations)(weight).as_matrix()
        out[:3, 3] = (1.0 - weight) * before[:3, 3] + weight * after[:3, 3]
        return out


class TransformTree:
    """A tf2-like tree of timed rigid transforms (see the module docstring); ``lookup`` is a
    :data:`TransformLookup`."""

    def __init__(self) -> None:
        self._edges: dict[str, _Edge] = {}

    def __len__(self) -> int:
        return len(self._edges)

    def add(
        self, parent: str, child: str, transform: np.ndarray, stamp_ns: int, static: bool = False
    ) -> None:
        """``transform`` maps ``child`` coordinates into ``parent`` at ``stamp_ns`` (``static``: at
        every time, as ``/tf_static``).

        ValueError for a non-rigid transform, a frame given a second parent, or a cycle.
        """
        rotation, translation = split_transform(transform)
        if parent == child:
            raise ValueError(f"transform from {child!r} to itself")
        edge = self._edges.get(child)
        if edge is None:
            ancestor = parent
            while ancestor in self._edges:
                ancestor = self._edges[ancestor].parent
                if ancestor == child:
                    raise ValueError(f"transform {parent!r} -> {child!r} would close a cycle")
            edge = self._edges[child] = _Edge(parent, static)
        elif edge.parent != parent:
            raise ValueError(f"frame {child!r} already has parent {edge.parent!r}, not {parent!r}")
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = rotation, translation
        index = int(np.searchsorted(edge.stamps_ns, stamp_ns, side="right"))
        if index > 0 and edge.stamps_ns[index - 1] == stamp_ns:
            edge.transforms[index - 1] = matrix
            return
        edge.stamps_ns.insert(index, int(stamp_ns))
        edge.transforms.insert(index, matrix)

    def edges(self) -> Iterator[tuple[str, str, int, np.ndarray]]:
        """Every stored ``(parent, child, stamp_ns, transform)``."""
        for child, edge in self._edges.items():
            for stamp_ns, transform in zip(edge.stamps_ns, edge.transforms, strict=True):
                yield edge.parent, child, stamp_ns, transform

    def _chain(self, frame: str) -> list[str]:
        """``frame`` and its ancestors up to the root."""
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
        return chain

    def _to_root(self, chain: list[str], stamp_ns: int) -> np.ndarray:
        """The transform of ``chain[0]`` coordinates into the root of ``chain``."""
        matrix = np.eye(4)
        for child in chain[:-1]:
            matrix = self._edges[child].at(stamp_ns, child) @ matrix
        return matrix

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """The 4x4 transform of ``source`` coordinates into ``target`` at ``stamp_ns`` (0: the latest
        time every edge on the way knows).

        ValueError naming the frames when they are not connected or a transform on the way would
        have to be extrapolated.
        """
        if target == source:
            return np.eye(4)
        source_chain, target_chain = self._chain(source), self._chain(target)
        if source_chain[-1] != target_chain[-1]:
            known = sorted({*self._edges, *(e.parent for e in self._edges.values())})
            raise ValueError(
                f"no transform from {source!r} to {target!r}: the frames are not connected "
                f"(known frames: {', '.join(known) or 'none'})"
            )
        if stamp_ns == 0:
            edges = [self._edges[c] for c in (*source_chain[:-1], *target_chain[:-1])]
            stamp_ns = min((edge.stamps_ns[-1] for edge in edges if not edge.static), default=0)
        return np.linalg.inv(self._to_root(target_chain, stamp_ns)) @ self._to_root(source_chain, stamp_ns)


def people_in_frame(
    detections: Sequence[Detection],
    transform: np.ndarray,
    person_class: str = PERSON_CLASS,
) -> list[Detection]:
    """The ``person_class`` detections moved by ``transform`` (4x4, detection frame -> fixed frame).

    Other classes are dropped; ids, scores and sizes are kept. ValueError for a non-rigid transform
    or a detection with a NaN or inf centre.
    """
    split_transform(transform)  # a rigid 4x4, or ValueError
    out = []
    for index, detection in enumerate(detections):
        if detection.category != person_class:
            continue
        if not np.all(np.isfinite(detection.translation_m)):
            raise ValueError(f"person detection {index} (id {detection.track_id!r}) has a NaN or inf centre")
        out.append(detection.moved(transform))
    return out


class PeopleTracker:
    """Per-person position histories in the fixed frame (see the module docstring).

    ``gate_m``, ``min_hits``, ``max_misses``: the :class:`MultiObjectTracker` settings used when the
    detections carry no ids. With ids, a person unseen for more than ``max_age_s`` is forgotten.
    ``history_length``: positions kept per person (the forecaster resamples them at its period).
    """

    def __init__(
        self,
        gate_m: float = 1.0,
        min_hits: int = 2,
        max_misses: int = 3,
        max_age_s: float = 1.0,
        history_length: int = 64,
    ) -> None:
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self._tracker_options = {
            "gate_m": gate_m,
            "min_hits": min_hits,
            "max_misses": max_misses,
            "history_length": history_length,
            "id_prefix": "person_",
        }
        self.max_age_s = max_age_s
        self.history_length = history_length
        self.resets = 0
        self._reset()

    def _reset(self) -> None:
        self.tracker = MultiObjectTracker(**self._tracker_options)
        self.by_id: dict[str, Track] = {}
        self.last_stamp_ns: int | None = None

    def update(self, people: Sequence[Detection], stamp_ns: int) -> list[Track]:
        """Ingest the people of one message (fixed frame); returns the tracks seen in it.

        Ids are used when every detection carries one (distinct), the tracker otherwise; tracked
        detections get their ``track_id`` set. A stamp before the previous one starts over; a
        repeated stamp is a ValueError (a duplicated message).
        """
        if self.last_stamp_ns is not None and stamp_ns == self.last_stamp_ns:
            raise ValueError(f"people message at {stamp_ns} ns repeats the previous stamp")
        if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns:
            LOG.warning(
                "people stamps jumped back from %d to %d ns (bag loop or reset): forgetting every track",
                self.last_stamp_ns,
                stamp_ns,
            )
            self.resets += 1
            self._reset()
        self.last_stamp_ns = stamp_ns
        ids = [d.track_id for d in people]
        if people and all(ids) and len(set(ids)) == len(ids):
            return self._update_by_id(people, stamp_ns)
        for detection in people:
            detection.track_id = ""
        confirmed = self.tracker.update(people, stamp_ns)
        return [t for t in confirmed if t.stamps_ns[-1] == stamp_ns]

    def _update_by_id(self, people: Sequence[Detection], stamp_ns: int) -> list[Track]:
        seen = []
        for detection in people:
            track = self.by_id.get(detection.track_id)
            if track is None:
                track = self.by_id[detection.track_id] = Track(
                    detection.track_id, detection.category, confirmed=True
                )
            track.positions_m.append(detection.translation_m.copy())
            track.stamps_ns.append(stamp_ns)
            track.observed.append(True)
            track.hits += 1
            if len(track.positions_m) > self.history_length:
                del track.positions_m[0], track.stamps_ns[0], track.observed[0]
            seen.append(track)
        limit_ns = stamp_ns - round(self.max_age_s * 1e9)
        self.by_id = {k: t for k, t in self.by_id.items() if t.stamps_ns[-1] >= limit_ns}
        return seen
