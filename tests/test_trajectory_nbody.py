"""The N-body simulators: protocol shapes, determinism, conservation laws, caching."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.trajectory import nbody
from diff9d_ros.trajectory.datasets import load_windows, task_spec


@pytest.mark.parametrize(("task", "nodes"), [("charged", 5), ("springs", 5), ("gravity", 10)])
def test_protocol_shapes_and_determinism(task: str, nodes: int) -> None:
    a = nbody.simulate(task, 4, seed=7)
    b = nbody.simulate(task, 4, seed=7)
    c = nbody.simulate(task, 4, seed=8)
    assert a.positions.shape == (4, 30, nodes, 3) and a.velocities.shape == (4, 30, nodes, 3)
    assert a.node_features.shape == (4, nodes, 1) and a.edge_attr.shape == (4, nodes, nodes, 1)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    assert np.isfinite(a.positions).all()
    np.testing.assert_allclose(a.edge_attr, a.edge_attr.transpose(0, 2, 1, 3))


def test_charged_edges_are_charge_products_and_frames_follow_velocity() -> None:
    data = nbody.simulate("charged", 6, seed=1)
    q = data.node_features[..., 0]
    assert set(np.unique(q)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(data.edge_attr[..., 0], q[:, :, None] * q[:, None, :])
    # Frames are 100 steps of dt = 0.001 apart: displacement ~ 0.1 * velocity.
    step = data.positions[:, 1:] - data.positions[:, :-1]
    mid_velocity = 0.5 * (data.velocities[:, 1:] + data.velocities[:, :-1])
    smooth = ~data.clipped
    assert smooth.any()
    error = np.abs(step[smooth] - 0.1 * mid_velocity[smooth])
    assert np.median(error) < 2e-3, np.median(error)  # close encounters accelerate a few frames


def test_charged_momentum_is_conserved_without_clipping() -> None:
    data = nbody.simulate("charged", 40, seed=3)
    momentum = data.velocities.sum(axis=2)  # unit masses
    drift = np.abs(momentum - momentum[:, :1]).max(axis=(1, 2))
    unclipped = ~data.clipped
    assert unclipped.sum() >= 5 and data.clipped.any()
    assert drift[unclipped].max() < 1e-9
    assert drift[data.clipped].max() > 1e-6  # clipping does break it: the check can fail


def test_springs_conserve_momentum() -> None:
    data = nbody.simulate("springs", 10, seed=2)
    momentum = data.velocities.sum(axis=2)
    assert np.abs(momentum - momentum[:, :1]).max() < 1e-9


def test_gravity_energy_drift_is_bounded_and_com_is_still() -> None:
    data = nbody.simulate("gravity", 8, seed=4)
    energy = nbody.gravity_energy(data.positions, data.velocities)
    relative = np.abs(energy - energy[:, :1]) / np.abs(energy[:, :1])
    assert relative.max() < 1e-2, relative.max()
    np.testing.assert_allclose(data.velocities.sum(axis=2), 0.0, atol=1e-9)


def test_cache_round_trip_and_windows(tmp_path) -> None:
    first = nbody.load_split("springs", "val", seed=5, data_dir=tmp_path, num_trajectories=3)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = nbody.load_split("springs", "val", seed=5, data_dir=tmp_path, num_trajectories=3)
    np.testing.assert_array_equal(first.positions, again.positions)
    other = nbody.load_split("springs", "test", seed=5, data_dir=tmp_path, num_trajectories=3)
    assert not np.allclose(first.positions, other.positions)  # splits differ


def test_task_windows_follow_the_protocol(tmp_path) -> None:
    (group,) = load_windows("charged", "test", data_dir=tmp_path, num_trajectories=8, limit=5)
    spec = task_spec("charged")
    tensors = group.tensors()
    assert tensors["x_obs"].shape == (5, 5, spec.num_obs, 3) and tensors["x_future"].shape == (5, 5, 20, 3)


def test_bad_arguments_raise(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown N-body task"):
        nbody.simulate("magnets", 2, seed=0)
    with pytest.raises(ValueError, match="unknown split"):
        nbody.load_split("charged", "dev", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown trajectory task"):
        task_spec("nba")
