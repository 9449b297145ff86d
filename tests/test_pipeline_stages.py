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


def _orbiting_camera(angle_rad: float) -> np.ndarray:
    """Pose in the world of a camera 0.8 m from the world origin, turned by ``angle_rad`` about the
    world z axis and looking at the origin (optical z towards it, y down)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    eye = np.array([0.8 * c, 0.8 * s, 0.0])
    forward = -eye / np.linalg.norm(eye)
    down = np.array([0.0, 0.0, -1.0])
    right = np.cross(down, forward)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = eye
    return pose


def _seen_from(pose: np.ndarray, world_m: np.ndarray) -> Detection:
    """A can at ``world_m`` (world frame) as the camera at ``pose`` detects it."""
    in_world = Detection("can", np.eye(3), world_m, [0.06, 0.1, 0.06])
    return in_world.moved(np.linalg.inv(pose))


@pytest.mark.parametrize("camera_poses", [True, False])
def test_with_camera_poses_a_still_object_keeps_its_id_while_the_camera_orbits(camera_poses: bool) -> None:
    """A can standing still 0.5 m from the orbit centre, seen by a camera turning 0.25 rad/s, is
    hidden for 2 s (longer than max_misses, within the re-identification window). With the camera's
    poses it stays put in the fixed frame and comes back under its id; in the camera frame it has
    moved about 0.25 m by then, beyond the re-identification gate: a new id."""
    config = PipelineConfig(
        forecast_backend="constant_velocity", tracker_max_misses=5, tracker_coast_frames=3
    )
    pipeline = Pipeline(build_stages(config, ["tracking", "forecast"]), inputs=("detections",))
    can_m = np.array([0.5, 0.0, 0.0])
    ids, states = set(), []
    for k in range(60):
        pose = _orbiting_camera(0.025 * k)  # 10 Hz
        hidden = 20 <= k < 40
        detections = [] if hidden else [_seen_from(pose, can_m)]
        state = FrameState(
            k, None, (k + 1) * 100_000_000, detections=detections, camera_pose=pose if camera_poses else None
        )
        state = pipeline.process_state(state)
        assert state.ok, state.error
        states.append((state, pose))
        ids |= {d.track_id for d in state.detections if d.track_id}
    assert len(ids) == (1 if camera_poses else 2)
    state, pose = states[-1]
    own = state.detections[0]
    np.testing.assert_allclose(own.translation_m, _seen_from(pose, can_m).translation_m, atol=1e-12)
    if camera_poses:  # the forecast of the still can stays where the camera sees it now
        ((_, samples),) = state.forecasts.items()
        np.testing.assert_allclose(
            samples[0], np.tile(own.translation_m, (config.forecast_horizon, 1)), atol=1e-9
        )


def test_coasted_detections_come_back_into_the_camera_frame() -> None:
    config = PipelineConfig(forecast_backend="constant_velocity", tracker_coast_frames=3)
    pipeline = Pipeline(build_stages(config, ["tracking"]), inputs=("detections",))
    can_m = np.array([0.1, -0.05, 0.0])
    for k in range(5):
        pose = _orbiting_camera(0.1 * k)
        detections = [_seen_from(pose, can_m)] if k < 4 else []
        state = pipeline.process_state(
            FrameState(k, None, (k + 1) * 10**8, detections=detections, camera_pose=pose)
        )
    (coasted,) = state.detections
    assert coasted.track_id and coasted.mask_id == 0
    np.testing.assert_allclose(coasted.translation_m, _seen_from(pose, can_m).translation_m, atol=1e-9)


def test_tracks_restart_when_camera_poses_start_or_stop(caplog: pytest.LogCaptureFixture) -> None:
    config = PipelineConfig(forecast_backend="constant_velocity", tracker_min_hits=1)
    pipeline = Pipeline(build_stages(config, ["tracking"]), inputs=("detections",))
    poses = [None, None, np.eye(4), np.eye(4), None]
    states = [
        pipeline.process_state(FrameState(k, None, k + 1, detections=[_detection(0.0)], camera_pose=pose))
        for k, pose in enumerate(poses)
    ]
    assert [s.detections[0].track_id for s in states] == [
        "track_0",
        "track_0",
        "track_1",
        "track_1",
        "track_2",
    ]
    messages = [r.getMessage() for r in caplog.records if "camera poses" in r.getMessage()]
    assert len(messages) == 2 and "started" in messages[0] and "stopped" in messages[1]


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
