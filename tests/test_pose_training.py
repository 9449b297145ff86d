"""Training: a briefly trained model beats random initialisation on held-out frames; resume works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.dataset import AugmentConfig, ObjectArrays, PoseDataset, observe_objects
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.evaluate import evaluate_with_gt_masks
from diff9d_ros.pose.network import NetworkConfig, PoseNetwork
from diff9d_ros.pose.train import TrainConfig, load_checkpoint, save_checkpoint, train
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import synthesize

SMALL = NetworkConfig(
    num_points=256, crop_px=32, point_width=64, rgb_width=32, cond_dim=64, hidden=96, num_blocks=2
)


def _frames(split: str, count: int, seed: int) -> list:
    intrinsics = Intrinsics.realsense_d435(320, 240)
    # a typical tabletop view: a tiny model trained for seconds learns it, not the whole 0.3-1.6 m range
    config = RandomizationConfig.for_domain(
        "realsense", camera_distance_m=(0.45, 0.95), camera_elevation_deg=(30.0, 80.0)
    )
    renderer = Renderer(intrinsics, nthreads=1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        synth = synthesize(compose_scene(rng, config, intrinsics, split), renderer, config.sensor, rng)
        out.append((synth.frame, synth.objects))
    return out


@pytest.fixture(scope="module")
def tiny_objects() -> ObjectArrays:
    return observe_objects(_frames("train", 24, 0), SMALL.num_points, SMALL.crop_px, seed=0)


def test_dataset_sample_is_consistent(tiny_objects: ObjectArrays) -> None:
    dataset = PoseDataset(tiny_objects, AugmentConfig(), seed=0)
    item = dataset[0]
    assert item["points_m"].shape == (SMALL.num_points, 3)
    assert item["crop"].shape == (3, SMALL.crop_px, SMALL.crop_px) and item["crop"].dtype == torch.float32
    assert torch.allclose(item["points_m"].mean(0), torch.zeros(3), atol=1e-5)
    r = item["rotation"].double()
    assert torch.allclose(r.T @ r, torch.eye(3, dtype=torch.float64), atol=1e-5)
    # Same (seed, epoch, index) -> same augmentation; another epoch -> another one.
    assert torch.equal(dataset[0]["points_m"], item["points_m"])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0]["points_m"], item["points_m"])


def _mean_errors(model: Path, frames: list) -> tuple[float, float, float]:
    estimator = PoseEstimator.from_file(model, SamplerConfig(num_steps=3))
    errors = evaluate_with_gt_masks(frames, {"m": estimator.estimate_masks})["m"].errors
    return (
        float(np.mean([e.iou for e in errors])),
        float(np.mean([e.rotation_deg for e in errors])),
        float(np.mean([e.translation_cm for e in errors])),
    )


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_brief_training_beats_random_init_on_held_out_frames(
    tiny_objects: ObjectArrays, tmp_path: Path
) -> None:
    config = TrainConfig(steps=240, batch_size=16, warmup_steps=20, lr=2e-3, checkpoint_every=1000, seed=0)
    random_path = tmp_path / "random.pt"
    torch.manual_seed(0)
    untrained = PoseNetwork(SMALL)
    save_checkpoint(random_path, untrained, config, step=0)
    trained_path = tmp_path / "trained.pt"
    train(tiny_objects, trained_path, config, SMALL)
    held_out = _frames("val", 6, 1)
    iou_t, rot_t, trans_t = _mean_errors(trained_path, held_out)
    iou_r, rot_r, trans_r = _mean_errors(random_path, held_out)
    summary = f"trained {iou_t:.3f} {rot_t:.1f} {trans_t:.2f}; random {iou_r:.3f} {rot_r:.1f} {trans_r:.2f}"
    assert iou_t > iou_r + 0.15, summary
    assert rot_t < 0.85 * rot_r, summary
    assert trans_t < 0.6 * trans_r, summary


@pytest.mark.usefixtures("one_torch_thread")
def test_resume_continues_from_the_checkpoint(tiny_objects: ObjectArrays, tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    config = TrainConfig(steps=4, batch_size=4, noise_draws=1, warmup_steps=1, checkpoint_every=2, seed=3)
    train(tiny_objects, path, config, SMALL, max_seconds=0.0)  # stops after the first step
    assert load_checkpoint(path)["step"] == 1
    train(tiny_objects, path, config, SMALL, resume=True)
    payload = load_checkpoint(path)
    assert payload["step"] == 4 and "optimizer" in payload
