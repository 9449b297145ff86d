"""Linear projections for the ``projection`` hook of samplers and ``training_loss``.

``zero_mean_projection(dims)`` removes the mean over ``dims``: with ``dims`` the node (particle) axis of
a ``(B, N, T, 3)`` trajectory tensor this is the zero centre-of-mass subspace in which translation-
invariant diffusion on point sets lives (Hoogeboom et al. 2022, EDM for molecules, Sec. 3.2; GeoTDM,
Han et al. 2024, Sec. 4.2).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


def zero_mean_projection(dims: int | tuple[int, ...]) -> Callable[[Tensor], Tensor]:
    """A callable ``x -> x - x.mean(dims, keepdim=True)`` (dims count the batch axis as 0)."""
    axes = (dims,) if isinstance(dims, int) else tuple(dims)
    if not axes or 0 in axes:
        raise ValueError(f"dims must name non-batch axes (not 0), got {dims!r}")

    def project(x: Tensor) -> Tensor:
        return x - x.mean(dim=axes, keepdim=True)

    return project
