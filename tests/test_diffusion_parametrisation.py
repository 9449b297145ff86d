"""Denoiser conversions between eps / x0 / v models, q_sample, and the training loss and its weighting."""

from __future__ import annotations

import pytest
import torch

from diff9d_ros.diffusion import (
    Denoiser,
    DiscreteVPSchedule,
    GaussianMixture,
    GaussianMixtureDenoiser,
    q_sample,
    snr_weight,
    training_loss,
    zero_mean_projection,
)

SCHEDULE = DiscreteVPSchedule.linear()


def _oracle(dim: int = 4) -> GaussianMixtureDenoiser:
    return GaussianMixtureDenoiser(GaussianMixture.random(dim, 3, seed=11), SCHEDULE)


def _models(oracle: GaussianMixtureDenoiser, prior_mean: torch.Tensor | None = None, bias: float = 0.0):
    """The oracle written as an eps, an x0 and a v model (plus an optional constant error ``bias`` in x0)."""

    def x0_model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return oracle(x_t, SCHEDULE.t_to_sigma(t), prior_mean=prior_mean) + bias

    def coefficients(t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = SCHEDULE.alpha(t).to(like.dtype)[:, None]
        return alpha, (1 - alpha**2).sqrt()

    def centred(x: torch.Tensor) -> torch.Tensor:
        return x if prior_mean is None else x - prior_mean

    def eps_model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma_vp = coefficients(t, x_t)
        return (centred(x_t) - alpha * centred(x0_model(x_t, t))) / sigma_vp

    def v_model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma_vp = coefficients(t, x_t)
        return alpha * eps_model(x_t, t) - sigma_vp * centred(x0_model(x_t, t))

    return {"eps": eps_model, "x0": x0_model, "v": v_model}


@pytest.mark.parametrize("with_prior", [False, True])
def test_every_parametrisation_gives_the_same_denoiser(with_prior: bool) -> None:
    oracle = _oracle()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    prior = torch.randn(64, 4, generator=gen, dtype=torch.float64) if with_prior else None
    sigma = SCHEDULE.t_to_sigma(torch.randint(0, 1000, (64,), generator=gen))
    expected = oracle(x, sigma, prior_mean=prior)
    for prediction, model in _models(oracle, prior).items():
        x0, eps = Denoiser(model, SCHEDULE, prediction).predict(x, sigma, prior_mean=prior)
        torch.testing.assert_close(x0, expected, rtol=1e-8, atol=1e-8, msg=prediction)
        torch.testing.assert_close(
            eps, _models(oracle, prior)["eps"](x, SCHEDULE.sigma_to_t(sigma)), msg=prediction
        )


def test_denoiser_passes_timesteps_and_extra_args_to_the_model() -> None:
    seen = {}

    def model(x_t: torch.Tensor, t: torch.Tensor, *, cond: torch.Tensor) -> torch.Tensor:
        seen.update(t=t, cond=cond)
        return torch.zeros_like(x_t)

    den = Denoiser(model, SCHEDULE, "x0")
    cond = torch.ones(3, 2)
    den(torch.randn(3, 5, 2), SCHEDULE.t_to_sigma(torch.tensor([999, 10, 0])), cond=cond)
    assert seen["t"].dtype == torch.float32 and seen["t"].shape == (3,)
    torch.testing.assert_close(seen["t"], torch.tensor([999.0, 10.0, 0.0]))
    assert seen["cond"] is cond
    with pytest.raises(ValueError, match="unknown prediction"):
        Denoiser(model, SCHEDULE, "score")


def test_q_sample_moments_and_prior_mean_centring() -> None:
    gen = torch.Generator().manual_seed(1)
    n, t = 200_000, 300
    x0 = torch.full((n, 2), 1.5, dtype=torch.float64)
    prior = torch.tensor([[-2.0, 4.0]], dtype=torch.float64)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    x_t = q_sample(SCHEDULE, x0, torch.full((n,), t), noise, prior_mean=prior)
    abar = SCHEDULE.alphas_cumprod[t].item()
    expected_mean = abar**0.5 * 1.5 + (1 - abar**0.5) * prior[0]
    torch.testing.assert_close(x_t.mean(0), expected_mean, rtol=0, atol=5e-3)
    torch.testing.assert_close(x_t.var(0), torch.full((2,), 1 - abar, dtype=torch.float64), rtol=2e-2, atol=0)
    # at the noisiest step the process is centred (nearly) at the prior mean, not at 0
    x_T = q_sample(SCHEDULE, x0, torch.full((n,), 999), noise, prior_mean=prior)
    assert (x_T.mean(0) - prior[0]).abs().max().item() < 0.03
    with pytest.raises(ValueError, match="t must have shape"):
        q_sample(SCHEDULE, x0, torch.tensor([1]), noise)


@pytest.mark.parametrize("weighting", ["min_snr_5", "edm_0.5"])
def test_snr_weights_make_the_three_parametrisations_agree(weighting: str) -> None:
    """Min-SNR (Hang et al. 2023) and EDM (Karras et al. 2022) weight the same x0-space error
    whatever the model predicts."""
    oracle = _oracle()
    x0 = oracle.mixture.sample(256, torch.Generator().manual_seed(2))
    losses = {}
    for prediction, model in _models(oracle, bias=0.05).items():
        gen = torch.Generator().manual_seed(3)  # same t and noise for all three
        losses[prediction] = training_loss(
            model, x0, SCHEDULE, prediction, snr_weighting=weighting, generator=gen
        )
    assert losses["eps"].shape == (256,)
    torch.testing.assert_close(losses["x0"], losses["eps"], rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(losses["v"], losses["eps"], rtol=1e-6, atol=1e-10)


def test_snr_weight_values() -> None:
    snr = torch.tensor([0.1, 5.0, 100.0])
    torch.testing.assert_close(snr_weight("min_snr_5", snr, "eps"), torch.tensor([1.0, 1.0, 0.05]))
    # EDM: lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 with sigma^2 = 1 / snr, in x0
    # space; an eps error is sigma times an x0 error, so the eps weight is lambda sigma^2.
    sigma2, sigma_data2 = 1.0 / snr, 0.25
    edm_lambda = (sigma2 + sigma_data2) / (sigma2 * sigma_data2)
    torch.testing.assert_close(snr_weight("edm_0.5", snr, "x0"), edm_lambda)
    torch.testing.assert_close(snr_weight("edm_0.5", snr, "eps"), edm_lambda * sigma2)
    with pytest.raises(ValueError, match="snr_weighting"):
        snr_weight("p2", snr, "eps")
    with pytest.raises(ValueError, match="sigma_data must be > 0"):
        snr_weight("edm_0", snr, "eps")
    with pytest.raises(ValueError, match="must be a number"):
        snr_weight("edm_x", snr, "eps")


def test_the_bayes_denoiser_has_a_lower_loss_than_a_perturbed_one() -> None:
    oracle = _oracle()
    x0 = oracle.mixture.sample(4096, torch.Generator().manual_seed(4))
    exact = _models(oracle)["eps"]
    perturbed = _models(oracle, bias=0.1)["eps"]
    loss_exact = training_loss(exact, x0, SCHEDULE, generator=torch.Generator().manual_seed(5)).mean()
    loss_perturbed = training_loss(perturbed, x0, SCHEDULE, generator=torch.Generator().manual_seed(5)).mean()
    assert loss_exact < loss_perturbed
    assert 0 < loss_exact.item() < 1  # eps-MSE of the optimum: below the variance of eps


def test_training_loss_projects_the_noise_and_centres_at_the_prior_mean() -> None:
    project = zero_mean_projection(1)  # zero centre of mass over the node axis of (B, N, T, 3)
    x0 = project(torch.randn(8, 5, 4, 3, dtype=torch.float64))
    prior = project(torch.randn(8, 5, 4, 3, dtype=torch.float64)) + torch.tensor([1.0, -2.0, 0.5])
    inputs = {}

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        inputs["x_t"], inputs["t"] = x_t, t
        return torch.zeros_like(x_t)

    loss = training_loss(model, x0, SCHEDULE, "eps", prior_mean=prior, projection=project)
    alpha = SCHEDULE.alpha(inputs["t"].long())[:, None, None, None]
    noise_part = inputs["x_t"] - prior - alpha * (x0 - prior)  # sqrt(1 - abar) * projected noise
    assert loss.shape == (8,)
    torch.testing.assert_close(noise_part.mean(dim=1), torch.zeros(8, 4, 3, dtype=torch.float64))
    assert noise_part.abs().max() > 0.1
    assert bool(((inputs["t"] >= 0) & (inputs["t"] <= 999)).all())
    with pytest.raises(ValueError, match="x0 must be batched"):
        training_loss(model, torch.zeros(3), SCHEDULE)
