"""Grasp planning from a 9-DoF detection and the scene point cloud.

Pipeline per object (all candidates at once, see :mod:`diff9d_ros.grasp.collision`):

1. Category candidates in the canonical frame (:mod:`diff9d_ros.grasp.candidates`), scaled by the
   detected size and mapped into the camera frame by the detected pose.
2. The scene cloud (prepared once per frame by :meth:`GraspPlanner.prepare_scene`: points within
   ``table_band_m`` of the table plane dropped, the table being checked analytically, then a voxel
   grid) is cropped to the gripper's reach around the object. The object's own points are those
   inside the detection box (grown by ``own_tolerance_m``) and, with ``refine_on_points``
   (default), those connected to them up to ``own_growth_m`` outside it
   (:func:`diff9d_ros.grasp.refine.grow_own_points`). With ``refine_on_points`` every candidate
   is then re-centred along its closing axis
   on the own points between its fingers and snapped along its approach to the observed near
   surface, at most ``max_shift_m`` each, never into the table (:mod:`diff9d_ros.grasp.refine`):
   the observed cloud corrects the pose error the estimator makes. Candidates fitted on the own
   points (:mod:`diff9d_ros.grasp.fitted`: a bottle's measured bands, neck and cap; a can's measured
   top, and rim pinches of tins wider than the opening) are added, replacing the model families
   they measure; rim pinches are a fallback, tried only when no other candidate is accepted.
3. Width: the opening a candidate needs is the largest of its family prior, twice the farthest
   own point between the pads and (bottles, cans) the width the observed silhouette shows at the
   pads' height (:func:`diff9d_ros.grasp.fitted.silhouette_widths`); rejected if that plus
   ``min_finger_margin_m`` per side exceeds the maximum opening, so an under-estimated size gives
   no plan rather than fingers landing on the object. The fingers approach opened to the width plus
   ``finger_margin_m`` per side.
4. Rejected as well: fewer than ``min_support_points`` own points between the pads (a grasp on
   air; rim pinches are placed on the measured top instead), any swept box below the table plane
   or an approach pointing up out of it, any point in the palm or finger boxes swept along the
   approach from the pre-grasp (own points included, except those a rim pinch's fingertips are
   planned to rest on), any other object's point in the space between the fingers along that
   sweep, and a pose probability ``p_pose`` (below) under ``min_pose_probability``.
5. Ranking: ``score = p_pose * (0.35 stability + 0.3 centrality + 0.15 width margin + 0.2
   clearance)``. ``p_pose`` is the chance that the pad centre stays within the grasp's tolerance
   under the pose covariance: the 6x6 covariance is propagated to the pad centre by the Jacobian
   ``[I, -[p - t]x]`` of ``p = Exp(dtheta) R q + t + dt``, rotated into the TCP frame, and
   ``p_pose = prod_i erf(m_i / (sqrt(2) sigma_i))`` with tolerances ``m`` = (half the object's
   extent across the pads, the free play (opening - width) / 2, half the finger length). An axis
   on which the refinement placed the candidate on the observed points (closing axis: points
   found between the fingers; approach axis: near surface seen and snapped) has sigma 0: the pose
   error along it no longer moves the pads. Rotation about the symmetry axis of bottles, bowls
   and cans is projected out first (it does not move the surface). The point checks run in
   batches in order of the score's upper bound (clearance = 1) and stop once ``max_grasps``
   accepted grasps all score at least the next bound: the top ``max_grasps`` are exact. Grasps that
   repeat a better one (5 mm, 10 deg, the jaw's pi symmetry included) are dropped from the list, so
   it may hold fewer than ``max_grasps``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import erf

from diff9d_ros.geometry.boxes import points_in_box
from diff9d_ros.geometry.clusters import STEREO_DEPTH_NOISE_PER_M, depth_noise_m
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.grasp import collision, refine
from diff9d_ros.grasp.candidates import CandidateSet, canonical_candidates
from diff9d_ros.grasp.fitted import REPLACED_FAMILIES, fitted_candidates, silhouette_widths
from diff9d_ros.grasp.gripper import GripperModel, load_gripper
from diff9d_ros.nocs import SYMMETRIC_CATEGORIES, Detection

#: Weight of the clearance term in the score (the other weights are in ``_score_terms``).
CLEARANCE_WEIGHT = 0.2


@dataclass
class Grasp:
    """One ranked grasp, in the camera optical frame.

    ``pose`` is the 4x4 TCP pose (z approach, y closing), ``pre_grasp`` the TCP pose
    ``approach_distance_m`` back along the approach, ``width_m`` the object width expected between
    the fingers, ``opening_m`` the finger opening to hold during the approach, ``approach`` the unit
    approach direction, ``family`` the candidate family ("side", "top", "rim", ...).
    """

    pose: np.ndarray
    pre_grasp: np.ndarray
    width_m: float
    opening_m: float
    score: float
    approach: np.ndarray
    family: str
    category: str = ""


@dataclass(frozen=True)
class PlannerConfig:
    """Tunables of :class:`GraspPlanner` (metres, counts)."""

    approach_distance_m: float = 0.10
    finger_margin_m: float = 0.006
    min_finger_margin_m: float = 0.0015
    voxel_m: float = 0.005
    own_tolerance_m: float = 0.005
    table_band_m: float = 0.008
    table_clearance_m: float = 0.003
    max_upward_approach: float = 0.17
    min_support_points: int = 3
    clearance_saturation_m: float = 0.02
    max_grasps: int = 10
    batch_size: int = 24
    refine_on_points: bool = True
    own_growth_m: float = 0.025
    own_link_m: float = 0.009
    max_shift_m: float = 0.02
    duplicate_distance_m: float = 0.005
    duplicate_angle_deg: float = 10.0
    min_pose_probability: float = 0.5
    #: The table band grows by this many depth-noise deviations (``k z^2``, k = ``depth_noise_per_m``)
    #: at each point's depth: the noise of a stereo sensor's table 1.3 m away reaches over a centimetre.
    table_noise_deviations: float = 1.5
    depth_noise_per_m: float = STEREO_DEPTH_NOISE_PER_M


@dataclass
class PlanStats:
    """Candidate counts of the last :meth:`GraspPlanner.plan` call, per rejection reason."""

    candidates: int = 0
    refined: int = 0
    too_wide: int = 0
    below_table: int = 0
    collision: int = 0
    no_support: int = 0
    uncertain: int = 0
    evaluated: int = 0
    accepted: int = 0


def voxel_downsample(points_m: np.ndarray, voxel_m: float) -> np.ndarray:
    """One point (the first) per occupied cubic voxel of edge ``voxel_m``."""
    if voxel_m <= 0:
        raise ValueError(f"voxel size must be positive, got {voxel_m}")
    if len(points_m) == 0:
        return points_m
    keys = np.floor(points_m / voxel_m).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    flat = (keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]
    _, first = np.unique(flat, return_index=True)
    return points_m[np.sort(first)]


@dataclass(frozen=True)
class SceneCloud:
    """A scene cloud prepared once per frame: finite, table band removed, voxel-downsampled."""

    points_m: np.ndarray
    table_plane: TablePlane | None


def _as_plane(table_plane: TablePlane | np.ndarray | None) -> TablePlane | None:
    if table_plane is None or isinstance(table_plane, TablePlane):
        return table_plane
    return TablePlane.from_coefficients(table_plane)


def _skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices (N, 3, 3) of vectors (N, 3)."""
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


@dataclass
class _Posed:
    """Candidates in the camera frame during planning: TCP poses, own points in their frames, the
    width they expect, which TCP axes the points fixed, and their per-candidate attributes."""

    poses: np.ndarray
    local_own: np.ndarray
    prior_width: np.ndarray
    observed: np.ndarray
    stability: np.ndarray
    family: np.ndarray
    own_limit: np.ndarray
    fallback: np.ndarray

    def select(self, keep: np.ndarray) -> _Posed:
        return _Posed(*(getattr(self, f.name)[keep] for f in fields(self)))

    def concatenate(self, other: _Posed) -> _Posed:
        return _Posed(
            *(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self))
        )


class GraspPlanner:
    """Ranked, collision-free parallel-jaw grasps for one detected object at a time."""

    def __init__(self, gripper: GripperModel | None = None, config: PlannerConfig | None = None) -> None:
        self.gripper = gripper if gripper is not None else load_gripper()
        self.config = config or PlannerConfig()
        self.last_stats = PlanStats()
        corners = collision.box_corners(*collision.gripper_solids(self.gripper, np.array([0.0]), 0.0))
        max_open = collision.box_corners(
            *collision.gripper_solids(self.gripper, np.array([self.gripper.max_opening_m]), 0.0)
        )
        self._reach_m = float(
            max(np.linalg.norm(corners, axis=-1).max(), np.linalg.norm(max_open, axis=-1).max())
            + self.config.approach_distance_m
        )

    def prepare_scene(
        self, scene_points_m: np.ndarray, table_plane: TablePlane | np.ndarray | None = None
    ) -> SceneCloud:
        """Drop invalid points and the table band, voxel-downsample: done once per frame."""
        points = np.asarray(scene_points_m, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"scene_points_m must be (M, 3), got shape {points.shape}")
        points = points[np.all(np.isfinite(points), axis=1)]
        table_plane = _as_plane(table_plane)
        if table_plane is not None:
            cfg = self.config
            noise_m = depth_noise_m(points[:, 2], cfg.depth_noise_per_m)
            band = cfg.table_band_m + cfg.table_noise_deviations * noise_m
            points = points[table_plane.height_m(points) > band]
        return SceneCloud(voxel_downsample(points, self.config.voxel_m), table_plane)

    def plan(
        self,
        detection: Detection,
        scene_points_m: np.ndarray | SceneCloud,
        table_plane: TablePlane | np.ndarray | None = None,
    ) -> list[Grasp]:
        """Ranked grasps (best first, at most ``config.max_grasps``) for ``detection``.

        ``scene_points_m`` (M, 3) is the scene cloud in the camera frame, the object's own points
        included, or a :class:`SceneCloud` from :meth:`prepare_scene` (then its plane is used);
        ``table_plane`` a :class:`TablePlane` or ``(a, b, c, d)`` coefficients in the camera frame
        with the normal pointing up (None: no table check beyond the points).
        """
        cfg = self.config
        if not isinstance(scene_points_m, SceneCloud):
            scene_points_m = self.prepare_scene(scene_points_m, table_plane)
        points, table_plane = scene_points_m.points_m, scene_points_m.table_plane
        rotation, centre, size = detection.rotation, detection.translation_m, detection.size_m
        if not (np.all(np.isfinite(rotation)) and np.all(np.isfinite(centre))):
            raise ValueError("detection pose has NaN or inf entries")

        # Scene around the object, and the object's own points (connected to its box).
        radius = float(np.linalg.norm(size) / 2.0 + self._reach_m)
        points = points[np.sum((points - centre) ** 2, axis=1) <= radius**2]
        if cfg.refine_on_points:
            own = refine.grow_own_points(
                points, detection, cfg.own_tolerance_m, cfg.own_growth_m, cfg.own_link_m
            )
        else:
            own = points_in_box(points, rotation, centre, size, tolerance_m=cfg.own_tolerance_m)

        cands = canonical_candidates(detection.category, size, self.gripper)
        stats = PlanStats()
        max_open = self.gripper.max_opening_m
        table = self._posed(cands, detection, points[own])
        if cfg.refine_on_points:
            table.poses, table.local_own, table.prior_width, table.observed = self._refine(
                table.poses,
                table.local_own,
                table.prior_width,
                cands.surface_z_m,
                cands.max_forward_m,
                table_plane,
                stats,
            )
            noise_m = cfg.table_noise_deviations * float(depth_noise_m(centre[2], cfg.depth_noise_per_m))
            fit = fitted_candidates(
                detection, points[own], self.gripper, max_open - 2.0 * cfg.min_finger_margin_m, noise_m
            )
            if fit is not None:
                table = table.select(~np.isin(table.family, REPLACED_FAMILIES.get(detection.category, ())))
                fitted = self._posed(fit, detection, points[own])
                fitted.observed[:, 1:] = True  # placed on the points across and along the approach
                table = table.concatenate(fitted)
        poses, local_own, prior_width, observed = (
            table.poses,
            table.local_own,
            table.prior_width,
            table.observed,
        )
        stability, family, own_limit, fallback = (
            table.stability,
            table.family,
            table.own_limit,
            table.fallback,
        )
        stats.candidates = len(poses)
        # Own points the fingertips are planned to touch (rim pinches on the lid) are contacts.
        with np.errstate(invalid="ignore"):
            touching = local_own[..., 2] > own_limit[:, None]

        # Width needed: prior, the farthest own point between the pads at full opening, and the
        # width the observed silhouette allows (with refine_on_points).
        approach = poses[:, :3, 2]
        full_low, full_high = self.gripper.closing_bounds(np.full(len(poses), max_open))
        in_full = collision.inside(local_own, full_low, full_high) & ~touching
        half_width = np.where(in_full, np.abs(local_own[..., 1]), 0.0).max(axis=1, initial=0.0)
        width = np.maximum(prior_width, 2.0 * half_width)
        if cfg.refine_on_points:
            width = np.fmax(width, silhouette_widths(detection, points[own], poses, self.gripper))
        # A pinch that touches the own points (a rim) closes across the rim it was fitted on.
        width = np.where(np.isfinite(own_limit), prior_width, width)
        keep = width + 2.0 * cfg.min_finger_margin_m <= max_open
        stats.too_wide = int(np.sum(~keep))
        opening = np.minimum(max_open, width + 2.0 * cfg.finger_margin_m)
        region_low, region_high = self.gripper.closing_bounds(opening)
        support = (collision.inside(local_own, region_low, region_high) & ~touching).sum(axis=1)
        supported = (support >= cfg.min_support_points) | np.isfinite(own_limit)  # rims: fitted on the top
        stats.no_support = int(np.sum(keep & ~supported))
        keep &= supported
        solid_low, solid_high = collision.gripper_solids(self.gripper, opening, cfg.approach_distance_m)
        table_gap = np.full(len(poses), np.inf)
        if table_plane is not None:
            table_gap = collision.table_clearance_m(poses, solid_low, solid_high, table_plane)
            above = (table_gap >= cfg.table_clearance_m) & (
                approach @ table_plane.normal <= cfg.max_upward_approach
            )
            stats.below_table = int(np.sum(keep & ~above))
            keep &= above

        # Point checks in batches, best score upper bound (clearance term = 1) first; stop once
        # max_grasps accepted grasps all score at least the next batch's bound (exact top-k).
        idx = np.flatnonzero(keep)
        p_pose, quality = self._score_terms(
            detection, stability[idx], poses[idx], width[idx], opening[idx], observed[idx]
        )
        likely = p_pose >= cfg.min_pose_probability
        stats.uncertain = int(np.sum(~likely))
        idx, p_pose, quality = idx[likely], p_pose[likely], quality[likely]
        bound = p_pose * (quality + CLEARANCE_WEIGHT)
        bound_of = dict(zip(idx.tolist(), bound.tolist(), strict=True))
        # Fallback candidates (rim pinches of wide cans) are tried only when no other one is accepted.
        tiers = [idx[~fallback[idx]], idx[fallback[idx]]]
        accepted: list[tuple[float, int]] = []
        for tier in tiers:
            if accepted:
                break
            order = tier[np.argsort([-bound_of[int(i)] for i in tier])]
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                if len(accepted) >= cfg.max_grasps:
                    kth = sorted(accepted, reverse=True)[cfg.max_grasps - 1][0]
                    if kth >= bound_of[int(batch[0])]:
                        break
                accepted += self._check_batch(
                    batch,
                    detection,
                    points,
                    own,
                    poses,
                    own_limit,
                    solid_low,
                    solid_high,
                    region_low,
                    region_high,
                    table_gap,
                    stability,
                    width,
                    opening,
                    observed,
                    stats,
                )
        stats.accepted = len(accepted)
        self.last_stats = stats

        grasps = []
        ranked = [i for _, i in sorted(accepted, reverse=True)]
        scores = {i: score for score, i in accepted}
        distinct = distinct_poses(
            poses, ranked, cfg.duplicate_distance_m, cfg.duplicate_angle_deg, limit=cfg.max_grasps
        )
        for i in distinct:
            score, pose = scores[i], poses[i]
            pre = pose.copy()
            pre[:3, 3] -= cfg.approach_distance_m * pose[:3, 2]
            grasps.append(
                Grasp(
                    pose=pose,
                    pre_grasp=pre,
                    width_m=float(width[i]),
                    opening_m=float(opening[i]),
                    score=float(score),
                    approach=pose[:3, 2].copy(),
                    family=str(family[i]),
                    category=detection.category,
                )
            )
        return grasps

    @staticmethod
    def _posed(cands: CandidateSet, detection: Detection, own_points: np.ndarray) -> _Posed:
        """Canonical candidates in the camera frame, with the own points in their TCP frames."""
        poses = np.einsum("ij,njk->nik", detection.transform, cands.poses)
        n = len(poses)
        return _Posed(
            poses,
            collision.to_tcp_frames(own_points, poses),
            cands.prior_width_m,
            np.zeros((n, 3), dtype=bool),
            cands.stability,
            cands.family,
            cands.own_limit_z_m if cands.own_limit_z_m is not None else np.full(n, np.nan),
            cands.fallback if cands.fallback is not None else np.zeros(n, dtype=bool),
        )

    def _check_batch(
        self,
        batch: np.ndarray,
        detection: Detection,
        points: np.ndarray,
        own: np.ndarray,
        poses: np.ndarray,
        own_limit: np.ndarray,
        solid_low: np.ndarray,
        solid_high: np.ndarray,
        region_low: np.ndarray,
        region_high: np.ndarray,
        table_gap: np.ndarray,
        stability: np.ndarray,
        width: np.ndarray,
        opening: np.ndarray,
        observed: np.ndarray,
        stats: PlanStats,
    ) -> list[tuple[float, int]]:
        """(score, index) of the candidates of ``batch`` that pass the point checks (module docstring)."""
        cfg = self.config
        stats.evaluated += len(batch)
        local = collision.to_tcp_frames(points, poses[batch])
        low, high = solid_low[batch], solid_high[batch]
        with np.errstate(invalid="ignore"):
            contact = own[None, :] & (local[..., 2] > own_limit[batch, None])
        hits_solid = (collision.inside(local, low, high) & ~contact).any(axis=1)
        swept_low = region_low[batch].copy()
        swept_low[:, 2] -= cfg.approach_distance_m
        hits_other = (collision.inside(local, swept_low, region_high[batch]) & ~own[None, :]).any(axis=1)
        ok = ~(hits_solid | hits_other)
        stats.collision += int(np.sum(~ok))
        if not ok.any():
            return []
        clearance = np.minimum(
            collision.box_distance_m(local[ok][:, ~own, :], low[ok], high[ok]), table_gap[batch[ok]]
        )
        clear = np.clip(clearance / cfg.clearance_saturation_m, 0.0, 1.0)
        good = batch[ok]
        p, q = self._score_terms(
            detection, stability[good], poses[good], width[good], opening[good], observed[good]
        )
        return list(zip((p * (q + CLEARANCE_WEIGHT * clear)).tolist(), good.tolist(), strict=True))

    def _refine(
        self,
        poses: np.ndarray,
        local_own: np.ndarray,
        prior_width_m: np.ndarray,
        surface_z_m: np.ndarray,
        family_forward_m: np.ndarray | None,
        table_plane: TablePlane | None,
        stats: PlanStats,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidates re-centred and snapped on the own points (:mod:`diff9d_ros.grasp.refine`).

        Returns (poses, own points in their TCP frames, width to grasp, (N, 3) TCP axes whose
        position the points fixed); counts the moved candidates in ``stats``.
        """
        cfg, gripper = self.config, self.gripper
        cluster_gap = 2.0 * gripper.finger_half_extents_m[1] + 2.0 * cfg.min_finger_margin_m
        max_width = gripper.max_opening_m - 2.0 * cfg.finger_margin_m
        poses, local_own, width, shift_y, seen_y = refine.recentre_on_points(
            poses, local_own, prior_width_m, gripper, cfg.max_shift_m, cluster_gap, max_width
        )
        opening = np.minimum(gripper.max_opening_m, width + 2.0 * cfg.finger_margin_m)
        max_forward = np.full(len(poses), np.inf) if family_forward_m is None else family_forward_m.copy()
        if table_plane is not None:
            low, high = collision.gripper_solids(gripper, opening, cfg.approach_distance_m)
            gap = collision.table_clearance_m(poses, low, high, table_plane)
            descent = -(poses[:, :3, 2] @ table_plane.normal)
            with np.errstate(divide="ignore"):
                table_forward = np.where(descent > 1e-6, (gap - cfg.table_clearance_m) / descent, np.inf)
            max_forward = np.minimum(max_forward, table_forward)
        poses, local_own, shift_z, seen_z = refine.snap_to_surface(
            poses, local_own, surface_z_m, opening, gripper, cfg.max_shift_m, max_forward
        )
        stats.refined = int(np.sum((np.abs(shift_y) > 1e-4) | (np.abs(shift_z) > 1e-4)))
        observed = np.stack([np.zeros(len(poses), dtype=bool), seen_y, seen_z], axis=1)
        return poses, local_own, width, observed

    def _score_terms(
        self,
        detection: Detection,
        stability: np.ndarray,
        poses: np.ndarray,
        width_m: np.ndarray,
        opening_m: np.ndarray,
        observed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(p_pose, quality without the clearance term) of candidates (see the module docstring)."""
        gripper = self.gripper
        z_low, z_high = gripper.finger_z_range_m
        pad = poses[:, :3, 3] + ((z_low + z_high) / 2.0) * poses[:, :3, 2]
        offset = pad - detection.translation_m
        closing = poses[:, :3, 1]
        perpendicular = offset - np.sum(offset * closing, axis=1, keepdims=True) * closing
        half_diag = float(np.linalg.norm(detection.size_m)) / 2.0
        centrality = 1.0 - np.clip(np.linalg.norm(perpendicular, axis=1) / half_diag, 0.0, 1.0)
        margin = np.clip((gripper.max_opening_m - width_m) / (0.5 * gripper.max_opening_m), 0.0, 1.0)
        quality = 0.35 * stability + 0.3 * centrality + 0.15 * margin

        # Pose uncertainty at the pad centre, in the TCP frame.
        cov = detection.covariance.copy()
        if detection.category in SYMMETRIC_CATEGORIES:
            axis = detection.rotation[:, 1]
            project = np.eye(6)
            project[3:, 3:] -= np.outer(axis, axis)
            cov = project @ cov @ project.T
        jac = np.concatenate([np.broadcast_to(np.eye(3), (len(poses), 3, 3)), -_skew(offset)], axis=2)
        cov_pad = jac @ cov @ np.swapaxes(jac, 1, 2)
        rot = poses[:, :3, :3]
        sigma = np.sqrt(np.clip(np.einsum("nji,njk,nki->ni", rot, cov_pad, rot), 0.0, None))
        sigma[observed] = 0.0  # placed on the observed points: the pose error no longer applies
        extent_x = np.abs(rot[:, :, 0] @ detection.rotation) @ detection.size_m
        tolerance = np.stack(
            [
                np.maximum(0.5 * extent_x, gripper.finger_half_extents_m[0]),
                np.maximum((opening_m - width_m) / 2.0, 1e-4),
                np.full(len(poses), gripper.finger_half_extents_m[2]),
            ],
            axis=1,
        )
        with np.errstate(divide="ignore"):
            p_pose = np.prod(erf(tolerance / (np.sqrt(2.0) * sigma)), axis=1)
        return p_pose, quality


def distinct_poses(
    poses: np.ndarray, ranked: list[int], distance_m: float, angle_deg: float, limit: int
) -> list[int]:
    """The first ``limit`` of ``ranked`` that do not repeat a better pose: TCP within ``distance_m``
    and rotation within ``angle_deg``, where a turn by pi about the approach axis (z) is the same
    parallel-jaw grasp. Refinement can move two candidates onto the same grasp."""
    flip = np.diag([-1.0, -1.0, 1.0])  # the symmetric jaw's other labelling
    cos_limit = np.cos(np.radians(angle_deg))
    kept: list[int] = []
    for i in ranked:
        rotation, position = poses[i][:3, :3], poses[i][:3, 3]
        duplicate = False
        for j in kept:
            if np.linalg.norm(poses[j][:3, 3] - position) > distance_m:
                continue
            relative = poses[j][:3, :3].T @ rotation
            best_trace = max(np.trace(relative), np.trace(flip @ relative))
            if (best_trace - 1.0) / 2.0 >= cos_limit:
                duplicate = True
                break
        if not duplicate:
            kept.append(i)
            if len(kept) == limit:
                break
    return kept
