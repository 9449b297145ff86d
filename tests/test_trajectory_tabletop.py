"""Tabletop object-track windows: shapes, the camera frame, determinism, noise only on the past."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diff9d_ros.trajectory import tabletop
from diff9d_ros.trajectory.datasets import load_windows, task_spec


def test_sequence_centres_are_in_front_of_the_camera_and_move_smoothly() -> None:
    centres = tabletop.sequence_centres(5, "val", seconds=2.0)
    assert centres.ndim == 3 and centres.shape[1:] == (20, 3)
    assert np.all(centres[..., 2] > 0.2)  # optical frame: z is depth, objects sit in front
    speed_m_s = np.linalg.norm(np.diff(centres, axis=1), axis=-1) / tabletop.FRAME_PERIOD_S
    assert speed_m_s.max() < 0.5  # orbiting camera plus slow sliders, no jumps
    assert np.all(speed_m_s.mean(axis=1) > 1e-3)  # ego motion moves every object in the camera frame
    np.testing.assert_array_equal(centres, tabletop.sequence_centres(5, "val", seconds=2.0))


def test_windows_follow_the_task_spec_and_noise_only_the_observed_frames(tmp_path: Path) -> None:
    spec = task_spec("tabletop")
    groups = load_windows("tabletop", "val", data_dir=tmp_path, num_trajectories=3)
    assert (tmp_path / "tabletop_val_3_seed43.npz").exists()
    assert sum(len(g) for g in groups) == 3 * 9  # 6 s at 10 Hz, 20-frame windows every 5 frames
    for group in groups:
        assert group.positions.shape[2] == spec.num_obs + spec.num_future
        assert group.num_obs == spec.num_obs and group.edge_attr is None
    cached = load_windows("tabletop", "val", data_dir=tmp_path, num_trajectories=3)
    for a, b in zip(groups, cached, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    # Re-derive the first sequence's clean centres: futures exact, observed frames perturbed by ~5 mm.
    seed = int(np.random.SeedSequence([43, 1]).generate_state(1, dtype=np.uint32)[0])
    clean = tabletop.sequence_centres(seed, "val")
    group = next(g for g in groups if g.num_agents == clean.shape[0])
    window = group.positions[0]
    np.testing.assert_allclose(window[:, spec.num_obs :], clean[:, spec.num_obs : 20], atol=1e-6)
    noise = window[:, : spec.num_obs] - clean[:, : spec.num_obs]
    assert 0.002 < noise.std() < 0.01
