"""ETH-UCY pedestrian trajectories in the common text format (Social-GAN / Trajectron++ split).

One observation per line, whitespace separated ``frame_id ped_id x y`` (metres, world frame); frame
ids step by 10 per annotated frame (0.4 s). A window is 8 observed + 12 predicted consecutive frames
(3.2 s + 4.8 s); the agents of a window are the pedestrians present in all of its frames, as in
Social-GAN (Gupta et al., 2018) and GeoTDM's ETH-UCY protocol (Sec. 5.2). Positions go to the ground
plane z = 0 of a 3-D frame so that the 3-D equivariant model applies unchanged.

Splits are leave-one-scene-out: ``ROOT/SCENE/{train,val,test}/*.txt`` (see the data README).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from diff9d_ros.trajectory.windows import Windows

FRAME_PERIOD_S = 0.4
SCENES: tuple[str, ...] = ("eth", "hotel", "univ", "zara1", "zara2")


def read_tracks(path: str | Path) -> np.ndarray:
    """The (M, 4) float array ``frame, ped, x_m, y_m`` of one file, sorted by frame then ped."""
    rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if rows.size == 0:
        return np.zeros((0, 4))
    if rows.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns (frame, ped, x, y), got {rows.shape[1]}")
    if not np.isfinite(rows).all():
        raise ValueError(f"{path}: non-finite values")
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def windows_from_tracks(rows: np.ndarray, num_obs: int, num_future: int) -> dict[int, np.ndarray]:
    """Every window of ``num_obs + num_future`` consecutive frames, as {N: (S, N, T, 3)} by agent count.

    Consecutive means the file's frame step (the smallest gap between distinct frame ids).
    """
    length = num_obs + num_future
    frames = np.unique(rows[:, 0])
    if len(frames) < length:
        return {}
    step = np.diff(frames).min()
    positions: dict[float, dict[float, np.ndarray]] = defaultdict(dict)
    for frame, ped, x, y in rows:
        positions[frame][ped] = np.array([x, y, 0.0])
    out: dict[int, list[np.ndarray]] = defaultdict(list)
    for start in frames:
        window = [start + k * step for k in range(length)]
        if any(f not in positions for f in window):
            continue
        peds = set(positions[window[0]])
        for f in window[1:]:
            peds &= set(positions[f])
        if not peds:
            continue
        ordered = sorted(peds)
        out[len(ordered)].append(np.array([[positions[f][p] for f in window] for p in ordered]))
    return {n: np.stack(items) for n, items in out.items()}


def load_scene_split(
    root: str | Path, scene: str, split: str, num_obs: int = 8, num_future: int = 12
) -> list[Windows]:
    """Windows of ``ROOT/SCENE/SPLIT/*.txt`` grouped by agent count (largest groups first)."""
    folder = Path(root) / scene / split
    if not folder.is_dir():
        raise ValueError(
            f"no ETH-UCY folder {folder} (expected ROOT/{{{','.join(SCENES)}}}/{{train,val,test}})"
        )
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise ValueError(f"{folder}: no .txt files")
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    for path in files:
        for n, block in windows_from_tracks(read_tracks(path), num_obs, num_future).items():
            grouped[n].append(block)
    groups = []
    for n in sorted(grouped, key=lambda k: -sum(len(b) for b in grouped[k])):
        positions = np.concatenate(grouped[n]).astype(np.float32)
        groups.append(Windows(positions, np.ones((len(positions), n, 1), np.float32), None, num_obs))
    return groups
