"""Work at the rate it is needed: forecasts once per model period, grasps at ``grasp_period_s``;
skipped frames say so and their outputs carry tracks but no forecast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import FrameState, Pipeline, PipelineConfig, RateGate
from diff9d_ros.ros import convert
from diff9d_ros.ros.outputs import forecast_messages
from diff9d_ros.stages import build_stages

ROOT = Path(__file__).resolve().parents[1]
NS = 1_000_000_000


def _due(gate: RateGate, stamps_s: list[float]) -> list[bool]:
    return [gate.due(round(t * NS)) for t in stamps_s]


def test_rate_gate_passes_once_per_period() -> None:
    camera_30hz = [i / 30 for i in range(12)]
    assert _due(RateGate(0.1), camera_30hz) == [True, False, False] * 4
    rng = np.random.default_rng(0)
    jittered_10hz = list(np.arange(20) * 0.1 + rng.uniform(-0.004, 0.004, 20))
    assert all(_due(RateGate(0.1), jittered_10hz))
    assert all(_due(RateGate(None), camera_30hz)) and all(_due(RateGate(0.0), camera_30hz))
    gate = RateGate(1.0)
    assert _due(gate, [5.0, 5.5, 6.0, 1.0, 1.2]) == [True, False, True, True, False]  # a bag looped


def _detections(t_s: float) -> list[Detection]:
    return [
        Detection("can", np.eye(3), np.array([0.1 * t_s + dx, 0.0, 0.8]), np.array([0.07, 0.12, 0.07]))
        for dx in (0.0, 0.3)
    ]


def _run_forecasts(config: PipelineConfig, rate_hz: float, frames: int) -> list[FrameState]:
    pipeline = Pipeline(build_stages(config, ["tracking", "forecast"]), inputs=("detections",))
    states = []
    for i in range(frames):
        t_s = i / rate_hz
        state = FrameState(i, frame=None, stamp_ns=round(t_s * NS), detections=_detections(t_s))
        states.append(pipeline.process_state(state))
    assert all(s.ok for s in states), [s.error for s in states if not s.ok]
    return states


def test_geotdm_forecasts_at_its_period_on_a_30hz_stream() -> None:
    config = PipelineConfig(
        forecast_model_path=str(ROOT / "models" / "geotdm_objects.pt"), forecast_samples=4
    )
    states = _run_forecasts(config, 30.0, 15)
    forecast_frames = [s.index for s in states if "forecast" not in s.skipped]
    assert forecast_frames == [0, 3, 6, 9, 12]  # every 0.1 s of the model, not every 1/30 s
    assert all(s.forecasts for s in states[3:] if s.index in forecast_frames)
    assert all(not s.forecasts for s in states if s.index not in forecast_frames)
    every = _run_forecasts(PipelineConfig(**{**vars(config), "forecast_at_model_rate": False}), 30.0, 6)
    assert not any(s.skipped for s in every)


def test_constant_velocity_steps_every_frame() -> None:
    states = _run_forecasts(PipelineConfig(forecast_backend="constant_velocity"), 30.0, 6)
    assert not any(s.skipped for s in states) and states[-1].forecasts


def test_a_skipped_frame_publishes_tracks_but_no_forecast() -> None:
    config = PipelineConfig(
        forecast_model_path=str(ROOT / "models" / "geotdm_objects.pt"), forecast_samples=4
    )
    states = _run_forecasts(config, 30.0, 8)
    types = convert.RosbagsTypes()
    skipped, fresh = states[7], states[6]
    assert "forecast" in skipped.skipped and "forecast" not in fresh.skipped
    quiet = forecast_messages(skipped, "camera", 0.1, types, 0.2)
    assert quiet.paths == [] and quiet.markers is None and len(quiet.tracks.detections) == 2
    loud = forecast_messages(fresh, "camera", 0.1, types, 0.2)
    assert len(loud.paths) == 2 and loud.markers is not None


@pytest.mark.parametrize("period_s, expected", [(0.0, 10), (0.5, 2)])
def test_grasps_are_planned_at_grasp_period(period_s: float, expected: int) -> None:
    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import Renderer
    from diff9d_ros.synth.scene import compose_scene
    from diff9d_ros.synth.truth import synthesize

    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain("realsense", camera_distance_m=(0.5, 0.7))
    rng = np.random.default_rng(3)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "test"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    (stage,) = build_stages(PipelineConfig(grasp_period_s=period_s), ["grasp"])
    planned = 0
    for i in range(10):  # 20 Hz
        state = FrameState(
            i, frame=synth.frame, stamp_ns=i * NS // 20, detections=[o.detection for o in synth.objects]
        )
        stage(state)
        planned += "grasp" not in state.skipped
        assert ("grasp" in state.skipped) == (not state.grasps)
    assert planned == expected


def test_grasp_period_is_validated() -> None:
    with pytest.raises(ValueError, match="grasp_period_s"):
        PipelineConfig(grasp_period_s=-1.0).validate()
