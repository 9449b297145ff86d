"""Your own meshes on the pose side: ``diff9d pose eval --meshes``, ``diff9d pose finetune``, the
per-group metrics and mesh folders written from meshes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros import cli
from diff9d_ros.pose.metrics import PoseError, group_accuracy
from diff9d_ros.pose.train import load_checkpoint
from diff9d_ros.synth.library import write_folder
from diff9d_ros.synth.meshes import CategoryMesh, instance_mesh, split_ids

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "diff9d_pose.pt"
MESHES = ROOT / "tests" / "data" / "meshes"
MESH_FILES = {"camera_zup.obj", "can_ydown_cm.obj", "mug_zup_mm.obj", "sauce_bottle_xfront.obj"}


def test_group_accuracy_counts_each_group() -> None:
    errors = [
        PoseError("can", 0.9, 3.0, 1.0),  # passes everything
        PoseError("can", 0.3, 30.0, 1.0),  # IoU25 only
        PoseError("mug", 0.6, 8.0, 4.0),  # IoU50, 10deg5cm
    ]
    table = group_accuracy(errors, ["can/squat", "can/squat", "mug/bell"])
    assert table["can/squat"]["objects"] == 2 and table["mug/bell"]["objects"] == 1
    assert table["can/squat"]["IoU25"] == 100.0 and table["can/squat"]["10deg5cm"] == 50.0
    assert table["mug/bell"]["10deg5cm"] == 100.0 and table["mug/bell"]["5deg5cm"] == 0.0
    with pytest.raises(ValueError, match="2 group names"):
        group_accuracy(errors, ["a", "b"])


def test_write_folder_round_trips_procedural_meshes(tmp_path: Path) -> None:
    meshes = [instance_mesh(c, split_ids("ood").start) for c in ("mug", "can")]
    library = write_folder(meshes, tmp_path / "held_out")
    assert (tmp_path / "held_out" / "meshes.yaml").is_file()
    assert [e.family for e in library.entries] == [m.family for m in meshes] == ["bell", "squat_small"]
    for k, mesh in enumerate(meshes):
        assert np.allclose(library.mesh(k).size_m, mesh.size_m, atol=1e-6)
    assert library.mesh(0).name == Path(library.entries[0].file).stem


def test_from_trimesh_checks_and_names_a_mesh_built_in_code() -> None:
    from diff9d_ros.grasp.shapes import food_tin

    tin = CategoryMesh.from_trimesh(food_tin(0.087, 0.04), "can", name="307x109", family="wide_tin")
    assert tin.name == "307x109" and tin.family == "wide_tin"
    assert np.allclose(tin.size_m, [0.087, 0.04, 0.087], atol=1e-6)
    assert np.allclose(tin.mesh.bounds.mean(axis=0), 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="implausible"):
        CategoryMesh.from_trimesh(food_tin(0.087, 0.04).apply_scale(10.0), "can", name="huge")


def test_eval_needs_data_or_meshes_and_a_mesh_folder(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli.main(["pose", "eval", "--model", str(MODEL)])
    with pytest.raises(ValueError, match=r"has no meshes\.yaml"):
        cli.main(["pose", "eval", "--meshes", str(tmp_path), "--model", str(MODEL)])


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_eval_on_a_mesh_folder_reports_per_mesh_and_family(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["pose", "eval", "--meshes", str(MESHES), "--model", str(MODEL), "--frames", "3", "--seed", "5"]
    assert cli.main([*args, "--out", str(out), "--overlays", "0", "--no-segmentation"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["frames"] == 3 and report["seed"] == 5
    diff9d = report["gt_masks"]["diff9d"]
    assert set(diff9d["per_instance"]) <= MESH_FILES and diff9d["per_instance"]
    families = {"mug/test_tall", "camera/test_action", "bottle/test_sauce", "can/test_beverage_sleek"}
    assert set(diff9d["per_family"]) <= families
    counted = sum(row["objects"] for row in diff9d["per_instance"].values())
    assert counted == sum(row["objects"] for row in diff9d["per_family"].values()) > 0


def test_finetune_rejects_bad_input_before_rendering(tmp_path: Path) -> None:
    out = tmp_path / "tuned.pt"
    base = ["pose", "finetune", "--out", str(out), "--model", str(MODEL)]
    assert cli.main([*base, "--meshes", str(tmp_path)]) == 2  # no meshes.yaml
    assert cli.main([*base, "--meshes", str(MESHES), "--steps", "0"]) == 2
    assert cli.main([*base, "--meshes", str(MESHES), "--eval-frames", "0"]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    assert cli.main([*base[:-1], str(bad), "--meshes", str(MESHES)]) == 2
    assert not out.exists() and not (tmp_path / "tuned.pt.work" / "frames").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_finetune_trains_from_the_model_exports_and_resumes(tmp_path: Path) -> None:
    """A tiny fine-tune: starts from the shipped weights and normalisation, exports without optimiser
    state, reports before/after per mesh; a second call resumes and reuses the rendered frames."""
    meshes = tmp_path / "meshes"
    shutil.copytree(MESHES, meshes)
    out = tmp_path / "tuned.pt"
    small = ["--frames", "2", "--eval-frames", "1", "--batch-size", "4", "--seed", "3"]
    args = ["pose", "finetune", "--meshes", str(meshes), "--out", str(out), "--model", str(MODEL), *small]
    assert cli.main([*args, "--steps", "2"]) == 0
    tuned, shipped = load_checkpoint(out), load_checkpoint(MODEL)
    assert tuned["step"] == 2 and "optimizer" not in tuned
    assert tuned["network_config"] == shipped["network_config"]
    assert tuned["train_config"]["schedule"] == shipped["train_config"]["schedule"]
    codec = [k for k in shipped["state_dict"] if k.startswith("codec.")]
    assert codec and all(torch.equal(tuned["state_dict"][k], shipped["state_dict"][k]) for k in codec)
    assert any(not torch.equal(tuned["state_dict"][k], v) for k, v in shipped["state_dict"].items())
    assert tuned["top_end"] == shipped["top_end"]  # the top-end rules read points: they go with the weights
    report = json.loads((tmp_path / "tuned.pt.finetune.json").read_text())
    assert set(report["results"]) == {"before", "after"}
    assert set(report["results"]["before"]) - {"mean"} <= MESH_FILES
    frames_index = tmp_path / "tuned.pt.work" / "frames" / "index.json"
    written = frames_index.stat().st_mtime_ns
    assert cli.main([*args, "--steps", "4"]) == 0
    assert load_checkpoint(out)["step"] == 4
    assert frames_index.stat().st_mtime_ns == written  # same frames, not rendered again
