"""The forward process and the denoising training loss for eps / x0 / v models.

Public API
----------
``q_sample(schedule, x0, t, noise, prior_mean=None)``  ``x_t`` from ``q(x_t | x0)`` (Ho et al. 2020, eq. 4),
    centred at ``prior_mean`` if given (GeoTDM, see :mod:`.parametrisation`).
``training_loss(model, x0, schedule, prediction, ...)``  per-sample loss ``(B,)``: t uniform over the
    discrete timesteps, MSE of the model output against the parametrisation's target, averaged over
    the non-batch dimensions (Ho et al. 2020, Alg. 1 / eq. 14), optionally Min-SNR or EDM weighted.
``snr_weight(name, snr, prediction)``  the loss weight ``"min_snr_<gamma>"`` (Hang et al. 2023, eq. 7-8)
    or ``"edm_<sigma_data>"`` (Karras et al. 2022, Table 1, lambda(sigma)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .parametrisation import batch_view, check_prediction, training_target
from .schedules import DiscreteVPSchedule


def q_sample(
    schedule: DiscreteVPSchedule, x0: Tensor, t: Tensor, noise: Tensor, prior_mean: Tensor | None = None
) -> Tensor:
    """``sqrt(abar_t) x0 + (1 - sqrt(abar_t)) x_r + sqrt(1 - abar_t) noise`` at timesteps ``t`` (B,).

    Without ``prior_mean`` (``x_r``) this is Ho et al. 2020, eq. (4); with it, GeoTDM's prior-centred
    process (Han et al. 2024, Sec. 4.2). Fractional ``t`` interpolate as in
    :meth:`DiscreteVPSchedule.t_to_sigma`.
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} differs from x0 shape {tuple(x0.shape)}")
    t = torch.as_tensor(t, device=x0.device)
    if t.ndim != 1 or t.shape[0] != x0.shape[0]:
        raise ValueError(f"t must have shape ({x0.shape[0]},), got {tuple(t.shape)}")
    alpha64 = schedule.alpha(t.cpu()).to(x0.device)
    alpha = batch_view(alpha64, x0)
    sigma_vp = batch_view((1.0 - alpha64**2).sqrt(), x0)
    centred = x0 if prior_mean is None else x0 - prior_mean
    x_t = alpha * centred + sigma_vp * noise
    return x_t if prior_mean is None else x_t + prior_mean


def snr_weight(name: str | None, snr: Tensor, prediction: str) -> Tensor:
    """Per-sample loss weight for ``snr = abar / (1 - abar)``.

    Each weight is defined in x0 space and expressed for the model's target: divided by ``snr`` for
    eps and by ``snr + 1`` for v (Hang et al. 2023, eq. 7-8).

    - ``None``: 1 (the "simple" loss).
    - ``"min_snr_<gamma>"``: Min-SNR-gamma (Hang et al. 2023), x0-space weight ``min(snr, gamma)``.
    - ``"edm_<sigma_data>"``: EDM's ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``
      with ``sigma^2 = 1 / snr`` (Karras et al. 2022, Table 1), i.e. x0-space weight
      ``(1 + snr sigma_data^2) / sigma_data^2``. It gives the output of a denoiser preconditioned with
      ``c_out`` for data of std ``sigma_data`` unit weight at every noise level; unlike the simple eps
      loss, it does not let the high-noise levels (where a few-step sampler makes its first and
      largest move) fade out of the objective.
    """
    check_prediction(prediction)
    if name is None:
        return torch.ones_like(snr)
    if name.startswith("min_snr_"):
        gamma = _weighting_parameter(name, "min_snr_", "gamma")
        x0_weight = snr.clamp(max=gamma)
    elif name.startswith("edm_"):
        sigma_data = _weighting_parameter(name, "edm_", "sigma_data")
        x0_weight = (1.0 + snr * sigma_data**2) / sigma_data**2
    else:
        raise ValueError(
            f"unknown snr_weighting {name!r}; expected None, 'min_snr_<gamma>' (e.g. 'min_snr_5') "
            "or 'edm_<sigma_data>' (e.g. 'edm_0.5')"
        )
    if prediction == "eps":
        return x0_weight / snr
    if prediction == "v":
        return x0_weight / (snr + 1.0)
    return x0_weight


def _weighting_parameter(name: str, prefix: str, meaning: str) -> float:
    try:
        value = float(name.removeprefix(prefix))
    except ValueError as error:
        raise ValueError(f"snr_weighting {name!r}: {meaning} after {prefix!r} must be a number") from error
    if value <= 0:
        raise ValueError(f"snr_weighting {name!r}: {meaning} must be > 0")
    return value


def training_loss(
    model: Callable[..., Tensor],
    x0: Tensor,
    schedule: DiscreteVPSchedule,
    prediction: str = "eps",
    *,
    extra_args: dict[str, Any] | None = None,
    prior_mean: Tensor | None = None,
    projection: Callable[[Tensor], Tensor] | None = None,
    snr_weighting: str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-sample denoising loss ``(B,)`` of ``model(x_t, t, **extra_args)`` (Ho et al. 2020, Alg. 1).

    t is uniform over ``0 .. num_steps - 1``; the noise is standard normal, passed through
    ``projection`` if given (e.g. a zero centre-of-mass projection, so that an equivariant model only
    ever sees noise in that subspace); ``x_t = q_sample(...)``; the loss is the squared error against
    :func:`.parametrisation.training_target`, averaged over all non-batch dimensions, times
    :func:`snr_weight`. Take ``.mean()`` for the scalar to back-propagate.
    """
    check_prediction(prediction)
    if x0.ndim < 2:
        raise ValueError(f"x0 must be batched, shape (B, ...), got {tuple(x0.shape)}")
    batch = x0.shape[0]
    device = x0.device
    t = torch.randint(0, schedule.num_steps, (batch,), generator=generator, device=device)
    noise = torch.randn(x0.shape, generator=generator, device=device, dtype=x0.dtype)
    if projection is not None:
        noise = projection(noise)
    x_t = q_sample(schedule, x0, t, noise, prior_mean)
    alpha64 = schedule.alpha(t.cpu()).to(device)
    target = training_target(
        prediction, x0, noise, batch_view(alpha64, x0), batch_view((1 - alpha64**2).sqrt(), x0), prior_mean
    )
    output = model(x_t, t.to(x0.dtype), **(extra_args or {}))
    if output.shape != target.shape:
        raise ValueError(
            f"model output shape {tuple(output.shape)} differs from target {tuple(target.shape)}"
        )
    snr = (alpha64**2 / (1 - alpha64**2)).to(x0.dtype)
    return (output - target).pow(2).flatten(1).mean(1) * snr_weight(snr_weighting, snr, prediction)
