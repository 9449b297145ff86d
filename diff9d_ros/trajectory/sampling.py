"""Drawing future samples from a trained GeoTDM with the diffusion core's samplers (Sec. 4.2-4.3).

GeoTDM samples with 1000 ancestral DDPM steps; DDIM (eta = 0) and DPM-Solver++ 2M at a few steps are
the fast alternatives the paper names as future work. All K samples of all scenes run as one batch;
the prior ``x_r`` is computed once per scene and shared by its samples, and so are the observed frames'
states of a model with a history encoder (``GeoTDMConfig.history_encoder``).

A few deterministic steps draw samples that spread less than the data; a temperature on the initial
noise widens them (:func:`~diff9d_ros.diffusion.samplers.prior_sample`). One temperature for every
future frame widens the first frames as much as the last, though a forecast's uncertainty grows
with its horizon (a walker's unknown change of velocity moves them by ``dv * t``): a temperature
pair ramps it linearly from the first future frame to the last (:func:`temperature_profile`).
The same reasoning says a standing person's future spreads less than a walker's; the sampler's
initial noise does not know that (its scale is the same for every agent, in metres), and
:class:`SpeedTemperature` scales each agent's temperature with its observed speed.

The denoiser is equivariant to rotations, reflections and translations (E(3)) but not to scale, and
it only knows the speeds of its training scenes: on validation windows sped up three times (every
position scaled, the same frame rate) the pedestrian models' minADE per metre rose from 0.288 to
0.483 (``benchmarks/trajectory.py``).
:func:`speed_normalised` forecasts a scene whose people step farther than ``max_step`` (median
observed step per frame, in data units) in a copy shrunk about its last centroid until they do not,
and scales the samples back (:func:`forecast_samples`' ``max_step``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from diff9d_ros.diffusion import Denoiser, DiscreteVPSchedule, sample, zero_mean_projection
from diff9d_ros.trajectory.model import NUM_TRAIN_STEPS, GeoTDM

#: The initial-noise temperature of a forecast: one for every future frame, or (first, last), a
#: linear ramp over the future frames.
Temperature = float | tuple[float, float]


def temperature_ends(temperature: Temperature) -> tuple[float, float]:
    """(first, last) future frame's temperature of ``temperature`` (a number: both); ValueError
    unless it is a number or a (first, last) pair and every value is > 0."""
    if isinstance(temperature, tuple | list):
        if len(temperature) != 2:
            raise ValueError(f"a temperature ramp is (first, last), got {temperature!r}")
        first, last = (float(t) for t in temperature)
        if not (first > 0 and last > 0):
            raise ValueError(f"temperatures must be > 0, got {temperature!r}")
        return first, last
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature), float(temperature)


def temperature_label(temperature: Temperature) -> str:
    """``""`` for 1 (as trained), ``"2.8"`` for one temperature, ``"1-3.5"`` for a ramp."""
    first, last = temperature_ends(temperature)
    if first != last:
        return f"{first:g}-{last:g}"
    return "" if last == 1.0 else f"{last:g}"


def temperature_profile(temperature: Temperature, num_future: int) -> float | torch.Tensor:
    """``temperature`` as :func:`~diff9d_ros.diffusion.samplers.prior_sample` takes it for
    trajectories (..., ``num_future``, 3): a number as it is, a pair (first, last) as the
    (``num_future``, 1) ramp between them; ValueError as :func:`temperature_ends`."""
    first, last = temperature_ends(temperature)
    if isinstance(temperature, tuple | list):
        return torch.linspace(first, last, num_future)[:, None]
    return first


@dataclass(frozen=True)
class SpeedTemperature:
    """Each agent's temperature times ``(s + floor) / (reference + floor)``, ``s`` its observed step
    per frame (data units: metres for pedestrians; the mean of its last two observed steps).

    The temperature as chosen holds for an agent stepping ``reference`` per frame; one standing
    still keeps ``floor / (reference + floor)`` of it (a standing person may start walking), a
    faster one gets more (an unknown change of velocity ``dv`` moves an agent by ``dv * t``, and
    walkers change speed and heading in proportion to how fast they go). Speeds are measured after
    :func:`speed_normalised`, so a scene shrunk to the step limit is scaled as it is forecast.
    """

    reference: float
    floor: float

    def __post_init__(self) -> None:
        if not (self.reference > 0 and self.floor > 0):
            raise ValueError(
                f"speed temperature needs reference > 0 and floor > 0, got {self.reference}, {self.floor}"
            )

    def factors(self, x_obs: torch.Tensor) -> torch.Tensor:
        """Per-agent factors (B, N) on the temperature of observed scenes ``x_obs`` (B, N, Tc, 3)."""
        last = min(2, x_obs.shape[2] - 1)
        speed = (x_obs[:, :, -1] - x_obs[:, :, -1 - last]).norm(dim=-1) / last
        return (speed + self.floor) / (self.reference + self.floor)

    def label(self) -> str:
        """``speed 0.3/0.2 m``: reference and floor, as the benchmark's rows name it."""
        return f"speed {self.reference:g}/{self.floor:g} m"


def training_schedule() -> DiscreteVPSchedule:
    """The linear 1000-step beta schedule of GeoTDM (and DDPM)."""
    return DiscreteVPSchedule.linear(NUM_TRAIN_STEPS)


def planar_projection(u: torch.Tensor) -> torch.Tensor:
    """Zero the z coordinate: keeps ground-plane (pedestrian) trajectories and their noise in the plane.

    An E(3)-equivariant denoiser maps planar inputs to planar outputs (reflection through the plane),
    so with planar noise the whole chain stays on the plane.
    """
    return torch.cat([u[..., :2], torch.zeros_like(u[..., 2:])], dim=-1)


def check_max_step(max_step: float | None) -> None:
    """ValueError unless ``max_step`` (the step limit of :func:`speed_normalised`) is None or > 0."""
    if max_step is not None and not max_step > 0:
        raise ValueError(f"max_step must be > 0 (None: off), got {max_step}")


def speed_normalised(x_obs: torch.Tensor, max_step: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observed scenes (B, N, Tc, 3) shrunk about each scene's centroid at its last observed frame so
    that the median step per frame over its agents and frames is at most ``max_step``; with the
    centroids (B, 1, 1, 3) and the factors (B, 1, 1, 1) >= 1 they were divided by (1: unchanged)."""
    check_max_step(max_step)
    steps = (x_obs[:, :, 1:] - x_obs[:, :, :-1]).norm(dim=-1).flatten(1)
    factor = torch.clamp(steps.median(dim=1).values / max_step, min=1.0)[:, None, None, None]
    centre = x_obs[:, :, -1:].mean(dim=1, keepdim=True)
    return torch.where(factor > 1.0, centre + (x_obs - centre) / factor, x_obs), centre, factor


def forecast_samples(
    model: GeoTDM,
    x_obs: torch.Tensor | None,
    node_features: torch.Tensor,
    edge_attr: torch.Tensor | None,
    num_samples: int,
    *,
    sampler: str = "ddim",
    num_steps: int = 10,
    planar: bool = False,
    generator: torch.Generator | None = None,
    schedule: DiscreteVPSchedule | None = None,
    temperature: Temperature = 1.0,
    max_step: float | None = None,
    speed_temperature: SpeedTemperature | None = None,
    differentiable: bool = False,
) -> torch.Tensor:
    """Future samples (B, K, N, Tf, 3) for scenes (B, N, ...) from ``model`` under ``torch.inference_mode``
    (no autograd bookkeeping at all: a 30-person forecast about 7 % faster than under ``no_grad``; the
    samples are inference tensors, which later code reads but does not modify in place), or with
    ``differentiable`` through the whole chain to the model's weights (best-of-K fine-tuning,
    :mod:`~diff9d_ros.trajectory.variety`).

    ``x_obs`` is None for an unconditional model, whose samples live in the zero centre-of-mass
    subspace (the sampler's projection). ``planar`` keeps z = 0 (the ground plane). Positions go in
    and come out in data units; the chain runs on them times ``model.config.position_scale``.
    ``temperature`` scales the initial noise: one number, or (first, last) ramped over the future
    frames (:func:`temperature_profile`). ``max_step``: scenes faster than that are forecast at
    that speed and scaled back (:func:`speed_normalised`; None: as observed). ``speed_temperature``:
    each agent's temperature scaled with its observed speed (:class:`SpeedTemperature`; None: one
    for all agents).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    centre = factor = None  # of the scenes shrunk to max_step
    if max_step is not None and x_obs is not None:
        x_obs, centre, factor = speed_normalised(x_obs, max_step)
    schedule = schedule or training_schedule()
    b, n = node_features.shape[:2]
    cfg = model.config
    k = num_samples
    tau = temperature_profile(temperature, cfg.num_future)
    if speed_temperature is not None and x_obs is not None:
        per_agent = speed_temperature.factors(x_obs).repeat_interleave(k, 0)
        tau = tau * per_agent[:, :, None, None]  # (B * K, N, 1, 1) x a number or (Tf, 1)
    if x_obs is not None:
        x_obs = x_obs * cfg.position_scale
    with contextlib.nullcontext() if differentiable else torch.inference_mode():
        extra: dict[str, object] = {
            "node_features": node_features.repeat_interleave(k, 0),
            "edge_attr": None if edge_attr is None else edge_attr.repeat_interleave(k, 0),
        }
        projection = planar_projection if planar else None
        prior = None
        if x_obs is None:
            centre = zero_mean_projection((1, 2))
            projection = centre if projection is None else (lambda u: centre(planar_projection(u)))
        else:
            prior = model.prior_mean(x_obs, node_features, edge_attr).repeat_interleave(k, 0)
            extra["x_obs"] = x_obs.repeat_interleave(k, 0)
            extra["x_prior"] = prior
            if cfg.history_encoder:  # the observed frames' states, once for all steps and samples
                history = model.encode_history(x_obs, node_features, edge_attr)
                extra["history"] = [layer.repeat_scenes(k) for layer in history]
        out = sample(
            sampler,
            Denoiser(model, schedule, prediction="eps"),
            (b * k, n, cfg.num_future, 3),
            num_steps,
            extra_args=extra,
            projection=projection,
            prior_mean=prior,
            generator=generator,
            dtype=node_features.dtype,
            device=node_features.device,
            temperature=tau,
        )
    samples = out.reshape(b, k, n, cfg.num_future, 3) / cfg.position_scale
    if factor is None:
        return samples
    centre, factor = centre[:, None], factor[:, None]
    return torch.where(factor > 1.0, centre + (samples - centre) * factor, samples)


def prior_forecast(
    model: GeoTDM, x_obs: torch.Tensor, node_features: torch.Tensor, edge_attr: torch.Tensor | None
) -> torch.Tensor:
    """The learnable prior ``x_r`` alone as a deterministic forecast (B, 1, N, Tf, 3), in data units:
    what the diffusion starts from and refines (GeoTDM Eq. 7-9)."""
    scale = model.config.position_scale
    with torch.no_grad():
        return model.prior_mean(x_obs * scale, node_features, edge_attr)[:, None] / scale
