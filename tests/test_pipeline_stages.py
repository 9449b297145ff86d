"""Concrete stages and build_stages: wiring of the node contracts, backends, fallbacks, bad config."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import FrameState, Pipeline, PipelineConfig
from diff9d_ros.sources.synthetic import SyntheticSource
from diff9d_ros.stages import ForecastStage, PoseStage, build_stages


def _detection(x: float, category: str = "can") -> Detection:
    return Detection(category, np.eye(3), [x, 0.0, 0.6], [0.06, 0.1, 0.06])


def test_pipeline_module_stays_light() -> None:
    code = (
        "import sys, diff9d_ros.pipeline as p; p.PipelineConfig(); "
        "print('torch' in sys.modules, 'open3d' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_node_contracts_wire_up() -> None:
    config = PipelineConfig(pose_backend="baseline", forecast_backend="constant_velocity")
    Pipeline(build_stages(config, ["segmentation", "pose"]))
    Pipeline(build_stages(config, ["grasp"]), inputs=("frame", "detections"))
    forecast = Pipeline(build_stages(config, ["tracking", "forecast"]), inputs=("detections",))
    with pytest.raises(ValueError, match="reads"):
        Pipeline(build_stages(config, ["forecast"]), inputs=("detections",))
    # The forecast node's chain: detections only, no frame; a track moving 1 cm per frame.
    for k in range(4):
        state = FrameState(k, frame=None, stamp_ns=(k + 1) * 100_000_000, detections=[_detection(0.01 * k)])
        state = forecast.process_state(state)
        assert state.ok, state.error
    ((track_id, samples),) = state.forecasts.items()
    assert state.detections[0].track_id == track_id
    assert samples.shape == (1, config.forecast_horizon, 3)
    expected_x = 0.03 + 0.01 * np.arange(1, config.forecast_horizon + 1)
    np.testing.assert_allclose(samples[0, :, 0], expected_x, atol=1e-12)


def test_repeated_stamps_fail_the_frame_and_a_jump_back_restarts_tracking() -> None:
    config = PipelineConfig(forecast_backend="constant_velocity")
    pipeline = Pipeline(build_stages(config, ["tracking", "forecast"]), inputs=("detections",))
    stamps = [3, 3, 4, 2, 5]
    states = [
        pipeline.process_state(FrameState(i, None, s, detections=[_detection(0.0)]))
        for i, s in enumerate(stamps)
    ]
    assert [s.ok for s in states] == [True, False, True, True, True]
    assert states[1].failed_stage == "tracking" and "stamps must increase" in states[1].error
    assert pipeline.stages[0].tracker.resets == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (PipelineConfig(pose_backend="magic"), "pose_backend"),
        (PipelineConfig(ddim_steps=0), "ddim_steps"),
        (PipelineConfig(tracker_gate_m=0.0), "tracker_gate_m"),
        (PipelineConfig(pose_backend="diff9d", pose_model_path="/no/such/model.pt"), "does not exist"),
        (PipelineConfig(grasp_urdf_path="/no/such.urdf"), "grasp_urdf_path"),
    ],
)
def test_bad_config_is_a_clear_error(config: PipelineConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_stages(config, ["segmentation", "pose", "tracking", "forecast", "grasp"])


def test_unknown_stage_and_corrupt_models(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        build_stages(PipelineConfig(), ["pose", "teleport"])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ValueError, match=r"junk\.pt"):
        PoseStage(PipelineConfig(pose_backend="diff9d", pose_model_path=str(junk)))
    with pytest.raises(ValueError, match="corrupt or not a GeoTDM"):
        ForecastStage(PipelineConfig(forecast_model_path=str(junk)))


def test_baseline_pose_stage_on_a_rendered_frame() -> None:
    # Clean depth: the RealSense model's mask bleed and flying pixels are the robustness benchmark's
    # concern; this test checks the stages' plumbing and the baseline's geometry.
    source = SyntheticSource(
        seconds=0.1,
        fps=10,
        seed=3,
        domain="clean",
        intrinsics=Intrinsics.realsense_d435(320, 240),
        give_masks=True,
    )
    item = next(iter(source))
    config = PipelineConfig(pose_backend="baseline")
    state = Pipeline(build_stages(config, ["segmentation", "pose", "grasp"])).process(0, item.frame)
    assert state.ok, state.error
    assert state.table_plane is not None
    by_mask = {d.mask_id: d for d in state.detections}
    errors = [
        np.linalg.norm(by_mask[t.mask_id].translation_m - t.translation_m)
        for t in item.truth
        if t.mask_id in by_mask
    ]
    assert len(errors) >= len(item.truth) - 1
    assert np.median(errors) < 0.03
    assert set(state.grasps) == set(range(len(state.detections)))


def test_geotdm_forecast_stage_runs_at_the_models_period(tmp_path) -> None:
    """A tabletop GeoTDM checkpoint (untrained, small): the stage samples with the configured fast
    sampler, and forecasts carry the model's 0.1 s frame period whatever the 30 Hz input rate."""
    import torch

    from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig

    torch.manual_seed(0)
    model = GeoTDM(
        GeoTDMConfig(node_dim=1, edge_dim=0, num_obs=8, num_future=12, hidden_dim=16, num_layers=2)
    )
    path = tmp_path / "objects.pt"
    model.save(path, task="tabletop", planar=False)
    config = PipelineConfig(forecast_model_path=str(path), forecast_samples=6, tracker_min_hits=2)
    stage = ForecastStage(config)
    assert stage.backend_name == "geotdm (objects.pt, dpmpp_2m-3)"
    pipeline = Pipeline([*build_stages(config, ["tracking"]), stage], inputs=("detections",))
    for k in range(10):
        stamp_ns = 1_000_000_000 + round(k * 1e9 / 30)
        state = FrameState(k, frame=None, stamp_ns=stamp_ns, detections=[_detection(0.002 * k)])
        state = pipeline.process_state(state)
        assert state.ok, state.error
    ((_, samples),) = state.forecasts.items()
    assert samples.shape == (6, config.forecast_horizon, 3) and np.isfinite(samples).all()
    assert state.forecast_period_s == pytest.approx(0.1)
