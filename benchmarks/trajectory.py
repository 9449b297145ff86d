"""GeoTDM trajectory forecasting: pedestrians on all five ETH-UCY scenes, charged particles, tabletop
objects, fast samplers against DDPM-1000, online latency and training time.

Run from the repository root:
``python benchmarks/trajectory.py [--quick] --eth-ucy data/eth_ucy [--models models] [--threads 1]``.

* **Pedestrians** (``--models``/``geotdm_<scene>.pt``, each trained with its scene held out; a model
  that was not is refused): every test window of the five leave-one-scene-out splits,
  minADE/minFDE over K = 20 per scene and averaged, beside constant velocity and the learnable prior
  alone (both measured in this run) and the published GeoTDM rows. Two GeoTDM columns: 20 kept of
  the draws chosen on validation (the people path's default, ``people_draws``) and of
  ``COVERING_DRAWS`` = 60, by farthest-point selection of their end points (GeoTDM's own evaluation
  keeps 20 of 60). Constant velocity
  and GeoTDM again with ``DETECTOR_NOISE_M`` = 5 cm of noise on the observed positions (a robot's
  detector is noisier than hand annotation). A scene without a model is listed as missing and
  fails the first target.
* **Sampler, chosen on validation.** Models fine-tuned for a sampler (best of K through it,
  ``TrainOptions.variety_samples``) run at the settings they were tuned for, read from their
  checkpoints; every other sampler runs at them on the validation windows for comparison. For models
  trained by denoising alone the settings are chosen: DDIM and DPM-Solver++ 2M at 2-10 steps run on
  validation windows of every pedestrian model (its training scenes' recordings, never its test
  scene); the rows report minADE, the spread of the 20 samples and the energy score. The table uses
  the one with the lowest minADE among those the online budget affords (at most ``ONLINE_MAX_STEPS``
  network evaluations). Then the temperature of its initial noise (``TEMPERATURES``: one for every
  future frame, or ramped from the first future frame to the last; a few-step deterministic
  sampler's samples spread less than the data) is chosen on the same windows by the lowest energy
  score, a proper score of the whole forecast distribution (Gneiting & Raftery 2007), so the spread
  is chosen for calibration rather than for the best of 20 alone. Then the step limit of fast scenes
  (``MAX_STEPS_M``, by minADE per metre at the windows' own speed and three times it), and last each
  person's temperature scaled with their observed speed (``SPEED_TEMPERATURES``,
  :class:`~diff9d_ros.trajectory.sampling.SpeedTemperature`), by the lowest energy score. Last,
  either way, the draws the 20 are kept of (``VAL_DRAWS``): the fewest within ``DRAWS_TOLERANCE`` of
  the lowest validation minADE.
* **The people path.** The zara1 test scene is written as a rosbag2 (``diff9d traj bag``) and run
  through ``diff9d eval-bag``'s people runner; its minADE must reproduce the table's zara1 row.
* **Fast sampling against DDPM-1000** (the paper's sampler) on at least 256 zara1 test trajectories:
  minADE/minFDE over K = 20 and the energy score. DDPM-1000 costs a thousand network calls per
  sample, more than this benchmark's budget on a CPU: its numbers are computed once by
  ``--ddpm-reference`` and kept in ``results/trajectory_ddpm_reference.json`` under the model
  file's SHA-256 (a changed model invalidates them); the fast sampler is measured in every run.
* **Charged particles** (``models/geotdm_charged.pt``): the val-chosen fast sampler, the prior
  alone and constant velocity on all 2000 test trajectories (ADE/FDE averaged over K = 5).
* **Tabletop objects** (``models/geotdm_objects.pt``, the pipeline's model): minADE/minFDE over 20.
* **Online latency**: ``Forecaster.forecast`` of the pipeline's object model (10 tracks, the
  pipeline's sampler) and of a pedestrian model (30 people, the chosen sampler; 20 drawn, and 20
  kept of the chosen draws and of 60), 20 samples, 12 frames, 1 and 2 threads.
* **Training time**: each training run behind each model (denoising, then any fine-tuning) run for
  a few steps here, CPU seconds per step times the steps that run was set to take (measured, not
  read from the checkpoint).

Everything but the DDPM reference is measured in this run; wall times on a shared CPU include
contention, so CPU times are reported too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Target, format_table, report, results_dir  # noqa: E402
from diff9d_ros.pipeline import PipelineConfig  # noqa: E402
from diff9d_ros.trajectory.datasets import DEFAULT_ETH_UCY, PEDESTRIAN_TASKS, load_windows, task_spec  # noqa: E402
from diff9d_ros.trajectory.evaluate import EvalResult, evaluate  # noqa: E402
from diff9d_ros.trajectory.forecaster import Forecaster  # noqa: E402
from diff9d_ros.trajectory.model import GeoTDM  # noqa: E402
from diff9d_ros.trajectory.sampling import (  # noqa: E402
    SpeedTemperature,
    Temperature,
    temperature_ends,
    temperature_label,
)
from diff9d_ros.trajectory.windows import Windows, jittered, random_windows, sped_up, windows_at  # noqa: E402

MODELS = ROOT / "models"
#: GeoTDM (NeurIPS 2024) Table 3: ETH-UCY minADE/minFDE, K = 20, DDPM-1000.
PUBLISHED = {
    "eth": (0.46, 0.64),
    "hotel": (0.13, 0.21),
    "univ": (0.24, 0.45),
    "zara1": (0.21, 0.39),
    "zara2": (0.16, 0.30),
}
PUBLISHED_AVERAGE = (0.23, 0.40)
CHARGED_PAPER = (
    ("GeoTDM (paper, DDPM-1000)", 0.110, 0.258),
    ("EGNN (paper)", 0.186, 0.426),
    ("EqMotion (paper)", 0.141, 0.310),
)
#: Fast samplers compared (<= 10 steps) and the online one (the Forecaster's and pipeline's default).
FAST = (
    ("dpmpp_2m", 2),
    ("ddim", 2),
    ("dpmpp_2m", 3),
    ("dpmpp_2m", 5),
    ("dpmpp_2m", 10),
    ("ddim", 3),
    ("ddim", 5),
    ("ddim", 10),
)
#: The charged model's candidates: its error grows with the step count past 5 (model card), and each
#: step costs 8 times a pedestrian one.
CHARGED_SAMPLERS = tuple((name, steps) for name, steps in FAST if steps <= 5)
#: Initial-noise temperatures tried on validation for the chosen pedestrian sampler: one for every
#: future frame, and (first, last) ramps over the future frames (the forecast's uncertainty grows
#: with its horizon; :mod:`diff9d_ros.trajectory.sampling`).
TEMPERATURES: tuple[Temperature, ...] = (
    1.0,
    1.4,
    1.7,
    2.0,
    2.4,
    2.8,
    3.2,
    *((first, last) for first in (0.5, 1.0, 1.5) for last in (3.0, 3.5, 4.0)),
)
ONLINE_SAMPLER = (PipelineConfig().forecast_sampler, PipelineConfig().forecast_steps)
#: Largest median step per frame (m) forecast as observed, tried on validation (None: every speed;
#: :func:`diff9d_ros.trajectory.sampling.speed_normalised`), each on the validation windows as they
#: are and sped up :data:`SPEED_STRESS` times (every position scaled): the pooled minADE per metre of
#: the two decides.
MAX_STEPS_M: tuple[float | None, ...] = (None, 0.25, 0.35, 0.5)
SPEED_STRESS = 3.0
#: Each person's temperature times (speed + floor) / (reference + floor), (reference, floor) in metres
#: per 0.4 s frame (None: the same for everyone), tried on validation with the chosen sampler,
#: temperature and step limit; the lowest pooled energy score wins.
SPEED_TEMPERATURES: tuple[tuple[float, float] | None, ...] = (
    None,
    *((reference, floor) for reference in (0.2, 0.3, 0.45) for floor in (0.1, 0.2, 0.3)),
)
#: Samples drawn per person of which 20 are kept (:func:`~diff9d_ros.trajectory.covering.covering_subset`):
#: GeoTDM's ETH-UCY evaluation keeps 20 of 60 draws, so its published rows are 20 of 60. The table
#: reports the people path's default (``people_draws``, chosen on validation) and this protocol side
#: by side.
COVERING_DRAWS = 60
#: Draws per person tried on validation with the chosen settings (20: all kept); the fewest whose
#: pooled minADE is within ``DRAWS_TOLERANCE`` (relative) of the lowest is the people path's default:
#: each draw costs forecast time (the latency rows), so a draw that gains less than that is not taken.
VAL_DRAWS = (20, 30, 40, COVERING_DRAWS)
DRAWS_TOLERANCE = 0.01
#: Standard deviation (m) of the Gaussian noise put on the observed positions of the "detector noise"
#: rows (validation and test; the futures stay as annotated): ETH-UCY's positions were annotated by
#: hand, a robot's person detector jitters by centimetres from frame to frame.
DETECTOR_NOISE_M = 0.05
#: The stored DDPM-1000 reference, in the results folder of the run (``--ddpm-reference`` writes it).
REFERENCE_NAME = "trajectory_ddpm_reference.json"
DDPM_SCENE, DDPM_AGENTS, DDPM_SEED = "zara1", 256, 7
#: Targets of the pedestrian table (issue: pedestrians end to end).
AVERAGE_TARGET = (0.30, 0.55)
CV_MARGIN = 0.8  # every scene's minFDE at most 80 % of constant velocity's
#: Online budget: forecasting 30 people (20 samples x 12 frames) takes at most this, median; it holds
#: for samplers of at most ONLINE_MAX_STEPS network evaluations (the latency rows measure it).
PEOPLE_LATENCY_MS = 50.0
ONLINE_MAX_STEPS = 3


def _row(section: str, method: str, windows: str, result: EvalResult, per_128: float | None = None) -> dict:
    row = {
        "section": section,
        "method": method,
        "windows": windows,
        "agents": result.num_agents,
        "ade": round(result.ade, 4),
        "fde": round(result.fde, 4),
        "spread": None if result.spread is None else round(result.spread, 4),
        "energy": None if result.energy is None else round(result.energy, 4),
        "s_per_128": None if per_128 is None else round(per_128, 3),
    }
    return row


def _load(path: Path) -> GeoTDM:
    if not path.is_file():
        raise SystemExit(f"no model {path}: train it (see its model card) or pass the right --models folder")
    model, _ = GeoTDM.load(path)
    return model.eval()


def _eval(model: GeoTDM | None, groups: list[Windows], task: str, sampler: str = "", steps: int = 0, **kw):
    spec = task_spec(task)
    if model is None:
        return evaluate(None, groups, num_samples=1, reduce="mean", **kw)
    samples = 1 if sampler == "prior" else spec.num_eval_samples
    reduce = "mean" if sampler == "prior" else spec.metric
    return evaluate(
        model,
        groups,
        num_samples=samples,
        reduce=reduce,
        sampler=sampler,
        num_steps=steps,
        planar=spec.planar,
        **kw,
    )


# ----- pedestrians -----------------------------------------------------------------------------
def pedestrian_models(folder: Path) -> dict[str, Path]:
    """``geotdm_<scene>.pt`` of ``folder`` per scene present; SystemExit for a model that did not hold
    its scene out (the table would then score training data)."""
    found = {}
    for scene in PEDESTRIAN_TASKS:
        path = folder / f"geotdm_{scene}.pt"
        if path.is_file():
            task = GeoTDM.load(path)[1].get("task")
            if task != scene:
                raise SystemExit(f"{path} was trained for task {task!r}, not with {scene} held out")
            found[scene] = path
    return found


def pooled(results: list[EvalResult]) -> EvalResult:
    """One result over the agents of all ``results`` (agent-weighted means, summed times)."""
    agents = sum(r.num_agents for r in results)

    def mean(name: str) -> float:
        return sum(getattr(r, name) * r.num_agents for r in results) / agents

    out = EvalResult(
        mean("ade"), mean("fde"), agents, sum(r.seconds for r in results), sum(r.num_batches for r in results)
    )
    if all(r.spread is not None for r in results):
        out.mean_ade, out.spread = mean("mean_ade"), mean("spread")
    return out


def crowd(count: int, spread_m: float, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` walkers on the ground plane, 8 observed frames each, within +-``spread_m``."""
    rng = np.random.default_rng(seed)
    step = rng.normal(0.0, 1.0, (count, 1, 3)) * [1.0, 1.0, 0.0] * spread_m / 10
    start = rng.uniform(-spread_m, spread_m, (count, 1, 3)) * [1.0, 1.0, 0.0]
    return {f"agent_{i}": start[i] + np.arange(8)[:, None] * step[i] for i in range(count)}


def forecast_ms(
    path: Path,
    sampler: tuple[str, int],
    count: int,
    spread_m: float,
    threads: int,
    repeats: int,
    draws: int | None = None,
):
    """Median and p90 wall ms and median CPU ms of one ``Forecaster.forecast`` of ``count`` tracks
    (20 samples, 12 frames; kept of ``draws`` when given) after a warm-up call."""
    tracks = crowd(count, spread_m)
    forecaster = Forecaster.from_checkpoint(
        path, sampler=sampler[0], num_steps=sampler[1], threads=threads, draws=draws
    )
    forecaster.forecast(tracks, 12, 20)
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        forecaster.forecast(tracks, 12, 20)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return 1000 * float(np.median(wall)), 1000 * float(np.percentile(wall, 90)), 1000 * float(np.median(cpu))


#: The online settings of the people path: sampler (name, steps), initial-noise temperature, step limit
#: of fast scenes, speed scaling of the temperature.
Settings = tuple[tuple[str, int], Temperature, float | None, SpeedTemperature | None]


def tuned_settings(models: dict[str, Path]) -> Settings | None:
    """The sampler settings the pedestrian models were fine-tuned for with the best-of-K objective
    (``TrainOptions.variety_samples``; their validation sampler), None if none was fine-tuned;
    SystemExit if only some were, or for different settings."""
    found = {}
    for scene, path in models.items():
        options = GeoTDM.load(path)[1].get("options", {})
        if options.get("variety_samples"):
            first, last = options["eval_temperature"]
            pair = options["eval_speed_temperature"]
            found[scene] = (
                (options["eval_sampler"], int(options["eval_steps"])),
                float(first) if first == last else (float(first), float(last)),
                options["eval_max_step"],
                None if pair is None else SpeedTemperature(*pair),
            )
        else:
            found[scene] = None
    kinds = set(found.values())
    if kinds == {None}:
        return None
    if len(kinds) > 1:
        listed = "; ".join(f"{scene}: {value}" for scene, value in found.items())
        raise SystemExit(
            f"the pedestrian models were not all fine-tuned for the same sampler settings: {listed}"
        )
    return kinds.pop()


def choose_pedestrian_sampler(
    models: dict[str, Path], data: Path, per_model: int, candidates_only: bool = False
) -> tuple[tuple[str, int], Temperature, float | None, SpeedTemperature | None, int, list[dict]]:
    """The fast sampler for the pedestrian table, the temperature of its initial noise, the
    largest step forecast as observed and the speed scaling of each person's temperature: the ones
    the models were fine-tuned for (:func:`tuned_settings`), or else chosen on validation windows;
    and the draws per person the 20 samples are kept of, chosen on validation windows.

    Every sampler of :data:`FAST` runs on ``per_model`` validation windows of each model (windows of
    its training scenes' recordings, never its held-out scene); the rows show how the sampler and
    its step count move minADE, the spread of the samples and the energy score. Models fine-tuned
    through a sampler run every one at the settings they were tuned for, and the choice is theirs
    (the settings were chosen on validation before fine-tuning, :func:`choose_settings`). Otherwise
    the settings are chosen as :func:`choose_settings` says. Then every draw count of
    :data:`VAL_DRAWS` (20 kept of that many by farthest-point selection of their end points) runs
    with them, and the fewest within :data:`DRAWS_TOLERANCE` of the lowest pooled minADE win. The
    last row is the chosen settings on the same windows with :data:`DETECTOR_NOISE_M` of noise on the
    observed positions; it chooses nothing.
    """
    loaded = {scene: _load(path) for scene, path in models.items()}
    val = {s: random_windows(load_windows(s, "val", data_dir=data), per_model, seed=0) for s in models}
    windows = f"val[{per_model} x {len(models)}]"
    tuned = tuned_settings(models)
    if tuned is None:
        best, temperature, max_step, speed, rows = choose_settings(loaded, val, windows, candidates_only)
    else:
        (best, temperature, max_step, speed), rows = tuned, []
        for sampler in FAST:
            if candidates_only and sampler[1] > ONLINE_MAX_STEPS:
                continue
            kw = dict(temperature=temperature, max_step=max_step, speed_temperature=speed, progress=True)
            result = pooled([_eval(loaded[s], val[s], s, *sampler, **kw) for s in models])
            method = f"GeoTDM {people_label(sampler, temperature, max_step, speed)}"
            row = _row(f"pedestrian val sampler (tuned for {sampler_label(best)})", method, windows, result)
            row["tuned"] = sampler == best
            rows.append(row)
    settings = dict(temperature=temperature, max_step=max_step, speed_temperature=speed)
    by_draws = {}
    for draws in VAL_DRAWS:
        result = pooled([_eval(loaded[s], val[s], s, *best, draws=draws, **settings) for s in models])
        method = f"GeoTDM {people_label(best, temperature, max_step, speed, draws)}"
        rows.append(_row("pedestrian val draws", method, windows, result))
        by_draws[draws] = result.ade
    lowest = min(by_draws.values())
    draws = min(d for d, ade in by_draws.items() if ade <= (1.0 + DRAWS_TOLERANCE) * lowest)
    settings["draws"] = draws
    noisy = {s: jittered(val[s], DETECTOR_NOISE_M) for s in models}
    result = pooled([_eval(loaded[s], noisy[s], s, *best, **settings) for s in models])
    method = f"GeoTDM {people_label(best, temperature, max_step, speed, draws)}"
    jitter = f"{windows} jittered {DETECTOR_NOISE_M:g} m"
    rows.append(_row("pedestrian val detector noise", method, jitter, result))
    return best, temperature, max_step, speed, draws, rows


def choose_settings(
    loaded: dict[str, GeoTDM], val: dict[str, list[Windows]], windows: str, candidates_only: bool
) -> tuple[tuple[str, int], Temperature, float | None, SpeedTemperature | None, list[dict]]:
    """The people path's settings chosen on the validation windows ``val`` of the models ``loaded``.

    Candidates are the samplers of :data:`FAST` the online budget affords (at most
    :data:`ONLINE_MAX_STEPS` network evaluations); the one with the lowest pooled minADE wins. Then
    every temperature of :data:`TEMPERATURES` runs with it, and the one with the lowest pooled
    energy score wins. Then every step limit of :data:`MAX_STEPS_M` runs with both on the same
    windows and on them sped up :data:`SPEED_STRESS` times; the lowest mean of the two pooled
    minADEs per metre wins. Last, every speed scaling of :data:`SPEED_TEMPERATURES` runs with all
    three; the lowest pooled energy score wins.
    """
    models = list(loaded)
    rows, best, best_ade = [], None, float("inf")
    for name, steps in FAST:
        if candidates_only and steps > ONLINE_MAX_STEPS:
            continue
        result = pooled([_eval(loaded[s], val[s], s, name, steps, progress=True) for s in models])
        row = _row("pedestrian val", f"GeoTDM {name}-{steps}", windows, result)
        row["candidate"] = steps <= ONLINE_MAX_STEPS
        rows.append(row)
        if row["candidate"] and result.ade < best_ade:
            best, best_ade = (name, steps), result.ade
    temperature, best_energy = 1.0, float("inf")
    for tau in TEMPERATURES:
        result = pooled([_eval(loaded[s], val[s], s, *best, progress=True, temperature=tau) for s in models])
        rows.append(_row("pedestrian val temperature", f"GeoTDM {sampler_label(best, tau)}", windows, result))
        if result.energy < best_energy:
            temperature, best_energy = tau, result.energy
    max_step, best_ade = None, float("inf")
    for limit in MAX_STEPS_M:
        per_metre = []
        for speed in (1.0, SPEED_STRESS):
            fast = {s: sped_up(val[s], speed) for s in models}
            result = pooled(
                [_eval(loaded[s], fast[s], s, *best, temperature=temperature, max_step=limit) for s in models]
            )
            result.ade, result.fde = result.ade / speed, result.fde / speed
            result.mean_ade = None if result.mean_ade is None else result.mean_ade / speed
            result.spread = None if result.spread is None else result.spread / speed
            method = f"GeoTDM {people_label(best, temperature, limit)}"
            rows.append(_row("pedestrian val speed (per metre)", method, f"{windows} x{speed:g}", result))
            per_metre.append(result.ade)
        if np.mean(per_metre) < best_ade:
            max_step, best_ade = limit, float(np.mean(per_metre))
    speed, best_energy = None, float("inf")
    for pair in SPEED_TEMPERATURES:
        candidate = None if pair is None else SpeedTemperature(*pair)
        result = pooled(
            [
                _eval(
                    loaded[s],
                    val[s],
                    s,
                    *best,
                    temperature=temperature,
                    max_step=max_step,
                    speed_temperature=candidate,
                )
                for s in models
            ]
        )
        method = f"GeoTDM {people_label(best, temperature, max_step, candidate)}"
        rows.append(_row("pedestrian val speed temperature", method, windows, result))
        if result.energy < best_energy:
            speed, best_energy = candidate, result.energy
    return best, temperature, max_step, speed, rows


def sampler_label(sampler: tuple[str, int], temperature: Temperature = 1.0) -> str:
    """``ddim-3``, ``ddim-3 T2`` with an initial-noise temperature other than 1, ``ddim-3 T1-3.5``
    with a ramp from 1 at the first future frame to 3.5 at the last."""
    label = f"{sampler[0]}-{sampler[1]}"
    temperature_part = temperature_label(temperature)
    return f"{label} T{temperature_part}" if temperature_part else label


def people_label(
    sampler: tuple[str, int],
    temperature: Temperature,
    max_step: float | None,
    speed: SpeedTemperature | None = None,
    draws: int | None = None,
) -> str:
    """:func:`sampler_label` with the step limit of fast scenes, the speed scaling of the
    temperature and the draws the 20 are kept of (None or 20: all drawn are kept), ``dpmpp_2m-3
    T0.5-3 max step 0.5 m speed 0.3/0.2 m 20 of 60``."""
    label = sampler_label(sampler, temperature)
    label = label if max_step is None else f"{label} max step {max_step:g} m"
    label = label if speed is None else f"{label} {speed.label()}"
    return label if draws in (None, 20) else f"{label} 20 of {draws}"


def _average_row(method: str, ade: float, fde: float, windows: str) -> dict:
    return {"section": "pedestrian", "method": method, "windows": windows, "ade": ade, "fde": fde}


def pedestrian_rows(
    models: dict[str, Path],
    data: Path,
    sampler: tuple[str, int],
    temperature: Temperature,
    max_step: float | None,
    speed: SpeedTemperature | None,
    draws: int,
    limit: int | None,
) -> tuple[list[dict], dict[str, tuple[EvalResult, EvalResult]], dict[str, tuple[EvalResult, EvalResult]]]:
    """Per scene present: constant velocity, the prior alone and GeoTDM (``sampler`` at
    ``temperature``, faster scenes at ``max_step``, ``speed`` scaling each person's temperature; 20
    kept of ``draws``, the people path's default, and of :data:`COVERING_DRAWS`) on every test window
    of the held-out scene, and the published row; then the averages over the scenes. Constant
    velocity and GeoTDM (the default) run again with :data:`DETECTOR_NOISE_M` of noise on the
    observed positions (:func:`jittered`). Per scene the (GeoTDM, constant velocity) results of the
    default and of 20 kept of :data:`COVERING_DRAWS`."""
    rows, found, covering, jittering = [], {}, {}, {}
    jitter = f"observed positions jittered {DETECTOR_NOISE_M:g} m"
    label_of = people_label(sampler, temperature, max_step, speed, draws)
    covered_label = people_label(sampler, temperature, max_step, speed, COVERING_DRAWS)
    for scene in PEDESTRIAN_TASKS:
        published = _average_row(f"{scene}: GeoTDM (paper, DDPM-1000, 20 of 60)", *PUBLISHED[scene], "paper")
        if scene not in models:
            rows += [_average_row(f"{scene}: GeoTDM (no model)", None, None, "missing"), published]
            continue
        model = _load(models[scene])
        groups = load_windows(scene, "test", data_dir=data, limit=limit)
        count = sum(len(g) for g in groups)
        label = f"{scene} test ({count} windows)"
        cv = _eval(None, groups, scene)
        prior = _eval(model, groups, scene, "prior", 0)
        start = time.perf_counter()
        settings = dict(progress=True, temperature=temperature, max_step=max_step, speed_temperature=speed)
        geotdm = _eval(model, groups, scene, *sampler, draws=draws, **settings)
        per_128 = (time.perf_counter() - start) * 128 / max(1, count)
        start = time.perf_counter()
        covered = _eval(model, groups, scene, *sampler, draws=COVERING_DRAWS, **settings)
        kept_per_128 = (time.perf_counter() - start) * 128 / max(1, count)
        noisy = jittered(groups, DETECTOR_NOISE_M)
        noisy_cv = _eval(None, noisy, scene)
        noisy_geotdm = _eval(model, noisy, scene, *sampler, draws=draws, **settings)
        rows += [
            _row("pedestrian", f"{scene}: constant velocity", label, cv),
            _row("pedestrian", f"{scene}: GeoTDM prior only", label, prior),
            _row("pedestrian", f"{scene}: GeoTDM {label_of} (min of 20)", label, geotdm, per_128),
            _row("pedestrian", f"{scene}: GeoTDM {covered_label} (min of 20)", label, covered, kept_per_128),
            _row("pedestrian", f"{scene}: constant velocity, {jitter}", label, noisy_cv),
            _row("pedestrian", f"{scene}: GeoTDM {label_of} (min of 20), {jitter}", label, noisy_geotdm),
            published,
        ]
        found[scene], covering[scene] = (geotdm, cv), (covered, cv)
        jittering[scene] = (noisy_geotdm, noisy_cv)
    scenes = f"{len(found)} of 5 scenes" + ("" if len(found) == 5 else f" ({', '.join(found)})")
    for method, results in (
        ("constant velocity", [r[1] for r in found.values()]),
        (f"GeoTDM {label_of}", [r[0] for r in found.values()]),
        (f"GeoTDM {covered_label}", [r[0] for r in covering.values()]),
        (f"constant velocity, {jitter}", [r[1] for r in jittering.values()]),
        (f"GeoTDM {label_of}, {jitter}", [r[0] for r in jittering.values()]),
    ):
        rows.append(
            _average_row(
                f"average: {method}",
                round(float(np.mean([r.ade for r in results])), 4),
                round(float(np.mean([r.fde for r in results])), 4),
                scenes,
            )
        )
    rows.append(_average_row("average: GeoTDM (paper, DDPM-1000, 20 of 60)", *PUBLISHED_AVERAGE, "paper"))
    return rows, found, covering


def scene_motion_rows(data: Path, limit: int | None) -> list[dict]:
    """How the people of each ETH-UCY test scene move, over every agent of every test window: the
    median observed speed, the median ratio of the future's mean speed to the observed one (people
    who walk, observed faster than 0.25 m/s), the median speed change between observed frames (how
    unsteady the annotated steps are) and the share of people standing (below 0.125 m/s). A model
    trained on the other scenes knows their habits only; these numbers say where a scene differs."""
    period_s = task_spec(PEDESTRIAN_TASKS[0]).frame_period_s
    rows = []
    for scene in PEDESTRIAN_TASKS:
        groups = load_windows(scene, "test", data_dir=data, limit=limit)
        tracks = np.concatenate([g.positions.reshape(-1, *g.positions.shape[2:]) for g in groups])
        observed, future = tracks[:, : groups[0].num_obs, :2], tracks[:, groups[0].num_obs - 1 :, :2]
        observed_steps = np.linalg.norm(np.diff(observed, axis=1), axis=-1)
        observed_speed = observed_steps.mean(1) / period_s
        future_speed = np.linalg.norm(np.diff(future, axis=1), axis=-1).mean(1) / period_s
        walking = observed_speed > 0.25
        rows.append(
            {
                "scene": scene,
                "agents": len(tracks),
                "observed_speed_m_s": round(float(np.median(observed_speed)), 3),
                "future_over_observed_speed": round(
                    float(np.median(future_speed[walking] / observed_speed[walking])), 3
                ),
                "speed_change_per_frame_m": round(
                    float(np.median(np.abs(np.diff(observed_steps, axis=1)).mean(1))), 4
                ),
                "standing": round(float(np.mean(observed_speed < 0.125)), 3),
            }
        )
    return rows


def pedestrian_targets(
    found: dict[str, tuple[EvalResult, EvalResult]], name: str, scenes_required: bool = True
) -> list[Target]:
    """The pedestrian table's targets (see the module docstring) for the (GeoTDM, constant velocity)
    results per scene of ``found``, the method called ``name``; with ``scenes_required``, a missing
    scene fails the first."""
    mean_ade = float(np.mean([r[0].ade for r in found.values()]))
    mean_fde = float(np.mean([r[0].fde for r in found.values()]))
    over = f"{len(found)} scenes, K=20"
    targets = []
    if scenes_required:
        targets.append(Target("pedestrian scenes with a held-out model (of 5)", len(found), 5, True))
    targets += [
        Target(f"pedestrians {name} average minADE ({over}) m", mean_ade, AVERAGE_TARGET[0], False),
        Target(f"pedestrians {name} average minFDE ({over}) m", mean_fde, AVERAGE_TARGET[1], False),
    ]
    targets += [
        Target(f"{scene} {name} minFDE / constant-velocity FDE", geotdm.fde / cv.fde, CV_MARGIN, False)
        for scene, (geotdm, cv) in found.items()
    ]
    targets += [
        Target(
            f"(goal beyond) {name} average minADE <= published GeoTDM, {over}",
            mean_ade,
            PUBLISHED_AVERAGE[0],
            False,
        ),
        Target(
            f"(goal beyond) {name} average minFDE <= published GeoTDM, {over}",
            mean_fde,
            PUBLISHED_AVERAGE[1],
            False,
        ),
    ]
    return targets


def zara1_bag_row(
    model: Path,
    data: Path,
    sampler: tuple[str, int],
    temperature: Temperature,
    max_step: float | None,
    speed: SpeedTemperature | None,
    draws: int,
    max_messages: int | None,
    threads: int,
) -> tuple[dict, dict]:
    """The zara1 test scene written as a rosbag2 (``diff9d traj bag``) and run through the people
    path (``diff9d eval-bag``): scored forecasts are the protocol's windows, seen online."""
    from diff9d_ros.people_runner import run_people
    from diff9d_ros.pipeline import PipelineConfig
    from diff9d_ros.sources.people import PeopleBagSource, write_people_bag

    first, last = temperature_ends(temperature)
    with tempfile.TemporaryDirectory() as folder:
        bag = Path(folder) / "zara1_bag"
        write_people_bag(data, "zara1", bag, max_messages=max_messages)
        config = PipelineConfig(
            people_model_path=str(model),
            people_sampler=sampler[0],
            people_steps=sampler[1],
            people_temperature_first=first,
            people_temperature=last,
            people_max_step_m=max_step or 0.0,
            people_speed_reference_m=0.0 if speed is None else speed.reference,
            people_speed_floor_m=PipelineConfig.people_speed_floor_m if speed is None else speed.floor,
            people_draws=0 if draws == 20 else draws,
            threads=threads,
        )
        result = run_people(PeopleBagSource(bag), config, Path(folder) / "out", title="eval-bag zara1")
    forecast = result.metrics["forecast"]
    row = {
        "section": "pedestrian bag",
        "method": f"zara1 bag through eval-bag: GeoTDM {people_label(sampler, temperature, max_step, speed)}",
        "windows": f"{forecast.get('forecasts_scored', 0)} forecasts",
        "agents": forecast.get("forecasts_scored", 0),
        "ade": round(forecast.get("min_ade_m", float("nan")), 4),
        "fde": round(forecast.get("min_fde_m", float("nan")), 4),
    }
    return row, result.metrics["throughput"]


# ----- DDPM-1000 reference ---------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ddpm_windows(data: Path) -> list[Windows]:
    """zara1 test windows in a seeded random order, as few as hold :data:`DDPM_AGENTS` trajectories."""
    groups = load_windows(DDPM_SCENE, "test", data_dir=data)
    agents = np.concatenate([np.full(len(g), g.num_agents) for g in groups])
    order = np.random.default_rng(DDPM_SEED).permutation(len(agents))
    count = int(np.searchsorted(np.cumsum(agents[order]), DDPM_AGENTS)) + 1
    return windows_at(groups, np.sort(order[:count]))


def _summary(result: EvalResult) -> dict:
    return {
        k: getattr(result, k) for k in ("ade", "fde", "mean_ade", "spread", "energy", "num_agents", "seconds")
    }


def compute_ddpm_reference(models: dict[str, Path], data: Path) -> dict:
    """DDPM-1000 (K = 20) of the zara1 model on :func:`ddpm_windows`, written to
    :data:`REFERENCE_NAME` in the results folder."""
    if DDPM_SCENE not in models:
        raise SystemExit(f"the DDPM-1000 reference needs geotdm_{DDPM_SCENE}.pt")
    path = models[DDPM_SCENE]
    windows = ddpm_windows(data)
    start = time.process_time()
    result = _eval(_load(path), windows, DDPM_SCENE, "ddpm", 1000, progress=True, batch_size=16)
    entry = {
        "model": path.name,
        "sha256": _sha256(path),
        "windows": sum(len(g) for g in windows),
        "seed": DDPM_SEED,
        "cpu_s": time.process_time() - start,
        **_summary(result),
    }
    path = results_dir() / REFERENCE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}: {entry}")
    return entry


def ddpm_rows(
    models: dict[str, Path], data: Path, sampler: tuple[str, int], temperature: Temperature = 1.0
) -> tuple[list[dict], list[Target]]:
    """The fast sampler (at ``temperature``) against the stored DDPM-1000 reference on the same
    windows and noise seed."""
    name = sampler_label(sampler, temperature)
    model_path = models.get(DDPM_SCENE)
    reference_path = results_dir() / REFERENCE_NAME
    reference = json.loads(reference_path.read_text(encoding="utf-8")) if reference_path.is_file() else None
    if model_path is None or reference is None or reference["sha256"] != _sha256(model_path):
        why = "no zara1 model" if model_path is None else "no DDPM-1000 reference for this zara1 model"
        print(f"{why}: run --ddpm-reference once; the DDPM targets are missed")
        return [], [Target(f"{name} vs DDPM-1000 measured ({why})", 0, 1, True)]
    windows = ddpm_windows(data)
    result = _eval(_load(model_path), windows, DDPM_SCENE, *sampler, progress=True, temperature=temperature)
    count = sum(len(g) for g in windows)
    label = f"{DDPM_SCENE} test[{count} drawn, seed {DDPM_SEED}]"
    rows = [
        {
            "section": "ddpm",
            "method": "GeoTDM ddpm-1000 (stored reference)",
            "windows": label,
            "agents": reference["num_agents"],
            "ade": round(reference["ade"], 4),
            "fde": round(reference["fde"], 4),
            "spread": round(reference["spread"], 4),
            "energy": round(reference["energy"], 4),
            "s_per_128": round(reference["seconds"] * 128 / count, 1),
        },
        _row("ddpm", f"GeoTDM {name}", label, result, result.seconds * 128 / count),
    ]
    agents = f"{result.num_agents} zara1 trajectories"
    targets = [
        Target(
            f"{name} minADE vs DDPM-1000 ({agents}), % worse",
            100 * (result.ade / reference["ade"] - 1),
            5.0,
            False,
        ),
        Target(
            f"{name} energy score vs DDPM-1000 ({agents}), % worse",
            100 * (result.energy / reference["energy"] - 1),
            5.0,
            False,
        ),
        Target(f"{name} speed-up over DDPM-1000 (wall)", reference["seconds"] / result.seconds, 40.0),
    ]
    return rows, targets


# ----- charged particles and tabletop objects -----------------------------------------------------
def charged_rows(val_count: int, test_count: int) -> tuple[list[dict], list[dict], list[Target]]:
    model = _load(MODELS / "geotdm_charged.pt")
    val = load_windows("charged", "val")[0].subset(slice(0, val_count))
    val_rows, best, best_ade = [], FAST[0], float("inf")
    for name, steps in CHARGED_SAMPLERS:
        result = _eval(model, [val], "charged", name, steps, progress=True)
        val_rows.append(_row("charged val", f"GeoTDM {name}-{steps}", f"val[:{val_count}]", result))
        if result.ade < best_ade:
            best, best_ade = (name, steps), result.ade
    test = [load_windows("charged", "test")[0].subset(slice(0, test_count))]
    label = f"test[:{test_count}]"
    cv = _eval(None, test, "charged")
    prior = _eval(model, test, "charged", "prior", 0)
    start = time.perf_counter()
    chosen = _eval(model, test, "charged", *best, progress=True)
    per_128 = (time.perf_counter() - start) * 128 / test_count
    name = f"{best[0]}-{best[1]}"
    rows = [
        _row("charged", "constant velocity", label, cv),
        _row("charged", "GeoTDM prior only", label, prior),
        _row("charged", f"GeoTDM {name} (chosen on val, mean of 5)", label, chosen, per_128),
        *(
            {"section": "charged", "method": m, "windows": "paper (2000 test)", "ade": a, "fde": f}
            for m, a, f in CHARGED_PAPER
        ),
    ]
    targets = [
        Target(f"charged {name} ADE < EGNN 0.186", chosen.ade, 0.186, False),
        Target(f"charged {name} FDE < EGNN 0.426", chosen.fde, 0.426, False),
        Target(f"charged {name} ADE <= 0.5 x constant velocity", chosen.ade, 0.5 * cv.ade, False),
    ]
    return rows, val_rows, targets


def objects_rows(count: int) -> list[dict]:
    model = _load(MODELS / "geotdm_objects.pt")
    groups = load_windows("tabletop", "test", limit=count)
    label = f"tabletop test[:{sum(len(g) for g in groups)}]"
    rows = [
        _row("objects", "constant velocity", label, _eval(None, groups, "tabletop")),
        _row("objects", "GeoTDM prior only", label, _eval(model, groups, "tabletop", "prior", 0)),
    ]
    for name, steps in (ONLINE_SAMPLER, ("ddim", 5), ("ddim", 10)):
        rows.append(
            _row(
                "objects",
                f"GeoTDM {name}-{steps} (min of 20)",
                label,
                _eval(model, groups, "tabletop", name, steps),
            )
        )
    return rows


# ----- latency and training time ---------------------------------------------------------------------------
def latency_rows(
    people_model: Path,
    people_sampler: tuple[str, int],
    people_draws: int,
    repeats: int,
    thread_counts: tuple[int, ...] = (1, 2),
    objects: bool = True,
) -> tuple[list[dict], list[Target]]:
    """``Forecaster.forecast`` of the pipeline's object model (10 tracks, the pipeline's sampler) and
    of a pedestrian model (30 people, the val-chosen sampler; 20 drawn, 20 kept of ``people_draws``,
    the people path's default, and of :data:`COVERING_DRAWS`), 20 samples x 12 frames, 1 and 2
    threads."""
    counts = sorted({20, people_draws, COVERING_DRAWS})
    cases = [("people", people_model, people_sampler, 30, 8.0, None if d == 20 else d) for d in counts]
    if objects:
        cases.insert(0, ("objects", MODELS / "geotdm_objects.pt", ONLINE_SAMPLER, 10, 0.3, None))
    rows, targets = [], []
    for kind, path, sampler, count, spread_m, draws in cases:
        measured = []
        for threads in thread_counts:
            median, p90, cpu = forecast_ms(path, sampler, count, spread_m, threads, repeats, draws)
            measured.append(median)
            rows.append(
                {
                    "model": path.name,
                    "sampler": "-".join(map(str, sampler)),
                    "draws": draws or 20,
                    "agents": count,
                    "threads": threads,
                    "median_ms": round(median, 2),
                    "p90_ms": round(p90, 2),
                    "cpu_ms_per_call": round(cpu, 2),
                }
            )
        kept = "20 samples" if draws is None else f"20 of {draws} draws"
        name = f"{kind} ({path.name}) {count} x {kept} x 12 frames, {sampler[0]}-{sampler[1]} median ms"
        targets.append(Target(name, min(measured), PEOPLE_LATENCY_MS, False))
    return rows, targets


def training_phases(path: Path) -> list[tuple[str, dict, int]]:
    """The training runs that made the model file ``path``, first to last: (name, options, steps its
    run was set to take) for the run it was trained from scratch with and for each fine-tuning run
    (``TrainOptions.init_from``) after it (the shipped checkpoint, chosen on validation, may be an
    earlier step of its run, and a run may have been stopped early: the longer counts)."""
    _, payload = GeoTDM.load(path)
    phases, record = [], payload
    while record is not None:
        options = dict(record["options"])
        name = f"best-of-{options['variety_samples']}" if options.get("variety_samples") else "denoising"
        phases.append((name, options, max(int(options["steps"]), int(record["step"]))))
        record = record.get("init")
    return phases[::-1]


def training_time_rows(paths: list[Path], data: Path, steps: int) -> tuple[list[dict], list[Target]]:
    """CPU seconds per training step of each training run behind each model (:func:`training_phases`),
    measured over ``steps`` steps here, times the steps that run was set to take; a fine-tuning run
    is timed from the shipped model itself (the same configuration as the one it started from)."""
    from diff9d_ros.trajectory.train import TrainOptions, train

    rows, targets = [], []
    for path in paths:
        name, total_hours = path.name, 0.0
        _, payload = GeoTDM.load(path)
        for phase, options, trained in training_phases(path):
            with tempfile.TemporaryDirectory() as folder:
                options.update(
                    out_dir=folder, steps=steps, eval_every=10**9, eval_windows=1, checkpoint_minutes=10**6
                )
                options["data_dir"] = str(data) if options["task"] in PEDESTRIAN_TASKS else None
                options["residual_std"] = payload["config"]["residual_std"]
                if options.get("init_from"):
                    options["init_from"] = str(path)
                # the step cost does not depend on the split size: a small synthetic split is faster
                options["num_trajectories"] = None if options["task"] in PEDESTRIAN_TASKS else 64
                train(TrainOptions(**options))
                record = GeoTDM.load(Path(folder) / "last.pt")[1]
            cpu_per_step = record["cpu_s"] / steps
            hours = cpu_per_step * trained / 3600
            total_hours += hours
            rows.append(
                {
                    "model": name,
                    "phase": phase,
                    "steps_timed": steps,
                    "cpu_s_per_step": round(cpu_per_step, 4),
                    "trained_steps": trained,
                    "training_cpu_hours": round(hours, 3),
                }
            )
        rows[-1]["shipped_step"] = payload["step"]
        limit = 1.0 if payload["task"] in PEDESTRIAN_TASKS else 2.0
        targets.append(
            Target(
                f"{name} training CPU hours (measured per step x the steps of each of its runs)",
                total_hours,
                limit,
                False,
            )
        )
    return rows, targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min), targets informative only")
    parser.add_argument(
        "--eth-ucy", type=Path, default=DEFAULT_ETH_UCY, help="ETH-UCY root (ROOT/SCENE/{train,val,test})"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (latency rows try 1 and 2)")
    parser.add_argument(
        "--models", type=Path, default=MODELS, help="folder of the pedestrian models geotdm_<scene>.pt"
    )
    parser.add_argument(
        "--ddpm-reference", action="store_true", help="compute the stored DDPM-1000 reference and stop"
    )
    parser.add_argument(
        "--val-windows", type=int, default=64, help="validation windows per pedestrian model (sampler choice)"
    )
    parser.add_argument(
        "--charged-val-windows", type=int, default=64, help="charged validation windows (sampler choice)"
    )
    parser.add_argument("--charged-windows", type=int, default=2000, help="charged test trajectories")
    parser.add_argument("--objects-windows", type=int, default=512, help="tabletop test windows")
    parser.add_argument(
        "--val-candidates-only",
        action="store_true",
        help="validation rows of the candidate samplers only (not the 5- and 10-step ones)",
    )
    parser.add_argument(
        "--pedestrians-only",
        action="store_true",
        help="only the pedestrian sections (val, test, bag, DDPM, people latency); "
        "writes results/trajectory_pedestrians.json",
    )
    parser.add_argument("--training-steps", type=int, default=20, help="steps timed per model configuration")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.eth_ucy.is_dir():
        raise SystemExit(
            f"no ETH-UCY data at {args.eth_ucy}: pass --eth-ucy ROOT (ROOT/SCENE/{{train,val,test}})"
        )
    models = pedestrian_models(args.models)
    if args.ddpm_reference:
        compute_ddpm_reference(models, args.eth_ucy)
        return 0
    if not models:
        raise SystemExit(f"no pedestrian model geotdm_<scene>.pt in {args.models}")
    missing = [scene for scene in PEDESTRIAN_TASKS if scene not in models]
    if missing:
        print(f"no model for {', '.join(missing)} in {args.models}: those scenes are left out")
    limit, repeats = None, 20
    if args.quick:
        args.val_windows, args.charged_val_windows, args.charged_windows = 2, 4, 8
        args.objects_windows, args.training_steps, limit, repeats = 8, 1, 8, 2
    begin = time.perf_counter()
    section_s: dict[str, float] = {}

    def timed(section: str, start: float) -> None:
        section_s[section] = round(time.perf_counter() - start, 1)

    start = time.perf_counter()
    sampler, temperature, max_step, speed, draws, ped_val_rows = choose_pedestrian_sampler(
        models, args.eth_ucy, args.val_windows, args.val_candidates_only
    )
    name = people_label(sampler, temperature, None, None, draws)
    print(f"pedestrian sampler chosen on val: {name}, max step {max_step}, {speed}")
    shipped = PipelineConfig()
    shipped_sampler = (shipped.people_sampler, shipped.people_steps)
    if sampler_label(shipped_sampler, shipped.people_temperatures) != sampler_label(sampler, temperature):
        print(
            f"the people path's defaults (people_sampler, people_steps, people_temperature_first, "
            f"people_temperature: {sampler_label(shipped_sampler, shipped.people_temperatures)}) are "
            f"not the ones chosen here ({sampler_label(sampler, temperature)}): update PipelineConfig"
        )
    if (shipped.people_draws or 20) != draws:
        print(
            f"people_draws {shipped.people_draws} is not the one chosen here ({draws}): update PipelineConfig"
        )
    if (shipped.people_max_step_m or None) != max_step:
        print(
            f"people_max_step_m {shipped.people_max_step_m} is not the one chosen here ({max_step}): "
            "update PipelineConfig"
        )
    if shipped.people_speed_temperature != speed:
        print(
            f"people_speed_reference_m/people_speed_floor_m {shipped.people_speed_temperature} are not the "
            f"ones chosen here ({speed}): update PipelineConfig"
        )
    timed("pedestrian val", start)
    start = time.perf_counter()
    ped_rows, found, covering = pedestrian_rows(
        models, args.eth_ucy, sampler, temperature, max_step, speed, draws, limit
    )
    targets = pedestrian_targets(found, name)
    targets += pedestrian_targets(
        covering, people_label(sampler, temperature, None, None, COVERING_DRAWS), scenes_required=False
    )
    motion_rows = scene_motion_rows(args.eth_ucy, limit)
    rows, bag_throughput = [*ped_rows], None
    timed("pedestrian test", start)
    start = time.perf_counter()
    lat_rows, lat_targets = latency_rows(
        next(iter(models.values())),
        sampler,
        draws,
        repeats,
        (1,) if args.quick else (1, 2),
        objects=not args.pedestrians_only,
    )
    targets += lat_targets
    timed("latency", start)
    c_val_rows: list[dict] = []
    t_rows: list[dict] = []

    def write(done: bool) -> None:
        """The results file; before the slow sections are done it says which are still missing."""
        extra = {
            "complete": done,
            "pedestrian_sampler": name,
            "pedestrian_temperature": temperature,
            "pedestrian_max_step_m": max_step,
            "pedestrian_speed_temperature": None if speed is None else [speed.reference, speed.floor],
            "pedestrian_draws": draws,
            "pedestrian_models_missing": missing,
            "pedestrian_val_rows": ped_val_rows,
            "pedestrian_scene_motion_rows": motion_rows,
            "charged_val_rows": c_val_rows,
            "latency_rows": lat_rows,
            "training_rows": t_rows,
            "zara1_bag_throughput": None
            if bag_throughput is None
            else {k: bag_throughput[k] for k in ("frames_in", "processed", "failed", "dropped", "latency")},
            "torch_threads": args.threads,
            "section_wall_s": section_s,
            "benchmark_wall_s": round(time.perf_counter() - begin, 1),
        }
        if done:
            for table in (ped_val_rows, motion_rows, c_val_rows, lat_rows, t_rows):
                if table:
                    print(format_table(table))
                    print()
        columns = ["section", "method", "windows", "agents", "ade", "fde", "spread", "energy", "s_per_128"]
        results_name = "trajectory_pedestrians" if args.pedestrians_only else "trajectory"
        report(results_name, rows, targets, quick=args.quick, columns=columns, extra=extra)

    write(done=False)
    if "zara1" in models:
        start = time.perf_counter()
        bag_row, bag_throughput = zara1_bag_row(
            models["zara1"],
            args.eth_ucy,
            sampler,
            temperature,
            max_step,
            speed,
            draws,
            20 if args.quick else None,
            args.threads,
        )
        rows.append(bag_row)
        off = 100 * abs(bag_row["ade"] / found["zara1"][0].ade - 1)
        targets.append(
            Target("zara1 bag (eval-bag) minADE vs benchmark zara1 minADE, % off", off, 5.0, False)
        )
        timed("zara1 bag", start)
    if not args.quick:
        start = time.perf_counter()
        d_rows, d_targets = ddpm_rows(models, args.eth_ucy, sampler, temperature)
        rows += d_rows
        targets += d_targets
        timed("ddpm", start)
    c_rows, o_rows = [], []
    if not args.pedestrians_only:
        start = time.perf_counter()
        c_rows, c_val_rows, c_targets = charged_rows(args.charged_val_windows, args.charged_windows)
        targets += c_targets
        timed("charged", start)
        start = time.perf_counter()
        o_rows = objects_rows(args.objects_windows)
        timed("objects", start)
    if not args.pedestrians_only:
        start = time.perf_counter()
        trained = [MODELS / "geotdm_charged.pt", MODELS / "geotdm_objects.pt", *models.values()]
        t_rows, t_targets = training_time_rows(trained, args.eth_ucy, args.training_steps)
        targets += t_targets
        timed("training time", start)
    rows += [*c_rows, *o_rows]
    write(done=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
