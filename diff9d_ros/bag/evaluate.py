"""Metrics of one run of the stack over a stream with ground truth (a bag's GT topic or a render).

* **Pose**: NOCS detection AP (IoU 25/50/75, 5°2 cm ... 10°5 cm; Wang et al. CVPR 2019 Sec. 6)
  of every processed frame's detections against its ground truth
  (:func:`diff9d_ros.pose.metrics.detection_ap_table`). A GT topic does not say whether a mug's
  handle is visible, so mugs are scored with the handle visible (the strict case).
* **Tracking**: CLEAR-MOT (Bernardin & Stiefelhagen 2008): per frame, tracked detections (those
  with a track id) are matched to ground-truth objects by the Hungarian method on centre distance
  within ``gate_m``; a switch is a ground-truth object matched to a different track id than at its
  previous match; misses are unmatched ground-truth instances, false positives unmatched tracked
  detections, and MOTA = 1 - (misses + false positives + switches) / ground-truth instances.
  Switches are also given per object and minute of the stream.
* **Forecasting**: for each forecast of a matched track, ADE/FDE against the ground-truth centres
  of the object at the forecast's times: ``stamp + (i + 1) * forecast_period_s`` (a GeoTDM model's
  frame period; ground truth linearly interpolated between processed frames) or, without a period
  (constant velocity), the next ``horizon`` processed frames; averaged over the K samples, and
  minADE/minFDE (best sample), as in GeoTDM (Han et al. NeurIPS 2024, Sec. 5). Forecasts are in
  the camera frame of their input; where records carry camera poses (a moving camera whose poses
  are known), the later ground truth is moved into that frame first. With
  ``history_frames`` (people), only forecasts whose object was in the ground truth at the
  ``history_frames`` times ``stamp - k * forecast_period_s`` before them are scored: with the
  horizon, the ETH-UCY window rule (every agent present in all 8 + 12 frames).
* **Throughput** in the manner of ros2_benchmark: frames in, processed, failed (by stage and
  reason), dropped by newest-frame-wins, mean frame rate over the wall time, latency percentiles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from diff9d_ros.nocs import Detection
from diff9d_ros.pose.metrics import detection_ap_table

LATENCY_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)


@dataclass
class FrameRecord:
    """The outcome of one input frame: ``status`` is ``ok``, ``failed`` or ``dropped``."""

    index: int
    stamp_ns: int
    status: str
    stage: str | None = None
    error: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    latency_s: float = 0.0
    detections: list[Detection] = field(default_factory=list)
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    forecast_period_s: float | None = None
    grasp_count: int = 0
    truth: list[Detection] | None = None
    camera_pose: np.ndarray | None = None


def match_to_truth(
    detections: Sequence[Detection], truth: Sequence[Detection], gate_m: float
) -> dict[str, str]:
    """{ground-truth id: track id} of the Hungarian matching on centre distance within ``gate_m``
    (detections without a track id are ignored)."""
    tracked = [d for d in detections if d.track_id]
    if not tracked or not truth:
        return {}
    cost = np.linalg.norm(
        np.array([t.translation_m for t in truth])[:, None]
        - np.array([d.translation_m for d in tracked])[None],
        axis=-1,
    )
    rows, cols = linear_sum_assignment(np.where(cost <= gate_m, cost, 1e6))
    return {
        truth[r].track_id: tracked[c].track_id
        for r, c in zip(rows, cols, strict=True)
        if cost[r, c] <= gate_m
    }


def id_switches(records: Sequence[FrameRecord], gate_m: float) -> dict[str, float]:
    """CLEAR-MOT counts of the processed frames with ground truth (see the module docstring)."""
    last: dict[str, str] = {}
    switches = matched = total = false_positives = 0
    stamps = []
    for record in records:
        if record.status != "ok" or record.truth is None:
            continue
        stamps.append(record.stamp_ns)
        total += len(record.truth)
        pairs = match_to_truth(record.detections, record.truth, gate_m)
        false_positives += sum(1 for d in record.detections if d.track_id) - len(pairs)
        for gt_id, track_id in pairs.items():
            matched += 1
            if gt_id in last and last[gt_id] != track_id:
                switches += 1
            last[gt_id] = track_id
    minutes = (max(stamps) - min(stamps)) * 1e-9 / 60.0 if len(stamps) > 1 else 0.0
    misses = total - matched
    return {
        "id_switches": switches,
        "matched": matched,
        "gt_instances": total,
        "gt_objects": len(last),
        "misses": misses,
        "false_positives": false_positives,
        "mota": 1.0 - (misses + false_positives + switches) / total if total else float("nan"),
        "switches_per_object_minute": switches / (len(last) * minutes) if last and minutes > 0 else 0.0,
    }


def _future_truth(
    ok: Sequence[FrameRecord], i: int, gt_id: str, horizon: int, period_s: float | None
) -> np.ndarray | None:
    """Ground-truth centres (horizon, 3) of ``gt_id`` at the forecast times of record ``i``, in the
    camera frame of record ``i``, or None where the ground truth does not cover them."""

    to_camera_i = None if ok[i].camera_pose is None else np.linalg.inv(ok[i].camera_pose)

    def centre_of(record: FrameRecord) -> np.ndarray | None:
        centre = next((t.translation_m for t in record.truth if t.track_id == gt_id), None)
        if centre is None or record.camera_pose is None or to_camera_i is None:
            return centre
        into_i = to_camera_i @ record.camera_pose
        return into_i[:3, :3] @ centre + into_i[:3, 3]

    if period_s is None:
        future = [centre_of(r) for r in ok[i + 1 : i + 1 + horizon]]
        if len(future) < horizon or any(p is None for p in future):
            return None
        return np.array(future)
    targets_ns = ok[i].stamp_ns + np.round(period_s * 1e9 * np.arange(1, horizon + 1))
    stamps, centres = [], []
    for record in ok[i:]:
        centre = centre_of(record)
        if centre is None:
            break
        stamps.append(record.stamp_ns)
        centres.append(centre)
        if record.stamp_ns >= targets_ns[-1]:
            break
    if not stamps or stamps[-1] < targets_ns[-1]:
        return None
    times_s = (np.array(stamps) - ok[i].stamp_ns) * 1e-9
    query_s = (targets_ns - ok[i].stamp_ns) * 1e-9
    centres = np.array(centres)
    return np.stack([np.interp(query_s, times_s, centres[:, axis]) for axis in range(3)], axis=1)


def _past_covered(ok: Sequence[FrameRecord], i: int, gt_id: str, frames: int, period_s: float | None) -> bool:
    """Whether ``gt_id`` is in the ground truth of record ``i`` and of the records at the
    ``frames - 1`` earlier forecast periods (within a tenth of a period), consecutively."""
    if period_s is None:
        past = ok[max(0, i - frames + 1) : i + 1]
        return len(past) == frames and all(any(t.track_id == gt_id for t in r.truth) for r in past)
    tolerance_ns = 0.1 * period_s * 1e9
    earliest_ns = ok[i].stamp_ns - (frames - 1) * period_s * 1e9
    for record in ok[i::-1]:
        if not any(t.track_id == gt_id for t in record.truth):
            return False
        if record.stamp_ns <= earliest_ns + tolerance_ns:
            return True
    return False


def forecast_error_table(
    records: Sequence[FrameRecord], gate_m: float, history_frames: int = 0
) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """{(frame index, ground-truth id): (ADE, FDE, minADE, minFDE)} in metres of every forecast whose
    object has ground truth over the whole forecast horizon (and, with ``history_frames``, over that
    many frames up to the forecast): the forecasts :func:`forecast_errors` averages, keyed so that two
    runs over the same stream can be compared on the forecasts both made."""
    ok = [r for r in records if r.status == "ok" and r.truth is not None]
    table: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    for i, record in enumerate(ok):
        track_to_gt = {v: k for k, v in match_to_truth(record.detections, record.truth, gate_m).items()}
        for track_id, samples in record.forecasts.items():
            gt_id = track_to_gt.get(track_id)
            if gt_id is None:
                continue
            if history_frames and not _past_covered(ok, i, gt_id, history_frames, record.forecast_period_s):
                continue
            future = _future_truth(ok, i, gt_id, samples.shape[1], record.forecast_period_s)
            if future is None:
                continue
            dist = np.linalg.norm(samples - future[None], axis=-1)  # (K, T)
            ade_k = dist.mean(axis=1)
            table[(record.index, gt_id)] = (
                float(ade_k.mean()),
                float(dist[:, -1].mean()),
                float(ade_k.min()),
                float(dist[:, -1].min()),
            )
    return table


def forecast_errors(
    records: Sequence[FrameRecord], gate_m: float, history_frames: int = 0
) -> dict[str, float]:
    """Mean ADE/FDE (over K samples) and minADE/minFDE (metres) of every forecast whose object has
    ground truth over the whole forecast horizon (and, with ``history_frames``, over that many
    frames up to the forecast)."""
    return mean_forecast_errors(list(forecast_error_table(records, gate_m, history_frames).values()))


def mean_forecast_errors(errors: Sequence[tuple[float, float, float, float]]) -> dict[str, float]:
    """The means of (ADE, FDE, minADE, minFDE) rows of :func:`forecast_error_table`, with their count."""
    if not errors:
        return {"forecasts_scored": 0}
    ade, fde, min_ade, min_fde = np.asarray(errors, dtype=float).mean(axis=0)
    return {
        "forecasts_scored": len(errors),
        "ade_m": float(ade),
        "fde_m": float(fde),
        "min_ade_m": float(min_ade),
        "min_fde_m": float(min_fde),
    }


def pose_metrics(records: Sequence[FrameRecord]) -> dict[str, dict[str, float]] | None:
    """NOCS detection AP table over processed frames with ground truth (None without any)."""
    scored = [r for r in records if r.status == "ok" and r.truth]
    if not scored:
        return None
    return detection_ap_table(
        [r.detections for r in scored], [r.truth for r in scored], [[True] * len(r.truth) for r in scored]
    )


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = 1000.0 * np.asarray(values)
    out = {f"p{p}_ms": float(np.percentile(ms, p)) for p in LATENCY_PERCENTILES}
    out.update(mean_ms=float(ms.mean()), max_ms=float(ms.max()))
    return out


def throughput(records: Sequence[FrameRecord], wall_s: float) -> dict[str, Any]:
    """Counts, failure reasons, mean frame rate and latency percentiles (total and per stage)."""
    ok = [r for r in records if r.status == "ok"]
    failed = [r for r in records if r.status == "failed"]
    stages = sorted({s for r in ok for s in r.timings_s})
    reasons = Counter(f"{r.stage}: {r.error}" for r in failed)
    return {
        "frames_in": len(records),
        "processed": len(ok),
        "failed": len(failed),
        "dropped": sum(r.status == "dropped" for r in records),
        "missed": len(records) - len(ok),
        "wall_s": wall_s,
        "mean_fps": len(ok) / wall_s if wall_s > 0 else 0.0,
        "latency": _percentiles([r.latency_s for r in ok]),
        "stage_latency": {s: _percentiles([r.timings_s[s] for r in ok if s in r.timings_s]) for s in stages},
        "failure_reasons": dict(reasons.most_common()),
    }


def evaluate_records(
    records: Sequence[FrameRecord],
    wall_s: float,
    gate_m: float = 0.1,
    *,
    pose: bool = True,
    history_frames: int = 0,
) -> dict[str, Any]:
    """Every metric above; accuracy sections are absent when no frame had ground truth, the pose
    section without ``pose`` (people); ``history_frames`` as in :func:`forecast_errors`."""
    out: dict[str, Any] = {"throughput": throughput(records, wall_s)}
    if any(r.truth is not None for r in records):
        if pose:
            out["pose"] = pose_metrics(records)
        out["tracking"] = id_switches(records, gate_m)
        out["forecast"] = forecast_errors(records, gate_m, history_frames)
    return out
