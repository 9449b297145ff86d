"""Frame -> 9-DoF detections: observation, DDIM sampling of K hypotheses, robust pose and spread.

Inference of Diff9D (Liu et al., TPAMI 2025, Sec. 3.4): each object's pose is sampled from the
conditional diffusion model with deterministic DDIM (Song et al. 2021) in a few steps (3 by
default), every object and hypothesis of a frame in one batch, starting from the prior mean (the
geometric baseline's box, :func:`observation.prior_pose`) plus Gaussian noise.

Hypotheses that know when they are wrong: the K hypotheses of an object differ not only in the
diffusion noise (to which a 3-step deterministic sampler is almost blind) but in what they are
given. Hypothesis 0 reads the object as it is; hypotheses 1..K-1 each read it through the mask
eroded or dilated by up to :data:`MASK_JITTER_PX` pixels, a fresh resampling of its points, and
a prior box perturbed by :class:`~diff9d_ros.pose.observation.PriorNoise` (test-time
augmentation; the network was trained on the same perturbations). Where the observation pins
the pose down they agree; where the answer hangs on the mask edge or on the starting box, they
spread. Per object the K hypotheses give

* the pose: rotation mean on SO(3) (chordal, turned about y first for symmetric categories),
  mean translation, geometric-mean size;
* the 6x6 covariance (x, y, z, rot x, rot y, rot z) of the hypotheses around that pose, scaled by
  the model's calibration (``calibration`` in the checkpoint, fitted on validation frames by
  ``diff9d pose calibrate`` so that 2 sigma covers the intended share of errors), plus a small
  floor, as ROS ``PoseWithCovariance`` expects;
* the score: the category probability divided by ``1 + spread``, the spread the RMS rotation
  deviation over ``SCORE_ROT_SCALE_RAD`` plus the RMS translation deviation over
  ``SCORE_TRANS_SCALE_M``.

Objects come from the given masks (or the frame's instance mask) and categories (names in any
case, or NOCS class ids), otherwise from the built-in tabletop segmentation and the network's
category head: segments the head calls background, or whose score is under ``min_score``, are
dropped, and so is a classified segment that is a second segment of an object already detected
(:func:`second_segments`: a laptop's lid and base split by a depth hole, both called laptop, would
be two laptops for a tracker and for a grasp planner). Every entry point validates its input and
raises ValueError naming the problem; masks that are well formed but unusable (empty, too little
valid depth) are skipped with a logged reason. The frame's table plane is fitted once (or passed
in) and shared by every object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation

from diff9d_ros.device import torch_device
from diff9d_ros.diffusion.parametrisation import Denoiser
from diff9d_ros.diffusion.samplers import resolve_timesteps, sample
from diff9d_ros.geometry.camera import RGBDFrame, instance_masks
from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.geometry.rotations import rotation_mean
from diff9d_ros.nocs import (
    CATEGORIES,
    FRONT_ON_X,
    LYING_CATEGORIES,
    SYMMETRIC_CATEGORIES,
    Detection,
    category_name,
)
from diff9d_ros.pose.engines import PoseRunner, pose_engine
from diff9d_ros.pose.faces import turn_onto_faces
from diff9d_ros.pose.handle import turn_to_handle
from diff9d_ros.pose.lying import align_to_axis, lying_box_axis, measured_axis
from diff9d_ros.pose.network import BACKGROUND, POSE_DIM, PREDICTION, PoseNetwork
from diff9d_ros.pose.observation import (
    Observation,
    ObservationError,
    PriorNoise,
    as_mask,
    gravity_frame,
    observe,
    perturb_prior,
    prior_pose,
    up_direction,
)
from diff9d_ros.pose.segmentation import SegmentationConfig, segment_tabletop, table_plane
from diff9d_ros.pose.top_end import TopEndClassifier, classifiers_from_checkpoint
from diff9d_ros.pose.train import load_checkpoint, make_schedule, network_from_checkpoint
from diff9d_ros.pose.upright import stand_upright
from diff9d_ros.pose.warm_start import Remembered, WarmStartMemory, last_pose_prior

LOG = logging.getLogger(__name__)

SCORE_ROT_SCALE_RAD = np.radians(10.0)
SCORE_TRANS_SCALE_M = 0.02
#: Variance floor of the covariance (m^2 for translation, rad^2 for rotation).
COVARIANCE_FLOOR = np.array([1e-6] * 3 + [1e-4] * 3)
#: Largest erosion/dilation (px) of a hypothesis' mask.
MASK_JITTER_PX = 2


#: The DDIM spacing of the shipped model, chosen on validation data: stressed masks and tracking
#: streams beside exact masks (models/diff9d_pose.md, docs/tracking.md).
DEFAULT_SPACING = "trailing"


@dataclass
class SamplerConfig:
    """How poses are sampled: DDIM steps, their timesteps (a spacing or a named schedule), K
    hypotheses, the strength of their perturbation (0: noise only), the score under which a
    detection of the built-in segmentation is dropped, whether a lying bottle or can takes its
    axis from its points (:mod:`diff9d_ros.pose.lying`), whether a standing object takes the
    table's normal as its y axis (:mod:`diff9d_ros.pose.upright`), whether a standing camera or
    laptop takes its heading from the faces its points show (:mod:`diff9d_ros.pose.faces`) and
    whether a standing mug turns onto the handle its points show (:mod:`diff9d_ros.pose.handle`)."""

    num_steps: int = 3
    timesteps: str | None = None  # None: DEFAULT_SPACING (one step: trailing), see :attr:`spacing`
    hypotheses: int = 1
    seed: int = 0
    perturbation: float = 1.0
    min_score: float = 0.86  # chosen on validation clutter frames (docs/pose.md)
    align_lying: bool = True  # a lying bottle's or can's axis from its points (:mod:`.lying`)
    align_upright: bool = True  # a standing object's y axis on the table normal (:mod:`.upright`)
    align_faces: bool = True  # a standing camera's or laptop's heading from its faces (:mod:`.faces`)
    align_handle: bool = True  # a standing mug's handle direction from its points (:mod:`.handle`)

    def __post_init__(self) -> None:
        if self.num_steps == 1 and self.timesteps in ("leading", "linspace"):
            raise ValueError(
                f"one DDIM step on the {self.timesteps} spacing runs at t = 0 (pure noise taken for a clean "
                "pose); use timesteps='trailing' for one step"
            )

    @property
    def spacing(self) -> str:
        """The timesteps sampled: :attr:`timesteps` if given, else :data:`DEFAULT_SPACING`, except
        for a single step (``trailing``: the single step of ``linspace`` is at t = 0)."""
        if self.timesteps is not None:
            return self.timesteps
        return "trailing" if self.num_steps == 1 else DEFAULT_SPACING


@dataclass(frozen=True)
class Calibration:
    """Factors from the hypotheses' spread to the reported standard deviations (rotation,
    translation), fitted on validation frames (``diff9d pose calibrate``)."""

    rotation_scale: float = 1.0
    translation_scale: float = 1.0

    @classmethod
    def from_checkpoint(cls, payload: dict) -> Calibration:
        values = payload.get("calibration") or {}
        try:
            calibration = cls(**{k: float(v) for k, v in values.items()})
        except TypeError as error:
            raise ValueError(f"checkpoint calibration {values} is not understood: {error}") from error
        if not (calibration.rotation_scale > 0 and calibration.translation_scale > 0):
            raise ValueError(f"checkpoint calibration must be positive, got {values}")
        return calibration


@dataclass
class _Object:
    """One object's K observations (hypothesis 0 unperturbed) and its camera-frame points."""

    mask_id: int
    category: str | None
    observations: list[Observation]


def validate_masks(
    frame: RGBDFrame, masks: dict[int, np.ndarray], categories: dict
) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Masks as bool arrays and categories as NOCS names; ValueError naming the bad mask id,
    shape, dtype or category."""
    if not isinstance(masks, dict):
        raise ValueError(f"masks must be a dict of id -> (H, W) bool mask, got {type(masks).__name__}")
    shape = frame.depth_m.shape
    checked = {}
    for mask_id, mask in masks.items():
        if isinstance(mask_id, (bool, np.bool_)) or not isinstance(mask_id, (int, np.integer)):
            raise ValueError(f"mask ids must be integers, got {mask_id!r}")
        checked[int(mask_id)] = as_mask(mask, shape, f"mask {mask_id}")
    names = {}
    for mask_id, label in (categories or {}).items():
        try:
            names[int(mask_id)] = category_name(label)
        except ValueError as error:
            raise ValueError(f"mask {mask_id}: {error}") from error
    return checked, names


def jitter_mask(mask: np.ndarray, rng: np.random.Generator, max_px: int = MASK_JITTER_PX) -> np.ndarray:
    """``mask`` eroded or dilated by 0..``max_px`` pixels (3x3 element), worked on its bounding
    window; an erosion that empties it is undone."""
    steps = int(rng.integers(0, max_px + 1))
    if steps == 0:
        return mask
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pad = steps + 1
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])
    window = mask[r0:r1, c0:c1]
    square = np.ones((3, 3), dtype=bool)
    if rng.random() < 0.5:
        changed = ndimage.binary_dilation(window, square, iterations=steps)
    else:
        changed = ndimage.binary_erosion(window, square, iterations=steps)
        if not changed.any():
            return mask
    out = mask.copy()
    out[r0:r1, c0:c1] = changed
    return out


class PoseEstimator:
    """Diff9D pose estimation of every object of an RGB-D frame."""

    def __init__(
        self,
        network: PoseNetwork,
        schedule: str,
        sampler: SamplerConfig,
        calibration: Calibration | None = None,
        segmentation: SegmentationConfig | None = None,
        device: str = "cpu",
        engine: str = "torch",
        top_ends: dict[str, TopEndClassifier] | None = None,
    ) -> None:
        self.device = torch_device(device)
        self.network = network.to(self.device).eval()
        self.schedule = make_schedule(schedule)
        self.use_engine(*pose_engine(self.network, engine, self.device))
        self.sampler = sampler
        self.calibration = calibration or Calibration()
        self.segmentation = segmentation or SegmentationConfig()
        self.top_ends = dict(top_ends or {})
        missing = sorted(LYING_CATEGORIES - set(self.top_ends))
        if missing:
            LOG.warning(
                "the model holds no top-end classifier for %s (`diff9d pose fit-top-end`): "
                "the top of such an object lying down is the network's guess",
                " or ".join(missing),
            )
        if sampler.hypotheses < 1 or sampler.num_steps < 1:
            raise ValueError(f"hypotheses and num_steps must be >= 1, got {sampler}")

    @property
    def timesteps(self) -> torch.Tensor:
        """The cold chain's DDIM timesteps (descending) of :attr:`sampler`."""
        return resolve_timesteps(self.schedule.num_steps, self.sampler.num_steps, self.sampler.spacing)

    def use_engine(self, engine: PoseRunner, name: str) -> None:
        """Run the network with ``engine`` (anything called like the network:
        :class:`~diff9d_ros.pose.engines.PoseRunner`), reported as ``name``."""
        self.engine, self.engine_name = engine, name
        self.denoiser = Denoiser(engine, self.schedule, PREDICTION)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        sampler: SamplerConfig | None = None,
        segmentation: SegmentationConfig | None = None,
        device: str = "cpu",
        engine: str = "torch",
    ) -> PoseEstimator:
        """Load a checkpoint written by ``diff9d pose train`` onto ``device`` and run it with
        ``engine`` (:mod:`diff9d_ros.pose.engines`); ValueError if corrupt or mismatched, or the
        device or engine is not available (:func:`~diff9d_ros.device.torch_device`)."""
        payload = load_checkpoint(path)
        network = network_from_checkpoint(payload)
        train_config = payload.get("train_config", {})
        return cls(
            network,
            train_config.get("schedule", "linear"),
            sampler or SamplerConfig(),
            Calibration.from_checkpoint(payload),
            segmentation,
            device,
            engine,
            classifiers_from_checkpoint(payload),
        )

    def _observe(
        self,
        frame: RGBDFrame,
        masks: dict[int, np.ndarray],
        categories: dict[int, str],
        plane: TablePlane | None,
    ) -> list[_Object]:
        cfg, k = self.network.config, self.sampler.hypotheses
        rng = np.random.default_rng(self.sampler.seed)
        objects = []
        for mask_id, mask in masks.items():
            try:
                first = observe(frame, mask, cfg.num_points, cfg.crop_px, rng, plane)
            except ObservationError as error:
                LOG.warning("skipping mask %d: %s", mask_id, error)
                continue
            views = [first]
            for _ in range(1, k):
                jittered = jitter_mask(mask, rng) if self.sampler.perturbation > 0 else mask
                try:
                    views.append(observe(frame, jittered, cfg.num_points, cfg.crop_px, rng, plane))
                except ObservationError:
                    views.append(first)
            objects.append(_Object(mask_id, categories.get(mask_id), views))
        return objects

    @torch.no_grad()
    def estimate(self, frame: RGBDFrame, plane: TablePlane | None = None) -> list[Detection]:
        """Detections of the objects of ``frame``: of its instance mask and categories when it has
        them, else of the built-in segmentation (which also fits the table plane); ValueError if
        the frame is malformed."""
        frame.validate()
        if frame.instance_mask is None:
            instance_mask, plane = segment_tabletop(frame, self.segmentation, self.sampler.seed)
            categories: dict[int, str] = {}
        else:
            instance_mask, categories = frame.instance_mask, frame.categories
        return self.estimate_masks(frame, instance_masks(instance_mask), categories, plane)

    @torch.no_grad()
    def estimate_masks(
        self,
        frame: RGBDFrame,
        masks: dict[int, np.ndarray],
        categories: dict,
        plane: TablePlane | None = None,
        memory: WarmStartMemory | None = None,
    ) -> list[Detection]:
        """Detections of the objects under ``masks`` (id -> bool (H, W)) on the table ``plane``
        (fitted here when None). ``categories`` maps ids to NOCS names (any case) or class ids;
        masks without one are classified by the network, and dropped when it calls them
        background or their score is under ``min_score``, or when they are a second segment of an
        object detected with a higher score (:func:`second_segments`). With a ``memory`` of the stream's last
        frame, objects seen there start from their last pose (:mod:`.warm_start`) and the
        detections are remembered for the next frame."""
        frame.validate()
        masks, names = validate_masks(frame, masks, categories)
        if plane is None:
            plane = table_plane(frame, self.segmentation)
        objects = self._observe(frame, masks, names, plane)
        if not objects:
            return []
        net, k = self.network, self.sampler.hypotheses
        up = up_direction(plane)
        views = [view for obj in objects for view in obj.observations]
        frames = np.stack([gravity_frame(up, view.centroid_m) for view in views])
        points = np.stack([view.points_m @ g for view, g in zip(views, frames, strict=True)])
        crops = np.stack([view.crop for view in views])
        device = self.device
        cond = self.engine.encode(
            torch.from_numpy(points.astype(np.float32)).to(device),
            torch.from_numpy(crops.astype(np.float32) / 255.0).permute(0, 3, 1, 2).to(device),
        )
        probs = (
            torch.softmax(self.engine.classify(cond), dim=1)
            .cpu()
            .numpy()
            .reshape(len(objects), k, -1)
            .mean(axis=1)
        )
        lasts: list[Remembered | None] = [None] * len(objects)
        if memory is not None:
            memory.begin(frame.stamp_ns)
            lasts = [memory.match(obj.observations[0].centroid_m) for obj in objects]
        keep, cat_names, cat_prob = [], [], []
        for i, obj in enumerate(objects):
            if obj.category is not None:
                keep.append(i)
                cat_names.append(obj.category)
                cat_prob.append(1.0)
                continue
            best = int(probs[i, :BACKGROUND].argmax())
            if int(probs[i].argmax()) == BACKGROUND:
                LOG.info("mask %d is background (p = %.2f): dropped", obj.mask_id, probs[i, BACKGROUND])
                continue
            keep.append(i)
            cat_names.append(CATEGORIES[best])
            cat_prob.append(float(probs[i, best]))
        if not keep:
            return []
        rows = np.concatenate([np.arange(i * k, (i + 1) * k) for i in keep])
        category = torch.tensor([CATEGORIES.index(c) for c in cat_names], device=device).repeat_interleave(k)
        rng = np.random.default_rng(self.sampler.seed + 1)
        priors, starts = [], []  # starts: the warm rows' last poses, in row order
        lying_axes: list[np.ndarray | None] = []  # per kept object: its lying starting box's axis
        certain: list[bool] = []  # per kept object: whether its extents alone say it lies
        signed: list[bool] = []  # per kept object: whether its lying axis is signed to its top
        warm = np.zeros(len(rows), dtype=bool)
        cold_timesteps = self.timesteps
        warm_start_step = memory.config.chain_start(cold_timesteps) if memory is not None else 0
        for j, name in enumerate(cat_names):
            seen = lasts[keep[j]]
            warm_start = warm_start_step > 0 and seen is not None and seen.detection.category == name
            warm[j * k : (j + 1) * k] = warm_start
            for row in rows[j * k : (j + 1) * k]:
                view, frame_g = views[row], frames[row]
                prior = prior_pose(view.points_m + view.centroid_m, name, plane, frame_g)
                if row % k == 0:  # the unperturbed row; a box lies only on a fitted table
                    lying = plane is not None and self.sampler.align_lying
                    axis = lying_box_axis(name, frame_g @ prior[0][:, 1], up) if lying else None
                    sure = top_known = False
                    if axis is not None:  # line, top, certainty: all its points
                        top_end = self.top_ends.get(name)
                        axis, top_known, sure = measured_axis(view.cleaned_m, axis, plane, top_end)
                    lying_axes.append(axis)
                    certain.append(sure)
                    signed.append(top_known)
                strength = self.sampler.perturbation if row % k else 0.0
                priors.append(perturb_prior(prior, PriorNoise(), strength, name in SYMMETRIC_CATEGORIES, rng))
                if warm_start:
                    starts.append(last_pose_prior(seen.detection, view.centroid_m, frame_g))

        def encoded(poses: list[tuple[np.ndarray, ...]], rows_category: torch.Tensor) -> torch.Tensor:
            parts = (
                torch.from_numpy(np.stack(p).astype(np.float32)).to(device) for p in zip(*poses, strict=True)
            )
            return net.codec.encode(*parts, rows_category)

        prior = encoded(priors, category)
        x0 = torch.empty_like(prior)
        cond_rows = cond[torch.from_numpy(rows).to(device)]
        generator = torch.Generator(device=device).manual_seed(self.sampler.seed)
        for chain in (~warm, warm):
            if not chain.any():
                continue
            chosen = torch.from_numpy(chain).to(device)
            x0[chosen] = sample(
                "ddim",
                self.denoiser,
                (int(chain.sum()), POSE_DIM),
                self.sampler.num_steps,
                timesteps=cold_timesteps,
                extra_args={"cond": cond_rows[chosen], "category": category[chosen], "prior": prior[chosen]},
                prior_mean=prior[chosen],
                generator=generator,
                device=device,
                start_step=warm_start_step if chain is warm else 0,
                start_from=encoded(starts, category[chosen]) if chain is warm else None,
            )
        rotation, residual, size = (v.double().cpu().numpy() for v in net.codec.decode(x0, category))
        out, remembered, classified = [], [], []
        for j, i in enumerate(keep):
            span = slice(j * k, (j + 1) * k)
            g = frames[rows[span]]
            rots = g @ rotation[span]
            centroids = np.stack([views[r].centroid_m for r in rows[span]])
            trans = centroids + np.einsum("kij,kj->ki", g, residual[span])
            mask_id = objects[i].mask_id
            detection = self._summarise(cat_names[j], cat_prob[j], mask_id, rots, trans, size[span])
            if lying_axes[j] is not None:
                detection = align_to_axis(detection, lying_axes[j], signed[j], certain[j])
            if plane is not None and self.sampler.align_upright:  # a lying axis is far from up: kept
                detection = stand_upright(detection, up)
            if plane is not None and self.sampler.align_faces and cat_names[j] in FRONT_ON_X:
                detection = turn_onto_faces(detection, views[rows[j * k]].cleaned_m, up)
            if plane is not None and self.sampler.align_handle and cat_names[j] == "mug":
                detection = turn_to_handle(detection, views[rows[j * k]].cleaned_m, up)
            if objects[i].category is None and detection.score < self.sampler.min_score:
                LOG.info(
                    "mask %d: %s score %.2f < %.2f: dropped",
                    detection.mask_id,
                    detection.category,
                    detection.score,
                    self.sampler.min_score,
                )
                continue
            out.append(detection)
            classified.append(objects[i].category is None)
            remembered.append(Remembered(objects[i].observations[0].centroid_m, detection))
        seconds = second_segments(out, classified)
        for n in seconds:
            LOG.info("mask %d: a second segment of a detected %s: dropped", out[n].mask_id, out[n].category)
        out = [d for n, d in enumerate(out) if n not in seconds]
        remembered = [r for n, r in enumerate(remembered) if n not in seconds]
        if memory is not None:
            memory.remember(frame.stamp_ns, remembered)
        return out

    def _summarise(
        self, category: str, prob: float, mask_id: int, rots: np.ndarray, trans: np.ndarray, sizes: np.ndarray
    ) -> Detection:
        symmetric = category in SYMMETRIC_CATEGORIES
        r_mean = rotation_mean(rots, symmetric=symmetric)
        t_mean = trans.mean(axis=0)
        dev_rot = Rotation.from_matrix(rots @ r_mean.T).as_rotvec()
        if symmetric:  # the free turn about the object's y axis is not uncertainty
            axis = r_mean[:, 1]
            dev_rot = dev_rot - np.outer(dev_rot @ axis, axis)
        dev = np.concatenate([trans - t_mean, dev_rot], axis=1)
        scale = np.repeat([self.calibration.translation_scale, self.calibration.rotation_scale], 3)
        covariance = (dev.T @ dev / len(dev)) * np.outer(scale, scale) + np.diag(COVARIANCE_FLOOR)
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


def second_segments(detections: list[Detection], classified: list[bool]) -> set[int]:
    """Indices of the ``classified`` detections (categories from the network, not given) that are
    a second segment of an object detected with a higher score: the same category, and one's
    centre inside the other's box. Non-maximum suppression in 3-D by box containment rather than
    IoU: the network sizes a partial segment (a laptop's lid) as the whole object, so the two
    boxes share the object's centre region while their overlap depends on each one's pose error."""
    order = sorted(range(len(detections)), key=lambda n: -detections[n].score)
    kept: list[Detection] = []
    out = set()
    for n in order:
        detection = detections[n]
        if classified[n] and any(
            other.category == detection.category
            and (other.contains(detection.translation_m) or detection.contains(other.translation_m))
            for other in kept
        ):
            out.add(n)
        else:
            kept.append(detection)
    return out


def rotation_sigma_rad(detection: Detection) -> float:
    """The reported standard deviation (rad) of a detection's rotation: the root of the trace of
    its rotation covariance (RMS angle of the hypotheses about their mean, calibrated)."""
    return float(np.sqrt(np.trace(detection.covariance[3:, 3:])))
