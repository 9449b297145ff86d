"""Sampling, forecasting and a resumable training smoke run of GeoTDM (small untrained models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.trajectory.evaluate import constant_velocity, displacement_errors
from diff9d_ros.trajectory.forecaster import Forecaster, pad_history, resample_history
from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig
from diff9d_ros.trajectory.sampling import forecast_samples
from diff9d_ros.trajectory.tracker import Track
from diff9d_ros.trajectory.train import (
    RESUME_ONLY_KEYS,
    TrainOptions,
    _VarietyLoss,
    export_weights,
    observation_noised,
    speed_scaled,
    train,
)
from diff9d_ros.trajectory.windows import scene_groups


def small_model(num_obs: int = 4, edge_dim: int = 1, history_encoder: bool = False) -> GeoTDM:
    torch.manual_seed(0)
    config = GeoTDMConfig(
        node_dim=1,
        edge_dim=edge_dim,
        num_obs=num_obs,
        num_future=5,
        hidden_dim=16,
        num_layers=2,
        history_encoder=history_encoder,
    )
    return GeoTDM(config).eval()


def scene(b: int = 2, n: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return {
        "x_obs": torch.randn(b, n, 4, 3, generator=gen).cumsum(2),
        "node_features": torch.ones(b, n, 1),
        "edge_attr": torch.ones(b, n, n, 1),
    }


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 5), ("dpmpp_2m", 5), ("ddpm", 10)])
def test_samples_translate_with_the_observations(sampler: str, steps: int) -> None:
    """Same noise seed, shifted history: every sample shifts by the same vector (translation equivariance)."""
    model = small_model().double()
    d = {key: value.double() for key, value in scene().items()}
    shift = torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)

    def draw(x_obs: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(11)
        args = (d["node_features"], d["edge_attr"], 4)
        return forecast_samples(model, x_obs, *args, sampler=sampler, num_steps=steps, generator=gen)

    base = draw(d["x_obs"])
    assert base.shape == (2, 4, 3, 5, 3)
    torch.testing.assert_close(draw(d["x_obs"] + shift), base + shift, atol=1e-6, rtol=0)
    assert base.std(dim=1).mean() > 1e-3  # samples differ from one another


def test_history_encoded_once_gives_the_samples_of_one_encoded_every_step() -> None:
    """A history-encoder model: the sampler encodes the observed frames once per scene and repeats the
    states for the K samples; the samples equal those of a model that encodes them again at every
    step from its own (repeated) x_obs, and they still translate with the observations."""
    model = small_model(history_encoder=True).double()
    d = {key: value.double() for key, value in scene().items()}

    class EveryStep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.config = model, model.config
            self.calls = 0

        def forward(self, x_t: torch.Tensor, t: torch.Tensor, *, history=None, **extra) -> torch.Tensor:
            assert history is not None  # the sampler passes the stored past
            self.calls += 1
            return self.inner(x_t, t, **extra)

        def __getattr__(self, name: str):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.inner, name)

    def draw(net: torch.nn.Module, x_obs: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(11)
        args = (d["node_features"], d["edge_attr"], 4)
        return forecast_samples(net, x_obs, *args, sampler="dpmpp_2m", num_steps=3, generator=gen)

    base = draw(model, d["x_obs"])
    every_step = EveryStep()
    torch.testing.assert_close(draw(every_step, d["x_obs"]), base, atol=1e-9, rtol=0)
    assert every_step.calls == 3 and base.std(dim=1).mean() > 1e-3
    shift = torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(draw(model, d["x_obs"] + shift), base + shift, atol=1e-6, rtol=0)


def test_unconditional_samples_have_zero_centre_of_mass() -> None:
    model = small_model(num_obs=0).double()
    nodes, edges = torch.ones(2, 3, 1, dtype=torch.float64), torch.ones(2, 3, 3, 1, dtype=torch.float64)
    samples = forecast_samples(model, None, nodes, edges, 3, num_steps=4)
    torch.testing.assert_close(
        samples.mean(dim=(2, 3)), torch.zeros(2, 3, 3, dtype=torch.float64), atol=1e-9, rtol=0
    )
    assert samples.std() > 0.1


def test_forecaster_output_per_track_and_planar_height() -> None:
    forecaster = Forecaster(small_model(edge_dim=0), planar=True, num_steps=3)
    tracks = {
        "a": np.array([[0.0, 0.0, 1.7], [0.1, 0.0, 1.7], [0.2, 0.0, 1.7]]),
        "b": np.array([[3.0, 1.0, 1.6]]),
    }
    out = forecaster.forecast(tracks, horizon=4, n_samples=6)
    assert set(out) == {"a", "b"} and out["a"].shape == (6, 4, 3)
    np.testing.assert_allclose(out["a"][..., 2], 1.7)
    np.testing.assert_allclose(out["b"][..., 2], 1.6)
    with pytest.raises(ValueError, match="horizon"):
        forecaster.forecast(tracks, horizon=6, n_samples=2)
    assert forecaster.forecast({}, horizon=2, n_samples=2) == {}


def test_pad_history_extrapolates_backwards() -> None:
    padded = pad_history(np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), 4)
    np.testing.assert_allclose(padded[:, 0], [-1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(
        pad_history(np.arange(15.0).reshape(5, 3), 2), np.arange(9.0, 15.0).reshape(2, 3)
    )
    with pytest.raises(ValueError, match="at least one"):
        pad_history(np.zeros((0, 3)), 3)


def test_metrics_and_constant_velocity() -> None:
    x_obs = torch.tensor([[[[0.0, 0, 0], [1.0, 0, 0]]]])  # (1, 1, 2, 3)
    future = constant_velocity(x_obs, 3)
    torch.testing.assert_close(future[0, 0, :, 0], torch.tensor([2.0, 3.0, 4.0]))
    samples = torch.stack([future, future + torch.tensor([0.0, 3.0, 0.0])], dim=1)  # errors 0 and 3
    ade, fde = displacement_errors(samples, future, "mean")
    assert float(ade) == pytest.approx(1.5) and float(fde) == pytest.approx(1.5)
    ade, _ = displacement_errors(samples, future, "min")
    assert float(ade) == 0.0


def test_training_runs_resumes_and_loads(tmp_path: Path) -> None:
    options = {
        "task": "springs",
        "out_dir": str(tmp_path / "run"),
        "data_dir": str(tmp_path / "data"),
        "hidden_dim": 8,
        "num_layers": 1,
        "prior_layers": 1,
        "batch_size": 4,
        "eval_every": 3,
        "eval_windows": 4,
        "eval_steps": 2,
        "num_trajectories": 8,
    }
    train(TrainOptions(steps=3, **options))
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert first["step"] == 3 and np.isfinite(first["best_val_ade"])
    train(TrainOptions(steps=5, **options), resume=True)
    second = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert second["step"] == 5
    model, payload = GeoTDM.load(tmp_path / "run" / "best.pt")
    assert payload["task"] == "springs" and model.config.hidden_dim == 8
    assert (tmp_path / "run" / "log.jsonl").read_text().count("val_ade") >= 1
    shipped = tmp_path / "models" / "springs.pt"
    export_weights(tmp_path / "run" / "last.pt", shipped)
    exported, meta = GeoTDM.load(shipped)
    assert not set(RESUME_ONLY_KEYS) & set(meta) and meta["step"] == 5
    for key, value in exported.state_dict().items():
        torch.testing.assert_close(value, second["state_dict"][key])  # the EMA weights
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable GeoTDM checkpoint"):
        export_weights(tmp_path / "junk.pt", tmp_path / "out.pt")
    edm = {**options, "out_dir": str(tmp_path / "edm"), "loss_weighting": "edm"}
    train(TrainOptions(steps=2, **edm))
    assert torch.load(tmp_path / "edm" / "last.pt", weights_only=False)["options"]["loss_weighting"] == "edm"
    history = {**options, "out_dir": str(tmp_path / "history"), "history_encoder": True}
    train(TrainOptions(steps=2, **history))
    assert GeoTDM.load(tmp_path / "history" / "last.pt")[0].config.history_encoder
    with pytest.raises(ValueError, match="loss weighting must be one of"):
        train(TrainOptions(steps=2, **{**edm, "loss_weighting": "p2"}))
    faster = {**options, "out_dir": str(tmp_path / "speed"), "speed_augment": 2.0}
    train(TrainOptions(steps=2, **faster))
    assert torch.load(tmp_path / "speed" / "last.pt", weights_only=False)["options"]["speed_augment"] == 2.0
    with pytest.raises(ValueError, match="speed_augment must be >= 1"):
        train(TrainOptions(steps=2, **{**faster, "speed_augment": 0.5}))


def test_fine_tuning_starts_from_its_init_with_its_config_and_records_it(tmp_path: Path) -> None:
    """A best-of-K run from a trained model takes its sizes (not the options' defaults), starts from
    its EMA weights, records what it started from (kept, minus the folders, by export), validates
    with its own sampler, and refuses a model of another task."""
    base = {
        "task": "springs",
        "data_dir": str(tmp_path / "data"),
        "batch_size": 4,
        "eval_every": 2,
        "eval_windows": 4,
        "num_trajectories": 8,
    }
    train(
        TrainOptions(
            steps=2, out_dir=str(tmp_path / "base"), hidden_dim=8, num_layers=1, prior_layers=1, **base
        )
    )
    init = tmp_path / "base" / "last.pt"
    tuned = {
        **base,
        "out_dir": str(tmp_path / "tuned"),
        "init_from": str(init),
        "variety_samples": 3,
        "eval_sampler": "dpmpp_2m",
        "eval_steps": 2,
        "eval_temperature": (0.5, 2.0),
    }
    train(TrainOptions(steps=2, lr=0.0, **tuned))  # lr 0: the weights stay the init's
    still, payload = GeoTDM.load(tmp_path / "tuned" / "last.pt")
    started = GeoTDM.load(init)[0]
    assert still.config == started.config and payload["options"]["hidden_dim"] == 8
    for key, value in started.state_dict().items():
        torch.testing.assert_close(still.state_dict()[key], value)
    assert payload["init"]["path"] == str(init) and payload["init"]["step"] == 2
    assert payload["options"]["variety_samples"] == 3 and np.isfinite(payload["best_val_ade"])
    train(TrainOptions(steps=2, **{**tuned, "out_dir": str(tmp_path / "moved")}))
    moved = GeoTDM.load(tmp_path / "moved" / "last.pt")[0]
    assert any(not torch.equal(moved.state_dict()[k], v) for k, v in started.state_dict().items())
    shipped = export_weights(tmp_path / "moved" / "last.pt", tmp_path / "shipped.pt")
    assert shipped["init"]["options"]["out_dir"] == "" and shipped["init"]["step"] == 2
    with pytest.raises(ValueError, match="is a model of task 'springs', not 'charged'"):
        train(TrainOptions(steps=1, **{**tuned, "task": "charged", "out_dir": str(tmp_path / "other")}))


def test_best_of_k_fine_tuning_lowers_the_best_of_k_error_through_the_sampler() -> None:
    """The variety loss is the mean over agents of the smallest ADE of K sampler draws; its gradient
    reaches both the denoiser and the prior through every sampler step, and a few Adam steps on one
    batch (the same initial noise each step) lower it."""
    model = small_model(history_encoder=True).train()
    opts = TrainOptions(task="springs", out_dir="", variety_samples=6, eval_sampler="dpmpp_2m", eval_steps=3)
    objective = _VarietyLoss(model, False, opts, 1.0, 0.0)
    batch = {**scene(), "x_future": torch.randn(2, 3, 5, 3, generator=torch.Generator().manual_seed(1))}
    loss = objective(batch, torch.Generator().manual_seed(0))
    draws = forecast_samples(
        model,
        batch["x_obs"],
        batch["node_features"],
        batch["edge_attr"],
        6,
        sampler="dpmpp_2m",
        num_steps=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert loss.item() == pytest.approx(float(displacement_errors(draws, batch["x_future"], "min")[0].mean()))
    loss.backward()
    for part in (model.egtn, model.prior):
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in part.parameters())
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        optimiser.zero_grad()
        step_loss = objective(batch, torch.Generator().manual_seed(0))
        step_loss.backward()
        optimiser.step()
    assert float(objective(batch, torch.Generator().manual_seed(0))) < 0.8 * float(loss)
    with pytest.raises(ValueError, match="K >= 2"):
        _VarietyLoss(model, False, TrainOptions(task="springs", out_dir="", variety_samples=1), 1.0, 0.0)


def test_speed_augmentation_scales_each_window_within_its_range() -> None:
    """One factor per window, the same for its observed and future frames, log-uniform in [1/A, A]:
    about half the windows slowed down and half sped up; A = 1 leaves the batch as it is."""
    generator = torch.Generator().manual_seed(0)
    x_obs = torch.randn(2000, 3, 8, 3)
    batch = {"x_obs": x_obs, "x_future": 2.0 * x_obs[:, :, :6], "node_features": None}
    scaled = speed_scaled(batch, 3.0, generator)
    factor = scaled["x_obs"][:, 0, 0, 0] / x_obs[:, 0, 0, 0]
    torch.testing.assert_close(scaled["x_obs"], x_obs * factor[:, None, None, None])
    torch.testing.assert_close(scaled["x_future"], batch["x_future"] * factor[:, None, None, None])
    assert float(factor.min()) >= 1.0 / 3.0 - 1e-5 and float(factor.max()) <= 3.0 + 1e-5
    assert float(factor.log().max()) > 0.9 * np.log(3.0) and float(factor.log().min()) < -0.9 * np.log(3.0)
    assert abs(float((factor > 1.0).float().mean()) - 0.5) < 0.05
    assert speed_scaled(batch, 1.0, generator) is batch
    with pytest.raises(ValueError, match="speed_augment must be >= 1"):
        speed_scaled(batch, 0.5, generator)


def test_observation_noise_jitters_the_observed_frames_only_within_its_range() -> None:
    """Noise on the observed positions only (the future stays the truth), z kept for a planar task,
    a standard deviation per window uniform in [0, bound]; bound 0 leaves the batch as it is."""
    generator = torch.Generator().manual_seed(0)
    x_obs = torch.zeros(500, 64, 8, 3)
    batch = {"x_obs": x_obs, "x_future": torch.ones(500, 64, 12, 3), "node_features": None}
    noised = observation_noised(batch, 0.1, True, generator)
    assert noised["x_future"] is batch["x_future"]
    assert bool((noised["x_obs"][..., 2] == 0).all())
    per_window = noised["x_obs"][..., :2].flatten(1).std(1)  # about each window's drawn scale
    assert float(per_window.max()) < 0.1 * 1.15 and float(per_window.min()) < 0.01
    assert float(per_window.mean()) == pytest.approx(0.05, rel=0.08)  # the mean of U[0, 0.1]
    assert bool((observation_noised(batch, 0.1, False, generator)["x_obs"][..., 2] != 0).any())
    assert observation_noised(batch, 0.0, True, generator) is batch
    with pytest.raises(ValueError, match="obs_noise_m must be >= 0"):
        observation_noised(batch, -0.1, True, generator)


def test_resample_history_interpolates_at_the_model_period() -> None:
    """A track seen at 30 Hz with a dropped frame, resampled at 10 Hz: positions on the line x = v t,
    and times before the first observation extrapolated at the first velocity."""
    stamps_ns = [0, 33_333_333, 100_000_000, 133_333_333, 166_666_667, 200_000_000]
    positions = np.array([[0.5 * t * 1e-9, 0.0, 1.0] for t in stamps_ns])
    out = resample_history(positions, stamps_ns, 0.1, 4)
    np.testing.assert_allclose(out[:, 0], [-0.05, 0.0, 0.05, 0.1], atol=1e-9)
    np.testing.assert_allclose(out[:, 2], 1.0)
    np.testing.assert_allclose(
        resample_history(positions[:1], stamps_ns[:1], 0.1, 3), np.repeat(positions[:1], 3, 0)
    )
    with pytest.raises(ValueError, match="stamps must increase"):
        resample_history(positions, stamps_ns[::-1], 0.1, 4)
    with pytest.raises(ValueError, match="one stamp per position"):
        resample_history(np.zeros((0, 3)), [], 0.1, 4)


def test_forecaster_with_a_period_ignores_the_input_rate() -> None:
    """The same motion tracked at 10 Hz and at 30 Hz gives the same forecast from a 10 Hz model."""
    model = small_model(edge_dim=0)
    outputs = []
    for rate_hz in (10.0, 30.0):
        times_s = np.arange(0.0, 0.5 + 1e-9, 1.0 / rate_hz)
        track = Track("7", "can")
        for t in times_s:
            track.positions_m.append(np.array([0.2 * t, 0.1, 0.8]))
            track.stamps_ns.append(round(t * 1e9))
            track.observed.append(True)
        forecaster = Forecaster(model, frame_period_s=0.1, seed=3)
        outputs.append(forecaster.forecast([track], horizon=5, n_samples=4)["7"])
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


def test_position_scale_is_a_change_of_units() -> None:
    """A model with position_scale s on data in metres samples exactly what the same weights with
    scale 1 sample on data already multiplied by s, divided by s."""
    from dataclasses import replace

    model = small_model().double()
    scaled = GeoTDM(replace(model.config, position_scale=10.0)).double().eval()
    scaled.load_state_dict(model.state_dict())
    d = {key: value.double() for key, value in scene().items()}
    args = (d["node_features"], d["edge_attr"], 3)
    metres = forecast_samples(
        scaled, d["x_obs"], *args, num_steps=4, generator=torch.Generator().manual_seed(1)
    )
    units = forecast_samples(
        model, d["x_obs"] * 10.0, *args, num_steps=4, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(metres, units / 10.0)


def test_many_tracks_are_forecast_in_groups_of_neighbours() -> None:
    """A crowd larger than max_scene_tracks is split into groups of nearby tracks (bounded memory),
    and every track still gets its samples; a scene within the limit is one group."""
    rng = np.random.default_rng(4)
    positions = np.concatenate([rng.normal([0, 0, 1], 0.05, (10, 3)), rng.normal([3, 0, 1], 0.05, (10, 3))])
    groups = scene_groups(positions, 10)
    assert sorted(np.concatenate(groups).tolist()) == list(range(20))
    assert sorted(sorted(g.tolist()) for g in groups) == [list(range(10)), list(range(10, 20))]
    assert [len(g) for g in scene_groups(positions, 32)] == [20]
    assert max(len(g) for g in scene_groups(rng.normal(size=(71, 3)), 8)) <= 8
    tracks = {f"t{i}": np.cumsum(rng.normal(0.0, 0.01, (4, 3)), axis=0) for i in range(41)}
    out = Forecaster(small_model(edge_dim=0), max_scene_tracks=8).forecast(tracks, horizon=5, n_samples=2)
    assert set(out) == set(tracks) and all(
        v.shape == (2, 5, 3) and np.isfinite(v).all() for v in out.values()
    )


@pytest.mark.parametrize("history_encoder", [False, True])
def test_threads_sample_slices_concurrently_and_reproducibly(history_encoder: bool) -> None:
    """With two threads each scene batch's samples are drawn in two concurrent slices: every track gets
    all its samples, a second forecaster with the same seed draws the same, and torch's own thread
    count is restored afterwards (with a history encoder too: the slices share the model's kept
    offset tables)."""
    rng = np.random.default_rng(5)
    tracks = {f"t{i}": np.cumsum(rng.normal(0.0, 0.1, (4, 3)), axis=0) for i in range(11)}

    def forecast(threads: int) -> dict[str, np.ndarray]:
        model = small_model(edge_dim=0, history_encoder=history_encoder)
        return Forecaster(model, max_scene_tracks=6, threads=threads).forecast(tracks, horizon=5, n_samples=7)

    before = torch.get_num_threads()
    first, again, serial = forecast(2), forecast(2), forecast(1)
    assert torch.get_num_threads() == before
    for track_id, samples in first.items():
        assert samples.shape == (7, 5, 3) and np.isfinite(samples).all()
        np.testing.assert_array_equal(samples, again[track_id])
        assert len(np.unique(samples[:, -1, 0])) == 7  # seven distinct draws, none repeated across slices
        # same distribution as one slice: the spread of the last frame is of the same order
        spread, serial_spread = samples[:, -1].std(axis=0).mean(), serial[track_id][:, -1].std(axis=0).mean()
        assert 0.2 < spread / serial_spread < 5.0
