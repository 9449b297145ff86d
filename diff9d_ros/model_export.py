"""The shared handler of ``diff9d pose export`` and ``diff9d traj export``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

LOG = logging.getLogger(__name__)


def run_export(export_weights: Callable[[Path, Path], dict], checkpoint: str | Path, out: str | Path) -> int:
    """The handler of ``diff9d pose export`` and ``diff9d traj export``: write the shippable model
    file with ``export_weights`` and say what was written; exit code 2 with the reason for a missing
    or unreadable checkpoint."""
    out = Path(out)
    try:
        payload = export_weights(Path(checkpoint), out)
    except (FileNotFoundError, ValueError) as error:
        LOG.error("%s", error)
        return 2
    task = f"{payload['task']}, " if "task" in payload else ""
    print(f"wrote {out} ({task}step {payload.get('step')}, {out.stat().st_size / 1e6:.1f} MB)")
    return 0
