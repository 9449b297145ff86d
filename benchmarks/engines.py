"""Inference engines of the pose network and the GeoTDM denoiser, every engine and precision side
by side in one run, with accuracy.

Pose network (``models/diff9d_pose.pt``), on the CPU with ``--threads`` threads for every engine:

* ``torch``: torch eager, fp32 (shipped);
* ``torch-compile``: ``torch.compile`` (inductor, dynamic batch) of the three calls, fp32 (the row
  says why when it does not compile; skipped with ``--quick``: compiling takes minutes);
* ``onnxruntime``: the three parts exported to ONNX (:func:`diff9d_ros.pose.engines.export_parts`)
  on ONNX Runtime's CPU provider, fp32 (shipped);
* ``onnxruntime-int8``: the same models with their fully connected layers quantised by
  ``onnxruntime.quantization.quantize_dynamic`` (int8 weights, activations quantised per call),
  convolutions fp32 (shipped, ``auto`` on the CPU); ``onnxruntime-int8-all``: every operator ORT
  quantises dynamically, convolutions included;
* ``onnxruntime-int8-static``: static QDQ quantisation (``quantize_static``: uint8 activations,
  int8 weights with ``reduce_range``, which avoids the int16 saturation of u8s8 products on CPUs
  without VNNI; min-max calibration) calibrated on the network inputs of the validation frames;
* ``openvino``: the ONNX models compiled by OpenVINO for the CPU, fp32 (not a dependency: the row
  says "not installed" where it is missing).

Per engine: the median wall time of one call of the encoder, the category head and one denoiser
step at batch 3 (validation inputs), and the largest difference of their outputs from torch's;
the pose stage per frame (``estimate_masks`` on 3 objects given masks and the table plane, as the
pipeline calls it: DDIM-3, K = 1, on validation frames); NOCS 10deg5cm (mean over the categories)
on the validation frames (``val_10deg5cm``, what the choice of ``auto`` rests on), and 10deg5cm and
IoU50 on held-out test frames with exact masks (``benchmarks/pose.py``'s test split: realsense
domain, test instances, seed 7; reported, not used to choose). Calls are timed round-robin over the
engines, so load on the machine is shared between them. Each row's note says whether the engine is
shipped, and why not.

GeoTDM denoiser: torch eager against ONNX Runtime (each batch shape of a forecast exported with
fixed shapes) on the calls of one online forecast, 20 samples: the object model
(``geotdm_objects.pt``, 3 objects) and a pedestrian model (the first ``geotdm_<scene>.pt``, 30
people, cut into scene groups of at most 8); per denoiser step (one call per group size), with the
largest output difference.

Targets: every int8 engine keeps test 10deg5cm within 1 point of torch fp32; the engine ``auto``
picks is the fastest one per frame among the engines within 1 point of torch fp32 on the
validation frames.

Run from the repository root: ``python -m benchmarks.engines [--quick] [--threads 1] [--model PATH]
[--data TEST_DIR] [--val-data VAL_DIR]``. Writes ``engines.json`` (``engines_quick.json``) into
``diff9d_out/benchmarks/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import Target, repo_relative, report
from benchmarks.pose import DEFAULT_MODEL, latency_inputs, split_frames
from benchmarks.trajectory import MODELS, crowd, pedestrian_models
from diff9d_ros.onnx_export import (
    export_call,
    onnxruntime_available,
    onnxruntime_session,
    quantize_dynamic,
    quantized,
)
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.pose.engines import (
    ENGINES,
    PART_INPUTS,
    ExportedPoseNetwork,
    PoseRunner,
    Runner,
    export_parts,
    onnxruntime_runner,
    part_feeds,
    pose_engine,
    resolve_engine,
)
from diff9d_ros.pose.estimator import PoseEstimator
from diff9d_ros.pose.evaluate import evaluate_with_gt_masks
from diff9d_ros.pose.network import PoseNetwork
from diff9d_ros.threads import DEFAULT_THREADS, apply_threads
from diff9d_ros.trajectory.forecaster import Forecaster

#: Objects per frame of the latency rows (the camera-rate scene) and batch of the per-call rows.
OBJECTS = 3
#: Largest loss of 10deg5cm (points) against torch fp32 for an engine to count as accurate.
ACCURACY_POINTS = 1.0
#: Test and validation frames, pose-stage rounds, per-call rounds, GeoTDM rounds: full, quick.
SIZES = {False: (200, 60, 200, 300, 30), True: (3, 2, 5, 20, 3)}


@dataclass
class Engine:
    """One way to run the pose network: ``runner`` None when it could not be built (``note`` says
    why); ``load_s``: seconds to build it from the loaded torch network."""

    name: str
    precision: str
    runner: PoseRunner | None
    note: str = ""
    load_s: float = 0.0


class RecordingNetwork:
    """The torch network, keeping the ONNX inputs of every call per part (:data:`PART_INPUTS`):
    the calibration set of static quantisation and the inputs of the per-call rows."""

    def __init__(self, network: PoseNetwork) -> None:
        self.network = network
        self.feeds: dict[str, list[dict[str, np.ndarray]]] = {part: [] for part in PART_INPUTS}

    def encode(self, points_m: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
        self.feeds["encoder"].append(part_feeds("encoder", points_m, crop))
        return self.network.encode(points_m, crop)

    def classify(self, cond: torch.Tensor) -> torch.Tensor:
        self.feeds["classifier"].append(part_feeds("classifier", cond))
        return self.network.classify(cond)

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        cond: torch.Tensor,
        category: torch.Tensor,
        prior: torch.Tensor,
    ) -> torch.Tensor:
        self.feeds["denoiser"].append(part_feeds("denoiser", x_t, t, cond, category, prior))
        return self.network(x_t, t, cond=cond, category=category, prior=prior)


class CompiledPoseNetwork:
    """The network's three calls compiled by ``torch.compile`` (inductor, dynamic batch)."""

    def __init__(self, network: PoseNetwork) -> None:
        self.encode = torch.compile(network.encode, dynamic=True)
        self.classify = torch.compile(network.classify, dynamic=True)
        self.denoise = torch.compile(network.forward, dynamic=True)

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        cond: torch.Tensor,
        category: torch.Tensor,
        prior: torch.Tensor,
    ) -> torch.Tensor:
        return self.denoise(x_t, t, cond=cond, category=category, prior=prior)


def quantize_static(model: bytes, calibration: list[dict[str, np.ndarray]]) -> bytes:
    """``model`` in QDQ form with uint8 activations and int8 weights (``reduce_range``), the
    activation ranges the min-max of ``model`` on the ``calibration`` inputs
    (``onnxruntime.quantization.quantize_static``)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as quantize

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    return quantized(
        model,
        lambda source, target: quantize(
            source,
            target,
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=True,
        ),
    )


def openvino_runner(model: bytes, threads: int) -> Runner:
    """A runner of the serialised ONNX ``model`` compiled by OpenVINO for the CPU (fp32, latency
    hint, one stream, ``threads`` threads)."""
    import openvino

    core = openvino.Core()
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    request = core.compile_model(core.read_model(model), "CPU", config).create_infer_request()
    return lambda feeds: request.infer(feeds)[0]


def batch_inputs(feeds: list[dict[str, np.ndarray]], size: int) -> dict[str, torch.Tensor]:
    """The first ``size`` rows of the recorded ``feeds`` of one part as tensors (rows of different
    calls are independent inputs)."""
    return {name: torch.from_numpy(np.concatenate([f[name] for f in feeds])[:size]) for name in feeds[0]}


def part_calls(
    engine: PoseRunner, inputs: dict[str, dict[str, torch.Tensor]]
) -> dict[str, Callable[[], Any]]:
    """One call of each part of ``engine`` on ``inputs`` (tensors by part and ONNX input name)."""
    enc, cls, den = (inputs[part] for part in PART_INPUTS)
    return {
        "encoder": lambda: engine.encode(enc["points"], enc["crop"]),
        "classifier": lambda: engine.classify(cls["cond"]),
        "denoiser": lambda: engine(
            den["x_t"], den["t"], cond=den["cond"], category=den["category"], prior=den["prior"]
        ),
    }


def build_engines(
    network: PoseNetwork, calibration: dict[str, list[dict[str, np.ndarray]]], threads: int, compile_: bool
) -> list[Engine]:
    """Every engine of the module docstring, built from ``network`` (the shipped ones by
    :func:`~diff9d_ros.pose.engines.pose_engine`, as the estimator builds them; a row with the
    reason where one cannot be built)."""
    exported: dict[str, bytes] = {}

    def shipped(name: str) -> Callable[[], PoseRunner]:
        return lambda: pose_engine(network, name, torch.device("cpu"))[0]

    def from_models(change: Callable[[str, bytes], bytes], runner: Callable[[bytes, int], Runner]):
        def build() -> ExportedPoseNetwork:
            if not exported:  # exported once, shared by the engines that change or compile it
                exported.update(export_parts(network))
            return ExportedPoseNetwork({p: runner(change(p, m), threads) for p, m in exported.items()})

        return build

    def compiled() -> CompiledPoseNetwork:
        engine = CompiledPoseNetwork(network)
        with torch.no_grad():
            for size in (1, OBJECTS):  # batch 1 is specialised by the compiler, the others shared
                inputs = {p: batch_inputs(f, size) for p, f in calibration.items()}
                for call in part_calls(engine, inputs).values():
                    call()
        return engine

    ort_missing = "" if onnxruntime_available() else "onnxruntime/onnx not installed"
    builders: list[tuple[str, str, Callable[[], PoseRunner], str]] = [
        ("torch", "fp32", shipped("torch"), ""),
        (
            "torch-compile",
            "fp32",
            compiled,
            "" if compile_ else "skipped with --quick (compiling takes minutes)",
        ),
        ("onnxruntime", "fp32", shipped("onnxruntime"), ort_missing),
        ("onnxruntime-int8", "int8 dynamic, fully connected", shipped("onnxruntime-int8"), ort_missing),
        (
            "onnxruntime-int8-all",
            "int8 dynamic, convolutions too",
            from_models(lambda p, m: quantize_dynamic(m), onnxruntime_runner),
            ort_missing,
        ),
        (
            "onnxruntime-int8-static",
            "int8 static QDQ",
            from_models(lambda p, m: quantize_static(m, calibration[p]), onnxruntime_runner),
            ort_missing,
        ),
        (
            "openvino",
            "fp32",
            from_models(lambda p, m: m, openvino_runner),
            ort_missing or ("" if importlib.util.find_spec("openvino") else "openvino not installed"),
        ),
    ]
    engines = []
    for name, precision, build, skip in tqdm(builders, desc="build engines"):
        if skip:
            engines.append(Engine(name, precision, None, skip))
            continue
        start = time.perf_counter()
        try:
            runner = build()
        except Exception as error:  # a compiler or runtime failing here is a result of the run
            reason = (str(error).strip().splitlines() or [""])[0][:200]
            engines.append(Engine(name, precision, None, f"failed: {type(error).__name__}: {reason}"))
            continue
        engines.append(Engine(name, precision, runner, load_s=time.perf_counter() - start))
    return engines


def round_robin_ms(calls: dict[str, Callable[[int], Any]], rounds: int, label: str) -> dict[str, list[float]]:
    """Wall ms of every call in each of ``rounds`` rounds (call ``i`` gets the round index), the
    order of the calls rotating between rounds, after one warm-up round that is not kept."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.no_grad():
        for index in tqdm(range(rounds + 1), desc=label):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                calls[name](index)
                if index:
                    times[name].append(1000.0 * (time.perf_counter() - start))
    return times


def pose_rows(
    model: Path,
    engines: list[Engine],
    calibration: dict[str, list[dict[str, np.ndarray]]],
    val_frames: list,
    test_frames: list,
    rounds: int,
    part_rounds: int,
) -> list[dict]:
    """The pose network's row per engine: per-call and per-frame latency (on ``val_frames``),
    output difference from torch, NOCS accuracy on ``val_frames`` and on ``test_frames``."""
    ready = [e for e in engines if e.runner is not None]
    estimators = {}
    for engine in ready:
        estimator = PoseEstimator.from_file(model, engine="torch")
        estimator.use_engine(engine.runner, engine.name)
        estimators[engine.name] = estimator
    inputs = {part: batch_inputs(feeds, OBJECTS) for part, feeds in calibration.items()}
    calls = {e.name: part_calls(e.runner, inputs) for e in ready}
    with torch.no_grad():
        outputs = {name: {part: call().numpy() for part, call in c.items()} for name, c in calls.items()}
    per_call = {
        part: round_robin_ms({n: (lambda _, c=c[part]: c()) for n, c in calls.items()}, part_rounds, part)
        for part in PART_INPUTS
    }
    frames_in = latency_inputs(val_frames, OBJECTS, rounds + 1)
    per_frame = round_robin_ms(
        {n: (lambda i, e=e: e.estimate_masks(*frames_in[i])) for n, e in estimators.items()},
        rounds,
        "pose stage",
    )
    methods = {n: e.estimate_masks for n, e in estimators.items()}
    val_results = evaluate_with_gt_masks(tqdm(val_frames, desc="accuracy (val frames)"), methods)
    results = evaluate_with_gt_masks(tqdm(test_frames, desc="accuracy (test frames)"), methods)
    rows = []
    for engine in engines:
        row: dict[str, Any] = {"network": "Diff9D pose", "engine": engine.name, "precision": engine.precision}
        if engine.runner is None:
            rows.append({**row, "note": engine.note})
            continue
        table = results[engine.name].table()["mean"]
        diff = max(float(np.abs(outputs[engine.name][p] - outputs["torch"][p]).max()) for p in PART_INPUTS)
        rows.append(
            {
                **row,
                "load_s": round(engine.load_s, 2),
                **{f"{p}_ms": round(statistics.median(per_call[p][engine.name]), 3) for p in PART_INPUTS},
                "pose_stage_ms": round(statistics.median(per_frame[engine.name]), 2),
                "val_10deg5cm": round(val_results[engine.name].table()["mean"]["10deg5cm"], 2),
                "10deg5cm": round(table["10deg5cm"], 2),
                "IoU50": round(table["IoU50"], 2),
                "objects": len(results[engine.name].errors),
                "max_abs_diff": diff,
            }
        )
    return rows


def verdicts(rows: list[dict], auto: str) -> tuple[str, str]:
    """Note on each measured pose row why it is or is not shipped (``auto``: the engine ``auto``
    resolves to); returns ``auto`` and the fastest engine within :data:`ACCURACY_POINTS` of torch
    on the validation frames."""
    torch_row = next(r for r in rows if r["engine"] == "torch")
    measured = [r for r in rows if "pose_stage_ms" in r]
    for row in measured:
        row["val_10deg5cm_loss"] = round(torch_row["val_10deg5cm"] - row["val_10deg5cm"], 2)
        row["10deg5cm_loss"] = round(torch_row["10deg5cm"] - row["10deg5cm"], 2)
    accurate = [r for r in measured if r["val_10deg5cm_loss"] <= ACCURACY_POINTS]
    fastest = min(accurate, key=lambda r: r["pose_stage_ms"])
    auto_ms = next(r["pose_stage_ms"] for r in measured if r["engine"] == auto)
    for row in measured:
        if row["engine"] == auto:
            row["note"] = "shipped, auto"
        elif row["engine"] in ENGINES:
            row["note"] = "shipped"
        elif row["val_10deg5cm_loss"] > ACCURACY_POINTS:
            row["note"] = f"not shipped: val 10deg5cm {row['val_10deg5cm_loss']:.2f} points below torch"
        elif row["pose_stage_ms"] >= auto_ms:
            row["note"] = f"not shipped: pose stage no faster than {auto}"
        else:
            row["note"] = f"faster than {auto} and accurate: a candidate for auto"
    return auto, fastest["engine"]


def denoiser_step(
    path: Path, count: int, spread_m: float, samples: int, threads: int
) -> tuple[Forecaster, list]:
    """The forecaster of ``path`` and the ``(args, kwargs)`` of its denoiser calls in one step of a
    forecast of ``count`` tracks (:func:`benchmarks.trajectory.crowd`), ``samples`` samples: one
    call per scene-group size."""
    forecaster = Forecaster.from_checkpoint(path, threads=threads)
    calls: list[tuple[tuple, dict]] = []
    hook = forecaster.model.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append((args, dict(kwargs))), with_kwargs=True
    )
    forecaster.forecast(crowd(count, spread_m), forecaster.model.config.num_future, samples)
    hook.remove()
    return forecaster, list({tuple(args[0].shape): (args, kwargs) for args, kwargs in calls}.values())


def geotdm_case(path: Path, count: int, spread_m: float, threads: int, rounds: int) -> list[dict]:
    """The torch and ONNX Runtime rows of one denoiser step of ``path`` forecasting ``count``
    tracks (each call exported with its fixed shapes)."""
    samples = PipelineConfig().forecast_samples
    forecaster, step = denoiser_step(path, count, spread_m, samples, threads)
    model = forecaster.model
    sessions = [(onnxruntime_session(m, threads), f) for m, f in (export_call(model, *c) for c in step)]
    with torch.no_grad():
        diff = max(
            float(np.abs(s.run(None, f)[0] - model(*a, **k).numpy()).max())
            for (s, f), (a, k) in zip(sessions, step, strict=True)
        )
        times = round_robin_ms(
            {
                "torch": lambda _: [model(*a, **k) for a, k in step],
                "onnxruntime": lambda _: [s.run(None, f) for s, f in sessions],
            },
            rounds,
            f"GeoTDM {path.stem}",
        )
    shapes = " + ".join("x".join(map(str, a[0].shape)) for a, _ in step)
    return [
        {
            "network": f"GeoTDM {path.stem}, {count} tracks x {samples} samples",
            "engine": engine,
            "precision": "fp32",
            "denoiser_ms": round(statistics.median(measured), 2),
            "max_abs_diff": diff if engine != "torch" else 0.0,
            "note": f"one denoiser step: {len(step)} call(s), x_t {shapes}",
        }
        for engine, measured in times.items()
    ]


def geotdm_rows(threads: int, rounds: int) -> list[dict]:
    """:func:`geotdm_case` of the object model (3 objects) and of the first pedestrian model
    (30 people, the people latency case of ``benchmarks/trajectory.py``)."""
    rows = geotdm_case(MODELS / "geotdm_objects.pt", 3, 0.3, threads, rounds)
    for path in list(pedestrian_models(MODELS).values())[:1]:
        rows += geotdm_case(path, 30, 8.0, threads, rounds)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min); targets informative only")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="CPU threads (0 = the free cores)"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="Diff9D checkpoint")
    parser.add_argument("--data", type=Path, default=None, help="test shard directory (else rendered)")
    parser.add_argument("--val-data", type=Path, default=None, help="val shard directory (else rendered)")
    parser.add_argument("--frames", type=int, default=None, help="number of test frames")
    parser.add_argument("--val-frames", type=int, default=None, help="number of val frames (calibration)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    threads = apply_threads(args.threads)
    started = time.perf_counter()
    test_count, val_count, rounds, part_rounds, geotdm_rounds = SIZES[args.quick]
    val_frames = split_frames(args.val_data, args.val_frames or val_count, "val", seed=8)
    estimator = PoseEstimator.from_file(args.model)
    recorder = RecordingNetwork(estimator.network)
    estimator.use_engine(recorder, "torch, recording")
    calibrating = tqdm(val_frames, desc="calibration (val frames)")
    evaluate_with_gt_masks(calibrating, {"torch": estimator.estimate_masks})  # records the network's inputs
    test_frames = split_frames(args.data, args.frames or test_count, "test", seed=7)
    engines = build_engines(estimator.network, recorder.feeds, threads, compile_=not args.quick)
    rows = pose_rows(args.model, engines, recorder.feeds, val_frames, test_frames, rounds, part_rounds)
    auto, fastest = verdicts(rows, resolve_engine("auto", torch.device("cpu")))
    rows += geotdm_rows(threads, geotdm_rounds)
    by_name = {r["engine"]: r for r in rows if r.get("network") == "Diff9D pose" and "pose_stage_ms" in r}
    targets = [
        Target(
            f"{name}: test 10deg5cm loss against torch fp32 (points)",
            row["10deg5cm_loss"],
            ACCURACY_POINTS,
            higher_is_better=False,
        )
        for name, row in by_name.items()
        if "int8" in row["precision"]
    ]
    targets.append(
        Target(
            f"pose stage per frame, auto ({auto}) / fastest engine within {ACCURACY_POINTS:g} point "
            f"of torch fp32 on val ({fastest})",
            by_name[auto]["pose_stage_ms"] / by_name[fastest]["pose_stage_ms"],
            1.0,
            higher_is_better=False,
        )
    )
    columns = [
        "network",
        "engine",
        "precision",
        "load_s",
        "encoder_ms",
        "classifier_ms",
        "denoiser_ms",
        "pose_stage_ms",
        "val_10deg5cm",
        "val_10deg5cm_loss",
        "10deg5cm",
        "IoU50",
        "10deg5cm_loss",
        "objects",
        "max_abs_diff",
        "note",
    ]
    extra = {
        "threads": threads,
        "model": repo_relative(args.model),
        "test_frames": len(test_frames),
        "val_frames": len(val_frames),
        "calibration_calls": {part: len(feeds) for part, feeds in recorder.feeds.items()},
        "batch": OBJECTS,
        "rounds": {"pose_stage": rounds, "per_call": part_rounds, "geotdm": geotdm_rounds},
        "auto": auto,
        "fastest_accurate": fastest,
        "seconds": time.perf_counter() - started,
    }
    report("engines", rows, targets, quick=args.quick, columns=columns, extra=extra)


if __name__ == "__main__":
    main()
