"""Imperfect instance masks: what real 2-D segmenters give instead of the renderer's exact masks.

Measured on real RGB-D frames (annotated and Mask R-CNN masks alike), a mask holds 2-11 % of its
depth points 10-20 cm *behind* the object: colour and depth disagree at edges, and detectors'
masks are blobby. Each corruption here maps one object's boolean mask (H, W) to another, with
every random choice from the generator passed in:

* :func:`bleed`: 5-12 % of the mask's depth points taken from background 5-25 cm behind the
  object, on one side of it (a colour/depth misalignment; the mask grows by shifted copies of
  itself towards a random direction, keeping only pixels whose depth lies that far behind the
  nearest object pixel);
* :func:`erode_dilate`: the mask eroded or dilated by 1-4 px (3x3 square element);
* :func:`blobby`: a Mask R-CNN-like mask (He et al., "Mask R-CNN", ICCV 2017, Sec. 3): the mask
  inside a jittered box resampled to a 28x28 grid (area average), blurred, upsampled bilinearly
  to the box and thresholded at 0.5;
* :func:`partial`: part of the mask cut away by a random straight edge (50-85 % kept), as a
  detector that misses part of an object does.

:func:`corrupt_mask` draws one of them (or none). The training set observes objects through these
masks (:mod:`diff9d_ros.pose.dataset`), and ``benchmarks/robustness.py`` tests on them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

#: Fraction of the corrupted mask's depth points that bleed adds, and how far behind they lie.
BLEED_FRACTION = (0.05, 0.12)
BLEED_BEHIND_M = (0.05, 0.25)
#: Largest shift (px) of the mask bleed grows by.
BLEED_MAX_SHIFT_PX = 40
ERODE_DILATE_PX = (1, 4)
MASK_RCNN_GRID = 28
#: Detector box jitter, as a fraction of the box side, per side.
BOX_JITTER = 0.06
PARTIAL_KEEP = (0.5, 0.85)
SQUARE = np.ones((3, 3), dtype=bool)


def _check(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"a mask must be a 2-D bool array, got {mask.shape} {mask.dtype}")
    if not mask.any():
        raise ValueError("cannot corrupt an empty mask")
    return mask


def _window(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """The mask's bounding box grown by ``pad`` pixels (clipped to the image)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (
        slice(max(rows[0] - pad, 0), rows[-1] + pad + 1),
        slice(max(cols[0] - pad, 0), cols[-1] + pad + 1),
    )


def _valid(depth_m: np.ndarray) -> np.ndarray:
    return np.isfinite(depth_m) & (depth_m > 0)


def bleed(
    mask: np.ndarray,
    depth_m: np.ndarray,
    rng: np.random.Generator,
    fraction: tuple[float, float] = BLEED_FRACTION,
    behind_m: tuple[float, float] = BLEED_BEHIND_M,
) -> np.ndarray:
    """``mask`` grown on one side by background pixels ``behind_m`` behind the object, until they
    are a ``fraction`` (drawn uniformly) of the result's valid depth points, or no such pixel is
    left within :data:`BLEED_MAX_SHIFT_PX`."""
    mask = _check(mask)
    if depth_m.shape != mask.shape:
        raise ValueError(f"mask shape {mask.shape} does not match depth {depth_m.shape}")
    window = _window(mask, BLEED_MAX_SHIFT_PX + 1)
    local, depth = mask[window], depth_m[window]
    valid = _valid(depth)
    inside = local & valid
    out = mask.copy()
    if not inside.any():
        return out
    share = rng.uniform(*fraction)
    wanted = round(float(share * inside.sum() / (1.0 - share)))
    # Depth of the nearest object pixel with depth, for every pixel of the window.
    _, (near_r, near_c) = ndimage.distance_transform_edt(~inside, return_indices=True)
    behind = depth - depth[near_r, near_c]
    with np.errstate(invalid="ignore"):
        candidate = valid & ~local & (behind >= behind_m[0]) & (behind <= behind_m[1])
    angle = rng.uniform(0.0, 2.0 * np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    grown = local.copy()
    added = 0
    in_r, in_c = np.nonzero(local & ~ndimage.binary_erosion(local))  # shifted edges sweep the band
    h, w = local.shape
    for shift in range(1, BLEED_MAX_SHIFT_PX + 1):
        if added >= wanted:
            break
        dr, dc = np.round(direction * shift).astype(int)
        r, c = in_r + dr, in_c + dc
        keep = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        r, c = r[keep], c[keep]
        new = candidate[r, c] & ~grown[r, c]
        r, c = r[new], c[new]
        pick = rng.permutation(len(r))[: wanted - added]
        grown[r[pick], c[pick]] = True
        added += len(pick)
    out[window] = grown
    return out


def erode_dilate(
    mask: np.ndarray, rng: np.random.Generator, pixels: tuple[int, int] = ERODE_DILATE_PX
) -> np.ndarray:
    """``mask`` eroded or dilated (even odds) by 1-4 px; an erosion that would leave less than a
    quarter of the mask is made shallower."""
    mask = _check(mask)
    steps = int(rng.integers(pixels[0], pixels[1] + 1))
    window = _window(mask, steps + 1)
    local = mask[window]
    out = mask.copy()
    if rng.random() < 0.5:
        out[window] = ndimage.binary_dilation(local, SQUARE, iterations=steps)
        return out
    for k in range(steps, 0, -1):
        eroded = ndimage.binary_erosion(local, SQUARE, iterations=k)
        if eroded.sum() >= 0.25 * local.sum():
            out[window] = eroded
            return out
    return out


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a float image to ``shape``, pixel centres aligned."""
    rows = (np.arange(shape[0]) + 0.5) * image.shape[0] / shape[0] - 0.5
    cols = (np.arange(shape[1]) + 0.5) * image.shape[1] / shape[1] - 0.5
    grid = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(image, grid, order=1, mode="nearest")


def _area_average(image: np.ndarray, size: int) -> np.ndarray:
    """Area-average resampling of an (h, w) image to (size, size), by supersampling."""
    factor = max(1, int(np.ceil(max(image.shape) / size)))
    fine = _resize(image, (size * factor, size * factor))
    return fine.reshape(size, factor, size, factor).mean(axis=(1, 3))


def blobby(mask: np.ndarray, rng: np.random.Generator, grid: int = MASK_RCNN_GRID) -> np.ndarray:
    """A Mask R-CNN-like version of ``mask``: ``grid`` x ``grid`` in a jittered box, pasted back."""
    mask = _check(mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.array([rows[0], rows[-1] + 1, cols[0], cols[-1] + 1], dtype=float)
    side = np.array([box[1] - box[0], box[1] - box[0], box[3] - box[2], box[3] - box[2]])
    box = box + rng.uniform(-BOX_JITTER, BOX_JITTER, size=4) * side
    h, w = mask.shape
    r0, r1 = int(np.clip(np.floor(box[0]), 0, h - 1)), int(np.clip(np.ceil(box[1]), 1, h))
    c0, c1 = int(np.clip(np.floor(box[2]), 0, w - 1)), int(np.clip(np.ceil(box[3]), 1, w))
    if r1 <= r0 or c1 <= c0:
        return mask.copy()
    coarse = _area_average(mask[r0:r1, c0:c1].astype(np.float64), grid)
    coarse = ndimage.gaussian_filter(coarse, sigma=rng.uniform(0.3, 1.0))
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = _resize(coarse, (r1 - r0, c1 - c0)) >= 0.5
    return out if out.any() else mask.copy()


def partial(
    mask: np.ndarray, rng: np.random.Generator, keep: tuple[float, float] = PARTIAL_KEEP
) -> np.ndarray:
    """``mask`` cut by a straight edge of random direction, keeping a ``keep`` fraction of it."""
    mask = _check(mask)
    rows, cols = np.nonzero(mask)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    along = rows * np.sin(angle) + cols * np.cos(angle)
    cut = np.quantile(along, rng.uniform(*keep))
    out = np.zeros_like(mask)
    out[rows[along <= cut], cols[along <= cut]] = True
    return out


MaskCorruption = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]

#: The corruptions by name, each ``(mask, depth_m, rng) -> mask``.
CORRUPTIONS: dict[str, MaskCorruption] = {
    "bleed": bleed,
    "erode_dilate": lambda mask, _depth, rng: erode_dilate(mask, rng),
    "blobby": lambda mask, _depth, rng: blobby(mask, rng),
    "partial": lambda mask, _depth, rng: partial(mask, rng),
}


def corrupt_mask(
    mask: np.ndarray,
    depth_m: np.ndarray,
    rng: np.random.Generator,
    kinds: tuple[str, ...] = tuple(CORRUPTIONS),
    combine: float = 0.3,
) -> tuple[np.ndarray, str]:
    """One object's mask through a random corruption of ``kinds`` (and, with probability
    ``combine``, a second one after it, e.g. a blobby mask that also bleeds); returns the mask and
    the applied names joined by ``+``."""
    unknown = [k for k in kinds if k not in CORRUPTIONS]
    if unknown or not kinds:
        raise ValueError(f"unknown mask corruption(s) {unknown}; expected some of {tuple(CORRUPTIONS)}")
    names = [str(rng.choice(kinds))]
    if len(kinds) > 1 and rng.random() < combine:
        names.append(str(rng.choice([k for k in kinds if k != names[0]])))
    out = _check(mask)
    for name in names:
        out = CORRUPTIONS[name](out, depth_m, rng)
        if not out.any():
            return mask.copy(), "none"
    return out, "+".join(names)


def bleed_fraction(clean: np.ndarray, corrupted: np.ndarray, depth_m: np.ndarray, behind_m: float) -> float:
    """Fraction of ``corrupted``'s valid depth points outside ``clean`` that lie more than
    ``behind_m`` behind the clean mask's median depth (the measure of mask bleed)."""
    valid = _valid(depth_m)
    points = corrupted & valid
    if not points.any() or not (clean & valid).any():
        return 0.0
    median = np.median(depth_m[clean & valid])
    bled = points & ~clean & (np.where(valid, depth_m, 0.0) > median + behind_m)
    return float(bled.sum() / points.sum())
