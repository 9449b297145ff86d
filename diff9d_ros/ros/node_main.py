"""Console scripts of the nodes (``pose_node`` ...): a one-line message, not a traceback,
where ROS 2 is not sourced.

The node modules import rclpy at the top; these entry points look for it first and, when it (or
another ROS 2 package a node needs) is missing, print what to do and exit with status 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

NODES: tuple[str, ...] = ("camera_node", "pose_node", "grasp_node", "forecast_node", "people_forecast_node")
HINT = "source /opt/ros/<distro>/setup.bash (humble or jazzy), or the install/setup.bash of your workspace"


def run_node(name: str, args: list[str] | None = None) -> None:
    """Import ``diff9d_ros.ros.nodes.<name>`` and run its ``main``; SystemExit(1) without ROS 2."""
    if name not in NODES:
        raise ValueError(f"unknown node {name!r}; nodes: {', '.join(NODES)}")
    if importlib.util.find_spec("rclpy") is None:
        sys.stderr.write(f"{name} needs ROS 2: {HINT}\n")
        raise SystemExit(1)
    try:
        module = importlib.import_module(f"diff9d_ros.ros.nodes.{name}")
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("diff9d_ros"):
            raise
        sys.stderr.write(f"{name} needs the ROS 2 package providing {error.name!r}: {HINT}\n")
        raise SystemExit(1) from error
    module.main(args)


def camera_node() -> None:
    run_node("camera_node")


def pose_node() -> None:
    run_node("pose_node")


def grasp_node() -> None:
    run_node("grasp_node")


def forecast_node() -> None:
    run_node("forecast_node")


def people_forecast_node() -> None:
    run_node("people_forecast_node")
