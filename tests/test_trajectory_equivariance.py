"""E(3) and permutation equivariance of EGTN, the learnable prior and the GeoTDM denoiser (float64)."""

from __future__ import annotations

import pytest
import torch

from diff9d_ros.trajectory import egtn
from diff9d_ros.trajectory.egtn import EGTN
from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig
from diff9d_ros.trajectory.prior import GeometricPrior

B, N, TC, TF = 2, 4, 5, 6


def orthogonal(reflect: bool, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    if (torch.det(q) < 0) != reflect:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return q


@pytest.fixture
def inputs() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    edge = torch.randn(B, N, N, 1, generator=gen, dtype=torch.float64)
    return {
        "x_obs": 2.0 * torch.randn(B, N, TC, 3, generator=gen, dtype=torch.float64),
        "x_t": 2.0 * torch.randn(B, N, TF, 3, generator=gen, dtype=torch.float64),
        "node_features": torch.randn(B, N, 1, generator=gen, dtype=torch.float64),
        "edge_attr": edge + edge.transpose(1, 2),
        "t": torch.tensor([3.0, 700.0], dtype=torch.float64),
    }


def model(history_encoder: bool = False) -> GeoTDM:
    torch.manual_seed(0)
    config = GeoTDMConfig(
        node_dim=1,
        edge_dim=1,
        num_obs=TC,
        num_future=TF,
        hidden_dim=16,
        num_layers=2,
        history_encoder=history_encoder,
    )
    net = GeoTDM(config)
    # Non-zero prior head, so that the learned weights (not just the last frame) are exercised.
    torch.nn.init.normal_(net.prior.head.weight, std=0.05)
    return net.double()


def run(net: GeoTDM, d: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    prior = net.prior_mean(d["x_obs"], d["node_features"], d["edge_attr"])
    eps = net(
        d["x_t"],
        d["t"],
        x_obs=d["x_obs"],
        node_features=d["node_features"],
        edge_attr=d["edge_attr"],
        x_prior=prior,
    )
    return prior, eps


@pytest.mark.parametrize("history_encoder", [False, True])
@pytest.mark.parametrize("reflect", [False, True])
def test_denoiser_and_prior_are_e3_equivariant(
    inputs: dict[str, torch.Tensor], reflect: bool, history_encoder: bool
) -> None:
    net = model(history_encoder)
    prior, eps = run(net, inputs)
    rot = orthogonal(reflect)
    shift = torch.tensor([3.0, -1.5, 0.7], dtype=torch.float64)
    moved = dict(inputs, x_obs=inputs["x_obs"] @ rot.T + shift, x_t=inputs["x_t"] @ rot.T + shift)
    prior_m, eps_m = run(net, moved)
    torch.testing.assert_close(prior_m, prior @ rot.T + shift, atol=1e-4, rtol=0)
    torch.testing.assert_close(eps_m, eps @ rot.T, atol=1e-4, rtol=0)
    assert eps.abs().max() > 1e-3  # the check is not vacuous


def test_noise_rotates_with_the_sample(inputs: dict[str, torch.Tensor]) -> None:
    """x_t = x_r + a (x0 - x_r) + s eps: rotating x0, x_obs and eps rotates the prediction."""
    net = model()
    rot, shift = orthogonal(False, seed=3), torch.tensor([-2.0, 0.5, 1.0], dtype=torch.float64)
    x0 = inputs["x_t"]
    noise = torch.randn(B, N, TF, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)

    def predict(x_obs: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        prior = net.prior_mean(x_obs, inputs["node_features"], inputs["edge_attr"])
        x_t = prior + 0.6 * (x0 - prior) + 0.8 * noise
        return net(
            x_t,
            inputs["t"],
            x_obs=x_obs,
            node_features=inputs["node_features"],
            edge_attr=inputs["edge_attr"],
            x_prior=prior,
        )

    base = predict(inputs["x_obs"], x0, noise)
    moved = predict(inputs["x_obs"] @ rot.T + shift, x0 @ rot.T + shift, noise @ rot.T)
    torch.testing.assert_close(moved, base @ rot.T, atol=1e-4, rtol=0)


@pytest.mark.parametrize("history_encoder", [False, True])
def test_node_permutation_permutes_outputs(inputs: dict[str, torch.Tensor], history_encoder: bool) -> None:
    net = model(history_encoder)
    prior, eps = run(net, inputs)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = {
        "x_obs": inputs["x_obs"][:, perm],
        "x_t": inputs["x_t"][:, perm],
        "node_features": inputs["node_features"][:, perm],
        "edge_attr": inputs["edge_attr"][:, perm][:, :, perm],
        "t": inputs["t"],
    }
    prior_p, eps_p = run(net, permuted)
    torch.testing.assert_close(prior_p, prior[:, perm], atol=1e-4, rtol=0)
    torch.testing.assert_close(eps_p, eps[:, perm], atol=1e-4, rtol=0)


def test_prior_weights_sum_to_one_and_prior_translates() -> None:
    torch.manual_seed(2)
    prior = GeometricPrior(node_dim=1, edge_dim=0, num_obs=TC, num_future=TF, hidden_dim=8).double()
    torch.nn.init.normal_(prior.head.weight, std=1.0)
    h = torch.randn(B, N, TC, 8, dtype=torch.float64)
    w = prior.weights(h)
    assert w.shape == (B, N, TF, TC)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, N, TF, dtype=torch.float64))
    assert (w[..., :-1].abs() > 1e-3).any()  # learned weights are really in use
    x_obs = torch.randn(B, N, TC, 3, dtype=torch.float64)
    nodes = torch.randn(B, N, 1, dtype=torch.float64)
    shift = torch.tensor([10.0, -4.0, 2.5], dtype=torch.float64)
    torch.testing.assert_close(
        prior(x_obs + shift, nodes, None), prior(x_obs, nodes, None) + shift, atol=1e-6, rtol=0
    )


def test_egtn_layers_are_equivariant_in_time_and_space() -> None:
    torch.manual_seed(4)
    net = EGTN(num_layers=2, hidden_dim=8, edge_dim=0).double()
    x = torch.randn(1, 3, 7, 3, dtype=torch.float64)
    h = torch.randn(1, 3, 7, 8, dtype=torch.float64)
    rot = orthogonal(True, seed=7)
    x_out, h_out = net(x, h, None)
    x_rot, h_rot = net(x @ rot.T - 5.0, h, None)
    torch.testing.assert_close(x_rot, x_out @ rot.T - 5.0, atol=1e-6, rtol=0)
    torch.testing.assert_close(h_rot, h_out, atol=1e-6, rtol=0)


def test_bad_shapes_raise(inputs: dict[str, torch.Tensor]) -> None:
    net = model()
    with pytest.raises(ValueError, match="x_t"):
        net(
            inputs["x_t"][:, :, :3], inputs["t"], x_obs=inputs["x_obs"], node_features=inputs["node_features"]
        )
    with pytest.raises(ValueError, match="x_obs"):
        net(inputs["x_t"], inputs["t"], x_obs=None, node_features=inputs["node_features"])


def test_inference_in_slices_of_scenes_matches_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without gradients a large batch runs the spatial layers in slices of scenes: same outputs."""
    torch.manual_seed(3)
    net = EGTN(2, 16, 1)
    x, h, e = torch.randn(7, 5, 6, 3), torch.randn(7, 5, 6, 16), torch.randn(7, 5, 5, 1)
    with torch.no_grad():
        x_one, h_one = net(x, h, e)
        monkeypatch.setattr(egtn, "PAIR_CHUNK_ELEMENTS", 2 * 5 * 5 * 6 * 16)  # slices of 2 scenes
        x_sliced, h_sliced = net(x, h, e)
    torch.testing.assert_close(x_sliced, x_one, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_sliced, h_one, rtol=1e-5, atol=1e-6)


def test_coordinates_of_the_read_frames_match_the_full_forward() -> None:
    """EGTN.coordinates (the last layer attending from the future frames only, no feature update) gives
    the same coordinates as the full forward pass, with and without gradients."""
    torch.manual_seed(5)
    net = EGTN(2, 8, 0).double()
    x, h = torch.randn(2, 3, 9, 3, dtype=torch.float64), torch.randn(2, 3, 9, 8, dtype=torch.float64)
    torch.testing.assert_close(
        net.coordinates(x, h, None, 4), net(x, h, None)[0][:, :, 4:], atol=1e-12, rtol=0
    )
    with torch.no_grad():
        torch.testing.assert_close(net.coordinates(x, h, None, 0), net(x, h, None)[0], atol=1e-12, rtol=0)


def test_temporal_layer_from_a_first_frame_matches_the_full_layer() -> None:
    """TemporalLayer(x, h, first_frame) gives frames first_frame: of the full layer's output."""
    torch.manual_seed(6)
    layer = egtn.TemporalLayer(8, 16).double()
    x, h = torch.randn(2, 3, 9, 3, dtype=torch.float64), torch.randn(2, 3, 9, 8, dtype=torch.float64)
    x_all, h_all = layer(x, h)
    x_part, h_part = layer(x, h, 4)
    torch.testing.assert_close(x_part, x_all[:, :, 4:], atol=1e-12, rtol=0)
    torch.testing.assert_close(h_part, h_all[:, :, 4:], atol=1e-12, rtol=0)


def test_history_encoder_reads_the_past_and_refuses_where_absent(inputs: dict[str, torch.Tensor]) -> None:
    """The future's noise prediction depends on the observed frames through the stored past; a history
    handed to a model without a history encoder is an error, not ignored."""
    net = model(history_encoder=True)
    _, eps = run(net, inputs)
    moved = dict(inputs, x_obs=inputs["x_obs"] + 0.3 * torch.randn_like(inputs["x_obs"]))
    moved_prior = net.prior_mean(moved["x_obs"], moved["node_features"], moved["edge_attr"])
    args = {k: moved[k] for k in ("x_obs", "node_features", "edge_attr")}
    eps_other_past = net(inputs["x_t"], inputs["t"], x_prior=moved_prior, **args)
    assert (eps_other_past - eps).abs().max() > 1e-3
    history = net.encode_history(inputs["x_obs"], inputs["node_features"], inputs["edge_attr"])
    assert len(history) == 2 and history[0].x.shape == (B, N, TC, 3)
    with pytest.raises(ValueError, match="no history encoder"):
        run_args = {k: inputs[k] for k in ("x_obs", "node_features", "edge_attr")}
        model()(inputs["x_t"], inputs["t"], x_prior=moved_prior, history=history, **run_args)


def test_offset_table_kept_for_inference_follows_the_weights() -> None:
    """Without gradients the temporal layer keeps its offset table; a weight changed in place (an
    optimiser step, a loaded state) gives the table of the new weights, as with gradients."""
    torch.manual_seed(8)
    layer = egtn.TemporalLayer(8, 16).double()
    x, h = torch.randn(2, 3, 7, 3, dtype=torch.float64), torch.randn(2, 3, 7, 8, dtype=torch.float64)
    with torch.no_grad():
        before = layer(x, h)[1]
        layer.offset.weight.mul_(3.0)
        after = layer(x, h)[1]
    torch.testing.assert_close(after, layer(x, h)[1], atol=1e-12, rtol=0)
    assert (after - before).abs().max() > 1e-4
    other = egtn.TemporalLayer(8, 16).double()
    with torch.no_grad():
        layer.load_state_dict(other.state_dict())
        torch.testing.assert_close(layer(x, h)[1], other(x, h)[1], atol=1e-12, rtol=0)
