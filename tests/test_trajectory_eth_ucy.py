"""ETH-UCY loader on tiny synthetic scene files (never on the real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diff9d_ros.trajectory.datasets import load_windows
from diff9d_ros.trajectory.eth_ucy import load_scene_split, read_tracks, windows_from_tracks


def write_scene(path: Path, peds: dict[int, range]) -> None:
    """Pedestrian p walks along x at 0.1 m per frame over its frame range (ids step by 10)."""
    lines = []
    for ped, frames in peds.items():
        for k in frames:
            lines.append(f"{10 * k}\t{float(ped)}\t{0.1 * k + ped:.2f}\t{2.0 * ped:.2f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sorted(lines, key=lambda line: int(line.split()[0]))) + "\n")


def test_windows_keep_agents_present_in_all_frames(tmp_path: Path) -> None:
    path = tmp_path / "scene.txt"
    write_scene(path, {1: range(0, 25), 2: range(3, 30), 3: range(10, 15)})
    groups = windows_from_tracks(read_tracks(path), num_obs=8, num_future=12)
    # starts 0..2: ped 1 only; 3..5: peds 1 and 2; 6..10: ped 2 only (ped 3 never spans 20 frames)
    assert {n: len(b) for n, b in groups.items()} == {1: 3 + 5, 2: 3}
    pair = groups[2][0]
    assert pair.shape == (2, 20, 3)
    np.testing.assert_allclose(pair[0, :, 0], 0.1 * np.arange(3, 23) + 1, atol=1e-9)
    np.testing.assert_allclose(pair[..., 2], 0.0)  # ground plane


def test_scene_split_groups_and_task_loader(tmp_path: Path) -> None:
    write_scene(tmp_path / "zara1" / "test" / "a.txt", {1: range(0, 21), 2: range(0, 21)})
    write_scene(tmp_path / "zara1" / "test" / "b.txt", {5: range(0, 22)})
    groups = load_scene_split(tmp_path, "zara1", "test")
    assert sorted((g.num_agents, len(g)) for g in groups) == [(1, 3), (2, 2)]
    via_task = load_windows("zara1", "test", data_dir=tmp_path)
    assert sum(len(g) for g in via_task) == 5
    tensors = via_task[0].tensors()
    assert tensors["x_obs"].shape[2] == 8 and tensors["x_future"].shape[2] == 12
    assert tensors["edge_attr"] is None


def test_bad_files_raise(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1 2.0\n10 1 2.1\n")
    with pytest.raises(ValueError, match="4 columns"):
        read_tracks(bad)
    with pytest.raises(ValueError, match="no ETH-UCY folder"):
        load_scene_split(tmp_path, "eth", "train")
