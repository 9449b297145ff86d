"""Synthetic-data throughput: frames per second written by ``diff9d synth generate``.

End to end, as a dataset is written: compose (procedural meshes of the train split, built or read
from the mesh cache), render (primary rays, table and floor analytically, shadows), sensor model,
ground truth (visible fractions, mug handles), shard compression and JSON, including worker
start-up, for exactly 5 category objects per scene (plus the default 0-3 distractors) with the
default randomisation (cameras 0.3-1.6 m, half the surfaces with realistic materials).

The benchmark keeps its own, initially empty, mesh cache (``DIFF9D_CACHE`` set to a temporary
folder): the first row renders with a cold cache (every mesh built when first drawn, as the first
dataset on a new machine does), then the rest of the train split's 4,800 meshes are built (timed),
and every other row reads them, as every later dataset does. Rows: the ``realsense`` domain (a D435 at
640x480 with colour/depth misregistration and flying pixels) with 2 workers, cold and warm (the
target row: the same frames again), the ``clean`` domain with 2 workers, a 1-worker baseline, a
per-frame mix of the three RealSense models at 640x480, and a D455 at 1280x720. Before each row the
process's in-memory mesh and renderer caches are cleared, so in-process rows start as cold as
workers.

The two CPU cores are shared with other jobs, so every row also reports the CPU seconds per frame
(all processes), the frame rate two idle cores would give (``2 / cpu_s_per_frame``) and the
1-minute load average at its start and end. Target: >= 10 frames/s, 640x480, 5 objects,
realsense, 2 workers, meshes cached.

Run from the repository root: ``python -m benchmarks.synth_throughput [--quick]``. Full: 480
frames for the realsense rows, 240 / 120 / 240 / 80 for the others; ``--quick``: 16 and 8 frames
(and only the meshes those frames draw are cached).
Writes ``synth_throughput.json`` into ``diff9d_out/benchmarks/`` (``synth_throughput_quick.json``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from unittest import mock

from tqdm import tqdm

from benchmarks.common import Target, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import CATEGORIES
from diff9d_ros.synth.dataset import generate_dataset, renderer_for
from diff9d_ros.synth.meshes import instance_mesh, split_ids
from diff9d_ros.synth.noise import RandomizationConfig

TARGET_FPS = 10.0


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(frames: int, workers: int, domain: str, seed: int, mesh_cache: str = "warm") -> dict[str, object]:
    """Generate ``frames`` frames into a temporary directory; wall and CPU time per frame
    (``mesh_cache`` labels the row: "cold" or "warm")."""
    config = RandomizationConfig.for_domain(domain, objects_range=(5, 5))
    intrinsics = None if config.sensor_presets else Intrinsics.realsense_d435(640, 480)
    instance_mesh.cache_clear()
    renderer_for.cache_clear()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        cpu0, wall0 = _cpu_s(), time.perf_counter()
        generate_dataset(
            out,
            frames,
            split="train",
            seed=seed,
            config=config,
            intrinsics=intrinsics,
            workers=workers,
            shard_size=max(1, min(32, frames // (2 * workers))),
            progress=False,
        )
        wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
        megabytes = sum(p.stat().st_size for p in Path(out).iterdir()) / 1e6
    return {
        "domain": domain,
        "workers": workers,
        "mesh_cache": mesh_cache,
        "frames": frames,
        "wall_s": wall,
        "fps": frames / wall,
        "cpu_s_per_frame": cpu / frames,
        "fps_2_idle_cores": 2.0 / (cpu / frames),
        "mb_per_frame": megabytes / frames,
        "load_1min_start": load_start,
        "load_1min_end": os.getloadavg()[0],
    }


def build_train_meshes() -> dict[str, object]:
    """Build every train-split mesh not in the mesh cache yet (read the others); a row with the time
    it took."""
    instance_mesh.cache_clear()
    wall0 = time.perf_counter()
    jobs = [(category, i) for category in CATEGORIES for i in split_ids("train")]
    for category, instance_id in tqdm(jobs, desc="train meshes", mininterval=5.0):
        instance_mesh(category, instance_id)
    instance_mesh.cache_clear()
    return {
        "domain": "mesh cache: the other train meshes built",
        "meshes": len(jobs),
        "wall_s": time.perf_counter() - wall0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min)")
    args = parser.parse_args()
    # Nothing here runs torch; stated for the machine record. Imported here rather than at the top:
    # each spawned worker imports this module again, and torch would add start-up CPU time that the
    # workers of `diff9d synth generate` do not spend.
    import torch

    torch.set_num_threads(1)
    scale = {"target": 480, "clean": 240, "single": 120, "mix": 240, "hd": 80}
    if args.quick:
        scale = {"target": 16, "clean": 8, "single": 8, "mix": 8, "hd": 4}
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, {"DIFF9D_CACHE": cache}):
        # the workers inherit the temporary cache; the caller's DIFF9D_CACHE is back afterwards
        rows = [measure(scale["target"], 2, "realsense", seed=1, mesh_cache="cold")]
        rows.append(measure(scale["target"], 2, "realsense", seed=1))
        if not args.quick:
            rows.append(build_train_meshes())
        rows += [
            measure(scale["clean"], 2, "clean", seed=1),
            measure(scale["single"], 1, "realsense", seed=1),
            measure(scale["mix"], 2, "d415_640x480,d435_640x480,d455_640x480", seed=1),
            measure(scale["hd"], 2, "d455_1280x720", seed=1),
        ]
    print(f"cores: {os.cpu_count()}; 1-minute load average per row at start/end (other jobs share the cores)")
    targets = [
        Target(
            "frames/s, 640x480, 5 objects, realsense, 2 workers, meshes cached",
            float(rows[1]["fps"]),
            TARGET_FPS,
        )
    ]
    report("synth_throughput", rows, targets, quick=args.quick)


if __name__ == "__main__":
    main()
