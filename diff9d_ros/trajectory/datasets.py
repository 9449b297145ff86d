"""Task names -> trajectory windows: the N-body systems, the ETH-UCY leave-one-scene-out splits and
the tabletop object tracks of the online forecaster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diff9d_ros.trajectory import nbody, tabletop
from diff9d_ros.trajectory.windows import Windows, split_crowds

PEDESTRIAN_TASKS: tuple[str, ...] = ("eth", "hotel", "univ", "zara1", "zara2")
TASKS: tuple[str, ...] = (*nbody.TASKS, *PEDESTRIAN_TASKS, tabletop.TASK)
#: Most pedestrians in one scene graph (a crowd is forecast in groups of neighbours of this size).
PEDESTRIAN_GROUP = 8
#: The ETH-UCY data folder (``SCENE/{train,val,test}/*.txt``; not part of the repository), relative
#: to the working directory; ``--data`` names another.
DEFAULT_ETH_UCY = Path("data") / "eth_ucy"


@dataclass(frozen=True)
class TaskSpec:
    """Shapes and protocol of a task: frames, feature sizes, planar (ground-plane) or 3-D, metric."""

    name: str
    num_obs: int
    num_future: int
    node_dim: int
    edge_dim: int
    planar: bool
    num_eval_samples: int  # K: ADE/FDE averaged over K (N-body) or minimum over K (pedestrians)
    metric: str  # "mean" or "min"
    frame_period_s: float | None  # seconds between frames; None for the unitless N-body time
    position_scale: float = 1.0  # diffusion units per data unit (GeoTDMConfig.position_scale)
    # Largest scene graph: bigger crowds are cut into groups of neighbours (windows.split_crowds) in
    # training and evaluation, and by the online forecaster (its max_scene_tracks); None: no limit.
    max_scene_agents: int | None = None


def task_spec(task: str) -> TaskSpec:
    """The protocol of ``task`` (GeoTDM Sec. 5.1 for N-body, Sec. 5.2 for ETH-UCY; tabletop objects
    are scored like pedestrians, best of 20 samples)."""
    if task in nbody.TASKS:
        future = nbody.NUM_FRAMES - nbody.NUM_OBSERVED
        return TaskSpec(task, nbody.NUM_OBSERVED, future, 1, 1, False, 5, "mean", None)
    if task in PEDESTRIAN_TASKS:
        from diff9d_ros.trajectory.eth_ucy import FRAME_PERIOD_S

        return TaskSpec(task, 8, 12, 1, 0, True, 20, "min", FRAME_PERIOD_S, max_scene_agents=PEDESTRIAN_GROUP)
    if task == tabletop.TASK:
        return TaskSpec(
            task,
            tabletop.NUM_OBS,
            tabletop.NUM_FUTURE,
            1,
            0,
            False,
            20,
            "min",
            tabletop.FRAME_PERIOD_S,
            tabletop.POSITION_SCALE,
        )
    raise ValueError(f"unknown trajectory task {task!r}; expected one of {TASKS}")


def load_windows(
    task: str,
    split: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 43,
    limit: int | None = None,
    num_trajectories: int | None = None,
) -> list[Windows]:
    """The windows of ``split`` ("train", "val", "test"), grouped by agent count.

    ``data_dir``: the N-body or tabletop cache folder, or the ETH-UCY root (default
    :data:`DEFAULT_ETH_UCY`). ``limit`` keeps the first windows only (smoke runs);
    ``num_trajectories`` overrides the N-body split size (protocol: 3000/2000/2000) or the tabletop
    sequence count.
    """
    spec = task_spec(task)
    if task in nbody.TASKS:
        data = nbody.load_split(task, split, seed=seed, data_dir=data_dir, num_trajectories=num_trajectories)
        positions = np.ascontiguousarray(data.positions.transpose(0, 2, 1, 3), dtype=np.float32)
        groups = [
            Windows(
                positions,
                data.node_features.astype(np.float32),
                data.edge_attr.astype(np.float32),
                spec.num_obs,
            )
        ]
    elif task == tabletop.TASK:
        groups = tabletop.load_split(split, seed=seed, data_dir=data_dir, num_sequences=num_trajectories)
    else:
        from diff9d_ros.trajectory import eth_ucy

        root = Path(data_dir) if data_dir is not None else DEFAULT_ETH_UCY
        groups = eth_ucy.load_scene_split(root, task, split, spec.num_obs, spec.num_future)
    if spec.max_scene_agents is not None:
        groups = split_crowds(groups, spec.max_scene_agents)
    if limit is not None:
        kept, left = [], limit
        for group in groups:
            if left <= 0:
                break
            kept.append(group.subset(slice(0, left)))
            left -= len(kept[-1])
        groups = kept
    return groups
