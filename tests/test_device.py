"""The ``device`` setting is honoured: models are placed on it, and a device that is not there is
refused with a line that says why, before any model is loaded."""

from __future__ import annotations

import pytest
import torch

from diff9d_ros.device import torch_device
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.resources import share_path
from diff9d_ros.stages import PoseStage

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")


def test_cpu_is_a_torch_device() -> None:
    assert torch_device(" cpu ") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="device"):
        torch_device(name)


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_says_why(name: str) -> None:
    with pytest.raises(ValueError, match=r"CPU-only build|no CUDA GPU|only"):
        torch_device(name)


@NO_CUDA
def test_pose_stage_refuses_an_unavailable_device_before_loading() -> None:
    config = PipelineConfig(pose_backend="diff9d", device="cuda")
    with pytest.raises(ValueError, match="device 'cuda'") as error:
        PoseStage(config)
    assert "corrupt" not in str(error.value)


@NO_CUDA
def test_run_command_refuses_an_unavailable_device_in_one_line(tmp_path, caplog) -> None:
    from diff9d_ros.cli import main

    out = tmp_path / "run"
    assert main(["run", "--device", "cuda", "--seconds", "0.2", "--out", str(out)]) == 2
    assert "device 'cuda'" in caplog.text
    assert not out.exists()


@NO_CUDA
def test_forecast_stage_refuses_an_unavailable_device_before_loading() -> None:
    from diff9d_ros.stages import ForecastStage

    with pytest.raises(ValueError, match="device 'cuda'") as error:
        ForecastStage(PipelineConfig(forecast_backend="geotdm", device="cuda"))
    assert "corrupt" not in str(error.value)


def test_forecaster_samples_on_the_requested_device() -> None:
    import numpy as np

    from diff9d_ros.trajectory.forecaster import Forecaster

    forecaster = Forecaster.from_checkpoint(share_path("models") / "geotdm_objects.pt", device="cpu")
    assert {p.device for p in forecaster.model.parameters()} == {torch.device("cpu")}
    history = np.cumsum(np.full((10, 3), 0.01), axis=0)
    samples = forecaster.forecast({"a": history}, horizon=5, n_samples=4)
    assert samples["a"].shape == (4, 5, 3) and np.isfinite(samples["a"]).all()


def test_pose_model_lives_on_the_requested_device() -> None:
    stage = PoseStage(PipelineConfig(pose_backend="diff9d", device="cpu"))
    estimator = stage.estimator
    assert estimator.device == torch.device("cpu")
    assert {p.device for p in estimator.network.parameters()} == {torch.device("cpu")}
    assert share_path("models").joinpath("diff9d_pose.pt").samefile(stage.model_path)
