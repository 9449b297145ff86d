"""Shared pytest configuration: deterministic torch, and the ``ros`` marker's skip rule."""

from __future__ import annotations

import importlib.util

import pytest

HAVE_RCLPY = importlib.util.find_spec("rclpy") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_ros = pytest.mark.skip(
        reason="needs ROS 2 (rclpy, launch_ros): not installed here; run where a ROS 2 distro is sourced"
    )
    for item in items:
        if "ros" in item.keywords and not HAVE_RCLPY:
            item.add_marker(skip_ros)
