"""Distances between sample sets and a known mixture, for tests and benchmarks of samplers.

``sliced_wasserstein2(a, b, num_projections, generator)``  sliced Wasserstein-2 distance between two
    equally sized sample sets (Bonneel et al. 2015, eq. 4 with the 1-D W2 of sorted projections).
``mixture_statistics(samples, mixture)``  weights, means and covariances of the samples after a hard
    assignment of each sample to its most probable component of ``mixture``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .analytic import GaussianMixture


def sliced_wasserstein2(
    a: Tensor, b: Tensor, num_projections: int = 256, generator: torch.Generator | None = None
) -> float:
    """``sqrt(E_theta W2^2(theta . a, theta . b))`` over ``num_projections`` random unit directions.

    ``a`` and ``b`` are ``(N, D)`` with the same N; the 1-D W2 pairs the sorted projections.
    """
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"need two (N, D) sample sets of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    directions = torch.randn(a.shape[1], num_projections, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    pa = (a.to(torch.float64) @ directions).sort(dim=0).values
    pb = (b.to(torch.float64) @ directions).sort(dim=0).values
    return float(((pa - pb) ** 2).mean().sqrt())


def mixture_statistics(samples: Tensor, mixture: GaussianMixture) -> tuple[Tensor, Tensor, Tensor]:
    """``(weights (K,), means (K, D), covariances (K, D, D))`` of ``samples`` split by ``mixture.assign``.

    A component that receives fewer than two samples gets NaN mean and covariance.
    """
    samples = samples.to(torch.float64).reshape(samples.shape[0], mixture.dim)
    labels = mixture.assign(samples)
    num_components = mixture.weights.numel()
    weights = torch.bincount(labels, minlength=num_components).to(torch.float64) / samples.shape[0]
    means = torch.full_like(mixture.means, float("nan"))
    covariances = torch.full_like(mixture.covariances, float("nan"))
    for k in range(num_components):
        members = samples[labels == k]
        if members.shape[0] >= 2:
            means[k] = members.mean(dim=0)
            covariances[k] = torch.cov(members.T)
    return weights, means, covariances
