"""Frame -> 9-DoF detections: observation, DDIM sampling of K hypotheses, robust pose and spread.

Inference of Diff9D (Liu et al., TPAMI 2025, Sec. 3.4): each object's pose is sampled from the
conditional diffusion model with deterministic DDIM (Song et al. 2021) in a few steps (3 by
default), every object and hypothesis of a frame in one batch, starting from the prior mean (the
geometric baseline's box, :func:`observation.prior_pose`) plus Gaussian noise. Per object the K
hypotheses give

* the pose: rotation mean on SO(3) (chordal, turned about y first for symmetric categories),
  mean translation, geometric-mean size;
* the 6x6 covariance (x, y, z, rot x, rot y, rot z) of the hypotheses around that pose, plus a
  small floor, as ROS ``PoseWithCovariance`` expects;
* the score: the category probability divided by ``1 + spread``, the spread the RMS rotation
  deviation over ``SCORE_ROT_SCALE_RAD`` plus the RMS translation deviation over
  ``SCORE_TRANS_SCALE_M``.

Objects come from the frame's instance mask and categories when given, otherwise from the built-in
tabletop segmentation and the network's category head. Unusable masks are skipped with a logged
reason; malformed frames raise ValueError.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from diff9d_ros.diffusion.parametrisation import Denoiser
from diff9d_ros.diffusion.samplers import sample
from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.geometry.rotations import rotation_mean
from diff9d_ros.nocs import CATEGORIES, SYMMETRIC_CATEGORIES, Detection
from diff9d_ros.pose.network import POSE_DIM, PREDICTION, PoseNetwork
from diff9d_ros.pose.observation import (
    ObservationError,
    gravity_frame,
    observe,
    prior_pose,
    table_plane,
    up_direction,
)
from diff9d_ros.pose.segmentation import segment_tabletop
from diff9d_ros.pose.train import load_checkpoint, make_schedule, network_from_checkpoint

LOG = logging.getLogger(__name__)

SCORE_ROT_SCALE_RAD = np.radians(10.0)
SCORE_TRANS_SCALE_M = 0.02
#: Variance floor of the covariance (m^2 for translation, rad^2 for rotation).
COVARIANCE_FLOOR = np.array([1e-6] * 3 + [1e-4] * 3)


@dataclass
class SamplerConfig:
    """How poses are sampled: DDIM steps, their timesteps (a spacing or a named schedule), K."""

    num_steps: int = 3
    timesteps: str = "trailing"
    hypotheses: int = 1
    seed: int = 0


@dataclass
class _Batch:
    plane: TablePlane | None
    mask_ids: list[int]
    categories: list[str | None]
    points: np.ndarray  # (B, N, 3) centred, gravity frame
    crops: np.ndarray  # (B, S, S, 3) uint8
    centroids: np.ndarray  # (B, 3) camera frame
    frames: np.ndarray  # (B, 3, 3) gravity frame -> camera
    raw_points: list[np.ndarray]  # camera-frame points, for the geometric prior


class PoseEstimator:
    """Diff9D pose estimation of every object of an RGB-D frame."""

    def __init__(self, network: PoseNetwork, schedule: str, sampler: SamplerConfig) -> None:
        self.network = network.eval()
        self.denoiser = Denoiser(network, make_schedule(schedule), PREDICTION)
        self.sampler = sampler
        if sampler.hypotheses < 1 or sampler.num_steps < 1:
            raise ValueError(f"hypotheses and num_steps must be >= 1, got {sampler}")

    @classmethod
    def from_file(cls, path: str | Path, sampler: SamplerConfig | None = None) -> PoseEstimator:
        """Load a checkpoint written by ``diff9d pose train`` (ValueError if corrupt or mismatched)."""
        payload = load_checkpoint(path)
        network = network_from_checkpoint(payload)
        train_config = payload.get("train_config", {})
        return cls(
            network,
            train_config.get("schedule", "linear"),
            sampler or SamplerConfig(),
        )

    def _observe(self, frame: RGBDFrame, masks: dict[int, np.ndarray], categories: dict[int, str]) -> _Batch:
        cfg = self.network.config
        rng = np.random.default_rng(self.sampler.seed)
        plane = table_plane(frame)
        up = up_direction(plane)
        keys = ("mask_ids", "categories", "points", "crops", "centroids", "frames", "raw_points")
        rows: dict[str, list] = {k: [] for k in keys}
        for mask_id, mask in masks.items():
            category = categories.get(mask_id)
            if category is not None and category not in CATEGORIES:
                LOG.warning("skipping mask %d: unknown category %r", mask_id, category)
                continue
            try:
                obs = observe(frame, mask, cfg.num_points, cfg.crop_px, rng)
            except ObservationError as error:
                LOG.warning("skipping mask %d: %s", mask_id, error)
                continue
            rotation = gravity_frame(up, obs.centroid_m)
            rows["mask_ids"].append(mask_id)
            rows["categories"].append(category)
            rows["points"].append(obs.points_m @ rotation)
            rows["crops"].append(obs.crop)
            rows["centroids"].append(obs.centroid_m)
            rows["frames"].append(rotation)
            rows["raw_points"].append(obs.points_m + obs.centroid_m)
        return _Batch(
            plane,
            rows["mask_ids"],
            rows["categories"],
            *(np.asarray(rows[k]) for k in ("points", "crops", "centroids", "frames")),
            rows["raw_points"],
        )

    @torch.no_grad()
    def estimate(self, frame: RGBDFrame) -> list[Detection]:
        """Detections of the objects of ``frame`` (ValueError if the frame is malformed)."""
        frame.validate()
        if frame.instance_mask is None:
            instance_mask, _ = segment_tabletop(frame)
            categories: dict[int, str] = {}
        else:
            instance_mask, categories = frame.instance_mask, frame.categories
        ids = [int(i) for i in np.unique(instance_mask) if i > 0]
        masks = {i: instance_mask == i for i in ids}
        return self.estimate_masks(frame, masks, categories)

    @torch.no_grad()
    def estimate_masks(
        self, frame: RGBDFrame, masks: dict[int, np.ndarray], categories: dict[int, str]
    ) -> list[Detection]:
        """Detections of the objects under ``masks`` (id -> bool (H, W)); categories missing from
        ``categories`` come from the network's category head."""
        batch = self._observe(frame, masks, categories)
        if not batch.mask_ids:
            return []
        net, k = self.network, self.sampler.hypotheses
        points = torch.from_numpy(batch.points.astype(np.float32))
        crops = torch.from_numpy(batch.crops.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        cond = net.encode(points, crops)
        probs = torch.softmax(net.classify(cond), dim=1).numpy()
        cat_names = [
            c if c is not None else CATEGORIES[int(p.argmax())]
            for c, p in zip(batch.categories, probs, strict=True)
        ]
        cat_prob = np.array(
            [1.0 if c is not None else float(p.max()) for c, p in zip(batch.categories, probs, strict=True)]
        )
        category = torch.tensor([CATEGORIES.index(c) for c in cat_names]).repeat_interleave(k)
        priors = [
            prior_pose(p, c, batch.plane, g)
            for p, c, g in zip(batch.raw_points, cat_names, batch.frames, strict=True)
        ]
        prior = net.codec.encode(
            *(torch.from_numpy(np.stack(parts).astype(np.float32)) for parts in zip(*priors, strict=True)),
            category[::k],
        ).repeat_interleave(k, 0)
        generator = torch.Generator().manual_seed(self.sampler.seed)
        x0 = sample(
            "ddim",
            self.denoiser,
            (len(category), POSE_DIM),
            self.sampler.num_steps,
            timesteps=self.sampler.timesteps,
            extra_args={"cond": cond.repeat_interleave(k, 0), "category": category, "prior": prior},
            prior_mean=prior,
            generator=generator,
        )
        rotation, residual, size = (v.double().numpy() for v in net.codec.decode(x0, category))
        out = []
        for i, mask_id in enumerate(batch.mask_ids):
            g = batch.frames[i]
            rots = g @ rotation[i * k : (i + 1) * k]
            trans = batch.centroids[i] + residual[i * k : (i + 1) * k] @ g.T
            out.append(
                self._summarise(cat_names[i], cat_prob[i], mask_id, rots, trans, size[i * k : (i + 1) * k])
            )
        return out

    @staticmethod
    def _summarise(
        category: str, prob: float, mask_id: int, rots: np.ndarray, trans: np.ndarray, sizes: np.ndarray
    ) -> Detection:
        symmetric = category in SYMMETRIC_CATEGORIES
        r_mean = rotation_mean(rots, symmetric=symmetric)
        t_mean = trans.mean(axis=0)
        dev_rot = Rotation.from_matrix(rots @ r_mean.T).as_rotvec()
        if symmetric:  # the free turn about the object's y axis is not uncertainty
            axis = r_mean[:, 1]
            dev_rot = dev_rot - np.outer(dev_rot @ axis, axis)
        dev = np.concatenate([trans - t_mean, dev_rot], axis=1)
        covariance = dev.T @ dev / len(dev) + np.diag(COVARIANCE_FLOOR)
        rot_rms = float(np.sqrt(np.mean(np.sum(dev_rot**2, axis=1))))
        trans_rms = float(np.sqrt(np.mean(np.sum((trans - t_mean) ** 2, axis=1))))
        spread = rot_rms / SCORE_ROT_SCALE_RAD + trans_rms / SCORE_TRANS_SCALE_M
        return Detection(
            category=category,
            rotation=r_mean,
            translation_m=t_mean,
            size_m=np.exp(np.log(sizes).mean(axis=0)),
            score=float(prob / (1.0 + spread)),
            covariance=covariance,
            mask_id=mask_id,
        )
