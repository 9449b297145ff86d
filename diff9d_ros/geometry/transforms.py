"""Rotation matrix <-> unit quaternion (ROS order x, y, z, w) and 4x4 homogeneous transforms.

Conversions go through :class:`scipy.spatial.transform.Rotation` (stable for every rotation,
half turns included); this module adds the checks and conventions the message layer needs: proper
rotations only, quaternions normalised on the way in and with w >= 0 on the way out.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: Largest |R^T R - I| and |det R - 1| accepted as "a rotation matrix".
ROTATION_TOLERANCE = 1e-4


def check_rotation(rotation: np.ndarray) -> np.ndarray:
    """``rotation`` as a float64 (3, 3) array; ValueError if it is not a finite proper rotation."""
    matrix = np.asarray(rotation, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"rotation must be a 3x3 matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("rotation matrix has NaN or inf entries")
    orthogonality_error = float(np.max(np.abs(matrix.T @ matrix - np.eye(3))))
    determinant = float(np.linalg.det(matrix))
    if orthogonality_error > ROTATION_TOLERANCE or abs(determinant - 1.0) > ROTATION_TOLERANCE:
        raise ValueError(
            f"not a proper rotation matrix: max|R^T R - I| = {orthogonality_error:.2e}, "
            f"det = {determinant:.6f}"
        )
    return matrix


def quaternion_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) with w >= 0 of a proper 3x3 rotation."""
    quaternion = Rotation.from_matrix(check_rotation(rotation)).as_quat()
    return -quaternion if quaternion[3] < 0 else quaternion


def rotation_from_quaternion(quaternion_xyzw: np.ndarray) -> np.ndarray:
    """Proper 3x3 rotation of a quaternion (x, y, z, w); it is normalised first.

    ValueError if it has NaN/inf entries or (near) zero norm, which ROS uses for "no orientation".
    """
    q = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
    if q.shape != (4,):
        raise ValueError(f"quaternion must have 4 components (x, y, z, w), got {q.shape[0]}")
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} is not finite or has zero norm")
    return Rotation.from_quat(q / norm).as_matrix()


def make_transform(rotation: np.ndarray, translation_m: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform from a 3x3 rotation and a translation (3,)."""
    out = np.eye(4)
    out[:3, :3] = check_rotation(rotation)
    out[:3, 3] = np.asarray(translation_m, dtype=np.float64).reshape(3)
    return out


def split_transform(transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (3, 3), translation_m (3,)) of a rigid 4x4 transform; ValueError if it is not one."""
    matrix = np.asarray(transform, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise ValueError(f"transform must be 4x4, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("transform has NaN or inf entries")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"transform's last row must be [0, 0, 0, 1], got {matrix[3].tolist()}")
    return check_rotation(matrix[:3, :3]), matrix[:3, 3].copy()
