"""Synthetic-data throughput: frames per second written by ``diff9d synth generate``.

640x480 RealSense-D435 intrinsics, exactly 5 category objects per scene (plus the default 0-3
distractors), shadows on, end to end: compose, ray-cast, shade, sensor model, ground truth
(visible fractions, mug handles), shard compression and JSON, including worker start-up. Rows:
the ``realsense`` and ``clean`` domains with 2 workers, and a 1-worker baseline measured in the same
run on the same seed. Also reported: CPU seconds per frame (all processes), the frame rate two
idle cores would give (``2 / cpu_s_per_frame``), and the load average at the start, because this
machine's two cores are shared. Target: >= 10 frames/s with both cores (realsense domain).

Run from the repository root: ``python -m benchmarks.synth_throughput [--quick]``.
Full: 240 frames per 2-worker row, 60 for the baseline; ``--quick``: 16 and 8 frames.
Writes ``benchmarks/results/synth_throughput.json`` (``synth_throughput_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from benchmarks.common import Target, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.dataset import generate_dataset
from diff9d_ros.synth.noise import RandomizationConfig


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(frames: int, workers: int, domain: str, seed: int) -> dict[str, object]:
    """Generate ``frames`` frames into a temporary directory; wall and CPU time per frame."""
    config = RandomizationConfig.for_domain(domain, objects_range=(5, 5))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        cpu0, wall0 = _cpu_s(), time.perf_counter()
        generate_dataset(
            out,
            frames,
            split="train",
            seed=seed,
            config=config,
            intrinsics=Intrinsics.realsense_d435(640, 480),
            workers=workers,
            shard_size=max(1, min(32, frames // (2 * workers))),
        )
        wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
        megabytes = sum(p.stat().st_size for p in Path(out).iterdir()) / 1e6
    return {
        "domain": domain,
        "workers": workers,
        "frames": frames,
        "wall_s": wall,
        "fps": frames / wall,
        "cpu_s_per_frame": cpu / frames,
        "fps_2_idle_cores": 2.0 / (cpu / frames),
        "mb_per_frame": megabytes / frames,
        "load_avg_1min_at_start": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min)")
    args = parser.parse_args()
    frames, baseline_frames = (16, 8) if args.quick else (240, 60)
    rows = [
        measure(frames, 2, "realsense", seed=1),
        measure(frames, 2, "clean", seed=1),
        measure(baseline_frames, 1, "realsense", seed=1),
    ]
    targets = [Target("frames/s, 640x480, 5 objects, realsense, 2 workers", float(rows[0]["fps"]), 10.0)]
    report("synth_throughput", rows, targets, quick=args.quick)


if __name__ == "__main__":
    main()
