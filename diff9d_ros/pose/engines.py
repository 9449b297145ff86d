"""Inference engines of the pose network: torch, or ONNX Runtime on the CPU.

The network's three parts that run per frame (observation encoder, category head, denoiser) are
exported to ONNX in memory when the estimator loads (TorchScript exporter, dynamic batch) and run
by ONNX Runtime's CPU execution provider with the process's torch thread count. The pose codec
and the sampler stay in torch. ``auto`` picks ONNX Runtime on the CPU when it is installed (it ran
the encoder 1.5x and a denoiser step several times faster than torch eager at batch 3, with
outputs equal to 1e-5: ``benchmarks/pipeline.py``'s engine rows), else torch.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from diff9d_ros.pose.network import POSE_DIM, PoseNetwork

LOG = logging.getLogger(__name__)

#: The engines that run the network; ``auto`` chooses one (PipelineConfig.pose_engine lists both).
ENGINES: tuple[str, ...] = ("torch", "onnxruntime")


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` and ``onnx`` (which torch's exporter needs) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def resolve_engine(name: str, device: torch.device) -> str:
    """``torch`` or ``onnxruntime`` for the requested ``name`` on ``device``; ValueError naming the
    problem for an unknown engine, ONNX Runtime requested but not installed, or on a GPU."""
    if name != "auto" and name not in ENGINES:
        raise ValueError(f"pose engine must be auto or one of {ENGINES}, got {name!r}")
    if name == "auto":
        return "onnxruntime" if device.type == "cpu" and onnxruntime_available() else "torch"
    if name == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(f"pose engine 'onnxruntime' runs on the CPU here, not on {device}: use 'torch'")
        if not onnxruntime_available():
            raise ValueError(
                "pose engine 'onnxruntime' needs the onnxruntime and onnx packages "
                "(pip install onnxruntime onnx)"
            )
    return name


class _Part(nn.Module):
    """One part of the network (``run(*inputs)``) as a module with positional inputs, what the
    exporter traces; the network is a submodule so that its weights go into the graph."""

    def __init__(self, network: PoseNetwork, run: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.network, self.run = network, run

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.run(*inputs)


def _session(module: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], threads: int) -> Any:
    """An ONNX Runtime CPU session of ``module`` exported in memory with a dynamic batch axis."""
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            buffer,
            input_names=names,
            output_names=["out"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "out"]},
            dynamo=False,
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


class OnnxRuntimePoseNetwork:
    """The pose network's encoder, category head and denoiser as ONNX Runtime sessions, called like
    :class:`~diff9d_ros.pose.network.PoseNetwork` (``encode``, ``classify``, ``(x_t, t, cond=...,
    category=..., prior=...)``) with CPU torch tensors in and out."""

    def __init__(self, network: PoseNetwork, threads: int | None = None) -> None:
        network = network.cpu().eval()
        threads = threads or torch.get_num_threads()
        c, batch = network.config, 2
        points = torch.zeros(batch, c.num_points, 3)
        crop = torch.zeros(batch, 3, c.crop_px, c.crop_px)
        with torch.no_grad():
            cond = network.encode(points, crop)
        x_t, t = torch.zeros(batch, POSE_DIM), torch.full((batch,), 10.0)
        category = torch.zeros(batch, dtype=torch.int64)
        self.config, self.codec = network.config, network.codec
        self._encoder = _session(_Part(network, network.encode), (points, crop), ["points", "crop"], threads)
        self._classifier = _session(_Part(network, network.classify), (cond,), ["cond"], threads)
        self._denoiser = _session(
            _Part(network, lambda x, t, cond, c, prior: network(x, t, cond=cond, category=c, prior=prior)),
            (x_t, t, cond, category, x_t),
            ["x_t", "t", "cond", "category", "prior"],
            threads,
        )

    @staticmethod
    def _run(session: Any, **inputs: torch.Tensor) -> torch.Tensor:
        feeds = {name: value.detach().cpu().numpy() for name, value in inputs.items()}
        feeds = {
            k: v.astype(np.int64 if k == "category" else np.float32, copy=False) for k, v in feeds.items()
        }
        return torch.from_numpy(session.run(None, feeds)[0])

    def encode(self, points_m: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
        return self._run(self._encoder, points=points_m, crop=crop)

    def classify(self, cond: torch.Tensor) -> torch.Tensor:
        return self._run(self._classifier, cond=cond)

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        cond: torch.Tensor,
        category: torch.Tensor,
        prior: torch.Tensor,
    ) -> torch.Tensor:
        t = t.expand(x_t.shape[0]) if t.ndim == 0 else t
        return self._run(self._denoiser, x_t=x_t, t=t, cond=cond, category=category, prior=prior)


def pose_engine(network: PoseNetwork, name: str, device: torch.device) -> tuple[Any, str]:
    """The object that runs ``network`` (the network itself for torch) and the engine's name."""
    engine = resolve_engine(name, device)
    if engine == "torch":
        return network, engine
    return OnnxRuntimePoseNetwork(network), engine
