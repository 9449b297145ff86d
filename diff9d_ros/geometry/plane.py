"""The support plane of a tabletop, shared by segmentation, pose and grasp planning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TablePlane:
    """The plane ``normal . p + offset_m = 0`` in the camera frame; ``normal`` (unit) points up,
    away from the table and towards the camera. Normal and offset are normalised on creation."""

    normal: np.ndarray
    offset_m: float

    def __post_init__(self) -> None:
        normal = np.asarray(self.normal, dtype=np.float64).reshape(-1)
        if normal.shape != (3,) or not np.all(np.isfinite(normal)) or np.linalg.norm(normal) < 1e-9:
            raise ValueError(f"table plane normal must be a finite non-zero 3-vector, got {self.normal}")
        if not np.isfinite(self.offset_m):
            raise ValueError(f"table plane offset must be finite, got {self.offset_m}")
        norm = float(np.linalg.norm(normal))
        object.__setattr__(self, "normal", normal / norm)
        object.__setattr__(self, "offset_m", float(self.offset_m) / norm)

    @classmethod
    def from_coefficients(cls, plane: np.ndarray) -> TablePlane:
        """From ``(a, b, c, d)`` with ``a x + b y + c z + d = 0`` and (a, b, c) pointing up."""
        plane = np.asarray(plane, dtype=np.float64).reshape(-1)
        if plane.shape != (4,):
            raise ValueError(f"table plane needs 4 coefficients (a, b, c, d), got {plane.shape[0]}")
        return cls(plane[:3], float(plane[3]))

    def height_m(self, points_m: np.ndarray) -> np.ndarray:
        """Signed height of points (..., 3) above the plane (negative below)."""
        return points_m @ self.normal + self.offset_m


def plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane orthogonal to the unit vector ``normal``, a fixed in-plane
    basis (e1, e2) with e1 x e2 = ``normal``."""
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    e1 = np.cross(normal, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)
