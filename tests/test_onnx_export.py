"""Networks exported to ONNX in memory (``diff9d_ros.onnx_export``) compute in ONNX Runtime what
they compute in torch: the GeoTDM denoiser of the shipped object model on the inputs of a forecast,
with the history its sampler stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.onnx_export import export_call, onnxruntime_available, onnxruntime_session
from diff9d_ros.trajectory.forecaster import Forecaster

MODEL = Path(__file__).resolve().parents[1] / "models" / "geotdm_objects.pt"


@pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime/onnx not installed")
def test_the_geotdm_denoiser_runs_in_onnxruntime(one_torch_thread: None) -> None:
    forecaster = Forecaster.from_checkpoint(MODEL, threads=1)
    calls: list[tuple[tuple, dict]] = []
    hook = forecaster.model.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append((args, dict(kwargs))), with_kwargs=True
    )
    tracks = {
        f"object_{i}": np.linspace([0.1 * i, 0.0, 0.8], [0.1 * i + 0.05, 0.02, 0.8], 8) for i in range(3)
    }
    forecaster.forecast(tracks, 12, 4)
    hook.remove()
    args, kwargs = calls[0]
    model, feeds = export_call(forecaster.model, args, kwargs)
    assert kwargs["edge_attr"] is None  # the object model has no edge attributes: not an input
    # The observed frames' states the sampler stored once go in field by field (3 layers); the graph
    # reads neither x_obs (the stored states replace it) nor the last layer's values (no feature update).
    history = [f"history_{i}_{name}" for i in range(3) for name in ("x", "k", "v", "gate")]
    history.remove("history_2_v")
    assert list(feeds) == ["arg0", "arg1", "node_features", "x_prior", *history]
    with torch.no_grad():
        expected = forecaster.model(*args, **kwargs).numpy()
    got = onnxruntime_session(model, threads=1).run(None, feeds)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
