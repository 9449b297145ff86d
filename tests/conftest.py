"""Shared pytest configuration: the one-torch-thread fixture, and the ``ros`` marker's skip rule."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

HAVE_RCLPY = importlib.util.find_spec("rclpy") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_ros = pytest.mark.skip(
        reason="needs ROS 2: rclpy is not importable (source /opt/ros/<distro>/setup.bash to run it)"
    )
    for item in items:
        if "ros" in item.keywords and not HAVE_RCLPY:
            item.add_marker(skip_ros)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for the test, restored after it: small tensors on a busy 2-core
    machine stall for milliseconds in parallel regions (measured: 10x slower sampling with 2
    threads under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
