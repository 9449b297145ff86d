"""Exact denoisers for Gaussian and Gaussian-mixture data: the ground truth samplers are tested against.

For data ``x0 ~ sum_k w_k N(mu_k, S_k)`` and ``y = x0 + sigma eps`` (the VE view of a VP input
``x = alpha y``, see :mod:`.schedules`), each component's posterior is Gaussian:
``p(y | k) = N(mu_k, S_k + sigma^2 I)`` and ``E[x0 | y, k] = mu_k + S_k (S_k + sigma^2 I)^-1 (y - mu_k)``;
the exact denoiser ``E[x0 | y]`` weights these by the responsibilities ``p(k | y)`` (Tweedie's formula;
e.g. Karras et al. 2022, App. B.3). Computed in each component's eigenbasis ``S_k = U diag(l) U^T``.

For a single Gaussian the probability-flow ODE ``dy/dsigma = (y - D(y; sigma)) / sigma`` is linear and
solved by ``U^T (y - mu)`` scaling as ``sqrt(l + sigma^2)`` (:func:`gaussian_flow`).

Public API
----------
``GaussianMixture(weights, means, covariances)``; ``.gaussian(mean, cov)``; ``.random(dim, k, seed)``;
    ``.sample(n, generator)``, ``.log_prob(x)``, ``.responsibilities(x, sigma=0)``, ``.assign(x)``.
``GaussianMixtureDenoiser(mixture, schedule)``  a denoiser (``den(x, sigma, prior_mean=None)``) and an
    exact eps-model ``den.eps_model(x_t, t)`` with the model signature of :mod:`.parametrisation`.
``gaussian_flow(mixture, x, sigma_from, sigma_to)``  the closed-form PF-ODE map of a single Gaussian.
Data are ``(B, D)``; any ``(B, ...)`` input whose non-batch size is ``D`` is accepted and reshaped back.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .schedules import DiscreteVPSchedule, alpha_from_sigma, vp_sigma_from_sigma


def _normalised(log_weights: Tensor) -> Tensor:
    """``softmax`` over dim 1, written out: ``torch.softmax`` always goes parallel and can stall for
    milliseconds on a busy 2-core machine, which dominates small-batch sampling."""
    weights = (log_weights - log_weights.amax(dim=1, keepdim=True)).exp()
    return weights / weights.sum(dim=1, keepdim=True)


class GaussianMixture:
    """``sum_k w_k N(mu_k, S_k)`` in ``D`` dimensions with full covariances (float64)."""

    def __init__(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        weights = torch.as_tensor(weights, dtype=torch.float64)
        means = torch.as_tensor(means, dtype=torch.float64)
        covariances = torch.as_tensor(covariances, dtype=torch.float64)
        if (
            means.ndim != 2
            or weights.shape != means.shape[:1]
            or covariances.shape != (*means.shape, means.shape[1])
        ):
            raise ValueError(
                f"need weights (K,), means (K, D), covariances (K, D, D); got {tuple(weights.shape)}, "
                f"{tuple(means.shape)}, {tuple(covariances.shape)}"
            )
        if bool((weights <= 0).any()) or abs(float(weights.sum()) - 1.0) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1, got {weights.tolist()}")
        if not torch.allclose(covariances, covariances.transpose(1, 2)):
            raise ValueError("covariances must be symmetric")
        self.weights, self.means, self.covariances = weights, means, covariances
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh(covariances)
        if bool((self.eigenvalues <= 0).any()):
            raise ValueError("covariances must be positive definite")
        # All components' eigenbases side by side, so that projecting is one matrix product.
        num_components, dim = means.shape
        self._bases = self.eigenvectors.permute(1, 0, 2).reshape(dim, num_components * dim)
        self._mean_coordinates = torch.einsum("kd,kdj->kj", means, self.eigenvectors)

    @classmethod
    def gaussian(cls, mean: Tensor, covariance: Tensor) -> GaussianMixture:
        """A single Gaussian ``N(mean, covariance)``."""
        mean = torch.as_tensor(mean, dtype=torch.float64)
        return cls(torch.ones(1, dtype=torch.float64), mean[None], torch.as_tensor(covariance)[None])

    @classmethod
    def random(
        cls,
        dim: int,
        num_components: int,
        seed: int,
        *,
        mean_scale: float = 1.0,
        std_range: tuple[float, float] = (0.1, 0.5),
    ) -> GaussianMixture:
        """A reproducible random mixture: means ``N(0, mean_scale^2 I)``, covariances with random
        orientation and standard deviations log-uniform in ``std_range``, weights Dirichlet(4)."""
        gen = torch.Generator().manual_seed(seed)
        gamma4 = (
            -torch.rand(num_components, 4, generator=gen, dtype=torch.float64).log().sum(1)
        )  # Gamma(4, 1)
        w = gamma4 / gamma4.sum()
        means = mean_scale * torch.randn(num_components, dim, generator=gen, dtype=torch.float64)
        rotations, _ = torch.linalg.qr(
            torch.randn(num_components, dim, dim, generator=gen, dtype=torch.float64)
        )
        low, high = math.log(std_range[0]), math.log(std_range[1])
        stds = torch.exp(
            low + (high - low) * torch.rand(num_components, dim, generator=gen, dtype=torch.float64)
        )
        covs = rotations @ torch.diag_embed(stds**2) @ rotations.transpose(1, 2)
        return cls(w, means, 0.5 * (covs + covs.transpose(1, 2)))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """``num`` exact samples ``(num, D)`` (float64)."""
        components = torch.multinomial(self.weights, num, replacement=True, generator=generator)
        z = torch.randn(num, self.dim, generator=generator, dtype=torch.float64)
        scale = self.eigenvectors * self.eigenvalues.sqrt()[:, None, :]
        return self.means[components] + torch.einsum("nij,nj->ni", scale[components], z)

    def _component_log_density(self, y: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Log ``w_k N(y; mu_k, S_k + sigma^2 I)`` ``(B, K)``, the eigen-coordinates ``(B, K, D)`` and
        the per-axis variances ``l + sigma^2`` ``(B, K, D)``."""
        z = (y @ self._bases).reshape(y.shape[0], *self.means.shape) - self._mean_coordinates[None]
        if bool((sigma == sigma[0]).all()):  # one noise level for the batch: (1, K, D) variances
            sigma = sigma[:1]
        variances = self.eigenvalues[None] + sigma.reshape(-1, 1, 1) ** 2
        log_density = -0.5 * (
            (z * z / variances).sum(-1) + variances.log().sum(-1) + self.dim * math.log(2 * math.pi)
        )
        return log_density + self.weights.log()[None], z, variances

    def log_prob(self, x: Tensor, sigma: Tensor | float = 0.0) -> Tensor:
        """``log p(x0 + sigma eps = x)`` per sample ``(B,)`` (``sigma = 0``: the data density)."""
        x = x.to(torch.float64).reshape(x.shape[0], self.dim)
        sigma = torch.as_tensor(sigma, dtype=torch.float64).expand(x.shape[0])
        return torch.logsumexp(self._component_log_density(x, sigma)[0], dim=1)

    def responsibilities(self, x: Tensor, sigma: Tensor | float = 0.0) -> Tensor:
        """``p(k | x0 + sigma eps = x)`` ``(B, K)``."""
        x = x.to(torch.float64).reshape(x.shape[0], self.dim)
        sigma = torch.as_tensor(sigma, dtype=torch.float64).expand(x.shape[0])
        return _normalised(self._component_log_density(x, sigma)[0])

    def assign(self, x: Tensor) -> Tensor:
        """The most probable component of each clean sample ``(B,)``."""
        return self.responsibilities(x).argmax(dim=1)

    def posterior_mean(self, y: Tensor, sigma: Tensor) -> Tensor:
        """``E[x0 | x0 + sigma eps = y]`` for ``y`` ``(B, D)`` and ``sigma`` ``(B,)`` (float64)."""
        log_density, z, variances = self._component_log_density(y, sigma)
        resp = _normalised(log_density)
        shrunk = resp[..., None] * z * (self.eigenvalues[None] / variances)
        return resp @ self.means + shrunk.reshape(y.shape[0], -1) @ self._bases.T


class GaussianMixtureDenoiser:
    """The exact denoiser ``E[x0 | x]`` of a :class:`GaussianMixture`, usable wherever a denoiser is.

    ``schedule`` (default: the 1000-step linear VP schedule) only serves to turn timesteps into
    noise levels, for samplers and for :meth:`eps_model`.
    """

    def __init__(self, mixture: GaussianMixture, schedule: DiscreteVPSchedule | None = None) -> None:
        self.mixture = mixture
        self.schedule = schedule if schedule is not None else DiscreteVPSchedule.linear()

    def __call__(
        self, x: Tensor, sigma: float | Tensor, *, prior_mean: Tensor | None = None, **extra_args: Any
    ) -> Tensor:
        """``E[x0 | x]`` for the VP-noised ``x`` at VE noise level ``sigma`` (scalar or ``(B,)``).

        With ``prior_mean`` ``x_r`` the input is ``x_r + alpha (x0 - x_r) + sigma_vp eps``, i.e. the
        plain input is ``x - (1 - alpha) x_r``. ``extra_args`` are ignored (an unconditional oracle).
        """
        batch = x.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).expand(batch)
        alpha = alpha_from_sigma(sigma).reshape(batch, *([1] * (x.ndim - 1)))
        x64 = x.to(torch.float64)
        if prior_mean is not None:
            x64 = x64 - (1 - alpha) * prior_mean.to(torch.float64)
        y = (x64 / alpha).reshape(batch, -1)
        if y.shape[1] != self.mixture.dim:
            raise ValueError(f"input has {y.shape[1]} values per sample, the mixture is {self.mixture.dim}-D")
        return self.mixture.posterior_mean(y, sigma).reshape(x.shape).to(x.dtype)

    def eps_model(self, x_t: Tensor, t: Tensor, **extra_args: Any) -> Tensor:
        """The exact eps prediction ``(x_t - alpha E[x0 | x_t]) / sigma_vp`` at discrete timesteps ``t``."""
        sigma = self.schedule.t_to_sigma(torch.as_tensor(t, dtype=torch.float64))
        shape = (x_t.shape[0], *([1] * (x_t.ndim - 1)))
        alpha = alpha_from_sigma(sigma).reshape(shape).to(x_t.dtype)
        sigma_vp = vp_sigma_from_sigma(sigma).reshape(shape).to(x_t.dtype)
        return (x_t - alpha * self(x_t, sigma)) / sigma_vp


def gaussian_flow(mixture: GaussianMixture, x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
    """Exact probability-flow ODE map of VP-noised ``x`` ``(B, D)`` from ``sigma_from`` to ``sigma_to``.

    Only for a single Gaussian: in its eigenbasis each coordinate of ``y - mu`` (``y = x / alpha``)
    scales by ``sqrt((l + sigma_to^2) / (l + sigma_from^2))``, the solution of
    ``dy/dsigma = sigma (y - mu) / (l + sigma^2)``. Returns the VP-scaled state at ``sigma_to``.
    """
    if mixture.weights.numel() != 1:
        raise ValueError("the closed-form flow exists only for a single Gaussian (one component)")
    mean, vectors, values = mixture.means[0], mixture.eigenvectors[0], mixture.eigenvalues[0]
    alpha_from = 1.0 / math.sqrt(1.0 + sigma_from**2)
    alpha_to = 1.0 / math.sqrt(1.0 + sigma_to**2)
    z = (x.to(torch.float64) / alpha_from - mean) @ vectors
    z = z * ((values + sigma_to**2) / (values + sigma_from**2)).sqrt()
    return (alpha_to * (mean + z @ vectors.T)).to(x.dtype)
