"""Node parameters without ROS: defaults, validation errors, and config/diff9d.yaml against the tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diff9d_ros.ros.nodes.params import (
    NODE_PARAMS,
    ParamSpec,
    pipeline_config,
    realsense_config,
    validate_params,
)

CONFIG = Path(__file__).resolve().parent.parent / "config" / "diff9d.yaml"


@pytest.mark.parametrize("node", sorted(NODE_PARAMS))
def test_defaults_validate_and_every_parameter_is_described(node: str) -> None:
    values = validate_params(node, {})
    specs = NODE_PARAMS[node]
    assert set(values) == {spec.name for spec in specs}
    assert len(values) == len(specs), f"{node} declares a parameter twice"
    for spec in specs:
        assert spec.description.strip(), f"{node}.{spec.name} has no description"
        assert values[spec.name] == spec.default
        assert type(values[spec.name]) is spec.kind


@pytest.mark.parametrize(
    ("node", "values", "message"),
    [
        ("pose_node", {"ddim_steps": 0}, "'ddim_steps' must lie in [1, 1000], got 0"),
        ("pose_node", {"ddim_steps": 2.5}, "'ddim_steps' must be int"),
        ("pose_node", {"publish_tf": 1}, "'publish_tf' must be bool"),
        ("pose_node", {"reliability": "sometimes"}, "'reliability' must be one of"),
        ("pose_node", {"device": "gpu0"}, "'device' must be cpu, cuda, cuda:N or mps"),
        ("pose_node", {"ddim_step": 3}, "unknown parameter(s) ['ddim_step']"),
        ("pose_node", {"qos_depth": True}, "'qos_depth' must be int"),
        ("grasp_node", {"stamp_tolerance_s": -0.1}, "'stamp_tolerance_s' must lie in [0, 1]"),
        ("camera_node", {"fps": 25}, "'fps' must be one of 6, 15, 30, 60, 90"),
        ("camera_node", {"serial": "123", "recording": "x.bag"}, "either parameter 'serial' or 'recording'"),
        ("forecast_node", {"forecast_samples": 0}, "'forecast_samples' must lie in [1, 1000]"),
        ("people_forecast_node", {"people_temperature": 0.0}, "'people_temperature' must lie in [0.01, 10]"),
    ],
)
def test_bad_values_name_node_parameter_and_rule(node: str, values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=node) as error:
        validate_params(node, values)
    assert message in str(error.value)


def test_int_given_for_float_is_accepted_and_typed() -> None:
    values = validate_params("pose_node", {"sync_slop_s": 1, "use_sim_time": True})
    assert values["sync_slop_s"] == 1.0 and isinstance(values["sync_slop_s"], float)
    assert "use_sim_time" not in values  # rclpy's own parameter: accepted, not ours to declare


def test_unknown_node_and_bad_spec_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown node 'lidar_node'"):
        validate_params("lidar_node", {})
    with pytest.raises(ValueError, match=r"range .* is empty"):
        ParamSpec("x", 1, "x", range=(2, 1))
    with pytest.raises(ValueError, match="numeric default"):
        ParamSpec("x", "a", "x", range=(0, 1))


def test_camera_values_become_a_realsense_config() -> None:
    values = validate_params("camera_node", {"width": 848, "height": 480, "fps": 15, "serial": "f123"})
    config = realsense_config(values)
    assert (config.width, config.height, config.fps, config.serial) == (848, 480, 15, "f123")
    missing = validate_params("camera_node", {"recording": "/nonexistent/file.bag"})
    with pytest.raises(ValueError, match="recording file not found"):
        realsense_config(missing)


def _config_sections() -> dict[str, dict]:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    sections = {}
    for key, section in data.items():
        assert key.startswith("/**/"), f"{key}: use /**/<node> so any namespace matches"
        assert set(section) == {"ros__parameters"}, key
        sections[key.removeprefix("/**/")] = section["ros__parameters"]
    return sections


def test_config_file_sets_only_declared_parameters_with_valid_values() -> None:
    sections = _config_sections()
    assert set(sections) == set(NODE_PARAMS)
    for node, values in sections.items():
        validate_params(node, values)


def test_config_folder_holds_only_files() -> None:
    folder = CONFIG.parent
    assert all(path.is_file() for path in folder.iterdir()), "setup.py installs config/* flat"


def test_pipeline_parameters_feed_pipeline_config() -> None:
    """Values given to a node reach the PipelineConfig field of the same name; empty paths keep
    "the shipped file"."""
    changed = {"ddim_steps": 7, "num_hypotheses": 4, "seed": 9, "threads": 2, "pose_model_path": ""}
    config = pipeline_config(validate_params("pose_node", changed))
    assert (config.ddim_steps, config.num_hypotheses, config.seed, config.threads) == (7, 4, 9, 2)
    assert config.pose_model_path == "" and config.use_given_masks is False
    forecast = pipeline_config(
        validate_params("forecast_node", {"forecast_horizon": 5, "tracker_gate_m": 0.2})
    )
    assert (forecast.forecast_horizon, forecast.tracker_gate_m) == (5, 0.2)
