"""Schedules, noise-level conversions and timestep spacings, checked against diffusers and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler

from diff9d_ros.diffusion import (
    NAMED_TIMESTEPS,
    DiscreteVPSchedule,
    alpha_from_sigma,
    karras_sigmas,
    log_snr_from_sigma,
    search_timesteps,
    sigma_from_log_snr,
    timesteps,
    vp_sigma,
    vp_sigma_from_sigma,
    vp_sigmas,
)


@pytest.mark.parametrize(("kind", "diffusers_name"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_discrete_schedules_match_diffusers(kind: str, diffusers_name: str) -> None:
    ours = getattr(DiscreteVPSchedule, kind)()
    theirs = DDIMScheduler(num_train_timesteps=1000, beta_schedule=diffusers_name)
    assert ours.num_steps == 1000
    assert ours.betas.dtype == torch.float64 and ours.alphas_cumprod.dtype == torch.float64
    torch.testing.assert_close(ours.alphas_cumprod.float(), theirs.alphas_cumprod, rtol=1e-5, atol=1e-7)


def test_linear_schedule_endpoints() -> None:
    schedule = DiscreteVPSchedule.linear()
    assert schedule.betas[0].item() == pytest.approx(1e-4)
    assert schedule.betas[-1].item() == pytest.approx(0.02)
    abar = schedule.alphas_cumprod
    assert schedule.sigma_max == pytest.approx(math.sqrt((1 - abar[-1].item()) / abar[-1].item()))
    assert schedule.sigma_min == pytest.approx(0.01, rel=1e-3)


def test_t_sigma_round_trip_integer_and_fractional() -> None:
    schedule = DiscreteVPSchedule.cosine()
    t = torch.tensor([0.0, 1.0, 17.25, 500.0, 998.5, 999.0], dtype=torch.float64)
    sigma = schedule.t_to_sigma(t)
    torch.testing.assert_close(schedule.t_to_sigma(t[[0, 3, 5]].long()), schedule.sigmas[[0, 500, 999]])
    torch.testing.assert_close(schedule.sigma_to_t(sigma), t, rtol=0, atol=1e-9)
    assert bool((sigma[1:] > sigma[:-1]).all())
    # out-of-range noise levels clamp to the ends; out-of-range timesteps are an error
    assert schedule.sigma_to_t(torch.tensor([1e-6, 1e6])).tolist() == [0.0, 999.0]
    with pytest.raises(ValueError, match="timesteps must lie"):
        schedule.t_to_sigma(torch.tensor([1000.0]))


def test_alpha_sigma_log_snr_helpers_are_consistent() -> None:
    schedule = DiscreteVPSchedule.linear()
    t = torch.arange(0, 1000, 37)
    alpha, sigma_vp = schedule.alpha(t), schedule.vp_sigma(t)
    torch.testing.assert_close(alpha**2, schedule.alphas_cumprod[t])
    torch.testing.assert_close(alpha**2 + sigma_vp**2, torch.ones_like(alpha))
    torch.testing.assert_close(schedule.log_snr(t), torch.log(alpha**2 / sigma_vp**2))
    sigma = schedule.t_to_sigma(t)
    torch.testing.assert_close(sigma_from_log_snr(log_snr_from_sigma(sigma)), sigma)
    torch.testing.assert_close(vp_sigma_from_sigma(sigma) / alpha_from_sigma(sigma), sigma)


def test_karras_and_continuous_vp_sigmas() -> None:
    sigmas = karras_sigmas(10, 0.002, 80.0)
    assert sigmas.shape == (11,) and sigmas[-1] == 0
    assert sigmas[0].item() == pytest.approx(80.0) and sigmas[-2].item() == pytest.approx(0.002)
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    # EDM eq. 5: the rho-th roots are evenly spaced
    roots = sigmas[:-1] ** (1 / 7)
    torch.testing.assert_close(roots.diff(), torch.full((9,), roots.diff()[0].item(), dtype=torch.float64))
    assert vp_sigma(torch.tensor(1.0)).item() == pytest.approx(math.sqrt(math.exp(0.5 * 19.9 + 0.1) - 1))
    vp = vp_sigmas(5)
    assert vp.shape == (6,) and vp[-1] == 0 and bool((vp[1:] < vp[:-1]).all())
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(5, 1.0, 0.5)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("num_steps", [1, 3, 7, 10, 50, 333, 1000])
def test_timestep_spacings_match_diffusers_ddim(spacing: str, num_steps: int) -> None:
    scheduler = DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    scheduler.set_timesteps(num_steps)
    ours = timesteps(1000, num_steps, spacing)
    assert ours.dtype == torch.long
    assert ours.tolist() == scheduler.timesteps.tolist()


def test_timesteps_leading_never_visits_the_noisiest_step_and_lists_are_validated() -> None:
    assert timesteps(1000, 3, "leading").tolist() == [666, 333, 0]
    assert timesteps(1000, 3, "trailing").tolist()[0] == 999
    assert timesteps(1000, 3, [999, 500, 300]).tolist() == [999, 500, 300]
    with pytest.raises(ValueError, match="strictly decreasing"):
        timesteps(1000, 3, [999, 300, 500])
    with pytest.raises(ValueError, match="must lie in"):
        timesteps(1000, 2, [1000, 3])
    with pytest.raises(ValueError, match="num_steps is 3"):
        timesteps(1000, 3, [999, 0])
    with pytest.raises(ValueError, match="unknown spacing"):
        timesteps(1000, 3, "uniform")


def test_named_timesteps_are_valid() -> None:
    for name, steps in NAMED_TIMESTEPS.items():
        assert timesteps(1000, len(steps), steps).tolist() == list(steps), name


def test_search_timesteps_finds_a_known_optimum() -> None:
    optimum = torch.tensor([900, 420, 77])

    def objective(steps: torch.Tensor) -> float:
        return float(((steps - optimum).double() ** 2).sum())

    best, value = search_timesteps(objective, 1000, [999, 500, 300], initial_step=128)
    assert best.tolist() == optimum.tolist()
    assert value == 0.0
