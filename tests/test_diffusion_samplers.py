"""Samplers against closed forms, convergence orders, diffusers step by step, and the hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from scipy.integrate import solve_ivp

from diff9d_ros.diffusion import (
    NAMED_TIMESTEPS,
    SAMPLERS,
    Denoiser,
    DiscreteVPSchedule,
    GaussianMixture,
    GaussianMixtureDenoiser,
    gaussian_flow,
    prior_sample,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    timesteps,
    zero_mean_projection,
)

LINEAR = DiscreteVPSchedule.linear()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gaussian(dim: int = 3, seed: int = 0) -> GaussianMixture:
    gen = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    variances = torch.linspace(0.05, 1.0, dim, dtype=torch.float64)
    mean = torch.randn(dim, generator=gen, dtype=torch.float64)
    return GaussianMixture.gaussian(mean, rotation @ torch.diag(variances) @ rotation.T)


class _TinyEpsModel(torch.nn.Module):
    """A fixed random MLP eps-model ``model(x_t, t)`` of the timestep, any (B, D) input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + 1, 32), torch.nn.Tanh(), torch.nn.Linear(32, dim)
        )

    @torch.no_grad()
    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x_t.dtype).expand(x_t.shape[0])
        return self.net(torch.cat([x_t, t[:, None] / 1000.0], dim=1))


def _trajectory(sampler, denoiser, x, steps, **kwargs) -> list[torch.Tensor]:
    states: list[torch.Tensor] = []
    sampler(denoiser, x, steps, callback=lambda info: states.append(info["x"]), **kwargs)
    return states


@pytest.mark.slow
def test_ddim_converges_to_the_closed_form_probability_flow_ode() -> None:
    """Deterministic DDIM is Euler's method on the PF-ODE; for Gaussian data that ODE is linear."""
    gaussian = _gaussian()
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errors = []
    for num_train in (1000, 10_000):  # the same continuous VP process, 10x finer
        schedule = DiscreteVPSchedule.linear(num_train, 0.1 / num_train, 20.0 / num_train)
        oracle = GaussianMixtureDenoiser(gaussian, schedule)
        samples = sample_ddim(oracle, x, torch.arange(num_train - 1, -1, -1))
        exact = gaussian_flow(gaussian, x, schedule.sigma_max, 0.0)
        errors.append((samples - exact).abs().max().item())
    assert errors[1] < 1e-3
    assert 5 < errors[0] / errors[1] < 20  # first order: 10x the steps, about 10x less error


def _pf_ode_reference(mixture: GaussianMixture, x: torch.Tensor, sigma_from: float, sigma_to: float):
    """High-accuracy PF-ODE solution by scipy's DOP853: ``dy/dlog(sigma) = y - D(y; sigma)``."""
    alpha_from, alpha_to = (1 + sigma_from**2) ** -0.5, (1 + sigma_to**2) ** -0.5
    y0 = (x / alpha_from).numpy().ravel()

    def rhs(log_sigma: float, y: np.ndarray) -> np.ndarray:
        y_t = torch.from_numpy(y).reshape(x.shape)
        denoised = mixture.posterior_mean(
            y_t, torch.full((x.shape[0],), math.exp(log_sigma), dtype=torch.float64)
        )
        return (y_t - denoised).numpy().ravel()

    solution = solve_ivp(
        rhs, (math.log(sigma_from), math.log(sigma_to)), y0, method="DOP853", rtol=1e-10, atol=1e-10
    )
    return alpha_to * torch.from_numpy(solution.y[:, -1]).reshape(x.shape)


def _log_slope(counts: list[int], errors: list[float]) -> float:
    return float(np.polyfit(np.log(counts), np.log(errors), 1)[0])


def test_dpmpp_2m_is_second_order_and_ddim_first_order_on_the_mixture() -> None:
    mixture = GaussianMixture.random(2, 3, seed=5, mean_scale=2.0, std_range=(0.2, 0.6))
    oracle = GaussianMixtureDenoiser(mixture)
    sigma_from, sigma_to = 80.0, 0.05
    x = (
        (1 + sigma_from**2) ** -0.5
        * sigma_from
        * torch.randn(32, 2, generator=torch.Generator().manual_seed(2))
    )
    x = x.double()
    reference = _pf_ode_reference(mixture, x, sigma_from, sigma_to)
    counts = [20, 40, 80, 160]
    slopes = {}
    for sampler in (sample_dpmpp_2m, sample_ddim):
        errors = []
        for n in counts:  # uniform in log-SNR, ending at sigma_to (no final jump to 0)
            sigmas = torch.logspace(math.log10(sigma_from), math.log10(sigma_to), n + 1, dtype=torch.float64)
            errors.append((sampler(oracle, x, sigmas=sigmas) - reference).pow(2).mean().sqrt().item())
        slopes[sampler.__name__] = _log_slope(counts, errors)
    assert slopes["sample_dpmpp_2m"] < -1.8, slopes  # error ~ NFE^-2
    assert -1.2 < slopes["sample_ddim"] < -0.8, slopes  # the first-order control


@pytest.mark.parametrize(
    ("spacing", "num_steps"), [("leading", 3), ("leading", 7), ("trailing", 10), ("trailing", 50)]
)
def test_ddim_agrees_with_diffusers_step_by_step(spacing: str, num_steps: int) -> None:
    """diffusers' DDIM steps from t to ``t - T // n``, which is the next listed timestep only for leading
    spacing and for trailing when n divides T (else it lands off the list: 999 -> 666 -> 333 while
    the next timestep is 332); ours always steps to the next listed timestep."""
    model = _TinyEpsModel(4)
    scheduler = DDIMScheduler(beta_schedule="linear", clip_sample=False, timestep_spacing=spacing)
    scheduler.set_timesteps(num_steps)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(3))
    theirs, state = [], x
    for t in scheduler.timesteps:
        state = scheduler.step(model(state, t), t, state).prev_sample
        theirs.append(state)
    ours = _trajectory(sample_ddim, Denoiser(model, LINEAR), x, timesteps(1000, num_steps, spacing))
    assert len(ours) == len(theirs) == num_steps
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"step {i}")


def test_stochastic_ddim_and_ddpm_agree_with_diffusers_given_the_same_generator() -> None:
    model = _TinyEpsModel(4)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(4))
    steps = timesteps(1000, 20, "leading")
    ddim = DDIMScheduler(beta_schedule="linear", clip_sample=False)
    ddim.set_timesteps(20)
    ddpm = DDPMScheduler(beta_schedule="linear", clip_sample=False)
    ddpm.set_timesteps(timesteps=steps.tolist())
    for scheduler, sampler, kwargs in ((ddim, sample_ddim, {"eta": 1.0}), (ddpm, sample_ddpm, {})):
        gen, theirs, state = torch.Generator().manual_seed(5), [], x
        for t in scheduler.timesteps:
            extra = {"eta": 1.0} if scheduler is ddim else {}
            state = scheduler.step(model(state, t), t, state, generator=gen, **extra).prev_sample
            theirs.append(state)
        ours = _trajectory(
            sampler, Denoiser(model, LINEAR), x, steps, generator=torch.Generator().manual_seed(5), **kwargs
        )
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"{sampler.__name__} step {i}")


@pytest.mark.parametrize("num_steps", [3, 10, 20])
def test_dpmpp_2m_agrees_with_diffusers_dpm_solver_multistep(num_steps: int) -> None:
    model = _TinyEpsModel(4)
    scheduler = DPMSolverMultistepScheduler(beta_schedule="linear")  # dpmsolver++, order 2, midpoint
    scheduler.set_timesteps(num_steps)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(6))
    theirs, state = [], x
    for t in scheduler.timesteps:
        state = scheduler.step(model(state, t), t, state).prev_sample
        theirs.append(state)
    ours = _trajectory(sample_dpmpp_2m, Denoiser(model, LINEAR), x, scheduler.timesteps.tolist())
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"step {i}")


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_projection_keeps_every_state_in_the_zero_com_subspace(name: str) -> None:
    """GeoTDM-shaped (B, nodes, T, 3) states; the model itself ignores the subspace."""
    project = zero_mean_projection(1)
    net = _TinyEpsModel(5 * 4 * 3)

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(x_t.flatten(1), t).reshape(x_t.shape)

    states: list[torch.Tensor] = []
    out = sample(
        name,
        Denoiser(model, LINEAR),
        (6, 5, 4, 3),
        6,
        projection=project,
        generator=torch.Generator().manual_seed(8),
        callback=lambda info: states.append(info["x"]),
        **({"s_churn": 10.0} if name == "heun" else {}),
    )
    assert out.shape == (6, 5, 4, 3) and len(states) == 6
    for state in [*states, out]:  # zero up to float32 rounding of the state's magnitude
        assert state.mean(dim=1).abs().max() <= 1e-6 * state.abs().max()
    free = sample(name, Denoiser(model, LINEAR), (6, 5, 4, 3), 6, generator=torch.Generator().manual_seed(8))
    assert free.mean(dim=1).abs().max() > 1e-2  # without the hook the state leaves the subspace


def test_prior_mean_samplers_diffuse_around_the_prior_mean() -> None:
    """With x_r the sampler starts at x_r + noise and maps it as the centred data's flow, plus x_r."""
    gaussian = _gaussian(dim=4, seed=3)
    oracle = GaussianMixtureDenoiser(gaussian)
    gen = torch.Generator().manual_seed(9)
    prior = 3.0 * torch.randn(32, 4, generator=gen, dtype=torch.float64)
    start = prior_sample((32, 4), prior_mean=prior, generator=gen, dtype=torch.float64)
    steps = torch.arange(999, -1, -1)
    samples = sample_ddim(oracle, start, steps, prior_mean=prior)
    for i in (0, 17):  # each sample's own prior mean: the flow of x0 - x_r ~ N(mu - x_r, S)
        centred = GaussianMixture.gaussian(gaussian.means[0] - prior[i], gaussian.covariances[0])
        exact = gaussian_flow(centred, (start - prior)[i : i + 1], LINEAR.sigma_max, 0.0) + prior[i]
        torch.testing.assert_close(samples[i : i + 1], exact, rtol=0, atol=2e-2)
    # the result is a sample of the data, whatever the prior mean: the means agree with mu
    far_prior = torch.tensor([[5.0, -5.0, 2.0, 0.0]], dtype=torch.float64).expand(2000, 4)
    draws = sample(
        "dpmpp_2m", oracle, (2000, 4), 20, prior_mean=far_prior, generator=gen, dtype=torch.float64
    )
    torch.testing.assert_close(draws.mean(0), gaussian.means[0], rtol=0, atol=0.08)


def test_generator_reproducibility_callback_and_nfe() -> None:
    oracle = GaussianMixtureDenoiser(_gaussian())
    calls = []

    def counting(x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        calls.append(sigma)
        return oracle(x, sigma, **kwargs)

    counting.schedule = LINEAR  # type: ignore[attr-defined]
    expected_nfe = {"ddpm": 5, "ddim": 5, "dpmpp_2m": 5, "heun": 9, "pc": 9}
    for name, nfe in expected_nfe.items():
        calls.clear()
        infos = []
        a = sample(
            name, counting, (8, 3), 5, generator=torch.Generator().manual_seed(1), callback=infos.append
        )
        assert len(calls) == nfe, name
        assert [info["i"] for info in infos] == list(range(5))
        assert set(infos[0]) == {"i", "x", "denoised", "sigma", "sigma_next"}
        assert infos[-1]["sigma_next"] == 0.0
        torch.testing.assert_close(infos[-1]["x"], a)
        b = sample(name, oracle, (8, 3), 5, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dispatcher_timesteps_options_and_errors() -> None:
    oracle = GaussianMixtureDenoiser(_gaussian())
    seen = []
    out = sample(
        "ddim",
        oracle,
        (4, 3),
        3,
        timesteps="ddim3_searched",
        generator=torch.Generator().manual_seed(0),
        callback=lambda info: seen.append(info["sigma"]),
    )
    assert out.shape == (4, 3) and out.dtype == torch.float32
    expected = LINEAR.t_to_sigma(torch.tensor(NAMED_TIMESTEPS["ddim3_searched"], dtype=torch.float64))
    torch.testing.assert_close(torch.tensor(seen, dtype=torch.float64), expected)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample("euler_a", oracle, (4, 3), 3)
    with pytest.raises(ValueError, match="unknown timesteps"):
        sample("ddim", oracle, (4, 3), 3, timesteps="ddim3_best")
    with pytest.raises(ValueError, match="at most one of"):
        sample("ddim", oracle, (4, 3), 3, timesteps="leading", sigmas=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="strictly decreasing"):
        sample_ddim(oracle, torch.zeros(4, 3), sigmas=torch.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="exactly one of"):
        sample_ddim(oracle, torch.zeros(4, 3))


def test_start_step_runs_the_tail_of_the_chain_from_the_prior_mean() -> None:
    """SDEdit warm start: only the steps from ``start_step`` on run, at the schedule's own levels, from
    x_r + sigma_vp z; a prior mean at the data recovers it, and a start inside the chain is validated."""
    gaussian = GaussianMixture.gaussian(
        torch.tensor([0.4, -1.2, 2.0], dtype=torch.float64), 1e-6 * torch.eye(3, dtype=torch.float64)
    )
    oracle = GaussianMixtureDenoiser(gaussian)
    seen = []

    def counting(x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        seen.append(float(sigma))
        return oracle(x, sigma, **kwargs)

    counting.schedule = LINEAR  # type: ignore[attr-defined]
    prior = gaussian.means[0].expand(16, 3).clone()
    gen = torch.Generator().manual_seed(4)
    out = sample(
        "ddim", counting, (16, 3), 3, prior_mean=prior, generator=gen, dtype=torch.float64, start_step=2
    )
    expected = LINEAR.t_to_sigma(timesteps(1000, 3, "trailing").to(torch.float64))[2:]
    torch.testing.assert_close(torch.tensor(seen, dtype=torch.float64), expected)
    torch.testing.assert_close(out, prior, rtol=0, atol=1e-2)
    # a prior mean 0.3 away: one step from the last level moves the sample most of the way to the data
    moved = sample(
        "ddim", oracle, (16, 3), 3, prior_mean=prior + 0.3, generator=gen, dtype=torch.float64, start_step=2
    )
    assert float((moved - prior).norm(dim=1).max()) < 0.1 * 0.3 * math.sqrt(3)
    for bad in (3, 4):
        with pytest.raises(ValueError, match="start_step must lie in"):
            sample("ddim", oracle, (4, 3), 3, prior_mean=prior[:4], start_step=bad)


def test_temperature_scales_the_initial_noise_about_the_prior_mean() -> None:
    """tau z + x_r with the same z: a deterministic sampler's draws spread wider at tau > 1, and
    tau = 1 is the plain prior bit for bit."""
    prior = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64).expand(500, 4)
    draws = {
        tau: prior_sample(
            (500, 4),
            prior_mean=prior,
            generator=torch.Generator().manual_seed(4),
            dtype=torch.float64,
            temperature=tau,
        )
        for tau in (1.0, 2.0)
    }
    torch.testing.assert_close(draws[2.0] - prior, 2.0 * (draws[1.0] - prior), rtol=0, atol=1e-12)
    plain = prior_sample(
        (500, 4), prior_mean=prior, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    assert torch.equal(plain, draws[1.0])
    oracle = GaussianMixtureDenoiser(_gaussian(dim=4, seed=3))
    spread = {
        tau: sample(
            "ddim",
            oracle,
            (500, 4),
            3,
            generator=torch.Generator().manual_seed(5),
            dtype=torch.float64,
            temperature=tau,
        )
        .std(0)
        .mean()
        for tau in (1.0, 2.0)
    }
    assert spread[2.0] > 1.5 * spread[1.0]
    with pytest.raises(ValueError, match="temperature must be > 0"):
        prior_sample((2, 4), temperature=0.0)


def test_a_temperature_tensor_scales_each_element_of_the_noise() -> None:
    """A temperature per column (broadcast over the rows) scales that column's noise alone; a
    non-positive entry or a shape that does not broadcast is refused."""
    draw = {
        "plain": prior_sample((300, 4), generator=torch.Generator().manual_seed(2), dtype=torch.float64),
        "columns": prior_sample(
            (300, 4),
            generator=torch.Generator().manual_seed(2),
            dtype=torch.float64,
            temperature=torch.tensor([0.5, 1.0, 2.0, 3.0]),
        ),
    }
    scale = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(draw["columns"], draw["plain"] * scale, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        prior_sample((2, 4), temperature=torch.tensor([1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"temperature of shape \(3,\) does not broadcast to \(2, 4\)"):
        prior_sample((2, 4), temperature=torch.ones(3))
