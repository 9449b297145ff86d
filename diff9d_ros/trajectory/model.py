"""The GeoTDM denoiser: EGTN over observed + noisy future frames, with the learnable prior (Sec. 4).

``GeoTDM.forward(x_t, t, *, x_obs, node_features, edge_attr)`` is an eps-prediction network in the
diffusion core's model contract (``model(x_t, t, **extra_args)``, ``t`` a float tensor (B,) of
timestep indices). The noisy future ``x_t`` (B, N, Tf, 3) lives in absolute coordinates: the forward
process is centred at the prior ``x_r = GeoTDM.prior_mean(...)`` (Eq. 9), so ``x_t = x_r +
sqrt(abar) (x_0 - x_r) + sqrt(1 - abar) eps``. The observed frames are concatenated in front of
``x_t`` along time (conditioning by concatenation, Sec. 4.2) and tagged with an invariant
"observed" flag. The network's raw output is the coordinate displacement of the future frames,
``F = EGTN(x)_future - x_t`` (translation invariant, rotation/reflection equivariant). Not in the
paper: the eps prediction is preconditioned with the prior passed in (``x_prior``), as EDM does
(Karras et al. 2022, Sec. 5): with ``u = x_t - x_r`` and ``v = abar sigma_r^2 + 1 - abar``,
``eps = sqrt(1 - abar) u / v + sqrt(abar) sigma_r / sqrt(v) F``. The first term is the exact
posterior mean of eps for a Gaussian residual, so at high noise eps no longer has to be recovered
from ``x_t`` to 1e-3 by a network that cannot see ``x_r`` (a few-step sampler's first x0 estimate
divides eps errors by ``sqrt(abar) ~ 0.006``); plain displacement output diverged under DDIM-10.

With ``history_encoder`` (not in the paper) the observed frames attend to one another only and carry
no noise level: their states are computed once per forecast (``encode_history``) and each sampler
step runs the EGTN on the future frames alone, which read the stored past in their temporal
attention (``EGTN.future_coordinates``). A step then costs the future's share of the frames.

With ``num_obs = 0`` the model is unconditional: there is no prior and sampling runs in the zero
centre-of-mass subspace (the core's ``zero_mean_projection`` in the sampler, Sec. 4.1), and
``F`` is the eps prediction.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from diff9d_ros.diffusion import DiscreteVPSchedule
from diff9d_ros.trajectory.egtn import EGTN, HistoryStates, sinusoidal_embedding
from diff9d_ros.trajectory.prior import GeometricPrior

NUM_TRAIN_STEPS = 1000


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> object:
    """``torch.load(path, weights_only=True)``; ValueError for a missing file or one holding anything
    but tensors and plain Python containers and scalars (pickled code is refused, not run)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [""]
        reason = next((line for line in lines if "Unsupported" in line), lines[0]).split(" Please")[0]
        raise ValueError(
            f"{path}: not a readable GeoTDM checkpoint: it is read with weights_only=True (tensors and "
            f"plain values; pickled objects are refused, never run): {reason}"
        ) from error
    except Exception as error:  # torch.load raises many types on a damaged file
        reason = f"{type(error).__name__}: {error}"
        raise ValueError(f"{path}: not a readable GeoTDM checkpoint: {reason}") from error


@dataclass(frozen=True)
class GeoTDMConfig:
    """Sizes of a GeoTDM model (the paper's N-body model: 6 layers, hidden 128, prior 2 layers)."""

    node_dim: int = 1
    edge_dim: int = 1
    num_obs: int = 10
    num_future: int = 20
    hidden_dim: int = 64
    num_layers: int = 3
    prior_layers: int = 2
    time_dim: int = 32
    residual_std: float = 0.25  # typical |x_0 - x_r| per coordinate, for the output preconditioning
    # Data units per metre (or per simulator unit) of the diffusion state: positions are multiplied by
    # it before training and sampling (a global scale keeps E(3) equivariance), so that the future's
    # spread about the prior is of the order of ``residual_std`` (tabletop objects move centimetres).
    position_scale: float = 1.0
    # True: the observed frames attend to one another only and carry no noise level, so their states
    # are computed once per forecast (``GeoTDM.encode_history``) and every denoising step runs on the
    # future frames alone (EGTN.future_coordinates); False: the paper's concatenation over all frames.
    history_encoder: bool = False

    def __post_init__(self) -> None:
        if self.num_obs < 0 or self.num_obs == 1 or self.num_future < 1:
            raise ValueError(
                f"need num_obs = 0 (unconditional) or >= 2 and num_future >= 1; "
                f"got {self.num_obs}, {self.num_future}"
            )
        if self.node_dim < 1:
            raise ValueError(f"node_dim must be >= 1, got {self.node_dim}")
        if self.position_scale <= 0:
            raise ValueError(f"position_scale must be > 0, got {self.position_scale}")


class GeoTDM(nn.Module):
    """EGTN denoiser + generalised learnable geometric prior (GeoTDM, NeurIPS 2024)."""

    def __init__(self, config: GeoTDMConfig) -> None:
        super().__init__()
        self.config = config
        hid = config.hidden_dim
        self.input = nn.Linear(config.node_dim + 1 + config.time_dim, hid)
        self.schedule = DiscreteVPSchedule.linear(NUM_TRAIN_STEPS)
        self.egtn = EGTN(config.num_layers, hid, config.edge_dim, config.time_dim)
        self.prior = (
            GeometricPrior(
                config.node_dim, config.edge_dim, config.num_obs, config.num_future, hid, config.prior_layers
            )
            if config.num_obs > 0
            else None
        )

    def _check(self, x_obs: torch.Tensor | None, node_features: torch.Tensor) -> None:
        cfg = self.config
        if x_obs is not None and (x_obs.ndim != 4 or x_obs.shape[2] != cfg.num_obs or x_obs.shape[3] != 3):
            raise ValueError(f"x_obs must be (B, N, {cfg.num_obs}, 3), got {tuple(x_obs.shape)}")
        if node_features.shape[-1] != cfg.node_dim:
            raise ValueError(f"node_features must end in {cfg.node_dim}, got {tuple(node_features.shape)}")

    def prior_mean(
        self, x_obs: torch.Tensor, node_features: torch.Tensor, edge_attr: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The prior x_r (B, N, Tf, 3) that centres the forward process (Eq. 7-9)."""
        if self.prior is None:
            raise ValueError("an unconditional GeoTDM (num_obs = 0) has no prior")
        self._check(x_obs, node_features)
        return self.prior(x_obs, node_features, edge_attr)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        node_features: torch.Tensor,
        x_obs: torch.Tensor | None = None,
        edge_attr: torch.Tensor | None = None,
        x_prior: torch.Tensor | None = None,
        history: HistoryStates | None = None,
    ) -> torch.Tensor:
        """Predicted noise (B, N, Tf, 3) of the noisy future ``x_t`` at timestep indices ``t`` (B,).

        ``x_prior`` is the prior ``x_r`` of :meth:`prior_mean` (required with ``x_obs``). ``history``:
        :meth:`encode_history` of ``x_obs`` for a model with ``history_encoder`` (computed here when
        None; a sampler passes it so that it is computed once for all its steps).
        """
        cfg = self.config
        if x_t.ndim != 4 or x_t.shape[2:] != (cfg.num_future, 3):
            raise ValueError(f"x_t must be (B, N, {cfg.num_future}, 3), got {tuple(x_t.shape)}")
        if (x_obs is None) != (cfg.num_obs == 0) or (x_obs is None) != (x_prior is None):
            raise ValueError(
                f"x_obs and x_prior are required exactly when num_obs > 0 (num_obs = {cfg.num_obs})"
            )
        self._check(x_obs, node_features)
        if history is not None and not cfg.history_encoder:
            raise ValueError("history is given but this model has no history encoder (history_encoder=False)")
        time_emb = sinusoidal_embedding(t.to(x_t.dtype), cfg.time_dim)  # (B, D)
        if cfg.history_encoder and x_obs is not None:
            if history is None:
                history = self.encode_history(x_obs, node_features, edge_attr)
            h = self._frame_features(node_features, cfg.num_future, 0.0, time_emb)
            displacement = self.egtn.future_coordinates(x_t, h, edge_attr, history) - x_t
        else:
            x = x_t if x_obs is None else torch.cat([x_obs, x_t], dim=2)
            observed = torch.zeros(x.shape[2], 1, dtype=x.dtype, device=x.device)
            observed[: cfg.num_obs] = 1.0
            h = self._frame_features(node_features, x.shape[2], observed, time_emb)
            displacement = self.egtn.coordinates(x, h, edge_attr, cfg.num_obs) - x_t
        if x_prior is None:
            return displacement
        # Preconditioned output: E[eps | u] for a Gaussian residual of std sigma_r, plus the network's
        # correction scaled by the posterior std of eps (EDM, Karras et al. 2022, Sec. 5, written for eps).
        alpha = self.schedule.alpha(t.detach().cpu()).to(x_t.dtype).reshape(-1, 1, 1, 1)
        sigma = (1.0 - alpha**2).sqrt()
        var = (alpha * cfg.residual_std) ** 2 + sigma**2
        u = x_t - x_prior
        return sigma * u / var + alpha * cfg.residual_std / var.sqrt() * displacement

    def encode_history(
        self, x_obs: torch.Tensor, node_features: torch.Tensor, edge_attr: torch.Tensor | None = None
    ) -> HistoryStates:
        """The observed frames' states for :meth:`forward` of a ``history_encoder`` model: features
        without a noise level (a zero time embedding), so they hold for every step of a sampler."""
        if not self.config.history_encoder:
            raise ValueError("this model has no history encoder (history_encoder=False)")
        self._check(x_obs, node_features)
        b = x_obs.shape[0]
        silent = torch.zeros(b, self.config.time_dim, dtype=x_obs.dtype, device=x_obs.device)
        h = self._frame_features(node_features, self.config.num_obs, 1.0, silent)
        return self.egtn.encode_history(x_obs, h, edge_attr)

    def _frame_features(
        self, node_features: torch.Tensor, frames: int, observed: float | torch.Tensor, time_emb: torch.Tensor
    ) -> torch.Tensor:
        """Embedded per-frame features (B, N, frames, H): node features, the observed flag (a number or
        a (frames, 1) column) and the time embedding (B, D)."""
        b, n = node_features.shape[:2]
        flag = torch.as_tensor(observed, dtype=time_emb.dtype, device=time_emb.device)
        h = torch.cat(
            [
                node_features[:, :, None].expand(b, n, frames, self.config.node_dim),
                flag.expand(b, n, frames, 1),
                time_emb[:, None, None].expand(b, n, frames, self.config.time_dim),
            ],
            dim=-1,
        )
        return self.input(h)

    def save(self, path: str | Path, **metadata: object) -> None:
        """Write weights, config and ``metadata`` (task, data statistics, ...) to ``path``."""
        torch.save({"config": asdict(self.config), "state_dict": self.state_dict(), **metadata}, path)

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> tuple[GeoTDM, dict]:
        """The model stored by :meth:`save` (or a training checkpoint) and the stored metadata.

        The file is read with ``torch.load(weights_only=True)``: tensors and plain Python values
        only, never arbitrary pickled objects (a model path is a node parameter). Anything else is
        a ValueError naming the file.
        """
        payload = load_checkpoint(path, map_location)
        if not isinstance(payload, dict) or "config" not in payload or "state_dict" not in payload:
            raise ValueError(f"{path}: not a GeoTDM checkpoint (no config/state_dict)")
        model = cls(GeoTDMConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
        return model, payload
