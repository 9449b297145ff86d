"""The launch gate's rule (no ROS needed: events are stand-ins carrying the node name)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from diff9d_ros.ros import launch_gate
from diff9d_ros.ros.launch_gate import StartWhenActive, node_full_name

AWAITED = ["/d/pose_node", "/d/grasp_node"]


@pytest.fixture(autouse=True)
def plain_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch_gate, "_logger", lambda: logging.getLogger("diff9d.launch.test"))


def event(name: str) -> SimpleNamespace:
    """A launch context whose current event is a transition of the node ``name``."""
    return SimpleNamespace(
        locals=SimpleNamespace(event=SimpleNamespace(action=SimpleNamespace(node_name=name)))
    )


def test_node_full_name() -> None:
    assert node_full_name("diff9d", "pose_node") == "/diff9d/pose_node"
    assert node_full_name("/a/b/", "pose_node") == "/a/b/pose_node"
    assert node_full_name("", "pose_node") == "/pose_node"


def test_starts_once_when_every_awaited_node_is_active() -> None:
    gate = StartWhenActive(["play"], AWAITED, "the bag")
    assert gate.on_active(event("/d/pose_node")) == []
    assert gate.on_active(event("/other/grasp_node")) == []  # not awaited
    assert gate.on_active(event("/d/grasp_node")) == ["play"]
    assert gate.on_active(event("/d/grasp_node")) == [] and gate.on_deadline(None) == []


def test_waits_for_ready_and_counts_a_failed_activation(caplog: pytest.LogCaptureFixture) -> None:
    gate = StartWhenActive(["activate camera"], AWAITED, "the camera", ready=False)
    assert gate.on_active(event("/d/pose_node")) == []
    assert gate.on_failed(event("/d/grasp_node")) == []  # all settled, but the camera is not inactive yet
    with caplog.at_level(logging.WARNING, logger="diff9d.launch.test"):
        assert gate.on_ready(None) == ["activate camera"]
    assert "/d/grasp_node is not active (activation failed: /d/grasp_node)" in caplog.text


def test_the_deadline_starts_without_the_slow_node(caplog: pytest.LogCaptureFixture) -> None:
    gate = StartWhenActive(["play"], AWAITED, "the bag")
    gate.on_active(event("/d/grasp_node"))
    with caplog.at_level(logging.WARNING, logger="diff9d.launch.test"):
        assert gate.on_deadline(None) == ["play"]
    assert "/d/pose_node is not active (start_delay_s passed)" in caplog.text
    assert gate.on_active(event("/d/pose_node")) == []


def test_nothing_awaited_starts_when_ready() -> None:
    assert StartWhenActive(["play"], [], "the bag").on_ready(None) == ["play"]
