"""Node parameters without ROS: defaults, validation errors, and config/diff9d.yaml against the tables."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from diff9d_ros.pipeline import Pipeline, PipelineConfig
from diff9d_ros.ros.node_params import (
    NODE_PARAMS,
    ParamSpec,
    pipeline_config,
    realsense_config,
    validate_params,
)
from diff9d_ros.stages import build_stages

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


def test_pipeline_parameters_feed_pipeline_config_with_its_defaults() -> None:
    names = {f.name: f.default for f in fields(PipelineConfig)}
    for node in ("pose_node", "grasp_node", "forecast_node"):
        values = validate_params(node, _config_sections()[node])
        config = pipeline_config(values)
        for name, value in values.items():
            if name in names and value != "":
                assert getattr(config, name) == value, (node, name)
        for spec in NODE_PARAMS[node]:
            # one default differs on purpose: a node without a segmenter must not wait for masks
            if spec.name in names and spec.name != "use_given_masks":
                assert spec.default == names[spec.name], (
                    f"{node}.{spec.name}: default differs from PipelineConfig"
                )
    expected = {"pose_model_path", "device", "ddim_steps", "num_hypotheses", "grasp_urdf_path"}
    expected |= {"forecast_model_path", "forecast_horizon", "forecast_samples", "use_given_masks"}
    fed = {spec.name for node in NODE_PARAMS for spec in NODE_PARAMS[node] if spec.name in names}
    assert expected <= fed


def test_node_defaults_build_the_node_pipelines() -> None:
    pose = pipeline_config(validate_params("pose_node", {"pose_backend": "baseline"}))
    Pipeline(build_stages(pose, ["segmentation", "pose"]))
    grasp = pipeline_config(validate_params("grasp_node", {}))
    Pipeline(build_stages(grasp, ["grasp"]), inputs=("frame", "detections"))
    forecast = pipeline_config(validate_params("forecast_node", {"forecast_backend": "constant_velocity"}))
    Pipeline(build_stages(forecast, ["tracking", "forecast"]), inputs=("detections",))
