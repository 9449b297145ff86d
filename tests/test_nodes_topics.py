"""Topic wiring without ROS: every consumed topic is produced with the same type, types exist, QoS."""

from __future__ import annotations

import pytest

from diff9d_ros.ros.topics import (
    DIAGNOSTICS,
    NODE_TOPICS,
    RESULT_DEPTH,
    QosChoice,
    node_topics,
    qos_for,
    remappings,
    topic_spec,
)
from diff9d_ros.ros.typestore import get_typestore


def test_every_message_type_is_a_known_ros2_type() -> None:
    store = get_typestore()
    for node, specs in NODE_TOPICS.items():
        for spec in (*specs, DIAGNOSTICS):
            assert spec.msg_type in store.fielddefs, f"{node}: {spec.key} has unknown type {spec.msg_type}"


def test_required_inputs_are_produced_by_an_upstream_node_with_the_same_type() -> None:
    produced = {(t.key, t.msg_type) for specs in NODE_TOPICS.values() for t in specs if t.direction == "out"}
    for node in NODE_TOPICS:
        for spec in node_topics(node, "in"):
            if not spec.optional and not spec.external:
                assert (spec.key, spec.msg_type) in produced, f"{node} reads {spec.key} that no node writes"


def test_pose_and_grasp_read_exactly_what_the_camera_writes() -> None:
    camera = {(t.key, t.msg_type) for t in node_topics("camera_node", "out")}
    for node in ("pose_node", "grasp_node"):
        required = {
            (t.key, t.msg_type) for t in node_topics(node, "in") if t.msg_type.startswith("sensor_msgs")
        }
        assert {(k, m) for k, m in required if k.startswith(("rgb/", "depth/"))} == camera


def test_topic_keys_are_unique_per_node_and_relative_except_tf() -> None:
    for node, specs in NODE_TOPICS.items():
        keys = [t.key for t in specs]
        assert len(set(keys)) == len(keys), node
        assert all(not k.startswith("/") or k == "/tf" for k in keys), node


def test_qos_sensor_streams_follow_the_parameter_results_are_reliable() -> None:
    rgb = topic_spec("pose_node", "rgb/image")
    detections = topic_spec("pose_node", "detections")
    assert qos_for(rgb, "best_effort", 1) == QosChoice("best_effort", 1)
    assert qos_for(rgb, "reliable", 3) == QosChoice("reliable", 3)
    assert qos_for(detections, "best_effort", 1) == QosChoice("reliable", RESULT_DEPTH)
    with pytest.raises(ValueError, match="reliability must be one of"):
        qos_for(rgb, "fast", 1)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        QosChoice("reliable", 0)


def test_remappings_validate_keys_and_skip_identity() -> None:
    assert remappings("pose_node", {"rgb/image": "/camera/camera/color/image_raw", "depth/image": ""}) == [
        ("rgb/image", "/camera/camera/color/image_raw")
    ]
    assert remappings("forecast_node", {"detections": "detections"}) == []
    with pytest.raises(ValueError, match="forecast_node has no topic 'rgb/image'"):
        remappings("forecast_node", {"rgb/image": "x"})
    with pytest.raises(ValueError, match="unknown node"):
        node_topics("nope")
