"""GeoTDM trajectory forecasting: charged-particle ADE/FDE per sampler, speed, online latency.

Run from the repository root: ``python benchmarks/trajectory.py [--quick] [--checkpoint PATH]``.

Rows (charged particles, test split, ADE/FDE averaged over K = 5 samples as GeoTDM reports):
constant velocity; GeoTDM with DDPM-1000 (the paper's sampler) on a subset; DDIM and DPM-Solver++ 2M
at 3, 5, 10 and 20 steps on the evaluation windows and, for the speed/accuracy comparison, on the
DDPM subset as well; the paper's rows for reference. The fast sampler that the targets use is chosen
on the validation split (lowest ADE), never on the test windows, and the accuracy targets are then
scored on the whole test split (2000 trajectories, as the paper reports). Then, where the models exist, the
tabletop object model (``models/geotdm_objects.pt``, minADE/minFDE over 20 samples, the online
forecaster's configuration) and the pedestrian models (ETH-UCY, minADE/minFDE over 20), each against
constant velocity; and the latency of ``Forecaster.forecast`` for 10 tracks, 20 samples, 12 future
frames. Everything is measured in this run, on this machine; wall times on a shared CPU include
contention, so CPU times are reported too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Target, report  # noqa: E402
from diff9d_ros.trajectory.datasets import DEFAULT_ETH_UCY, load_windows, task_spec  # noqa: E402
from diff9d_ros.trajectory.evaluate import EvalResult, evaluate  # noqa: E402
from diff9d_ros.trajectory.forecaster import Forecaster  # noqa: E402
from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig  # noqa: E402
from diff9d_ros.trajectory.windows import Windows  # noqa: E402

PAPER_ROWS = (
    ("GeoTDM (paper, DDPM-1000)", 0.110, 0.258),
    ("EGNN (paper)", 0.186, 0.426),
    ("EqMotion (paper)", 0.141, 0.310),
)
FAST = tuple((name, steps) for name in ("ddim", "dpmpp_2m") for steps in (3, 5, 10, 20))
ONLINE_SAMPLER = ("dpmpp_2m", 3)  # the Forecaster's and the pipeline's default
PEDESTRIAN_MODELS = (
    "geotdm_zara1.pt",
    "geotdm_zara2.pt",
    "geotdm_univ.pt",
    "geotdm_hotel.pt",
    "geotdm_eth.pt",
)


def _row(name: str, subset: str, result, per_128: float | None = None, extrapolated: bool = False) -> dict:
    return {
        "method": name,
        "windows": subset,
        "ade": round(result.ade, 4),
        "fde": round(result.fde, 4),
        "s_per_128": None if per_128 is None else round(per_128, 3),
        "s_per_128_extrapolated": extrapolated,
    }


def _charged_samples(model: GeoTDM, windows: Windows, sampler: str, steps: int) -> EvalResult:
    """ADE/FDE over K = 5 samples (the N-body protocol) on ``windows``, in batches of 128."""
    spec = task_spec("charged")
    return evaluate(
        model,
        [windows],
        sampler=sampler,
        num_steps=steps,
        num_samples=spec.num_eval_samples,
        reduce="mean",
        batch_size=128,
        progress=True,
    )


def select_sampler(model: GeoTDM, count: int) -> tuple[tuple[str, int], list[dict]]:
    """The fast sampler with the lowest ADE on the first ``count`` validation trajectories."""
    val = load_windows("charged", "val")[0].subset(slice(0, count))
    rows, best, best_ade = [], FAST[0], float("inf")
    for name, steps in FAST:
        result = _charged_samples(model, val, name, steps)
        rows.append(_row(f"GeoTDM {name}-{steps}", f"val[:{count}]", result))
        if result.ade < best_ade:
            best, best_ade = (name, steps), result.ade
    return best, rows


def _timed_row(method: str, count: int, result: EvalResult, extrapolated: bool = False) -> dict:
    """A test row with the sampling wall time scaled to 128 trajectories."""
    per_128 = result.seconds * 128 / count
    return _row(method, f"test[:{count}]", result, per_128, extrapolated or count < 128)


def charged_rows(model: GeoTDM, test: Windows, eval_count: int, ddpm_count: int) -> tuple[list[dict], dict]:
    windows = test.subset(slice(0, eval_count))
    ddpm_windows = test.subset(slice(0, ddpm_count))
    rows, found = [], {}
    cv = evaluate(None, [windows], num_samples=1, reduce="mean")
    rows.append(_row("constant velocity", f"test[:{eval_count}]", cv))
    start = time.process_time()
    ddpm = _charged_samples(model, ddpm_windows, "ddpm", 1000)
    ddpm_cpu = time.process_time() - start
    rows.append(_timed_row("GeoTDM ddpm-1000", ddpm_count, ddpm, extrapolated=True))
    found["ddpm"] = ddpm
    for name, steps in FAST:
        on_subset = _charged_samples(model, ddpm_windows, name, steps)
        rows.append(_row(f"GeoTDM {name}-{steps}", f"test[:{ddpm_count}]", on_subset, None))
        found[("subset", name, steps)] = on_subset
        full = _charged_samples(model, windows, name, steps)
        rows.append(_timed_row(f"GeoTDM {name}-{steps}", eval_count, full))
    for name, ade, fde in PAPER_ROWS:
        rows.append(
            {"method": name, "windows": "paper (2000 test)", "ade": ade, "fde": fde, "s_per_128": None}
        )
    found["ddpm_cpu_s"] = ddpm_cpu
    return rows, found


def whole_test_rows(
    model: GeoTDM, test: Windows, name: str, steps: int, count: int
) -> tuple[list[dict], EvalResult, EvalResult]:
    """The chosen fast sampler and constant velocity on the first ``count`` test trajectories (all
    2000 by default)."""
    windows = test.subset(slice(0, count))
    cv = evaluate(None, [windows], num_samples=1, reduce="mean")
    result = _charged_samples(model, windows, name, steps)
    rows = [
        _row("constant velocity", f"test[:{count}]", cv),
        _timed_row(f"GeoTDM {name}-{steps} (chosen)", count, result),
    ]
    return rows, result, cv


def min_over_20_rows(task: str, model_path: Path, count: int, data_dir: Path | None = None) -> list[dict]:
    """Constant velocity and GeoTDM (the online samplers) on the first ``count`` test windows of
    ``task``, minADE/minFDE over K = 20 (GeoTDM Sec. 5.2 protocol)."""
    spec = task_spec(task)
    model, _ = GeoTDM.load(model_path)
    model.eval()
    groups = load_windows(task, "test", data_dir=data_dir, limit=count)
    total = sum(len(g) for g in groups)
    label = f"{task} test[:{total}]"
    cv = evaluate(None, groups, num_samples=1, reduce="mean")
    rows = [_row(f"{task}: constant velocity", label, cv)]
    runs = [(ONLINE_SAMPLER, "min"), (("ddim", 5), "min"), (("ddim", 20), "min"), (ONLINE_SAMPLER, "mean")]
    for (name, steps), reduce in runs:
        result = evaluate(
            model,
            groups,
            num_samples=spec.num_eval_samples,
            reduce=reduce,
            sampler=name,
            num_steps=steps,
            planar=spec.planar,
            progress=True,
        )
        per_batch = result.seconds_per_batch if reduce == "min" else None
        rows.append(_row(f"{task}: GeoTDM {name}-{steps} ({reduce} of 20)", label, result, per_batch))
    return rows


def pedestrian_model() -> Path | None:
    return next((ROOT / "models" / n for n in PEDESTRIAN_MODELS if (ROOT / "models" / n).exists()), None)


def latency_rows(quick: bool) -> tuple[list[dict], float, str]:
    model_path = pedestrian_model()
    if model_path is not None:
        model, _ = GeoTDM.load(model_path)
        source = model_path.name
    else:  # latency depends on the architecture only; this is the configuration trained for pedestrians
        torch.manual_seed(0)
        model = GeoTDM(
            GeoTDMConfig(node_dim=1, edge_dim=0, num_obs=8, num_future=12, hidden_dim=32, num_layers=3)
        )
        source = "untrained pedestrian configuration (hidden 32, 3 layers): no pedestrian weights in models/"
    rng = np.random.default_rng(0)
    tracks = {f"person_{i}": np.cumsum(rng.normal(0.0, 0.3, size=(8, 3)), axis=0) for i in range(10)}
    rows, online_ms = [], float("inf")
    repeats = 10 if quick else 40
    for sampler, steps in (ONLINE_SAMPLER, ("ddim", 5), ("ddim", 10)):
        for threads in (1, 2):
            forecaster = Forecaster(model, planar=True, sampler=sampler, num_steps=steps, threads=threads)
            forecaster.forecast(tracks, 12, 20)  # warm-up
            wall, cpu = [], []
            for _ in range(repeats):
                w, c = time.perf_counter(), time.process_time()
                forecaster.forecast(tracks, 12, 20)
                wall.append(time.perf_counter() - w)
                cpu.append(time.process_time() - c)
            median_ms = 1000 * float(np.median(wall))
            rows.append(
                {
                    "method": f"forecast {sampler}-{steps}",
                    "threads": threads,
                    "median_ms": round(median_ms, 2),
                    "p90_ms": round(1000 * float(np.percentile(wall, 90)), 2),
                    "cpu_ms_per_call": round(1000 * float(np.median(cpu)), 2),
                }
            )
            if (sampler, steps) == ONLINE_SAMPLER:
                online_ms = min(online_ms, median_ms)
    return rows, online_ms, source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min), targets informative only")
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "geotdm_charged.pt"))
    parser.add_argument(
        "--test-windows", type=int, default=256, help="test trajectories for the fast samplers"
    )
    parser.add_argument(
        "--target-windows", type=int, default=2000, help="test trajectories for the chosen sampler's targets"
    )
    parser.add_argument("--val-windows", type=int, default=128, help="val trajectories to choose the sampler")
    parser.add_argument("--ddpm-windows", type=int, default=32, help="test trajectories for DDPM-1000")
    parser.add_argument("--objects-windows", type=int, default=512, help="tabletop test windows")
    parser.add_argument("--pedestrian-windows", type=int, default=512, help="ETH-UCY test windows")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if not Path(args.checkpoint).exists():
        raise SystemExit(
            f"no charged-particle model at {args.checkpoint}; train one with `diff9d traj train`"
        )
    model, payload = GeoTDM.load(args.checkpoint)
    model.eval()
    if args.quick:
        args.test_windows, args.val_windows, args.ddpm_windows, args.target_windows = 16, 16, 4, 16
        args.objects_windows, args.pedestrian_windows = 32, 32
    (name, steps), val_rows = select_sampler(model, args.val_windows)
    print(f"fast sampler chosen on val[:{args.val_windows}]: {name}-{steps}")
    test = load_windows("charged", "test")[0]
    rows, found = charged_rows(model, test, args.test_windows, args.ddpm_windows)
    target_rows, chosen, chosen_cv = whole_test_rows(model, test, name, steps, args.target_windows)
    rows[:0] = target_rows
    objects_path = ROOT / "models" / "geotdm_objects.pt"
    other_rows = []
    if objects_path.exists():
        other_rows += min_over_20_rows("tabletop", objects_path, args.objects_windows)
    ped_path = pedestrian_model()
    if ped_path is not None and DEFAULT_ETH_UCY.is_dir():
        task = GeoTDM.load(ped_path)[1]["task"]
        other_rows += min_over_20_rows(task, ped_path, args.pedestrian_windows)
    lat_rows, latency_ms, latency_source = latency_rows(args.quick)
    fast_sub = found[("subset", name, steps)]
    ddpm = found["ddpm"]
    speedup = (ddpm.seconds / args.ddpm_windows) / (fast_sub.seconds / args.ddpm_windows)
    online = "-".join(map(str, ONLINE_SAMPLER))
    targets = [
        Target(f"charged {name}-{steps} ADE < EGNN 0.186", chosen.ade, 0.186, higher_is_better=False),
        Target(f"charged {name}-{steps} FDE < EGNN 0.426", chosen.fde, 0.426, higher_is_better=False),
        Target(
            f"charged {name}-{steps} ADE <= 0.5 x constant velocity",
            chosen.ade,
            0.5 * chosen_cv.ade,
            False,
        ),
        Target(
            f"{name}-{steps} ADE loss vs DDPM-1000 (same windows), %",
            100 * (fast_sub.ade / ddpm.ade - 1),
            5.0,
            False,
        ),
        Target(f"{name}-{steps} speed-up over DDPM-1000 (wall)", speedup, 40.0),
        Target(
            f"online forecast 10 tracks x 20 samples x 12 frames, {online} median ms", latency_ms, 50.0, False
        ),
        Target("training CPU hours", payload.get("cpu_s", float("nan")) / 3600, 2.0, False),
    ]
    extra = {
        "checkpoint": str(args.checkpoint),
        "checkpoint_step": payload.get("step"),
        "training_wall_hours": payload.get("elapsed_s", float("nan")) / 3600,
        "chosen_sampler": f"{name}-{steps}",
        "val_rows": val_rows,
        "objects_and_pedestrian_rows": other_rows,
        "latency_rows": lat_rows,
        "latency_model": latency_source,
        "ddpm_cpu_s": found["ddpm_cpu_s"],
    }
    from benchmarks.common import format_table

    print(format_table(val_rows))
    print()
    if other_rows:
        print(format_table(other_rows))
        print()
    print(f"latency model: {latency_source}")
    print(format_table(lat_rows))
    print()
    report("trajectory", rows, targets, quick=args.quick, extra=extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
