"""Your own meshes: rendered test frames of a mesh folder's objects, and a short fine-tune on them.

A robot owner lists the meshes of their objects in a folder (``meshes.yaml``,
:mod:`diff9d_ros.synth.library`). :func:`render_frames` renders tabletop scenes whose category
objects are those meshes (the frames of the (seed, split) dataset of ``diff9d synth generate
--meshes``, rendered in this process), for evaluation with ground-truth masks.

:func:`finetune` adapts a trained pose model to those meshes with the training code of
``diff9d pose train`` (:func:`diff9d_ros.pose.train.train`, started from the model's weights):

1. training frames of the meshes are written as shards (``diff9d synth generate --meshes``, the
   ``train`` split's frame seeds, the model's sensor domain);
2. every object is observed as in normal training (:func:`diff9d_ros.pose.dataset.observe_objects`:
   exact, corrupted and segmentation masks, background segments) and augmented the same way;
3. training resumes from the work folder's checkpoint when there is one, stops after ``steps``
   or ``max_minutes`` (with a checkpoint), and the weights are exported without optimiser state.

The hypothesis-spread calibration of the starting model is not carried over (the fine-tuned
network's spreads differ): run ``diff9d pose calibrate`` on validation frames of the meshes. Its
top-end classifiers (:mod:`diff9d_ros.pose.top_end`) are: they read the points, not the network.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diff9d_ros.geometry.camera import RGBDFrame
    from diff9d_ros.pose.dataset import ObjectTruth
    from diff9d_ros.synth.library import MeshLibrary

LOG = logging.getLogger(__name__)

#: Frame split codes of the two frame sets (:func:`diff9d_ros.synth.dataset.frame_rng`): training
#: frames and the separately seeded frames that measure a fine-tune.
TRAIN_SPLIT, TEST_SPLIT = "train", "test"


def render_frames(
    library: MeshLibrary,
    count: int,
    seed: int,
    *,
    split: str = TEST_SPLIT,
    sensor: str = "realsense",
    progress: bool = True,
) -> list[tuple[RGBDFrame, list[ObjectTruth]]]:
    """Frames 0..count-1 of the (``seed``, ``split``) dataset whose objects come from ``library``,
    with ``sensor`` (a domain or RealSense presets, :meth:`RandomizationConfig.for_domain`)."""
    from tqdm import tqdm

    from diff9d_ros.geometry.camera import Intrinsics
    from diff9d_ros.synth.dataset import render_frame, renderer_for
    from diff9d_ros.synth.noise import SENSOR_PRESETS, RandomizationConfig

    if count < 1:
        raise ValueError(f"frame count must be at least 1, got {count}")
    config = RandomizationConfig.for_domain(sensor)
    intrinsics = (
        SENSOR_PRESETS[config.sensor_presets[0]].intrinsics
        if config.sensor_presets
        else Intrinsics.realsense_d435()
    )
    renderer = renderer_for(intrinsics, config.shadows)
    frames = []
    for index in tqdm(range(count), desc=f"render {Path(library.name).name}", disable=not progress):
        synth = render_frame(seed, split, index, config, renderer, library=library)
        frames.append((synth.frame, synth.objects))
    return frames


def instance_label(library: MeshLibrary, truth: ObjectTruth) -> str:
    """The mesh of a ground-truth object: its file name in a folder library, else category_id."""
    category = truth.detection.category
    if library.is_procedural:
        return f"{category}_{truth.instance_id}"
    return Path(library.entries[truth.instance_id].file).name


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of :func:`finetune` (the optimiser settings not named here are the model's)."""

    frames: int = 300
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 50
    max_minutes: float = 20.0
    seed: int = 0
    sensor: str = "realsense"
    workers: int = 1
    checkpoint_every: int = 100


def _training_frames(library: MeshLibrary, folder: Path, config: FinetuneConfig) -> Path:
    """The training shards of the meshes in ``folder`` (reused when they match ``config``)."""
    from diff9d_ros.synth.dataset import generate_dataset
    from diff9d_ros.synth.noise import RandomizationConfig

    index = folder / "index.json"
    if index.is_file():
        found = json.loads(index.read_text(encoding="utf-8"))
        wanted = (config.frames, config.seed, library.name)
        if (found.get("frames"), found.get("seed"), found.get("meshes")) == wanted:
            LOG.info("reusing the training frames in %s", folder)
            return folder
        shutil.rmtree(folder)
    sensors = RandomizationConfig.for_domain(config.sensor)
    generate_dataset(
        folder,
        config.frames,
        split=TRAIN_SPLIT,
        seed=config.seed,
        config=sensors,
        workers=config.workers,
        library=library,
    )
    return folder


def finetune(
    library: MeshLibrary, model: str | Path, out: str | Path, work: str | Path, config: FinetuneConfig
) -> dict:
    """Fine-tune ``model`` on training frames of ``library`` (module docstring); the exported model
    goes to ``out``, frames, object cache, checkpoint and log to ``work``. Returns what was done."""
    from diff9d_ros.pose.dataset import load_objects
    from diff9d_ros.pose.network import NetworkConfig
    from diff9d_ros.pose.top_end import classifiers_from_checkpoint, write_top_ends
    from diff9d_ros.pose.train import TrainConfig, export_weights, load_checkpoint, train

    if config.frames < 1 or config.steps < 1 or config.max_minutes <= 0:
        raise ValueError(f"frames and steps must be >= 1 and max_minutes > 0, got {config}")
    initial = load_checkpoint(model)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    net_config = NetworkConfig(**initial["network_config"])
    frames_dir = _training_frames(library, work / "frames", config)
    objects = load_objects([frames_dir], net_config.num_points, net_config.crop_px, config.seed)
    LOG.info("fine-tuning on %d observed objects", len(objects))
    known = set(TrainConfig.__dataclass_fields__)
    train_config = TrainConfig(
        **{
            **{k: v for k, v in initial.get("train_config", {}).items() if k in known},
            "steps": config.steps,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "warmup_steps": config.warmup_steps,
            "seed": config.seed,
            "checkpoint_every": config.checkpoint_every,
        }
    )
    checkpoint = work / "checkpoint.pt"
    train(
        objects,
        checkpoint,
        train_config,
        resume=True,
        log_path=work / "train.log.jsonl",
        max_seconds=60.0 * config.max_minutes,
        initial=initial,
    )
    step = int(export_weights(checkpoint, out)["step"])
    top_ends = classifiers_from_checkpoint(initial)
    if top_ends:
        write_top_ends(out, top_ends)
    if step < config.steps:
        LOG.warning(
            "stopped at step %d of %d after %g min: run again to continue",
            step,
            config.steps,
            config.max_minutes,
        )
    return {"objects": len(objects), "step": step, "steps": config.steps, "config": asdict(config)}


def ten_degree_table(
    results: dict, label: Callable[[ObjectTruth], str]
) -> dict[str, dict[str, dict[str, float]]]:
    """10deg5cm, IoU50 (%) and object count per group (``label`` of each ground-truth object) and
    their ``mean`` over the groups, of every method in ``results`` (name -> GroundTruthMaskResult)."""
    out = {}
    for name, result in results.items():
        groups = {
            group: {"10deg5cm": row["10deg5cm"], "IoU50": row["IoU50"], "objects": row["objects"]}
            for group, row in result.table_by(label).items()
        }
        mean = {m: sum(row[m] for row in groups.values()) / len(groups) for m in ("10deg5cm", "IoU50")}
        out[name] = {**groups, "mean": {**mean, "objects": sum(row["objects"] for row in groups.values())}}
    return out


def compare_models(
    frames: Sequence[tuple[RGBDFrame, list[ObjectTruth]]], models: dict[str, Path], library: MeshLibrary
) -> dict[str, dict[str, dict[str, float]]]:
    """10deg5cm and IoU50 per mesh and pooled of each model (DDIM-3, ground-truth masks) on ``frames``."""
    from diff9d_ros.pose.estimator import PoseEstimator
    from diff9d_ros.pose.evaluate import evaluate_with_gt_masks

    methods = {name: PoseEstimator.from_file(path).estimate_masks for name, path in models.items()}
    results = evaluate_with_gt_masks(frames, methods)
    return ten_degree_table(results, lambda truth: instance_label(library, truth))
