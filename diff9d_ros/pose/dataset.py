"""Training objects from synthetic shards: observations through imperfect masks, pose targets,
background examples and augmentation.

Every ground-truth object of every frame is observed (:func:`observation.observe`, with the same
cleaning as at inference) several times and kept in an in-memory :class:`ObjectArrays` (cached as
``.npz`` beside the shards), so that cleaning and learning agree on what real masks look like
(:class:`ViewConfig`):

* through its exact rendered mask;
* through ``corrupted_views`` masks corrupted as real segmenters corrupt them
  (:func:`diff9d_ros.synth.masks.corrupt_mask`: bleed behind the object, erosion/dilation,
  Mask R-CNN-like blobby masks, partial masks), twice as many for bottles and cans lying down
  (rare in the data, and the network must learn them);
* through the built-in segmentation's mask (:func:`segmentation.segment_tabletop`) where one
  covers it (mask IoU >= ``match_iou``);
* segments that cover no object (less than ``background_overlap`` of their pixels on one:
  distractors, clutter, fragments) become examples of the category head's background class.

The torch :class:`PoseDataset` then augments each draw as Diff9D does for its synthetic-only
training (Liu et al., TPAMI 2025, Sec. 4.1; the box deformation of GPV-Pose, Di et al., CVPR 2022):

* box deformation: the points are stretched in the object's canonical frame by a random factor
  per axis and the size target with them;
* depth noise along each viewing ray, and isotropic point jitter;
* resampling of the points with replacement;
* colour jitter of the crop (brightness, contrast, per-channel gain);
* a small random tilt of the table normal that defines the gravity-aligned frame;
* a perturbation of the prior box at a random strength (:class:`observation.PriorNoise`), so
  that the network learns to correct a wrong starting box rather than copy it.

Samples are expressed in that per-object gravity-aligned frame (:func:`observation.gravity_frame`):
centred points, rotation and translation residual, and the geometric baseline's box of the
(augmented) points, the diffusion's prior mean (:func:`observation.prior_pose`).

Rotation targets of objects that are symmetric about y (bottle, bowl, can, mug with hidden
handle) are canonicalised in that frame
(:func:`~diff9d_ros.geometry.rotations.canonicalise_symmetric`), so the free turn is not penalised.
Background rows carry an identity pose and a unit prior; their pose loss is masked out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
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
from diff9d_ros.nocs import CATEGORIES, SYMMETRIC_CATEGORIES, Detection
from diff9d_ros.pose.network import BACKGROUND
from diff9d_ros.pose.observation import (
    Observation,
    ObservationError,
    PriorNoise,
    gravity_frame,
    observe,
    perturb_prior,
    prior_pose,
    up_direction,
)
from diff9d_ros.pose.segmentation import TableTop, fit_table, segment_tabletop
from diff9d_ros.synth.masks import corrupt_mask

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
    prior_noise: float = 1.0  # largest strength of the prior box perturbation (PriorNoise)

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(**{f.name: 0.0 for f in fields(cls)})


@dataclass(frozen=True)
class ViewConfig:
    """How often and through which masks each training object is observed (module docstring)."""

    corrupted_views: int = 2
    segmentation: bool = True
    match_iou: float = 0.5
    background_overlap: float = 0.2


#: Where an observation's mask came from (``ObjectArrays.source``).
SOURCES: tuple[str, ...] = ("exact", "corrupted", "segmentation", "background")


@dataclass
class ObjectArrays:
    """Observed objects, one row each: camera-frame points (M, N, 3) float32, crops (M, S, S, 3)
    uint8, the frame's table plane (normal (M, 3), offset (M,), NaN without a plane), camera-frame
    pose targets, class index (:data:`~diff9d_ros.pose.network.CLASSES`, background last),
    symmetry flag and the mask's source (index into :data:`SOURCES`)."""

    points_m: np.ndarray
    crops: np.ndarray
    up: np.ndarray
    table_offset_m: np.ndarray
    rotation: np.ndarray
    translation_m: np.ndarray
    size_m: np.ndarray
    category: np.ndarray
    symmetric: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.category)

    def save(self, path: Path) -> None:
        """Write an ``.npz`` atomically (concurrent DDP ranks may save the same cache)."""
        save_npz(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> ObjectArrays:
        with np.load(path) as data:
            missing = [f.name for f in fields(cls) if f.name not in data.files]
            if missing:
                raise ValueError(f"object cache {path} lacks {missing}: delete it to rebuild it")
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    @classmethod
    def concatenate(cls, parts: list[ObjectArrays]) -> ObjectArrays:
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def _is_lying(detection: Detection, up: np.ndarray) -> bool:
    return detection.category in ("bottle", "can") and abs(detection.rotation[:, 1] @ up) < 0.5


class _Rows:
    """Rows of an :class:`ObjectArrays` being collected."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {f.name: [] for f in fields(ObjectArrays)}

    def add(
        self,
        obs: Observation,
        plane: TablePlane | None,
        pose: tuple[np.ndarray, np.ndarray, np.ndarray],
        category: int,
        symmetric: bool,
        source: str,
    ) -> None:
        c = self.columns
        c["points_m"].append((obs.points_m + obs.centroid_m).astype(np.float32))
        c["crops"].append(obs.crop)
        c["up"].append(up_direction(plane))
        c["table_offset_m"].append(np.nan if plane is None else plane.offset_m)
        for name, value in zip(("rotation", "translation_m", "size_m"), pose, strict=True):
            c[name].append(value)
        c["category"].append(category)
        c["symmetric"].append(symmetric)
        c["source"].append(SOURCES.index(source))

    def arrays(self) -> ObjectArrays:
        if not self.columns["category"]:
            raise ValueError("no usable objects in the given frames")
        return ObjectArrays(**{k: np.stack(v) for k, v in self.columns.items()})


#: The pose of a background row: none (identity rotation, unit prior), masked out of the loss.
NO_POSE = (np.eye(3), np.zeros(3), np.full(3, 0.1))


def observe_objects(
    frames: Iterable[tuple[RGBDFrame, list[ObjectTruth]]],
    num_points: int,
    crop_px: int,
    seed: int = 0,
    total: int | None = None,
    views: ViewConfig | None = None,
) -> ObjectArrays:
    """Observe every ground-truth object of ``frames`` through the masks of ``views`` (module
    docstring); unusable masks are skipped (counted in the log)."""
    views = views or ViewConfig()
    rng = np.random.default_rng(seed)
    rows = _Rows()
    skipped = 0
    for frame, truths in tqdm(frames, total=total, desc="observing objects", unit="frame"):
        if frame.instance_mask is None:
            raise ValueError("training frames need an instance mask")
        try:
            table = fit_table(frame)  # the pipeline's default settings
        except ValueError as error:
            LOG.warning("frame without a table plane (%s): observed without one", error)
            table = None
        plane = None if table is None else table.plane
        exact = {t.detection.mask_id: frame.instance_mask == t.detection.mask_id for t in truths}
        # (mask, truth or None for background, source) of every view of this frame
        wanted: list[tuple[np.ndarray, ObjectTruth | None, str]] = []
        for truth in truths:
            mask = exact[truth.detection.mask_id]
            if not mask.any():
                continue
            wanted.append((mask, truth, "exact"))
            lying = plane is not None and _is_lying(truth.detection, plane.normal)
            for _ in range(views.corrupted_views * (2 if lying else 1)):
                wanted.append((corrupt_mask(mask, frame.depth_m, rng)[0], truth, "corrupted"))
        if views.segmentation and table is not None:
            wanted += _segment_views(frame, table, truths, exact, views)
        for mask, truth, source in wanted:
            try:
                obs = observe(frame, mask, num_points, crop_px, rng, plane)
            except ObservationError as error:
                skipped += 1
                LOG.debug("skipping a %s view: %s", source, error)
                continue
            if truth is None:
                rows.add(obs, plane, NO_POSE, BACKGROUND, False, source)
            else:
                det = truth.detection
                pose = (det.rotation, det.translation_m, det.size_m)
                rows.add(obs, plane, pose, CATEGORIES.index(det.category), bool(truth.symmetric), source)
    if skipped:
        LOG.info("skipped %d views whose masks had too little valid depth", skipped)
    return rows.arrays()


def _segment_views(
    frame: RGBDFrame,
    table: TableTop,
    truths: list[ObjectTruth],
    exact: dict[int, np.ndarray],
    views: ViewConfig,
) -> list[tuple[np.ndarray, ObjectTruth | None, str]]:
    """The built-in segmentation's masks: of the object they cover, or background."""
    labels, _ = segment_tabletop(frame, table=table)
    by_id = {t.detection.mask_id: t for t in truths}
    out: list[tuple[np.ndarray, ObjectTruth | None, str]] = []
    for k in range(1, labels.max() + 1):
        segment = labels == k
        iou = {i: np.sum(segment & m) / np.sum(segment | m) for i, m in exact.items() if m.any()}
        best = max(iou, key=iou.get, default=None)
        on_objects = sum(np.sum(segment & m) for m in exact.values()) / max(segment.sum(), 1)
        if best is not None and iou[best] >= views.match_iou:
            out.append((segment, by_id[best], "segmentation"))
        elif on_objects < views.background_overlap:
            out.append((segment, None, "background"))
    return out


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
        background = int(o.category[index]) == BACKGROUND
        if background:
            translation = points.mean(axis=0)
        if a.box_deform > 0 and not background:
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
        if background:  # no pose: an identity target and prior, masked out of the pose loss
            prior_rotation, prior_residual, prior_size = np.eye(3), np.zeros(3), size
            rotation, translation = np.eye(3), centroid
        else:
            category = CATEGORIES[int(o.category[index])]
            plane = None if np.isnan(offset) else TablePlane(up, offset)
            prior = prior_pose(points, category, plane, frame)
            strength = rng.uniform(0.0, a.prior_noise)
            prior_rotation, prior_residual, prior_size = perturb_prior(
                prior, PriorNoise(), strength, category in SYMMETRIC_CATEGORIES, rng
            )
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


#: Observed objects of a shard directory, cached beside its shards (per point count and crop size).
OBJECT_CACHE = "pose_objects_v2_n{num_points}_s{crop_px}.npz"


def load_objects(data_dirs: list[Path], num_points: int, crop_px: int, seed: int = 0) -> ObjectArrays:
    """Observed training objects of the shard directories (cached per directory)."""
    from diff9d_ros.synth.dataset import SynthDataset

    parts = []
    for data_dir in data_dirs:
        cache = data_dir / OBJECT_CACHE.format(num_points=num_points, crop_px=crop_px)
        if not cache.exists():
            total = len(SynthDataset(data_dir))
            observe_objects(read_frames(data_dir), num_points, crop_px, seed=seed, total=total).save(cache)
        parts.append(ObjectArrays.load(cache))
    return ObjectArrays.concatenate(parts)


def read_frames(data_dir: Path, limit: int | None = None) -> Iterator[tuple[RGBDFrame, list]]:
    """(RGBDFrame, ground truth) pairs of the shards in ``data_dir``."""
    from diff9d_ros.synth.dataset import SynthDataset

    dataset = SynthDataset(data_dir)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(count):
        synth_frame = dataset[index]
        yield synth_frame.frame, synth_frame.objects
