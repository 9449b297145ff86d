"""Calibration of the hypotheses' spread: does the reported uncertainty grow with the error?

With K > 1 the estimator reports each object's pose covariance from the spread of its K
perturbed hypotheses (:mod:`diff9d_ros.pose.estimator`). Two questions, answered on frames with
ground truth:

* ranking: does the spread grow with the error? Spearman's rank correlation of the reported
  rotation sigma (:func:`~diff9d_ros.pose.estimator.rotation_sigma_rad`) and the rotation error
  (and likewise for translation);
* scale: does the reported 2 sigma cover the errors? The fraction of objects whose error lies
  within twice their sigma.

:func:`fit_calibration` chooses the factors from raw spread to sigma on validation frames: the
smallest factor with which 2 sigma covers ``coverage`` of the errors there (the variance floor
of the covariance left as it is). ``diff9d pose calibrate`` stores them in the model file; they
are then reported on test frames, never fitted there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.dataset import ObjectTruth
from diff9d_ros.pose.estimator import COVARIANCE_FLOOR, Calibration, rotation_sigma_rad
from diff9d_ros.pose.evaluate import MaskSource, Method, exact_masks
from diff9d_ros.pose.metrics import pose_error
from diff9d_ros.pose.train import update_checkpoint

#: Share of errors the reported 2 sigma is calibrated to cover on validation frames.
DEFAULT_COVERAGE = 0.85


@dataclass(frozen=True)
class SpreadSample:
    """One object's error and reported uncertainty (radians, metres)."""

    category: str
    rotation_error_rad: float
    rotation_sigma_rad: float
    translation_error_m: float
    translation_sigma_m: float


def translation_sigma_m(detection: Detection) -> float:
    """The reported standard deviation (m) of a detection's position (root of the covariance trace)."""
    return float(np.sqrt(np.trace(detection.covariance[:3, :3])))


def spread_samples(
    frames: Iterable[tuple[RGBDFrame, Sequence[ObjectTruth]]],
    method: Method,
    masks_of: MaskSource = exact_masks,
) -> list[SpreadSample]:
    """Error and reported sigma of every visible object that ``method`` estimates, given the masks
    ``masks_of`` makes (default: the exact masks) and the true categories."""
    out = []
    for frame, all_truths in frames:
        truths = [t for t in all_truths if t.visible_pixels > 0]
        masks = masks_of(frame, truths)
        categories = {i: t.detection.category for t in truths if (i := t.detection.mask_id) in masks}
        by_id = {d.mask_id: d for d in method(frame, masks, categories)}
        for truth in truths:
            det = by_id.get(truth.detection.mask_id)
            if det is None:
                continue
            handle = truth.detection.category != "mug" or not truth.symmetric
            error = pose_error(det, truth.detection, handle)
            out.append(
                SpreadSample(
                    truth.detection.category,
                    float(np.radians(error.rotation_deg)),
                    rotation_sigma_rad(det),
                    error.translation_cm / 100.0,
                    translation_sigma_m(det),
                )
            )
    return out


def _scale_for(errors: np.ndarray, raw_sigma: np.ndarray, floor: float, coverage: float) -> float:
    """Smallest factor a with fraction(error <= 2 sqrt(a^2 (raw^2 - floor) + floor)) >= coverage."""
    spread2 = np.maximum(raw_sigma**2 - floor, 1e-12)
    needed2 = np.maximum((errors / 2.0) ** 2 - floor, 0.0) / spread2  # a^2 that covers each error
    return float(np.sqrt(np.quantile(needed2, coverage)))


def fit_calibration(samples: Sequence[SpreadSample], coverage: float = DEFAULT_COVERAGE) -> Calibration:
    """Factors from the raw spread (samples measured with a neutral calibration) such that 2 sigma
    covers ``coverage`` of the rotation and of the translation errors."""
    if not samples:
        raise ValueError("fit_calibration: no samples")
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    arrays = {k: np.array([getattr(s, k) for s in samples]) for k in asdict(samples[0]) if k != "category"}
    rotation = _scale_for(
        arrays["rotation_error_rad"], arrays["rotation_sigma_rad"], COVARIANCE_FLOOR[3:].sum(), coverage
    )
    translation = _scale_for(
        arrays["translation_error_m"], arrays["translation_sigma_m"], COVARIANCE_FLOOR[:3].sum(), coverage
    )
    return Calibration(max(rotation, 1e-3), max(translation, 1e-3))


def _rescale(raw_sigma: float, scale: float, floor: float) -> float:
    return float(np.sqrt(scale**2 * max(raw_sigma**2 - floor, 0.0) + floor))


def apply_calibration(samples: Sequence[SpreadSample], calibration: Calibration) -> list[SpreadSample]:
    """The samples with the sigmas ``calibration`` would have reported (samples measured raw)."""
    rot_floor, trans_floor = COVARIANCE_FLOOR[3:].sum(), COVARIANCE_FLOOR[:3].sum()
    return [
        SpreadSample(
            s.category,
            s.rotation_error_rad,
            _rescale(s.rotation_sigma_rad, calibration.rotation_scale, rot_floor),
            s.translation_error_m,
            _rescale(s.translation_sigma_m, calibration.translation_scale, trans_floor),
        )
        for s in samples
    ]


def calibration_report(samples: Sequence[SpreadSample]) -> dict[str, float]:
    """Coverage of 2 sigma (percent) and Spearman correlations of sigma and error, rotation and
    translation, over ``samples``."""
    if len(samples) < 3:
        raise ValueError(f"calibration_report needs at least 3 samples, got {len(samples)}")
    rot_err = np.array([s.rotation_error_rad for s in samples])
    rot_sig = np.array([s.rotation_sigma_rad for s in samples])
    trans_err = np.array([s.translation_error_m for s in samples])
    trans_sig = np.array([s.translation_sigma_m for s in samples])
    return {
        "objects": len(samples),
        "rotation_within_2sigma_pct": 100.0 * float(np.mean(rot_err <= 2.0 * rot_sig)),
        "translation_within_2sigma_pct": 100.0 * float(np.mean(trans_err <= 2.0 * trans_sig)),
        "rotation_spearman": float(spearmanr(rot_sig, rot_err).statistic),
        "translation_spearman": float(spearmanr(trans_sig, trans_err).statistic),
        "median_rotation_sigma_deg": float(np.degrees(np.median(rot_sig))),
        "median_rotation_error_deg": float(np.degrees(np.median(rot_err))),
    }


def write_calibration(model: str | Path, calibration: Calibration, info: dict | None = None) -> None:
    """Store ``calibration`` (and where it came from) in the model file, atomically."""
    update_checkpoint(model, {"calibration": asdict(calibration), "calibration_info": dict(info or {})})
