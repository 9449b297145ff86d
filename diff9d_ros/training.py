"""What the pose and trajectory trainers share: learning-rate schedule, weight averaging,
distributed set-up and the export of a shippable model file.

* :func:`warmup_cosine` is a ``torch.optim.lr_scheduler.LambdaLR``: linear warm-up, then a cosine
  decay to ``floor`` times the base rate (SGDR, Loshchilov & Hutter 2017, Eq. 5, one cycle),
  resumable at any step.
* :func:`exponential_average` is a ``torch.optim.swa_utils.AveragedModel`` holding the exponential
  moving average of the weights with the warm-up ``min(decay, (1 + n) / (10 + n))`` of
  TensorFlow's ``ExponentialMovingAverage(num_updates=n)``.
* :class:`DistributedRun` reads the environment ``torchrun`` sets (``WORLD_SIZE``, ``RANK``,
  ``LOCAL_RANK``), joins the process group (NCCL on CUDA, gloo for CPU tensors) and wraps the
  loss module in ``DistributedDataParallel``; a plain ``python`` run is a world of one and wraps
  nothing.
* :func:`write_model_file` and :func:`run_export` write the file shipped in ``models/``: a
  checkpoint without what only resuming needs.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from diff9d_ros.atomic_files import save_torch

LOG = logging.getLogger(__name__)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, floor: float) -> float:
    """The factor on the base learning rate at ``step``: ``(step + 1) / warmup_steps`` during the
    warm-up, then ``floor + (1 - floor) (1 + cos(pi p)) / 2`` with ``p`` the fraction of the
    remaining steps done (clamped to 1)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    floor: float,
    start_step: int = 0,
) -> LambdaLR:
    """A scheduler whose rate at optimiser step ``s`` is the base rate times
    :func:`warmup_cosine_factor` ``(s)``; call ``step()`` after every ``optimizer.step()``.

    ``start_step`` > 0 resumes: the first step taken uses the rate of ``start_step``, whatever rate a
    loaded optimiser state carries (build the scheduler after loading it).
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = base_lr
    return LambdaLR(
        optimizer,
        lambda step: warmup_cosine_factor(step, warmup_steps, total_steps, floor),
        last_epoch=start_step - 1,
    )


def exponential_average(model: nn.Module, decay: float, updates: int = 0) -> AveragedModel:
    """An ``AveragedModel`` keeping ``avg <- d avg + (1 - d) w`` with ``d = min(decay, (1 + k) /
    (10 + k))`` at the ``k``-th call of ``update_parameters`` (counted from 0 after creation).

    The average starts at ``model``'s current weights (counted as one averaged model, so the first
    update already uses ``d = 0.1``); ``updates`` > 0 resumes the count. Parameters are averaged,
    buffers are the model's at creation. The averaged network is ``.module``; its ``state_dict()``
    is what checkpoints store.
    """

    def blend(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        k = int(count) - 1
        weight = min(decay, (1 + k) / (10 + k))
        return averaged + (current - averaged) * (1.0 - weight)

    average = AveragedModel(model, avg_fn=blend)
    average.update_parameters(model)  # the copy: n_averaged becomes 1
    average.n_averaged.fill_(1 + updates)
    average.requires_grad_(False)
    return average


@dataclass
class DistributedRun:
    """The process's place in a ``torchrun`` job (a world of one under plain ``python``).

    Use as a context manager: entering joins the process group when ``world_size > 1``, leaving
    waits for every rank and leaves it.
    """

    world_size: int
    rank: int
    local_rank: int
    backend: str

    @classmethod
    def from_environment(cls, cpu_only: bool = False) -> DistributedRun:
        """The ranks ``torchrun`` puts in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``);
        the NCCL backend when CUDA is available, gloo otherwise and for a ``cpu_only`` trainer
        (whose tensors stay on the CPU, which NCCL cannot reduce)."""
        return cls(
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            rank=int(os.environ.get("RANK", "0")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            backend="nccl" if torch.cuda.is_available() and not cpu_only else "gloo",
        )

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the rank that validates, logs and writes checkpoints."""
        return self.rank == 0

    def device(self, requested: torch.device | None = None) -> torch.device:
        """``requested``, or this rank's GPU when CUDA is available, else the CPU."""
        if requested is not None:
            return requested
        return torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")

    def wrap(self, module: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` when distributed, else unchanged."""
        if not self.distributed:
            return module
        return nn.parallel.DistributedDataParallel(module, find_unused_parameters=find_unused_parameters)

    def __enter__(self) -> DistributedRun:
        if self.distributed:
            torch.distributed.init_process_group(self.backend)
            LOG.info("rank %d of %d joined the %s process group", self.rank, self.world_size, self.backend)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.distributed and torch.distributed.is_initialized():
            if exc_info[0] is None:
                torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def write_model_file(payload: dict, out: str | Path, resume_only_keys: Iterable[str]) -> dict:
    """Write ``payload`` without ``resume_only_keys`` (optimiser, raw weights, generator states)
    atomically to ``out`` and return what was written."""
    shipped = {key: value for key, value in payload.items() if key not in set(resume_only_keys)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_torch(shipped, out)
    return shipped


def run_export(export_weights: Callable[[Path, Path], dict], checkpoint: str | Path, out: str | Path) -> int:
    """The handler of ``diff9d pose export`` and ``diff9d traj export``: write the shippable model
    file with ``export_weights`` and say what was written; exit code 2 with the reason for a missing
    or unreadable checkpoint."""
    out = Path(out)
    try:
        payload = export_weights(Path(checkpoint), out)
    except (FileNotFoundError, ValueError) as error:
        LOG.error("%s", error)
        return 2
    task = f"{payload['task']}, " if "task" in payload else ""
    print(f"wrote {out} ({task}step {payload.get('step')}, {out.stat().st_size / 1e6:.1f} MB)")
    return 0
