"""Rotations: the continuous 6-D representation, projection onto SO(3), and symmetry-aware errors.

* 6-D representation: the first two columns of a rotation matrix (Zhou et al., "On the Continuity
  of Rotation Representations in Neural Networks", CVPR 2019, Sec. 4). A network regresses these
  six numbers; :func:`rotation_from_6d` maps any six numbers back to a proper rotation.
* Projection onto SO(3): the closest rotation in Frobenius norm, ``U diag(1, 1, det(U V^T)) V^T``
  from the SVD ``M = U S V^T`` (Levinson et al., "An Analysis of SVD for Deep Rotation Estimation",
  NeurIPS 2020, Eq. 2).
* Errors follow the NOCS benchmark (Wang et al., CVPR 2019, Sec. 6): the geodesic angle, except
  for objects symmetric about their canonical y axis (bottle, bowl, can; mug with the handle out of
  view) whose error is the angle between the two y axes.
* The rotation mean is the chordal L2 mean (Hartley et al., "Rotation Averaging", IJCV 2013,
  Sec. 5.3): the projection onto SO(3) of the arithmetic mean of the matrices.
"""

from __future__ import annotations

import numpy as np
import torch


def project_to_so3(matrix: torch.Tensor) -> torch.Tensor:
    """The nearest proper rotation (Frobenius norm) to each 3x3 matrix of ``matrix`` (..., 3, 3).

    Computed in float64 and returned in the input dtype; any finite input (even zero or rank
    deficient) gives an orthonormal matrix with determinant +1 (Levinson et al. 2020, Eq. 2).
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"project_to_so3 needs (..., 3, 3) matrices, got shape {tuple(matrix.shape)}")
    if not torch.isfinite(matrix).all():
        raise ValueError("project_to_so3: matrix contains NaN or inf")
    m64 = matrix.to(torch.float64)
    u, _, vh = torch.linalg.svd(m64)
    det = torch.linalg.det(u @ vh)
    fix = torch.ones(*m64.shape[:-2], 3, dtype=torch.float64, device=m64.device)
    fix[..., 2] = torch.where(det < 0, -1.0, 1.0)
    return ((u * fix.unsqueeze(-2)) @ vh).to(matrix.dtype)


def rotation_to_6d(rotation: torch.Tensor) -> torch.Tensor:
    """The 6-D representation (..., 6): first column, then second column (Zhou et al. 2019, Eq. 15)."""
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation_to_6d needs (..., 3, 3) matrices, got shape {tuple(rotation.shape)}")
    return torch.cat([rotation[..., :, 0], rotation[..., :, 1]], dim=-1)


def rotation_from_6d(d6: torch.Tensor) -> torch.Tensor:
    """A proper rotation (..., 3, 3) from any six numbers (..., 6).

    The two 3-vectors ``a, b`` and ``a x b`` form a matrix whose SVD projection is returned; for
    an exact 6-D encoding this is the encoded rotation, and any other input lands on SO(3) too.
    """
    if d6.shape[-1] != 6:
        raise ValueError(f"rotation_from_6d needs (..., 6) vectors, got shape {tuple(d6.shape)}")
    a, b = d6[..., :3], d6[..., 3:]
    stacked = torch.stack([a, b, torch.linalg.cross(a, b)], dim=-1)
    return project_to_so3(stacked)


def geodesic_angle_rad(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Angle (rad) of ``r1^T r2`` for rotations (..., 3, 3): the geodesic distance on SO(3)."""
    r1, r2 = np.asarray(r1, dtype=np.float64), np.asarray(r2, dtype=np.float64)
    cos = (np.trace(np.swapaxes(r1, -1, -2) @ r2, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def rotation_error_rad(r_pred: np.ndarray, r_gt: np.ndarray, symmetric: bool) -> float:
    """NOCS rotation error (rad): geodesic angle, or the angle between the y axes if symmetric."""
    r_pred, r_gt = np.asarray(r_pred, dtype=np.float64), np.asarray(r_gt, dtype=np.float64)
    if symmetric:
        cos = float(np.dot(r_pred[:, 1], r_gt[:, 1]))
        return float(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(geodesic_angle_rad(r_pred, r_gt))


def rotation_about_y(angle_rad: np.ndarray | float) -> np.ndarray:
    """Rotation(s) (..., 3, 3) by ``angle_rad`` about the y axis."""
    angle = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    rows = [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)]
    return np.stack(rows, axis=-2)


def align_about_y(rotation: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``rotation @ Ry(theta)`` with theta (closed form) bringing it closest to ``reference``.

    Maximises ``tr(reference^T rotation Ry(theta)) = c (M00 + M22) + s (M20 - M02) + M11`` with
    ``M = reference^T rotation``; batched over leading axes of ``rotation``.
    """
    m = np.swapaxes(np.asarray(reference, dtype=np.float64), -1, -2) @ np.asarray(rotation, np.float64)
    theta = np.arctan2(m[..., 2, 0] - m[..., 0, 2], m[..., 0, 0] + m[..., 2, 2])
    return rotation @ rotation_about_y(theta)


def canonicalise_symmetric(rotation: np.ndarray) -> np.ndarray:
    """The representative of ``rotation`` modulo Ry whose x axis is closest to the camera x axis.

    Gives symmetric objects one training target (the free angle would otherwise be arbitrary);
    when the object's y axis is near the camera x axis the camera z axis is used instead.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    y_axis = rotation[:, 1]
    for ref in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])):
        x_axis = ref - np.dot(ref, y_axis) * y_axis
        if np.linalg.norm(x_axis) > 0.3:
            x_axis /= np.linalg.norm(x_axis)
            return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=1)
    raise AssertionError("unreachable: y cannot be close to both camera x and camera z")


def rotation_mean(
    rotations: np.ndarray, symmetric: bool = False, weights: np.ndarray | None = None
) -> np.ndarray:
    """Chordal L2 mean of rotations (K, 3, 3) (Hartley et al. 2013, Sec. 5.3).

    For symmetric objects each sample is first turned about its own y axis to agree with the
    first sample (:func:`align_about_y`), so the free angle does not cancel the mean out.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3) or len(rotations) == 0:
        raise ValueError(f"rotation_mean needs (K, 3, 3) with K >= 1, got {rotations.shape}")
    if len(rotations) == 1:  # the mean of one rotation is itself (already proper)
        return rotations[0].copy()
    if symmetric:
        rotations = align_about_y(rotations, rotations[0])
    w = np.ones(len(rotations)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = np.tensordot(w / w.sum(), rotations, axes=1)
    return project_to_so3(torch.from_numpy(mean)).numpy()
