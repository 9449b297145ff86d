"""The generalised learnable geometric prior of GeoTDM (NeurIPS 2024, Sec. 4.2, Eq. 7-8).

A light EGTN (2 layers in the paper) runs over the observed frames ``x_c`` (B, N, Tc, 3) and returns
equivariant frames ``x_hat_c`` and invariant features. The prior of future frame ``t`` is the
point-wise affine combination

    x_r(t) = sum_s w(t, s) x_hat_c(s),   sum_s w(t, s) = 1,

with the weights of the first ``Tc - 1`` frames a learnt base table plus a linear head on the
invariant features of frame ``s`` (one output per future frame), and the weight of the last observed
frame one minus their sum. Invariant weights that sum to one make ``x_r`` rotation, reflection *and*
translation equivariant. The base table starts at constant-velocity extrapolation
(``w(t, Tc-2) = -(t+1)``, ``w(t, Tc-1) = t+2``) and the head at zero, so an untrained prior
extrapolates the last two refined frames (the paper's prior starts from uniform free weights).
"""

from __future__ import annotations

import torch
from torch import nn

from diff9d_ros.trajectory.egtn import EGTN


class GeometricPrior(nn.Module):
    """``x_r`` (B, N, Tf, 3) from observed frames, node features (B, N, F), edge attributes (B, N, N, E)."""

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        num_obs: int,
        num_future: int,
        hidden_dim: int,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        if num_obs < 2:
            raise ValueError(f"the prior needs at least 2 observed frames, got {num_obs}")
        self.embed = nn.Linear(node_dim, hidden_dim)
        self.egtn = EGTN(num_layers, hidden_dim, edge_dim)
        self.head = nn.Linear(hidden_dim, num_future)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        base = torch.zeros(num_future, num_obs - 1)
        base[:, -1] = -torch.arange(1, num_future + 1, dtype=torch.float32)
        self.base = nn.Parameter(base)  # (Tf, Tc - 1): constant-velocity extrapolation at start

    def weights(self, h: torch.Tensor) -> torch.Tensor:
        """Affine weights w (B, N, Tf, Tc) from invariant features h (B, N, Tc, H); rows sum to one."""
        free = self.base + self.head(h[:, :, :-1]).transpose(-1, -2)  # (B, N, Tf, Tc - 1)
        last = 1.0 - free.sum(-1, keepdim=True)
        return torch.cat([free, last], dim=-1)

    def forward(
        self, x_obs: torch.Tensor, node_features: torch.Tensor, edge_attr: torch.Tensor | None
    ) -> torch.Tensor:
        num_obs = x_obs.shape[2]
        h = self.embed(node_features)[:, :, None].expand(-1, -1, num_obs, -1)
        x_hat, h = self.egtn(x_obs, h, edge_attr)
        return self.weights(h) @ x_hat
