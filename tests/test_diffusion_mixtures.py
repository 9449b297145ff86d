"""Stochastic samplers at high NFE reproduce Gaussian mixtures (2-D and 9-D) on 20k samples.

The oracle is the exact mixture denoiser, so any discrepancy is the sampler's. Samples are split by
their most probable true component (the components are well separated) and each component's weight,
mean and covariance are compared with the truth. Tolerances, for 20k samples (what exact samples of
these mixtures reach, measured: weights 0.005, means 0.04, covariances 0.045):

* weights: max absolute error <= 0.015 (about 3 standard errors of a 0.5 weight);
* means: max ``||mean - mu_k|| / largest std of component k`` <= 0.1;
* covariances: max relative Frobenius error <= 0.12.

DDPM on 100 trailing steps of the same schedule misses the covariance tolerance (about 0.2-0.27), so
the tests can fail.
"""

from __future__ import annotations

import pytest
import torch

from diff9d_ros.diffusion import GaussianMixture, GaussianMixtureDenoiser, mixture_statistics, sample

NUM_SAMPLES = 20_000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


MIXTURES = {
    "2d": GaussianMixture.random(2, 3, seed=3, mean_scale=3.0, std_range=(0.25, 0.6)),
    "9d": GaussianMixture.random(9, 4, seed=3, mean_scale=1.5, std_range=(0.25, 0.6)),
}
# (sampler, steps, timesteps, options): NFE 1000, 500, 499, 199
CONFIGS = {
    "ddpm": ("ddpm", 1000, "trailing", {}),
    "ddim_eta1": ("ddim", 500, "linspace", {"eta": 1.0}),
    "pc": ("pc", 250, "linspace", {"snr": 0.16}),
    "heun_churn": ("heun", 100, None, {"s_churn": 80.0}),
}


def mixture_errors(samples: torch.Tensor, mixture: GaussianMixture) -> dict[str, float]:
    """Worst-component errors of weights, means (in component stds) and covariances (relative)."""
    weights, means, covariances = mixture_statistics(samples, mixture)
    largest_std = mixture.eigenvalues.max(dim=1).values.sqrt()
    covariance_error = torch.linalg.matrix_norm(covariances - mixture.covariances) / torch.linalg.matrix_norm(
        mixture.covariances
    )
    return {
        "weights": (weights - mixture.weights).abs().max().item(),
        "means": ((means - mixture.means).norm(dim=1) / largest_std).max().item(),
        "covariances": covariance_error.max().item(),
    }


def test_mixtures_are_well_separated_for_hard_assignment() -> None:
    for name, mixture in MIXTURES.items():
        exact = mixture.sample(NUM_SAMPLES, torch.Generator().manual_seed(0))
        assert (mixture.responsibilities(exact).max(dim=1).values < 0.99).float().mean() < 0.01, name
        errors = mixture_errors(exact, mixture)
        assert errors["weights"] < 0.015 and errors["means"] < 0.1 and errors["covariances"] < 0.12, name


@pytest.mark.slow
@pytest.mark.parametrize("mixture_name", sorted(MIXTURES))
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_stochastic_sampler_reproduces_the_mixture(config: str, mixture_name: str) -> None:
    mixture = MIXTURES[mixture_name]
    name, steps, spacing, options = CONFIGS[config]
    samples = sample(
        name,
        GaussianMixtureDenoiser(mixture),
        (NUM_SAMPLES, mixture.dim),
        steps,
        timesteps=spacing,
        generator=torch.Generator().manual_seed(1),
        **options,
    )
    errors = mixture_errors(samples, mixture)
    assert errors["weights"] <= 0.015, errors
    assert errors["means"] <= 0.1, errors
    assert errors["covariances"] <= 0.12, errors


def test_too_few_ddpm_steps_miss_the_covariance_tolerance() -> None:
    """The control: the same check rejects DDPM on 100 trailing steps (variance shrinks per big step)."""
    mixture = MIXTURES["2d"]
    samples = sample(
        "ddpm",
        GaussianMixtureDenoiser(mixture),
        (NUM_SAMPLES, 2),
        100,
        generator=torch.Generator().manual_seed(1),
    )
    assert mixture_errors(samples, mixture)["covariances"] > 0.12
