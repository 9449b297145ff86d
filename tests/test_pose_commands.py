"""``diff9d pose train`` and ``diff9d pose eval`` end to end on a few synthetic shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diff9d_ros import cli
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.train import load_checkpoint
from diff9d_ros.synth.dataset import generate_dataset
from diff9d_ros.synth.noise import RandomizationConfig


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    config = RandomizationConfig.for_domain("realsense")
    intrinsics = Intrinsics.realsense_d435(320, 240)
    generate_dataset(
        root, 3, split="test", seed=4, config=config, intrinsics=intrinsics, workers=1, progress=False
    )
    return root


@pytest.mark.slow
def test_train_then_eval_writes_metrics_curves_and_overlays(shards: Path, tmp_path: Path) -> None:
    model = tmp_path / "pose.pt"
    args = ["pose", "train", "--data", str(shards), "--out", str(model), "--steps", "2", "--batch-size", "4"]
    assert cli.main(args) == 0
    assert load_checkpoint(model)["step"] == 2
    assert "optimizer" in load_checkpoint(model)  # a training checkpoint resumes with its optimiser
    assert (shards / "pose_objects_v2_n1024_s64.npz").exists()  # observed-object cache beside the shards
    shipped = tmp_path / "shipped.pt"
    assert cli.main(["pose", "export", "--checkpoint", str(model), "--out", str(shipped)]) == 0
    exported = load_checkpoint(shipped)
    assert "optimizer" not in exported and exported["step"] == 2
    assert shipped.stat().st_size < model.stat().st_size
    tuned = tmp_path / "tuned.pt"
    args = ["pose", "train", "--data", str(shards), "--out", str(tuned), "--steps", "1", "--batch-size", "4"]
    assert cli.main([*args, "--init", str(shipped), "--class-weight", "1.0", "--warmup-steps", "0"]) == 0
    tuned_payload = load_checkpoint(tuned)
    assert tuned_payload["step"] == 1 and tuned_payload["train_config"]["class_weight"] == 1.0
    for name, start in exported["state_dict"].items():  # started from the shipped weights, one step away
        if start.is_floating_point() and start.numel() > 1000:
            drift = (tuned_payload["state_dict"][name] - start).abs().max()
            assert 0 < drift < 0.05, name
    model = shipped
    out = tmp_path / "eval"
    assert (
        cli.main(
            [
                "pose",
                "eval",
                "--data",
                str(shards),
                "--model",
                str(model),
                "--out",
                str(out),
                "--overlays",
                "1",
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["gt_masks"]) == {"diff9d", "obb_baseline"}
    assert "mean" in report["gt_masks"]["diff9d"]["table"] and "mean" in report["segmentation_ap"]
    assert (out / "accuracy_curves.png").stat().st_size > 0
    assert len(list((out / "overlays").glob("*.png"))) == 2


def test_eval_rejects_a_corrupt_model(shards: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    with pytest.raises(ValueError, match="not a readable"):
        cli.main(["pose", "eval", "--data", str(shards), "--model", str(bad), "--out", str(tmp_path / "e")])
