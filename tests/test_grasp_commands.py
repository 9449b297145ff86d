"""``diff9d grasp eval``: end to end on one scene, on a mesh, per-family grouping, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diff9d_ros.cli import main

MODEL = str(Path(__file__).resolve().parents[1] / "models" / "diff9d_pose.pt")


def test_unknown_pose_source_is_an_error() -> None:
    assert main(["grasp", "eval", "--scenes", "1", "--sources", "oracle"]) == 2


def test_grasp_eval_one_scene(tmp_path, capsys) -> None:
    out = tmp_path / "trials.json"
    assert main(["grasp", "eval", "--scenes", "1", "--sources", "ground_truth", "--json", str(out)]) == 0
    trials = json.loads(out.read_text())
    assert trials and all(t["source"] == "ground_truth" for t in trials)
    assert all(isinstance(t["success"], bool) for t in trials)
    text = capsys.readouterr().out
    assert "ground_truth" in text and "diff9d, pipeline: not evaluated" in text


def test_hypotheses_must_be_positive() -> None:
    assert main(["grasp", "eval", "--scenes", "1", "--model", MODEL, "--hypotheses", "0"]) == 2


def test_grasp_eval_estimated_sources_on_val(tmp_path) -> None:
    """With a model, the estimated poses are planned with and without refinement, and the pipeline's
    (own segmentation and table plane), on the same objects."""
    out = tmp_path / "trials.json"
    args = ["grasp", "eval", "--scenes", "1", "--split", "val", "--sources", "ground_truth"]
    assert main([*args, "--model", MODEL, "--hypotheses", "2", "--json", str(out)]) == 0
    trials = json.loads(out.read_text())
    objects = {
        s: sorted(t["object_name"] for t in trials if t["source"] == s) for s in {t["source"] for t in trials}
    }
    assert set(objects) == {"ground_truth", "diff9d", "diff9d_unrefined", "pipeline"}
    assert objects["diff9d"] == objects["diff9d_unrefined"] == objects["pipeline"] == objects["ground_truth"]


def test_mesh_folder_errors_name_the_problem(tmp_path) -> None:
    assert main(["grasp", "eval", "--meshes", str(tmp_path)]) == 2  # no manifest.json
    (tmp_path / "manifest.json").write_text('[{"file": "tin.ply", "category": "can"}]')
    assert main(["grasp", "eval", "--meshes", str(tmp_path)]) == 2  # axes missing
    (tmp_path / "manifest.json").write_text("not json")
    assert main(["grasp", "eval", "--meshes", str(tmp_path)]) == 2


def test_summary_groups_by_family_where_there_is_one() -> None:
    from diff9d_ros.grasp.evaluate import GraspTrial, summarise

    trials = [
        GraspTrial(0, "can_1", "can", "ground_truth", True, True, 5.0, family="wide"),
        GraspTrial(0, "can_2", "can", "ground_truth", True, False, 7.0, family="wide"),
        GraspTrial(0, "can_3", "can", "ground_truth", False, False, 3.0),
        GraspTrial(0, "mug_4", "mug", "ground_truth", True, True, 9.0),
    ]
    rows = {r["group"]: r for r in summarise(trials, ("ground_truth",))}
    assert set(rows) == {"wide", "can", "mug", "all"}
    assert rows["wide"]["success_rate"] == 0.5 and rows["wide"]["planned_success_rate"] == 0.5
    assert rows["can"]["planned"] == 0 and rows["all"]["attempts"] == 4
    assert rows["all"]["median_planning_ms"] == 6.0


@pytest.mark.slow
def test_library_mesh_is_evaluated_alone_among_clutter() -> None:
    """A wide tin placed among val clutter: only it is evaluated, per view, under its family."""
    from diff9d_ros.grasp.evaluate import LibraryMesh, evaluate_meshes
    from diff9d_ros.grasp.shapes import food_tin

    tin = food_tin(0.087, 0.04)
    record = LibraryMesh("can", tin, tin.extents, "wide_tin", "307x109")
    trials = evaluate_meshes([record], views=2, split="val", sources=("ground_truth",), progress=False)
    assert len(trials) == 2
    assert all(t.family == "wide_tin" and t.instance == "307x109" and t.category == "can" for t in trials)
    assert any(t.planned and t.grasp_family == "rim" for t in trials)
