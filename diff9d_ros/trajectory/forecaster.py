"""Online forecasting: track histories in, future samples out (GeoTDM with a fast sampler).

All tracks of a call form one fully connected scene graph, and all samples of that scene run as one
batch through DDIM or DPM-Solver++ 2M at a few steps. A pedestrian model (trained on ETH-UCY,
``planar``) forecasts on the ground plane: histories are projected to (x, y) and returned with the
input z, so they must be given in a z-up frame (REP 103 ``map``/``odom``/``base_link``, not a camera
optical frame); an object model forecasts in 3-D in any frame. Histories shorter than the model's
observed window are padded at the front by constant-velocity extrapolation backwards (a single
frame: by repetition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from diff9d_ros.device import torch_device
from diff9d_ros.trajectory.covering import covering_subset
from diff9d_ros.trajectory.model import GeoTDM
from diff9d_ros.trajectory.sampling import (
    SpeedTemperature,
    Temperature,
    check_max_step,
    forecast_samples,
    temperature_profile,
    training_schedule,
)
from diff9d_ros.trajectory.tracker import Track
from diff9d_ros.trajectory.windows import scene_groups


def pad_history(history: np.ndarray, length: int) -> np.ndarray:
    """The last ``length`` rows of ``history`` (K, 3), front-padded by backward constant velocity
    (:func:`resample_history` of rows one period apart)."""
    history = np.asarray(history, dtype=np.float64).reshape(-1, 3)
    if len(history) == 0:
        raise ValueError("a track history needs at least one position")
    return resample_history(history, np.arange(len(history)) * 1_000_000_000, 1.0, length)


def resample_history(
    positions_m: np.ndarray, stamps_ns: Sequence[int], period_s: float, length: int
) -> np.ndarray:
    """Positions (length, 3) at ``period_s`` intervals ending at the last stamp, linearly interpolated.

    Times before the first stamp are extrapolated backwards at the velocity of the first two samples
    (a single sample is repeated), as :func:`pad_history` does for equally spaced histories.
    """
    positions_m = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    if len(stamps_ns) != len(positions_m) or len(stamps_ns) == 0:
        raise ValueError(f"need one stamp per position, got {len(stamps_ns)} and {len(positions_m)}")
    times_s = (stamps_ns - stamps_ns[-1]) * 1e-9
    if np.any(np.diff(times_s) <= 0):
        raise ValueError("track stamps must increase")
    if period_s <= 0:
        raise ValueError(f"period_s must be > 0, got {period_s}")
    query_s = -period_s * np.arange(length - 1, -1, -1)
    out = np.stack([np.interp(query_s, times_s, positions_m[:, axis]) for axis in range(3)], axis=1)
    if len(times_s) > 1:
        velocity = (positions_m[1] - positions_m[0]) / (times_s[1] - times_s[0])
        before = query_s < times_s[0]
        out[before] = positions_m[0] + velocity * (query_s[before] - times_s[0])[:, None]
    return out


class Forecaster:
    """Future samples per track from a trained :class:`GeoTDM`.

    ``planar``: the model works on the ground plane (pedestrians); default: what the checkpoint
    says. ``sampler``/``num_steps``: the fast sampler; the default DPM-Solver++ 2M in 3 steps costs three
    network evaluations (latencies: ``benchmarks/results/trajectory.json``);
    ``temperature``: the scale of the sampler's initial noise (1: as trained; a few-step sampler's
    samples spread less than the data, see :func:`~diff9d_ros.diffusion.samplers.prior_sample`),
    or (first, last), ramped over the future frames (:func:`~.sampling.temperature_profile`);
    ``max_step``: a scene whose tracks step farther per model frame (median, metres) is forecast at
    that speed and scaled back (:func:`~.sampling.speed_normalised`; None: as observed);
    ``speed_temperature``: each track's temperature scaled with its observed speed
    (:class:`~.sampling.SpeedTemperature`; None: the same for every track);
    ``draws``: samples drawn per track, of which :meth:`forecast`'s ``n_samples`` are kept, those
    whose end points cover the draws' (:func:`~.covering.covering_subset`; None or at most
    ``n_samples``: ``n_samples`` drawn, all kept; the cost grows with the draws);
    ``threads``: CPU threads of :meth:`forecast` (None: torch's current count). With more than one,
    the samples of each scene batch are split into one slice per thread, sampled concurrently with
    one torch thread each (own generator per slice, seeded from ``seed``): the denoiser's operations
    are too small for torch's intra-op threads (a 30-person forecast: 84 ms with one thread, 81 with
    two intra-op threads). ``frame_period_s``: seconds between
    the model's frames (None: histories are taken as given, one row per frame); default: what the
    checkpoint's task says. ``max_scene_tracks``: the largest scene graph sampled at once; more
    tracks are forecast in groups of neighbours (:func:`scene_groups`), which bounds memory.
    ``device``: the torch device the model samples on (:func:`~diff9d_ros.device.torch_device`).
    """

    def __init__(
        self,
        model: GeoTDM,
        *,
        planar: bool = False,
        sampler: str = "dpmpp_2m",
        num_steps: int = 3,
        temperature: Temperature = 1.0,
        max_step: float | None = None,
        speed_temperature: SpeedTemperature | None = None,
        draws: int | None = None,
        seed: int = 0,
        threads: int | None = None,
        frame_period_s: float | None = None,
        max_scene_tracks: int = 32,
        device: str = "cpu",
    ) -> None:
        if model.config.num_obs < 2:
            raise ValueError("the forecaster needs a conditional model (num_obs >= 2)")
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()
        self.planar = planar
        self.sampler = sampler
        self.num_steps = num_steps
        temperature_profile(temperature, model.config.num_future)  # ValueError if it is bad
        self.temperature = temperature
        check_max_step(max_step)  # here, not at the first forecast
        self.max_step = max_step
        self.speed_temperature = speed_temperature
        if draws is not None and draws < 1:
            raise ValueError(f"draws must be >= 1 (None: as many as samples), got {draws}")
        self.draws = draws
        self.threads = threads
        self.frame_period_s = frame_period_s
        if max_scene_tracks < 1:
            raise ValueError(f"max_scene_tracks must be >= 1, got {max_scene_tracks}")
        self.max_scene_tracks = max_scene_tracks
        self.schedule = training_schedule()
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._pool: ThreadPoolExecutor | None = None  # of _pool_workers threads, made when first used
        self._pool_workers = 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, **options: object) -> Forecaster:
        """A forecaster of the model at ``path``; ``planar``, ``frame_period_s`` and
        ``max_scene_tracks`` default to the checkpoint's (its task's protocol)."""
        from diff9d_ros.trajectory.datasets import TASKS, task_spec

        model, payload = GeoTDM.load(path)
        options.setdefault("planar", bool(payload.get("planar", False)))
        task = payload.get("task")
        spec = task_spec(task) if task in TASKS else None
        options.setdefault("frame_period_s", spec.frame_period_s if spec else None)
        if spec is not None and spec.max_scene_agents is not None:
            options.setdefault("max_scene_tracks", spec.max_scene_agents)
        return cls(model, **options)

    @property
    def num_obs(self) -> int:
        return self.model.config.num_obs

    def forecast(
        self,
        tracks: Sequence[Track] | Mapping[str, np.ndarray],
        horizon: int,
        n_samples: int,
        node_features: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """{track id: (n_samples, horizon, 3) future centres} for every track (metres).

        ``tracks``: :class:`Track` objects (resampled at ``frame_period_s`` from their stamps when the
        model has one) or {id: history (K, 3)} already sampled at the model's frame period.
        ``node_features`` (N, F): per-track invariant features, default ones.
        """
        cfg = self.model.config
        if not 1 <= horizon <= cfg.num_future:
            raise ValueError(
                f"horizon must lie in 1..{cfg.num_future} (the model's future frames), got {horizon}"
            )
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        ids, histories = [], []
        if isinstance(tracks, Mapping):
            for track_id, history in tracks.items():
                ids.append(track_id)
                histories.append(pad_history(history, self.num_obs))
        else:
            for track in tracks:
                ids.append(track.track_id)
                if self.frame_period_s is None:
                    histories.append(pad_history(track.history, self.num_obs))
                else:
                    histories.append(
                        resample_history(track.history, track.stamps_ns, self.frame_period_s, self.num_obs)
                    )
        if not ids:
            return {}
        x_obs = np.stack(histories)  # (N, Tc, 3)
        height = x_obs[:, -1:, 2:].copy()
        if self.planar:
            x_obs[..., 2] = 0.0
        n = len(ids)
        if node_features is None:
            node_features = np.ones((n, cfg.node_dim))
        if node_features.shape != (n, cfg.node_dim):
            raise ValueError(f"node_features must be ({n}, {cfg.node_dim}), got {node_features.shape}")
        previous_threads = torch.get_num_threads()
        threads = self.threads or previous_threads
        drawn = max(n_samples, self.draws or 0)
        workers = min(threads, drawn) if self.device.type == "cpu" else 1
        torch.set_num_threads(1 if workers > 1 else threads)
        samples = np.empty((n_samples, n, horizon, 3))
        try:
            groups = scene_groups(x_obs[:, -1], self.max_scene_tracks)
            for size in sorted({len(g) for g in groups}):  # groups of one size are sampled as one batch
                same = np.stack([g for g in groups if len(g) == size])  # (G, size)
                futures = self._sample_in_slices(x_obs[same], node_features[same], drawn, workers)
                futures = futures[..., :horizon, :]
                if drawn > n_samples:
                    futures = covering_subset(torch.from_numpy(futures), n_samples).numpy()
                samples[:, same] = futures.transpose(1, 0, 2, 3, 4)  # (K, G, size, ...)
        finally:
            torch.set_num_threads(previous_threads)
        if self.planar:
            samples[..., 2] = height[None, :, :, 0]
        return {track_id: samples[:, i] for i, track_id in enumerate(ids)}

    def _sample_in_slices(
        self, x_obs: np.ndarray, node_features: np.ndarray, n_samples: int, workers: int
    ) -> np.ndarray:
        """(G, K, N, num_future, 3) samples, the K samples drawn in ``workers`` concurrent slices."""
        if workers == 1:
            return self._sample_scenes(x_obs, node_features, n_samples, self.generator)
        if self._pool is None or self._pool_workers != workers:
            if self._pool is not None:
                self._pool.shutdown(wait=False)  # its threads end once idle
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="forecast")
            self._pool_workers = workers
        seeds = torch.randint(2**62, (workers,), generator=self.generator, device=self.device).tolist()
        sizes = [len(part) for part in np.array_split(np.arange(n_samples), workers)]
        slices = self._pool.map(
            lambda size, seed: self._sample_scenes(
                x_obs, node_features, size, torch.Generator(device=self.device).manual_seed(seed)
            ),
            sizes,
            seeds,
        )
        return np.concatenate(list(slices), axis=1)

    def _sample_scenes(
        self, x_obs: np.ndarray, node_features: np.ndarray, n_samples: int, generator: torch.Generator
    ) -> np.ndarray:
        """(G, K, N, num_future, 3) samples of G fully connected scenes of N tracks each."""
        g, n, edge_dim = *x_obs.shape[:2], self.model.config.edge_dim
        return (
            forecast_samples(
                self.model,
                torch.as_tensor(x_obs, dtype=torch.float32, device=self.device),
                torch.as_tensor(node_features, dtype=torch.float32, device=self.device),
                torch.zeros(g, n, n, edge_dim, device=self.device) if edge_dim else None,
                n_samples,
                sampler=self.sampler,
                num_steps=self.num_steps,
                planar=self.planar,
                generator=generator,
                schedule=self.schedule,
                temperature=self.temperature,
                max_step=self.max_step,
                speed_temperature=self.speed_temperature,
            )
            .cpu()
            .numpy()
        )
