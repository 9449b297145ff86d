"""The 9-DoF detection that leaves the pose estimator (and arrives from a ground-truth topic)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The six NOCS categories, in the NOCS benchmark's order; class ids on the wire are these names.
CATEGORIES: tuple[str, ...] = ("bottle", "bowl", "camera", "can", "laptop", "mug")


@dataclass
class Detection:
    """One object: category, pose of its canonical (NOCS) frame in the camera optical frame, size.

    ``rotation`` is a proper 3x3 rotation, ``translation_m`` the box centre (3,), ``size_m`` the
    full extents along the canonical x, y, z. ``covariance`` is the 6x6 pose covariance
    (x, y, z, rot x, rot y, rot z; m^2 and rad^2, ROS ``PoseWithCovariance`` order) from the spread
    of the diffusion samples. ``track_id`` is set by the tracker (or the ground truth), empty
    otherwise.
    """

    category: str
    rotation: np.ndarray
    translation_m: np.ndarray
    size_m: np.ndarray
    score: float = 1.0
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))
    mask_id: int = 0
    track_id: str = ""

    def __post_init__(self) -> None:
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        self.translation_m = np.asarray(self.translation_m, dtype=np.float64).reshape(3)
        self.size_m = np.asarray(self.size_m, dtype=np.float64).reshape(3)
        self.covariance = np.asarray(self.covariance, dtype=np.float64).reshape(6, 6)

    @property
    def transform(self) -> np.ndarray:
        """4x4 homogeneous transform from the object's canonical frame to the camera frame."""
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.translation_m
        return out
