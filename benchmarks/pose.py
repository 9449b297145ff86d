"""Diff9D pose benchmark: NOCS metrics of DDIM at 1/3/10/50 steps vs the geometric OBB baseline,
latency per frame with 1, 3 and 6 objects, and the parameter count, all in one run on the same
held-out frames (test instances, ``realsense`` domain, ground-truth masks).

Every ``diff9d_ddim{n}`` row runs on the shipped DDIM timestep spacing (:attr:`SamplerConfig.spacing`),
a setting chosen on validation data: exact masks, stressed masks and tracking streams
(docs/tracking.md#benchmark). The DDIM-3 rows of every spacing of :data:`SPACINGS_TRIED` on the
validation frames (val instances, exact masks) show that part of the choice. The
``diff9d_ddim3_sampled_heading`` row is DDIM-3 with the heading of cameras, laptops and mugs as
sampled, not measured from their faces (:mod:`diff9d_ros.pose.faces`) and handles
(:mod:`diff9d_ros.pose.handle`), on the test and the ood frames.

Out of family: DDIM-3 and the baseline also run on frames of the ``ood`` split, whose objects come
only from the held-out sub-families (shapes of styles never trained on, a proxy for real objects),
and a per-family table gives 10deg5cm and IoU50 per ``category/sub-family`` on the in-family test
frames and on the ood frames. Targets (issue 17): in-family test 10deg5cm >= 75.0 (the 77.0 of the
model before the new families, minus 2), and for every category ood 10deg5cm within 10 points of
in-family.

Run from the repository root: ``python -m benchmarks.pose [--quick] [--model PATH] [--data TEST_DIR]
[--val-data VAL_DIR] [--ood-data OOD_DIR]``. Without the data folders the frames are rendered
in-process (test split seed 7, val split seed 8, ood split seed 9, realsense domain). Writes
``pose.json`` into ``diff9d_out/benchmarks/`` (``pose_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import Target, repo_relative, report
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.evaluate import baseline_method, evaluate_with_gt_masks
from diff9d_ros.pose.metrics import metric_names
from diff9d_ros.pose.network import count_parameters

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "diff9d_pose.pt"
STEPS = (1, 3, 10, 50)
#: DDIM-3 timestep spacings compared on the validation frames.
SPACINGS_TRIED = ("trailing", "leading", "linspace", "ddim3_searched")
#: DDIM-3 with the heading of standing cameras, laptops and mugs as sampled, not measured from their
#: points (:mod:`diff9d_ros.pose.faces`, :mod:`diff9d_ros.pose.handle`).
SAMPLED_HEADING = "diff9d_ddim3_sampled_heading"


def rendered_frames(count: int, split: str, seed: int, config=None) -> list:
    """``count`` frames of ``split`` instances (default: the realsense domain), rendered here."""
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    intrinsics = Intrinsics.realsense_d435()
    config = config or RandomizationConfig.for_domain("realsense")
    renderer = Renderer(intrinsics)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in tqdm(range(count), desc=f"render {split} frames"):
        synth = synthesize(compose_scene(rng, config, intrinsics, split), renderer, config.sensor, rng)
        frames.append((synth.frame, synth.objects))
    return frames


def split_frames(data: Path | None, count: int, split: str, seed: int) -> list:
    """``count`` (frame, objects) pairs of ``split``: read from the shard directory ``data``
    (ValueError if it holds another split), else rendered here with ``seed``."""
    if data is None:
        return rendered_frames(count, split, seed)
    from diff9d_ros.pose.dataset import read_frames
    from diff9d_ros.synth.dataset import SynthDataset

    found = SynthDataset(data).split
    if found != split:
        raise ValueError(f"{data} holds the {found} split, expected {split}")
    return list(read_frames(data, count))


def spacing_tables(model: Path, frames: list) -> dict[str, dict[str, float]]:
    """The mean accuracy table of DDIM-3 on ``frames`` with every spacing of :data:`SPACINGS_TRIED`."""
    methods = {
        spacing: PoseEstimator.from_file(model, SamplerConfig(num_steps=3, timesteps=spacing)).estimate_masks
        for spacing in SPACINGS_TRIED
    }
    return {name: r.table()["mean"] for name, r in evaluate_with_gt_masks(frames, methods).items()}


def family_rows(results_by_split: dict[str, dict], method: str) -> list[dict]:
    """10deg5cm, IoU50 and object count of ``method`` per ``category/sub-family``, per split."""
    return [
        {
            "split": split,
            "method": f"{method} per family",
            "family": family,
            "IoU50": round(row["IoU50"], 2),
            "10deg5cm": round(row["10deg5cm"], 2),
            "objects": row["objects"],
        }
        for split, results in results_by_split.items()
        for family, row in results[method].family_table().items()
    ]


def latency_inputs(frames: list, objects: int, count: int) -> list[tuple]:
    """``count`` inputs of the pose stage, ``(frame, masks, categories, plane)`` as
    ``estimate_masks`` gets them from the segmentation stage, cycling through ``frames`` with
    ``objects`` masks each (masks of a frame with fewer objects are repeated)."""
    from diff9d_ros.pose.segmentation import table_plane

    planes = [table_plane(frame) for frame, _ in frames[:count]]
    inputs = []
    for i in range(count):
        frame, truths = frames[i % len(frames)]
        ids = [t.detection.mask_id for t in truths]
        chosen = [ids[k % len(ids)] for k in range(objects)]
        masks = {k + 1: frame.instance_mask == mask_id for k, mask_id in enumerate(chosen)}
        categories = {k + 1: frame.categories[mask_id] for k, mask_id in enumerate(chosen)}
        inputs.append((frame, masks, categories, planes[i % len(planes)]))
    return inputs


def latency_ms(estimator: PoseEstimator, frames: list, objects: int, repeats: int) -> float:
    """Median wall time (ms) of the pose stage, ``estimate_masks`` given the masks and the table
    plane the segmentation stage found (:func:`latency_inputs`), on ``objects`` masks per frame,
    over ``repeats`` timed calls after one warm-up."""
    times = []
    for i, inputs in enumerate(latency_inputs(frames, objects, repeats + 1)):
        start = time.perf_counter()
        estimator.estimate_masks(*inputs)
        if i > 0:
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min); targets informative only")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=None, help="test shard directory (else rendered)")
    parser.add_argument("--val-data", type=Path, default=None, help="val shard directory (else rendered)")
    parser.add_argument("--frames", type=int, default=None, help="number of test frames")
    parser.add_argument("--val-frames", type=int, default=None, help="number of val frames")
    parser.add_argument("--ood-data", type=Path, default=None, help="ood shard directory (else rendered)")
    parser.add_argument("--ood-frames", type=int, default=None, help="number of out-of-family frames")
    parser.add_argument("--device", default="cpu", help="torch device of the latency rows (cpu, cuda, ...)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    count = args.frames or (4 if args.quick else 100)
    val_count = args.val_frames or (2 if args.quick else 60)
    started = time.perf_counter()
    val_frames = split_frames(args.val_data, val_count, "val", seed=8)
    val_tables = spacing_tables(args.model, val_frames)
    frames = split_frames(args.data, count, "test", seed=7)
    steps = (1, 3) if args.quick else STEPS
    methods = {
        f"diff9d_ddim{n}": PoseEstimator.from_file(
            args.model,
            SamplerConfig(num_steps=n),
        ).estimate_masks
        for n in steps
    }
    measured_off = SamplerConfig(align_faces=False, align_handle=False)
    sampled_heading = PoseEstimator.from_file(args.model, measured_off)
    methods[SAMPLED_HEADING] = sampled_heading.estimate_masks
    methods["obb_baseline"] = baseline_method
    results = evaluate_with_gt_masks(frames, methods)
    tables = {name: r.table()["mean"] for name, r in results.items()}
    ood_frames = split_frames(args.ood_data, args.ood_frames or (2 if args.quick else count), "ood", seed=9)
    ood_methods = {name: methods[name] for name in ("diff9d_ddim3", SAMPLED_HEADING, "obb_baseline")}
    ood_results = evaluate_with_gt_masks(ood_frames, ood_methods)
    rows = [
        {"split": "val", "method": f"diff9d_ddim3_{name}", **{m: round(v, 2) for m, v in table.items()}}
        for name, table in val_tables.items()
    ]
    rows += [
        {"split": "test", "method": name, **{m: round(v, 2) for m, v in table.items()}}
        for name, table in tables.items()
    ]
    rows += [
        {"split": "ood", "method": name, **{m: round(v, 2) for m, v in r.table()["mean"].items()}}
        for name, r in ood_results.items()
    ]
    rows += family_rows({"test": results, "ood": ood_results}, "diff9d_ddim3")

    estimator = PoseEstimator.from_file(
        args.model, SamplerConfig(num_steps=3, hypotheses=1), device=args.device
    )
    repeats = 10 if args.quick else 50
    latency = {n: latency_ms(estimator, frames, n, repeats) for n in (1, 3, 6)}
    params = count_parameters(estimator.network)
    for n, ms in latency.items():
        rows.append(
            {"method": f"median latency ms, {n} objects (DDIM-3, K=1, {args.device})", "value": round(ms, 2)}
        )
    rows.append({"method": "parameters", "value": params})

    ours, base = tables["diff9d_ddim3"], tables["obb_baseline"]
    targets = [
        Target("mean IoU50 (DDIM-3, GT masks)", ours["IoU50"], 70.0),
        Target("mean 10deg5cm (DDIM-3)", ours["10deg5cm"], 65.0),
        Target("mean 5deg5cm (DDIM-3)", ours["5deg5cm"], 40.0),
        *(Target(f"DDIM-3 minus baseline, {m}", ours[m] - base[m], 0.01) for m in metric_names()),
        Target("median latency, 3 objects (ms)", latency[3], 40.0, higher_is_better=False),
    ]
    per_category = {"test": results["diff9d_ddim3"].table(), "ood": ood_results["diff9d_ddim3"].table()}
    targets.append(Target("in-family test 10deg5cm (DDIM-3; 77.0 - 2)", ours["10deg5cm"], 75.0))
    for category in (c for c in per_category["test"] if c != "mean" and c in per_category["ood"]):
        gap = per_category["test"][category]["10deg5cm"] - per_category["ood"][category]["10deg5cm"]
        targets.append(
            Target(f"{category}: in-family minus ood 10deg5cm (points)", gap, 10.0, higher_is_better=False)
        )
    if "diff9d_ddim50" in tables:
        gap = abs(ours["10deg5cm"] - tables["diff9d_ddim50"]["10deg5cm"])
        targets.append(Target("|DDIM-3 - DDIM-50| on 10deg5cm (points)", gap, 2.0, higher_is_better=False))
    extra = {
        "frames": len(frames),
        "val_frames": len(val_frames),
        "spacing": SamplerConfig(num_steps=3).spacing,
        "objects": len(results["obb_baseline"].errors),
        "model": repo_relative(args.model),
        "parameters": params,
        "ood_frames": len(ood_frames),
        "per_category": {name: r.table() for name, r in results.items()},
        "ood_per_category": {name: r.table() for name, r in ood_results.items()},
        "eval_seconds": time.perf_counter() - started,
    }
    columns = ["split", "method", "family", *metric_names(), "objects", "value"]
    report("pose", rows, targets, quick=args.quick, columns=columns, extra=extra)


if __name__ == "__main__":
    main()
