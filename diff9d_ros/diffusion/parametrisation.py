"""One denoiser interface over models that predict eps, x0 or v.

A *model* has the signature ``model(x_t, t, **extra_args) -> Tensor``: ``x_t`` is the VP-noised input
``sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` (any shape, batch first) and ``t`` a float tensor of shape
``(B,)`` holding the discrete timestep index (``0 .. num_steps - 1``, possibly fractional).

A *denoiser* (the object every sampler takes) has a ``schedule`` attribute (a ``DiscreteVPSchedule``,
used to turn timesteps into noise levels) and is called as ``denoiser(x, sigma, *, prior_mean=None,
**extra_args) -> x0_hat``, with ``x`` VP-noised at the VE noise level ``sigma`` (a float for the whole
batch, as samplers pass it, or a tensor of shape ``(B,)``; see :mod:`.schedules`). ``Denoiser`` wraps a
model; ``analytic.GaussianMixtureDenoiser`` is exact.

Prior mean (GeoTDM, Han et al. 2024, Sec. 4.2): with a prior mean ``x_r`` the forward process is
``q(x_t | x0) = N(sqrt(abar) x0 + (1 - sqrt(abar)) x_r, (1 - abar) I)``, i.e. the centred variable
``x0 - x_r`` is diffused. eps is the same noise; the x0 prediction is of ``x0`` itself; the v target
uses the centred variable: ``v = alpha eps - sigma_vp (x0 - x_r)`` (Salimans & Ho 2022, Sec. 4 and App. D).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from .schedules import DiscreteVPSchedule, alpha_from_sigma, vp_sigma_from_sigma

PREDICTIONS = ("eps", "x0", "v")


class DenoiserLike(Protocol):
    """What samplers need: a schedule and ``__call__(x, sigma, *, prior_mean, **extra_args) -> x0``."""

    schedule: DiscreteVPSchedule

    def __call__(
        self, x: Tensor, sigma: float | Tensor, *, prior_mean: Tensor | None = None, **extra_args: Any
    ) -> Tensor:
        """The estimate of the clean sample ``E[x0 | x_t]``."""
        ...


def check_prediction(prediction: str) -> str:
    """``prediction`` if it is one of :data:`PREDICTIONS`, else a ValueError."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}; expected one of {PREDICTIONS}")
    return prediction


def batch_view(values: Tensor, like: Tensor) -> Tensor:
    """Per-sample ``values`` (B,) (or a scalar) reshaped to broadcast over ``like``, in its dtype."""
    values = torch.as_tensor(values, device=like.device).to(like.dtype)
    if values.ndim == 0:
        return values
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))


def vp_coefficients(sigma: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """``(alpha, sigma_vp)`` of VE noise levels ``sigma``, shaped to broadcast over ``like``."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return batch_view(alpha_from_sigma(sigma), like), batch_view(vp_sigma_from_sigma(sigma), like)


def training_target(
    prediction: str,
    x0: Tensor,
    noise: Tensor,
    alpha: Tensor,
    sigma_vp: Tensor,
    prior_mean: Tensor | None = None,
) -> Tensor:
    """What a model of the given parametrisation should output for ``x_t = q_sample(x0, noise)``.

    eps: ``noise`` (Ho et al. 2020, eq. 14); x0: ``x0``; v: ``alpha noise - sigma_vp (x0 - x_r)``
    (Salimans & Ho 2022, eq. in Sec. 4). ``alpha``/``sigma_vp`` broadcast over ``x0``.
    """
    check_prediction(prediction)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    centred = x0 if prior_mean is None else x0 - prior_mean
    return alpha * noise - sigma_vp * centred


class Denoiser:
    """A model of any parametrisation seen as ``x0_hat = D(x_t, sigma)``.

    ``prediction`` names what ``model(x_t, t, **extra_args)`` outputs: ``"eps"`` (Ho et al. 2020),
    ``"x0"``, or ``"v"`` (Salimans & Ho 2022). The conversion to x0 is, with ``u = x_t - x_r``:
    eps: ``x_r + (u - sigma_vp eps) / alpha``; v: ``x_r + alpha u - sigma_vp v``.
    """

    def __init__(
        self,
        model: Callable[..., Tensor],
        schedule: DiscreteVPSchedule,
        prediction: str = "eps",
    ) -> None:
        self.model = model
        self.schedule = schedule
        self.prediction = check_prediction(prediction)

    def _levels(self, x: Tensor, sigma: float | Tensor) -> tuple[Tensor, Any, Any]:
        """Model timesteps ``(B,)`` and ``(alpha, sigma_vp)`` broadcastable over ``x``."""
        if isinstance(sigma, float):  # one level for the batch (what samplers pass): scalar arithmetic
            t = torch.full((x.shape[0],), self.schedule.timestep_of(sigma), dtype=x.dtype, device=x.device)
            alpha = 1.0 / math.sqrt(1.0 + sigma * sigma)
            return t, alpha, sigma * alpha
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).expand(x.shape[0])
        return (self.schedule.sigma_to_t(sigma).to(x.dtype), *vp_coefficients(sigma, x))

    def model_output(self, x: Tensor, sigma: float | Tensor, **extra_args: Any) -> Tensor:
        """The raw model output at noise level ``sigma`` (its timestep found by ``schedule.sigma_to_t``)."""
        return self.model(x, self._levels(x, sigma)[0], **extra_args)

    def predict(
        self, x: Tensor, sigma: float | Tensor, *, prior_mean: Tensor | None = None, **extra_args: Any
    ) -> tuple[Tensor, Tensor]:
        """``(x0_hat, eps_hat)`` for the VP-noised ``x`` at VE noise level ``sigma`` (float or ``(B,)``)."""
        t, alpha, sigma_vp = self._levels(x, sigma)
        out = self.model(x, t, **extra_args)
        centred = x if prior_mean is None else x - prior_mean
        if self.prediction == "eps":
            eps, x0c = out, (centred - sigma_vp * out) / alpha
        elif self.prediction == "v":
            eps, x0c = sigma_vp * centred + alpha * out, alpha * centred - sigma_vp * out
        else:
            x0c = out if prior_mean is None else out - prior_mean
            eps = (centred - alpha * x0c) / sigma_vp
        return (x0c if prior_mean is None else x0c + prior_mean), eps

    def __call__(
        self, x: Tensor, sigma: float | Tensor, *, prior_mean: Tensor | None = None, **extra_args: Any
    ) -> Tensor:
        """``x0_hat``, the denoised estimate (see :meth:`predict`)."""
        return self.predict(x, sigma, prior_mean=prior_mean, **extra_args)[0]
