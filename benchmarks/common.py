"""Shared plumbing of every ``benchmarks/NAME.py``: machine description, table printing, JSON.

Each benchmark writes ``benchmarks/results/NAME.json`` as
``{"benchmark", "machine", "quick", "rows", "targets"}`` (see docs/architecture.md, "Benchmarks").
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Target:
    """One speed or accuracy target: ``met`` is computed, never typed in."""

    name: str
    value: float
    threshold: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.value >= self.threshold
        return self.value <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def machine_info() -> dict[str, Any]:
    """CPU model, core count, torch version and compute device of this run."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
        info["device"] = "cpu"
    return info


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain fixed-width text table of ``rows`` (floats to 4 significant digits)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    body = [[cell(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in body)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def report(
    name: str,
    rows: Sequence[dict[str, Any]],
    targets: Sequence[Target],
    *,
    quick: bool,
    columns: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Print the table and the targets, write ``results/NAME.json`` and return its path."""
    print(format_table(rows, columns))
    print()
    for target in targets:
        verdict = "MET" if target.met else "MISSED"
        sign = ">=" if target.higher_is_better else "<="
        print(f"[{verdict}] {target.name}: {target.value:.4g} (target {sign} {target.threshold:.4g})")
    if quick:
        print("(quick mode: targets are informative only)")
    payload = {
        "benchmark": name,
        "machine": machine_info(),
        "quick": quick,
        "rows": list(rows),
        "targets": [t.as_dict() for t in targets],
        **(extra or {}),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if quick else ""
    path = RESULTS_DIR / f"{name}{suffix}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path
