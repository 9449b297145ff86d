"""``diff9d grasp eval``: runs end to end on one scene and rejects unknown pose sources."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert "ground_truth" in text and "diff9d: not evaluated" in text


def test_hypotheses_must_be_positive() -> None:
    assert main(["grasp", "eval", "--scenes", "1", "--model", MODEL, "--hypotheses", "0"]) == 2


def test_grasp_eval_estimated_sources_on_val(tmp_path) -> None:
    """With a model, the estimated poses are planned with and without refinement on the same objects."""
    out = tmp_path / "trials.json"
    args = ["grasp", "eval", "--scenes", "1", "--split", "val", "--sources", "ground_truth"]
    assert main([*args, "--model", MODEL, "--hypotheses", "2", "--json", str(out)]) == 0
    trials = json.loads(out.read_text())
    objects = {
        s: sorted(t["object_name"] for t in trials if t["source"] == s) for s in {t["source"] for t in trials}
    }
    assert set(objects) == {"ground_truth", "diff9d", "diff9d_unrefined"}
    assert objects["diff9d"] == objects["diff9d_unrefined"] == objects["ground_truth"]
