"""The nodes' console scripts without ROS 2: one line saying what to source, exit status 1."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from diff9d_ros.ros.node_main import NODES, run_node


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="ROS 2 is sourced here")
@pytest.mark.parametrize("node", NODES)
def test_node_without_ros_says_what_to_source(node: str) -> None:
    code = f"from diff9d_ros.ros.node_main import {node}; {node}()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"{node} needs ROS 2: source /opt/ros/<distro>/setup.bash (humble or jazzy), or the "
        "install/setup.bash of your workspace"
    ]


def test_setup_points_the_console_scripts_at_the_launcher() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "setup.py").read_text(encoding="utf-8")
    assert 'f"{name} = diff9d_ros.ros.node_main:{name}"' in text
    with pytest.raises(ValueError, match="unknown node"):
        run_node("lidar_node")
