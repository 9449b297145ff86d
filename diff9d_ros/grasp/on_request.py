"""Grasps planned on request: the newest frame's tracked objects, planned when a robot asks.

The pipeline can plan grasps on every frame (the grasp stage, at most once per ``grasp_period_s``),
but a robot needs them when it is about to grasp, for the objects it chose. :class:`GraspRequests`
keeps the newest (frame, tracked detections) pair it is offered and plans, on request, for the
objects named by their track ids (``Detection.track_id``, the ``id`` of a
``vision_msgs/Detection3D``; an empty request is every object of the frame), with the planner of
the grasp stage (:class:`FramePlanner`), so a request gives the grasps the stage gives on that
frame. The scene cloud of a frame is prepared once, at its first request.

Frames are offered by the pipeline's thread and requests may come from another (the runner's
``Stack.plan_grasps``, the grasp node's ``~/plan_grasps`` service). A request that cannot be
answered raises a ValueError naming the problem, of a class per problem (so a service can answer
with a code): :class:`NoFrameError` (no frame yet), :class:`StaleFrameError` (the newest frame
more than ``max_age_s`` older than the caller's clock), :class:`UnknownObjectError` (an object id
the newest frame does not have).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp.planner import Grasp, SceneCloud
from diff9d_ros.nocs import Detection


class NoFrameError(ValueError):
    """No (frame, detections) pair has been offered yet."""


class StaleFrameError(ValueError):
    """The newest pair is older than ``max_age_s``: no frame has been processed since."""


class UnknownObjectError(ValueError):
    """A requested object id is not among the newest frame's tracked detections."""


class FramePlanner(Protocol):
    """What plans the grasps of one frame (the pipeline's grasp stage)."""

    def prepare_scene(self, frame: RGBDFrame, table_plane: TablePlane | None) -> SceneCloud:
        """The scene cloud of ``frame`` (``table_plane`` None: fitted on the frame)."""
        ...

    def plan_objects(self, detections: Sequence[Detection], scene: SceneCloud) -> list[list[Grasp]]:
        """Ranked grasps of each of ``detections`` in ``scene``."""
        ...


@dataclass(frozen=True)
class PlannedGrasp:
    """One grasp of a plan and the object it belongs to (its track id)."""

    object_id: str
    grasp: Grasp


@dataclass
class GraspPlan:
    """The answer to one request.

    ``stamp_ns`` and ``frame_id`` are the frame's (every pose is in its camera optical frame);
    ``object_ids`` the objects planned for, in request order (for an empty request every object of
    the frame, a detection not tracked yet as ""); ``grasps`` every grasp of them, best score
    first; ``without_grasps`` those of them with no grasp (nothing collision-free and certain
    enough); ``planning_s`` the wall time of the request; ``table_normal`` the unit normal (3,)
    of the frame's table plane, pointing up (camera frame), None where no table was found.
    """

    stamp_ns: int
    frame_id: str
    object_ids: list[str]
    grasps: list[PlannedGrasp]
    without_grasps: list[str]
    planning_s: float
    table_normal: np.ndarray | None = None


@dataclass
class _Held:
    """The newest pair offered, and its scene cloud once a request prepared it."""

    frame: RGBDFrame
    detections: list[Detection]
    table_plane: TablePlane | None
    scene: SceneCloud | None = None


class GraspRequests:
    """The newest (frame, tracked detections) pair and grasps planned on it for the objects asked for.

    ``max_age_s``: a request fails when the newest pair's stamp is more than this behind the
    caller's ``now_ns`` (0: any age).
    """

    def __init__(self, planner: FramePlanner, max_age_s: float = 1.0) -> None:
        if not 0.0 <= max_age_s < float("inf"):
            raise ValueError(f"max_age_s must be finite and >= 0 (0 = any age), got {max_age_s}")
        self.planner = planner
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._held: _Held | None = None

    def offer(
        self, frame: RGBDFrame, detections: Sequence[Detection], table_plane: TablePlane | None = None
    ) -> None:
        """Keep ``frame`` and its ``detections`` (with track ids where tracked) as the newest pair,
        with the frame's table plane where known (None: fitted at the first request)."""
        held = _Held(frame, list(detections), table_plane)
        with self._lock:
            self._held = held

    def plan(self, object_ids: Sequence[str], now_ns: int) -> GraspPlan:
        """Grasps of the objects ``object_ids`` (track ids; empty: every object) on the newest pair.

        ``now_ns`` is the caller's clock in the stamps' time base (the newest frame stamp a runner
        has seen, a node's ROS time). Raises :class:`NoFrameError` (no pair yet),
        :class:`StaleFrameError` (the pair older than ``max_age_s``), :class:`UnknownObjectError`
        (an id the pair's frame does not have), ValueError (``object_ids`` not a list of strings).
        """
        start = time.perf_counter()
        if isinstance(object_ids, str) or not all(isinstance(i, str) for i in object_ids):
            raise ValueError(f"object_ids must be a list of track id strings, got {object_ids!r}")
        with self._lock:
            held = self._held
        if held is None:
            raise NoFrameError(
                "no frame with detections yet: grasps are planned on the newest processed frame"
            )
        stamp_ns = held.frame.stamp_ns
        age_s = (now_ns - stamp_ns) * 1e-9
        if self.max_age_s > 0 and age_s > self.max_age_s:
            raise StaleFrameError(
                f"the newest frame with detections (stamp {stamp_ns} ns) is {age_s:.3f} s old, more than "
                f"max_age_s {self.max_age_s:g} s: no frame has been processed since"
            )
        chosen = _choose(held, object_ids)
        if held.scene is None:  # two requests at once may both prepare it: the same cloud
            held.scene = self.planner.prepare_scene(held.frame, held.table_plane)
        per_object = self.planner.plan_objects([detection for _, detection in chosen], held.scene)
        grasps = [
            PlannedGrasp(object_id, grasp)
            for (object_id, _), ranked in zip(chosen, per_object, strict=True)
            for grasp in ranked
        ]
        grasps.sort(key=lambda planned: -float(planned.grasp.score))
        return GraspPlan(
            stamp_ns=stamp_ns,
            frame_id=held.frame.frame_id,
            object_ids=[object_id for object_id, _ in chosen],
            grasps=grasps,
            without_grasps=[i for (i, _), ranked in zip(chosen, per_object, strict=True) if not ranked],
            planning_s=time.perf_counter() - start,
            table_normal=None if held.scene.table_plane is None else held.scene.table_plane.normal.copy(),
        )


def _choose(held: _Held, object_ids: Sequence[str]) -> list[tuple[str, Detection]]:
    """(id, detection) of each requested object in request order (repeats once; none: all)."""
    if not object_ids:
        return [(d.track_id, d) for d in held.detections]
    by_id = {d.track_id: d for d in held.detections if d.track_id}
    requested = list(dict.fromkeys(object_ids))
    unknown = [i for i in requested if i not in by_id]
    if unknown:
        have = ", ".join(repr(i) for i in by_id) or "no tracked object"
        raise UnknownObjectError(
            f"unknown object id(s) {', '.join(repr(i) for i in unknown)}: the newest frame "
            f"(stamp {held.frame.stamp_ns} ns) has {have}"
        )
    return [(i, by_id[i]) for i in requested]
