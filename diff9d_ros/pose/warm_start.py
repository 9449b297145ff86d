"""Temporal warm start of the pose chain: the last frame's pose of the same object as its start.

On a stream, an object's pose at the previous frame is a far better start than noise around the
oriented-box prior. :class:`WarmStartMemory` remembers each frame's detections with the centroid
of their observed points; an object of the next frame whose centroid lies within ``gate_m`` of a
remembered one (each remembered object used once, nearest first), less than ``max_age_s`` later,
and that the network gives the same category, starts its DDIM chain from that pose diffused to a
lower noise level and runs only the last ``steps`` steps of the schedule
(SDEdit, Meng et al. 2022, Sec. 3, the start of residual diffusion methods). The network stays
conditioned on this frame's observation and box prior, as in training. A new object, a jump (the
object or the camera moved fast), another category or a gap in the stream falls back to the full
cold chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diff9d_ros.geometry.rotations import canonicalise_symmetric
from diff9d_ros.nocs import SYMMETRIC_CATEGORIES, Detection


@dataclass(frozen=True)
class WarmStartConfig:
    """``steps``: DDIM steps of a warm chain (the last ones of the cold schedule; 0 = warm start
    off); ``gate_m``: largest move of the centroid of an object's points since the last frame;
    ``max_age_s``: largest gap between the frames."""

    steps: int = 1
    gate_m: float = 0.03
    max_age_s: float = 0.5

    def __post_init__(self) -> None:
        if self.steps < 0 or not self.gate_m > 0 or not self.max_age_s > 0:
            raise ValueError(f"warm start needs steps >= 0 and positive gate_m and max_age_s, got {self}")

    def chain_start(self, cold_timesteps: Sequence[int]) -> int:
        """Index into the cold chain's timesteps (descending) where a warm chain starts, 0 when warm
        start is off: the last :attr:`steps` steps, a final step at t = 0 counted with the step
        before it. That step (the ``linspace`` spacing ends with one) is a clean-up pass that
        diffuses by nothing: a chain started there would hand the network the last pose at t = 0,
        where it returns the pose it is given, and keep it however the object moved."""
        start = len(cold_timesteps) - self.steps - (1 if int(cold_timesteps[-1]) == 0 else 0)
        return start if self.steps > 0 and start > 0 else 0


def last_pose_prior(
    last: Detection, centroid_m: np.ndarray, frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``last``'s pose as a prior mean in the parts of
    :func:`~diff9d_ros.pose.observation.prior_pose`: rotation in the gravity ``frame``
    (canonicalised about y for the symmetric categories), residual from this view's
    ``centroid_m``, size."""
    rotation = frame.T @ last.rotation
    if last.category in SYMMETRIC_CATEGORIES:
        rotation = canonicalise_symmetric(rotation)
    return rotation, (last.translation_m - centroid_m) @ frame, last.size_m


@dataclass(frozen=True)
class Remembered:
    """One detection of the last frame and the centroid (m, camera frame) of its observed points."""

    centroid_m: np.ndarray
    detection: Detection


class WarmStartMemory:
    """The detections of the last frame, by the centroid of their points, for the warm start of
    the next."""

    def __init__(self, config: WarmStartConfig) -> None:
        self.config = config
        self._stamp_ns: int | None = None
        self._remembered: list[Remembered] = []
        self._used: set[int] = set()
        #: Objects started warm so far.
        self.matches = 0

    def begin(self, stamp_ns: int) -> None:
        """Start a frame: forget the last one when it is too old or later than ``stamp_ns``."""
        age_s = None if self._stamp_ns is None else 1e-9 * (stamp_ns - self._stamp_ns)
        if age_s is None or not 0 < age_s <= self.config.max_age_s:
            self._remembered = []
        self._used = set()

    def match(self, centroid_m: np.ndarray) -> Remembered | None:
        """The last frame's unused object whose centroid is nearest to ``centroid_m`` within
        ``gate_m``, marked used; None for a new object or a jump."""
        best, best_m = None, self.config.gate_m
        for index, entry in enumerate(self._remembered):
            if index in self._used:
                continue
            distance_m = float(np.linalg.norm(entry.centroid_m - centroid_m))
            if distance_m <= best_m:
                best, best_m = index, distance_m
        if best is None:
            return None
        self._used.add(best)
        self.matches += 1
        return self._remembered[best]

    def remember(self, stamp_ns: int, entries: list[Remembered]) -> None:
        """Keep the detections of the frame at ``stamp_ns`` for the next one."""
        self._stamp_ns, self._remembered, self._used = stamp_ns, entries, set()
