"""Keeping K of many drawn forecasts that cover where they end (farthest-point selection).

minADE/minFDE over K samples reward a set that covers the possible futures; K independent draws
from a calibrated model bunch up where the probability is high and cover the tails only by chance.
GeoTDM's ETH-UCY evaluation draws 60 samples per agent and keeps one per K-means cluster (K = 20) of
their final positions (its released evaluation code), so its published "K = 20" rows are 20 of 60
draws. :func:`covering_subset` keeps K of D draws by greedy farthest-point selection on each
agent's final position (Gonzalez 1985, the 2-approximation of the K-centre problem): the draw
nearest the draws' mean end point first, then repeatedly the draw whose end point lies farthest
from every end point kept so far. It needs no random initialisation and no iterations (its
comparison with K-means on validation windows: docs/people.md).
"""

from __future__ import annotations

import torch


def farthest_point_indices(points: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (M, count) of ``count`` of the D points of each of M sets (M, D, F): first the point
    nearest its set's mean, then greedily the point farthest from all chosen so far (distinct
    indices unless a set holds fewer than ``count`` distinct points)."""
    if points.ndim != 3:
        raise ValueError(f"points must be (M, D, F), got {tuple(points.shape)}")
    m, d = points.shape[:2]
    if not 1 <= count <= d:
        raise ValueError(f"count must lie in 1..{d} (the points per set), got {count}")
    first = (points - points.mean(1, keepdim=True)).norm(dim=-1).argmin(1)  # (M,)
    chosen = [first]
    nearest = (points - points[torch.arange(m), first][:, None]).norm(dim=-1)  # (M, D)
    for _ in range(1, count):
        pick = nearest.argmax(1)
        chosen.append(pick)
        nearest = torch.minimum(nearest, (points - points[torch.arange(m), pick][:, None]).norm(dim=-1))
    return torch.stack(chosen, 1)


def covering_subset(samples: torch.Tensor, count: int, frame: int = -1) -> torch.Tensor:
    """``count`` of the D samples (B, D, N, T, 3) per agent, (B, count, N, T, 3), chosen by
    :func:`farthest_point_indices` on each agent's position at ``frame`` (the last: where its
    forecasts end). Agents are selected independently, so sample k of two agents may come from
    different joint draws; every kept sample is one drawn forecast, unchanged."""
    if samples.ndim != 5:
        raise ValueError(f"samples must be (B, D, N, T, 3), got {tuple(samples.shape)}")
    b, d, n, t, c = samples.shape
    per_agent = samples.permute(0, 2, 1, 3, 4).reshape(b * n, d, t, c)
    index = farthest_point_indices(per_agent[:, :, frame], count)  # (B N, count)
    kept = per_agent.gather(1, index[:, :, None, None].expand(-1, -1, t, c))
    return kept.reshape(b, n, count, t, c).permute(0, 2, 1, 3, 4)
