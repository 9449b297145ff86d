"""Tabletop object tracks in the camera optical frame, the training data of the online forecaster.

The pipeline tracks object box centres in the optical frame of an RGB-D camera that may move. These
windows come from the motion model of the rendered sequences (:func:`diff9d_ros.synth.sequence.
make_sequence`, without rendering): a camera orbiting and bobbing over a table of 1-6 objects, up
to two of which slide or roll and stop for good before they would touch another object. In the
camera frame every object moves (ego motion), so the scene graph carries the camera's motion and the
movers' own. Windows are ``NUM_OBS + NUM_FUTURE`` frames at ``FRAME_PERIOD_S`` (the demo's 10 Hz),
cut every ``WINDOW_STRIDE`` frames from 6-second sequences. Observed frames get isotropic Gaussian
centre noise (``OBS_NOISE_M``, the order of the pose estimator's translation error) as the tracker
would see them; future frames stay exact. Splits use the synthetic world's disjoint mesh families and
seeds; each split is generated once and cached as ``.npz``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from diff9d_ros.atomic_files import cache_root, cached_npz
from diff9d_ros.trajectory.windows import Windows

LOG = logging.getLogger(__name__)

TASK = "tabletop"
FRAME_PERIOD_S = 0.1
NUM_OBS = 8
NUM_FUTURE = 12
SEQUENCE_S = 6.0
WINDOW_STRIDE = 5
OBS_NOISE_M = 0.005
#: Diffusion units per metre: futures spread about 2 cm per coordinate around the last observation.
POSITION_SCALE = 10.0
#: Sequences per split (each gives 9 windows).
SPLITS: dict[str, int] = {"train": 2000, "val": 200, "test": 300}


def sequence_centres(seed: int, split: str, seconds: float = SEQUENCE_S) -> np.ndarray:
    """Box centres (N, T, 3) in metres, camera optical frame, of one synthetic sequence's objects."""
    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.noise import RandomizationConfig
    from diff9d_ros.synth.render import camera_from_object
    from diff9d_ros.synth.sequence import make_sequence

    config = RandomizationConfig.for_domain("realsense")
    frames = make_sequence(seed, seconds, 1.0 / FRAME_PERIOD_S, config, Intrinsics.realsense_d435(), split)
    centres = [
        [camera_from_object(scene, obj)[:3, 3] for obj in scene.category_objects()] for _, scene in frames
    ]
    return np.asarray(centres, dtype=np.float64).transpose(1, 0, 2)


def _split_seeds(split: str, count: int, seed: int) -> np.ndarray:
    index = list(SPLITS).index(split)
    return np.random.SeedSequence([seed, index]).generate_state(count, dtype=np.uint32)


def generate_split(split: str, count: int, seed: int) -> dict[int, np.ndarray]:
    """{N: (S, N, T, 3)} windows of ``count`` sequences, noise already added to the observed frames."""
    from tqdm import tqdm

    length = NUM_OBS + NUM_FUTURE
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    noise_rng = np.random.default_rng([seed, 99, list(SPLITS).index(split)])
    for sequence_seed in tqdm(_split_seeds(split, count, seed), desc=f"tabletop {split}", mininterval=5):
        centres = sequence_centres(int(sequence_seed), split)
        for start in range(0, centres.shape[1] - length + 1, WINDOW_STRIDE):
            window = centres[:, start : start + length].copy()
            window[:, :NUM_OBS] += noise_rng.normal(0.0, OBS_NOISE_M, size=window[:, :NUM_OBS].shape)
            grouped[window.shape[0]].append(window)
    return {n: np.stack(items).astype(np.float32) for n, items in grouped.items()}


def load_split(
    split: str,
    *,
    seed: int = 43,
    data_dir: str | Path | None = None,
    num_sequences: int | None = None,
) -> list[Windows]:
    """The windows of ``split`` ("train", "val", "test") grouped by object count, largest group first.

    Generated on first use (about 30 ms per sequence) and cached under ``data_dir`` (default
    ``tabletop`` under :func:`~diff9d_ros.atomic_files.cache_root`); ``num_sequences`` overrides
    the split size (smoke runs).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLITS)}")
    count = SPLITS[split] if num_sequences is None else num_sequences
    if count < 1:
        raise ValueError(f"num_sequences must be >= 1, got {count}")
    folder = Path(data_dir) if data_dir is not None else cache_root() / "tabletop"
    path = folder / f"{TASK}_{split}_{count}_seed{seed}.npz"

    def generate() -> dict[str, np.ndarray]:
        LOG.info("generating %d tabletop sequences (%s) into %s", count, split, path)
        return {f"n{n}": block for n, block in generate_split(split, count, seed).items()}

    grouped = {int(key.removeprefix("n")): block for key, block in cached_npz(path, generate).items()}
    ordered = sorted(grouped.items(), key=lambda item: -len(item[1]))
    return [
        Windows(block, np.ones((*block.shape[:2], 1), dtype=np.float32), None, NUM_OBS)
        for _, block in ordered
    ]
