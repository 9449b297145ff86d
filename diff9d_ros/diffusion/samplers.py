"""Samplers: one short function each, over any denoiser (:mod:`.parametrisation`), any tensor shape.

Every sampler is called as ``sample_x(denoiser, x, timesteps=None, *, sigmas=None, extra_args=None,
projection=None, prior_mean=None, generator=None, callback=None, **options) -> x0 samples``:

* ``x``: the initial state, VP-scaled as the model sees it, i.e. ``prior_mean + N(0, I)`` for a VP
  model started at its noisiest timestep (:func:`prior_sample` draws it).
* ``timesteps``: descending discrete timesteps at which the denoiser is evaluated
  (:func:`.timesteps.timesteps`); after the last one the sampler jumps to noise level 0.
  Or ``sigmas``: descending VE noise levels, normally ending in 0 (:mod:`.schedules`); if they end
  above 0 the state at the last level is returned (still VP-scaled).
* ``projection``: a callable applied to ``x - prior_mean`` of the initial state and after every step
  (e.g. :func:`.projections.zero_mean_projection`).
* ``prior_mean``: GeoTDM's ``x_r``: the process is centred at ``x_r`` (see :mod:`.parametrisation`).
* ``callback``: called after every step with ``{"i", "x", "denoised", "sigma", "sigma_next"}``.

NFE (denoiser calls) per step: one for DDPM, DDIM and DPM-Solver++ 2M; two for Heun and for PC with one
corrector step, except the final step to noise level 0, which takes one.

``sample(name, denoiser, shape, num_steps, ...)`` builds the noise and the timesteps and dispatches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .named_schedules import NAMED_TIMESTEPS
from .parametrisation import DenoiserLike
from .schedules import karras_sigmas
from .timesteps import SPACINGS
from .timesteps import timesteps as make_timesteps

Projection = Callable[[Tensor], Tensor]
Callback = Callable[[dict[str, Any]], None]


def _vp(sigma: float) -> tuple[float, float]:
    """``(alpha, sigma_vp)`` of a VE noise level."""
    alpha = 1.0 / math.sqrt(1.0 + sigma * sigma)
    return alpha, sigma * alpha


def sigmas_from_timesteps(denoiser: DenoiserLike, timesteps: Sequence[int] | Tensor) -> Tensor:
    """Noise levels of ``timesteps`` under ``denoiser.schedule``, with a final 0 appended (float64)."""
    sigmas = denoiser.schedule.t_to_sigma(torch.as_tensor(timesteps, dtype=torch.float64))
    return torch.cat([sigmas, sigmas.new_zeros(1)])


class _Run:
    """Bookkeeping shared by every sampler: noise levels, prior mean, projection, callback.

    The samplers work on the centred state ``u = x - prior_mean`` and call :meth:`denoise` for the
    centred clean estimate, so their bodies read as the equations of the papers.
    """

    def __init__(
        self,
        denoiser: DenoiserLike,
        x: Tensor,
        timesteps: Sequence[int] | Tensor | None,
        sigmas: Sequence[float] | Tensor | None,
        extra_args: dict[str, Any] | None,
        projection: Projection | None,
        prior_mean: Tensor | None,
        callback: Callback | None,
    ) -> None:
        if (timesteps is None) == (sigmas is None):
            raise ValueError("give exactly one of timesteps and sigmas")
        if sigmas is None:
            sigmas = sigmas_from_timesteps(denoiser, timesteps)
        sigmas = torch.as_tensor(sigmas, dtype=torch.float64).cpu()
        if sigmas.ndim != 1 or sigmas.numel() < 2:
            raise ValueError(f"sigmas must be 1-D with at least 2 levels, got shape {tuple(sigmas.shape)}")
        if bool((sigmas < 0).any()) or bool((sigmas[1:] >= sigmas[:-1]).any()):
            raise ValueError(f"sigmas must be non-negative and strictly decreasing, got {sigmas.tolist()}")
        if prior_mean is not None:
            prior_mean = prior_mean.to(x.dtype)
        self.denoiser, self.extra_args = denoiser, extra_args or {}
        self.projection, self.prior_mean, self.callback = projection, prior_mean, callback
        self.sigmas = sigmas.tolist()
        self.start = self.project(x if prior_mean is None else x - prior_mean)

    @property
    def steps(self) -> list[tuple[int, float, float]]:
        """``(i, sigma_i, sigma_{i+1})`` for every step."""
        return [(i, self.sigmas[i], self.sigmas[i + 1]) for i in range(len(self.sigmas) - 1)]

    def project(self, u: Tensor) -> Tensor:
        return u if self.projection is None else self.projection(u)

    def denoise(self, u: Tensor, sigma: float) -> Tensor:
        """Centred clean estimate ``D(u + x_r, sigma) - x_r`` at VE noise level ``sigma``."""
        if self.prior_mean is None:
            return self.denoiser(u, sigma, **self.extra_args)
        return (
            self.denoiser(u + self.prior_mean, sigma, prior_mean=self.prior_mean, **self.extra_args)
            - self.prior_mean
        )

    def step_done(self, i: int, u: Tensor, denoised: Tensor, scale: float = 1.0) -> Tensor:
        """Project the new state and report it; ``scale`` turns a VE-scaled state into the VP one."""
        u = self.project(u)
        if self.callback is not None:
            shift = 0.0 if self.prior_mean is None else self.prior_mean
            x = u * scale + shift
            self.callback(
                {
                    "i": i,
                    "x": x,
                    "denoised": denoised + shift,
                    "sigma": self.sigmas[i],
                    "sigma_next": self.sigmas[i + 1],
                }
            )
        return u

    def result(self, u: Tensor) -> Tensor:
        return u if self.prior_mean is None else u + self.prior_mean


def _noise(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def sample_ddpm(
    denoiser: DenoiserLike,
    x: Tensor,
    timesteps: Sequence[int] | Tensor | None = None,
    *,
    sigmas: Sequence[float] | Tensor | None = None,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Ancestral sampling from the posterior ``q(x_s | x_t, x0_hat)`` (Ho et al. 2020, eq. 6-7, Alg. 2).

    For any pair of levels t > s (VP alpha ``a``, VP sigma ``s``, ``a_ts = a_t / a_s``,
    ``beta_ts = 1 - a_ts^2``):
    ``x_s = a_s beta_ts / s_t^2 x0 + a_ts s_s^2 / s_t^2 x_t + sqrt(beta_ts s_s^2 / s_t^2) z``.
    On all 1000 timesteps it is exactly Ho et al.'s sampler with ``sigma_t^2 = beta_tilde_t``.
    """
    run = _Run(denoiser, x, timesteps, sigmas, extra_args, projection, prior_mean, callback)
    u = run.start
    for i, sigma, sigma_next in run.steps:
        (a, s), (a_next, s_next) = _vp(sigma), _vp(sigma_next)
        x0 = run.denoise(u, sigma)
        beta = 1.0 - (a / a_next) ** 2
        u = (a_next * beta / s**2) * x0 + (a / a_next * s_next**2 / s**2) * u
        if sigma_next > 0:
            u = u + math.sqrt(beta * s_next**2 / s**2) * _noise(u, generator)
        u = run.step_done(i, u, x0)
    return run.result(u)


def sample_ddim(
    denoiser: DenoiserLike,
    x: Tensor,
    timesteps: Sequence[int] | Tensor | None = None,
    *,
    sigmas: Sequence[float] | Tensor | None = None,
    eta: float = 0.0,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12 with sigma_t(eta) of eq. 16).

    ``x_s = a_s x0 + sqrt(s_s^2 - c^2) eps + c z``, ``c = eta s_s / s_t sqrt(1 - a_t^2 / a_s^2)``.
    ``eta = 0`` is the deterministic sampler (Euler's method on the probability-flow ODE in
    ``x / alpha``, Karras et al. 2022, Sec. 4), ``eta = 1`` the DDPM posterior.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    run = _Run(denoiser, x, timesteps, sigmas, extra_args, projection, prior_mean, callback)
    u = run.start
    for i, sigma, sigma_next in run.steps:
        (a, s), (a_next, s_next) = _vp(sigma), _vp(sigma_next)
        x0 = run.denoise(u, sigma)
        eps = (u - a * x0) / s
        c = eta * s_next / s * math.sqrt(max(1.0 - (a / a_next) ** 2, 0.0))
        u = a_next * x0 + math.sqrt(max(s_next**2 - c**2, 0.0)) * eps
        if c > 0:
            u = u + c * _noise(u, generator)
        u = run.step_done(i, u, x0)
    return run.result(u)


def sample_dpmpp_2m(
    denoiser: DenoiserLike,
    x: Tensor,
    timesteps: Sequence[int] | Tensor | None = None,
    *,
    sigmas: Sequence[float] | Tensor | None = None,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M), the multistep second-order data-prediction solver (Lu et al. 2022b, Alg. 2).

    With ``lambda = -log sigma`` and ``h = lambda_s - lambda_t``:
    ``x_s = (s_s / s_t) x_t - a_s (e^{-h} - 1) D`` with ``D = x0_i + (x0_i - x0_{i-1}) / (2 r)``,
    ``r = h_{i-1} / h``;
    the first step and the final jump to noise level 0 are first order (``D = x0_i``), as in
    diffusers' ``lower_order_final``. ``generator`` is unused (deterministic); kept for a common signature.
    """
    run = _Run(denoiser, x, timesteps, sigmas, extra_args, projection, prior_mean, callback)
    u, x0_prev, h_prev = run.start, None, 0.0
    for i, sigma, sigma_next in run.steps:
        s, (a_next, s_next) = _vp(sigma)[1], _vp(sigma_next)
        x0 = run.denoise(u, sigma)
        if sigma_next == 0:
            u = x0
        else:
            h = math.log(sigma / sigma_next)
            d = x0 if x0_prev is None else x0 + (x0 - x0_prev) * (h / (2.0 * h_prev))
            u = (s_next / s) * u - (a_next * math.expm1(-h)) * d
            h_prev = h
        x0_prev = x0
        u = run.step_done(i, u, x0)
    return run.result(u)


def sample_heun(
    denoiser: DenoiserLike,
    x: Tensor,
    timesteps: Sequence[int] | Tensor | None = None,
    *,
    sigmas: Sequence[float] | Tensor | None = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Heun's second-order method on the probability-flow ODE ``dy/dsigma = (y - D(y; sigma)) / sigma``.

    Karras et al. 2022, Alg. 1 (``s_churn = 0``, deterministic) and Alg. 2 (stochastic: noise
    ``gamma = min(s_churn / N, sqrt(2) - 1)`` is added for ``s_tmin <= sigma <= s_tmax`` before each step).
    The ODE is solved in the VE variable ``y = x / alpha``; the last step to sigma 0 is an Euler step.
    Noise levels above the schedule's ``sigma_max`` are clamped to its last timestep by the denoiser.
    """
    run = _Run(denoiser, x, timesteps, sigmas, extra_args, projection, prior_mean, callback)
    gamma_max = min(s_churn / (len(run.sigmas) - 1), math.sqrt(2.0) - 1.0)
    y = run.start / _vp(run.sigmas[0])[0]
    for i, sigma, sigma_next in run.steps:
        gamma = gamma_max if s_tmin <= sigma <= s_tmax else 0.0
        sigma_hat = sigma * (1.0 + gamma)
        if gamma > 0:
            y = y + math.sqrt(sigma_hat**2 - sigma**2) * s_noise * _noise(y, generator)
        x0 = run.denoise(_vp(sigma_hat)[0] * y, sigma_hat)
        d = (y - x0) / sigma_hat
        y_next = y + (sigma_next - sigma_hat) * d
        if sigma_next > 0:
            d_next = (y_next - run.denoise(_vp(sigma_next)[0] * y_next, sigma_next)) / sigma_next
            y_next = y + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
        y = run.step_done(i, y_next, x0, scale=_vp(sigma_next)[0])
    return run.result(_vp(run.sigmas[-1])[0] * y)


def sample_pc(
    denoiser: DenoiserLike,
    x: Tensor,
    timesteps: Sequence[int] | Tensor | None = None,
    *,
    sigmas: Sequence[float] | Tensor | None = None,
    corrector_steps: int = 1,
    snr: float = 0.16,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Predictor-corrector sampling of the VP SDE (Song et al. 2021, Sec. 4.2, App. E-G).

    Predictor: the reverse-diffusion discretisation (their eq. 46) of the DDPM chain
    ``x_{t} = sqrt(1 - beta) x_s + sqrt(beta) z`` with ``beta = 1 - a_t^2 / a_s^2`` for the step's pair:
    ``x_s = (2 - sqrt(1 - beta)) x_t + beta score + sqrt(beta) z``, ``score = -(x_t - a x0) / s^2``.
    Corrector: ``corrector_steps`` Langevin steps at the new level with step size
    ``2 (1 - beta) (snr ||z|| / ||score||)^2`` (their Alg. 5; norms averaged over the batch as in their
    code). The final jump to noise level 0 returns the denoised estimate (Tweedie), with no corrector.
    """
    if corrector_steps < 0 or snr <= 0:
        raise ValueError(f"need corrector_steps >= 0 and snr > 0, got {corrector_steps}, {snr}")
    run = _Run(denoiser, x, timesteps, sigmas, extra_args, projection, prior_mean, callback)
    u = run.start
    for i, sigma, sigma_next in run.steps:
        (a, s), (a_next, s_next) = _vp(sigma), _vp(sigma_next)
        x0 = run.denoise(u, sigma)
        if sigma_next == 0:
            u = run.step_done(i, x0, x0)
            continue
        beta = 1.0 - (a / a_next) ** 2
        score = -(u - a * x0) / s**2
        u = (2.0 - math.sqrt(1.0 - beta)) * u + beta * score + math.sqrt(beta) * _noise(u, generator)
        for _ in range(corrector_steps):
            u = run.project(u)
            score = -(u - a_next * run.denoise(u, sigma_next)) / s_next**2
            z = _noise(u, generator)
            ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean()
            step = 2.0 * (1.0 - beta) * (snr * ratio) ** 2
            u = u + step * score + (2.0 * step).sqrt() * z
        u = run.step_done(i, u, x0)
    return run.result(u)


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "dpmpp_2m": sample_dpmpp_2m,
    "heun": sample_heun,
    "pc": sample_pc,
}


def prior_sample(
    shape: Sequence[int],
    *,
    prior_mean: Tensor | None = None,
    projection: Projection | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    temperature: float | Tensor = 1.0,
) -> Tensor:
    """The VP prior ``x_r + P(tau z)``, ``z ~ N(0, I)`` of ``shape`` (P: the projection, if any).

    ``temperature`` ``tau`` scales the initial noise, as the sampling temperature of Glow (Kingma &
    Dhariwal 2018): 1 is the trained prior; a deterministic few-step sampler draws samples
    that spread less than the data, and ``tau > 1``, chosen on validation data, widens them again.
    A tensor broadcastable to ``shape`` gives each element its own ``tau`` (e.g. one per frame of a
    trajectory, whose uncertainty grows with the horizon).
    """
    tau = torch.as_tensor(temperature, dtype=dtype, device=device)
    if not bool(torch.all(tau > 0)):
        raise ValueError(f"temperature must be > 0, got {temperature}")
    try:
        fits = torch.broadcast_shapes(tau.shape, tuple(shape)) == tuple(shape)
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"temperature of shape {tuple(tau.shape)} does not broadcast to {tuple(shape)}")
    z = tau * torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)
    if projection is not None:
        z = projection(z)
    return z if prior_mean is None else z + prior_mean.to(dtype)


def resolve_timesteps(
    num_train_steps: int, num_steps: int, timesteps: str | Sequence[int] | Tensor | None
) -> Tensor:
    """The ``num_steps`` timesteps (descending) that ``timesteps`` names: a spacing name, a key of
    :data:`.named_schedules.NAMED_TIMESTEPS`, or explicit ints; None is ``"trailing"``."""
    if isinstance(timesteps, str) and timesteps not in SPACINGS:
        if timesteps not in NAMED_TIMESTEPS:
            raise ValueError(
                f"unknown timesteps {timesteps!r}; expected one of {SPACINGS} or of {sorted(NAMED_TIMESTEPS)}"
            )
        return make_timesteps(num_train_steps, num_steps, NAMED_TIMESTEPS[timesteps])
    return make_timesteps(num_train_steps, num_steps, "trailing" if timesteps is None else timesteps)


def sample(
    name: str,
    denoiser: DenoiserLike,
    shape: Sequence[int],
    num_steps: int,
    *,
    timesteps: str | Sequence[int] | Tensor | None = None,
    sigmas: Sequence[float] | Tensor | None = None,
    extra_args: dict[str, Any] | None = None,
    projection: Projection | None = None,
    prior_mean: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    start_step: int = 0,
    start_from: Tensor | None = None,
    temperature: float | Tensor = 1.0,
    **options: Any,
) -> Tensor:
    """Draw samples of ``shape`` with sampler ``name`` (a key of :data:`SAMPLERS`) in ``num_steps`` steps.

    ``timesteps``: a spacing name (``"leading"``, ``"trailing"``, ``"linspace"``), a key of
    :data:`.named_schedules.NAMED_TIMESTEPS`, or explicit ints; default ``"trailing"``, except for
    ``"heun"``, which defaults to Karras sigmas (EDM eq. 5) over the schedule's range. ``options`` go to
    the sampler (e.g. ``eta`` for DDIM). E.g. ``sample("ddim", den, (B, 9), 3, extra_args={"cond": c})``.

    ``start_step``: run only the steps from that index on, from ``start_from`` (an earlier estimate
    of the clean sample; default ``prior_mean``) diffused to their first level,
    ``x = x_r + alpha (x_init - x_r) + sigma_vp P(z)``: SDEdit (Meng et al. 2022, Sec. 3), a warm
    start of the chain; 0 runs the whole chain from pure noise.

    ``temperature``: the scale of the initial noise, a number or a tensor broadcastable to ``shape``
    (:func:`prior_sample`).
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}")
    schedule = denoiser.schedule
    if sigmas is None:
        if timesteps is None and name == "heun":
            sigmas = karras_sigmas(num_steps, schedule.sigma_min, schedule.sigma_max)
        else:
            timesteps = resolve_timesteps(schedule.num_steps, num_steps, timesteps)
    elif timesteps is not None:
        raise ValueError("give at most one of timesteps and sigmas")
    x = prior_sample(
        shape,
        prior_mean=prior_mean,
        projection=projection,
        generator=generator,
        dtype=dtype,
        device=device,
        temperature=temperature,
    )
    if start_step:
        if sigmas is None:
            sigmas, timesteps = sigmas_from_timesteps(denoiser, timesteps), None
        sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
        if not 0 < start_step < len(sigmas) - 1:
            raise ValueError(f"start_step must lie in [0, {len(sigmas) - 2}], got {start_step}")
        sigmas = sigmas[start_step:]
        shift = torch.zeros((), dtype=dtype, device=x.device) if prior_mean is None else prior_mean.to(dtype)
        start = shift if start_from is None else start_from.to(dtype)
        alpha, sigma_vp = _vp(float(sigmas[0]))
        x = shift + alpha * (start - shift) + sigma_vp * (x - shift)
    elif start_from is not None:
        raise ValueError("start_from needs a start_step > 0")
    return SAMPLERS[name](
        denoiser,
        x,
        timesteps,
        sigmas=sigmas,
        extra_args=extra_args,
        projection=projection,
        prior_mean=prior_mean,
        generator=generator,
        callback=callback,
        **options,
    )
