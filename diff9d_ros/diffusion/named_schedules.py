"""Shipped timestep schedules, found by :func:`.timesteps.search_timesteps` against an analytic oracle.

``NAMED_TIMESTEPS[name]`` is a strictly decreasing tuple of discrete timesteps of the 1000-step linear
VP schedule (Diff9D's), usable wherever ``timesteps`` are accepted, e.g.
``sample("ddim", den, shape, 3, timesteps="ddim3_searched")``.

ddim3_searched
    Deterministic DDIM, 3 NFE. Found by ``python benchmarks/diffusion_core.py --search``: coordinate
    descent from (999, 500, 300) minimising the mean sliced Wasserstein-2 distance to the true
    distribution over four random 9-D four-component Gaussian mixtures (seeds 101-104), which are
    *not* the mixture the benchmark scores on (seed 0); 126 evaluations of 10k samples each.
    It starts below the noisiest timestep: for data of about unit variance the VP marginal at t = 645 is
    already close to N(0, I), and the NFE saved there is better spent at lower noise. Re-search for
    data of a very different scale.
"""

from __future__ import annotations

NAMED_TIMESTEPS: dict[str, tuple[int, ...]] = {
    "ddim3_searched": (645, 377, 165),
}
