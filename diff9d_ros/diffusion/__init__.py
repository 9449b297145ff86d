"""Generic diffusion core: schedules, parametrisations, losses, samplers and analytic oracles.

In the manner of k-diffusion: a denoiser interface, noise schedules as plain tensors and one short
sampler function per paper. Imports torch only and works on any ``(B, ...)`` tensor shape.

Contract (see the README section "Diffusion core"):

* a *model* is ``model(x_t, t, **extra_args)`` with VP-noised ``x_t`` and float timestep indices ``t`` (B,);
* ``Denoiser(model, schedule, prediction="eps"|"x0"|"v")`` turns it into ``x0_hat = den(x, sigma)``;
* every sampler ``sample_*(denoiser, x, timesteps, *, sigmas, extra_args, projection, prior_mean,
  generator, callback)`` returns samples of x0; ``sample(name, denoiser, shape, num_steps, ...)``
  draws the noise and the timesteps for you.

Modules: :mod:`.schedules`, :mod:`.timesteps`, :mod:`.named_schedules`, :mod:`.parametrisation`,
:mod:`.losses`, :mod:`.samplers`, :mod:`.projections`, :mod:`.analytic`, :mod:`.metrics`.
"""

from .analytic import GaussianMixture, GaussianMixtureDenoiser, gaussian_flow
from .losses import q_sample, snr_weight, training_loss
from .metrics import mixture_statistics, sliced_wasserstein2
from .named_schedules import NAMED_TIMESTEPS
from .parametrisation import PREDICTIONS, Denoiser, DenoiserLike, training_target
from .projections import zero_mean_projection
from .samplers import (
    SAMPLERS,
    prior_sample,
    resolve_timesteps,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    sample_heun,
    sample_pc,
    sigmas_from_timesteps,
)
from .schedules import (
    DiscreteVPSchedule,
    alpha_from_sigma,
    karras_sigmas,
    log_snr_from_sigma,
    sigma_from_log_snr,
    vp_sigma,
    vp_sigma_from_sigma,
    vp_sigmas,
)
from .timesteps import SPACINGS, search_timesteps, timesteps

__all__ = [
    "NAMED_TIMESTEPS",
    "PREDICTIONS",
    "SAMPLERS",
    "SPACINGS",
    "Denoiser",
    "DenoiserLike",
    "DiscreteVPSchedule",
    "GaussianMixture",
    "GaussianMixtureDenoiser",
    "alpha_from_sigma",
    "gaussian_flow",
    "karras_sigmas",
    "log_snr_from_sigma",
    "mixture_statistics",
    "prior_sample",
    "q_sample",
    "resolve_timesteps",
    "sample",
    "sample_ddim",
    "sample_ddpm",
    "sample_dpmpp_2m",
    "sample_heun",
    "sample_pc",
    "search_timesteps",
    "sigma_from_log_snr",
    "sigmas_from_timesteps",
    "sliced_wasserstein2",
    "snr_weight",
    "timesteps",
    "training_loss",
    "training_target",
    "vp_sigma",
    "vp_sigma_from_sigma",
    "vp_sigmas",
    "zero_mean_projection",
]
