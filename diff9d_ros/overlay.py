"""What the stack saw and decided, drawn on the RGB image: boxes, grasps and forecast paths (PNG).

* ground-truth boxes (when known) in green, detected boxes in the category colours of the RViz
  markers (:data:`diff9d_ros.nocs.CATEGORY_COLOURS`), labelled with category, track id
  and score;
* the best grasp of each object as a gripper outline: the two finger pads at the grasp width
  (closing axis y of the TCP frame), the palm behind them and the approach stub along -z;
* each track's forecast: every sample as a thin line, the sample mean as a thick one, starting at
  the track's current centre.

Everything is projected through the frame's pinhole intrinsics; points behind the camera are
skipped. Drawing uses Pillow (a matplotlib dependency), so an overlay costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from diff9d_ros.geometry.boxes import BOX_EDGES, box_corners
from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.nocs import CATEGORY_COLOURS, Detection

TRUTH_COLOUR = (40, 220, 60)
GRASP_COLOUR = (255, 230, 0)
FORECAST_COLOUR = (255, 60, 200)
#: Gripper outline in the TCP frame: finger length and approach stub (metres).
FINGER_LENGTH_M = 0.045
APPROACH_STUB_M = 0.05
MIN_DEPTH_M = 0.05


def _rgb255(category: str) -> tuple[int, int, int]:
    r, g, b, _ = CATEGORY_COLOURS.get(category, (1.0, 0.3, 0.3, 1.0))
    return round(255 * r), round(255 * g), round(255 * b)


def _project(intrinsics: Intrinsics, points_m: np.ndarray) -> np.ndarray | None:
    points_m = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(points_m)) or np.any(points_m[:, 2] <= MIN_DEPTH_M):
        return None
    return intrinsics.project(points_m)


def _polyline(draw: ImageDraw.ImageDraw, uv: np.ndarray, colour: tuple[int, ...], width: int) -> None:
    draw.line([tuple(p) for p in uv.tolist()], fill=colour, width=width)


def _box(
    draw: ImageDraw.ImageDraw, intrinsics: Intrinsics, det: Detection, colour: tuple[int, int, int]
) -> None:
    uv = _project(intrinsics, box_corners(det.rotation, det.translation_m, det.size_m))
    if uv is None:
        return
    for a, b in BOX_EDGES:
        _polyline(draw, uv[[a, b]], colour, 2)


def _label(det: Detection) -> str:
    track = f" #{det.track_id}" if det.track_id else ""
    return f"{det.category}{track} {det.score:.2f}"


def _grasp(draw: ImageDraw.ImageDraw, intrinsics: Intrinsics, pose: np.ndarray, width_m: float) -> None:
    half = width_m / 2.0
    local = np.array(
        [
            [0.0, half, 0.0],
            [0.0, half, -FINGER_LENGTH_M],
            [0.0, -half, -FINGER_LENGTH_M],
            [0.0, -half, 0.0],
            [0.0, 0.0, -FINGER_LENGTH_M],
            [0.0, 0.0, -FINGER_LENGTH_M - APPROACH_STUB_M],
        ]
    )
    uv = _project(intrinsics, local @ pose[:3, :3].T + pose[:3, 3])
    if uv is None:
        return
    _polyline(draw, uv[:4], GRASP_COLOUR, 3)
    _polyline(draw, uv[4:], GRASP_COLOUR, 2)


def draw_overlay(
    frame: RGBDFrame,
    detections: Sequence[Detection],
    *,
    grasps: Mapping[int, Sequence[Any]] | None = None,
    forecasts: Mapping[str, np.ndarray] | None = None,
    truth: Sequence[Detection] | None = None,
    caption: str = "",
) -> np.ndarray:
    """The overlay image (H, W, 3) uint8; ``grasps`` by detection index (best first), ``forecasts``
    by track id as samples (K, T, 3)."""
    image = Image.fromarray(np.ascontiguousarray(frame.rgb))
    draw = ImageDraw.Draw(image)
    k = frame.intrinsics
    for det in truth or ():
        _box(draw, k, det, TRUTH_COLOUR)
    centres = {}
    for det in detections:
        colour = _rgb255(det.category)
        _box(draw, k, det, colour)
        uv = _project(k, det.translation_m[None])
        if uv is not None:
            draw.text((float(uv[0, 0]) + 4, float(uv[0, 1]) - 12), _label(det), fill=colour)
        if det.track_id:
            centres[det.track_id] = det.translation_m
    for index, per_object in (grasps or {}).items():
        if per_object and 0 <= index < len(detections):
            _grasp(draw, k, np.asarray(per_object[0].pose), float(per_object[0].width_m))
    for track_id, samples in (forecasts or {}).items():
        samples = np.asarray(samples, dtype=np.float64)
        start = centres.get(track_id)
        paths = [(path, 1) for path in samples] + [(samples.mean(axis=0), 3)]
        for path, width in paths:
            uv = _project(k, path if start is None else np.vstack([start, path]))
            if uv is not None:
                _polyline(draw, uv, FORECAST_COLOUR, width)
    if caption:
        draw.rectangle((0, 0, 8 + 6 * len(caption), 14), fill=(0, 0, 0))
        draw.text((4, 2), caption, fill=(255, 255, 255))
    return np.asarray(image)


def save_overlay(path: str | Path, image: np.ndarray) -> Path:
    """Write an overlay image as PNG (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
