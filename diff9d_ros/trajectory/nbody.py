"""N-body trajectory data in the GeoTDM protocol (GeoTDM, NeurIPS 2024, Sec. 5.1 and App. C).

The three systems follow the simulators GeoTDM inherits from EGNN (Satorras et al., 2021) and NRI
(Kipf et al., 2018):

- ``charged``: 5 particles with charges +-1 (probability 1/2 each); Coulomb forces
  ``F_i = sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3`` with every force component clipped to
  ``+-0.1 / dt``; initial positions N(0, 1), initial speed 0.5 in a random direction; semi-implicit
  Euler (kick, then drift/kick) with ``dt = 0.001``.
- ``springs``: 5 particles, springs of stiffness 0 or 1 (probability 1/2) scaled by 0.1, Hooke forces
  clipped the same way; initial positions N(0, 0.5^2), speed 0.5.
- ``gravity``: 10 unit masses, ``G = 1``, Plummer softening 0.1, kick-drift-kick leapfrog; initial
  positions and velocities N(0, 1) with the centre-of-mass velocity removed.

One frame is kept every 100 integration steps; a trajectory has 30 frames, of which the first 10 are
observed and the last 20 predicted. Every trajectory of a split is integrated at once (vectorised
over the trajectory axis), so generating 3000/2000/2000 trajectories takes seconds.

Graphs are fully connected. Node features: the charge (charged), zeros (springs; the reference
data stores no charge), the mass (gravity). Edge attributes: ``q_i q_j`` (charged), the spring
stiffness (springs), zeros (gravity).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from diff9d_ros.atomic_files import cache_root, cached_npz

LOG = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("charged", "springs", "gravity")
SPLITS: dict[str, int] = {"train": 3000, "val": 2000, "test": 2000}
DT = 0.001
FRAME_STRIDE = 100
NUM_FRAMES = 30
NUM_OBSERVED = 10

_MAX_FORCE = 0.1 / DT
_GRAVITY_SOFTENING = 0.1


@dataclass
class NBodySplit:
    """One split of an N-body task.

    ``positions``/``velocities``: (S, T, N, 3) float64 frames; ``node_features``: (S, N, 1);
    ``edge_attr``: (S, N, N, 1) (the diagonal is zero and unused); ``clipped``: (S,) bool, True where
    a force component was clipped at least once during integration.
    """

    task: str
    positions: np.ndarray
    velocities: np.ndarray
    node_features: np.ndarray
    edge_attr: np.ndarray
    clipped: np.ndarray

    def __len__(self) -> int:
        return self.positions.shape[0]


def _pairwise_diff(loc: np.ndarray) -> np.ndarray:
    """x_i - x_j as (S, N, N, 3)."""
    return loc[:, :, None, :] - loc[:, None, :, :]


def _coulomb_force(loc: np.ndarray, qq: np.ndarray) -> np.ndarray:
    diff = _pairwise_diff(loc)
    dist2 = (diff**2).sum(-1)
    n = loc.shape[1]
    dist2[:, np.arange(n), np.arange(n)] = np.inf
    return (qq[..., None] * diff / dist2[..., None] ** 1.5).sum(axis=2)


def _spring_force(loc: np.ndarray, stiffness: np.ndarray) -> np.ndarray:
    return -0.1 * (stiffness[..., None] * _pairwise_diff(loc)).sum(axis=2)


def _gravity_acceleration(loc: np.ndarray) -> np.ndarray:
    diff = -_pairwise_diff(loc)  # x_j - x_i: unit masses attract
    inv_r3 = ((diff**2).sum(-1) + _GRAVITY_SOFTENING**2) ** -1.5
    return (diff * inv_r3[..., None]).sum(axis=2)


def gravity_energy(positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """Total energy (..., ) of unit masses with the simulator's softened (Plummer) potential."""
    diff = positions[..., :, None, :] - positions[..., None, :, :]
    inv_r = ((diff**2).sum(-1) + _GRAVITY_SOFTENING**2) ** -0.5
    n = positions.shape[-2]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    potential = -(inv_r * upper).sum(axis=(-1, -2))
    return 0.5 * (velocities**2).sum(axis=(-1, -2)) + potential


def _random_directions(rng: np.random.Generator, shape: tuple[int, ...], speed: float) -> np.ndarray:
    vel = rng.standard_normal(shape)
    return vel * speed / np.linalg.norm(vel, axis=-1, keepdims=True)


def _reflect_into_box(loc: np.ndarray, vel: np.ndarray, box: float = 5.0) -> None:
    """The reference simulators' one-off wall reflection of the initial state (in place)."""
    over = loc > box
    loc[over] = 2 * box - loc[over]
    vel[over] = -np.abs(vel[over])
    under = loc < -box
    loc[under] = -2 * box - loc[under]
    vel[under] = np.abs(vel[under])


def simulate(
    task: str, num_trajectories: int, seed: int, num_frames: int = NUM_FRAMES, progress: bool = False
) -> NBodySplit:
    """Integrate ``num_trajectories`` systems of ``task`` at once; deterministic in ``seed``."""
    if task not in TASKS:
        raise ValueError(f"unknown N-body task {task!r}; expected one of {TASKS}")
    if num_trajectories <= 0 or num_frames <= 0:
        raise ValueError(f"need positive sizes, got {num_trajectories} trajectories, {num_frames} frames")
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    s = num_trajectories
    n = 10 if task == "gravity" else 5
    if task == "charged":
        charges = rng.choice([-1.0, 1.0], size=(s, n, 1))
        coupling = charges[:, :, 0, None] * charges[:, None, :, 0]
        node_features = charges
        loc = rng.standard_normal((s, n, 3))
        vel = _random_directions(rng, (s, n, 3), 0.5)
    elif task == "springs":
        upper = rng.choice([0.0, 1.0], size=(s, n, n))
        coupling = np.triu(upper, 1) + np.triu(upper, 1).transpose(0, 2, 1)
        node_features = np.zeros((s, n, 1))
        loc = 0.5 * rng.standard_normal((s, n, 3))
        vel = _random_directions(rng, (s, n, 3), 0.5)
    else:
        coupling = np.zeros((s, n, n))
        node_features = np.ones((s, n, 1))
        loc = rng.standard_normal((s, n, 3))
        vel = rng.standard_normal((s, n, 3))
        vel -= vel.mean(axis=1, keepdims=True)
    if task != "gravity":
        _reflect_into_box(loc, vel)

    positions = np.empty((s, num_frames, n, 3))
    velocities = np.empty((s, num_frames, n, 3))
    clipped = np.zeros(s, dtype=bool)

    def clipped_force(state: np.ndarray) -> np.ndarray:
        force = _coulomb_force(state, coupling) if task == "charged" else _spring_force(state, coupling)
        clipped[:] |= (np.abs(force) > _MAX_FORCE).any(axis=(1, 2))
        return np.clip(force, -_MAX_FORCE, _MAX_FORCE)

    total_steps = num_frames * FRAME_STRIDE
    steps = tqdm(range(total_steps + 1), desc=f"simulate {task}", disable=not progress, leave=False)
    if task == "gravity":
        # Kick-drift-kick leapfrog; frame k is the state before step k * FRAME_STRIDE.
        acc = _gravity_acceleration(loc)
        for step in steps:
            if step % FRAME_STRIDE == 0:
                frame = step // FRAME_STRIDE
                if frame == num_frames:
                    break
                positions[:, frame], velocities[:, frame] = loc, vel
            vel += 0.5 * DT * acc
            loc += DT * vel
            acc = _gravity_acceleration(loc)
            vel += 0.5 * DT * acc
    else:
        # Semi-implicit Euler as in the NRI/EGNN simulators; frame k is the state after step
        # (k + 1) * FRAME_STRIDE (the initial state is not kept).
        vel += DT * clipped_force(loc)
        for step in steps:
            if step == 0:
                continue
            loc += DT * vel
            if step % FRAME_STRIDE == 0:
                positions[:, step // FRAME_STRIDE - 1], velocities[:, step // FRAME_STRIDE - 1] = loc, vel
                if step == total_steps:
                    break
            vel += DT * clipped_force(loc)
    return NBodySplit(task, positions, velocities, node_features, coupling[..., None], clipped)


def _split_seed(seed: int, split: str) -> list[int]:
    return [seed, list(SPLITS).index(split)]


def load_split(
    task: str,
    split: str,
    *,
    seed: int = 43,
    data_dir: str | Path | None = None,
    num_trajectories: int | None = None,
) -> NBodySplit:
    """The ``split`` ("train", "val", "test") of ``task``, generated once and cached as ``.npz``.

    Sizes default to the protocol's 3000/2000/2000; the cache key holds task, split, size and seed.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLITS)}")
    count = SPLITS[split] if num_trajectories is None else num_trajectories
    folder = Path(data_dir) if data_dir is not None else cache_root() / "nbody"
    path = folder / f"{task}_{split}_{count}_seed{seed}.npz"

    def generate() -> dict[str, np.ndarray]:
        rng_seed = int(np.random.SeedSequence(_split_seed(seed, split)).generate_state(1)[0])
        LOG.info("generating %d %s trajectories (%s) into %s", count, task, split, path)
        data = simulate(task, count, rng_seed, progress=True)
        return {f.name: getattr(data, f.name) for f in fields(data) if f.name != "task"}

    return NBodySplit(task, **cached_npz(path, generate))
