"""Which discrete timesteps a sampler visits, and a search for better ones.

Public API
----------
``timesteps(num_train_steps, num_steps, spacing)``  descending LongTensor of the timesteps at which the
    denoiser is evaluated; after the last one every sampler jumps to noise level 0. The spacings
    ``"leading"``, ``"trailing"`` and ``"linspace"`` equal those of diffusers' ``DDIMScheduler``
    (compared in "Common Diffusion Noise Schedules and Sample Steps are Flawed", Lin et al. 2024,
    Table 2); ``"leading"`` never visits the noisiest timestep (1000 -> 3 steps gives 666, 333, 0).
``search_timesteps(objective, num_train_steps, initial)``  coordinate descent over integer
    timesteps that minimises a user objective (e.g. a distribution distance against an analytic
    oracle); how ``NAMED_TIMESTEPS`` were found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

SPACINGS = ("leading", "trailing", "linspace")


def _validated(steps: Tensor, num_train_steps: int) -> Tensor:
    if steps.ndim != 1 or steps.numel() == 0:
        raise ValueError(f"timesteps must be a non-empty 1-D sequence, got shape {tuple(steps.shape)}")
    if bool(((steps < 0) | (steps >= num_train_steps)).any()):
        raise ValueError(f"timesteps must lie in [0, {num_train_steps - 1}], got {steps.tolist()}")
    if bool((steps[1:] >= steps[:-1]).any()):
        raise ValueError(f"timesteps must be strictly decreasing, got {steps.tolist()}")
    return steps


def timesteps(num_train_steps: int, num_steps: int, spacing: str | Sequence[int] = "trailing") -> Tensor:
    """The ``num_steps`` timesteps (descending, int64) out of ``num_train_steps`` for a spacing.

    ``spacing`` is ``"leading"`` (``k * (T // n)``, DDIM's original choice, Song et al. 2021 App. D.2),
    ``"trailing"`` (``round(T - k T/n) - 1``, starts at ``T - 1``),
    ``"linspace"`` (``round(linspace(T-1, 0, n))``), or an explicit strictly decreasing list of ints
    (then its length must equal ``num_steps``).
    """
    if num_steps < 1 or num_steps > num_train_steps:
        raise ValueError(f"num_steps must lie in [1, {num_train_steps}], got {num_steps}")
    if isinstance(spacing, str):
        if spacing == "leading":
            steps = torch.arange(num_steps - 1, -1, -1) * (num_train_steps // num_steps)
        elif spacing == "trailing":
            grid = torch.arange(num_train_steps, 0, -num_train_steps / num_steps, dtype=torch.float64)
            steps = grid.round().long() - 1
        elif spacing == "linspace":
            steps = (
                torch.linspace(0, num_train_steps - 1, num_steps, dtype=torch.float64).round().long().flip(0)
            )
        else:
            raise ValueError(f"unknown spacing {spacing!r}; expected one of {SPACINGS} or a list of ints")
        return _validated(steps.long(), num_train_steps)
    steps = torch.as_tensor(list(spacing), dtype=torch.long)
    if steps.numel() != num_steps:
        raise ValueError(f"{steps.numel()} timesteps given but num_steps is {num_steps}")
    return _validated(steps, num_train_steps)


def search_timesteps(
    objective: Callable[[Tensor], float],
    num_train_steps: int,
    initial: Sequence[int],
    *,
    initial_step: int = 128,
    max_evaluations: int = 400,
) -> tuple[Tensor, float]:
    """Coordinate descent over strictly decreasing integer timesteps minimising ``objective``.

    Each round tries moving every timestep up and down by ``step`` (keeping the order valid) and
    keeps any improvement; when a round improves nothing the step halves, down to 1. Returns the best
    timesteps found and their objective value. Pass a deterministic objective (fixed seeds).
    """
    best = _validated(torch.as_tensor(list(initial), dtype=torch.long), num_train_steps)
    best_value = float(objective(best))
    step, evaluations = initial_step, 1
    while step >= 1 and evaluations < max_evaluations:
        improved = False
        for index in range(best.numel()):
            for delta in (step, -step):
                trial = best.clone()
                trial[index] = (trial[index] + delta).clamp(0, num_train_steps - 1)
                if torch.equal(trial, best) or bool((trial[1:] >= trial[:-1]).any()):
                    continue
                value = float(objective(trial))
                evaluations += 1
                if value < best_value:
                    best, best_value, improved = trial, value, True
        if not improved:
            step //= 2
    return best, best_value
