"""ADE/FDE of GeoTDM forecasts against a constant-velocity baseline (GeoTDM Sec. 5, metrics).

N-body: ADE/FDE averaged over K = 5 samples. Pedestrians: minADE/minFDE over K = 20 samples
(the best sample per agent-scene, as in Social-GAN and GeoTDM). Errors are Euclidean distances in
the data's units (metres for pedestrians).

With K > 1 the sample distribution is scored too: the *spread* (mean ADE between two samples of
one agent) and the energy score (Gneiting & Raftery 2007, Eq. 22, beta = 1) with the ADE as the
distance, ``ES = E d(X, y) - 1/2 E d(X, X')``: it rewards samples that are both close to the truth
and as diverse as the truth's uncertainty, where minADE alone rewards spread and the mean ADE
rewards collapse.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from diff9d_ros.trajectory.covering import covering_subset
from diff9d_ros.trajectory.model import GeoTDM
from diff9d_ros.trajectory.sampling import SpeedTemperature, Temperature, forecast_samples, prior_forecast
from diff9d_ros.trajectory.windows import Windows


def displacement_errors(
    samples: torch.Tensor, truth: torch.Tensor, reduce: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-agent ADE and FDE (B, N) of samples (B, K, N, Tf, 3) against truth (B, N, Tf, 3).

    ``reduce="mean"`` averages the errors over the K samples, ``"min"`` takes the best sample (by
    ADE for ADE, by FDE for FDE, per agent).
    """
    if samples.ndim != 5 or samples.shape[:1] + samples.shape[2:] != truth.shape:
        raise ValueError(
            f"samples (B, K, N, Tf, 3) {tuple(samples.shape)} do not match truth {tuple(truth.shape)}"
        )
    dist = (samples - truth[:, None]).norm(dim=-1)  # (B, K, N, Tf)
    ade, fde = dist.mean(-1), dist[..., -1]
    if reduce == "mean":
        return ade.mean(1), fde.mean(1)
    if reduce == "min":
        return ade.min(1).values, fde.min(1).values
    raise ValueError(f"reduce must be 'mean' or 'min', got {reduce!r}")


def sample_spread(samples: torch.Tensor) -> torch.Tensor:
    """Per-agent mean ADE between two samples (B, N) of samples (B, K, N, Tf, 3), over all K^2 pairs."""
    total = torch.zeros(samples.shape[0], samples.shape[2], dtype=samples.dtype)
    for k in range(samples.shape[1]):  # one row of pairs at a time: memory O(B K N T)
        total += (samples - samples[:, k : k + 1]).norm(dim=-1).mean(-1).sum(1)
    return total / samples.shape[1] ** 2


def constant_velocity(x_obs: torch.Tensor, num_future: int) -> torch.Tensor:
    """Extrapolate the last observed displacement: (B, N, Tc, 3) -> (B, N, Tf, 3)."""
    if x_obs.shape[2] < 2:
        raise ValueError("constant velocity needs at least two observed frames")
    step = x_obs[:, :, -1] - x_obs[:, :, -2]
    ahead = torch.arange(1, num_future + 1, dtype=x_obs.dtype, device=x_obs.device)
    return x_obs[:, :, -1:] + ahead[None, None, :, None] * step[:, :, None]


@dataclass
class EvalResult:
    """ADE/FDE averaged over agents, with the sampling wall time per batch; with K > 1 also the mean
    ADE over the samples, their spread and the energy score (module docstring)."""

    ade: float
    fde: float
    num_agents: int
    seconds: float
    num_batches: int
    mean_ade: float | None = None
    spread: float | None = None

    @property
    def energy(self) -> float | None:
        """Energy score with the ADE distance: mean ADE - spread / 2 (lower is better)."""
        return None if self.spread is None else self.mean_ade - 0.5 * self.spread

    @property
    def seconds_per_batch(self) -> float:
        return self.seconds / max(self.num_batches, 1)


def evaluate(
    model: GeoTDM | None,
    groups: Sequence[Windows],
    *,
    num_samples: int,
    reduce: str,
    sampler: str = "ddim",
    num_steps: int = 10,
    planar: bool = False,
    temperature: Temperature = 1.0,
    max_step: float | None = None,
    speed_temperature: SpeedTemperature | None = None,
    draws: int | None = None,
    batch_size: int = 128,
    max_pairs: int = 2**18,
    seed: int = 0,
    progress: bool = False,
) -> EvalResult:
    """ADE/FDE of ``model`` over all windows; ``model=None`` evaluates constant velocity,
    ``sampler="prior"`` the model's learnable prior alone (one deterministic forecast);
    ``temperature`` scales the sampler's initial noise (a pair: ramped over the future frames);
    ``max_step``: faster scenes are forecast at that speed (:func:`~.sampling.speed_normalised`);
    ``speed_temperature``: each agent's temperature scaled with its speed
    (:class:`~.sampling.SpeedTemperature`); ``draws`` > ``num_samples``: that many samples are
    drawn per agent and ``num_samples`` of them kept (:func:`~.covering.covering_subset`).

    A batch holds at most ``batch_size`` windows and ``max_pairs`` agent pairs over its samples
    (``windows * K * N^2``: the spatial layer's memory), so crowded scenes run in smaller batches.
    """
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    ade_sum = fde_sum = mean_ade_sum = spread_sum = 0.0
    agents = batches = 0
    seconds = 0.0
    drawn = max(num_samples, draws or 0)
    sizes = [max(1, min(batch_size, max_pairs // (drawn * g.num_agents**2))) for g in groups]
    total = sum((len(g) + size - 1) // size for g, size in zip(groups, sizes, strict=True))
    label = "constant velocity" if model is None else f"{sampler}-{num_steps}"
    with tqdm(total=total, desc=f"eval {label}", disable=not progress, leave=False) as bar:
        for group, size in zip(groups, sizes, strict=True):
            for start in range(0, len(group), size):
                batch = group.subset(slice(start, start + size)).tensors()
                truth = batch["x_future"]
                begin = time.perf_counter()
                if model is None:
                    samples = constant_velocity(batch["x_obs"], truth.shape[2])[:, None]
                elif sampler == "prior":
                    args = (batch["x_obs"], batch["node_features"], batch["edge_attr"])
                    samples = prior_forecast(model, *args)
                else:
                    samples = forecast_samples(
                        model,
                        batch["x_obs"],
                        batch["node_features"],
                        batch["edge_attr"],
                        drawn,
                        sampler=sampler,
                        num_steps=num_steps,
                        planar=planar,
                        generator=generator,
                        temperature=temperature,
                        max_step=max_step,
                        speed_temperature=speed_temperature,
                    )
                    if drawn > num_samples:
                        samples = covering_subset(samples, num_samples)
                seconds += time.perf_counter() - begin
                ade, fde = displacement_errors(samples, truth, reduce)
                ade_sum += float(ade.sum())
                fde_sum += float(fde.sum())
                if samples.shape[1] > 1:
                    mean_ade_sum += float(displacement_errors(samples, truth, "mean")[0].sum())
                    spread_sum += float(sample_spread(samples).sum())
                agents += ade.numel()
                batches += 1
                bar.update()
    if agents == 0:
        raise ValueError("no windows to evaluate")
    result = EvalResult(ade_sum / agents, fde_sum / agents, agents, seconds, batches)
    if model is not None and sampler != "prior" and num_samples > 1:
        result.mean_ade, result.spread = mean_ade_sum / agents, spread_sum / agents
    return result


def summary_row(name: str, result: EvalResult) -> dict[str, float | str | int]:
    """A table row for ``result`` (with its spread and energy score when it has them)."""
    row: dict[str, float | str | int] = {
        "method": name,
        "ade": round(result.ade, 5),
        "fde": round(result.fde, 5),
        "agents": result.num_agents,
        "s_per_batch": round(result.seconds_per_batch, 4),
    }
    if result.spread is not None:
        row["spread"], row["energy"] = round(result.spread, 5), round(result.energy, 5)
    return row
