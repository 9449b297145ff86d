"""Fixed-size trajectory windows, the unit of training and evaluation for every task.

A :class:`Windows` holds S scenes of N agents over T = num_obs + num_future frames. Scenes with
different agent counts (pedestrians) are kept in separate ``Windows`` (one per N), so that graphs
in a batch are dense and no padding mask is needed. A crowd is cut into groups of neighbours
(:func:`scene_groups`, :func:`split_crowds`), the same way in training, evaluation and the online
forecaster, so that the fully connected scene graph stays small.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made, so task listings stay light
    import torch


@dataclass
class Windows:
    """``positions`` (S, N, T, 3), ``node_features`` (S, N, F), ``edge_attr`` (S, N, N, E) or None."""

    positions: np.ndarray
    node_features: np.ndarray
    edge_attr: np.ndarray | None
    num_obs: int

    def __post_init__(self) -> None:
        if self.positions.ndim != 4 or self.positions.shape[-1] != 3:
            raise ValueError(f"positions must be (S, N, T, 3), got {self.positions.shape}")
        s, n, t, _ = self.positions.shape
        if not 0 < self.num_obs < t:
            raise ValueError(f"num_obs must lie in 1..{t - 1}, got {self.num_obs}")
        if self.node_features.shape[:2] != (s, n):
            raise ValueError(f"node_features must be ({s}, {n}, F), got {self.node_features.shape}")
        if self.edge_attr is not None and self.edge_attr.shape[:3] != (s, n, n):
            raise ValueError(f"edge_attr must be ({s}, {n}, {n}, E), got {self.edge_attr.shape}")

    def __len__(self) -> int:
        return self.positions.shape[0]

    @property
    def num_agents(self) -> int:
        return self.positions.shape[1]

    def subset(self, index: np.ndarray | slice) -> Windows:
        """The windows at ``index`` (a view where numpy allows)."""
        edge = None if self.edge_attr is None else self.edge_attr[index]
        return Windows(self.positions[index], self.node_features[index], edge, self.num_obs)

    def tensors(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor | None]:
        """``x_obs``, ``x_future``, ``node_features``, ``edge_attr`` as torch tensors (default float32)."""
        import torch

        dtype = dtype or torch.float32
        pos = torch.as_tensor(self.positions, dtype=dtype)
        return {
            "x_obs": pos[:, :, : self.num_obs],
            "x_future": pos[:, :, self.num_obs :],
            "node_features": torch.as_tensor(self.node_features, dtype=dtype),
            "edge_attr": None if self.edge_attr is None else torch.as_tensor(self.edge_attr, dtype=dtype),
        }


def random_batch(
    groups: Sequence[Windows], batch_size: int, rng: np.random.Generator, max_nodes: int | None = None
) -> Windows:
    """One random batch: a group drawn in proportion to its size, then windows from it.

    ``max_nodes`` caps ``batch * N`` (large crowds get smaller batches); the batch holds at least one.
    """
    sizes = np.array([len(g) for g in groups], dtype=np.float64)
    if sizes.sum() == 0:
        raise ValueError("no training windows")
    group = groups[int(rng.choice(len(groups), p=sizes / sizes.sum()))]
    count = batch_size if max_nodes is None else max(1, min(batch_size, max_nodes // group.num_agents))
    return group.subset(rng.choice(len(group), size=min(count, len(group)), replace=False))


def scene_groups(positions_m: np.ndarray, max_size: int) -> list[np.ndarray]:
    """Indices of ``positions_m`` (N, 3) cut into ``ceil(N / max_size)`` groups of neighbours.

    The fully connected scene graph costs O(N^2) per sample and frame, so a crowd is split by
    recursive bisection along the principal axis of each part (a k-d tree on principal axes), at
    the index that keeps the group counts of both halves balanced: the groups are compact, and the
    near agents, the ones that interact, stay together. A scene within ``max_size`` is one group.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    positions_m = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
    out: list[np.ndarray] = []

    def split(index: np.ndarray, parts: int) -> None:
        if parts <= 1:
            out.append(index)
            return
        centred = positions_m[index] - positions_m[index].mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        order = index[np.argsort(centred @ axis, kind="stable")]
        left = parts // 2
        cut = round(len(index) * left / parts)
        split(order[:cut], left)
        split(order[cut:], parts - left)

    split(np.arange(len(positions_m)), -(-len(positions_m) // max_size))
    return out


def split_crowds(groups: Sequence[Windows], max_agents: int) -> list[Windows]:
    """``groups`` with every window of more than ``max_agents`` agents cut into windows of neighbours
    (:func:`scene_groups` at the last observed frame), regrouped by agent count (largest groups first)."""
    pieces: dict[int, list[Windows]] = defaultdict(list)
    for group in groups:
        if group.num_agents <= max_agents:
            pieces[group.num_agents].append(group)
            continue
        for s in range(len(group)):
            for agents in scene_groups(group.positions[s, :, group.num_obs - 1], max_agents):
                edge = None if group.edge_attr is None else group.edge_attr[s][np.ix_(agents, agents)][None]
                pieces[len(agents)].append(
                    Windows(
                        group.positions[s, agents][None],
                        group.node_features[s, agents][None],
                        edge,
                        group.num_obs,
                    )
                )
    out = []
    for n in sorted(pieces, key=lambda k: -sum(len(w) for w in pieces[k])):
        parts = pieces[n]
        edges = None if parts[0].edge_attr is None else np.concatenate([w.edge_attr for w in parts])
        out.append(
            Windows(
                np.concatenate([w.positions for w in parts]),
                np.concatenate([w.node_features for w in parts]),
                edges,
                parts[0].num_obs,
            )
        )
    return out


def windows_at(groups: Sequence[Windows], chosen: np.ndarray) -> list[Windows]:
    """The windows at the sorted global indices ``chosen`` (counted over all groups), kept in their groups."""
    out, start = [], 0
    for group in groups:
        local = chosen[(chosen >= start) & (chosen < start + len(group))] - start
        if len(local):
            out.append(group.subset(local))
        start += len(group)
    return out


def random_windows(groups: Sequence[Windows], count: int, seed: int) -> list[Windows]:
    """``count`` windows drawn without replacement over all groups (seeded), kept in their groups."""
    total = sum(len(g) for g in groups)
    chosen = np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)
    return windows_at(groups, np.sort(chosen))


#: Seed of :func:`jittered`'s noise, shared by the benchmark's detector-noise rows and
#: ``diff9d traj eval --jitter-m``, so that both jitter the same windows the same way.
JITTER_SEED = 11


def sped_up(groups: Sequence[Windows], factor: float) -> list[Windows]:
    """``groups`` with every position scaled by ``factor``: the same frames, ``factor`` times the
    speed (errors scale with it; divide them by ``factor`` for errors per metre)."""
    return [replace(group, positions=group.positions * factor) for group in groups]


def jittered(groups: Sequence[Windows], noise_m: float, seed: int = JITTER_SEED) -> list[Windows]:
    """``groups`` with Gaussian noise of ``noise_m`` on the x and y of every observed position (the
    futures, the truth, unchanged; z stays on the ground plane), seeded: what a person detector's
    jitter does to an annotated track."""
    rng = np.random.default_rng(seed)
    out = []
    for group in groups:
        positions = group.positions.copy()
        observed = positions[:, :, : group.num_obs, :2]
        observed += rng.normal(0.0, noise_m, observed.shape).astype(positions.dtype)
        out.append(replace(group, positions=positions))
    return out
