"""Diff9D pose benchmark: NOCS metrics of DDIM at 1/3/10/50 steps vs the geometric OBB baseline,
latency per frame with 1, 3 and 6 objects, and the parameter count, all in one run on the same
held-out frames (test instances, ``realsense`` domain, ground-truth masks).

The ``diff9d_ddim{n}`` rows use the estimator's default spacing; ``diff9d_ddim3_<spacing>`` rows
compare other DDIM-3 timestep spacings. Run from the repository root:
``python -m benchmarks.pose [--quick] [--model PATH] [--data DIR]``.
Without ``--data`` the test frames are rendered in-process (test split, realsense domain, seed 7).
Writes ``benchmarks/results/pose.json`` (``pose_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Target, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.evaluate import baseline_method, evaluate_with_gt_masks
from diff9d_ros.pose.metrics import metric_names
from diff9d_ros.pose.network import count_parameters

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "diff9d_pose.pt"
STEPS = (1, 3, 10, 50)
#: DDIM-3 timestep spacings compared besides the estimator's default.
SPACINGS_TRIED = ("leading", "linspace", "ddim3_searched")


def rendered_test_frames(count: int, seed: int = 7) -> list:
    """``count`` frames of test instances in the realsense domain, rendered in this process."""
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    intrinsics = Intrinsics.realsense_d435()
    config = RandomizationConfig.for_domain("realsense")
    renderer = Renderer(intrinsics)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        synth = synthesize(compose_scene(rng, config, intrinsics, "test"), renderer, config.sensor, rng)
        frames.append((synth.frame, synth.objects))
    return frames


def latency_ms(estimator: PoseEstimator, frames: list, objects: int, repeats: int) -> float:
    """Median wall time (ms) of ``estimate_masks`` on ``objects`` masks per frame (masks of a frame
    with fewer objects are repeated), over ``repeats`` timed calls after one warm-up."""
    times = []
    for i in range(repeats + 1):
        frame, truths = frames[i % len(frames)]
        ids = [t.detection.mask_id for t in truths]
        chosen = [ids[k % len(ids)] for k in range(objects)]
        masks = {k + 1: frame.instance_mask == mask_id for k, mask_id in enumerate(chosen)}
        categories = {k + 1: frame.categories[mask_id] for k, mask_id in enumerate(chosen)}
        start = time.perf_counter()
        estimator.estimate_masks(frame, masks, categories)
        if i > 0:
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min); targets informative only")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=None, help="test shard directory (else rendered)")
    parser.add_argument("--frames", type=int, default=None, help="number of test frames")
    args = parser.parse_args()
    torch.set_num_threads(1)
    count = args.frames or (6 if args.quick else 100)
    if args.data is not None:
        from diff9d_ros.pose.commands import read_frames

        frames = list(read_frames(args.data, count))
    else:
        frames = rendered_test_frames(count)
    steps = (1, 3) if args.quick else STEPS
    methods = {
        f"diff9d_ddim{n}": PoseEstimator.from_file(args.model, SamplerConfig(num_steps=n)).estimate_masks
        for n in steps
    }
    if not args.quick:  # the DDIM-3 spacing is chosen by this measurement
        for spacing in SPACINGS_TRIED:
            sampler = SamplerConfig(num_steps=3, timesteps=spacing)
            methods[f"diff9d_ddim3_{spacing}"] = PoseEstimator.from_file(args.model, sampler).estimate_masks
    methods["obb_baseline"] = baseline_method
    started = time.perf_counter()
    results = evaluate_with_gt_masks(frames, methods)
    tables = {name: r.table()["mean"] for name, r in results.items()}
    rows = [{"method": name, **{m: round(v, 2) for m, v in table.items()}} for name, table in tables.items()]

    estimator = PoseEstimator.from_file(args.model, SamplerConfig(num_steps=3, hypotheses=1))
    repeats = 10 if args.quick else 50
    latency = {n: latency_ms(estimator, frames, n, repeats) for n in (1, 3, 6)}
    params = count_parameters(estimator.network)
    for n, ms in latency.items():
        rows.append({"method": f"median latency ms, {n} objects (DDIM-3, K=1)", "value": round(ms, 2)})
    rows.append({"method": "parameters", "value": params})

    ours, base = tables["diff9d_ddim3"], tables["obb_baseline"]
    targets = [
        Target("mean IoU50 (DDIM-3, GT masks)", ours["IoU50"], 70.0),
        Target("mean 10deg5cm (DDIM-3)", ours["10deg5cm"], 65.0),
        Target("mean 5deg5cm (DDIM-3)", ours["5deg5cm"], 40.0),
        *(Target(f"DDIM-3 minus baseline, {m}", ours[m] - base[m], 0.01) for m in metric_names()),
        Target("median latency, 3 objects (ms)", latency[3], 40.0, higher_is_better=False),
    ]
    if "diff9d_ddim50" in tables:
        gap = abs(ours["10deg5cm"] - tables["diff9d_ddim50"]["10deg5cm"])
        targets.append(Target("|DDIM-3 - DDIM-50| on 10deg5cm (points)", gap, 2.0, higher_is_better=False))
    extra = {
        "frames": len(frames),
        "objects": len(results["obb_baseline"].errors),
        "model": str(args.model),
        "parameters": params,
        "per_category": {name: r.table() for name, r in results.items()},
        "eval_seconds": time.perf_counter() - started,
    }
    report("pose", rows, targets, quick=args.quick, columns=["method", *metric_names(), "value"], extra=extra)


if __name__ == "__main__":
    main()
