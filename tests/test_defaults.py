"""One source of defaults: PipelineConfig (and RealSenseConfig) feed the node parameters, the
``diff9d`` options and config/diff9d.yaml; the manual's generated tables equal the code's."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from diff9d_ros import cli, manual
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.ros.nodes.params import DIFFERS_FROM_PIPELINE, NODE_PARAMS, PIPELINE_DEFAULTS
from diff9d_ros.run_commands import OPTION_FIELDS
from diff9d_ros.sources.realsense import RealSenseConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def test_config_file_is_the_generated_one() -> None:
    text = (ROOT / "config" / "diff9d.yaml").read_text(encoding="utf-8")
    assert text == manual.config_yaml(), (
        "config/diff9d.yaml is stale: diff9d docs show yaml > config/diff9d.yaml"
    )


def test_node_parameters_take_pipeline_and_realsense_defaults() -> None:
    realsense = {f.name: f.default for f in fields(RealSenseConfig)}
    checked = set()
    for node, specs in NODE_PARAMS.items():
        for spec in specs:
            source = realsense if node == "camera_node" and spec.name in realsense else PIPELINE_DEFAULTS
            if spec.name in source and spec.name not in DIFFERS_FROM_PIPELINE:
                assert spec.default == source[spec.name], f"{node}.{spec.name}"
                checked.add(spec.name)
    assert {"ddim_steps", "forecast_horizon", "tracker_gate_m", "threads", "width", "fps"} <= checked
    assert (
        NODE_PARAMS["pose_node"][[s.name for s in NODE_PARAMS["pose_node"]].index("use_given_masks")].default
        is False
    )


@pytest.mark.parametrize("command", ["run", "demo", "eval-bag"])
def test_command_options_take_pipeline_defaults(command: str) -> None:
    args = cli.build_parser().parse_args([command, *(["BAG"] if command == "eval-bag" else [])])
    defaults = PipelineConfig()
    for dest, field in OPTION_FIELDS.items():
        assert getattr(args, dest) == getattr(defaults, field), f"{command} --{dest}"


def test_every_pipeline_field_reaches_a_node_or_an_option() -> None:
    declared = {spec.name for specs in NODE_PARAMS.values() for spec in specs}
    for field in fields(PipelineConfig):
        assert field.name in declared or field.name in OPTION_FIELDS.values(), field.name


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert "(default: 3)" in out and "(default: synthetic)" in out and "--threads" in out


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_docs_tables_are_the_generated_ones(path: Path) -> None:
    assert manual.stale_blocks(path) == [], f"run: diff9d docs update {path.relative_to(ROOT)}"


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# x\n<!-- diff9d:topics -->\n| old |\n<!-- /diff9d:topics -->\ntail\n", encoding="utf-8")
    assert manual.stale_blocks(page) == ["topics"]
    assert cli.main(["docs", "check", str(page)]) == 1
    assert cli.main(["docs", "update", str(page)]) == 0
    assert manual.stale_blocks(page) == [] and page.read_text(encoding="utf-8").endswith("tail\n")
    assert "`/diagnostics`" in page.read_text(encoding="utf-8")
    page.write_text("<!-- diff9d:nonsense -->\n<!-- /diff9d:nonsense -->\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown generated block 'nonsense'"):
        manual.stale_blocks(page)
