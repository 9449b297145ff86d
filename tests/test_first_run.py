"""What a new user runs first: the default pipeline on one rendered frame, `diff9d demo` at smoke
size, and the README's Python snippet, each with the shipped models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from diff9d_ros.pipeline import STAGE_NAMES, Pipeline, PipelineConfig
from diff9d_ros.sources.synthetic import SyntheticSource
from diff9d_ros.stages import build_stages

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_default_config_runs_every_stage_with_the_shipped_models() -> None:
    stages = build_stages(PipelineConfig(), list(STAGE_NAMES))
    names = {stage.name: getattr(stage, "backend_name", "") for stage in stages}
    assert names["pose"].startswith("diff9d"), names
    assert "constant_velocity" not in names["forecast"], names
    item = next(iter(SyntheticSource(seconds=0.1, objects=(3, 3))))
    state = Pipeline(stages).process(0, item.frame)
    assert state.error is None, state.error
    assert len(state.detections) >= 2
    assert state.grasps is not None


def test_demo_at_smoke_size_writes_its_report(tmp_path: Path) -> None:
    from diff9d_ros.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--seconds", "0.3", "--out", str(out), "--overlays", "1"]) == 0
    throughput = json.loads((out / "report.json").read_text())["metrics"]["throughput"]
    assert throughput["processed"] == throughput["frames_in"] >= 2, throughput
    assert (out / "report.md").is_file() and any((out / "bag").iterdir())


def test_readme_python_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README has no Python snippet"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(ROOT / "models")
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert any((tmp_path / "diff9d_out" / "python").iterdir())
