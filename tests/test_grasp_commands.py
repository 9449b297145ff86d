"""``diff9d grasp eval``: runs end to end on one scene and rejects unknown pose sources."""

from __future__ import annotations

import json

import pytest

from diff9d_ros.cli import main


def test_unknown_pose_source_is_an_error() -> None:
    assert main(["grasp", "eval", "--scenes", "1", "--sources", "oracle"]) == 2


@pytest.mark.slow
def test_grasp_eval_one_scene(tmp_path, capsys) -> None:
    out = tmp_path / "trials.json"
    assert main(["grasp", "eval", "--scenes", "1", "--sources", "ground_truth", "--json", str(out)]) == 0
    trials = json.loads(out.read_text())
    assert trials and all(t["source"] == "ground_truth" for t in trials)
    assert all(isinstance(t["success"], bool) for t in trials)
    text = capsys.readouterr().out
    assert "ground_truth" in text and "diff9d: not available" in text
