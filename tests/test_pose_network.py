"""The pose network: parameter budget, gradients, codec round trip, proper rotations for any input."""

from __future__ import annotations

import torch
from scipy.spatial.transform import Rotation

from diff9d_ros.nocs import CATEGORIES
from diff9d_ros.pose.network import POSE_DIM, NetworkConfig, PoseNetwork, count_parameters


def _inputs(batch: int, config: NetworkConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    points = torch.randn(batch, config.num_points, 3, generator=gen) * 0.05
    crop = torch.rand(batch, 3, config.crop_px, config.crop_px, generator=gen)
    return points, crop


def test_parameter_budget() -> None:
    assert count_parameters(PoseNetwork()) <= 10_000_000


def test_forward_backward_reaches_every_parameter() -> None:
    gen = torch.Generator().manual_seed(0)
    net = PoseNetwork(NetworkConfig(num_points=128))
    points, crop = _inputs(4, net.config, gen)
    cond = net.encode(points, crop)
    category = torch.arange(4)
    x_t, prior = torch.randn(2, 4, POSE_DIM, generator=gen)
    t = torch.tensor([0.0, 10.0, 500.0, 999.0])
    out = net(x_t, t, cond=cond, category=category, prior=prior)
    assert out.shape == (4, POSE_DIM)
    (out.square().mean() + net.classify(cond).logsumexp(1).mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_codec_round_trip() -> None:
    codec = PoseNetwork().codec
    rotation = torch.from_numpy(Rotation.random(6, random_state=0).as_matrix()).float()
    residual = torch.randn(6, 3) * 0.02
    size = torch.rand(6, 3) * 0.3 + 0.03
    category = torch.arange(len(CATEGORIES))
    r, t, s = codec.decode(codec.encode(rotation, residual, size, category), category)
    assert torch.allclose(r, rotation, atol=1e-5)
    assert torch.allclose(t, residual, atol=1e-6) and torch.allclose(s, size, rtol=1e-4)


def test_decoded_rotations_are_proper_for_any_network_output() -> None:
    codec = PoseNetwork().codec
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(500, POSE_DIM, generator=gen) * torch.logspace(-6, 3, 500)[:, None]
    x[0] = 0.0
    r, _, s = codec.decode(x, torch.randint(0, len(CATEGORIES), (500,), generator=gen))
    r = r.double()
    assert torch.allclose(
        r.transpose(1, 2) @ r, torch.eye(3, dtype=torch.float64).expand(500, 3, 3), atol=1e-5
    )
    assert torch.allclose(torch.linalg.det(r), torch.ones(500, dtype=torch.float64), atol=1e-5)
    assert torch.isfinite(s).all() and (s > 0).all()
