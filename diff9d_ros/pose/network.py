"""The compact Diff9D network: observation encoders, a category head and a pose denoiser.

Diff9D (Liu et al., "Diff9D: Diffusion-Based Domain-Generalized Category-Level 9-DoF Object Pose
Estimation", TPAMI 2025, Sec. 3) conditions a denoising diffusion model of the pose on features of
the object's RGB crop and of its back-projected points, embeds the diffusion step with sinusoids,
and decodes rotation, translation and size. This network keeps that structure at about 1/300 of
the parameters:

* points (N, 3), centred on their centroid: a PointNet (Qi et al., CVPR 2017) of shared 1x1
  convolutions with max and mean pooling;
* RGB crop (3, S, S): four stride-2 convolutions and global pooling;
* category head: logits over :data:`CLASSES`, the NOCS categories and a background class, from
  the observation features (the built-in segmentation's classifier; the background class is
  trained on distractors and segmentation clutter and rejects them);
* denoiser: residual MLP blocks over the 12-D pose vector ``[6-D rotation, translation residual,
  log size]`` (:class:`PoseCodec`), each block modulated (FiLM) by the diffusion-step embedding,
  the observation features and a learned category embedding.

Departure from the paper: the diffusion is centred on a prior mean, the geometric baseline's box
of the same points (:func:`diff9d_ros.pose.observation.prior_pose`), as GeoTDM centres its
trajectories on a prior (Han et al. 2024, Sec. 4.2); the denoiser also reads that prior. The
network predicts x0 as that prior plus a correction, so it learns corrections to a cheap
geometric estimate instead of the whole pose.

The forward signature ``model(x_t, t, cond=..., category=..., prior=...)`` is the diffusion core's model
contract; :meth:`PoseNetwork.encode` runs the encoders once per object so that several noise
levels or hypotheses share them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from diff9d_ros.geometry.rotations import rotation_from_6d, rotation_to_6d
from diff9d_ros.nocs import CATEGORIES

#: Pose vector layout: 6-D rotation, translation residual (3), log size (3).
POSE_DIM = 12
#: Classes of the category head: the NOCS categories, then "background" (none of them).
CLASSES: tuple[str, ...] = (*CATEGORIES, "background")
BACKGROUND = CLASSES.index("background")
#: The network predicts the clean pose x0, as the prior plus a learned correction.
PREDICTION = "x0"


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of :class:`PoseNetwork` (stored in checkpoints to rebuild the same network)."""

    num_points: int = 1024
    crop_px: int = 64
    point_scale: float = 10.0  # points (m) are multiplied by this before the PointNet
    point_width: int = 128
    rgb_width: int = 128
    cond_dim: int = 256
    hidden: int = 256
    num_blocks: int = 4
    time_dim: int = 64

    def as_dict(self) -> dict:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of float timesteps (B,) (Vaswani et al. 2017, Sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class PointEncoder(nn.Module):
    """PointNet: shared MLP on each point, then max and mean pooling."""

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv1d(3, 64, 1),
            nn.GroupNorm(8, 64),
            nn.SiLU(),
            nn.Conv1d(64, 128, 1),
            nn.GroupNorm(8, 128),
            nn.SiLU(),
            nn.Conv1d(128, width, 1),
        )
        self.out = nn.Linear(2 * width, out_dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        feats = self.mlp(points.transpose(1, 2))
        return self.out(torch.cat([feats.amax(dim=2), feats.mean(dim=2)], dim=1))


class CropEncoder(nn.Module):
    """Four stride-2 3x3 convolutions and global average pooling over an RGB crop."""

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        chans = [3, width // 4, width // 2, width, width]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(chans):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.SiLU()]
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(width, out_dim)

    def forward(self, crop: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv(crop).mean(dim=(2, 3)))


class FiLMBlock(nn.Module):
    """Pre-norm residual MLP block whose normalised input is scaled and shifted by the condition."""

    def __init__(self, hidden: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).chunk(2, dim=1)
        return h + self.mlp(self.norm(h) * (1.0 + scale) + shift)


class PoseCodec(nn.Module):
    """Normalised 12-D pose vector <-> (rotation, translation residual (m), size (m)).

    ``x = [r6, (t - centroid) / t_scale_m, (log size - mean log size of the category) / log_size_std]``
    with the statistics measured on the training set and saved with the weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("t_scale_m", torch.tensor(0.03))
        self.register_buffer("log_size_mean", torch.full((len(CATEGORIES), 3), math.log(0.1)))
        self.register_buffer("log_size_std", torch.tensor(0.3))

    def fit(self, residual_m: torch.Tensor, size_m: torch.Tensor, category: torch.Tensor) -> None:
        """Set the statistics from training targets (N, 3), (N, 3), (N,) category indices."""
        log_size = size_m.log()
        self.t_scale_m.fill_(float(residual_m.std().clamp_min(1e-3)))
        for c in range(len(CATEGORIES)):
            if (category == c).any():
                self.log_size_mean[c] = log_size[category == c].mean(dim=0)
        self.log_size_std.fill_(float((log_size - self.log_size_mean[category]).std().clamp_min(1e-2)))

    def encode(
        self, rotation: torch.Tensor, residual_m: torch.Tensor, size_m: torch.Tensor, category: torch.Tensor
    ) -> torch.Tensor:
        log_size = (size_m.log() - self.log_size_mean[category]) / self.log_size_std
        return torch.cat([rotation_to_6d(rotation), residual_m / self.t_scale_m, log_size], dim=-1)

    def decode(
        self, x: torch.Tensor, category: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Proper rotations (B, 3, 3), translation residuals (B, 3) and sizes (B, 3) of ``x`` (B, 12)."""
        rotation = rotation_from_6d(x[:, :6])
        residual_m = x[:, 6:9] * self.t_scale_m
        size_m = torch.exp(x[:, 9:12].clamp(-6.0, 6.0) * self.log_size_std + self.log_size_mean[category])
        return rotation, residual_m, size_m


class PoseNetwork(nn.Module):
    """Encoders, category head and FiLM-MLP denoiser; ``forward`` is the diffusion model."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetworkConfig()
        c = self.config
        self.points = PointEncoder(c.point_width, c.cond_dim)
        self.crop = CropEncoder(c.rgb_width, c.cond_dim)
        self.fuse = nn.Sequential(nn.SiLU(), nn.Linear(2 * c.cond_dim, c.cond_dim))
        self.classifier = nn.Sequential(nn.SiLU(), nn.Linear(c.cond_dim, len(CLASSES)))
        self.category_embedding = nn.Embedding(len(CATEGORIES), c.cond_dim)
        self.time = nn.Sequential(
            nn.Linear(c.time_dim, c.cond_dim), nn.SiLU(), nn.Linear(c.cond_dim, c.cond_dim)
        )
        self.inp = nn.Linear(2 * POSE_DIM, c.hidden)
        self.blocks = nn.ModuleList(FiLMBlock(c.hidden, c.cond_dim) for _ in range(c.num_blocks))
        self.out = nn.Sequential(nn.LayerNorm(c.hidden), nn.Linear(c.hidden, POSE_DIM))
        self.codec = PoseCodec()

    def encode(self, points_m: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
        """Observation features (B, cond_dim) of centred points (B, N, 3) and crops (B, 3, S, S) in [0, 1]."""
        c = self.config
        if points_m.ndim != 3 or points_m.shape[2] != 3:
            raise ValueError(f"points must be (B, N, 3), got {tuple(points_m.shape)}")
        if crop.shape[1:] != (3, c.crop_px, c.crop_px) or crop.shape[0] != points_m.shape[0]:
            raise ValueError(f"crop must be (B, 3, {c.crop_px}, {c.crop_px}), got {tuple(crop.shape)}")
        feats = torch.cat([self.points(points_m * c.point_scale), self.crop(crop * 2.0 - 1.0)], dim=1)
        return self.fuse(feats)

    def classify(self, cond: torch.Tensor) -> torch.Tensor:
        """Class logits (B, len(CLASSES)) from observation features."""
        return self.classifier(cond)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        cond: torch.Tensor,
        category: torch.Tensor,
        prior: torch.Tensor,
    ) -> torch.Tensor:
        """Network output (B, 12) for noisy poses ``x_t`` (B, 12) at float timesteps ``t`` (B,),
        given the prior mean ``prior`` (B, 12) the diffusion is centred on."""
        emb = (
            self.time(timestep_embedding(t, self.config.time_dim)) + cond + self.category_embedding(category)
        )
        emb = nn.functional.silu(emb)
        h = self.inp(torch.cat([x_t, prior], dim=1))
        for block in self.blocks:
            h = block(h, emb)
        return prior + self.out(h)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
