"""Inference engines of the pose network: torch, or ONNX Runtime on the CPU in fp32 or int8.

The network's three parts that run per frame (observation encoder, category head, denoiser) are
exported to ONNX in memory when the estimator loads (:func:`export_parts`: TorchScript exporter,
dynamic batch) and run by ONNX Runtime's CPU execution provider with the process's torch thread
count; ``onnxruntime-int8`` first quantises their fully connected layers (:data:`INT8_OPERATORS`)
to int8 weights with activations quantised per call (ONNX Runtime's dynamic quantisation; the
convolutions stay fp32: quantised too, they made the encoder three times slower). The pose codec
and the sampler stay in torch.

``auto`` picks ``onnxruntime-int8`` on the CPU when ONNX Runtime is installed, else torch (and
torch on a GPU): ``benchmarks/engines.py`` measured every engine and precision side by side
(torch eager, torch.compile, ONNX Runtime fp32 and int8 dynamic or static, OpenVINO) and it was
the fastest per frame of those that keep 10deg5cm within 1 point of torch (docs/pose.md#engines).

:class:`ExportedPoseNetwork` runs the exported parts with any runner (ONNX inputs by name -> the
output array); the benchmark gives it other runtimes and quantisations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from diff9d_ros.onnx_export import (
    Traced,
    export_onnx,
    onnxruntime_available,
    onnxruntime_session,
    quantize_dynamic,
)
from diff9d_ros.pose.network import POSE_DIM, PoseNetwork

#: The engines that run the network; ``auto`` chooses one (PipelineConfig.pose_engine lists them).
ENGINES: tuple[str, ...] = ("torch", "onnxruntime", "onnxruntime-int8")
#: The engines that run on ONNX Runtime, and the one ``auto`` picks on the CPU.
ONNXRUNTIME_ENGINES: tuple[str, ...] = ("onnxruntime", "onnxruntime-int8")
AUTO_CPU_ENGINE = "onnxruntime-int8"
#: The operators ``onnxruntime-int8`` quantises: the fully connected layers.
INT8_OPERATORS: tuple[str, ...] = ("Gemm", "MatMul")
#: The network's parts that run per frame and the names of their ONNX inputs, in call order.
PART_INPUTS: dict[str, tuple[str, ...]] = {
    "encoder": ("points", "crop"),
    "classifier": ("cond",),
    "denoiser": ("x_t", "t", "cond", "category", "prior"),
}
#: Runs one exported part: its ONNX inputs by name -> its output.
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


class PoseRunner(Protocol):
    """What runs the pose network for :class:`~diff9d_ros.pose.estimator.PoseEstimator`: the
    calls of :class:`~diff9d_ros.pose.network.PoseNetwork` it makes."""

    def encode(self, points_m: torch.Tensor, crop: torch.Tensor) -> torch.Tensor: ...

    def classify(self, cond: torch.Tensor) -> torch.Tensor: ...

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        cond: torch.Tensor,
        category: torch.Tensor,
        prior: torch.Tensor,
    ) -> torch.Tensor: ...


def resolve_engine(name: str, device: torch.device) -> str:
    """The engine of :data:`ENGINES` the requested ``name`` runs on ``device``; ValueError naming
    the problem for an unknown engine, an ONNX Runtime engine requested but not installed, or on a
    GPU."""
    if name != "auto" and name not in ENGINES:
        raise ValueError(f"pose engine must be auto or one of {ENGINES}, got {name!r}")
    if name == "auto":
        return AUTO_CPU_ENGINE if device.type == "cpu" and onnxruntime_available() else "torch"
    if name in ONNXRUNTIME_ENGINES:
        if device.type != "cpu":
            raise ValueError(f"pose engine {name!r} runs on the CPU here, not on {device}: use 'torch'")
        if not onnxruntime_available():
            raise ValueError(
                f"pose engine {name!r} needs the onnxruntime and onnx packages (pip install onnxruntime onnx)"
            )
    return name


def part_feeds(part: str, *values: torch.Tensor) -> dict[str, np.ndarray]:
    """The ONNX inputs of ``part`` (:data:`PART_INPUTS`) for its call's tensors: CPU arrays,
    float32 except the int64 category."""
    feeds = {}
    for name, value in zip(PART_INPUTS[part], values, strict=True):
        dtype = np.int64 if name == "category" else np.float32
        feeds[name] = value.detach().cpu().numpy().astype(dtype, copy=False)
    return feeds


def export_parts(network: PoseNetwork) -> dict[str, bytes]:
    """The serialised ONNX models of ``network``'s encoder, category head and denoiser (keys of
    :data:`PART_INPUTS`), traced on the CPU with a dynamic batch axis."""
    network = network.cpu().eval()
    c, batch = network.config, 2
    points = torch.zeros(batch, c.num_points, 3)
    crop = torch.zeros(batch, 3, c.crop_px, c.crop_px)
    with torch.no_grad():
        cond = network.encode(points, crop)
    x_t, t = torch.zeros(batch, POSE_DIM), torch.full((batch,), 10.0)
    category = torch.zeros(batch, dtype=torch.int64)
    calls: dict[str, tuple[Callable[..., torch.Tensor], tuple[torch.Tensor, ...]]] = {
        "encoder": (network.encode, (points, crop)),
        "classifier": (network.classify, (cond,)),
        "denoiser": (
            lambda x, t, cond, c, prior: network(x, t, cond=cond, category=c, prior=prior),
            (x_t, t, cond, category, x_t),
        ),
    }
    return {
        part: export_onnx(Traced(network, run), example, PART_INPUTS[part])
        for part, (run, example) in calls.items()
    }


def onnxruntime_runner(model: bytes, threads: int) -> Runner:
    """A :data:`Runner` of the serialised ``model`` on ONNX Runtime's CPU provider."""
    session = onnxruntime_session(model, threads)
    return lambda feeds: session.run(None, feeds)[0]


class ExportedPoseNetwork:
    """The pose network's exported parts run by ``runners`` (one per key of :data:`PART_INPUTS`),
    called like :class:`~diff9d_ros.pose.network.PoseNetwork` (``encode``, ``classify``, ``(x_t,
    t, cond=..., category=..., prior=...)``) with CPU torch tensors in and out."""

    def __init__(self, runners: dict[str, Runner]) -> None:
        if set(runners) != set(PART_INPUTS):
            raise ValueError(f"need one runner per part {tuple(PART_INPUTS)}, got {tuple(runners)}")
        self.runners = runners

    def _run(self, part: str, *values: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.runners[part](part_feeds(part, *values)))

    def encode(self, points_m: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
        return self._run("encoder", points_m, crop)

    def classify(self, cond: torch.Tensor) -> torch.Tensor:
        return self._run("classifier", cond)

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
        return self._run("denoiser", x_t, t, cond, category, prior)


def pose_engine(network: PoseNetwork, name: str, device: torch.device) -> tuple[PoseRunner, str]:
    """What runs ``network`` (the network itself for torch) and the engine's name."""
    engine = resolve_engine(name, device)
    if engine == "torch":
        return network, engine
    models = export_parts(network)
    if engine == "onnxruntime-int8":
        models = {part: quantize_dynamic(model, INT8_OPERATORS) for part, model in models.items()}
    threads = torch.get_num_threads()
    return ExportedPoseNetwork({part: onnxruntime_runner(m, threads) for part, m in models.items()}), engine
