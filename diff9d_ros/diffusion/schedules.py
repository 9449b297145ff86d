"""Noise schedules as plain tensors, and the conversions between their coordinates.

Every schedule here is expressed through one noise-level coordinate, the k-diffusion /
EDM ``sigma`` of the variance-exploding (VE) view: a VP-noised input
``x_t = alpha * x0 + sigma_vp * eps`` (with ``alpha**2 + sigma_vp**2 = 1``) equals
``alpha * (x0 + sigma * eps)``, so

* ``sigma = sigma_vp / alpha = sqrt((1 - abar) / abar)``   (Karras et al. 2022, Sec. 2 and Table 1),
* ``alpha = 1 / sqrt(1 + sigma**2)``, ``sigma_vp = sigma / sqrt(1 + sigma**2)``,
* log-SNR ``lambda = log(alpha**2 / sigma_vp**2) = -2 log sigma`` (Kingma et al. 2021, Sec. 2).

Public API
----------
``DiscreteVPSchedule``      the discrete VP (DDPM) chain: ``.linear()`` (Ho et al. 2020, Sec. 4),
                            ``.cosine()`` (Nichol & Dhariwal 2021, eq. 17); t <-> sigma conversion.
``alpha_from_sigma``, ``vp_sigma_from_sigma``, ``log_snr_from_sigma``, ``sigma_from_log_snr``
``karras_sigmas``           EDM sigmas (Karras et al. 2022, eq. 5), ending in 0.
``vp_sigma``, ``vp_sigmas`` the continuous VP SDE (Song et al. 2021, eq. 11; EDM Table 1), ending in 0.

Sigma sequences handed to samplers are 1-D float64 tensors, strictly decreasing, usually ending in 0.
"""

from __future__ import annotations

import bisect
import math

import torch
from torch import Tensor


def alpha_from_sigma(sigma: Tensor) -> Tensor:
    """Signal scale ``alpha = sqrt(abar) = 1 / sqrt(1 + sigma**2)`` of the VP view."""
    return (1.0 + sigma**2).rsqrt()


def vp_sigma_from_sigma(sigma: Tensor) -> Tensor:
    """Noise scale ``sqrt(1 - abar) = sigma / sqrt(1 + sigma**2)`` of the VP view."""
    return sigma * (1.0 + sigma**2).rsqrt()


def log_snr_from_sigma(sigma: Tensor) -> Tensor:
    """Log signal-to-noise ratio ``lambda = -2 log sigma`` (Kingma et al. 2021, Sec. 2)."""
    return -2.0 * sigma.log()


def sigma_from_log_snr(log_snr: Tensor) -> Tensor:
    """Inverse of :func:`log_snr_from_sigma`."""
    return (-0.5 * log_snr).exp()


class DiscreteVPSchedule:
    """The discrete variance-preserving chain ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``.

    Ho et al. 2020, eq. (4). Timesteps are the indices ``0 .. num_steps - 1``; fractional
    timesteps interpolate ``log sigma`` linearly between neighbours (as k-diffusion does).

    Attributes: ``betas``, ``alphas_cumprod``, ``sigmas`` (``sqrt((1 - abar) / abar)``, increasing
    with t), all 1-D float64 tensors of length ``num_steps``; ``num_steps``.
    """

    def __init__(self, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or betas.numel() < 2:
            raise ValueError(
                f"betas must be a 1-D tensor of at least 2 values, got shape {tuple(betas.shape)}"
            )
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie strictly between 0 and 1")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.num_steps = betas.numel()
        self.sigmas = ((1.0 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()
        self._log_sigmas = self.sigmas.log()
        self._log_sigma_list = self._log_sigmas.tolist()

    @classmethod
    def linear(
        cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> DiscreteVPSchedule:
        """Betas linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4; Diff9D, GeoTDM)."""
        if num_steps < 2:
            raise ValueError(f"num_steps must be >= 2, got {num_steps}")
        return cls(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64))

    @classmethod
    def cosine(
        cls, num_steps: int = 1000, offset: float = 0.008, max_beta: float = 0.999
    ) -> DiscreteVPSchedule:
        """``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t/T + s) / (1 + s) pi/2)``.

        Nichol & Dhariwal 2021, eq. (17). Betas are clipped at ``max_beta`` as in their Sec. 3.2.
        """
        if num_steps < 2:
            raise ValueError(f"num_steps must be >= 2, got {num_steps}")
        grid = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((grid + offset) / (1 + offset) * math.pi / 2) ** 2
        return cls((1.0 - f[1:] / f[:-1]).clamp(max=max_beta))

    @property
    def sigma_min(self) -> float:
        """Noise level of timestep 0."""
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        """Noise level of the last timestep."""
        return float(self.sigmas[-1])

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """Noise level of (possibly fractional) timesteps ``t`` in ``[0, num_steps - 1]`` (float64)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if bool(((t < 0) | (t > self.num_steps - 1)).any()):
            raise ValueError(
                f"timesteps must lie in [0, {self.num_steps - 1}], got min {t.min()}, max {t.max()}"
            )
        low = t.floor().long().clamp(max=self.num_steps - 2)
        frac = t - low
        log_sigmas = self._log_sigmas.to(t.device)
        return ((1 - frac) * log_sigmas[low] + frac * log_sigmas[low + 1]).exp()

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Fractional timestep of noise level ``sigma`` (float64), the inverse of :meth:`t_to_sigma`.

        Noise levels outside ``[sigma_min, sigma_max]`` clamp to timestep 0 or ``num_steps - 1``.
        """
        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
        log_sigmas = self._log_sigmas.to(log_sigma.device)
        high = torch.searchsorted(log_sigmas, log_sigma.contiguous()).clamp(1, self.num_steps - 1)
        low = high - 1
        frac = (log_sigma - log_sigmas[low]) / (log_sigmas[high] - log_sigmas[low])
        return (low + frac.clamp(0, 1)).to(torch.float64)

    def timestep_of(self, sigma: float) -> float:
        """:meth:`sigma_to_t` of one noise level, in plain Python (cheap enough to call every step)."""
        log_sigma = math.log(sigma) if sigma > 0 else -math.inf
        table = self._log_sigma_list
        high = min(max(bisect.bisect_left(table, log_sigma), 1), self.num_steps - 1)
        frac = (log_sigma - table[high - 1]) / (table[high] - table[high - 1])
        return high - 1 + min(max(frac, 0.0), 1.0)

    def alpha(self, t: Tensor) -> Tensor:
        """``sqrt(abar_t)`` at (possibly fractional) timesteps ``t``."""
        return alpha_from_sigma(self.t_to_sigma(t))

    def vp_sigma(self, t: Tensor) -> Tensor:
        """``sqrt(1 - abar_t)`` at (possibly fractional) timesteps ``t``."""
        return vp_sigma_from_sigma(self.t_to_sigma(t))

    def log_snr(self, t: Tensor) -> Tensor:
        """``log(abar_t / (1 - abar_t))`` at (possibly fractional) timesteps ``t``."""
        return log_snr_from_sigma(self.t_to_sigma(t))


def _append_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """``num_steps`` noise levels ``(s_max^(1/rho) + i/(N-1) (s_min^(1/rho) - s_max^(1/rho)))^rho``, then 0.

    Karras et al. 2022, eq. (5); ``rho = 7`` is their choice for second-order samplers.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((high + ramp * (low - high)) ** rho)


def vp_sigma(t: Tensor, beta_min: float = 0.1, beta_d: float = 19.9) -> Tensor:
    """Continuous VP SDE noise level at ``t`` in (0, 1]: ``sqrt(exp(beta_d t^2/2 + beta_min t) - 1)``.

    Song et al. 2021, eq. (11) and App. B; written as a sigma in Karras et al. 2022, Table 1.
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.expm1(0.5 * beta_d * t**2 + beta_min * t).sqrt()


def vp_sigmas(num_steps: int, beta_min: float = 0.1, beta_d: float = 19.9, t_min: float = 1e-3) -> Tensor:
    """``num_steps`` continuous-VP noise levels at t uniform in ``[1, t_min]``, then 0 (EDM Table 1)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if not 0 < t_min < 1:
        raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
    return _append_zero(vp_sigma(torch.linspace(1, t_min, num_steps, dtype=torch.float64), beta_min, beta_d))
