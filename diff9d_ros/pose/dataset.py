"""Training objects from synthetic shards: observations, pose targets and augmentation.

Every ground-truth object of every frame is observed once (:func:`observation.observe`) and kept
in an in-memory :class:`ObjectArrays` (cached as ``.npz`` beside the shards). The torch
:class:`PoseDataset` then augments each draw as Diff9D does for its synthetic-only training
(Liu et al., TPAMI 2025, Sec. 4.1; the box deformation of GPV-Pose, Di et al., CVPR 2022):

* box deformation: the points are stretched in the object's canonical frame by a random factor
  per axis and the size target with them;
* depth noise along each viewing ray, and isotropic point jitter;
* resampling of the points with replacement;
* colour jitter of the crop (brightness, contrast, per-channel gain);
* a small random tilt of the table normal that defines the gravity-aligned frame.

Samples are expressed in that per-object gravity-aligned frame (:func:`observation.gravity_frame`):
centred points, rotation and translation residual, and the geometric baseline's box of the
(augmented) points, the diffusion's prior mean (:func:`observation.prior_pose`).

Rotation targets of objects that are symmetric about y (bottle, bowl, can, mug with hidden
handle) are canonicalised in that frame
(:func:`~diff9d_ros.geometry.rotations.canonicalise_symmetric`), so the free turn is not penalised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset
from tqdm import tqdm

from diff9d_ros.atomic_files import save_npz
from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.geometry.rotations import canonicalise_symmetric
from diff9d_ros.nocs import CATEGORIES, Detection
from diff9d_ros.pose.observation import (
    ObservationError,
    gravity_frame,
    observe,
    prior_pose,
    table_plane,
    up_direction,
)

LOG = logging.getLogger(__name__)


class ObjectTruth(Protocol):
    """What the dataset needs of one ground-truth object (``diff9d_ros.synth.truth.ObjectTruth``):
    the pose as a :class:`Detection` (with ``mask_id``), whether rotation about y is free, and how
    many pixels of it are visible."""

    detection: Detection
    symmetric: bool
    visible_pixels: int


@dataclass
class AugmentConfig:
    """Augmentation strengths (Diff9D Sec. 4.1 style); ``AugmentConfig.off()`` disables all."""

    box_deform: float = 0.15  # per-axis stretch factor in [1 - d, 1 + d]
    depth_noise_m: float = 0.003
    jitter_m: float = 0.001
    brightness: float = 0.3
    contrast: float = 0.3
    channel_gain: float = 0.1
    up_noise_rad: float = 0.03

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(**{f.name: 0.0 for f in fields(cls)})


@dataclass
class ObjectArrays:
    """Observed objects, one row each: camera-frame points (M, N, 3) float32, crops (M, S, S, 3)
    uint8, the frame's table plane (normal (M, 3), offset (M,), NaN without a plane), camera-frame
    pose targets, category index and
    symmetry flag."""

    points_m: np.ndarray
    crops: np.ndarray
    up: np.ndarray
    table_offset_m: np.ndarray
    rotation: np.ndarray
    translation_m: np.ndarray
    size_m: np.ndarray
    category: np.ndarray
    symmetric: np.ndarray

    def __len__(self) -> int:
        return len(self.category)

    def save(self, path: Path) -> None:
        """Write an ``.npz`` atomically (concurrent DDP ranks may save the same cache)."""
        save_npz(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> ObjectArrays:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def observe_objects(
    frames: Iterable[tuple[RGBDFrame, list[ObjectTruth]]],
    num_points: int,
    crop_px: int,
    seed: int = 0,
    total: int | None = None,
) -> ObjectArrays:
    """Observe every ground-truth object of ``frames``; unusable masks are skipped with a log line."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {f.name: [] for f in fields(ObjectArrays)}
    skipped = 0
    for frame, truths in tqdm(frames, total=total, desc="observing objects", unit="frame"):
        if frame.instance_mask is None:
            raise ValueError("training frames need an instance mask")
        plane = table_plane(frame)
        for truth in truths:
            det = truth.detection
            try:
                obs = observe(frame, frame.instance_mask == det.mask_id, num_points, crop_px, rng)
            except ObservationError as error:
                skipped += 1
                LOG.debug("skipping %s (mask %d): %s", det.category, det.mask_id, error)
                continue
            rows["points_m"].append((obs.points_m + obs.centroid_m).astype(np.float32))
            rows["crops"].append(obs.crop)
            rows["up"].append(up_direction(plane))
            rows["table_offset_m"].append(np.nan if plane is None else plane.offset_m)
            rows["rotation"].append(det.rotation)
            rows["translation_m"].append(det.translation_m)
            rows["size_m"].append(det.size_m)
            rows["category"].append(CATEGORIES.index(det.category))
            rows["symmetric"].append(bool(truth.symmetric))
    if skipped:
        LOG.info("skipped %d objects whose masks had too little valid depth", skipped)
    if not rows["category"]:
        raise ValueError("no usable objects in the given frames")
    return ObjectArrays(**{k: np.stack(v) if k != "category" else np.asarray(v) for k, v in rows.items()})


class PoseDataset(Dataset):
    """Augmented training samples (dict of tensors) over :class:`ObjectArrays`."""

    def __init__(self, objects: ObjectArrays, augment: AugmentConfig | None = None, seed: int = 0) -> None:
        self.objects = objects
        self.augment = augment or AugmentConfig.off()
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.objects)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (called once per epoch for reproducible resumes)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        o, a = self.objects, self.augment
        rng = np.random.default_rng((self.seed, self.epoch, index))
        points = o.points_m[index].astype(np.float64)
        rotation, translation, size = o.rotation[index], o.translation_m[index], o.size_m[index]
        up, offset = o.up[index], float(o.table_offset_m[index])
        category = CATEGORIES[int(o.category[index])]
        if a.box_deform > 0:
            stretch = rng.uniform(1 - a.box_deform, 1 + a.box_deform, size=3)
            points = translation + ((points - translation) @ rotation * stretch) @ rotation.T
            size = size * stretch
        if a.depth_noise_m > 0:
            ray = points / np.linalg.norm(points, axis=1, keepdims=True)
            points = points + ray * rng.normal(0, a.depth_noise_m, size=(len(points), 1))
        if a.jitter_m > 0:
            points = points + rng.normal(0, a.jitter_m, size=points.shape)
            points = points[rng.integers(0, len(points), len(points))]
        if a.up_noise_rad > 0:
            up = Rotation.from_rotvec(rng.normal(0, a.up_noise_rad, size=3)).apply(up)
        centroid = points.mean(axis=0)
        frame = gravity_frame(up, centroid)
        plane = None if np.isnan(offset) else TablePlane(up, offset)
        prior_rotation, prior_residual, prior_size = prior_pose(points, category, plane, frame)
        rotation = frame.T @ rotation
        if o.symmetric[index]:
            rotation = canonicalise_symmetric(rotation)
        crop = o.crops[index].astype(np.float32) / 255.0
        if a.brightness > 0 or a.contrast > 0 or a.channel_gain > 0:
            mean = crop.mean()
            crop = (crop - mean) * rng.uniform(1 - a.contrast, 1 + a.contrast) + mean
            crop = crop * rng.uniform(1 - a.brightness, 1 + a.brightness)
            crop = np.clip(crop * rng.uniform(1 - a.channel_gain, 1 + a.channel_gain, size=3), 0.0, 1.0)
        return {
            "points_m": torch.from_numpy(((points - centroid) @ frame).astype(np.float32)),
            "crop": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)),
            "rotation": torch.from_numpy(rotation.astype(np.float32)),
            "residual_m": torch.from_numpy(((translation - centroid) @ frame).astype(np.float32)),
            "size_m": torch.from_numpy(size.astype(np.float32)),
            "category": torch.tensor(int(o.category[index])),
            "prior_rotation": torch.from_numpy(prior_rotation.astype(np.float32)),
            "prior_residual_m": torch.from_numpy(prior_residual.astype(np.float32)),
            "prior_size_m": torch.from_numpy(prior_size.astype(np.float32)),
        }
