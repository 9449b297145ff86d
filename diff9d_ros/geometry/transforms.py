"""Rotation matrix <-> unit quaternion (ROS order x, y, z, w) and 4x4 homogeneous transforms.

The quaternion of a rotation matrix is computed with Shepperd's method (S. W. Shepperd, "Quaternion
from rotation matrix", J. Guidance and Control 1(3), 1978): pick the largest of the four squared
components from the trace and the diagonal, take its root, and read the other three off the
off-diagonal sums and differences. This is numerically stable for every rotation, including
half turns where the trace-only formula divides by zero.
"""

from __future__ import annotations

import numpy as np

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
    """Unit quaternion (x, y, z, w) with w >= 0 of a proper 3x3 rotation (Shepperd's method)."""
    m = check_rotation(rotation)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    # 4 q_i^2 for i = w, x, y, z; the largest one is the safe pivot.
    squares = np.array(
        [
            1.0 + trace,
            1.0 + m[0, 0] - m[1, 1] - m[2, 2],
            1.0 - m[0, 0] + m[1, 1] - m[2, 2],
            1.0 - m[0, 0] - m[1, 1] + m[2, 2],
        ]
    )
    pivot = int(np.argmax(squares))
    root = np.sqrt(squares[pivot])  # = 4 |q_pivot| / 2 = 2 |q_pivot|
    if pivot == 0:
        w = root / 2.0
        x, y, z = (
            (m[2, 1] - m[1, 2]) / (2 * root),
            (m[0, 2] - m[2, 0]) / (2 * root),
            (m[1, 0] - m[0, 1]) / (2 * root),
        )
    elif pivot == 1:
        x = root / 2.0
        w, y, z = (
            (m[2, 1] - m[1, 2]) / (2 * root),
            (m[0, 1] + m[1, 0]) / (2 * root),
            (m[0, 2] + m[2, 0]) / (2 * root),
        )
    elif pivot == 2:
        y = root / 2.0
        w, x, z = (
            (m[0, 2] - m[2, 0]) / (2 * root),
            (m[0, 1] + m[1, 0]) / (2 * root),
            (m[1, 2] + m[2, 1]) / (2 * root),
        )
    else:
        z = root / 2.0
        w, x, y = (
            (m[1, 0] - m[0, 1]) / (2 * root),
            (m[0, 2] + m[2, 0]) / (2 * root),
            (m[1, 2] + m[2, 1]) / (2 * root),
        )
    quaternion = np.array([x, y, z, w])
    quaternion /= np.linalg.norm(quaternion)
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
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


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
