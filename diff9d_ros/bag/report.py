"""The report of a run: ``report.json`` (every number), ``report.md`` (tables, plots, overlays).

Plots (matplotlib, Agg): ``latency.png``, the end-to-end latency of every processed frame over the
run with the per-stage split stacked, and ``stage_latency.png``, a box plot per stage. The JSON
also lists every failed or dropped frame with its stage and reason, so each input is accounted for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diff9d_ros.bag.evaluate import FrameRecord


@dataclass
class RunResult:
    """Everything one run produced; ``metrics`` as :func:`evaluate_records` returns them."""

    out_dir: Path
    records: list[FrameRecord]
    wall_s: float
    metrics: dict[str, Any]
    info: dict[str, Any]
    source_error: str | None = None
    overlays: list[Path] = field(default_factory=list)
    report_path: Path | None = None


def _plots(result: RunResult) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in result.records if r.status == "ok"]
    if not ok:
        return []
    stages = [s for s in ok[0].timings_s if s != "input"]
    out = []
    fig, ax = plt.subplots(figsize=(8, 3.2))
    bottom = np.zeros(len(ok))
    x = [r.index for r in ok]
    for stage in stages:
        values = np.array([1000 * r.timings_s.get(stage, 0.0) for r in ok])
        ax.bar(x, values, bottom=bottom, label=stage, width=1.0)
        bottom += values
    ax.set_xlabel("frame")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=7, ncol=len(stages))
    fig.tight_layout()
    out.append(result.out_dir / "latency.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.boxplot([[1000 * r.timings_s.get(s, 0.0) for r in ok] for s in stages], tick_labels=stages)
    ax.set_ylabel("latency (ms)")
    fig.tight_layout()
    out.append(result.out_dir / "stage_latency.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)
    return out


def _table(rows: list[list[Any]], header: list[str], digits: int = 1) -> list[str]:
    def cell(v: Any) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _markdown(result: RunResult, plots: list[Path]) -> str:
    info, metrics = result.info, result.metrics
    tp = metrics["throughput"]
    lines = [f"# {info['title']}", ""]
    lines += [f"- source: {info['source']}"]
    if "pose_backend" in info:  # people runs start from detections
        lines += [
            f"- pose: **{info['pose_backend']}**"
            + ("" if info["pose_model"] else " — no trained Diff9D model was found; these are baseline poses")
        ]
    lines += [f"- forecasting: **{info['forecast_backend']}**"]
    lines += [f"- segmentation: {info['segmentation']}"] if "segmentation" in info else []
    lines += [
        f"- CPU threads (torch, OpenMP, BLAS): {info.get('threads', 'not set')}",
        f"- outputs: `bag/` (rosbag2: {', '.join(sorted(info['bag_topics']))}), `overlays/`, `report.json`",
        "",
    ]
    if result.source_error:
        lines += [f"**The source stopped early:** {result.source_error}", ""]
    lines += ["## Throughput and latency", ""]
    lines += _table(
        [[tp["frames_in"], tp["processed"], tp["failed"], tp["dropped"], tp["mean_fps"], tp["wall_s"]]],
        ["frames in", "processed", "failed", "dropped", "mean fps", "wall (s)"],
    )
    rows = [
        [
            "end to end",
            *(tp["latency"].get(k, float("nan")) for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms")),
        ]
    ]
    rows += [
        [s, *(v.get(k) for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms"))]
        for s, v in tp["stage_latency"].items()
    ]
    lines += ["", *_table(rows, ["stage", "mean ms", "p50 ms", "p90 ms", "p99 ms"]), ""]
    if tp["failure_reasons"]:
        lines += ["Failures (count: stage: reason):", ""]
        lines += [f"- {n}: {reason}" for reason, n in tp["failure_reasons"].items()] + [""]
    if metrics.get("pose"):
        names = list(next(iter(metrics["pose"].values())))
        lines += ["## Pose (NOCS detection AP, %)", ""]
        lines += [
            *_table([[c, *row.values()] for c, row in metrics["pose"].items()], ["category", *names]),
            "",
        ]
    if "tracking" in metrics:
        t = metrics["tracking"]
        lines += ["## Tracking", ""]
        row = [
            t["id_switches"],
            t["switches_per_object_minute"],
            t["mota"],
            t["misses"],
            t["false_positives"],
        ]
        row += [t["matched"], t["gt_instances"], t["gt_objects"]]
        header = ["id switches", "per object-minute", "MOTA", "misses", "false positives", "matched"]
        header += ["ground-truth instances", "ground-truth objects"]
        lines += [*_table([row], header, digits=2), ""]
    if "forecast" in metrics:
        f = metrics["forecast"]
        lines += ["## Forecasts (metres)", ""]
        if f.get("forecasts_scored"):
            lines += _table(
                [[f["forecasts_scored"], f["ade_m"], f["fde_m"], f["min_ade_m"], f["min_fde_m"]]],
                ["scored", "ADE", "FDE", "minADE", "minFDE"],
            )
            lines[-1] = (
                "| "
                + " | ".join(
                    [str(f["forecasts_scored"])]
                    + [f"{f[k]:.4f}" for k in ("ade_m", "fde_m", "min_ade_m", "min_fde_m")]
                )
                + " |"
            )
        else:
            lines += ["No forecast had ground truth over its whole horizon (run longer than the horizon)."]
        lines += [""]
    lines += ["## Plots and overlays", ""]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    lines += [f"![{p.stem}]({p.relative_to(result.out_dir).as_posix()})" for p in result.overlays]
    return "\n".join(lines) + "\n"


def write_report(result: RunResult) -> Path:
    """Write ``report.json``, the plots and ``report.md`` into ``result.out_dir``; returns the .md."""
    plots = _plots(result)
    payload = {
        "info": result.info,
        "source_error": result.source_error,
        "metrics": result.metrics,
        "not_processed": [
            {
                "index": r.index,
                "stamp_ns": r.stamp_ns,
                "status": r.status,
                "stage": r.stage,
                "reason": r.error,
            }
            for r in result.records
            if r.status != "ok"
        ],
        "overlays": [str(p) for p in result.overlays],
    }
    (result.out_dir / "report.json").write_text(
        json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8"
    )
    path = result.out_dir / "report.md"
    path.write_text(_markdown(result, plots), encoding="utf-8")
    return path
