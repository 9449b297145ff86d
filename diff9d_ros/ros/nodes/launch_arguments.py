"""Launch arguments of the diff9d nodes: one table of defaults and descriptions for every launch file.

``nodes.launch.py`` declares them all; ``robot``, ``sim`` and ``bag`` declare the ones they pass on
to it, so a default is written once; :func:`rviz_actions` is their common optional RViz. ``launch``
is imported only when actions are built, so the table itself loads without ROS.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

#: name -> (default, description) of every argument of ``nodes.launch.py``.
NODE_ARGUMENTS: dict[str, tuple[str, str]] = {
    "namespace": ("diff9d", "namespace of every node and of its relative topics"),
    "params_file": ("", "node parameters YAML (default: config/diff9d.yaml of the package)"),
    "use_sim_time": ("false", "use /clock (Gazebo, ros2 bag play --clock)"),
    "device": ("", "torch device of the pose and forecast models (cpu, cuda, cuda:N; empty = YAML)"),
    "pose_model_path": ("", "Diff9D checkpoint (empty = YAML / the shipped model)"),
    "forecast_model_path": ("", "GeoTDM checkpoint (empty = YAML / the shipped model)"),
    "frame_id_override": ("", "frame of the pose results instead of the image's (Gazebo: an optical frame)"),
    "rgb_topic": ("rgb/image", "colour image topic"),
    "depth_topic": ("depth/image", "depth image aligned to colour"),
    "camera_info_topic": ("rgb/camera_info", "CameraInfo of the colour camera"),
    "rgb_transport": ("", "colour input: raw or compressed (empty = YAML: raw)"),
    "depth_transport": ("", "depth input: raw or compressedDepth (empty = YAML: raw)"),
    "detections_topic": ("detections", "pose node output, grasp node input"),
    "grasp_input_topic": (
        "",
        "grasp node input (empty = detections_topic); tracks: the forecast node's detections, whose track "
        "ids name the objects of ~/plan_grasps",
    ),
    "forecast_input_topic": ("detections", "forecast node input: object detections (people: use_people)"),
    "use_camera": ("false", "start camera_node (RealSense)"),
    "use_pose": ("true", "start pose_node"),
    "use_grasp": ("true", "start grasp_node"),
    "use_forecast": ("true", "start forecast_node"),
    "use_people": ("false", "start people_forecast_node"),
    "people_topic": ("/people", "people_forecast_node input: person Detection3DArray, any frame"),
    "people_model_path": ("", "planar GeoTDM checkpoint of people_forecast_node (empty = YAML / shipped)"),
    "fixed_frame": ("", "frame people are forecast in (map, odom; empty = YAML)"),
    "tracking_frame": (
        "",
        "fixed frame forecast_node tracks objects in through tf2, for a moving camera (odom, map; empty = "
        "YAML: the camera frame)",
    ),
    "start_delay_s": (
        "60.0",
        "the camera (or bag playback) starts when pose, grasp and forecast node are active or failed, "
        "or after this many seconds",
    ),
    "log_level": ("info", "log level of the nodes"),
}


def node_arguments(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The rows of :data:`NODE_ARGUMENTS` for ``names`` (KeyError names an unknown argument)."""
    return {name: NODE_ARGUMENTS[name] for name in names}


def declare(arguments: Mapping[str, tuple[str, str]]) -> list[Any]:
    """``DeclareLaunchArgument`` actions for {name: (default, description)}."""
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in arguments.items()
    ]


def rviz_actions(share: str, default: str, use_sim_time: bool) -> list[Any]:
    """The ``rviz`` argument (default ``default``) and the RViz node on ``config/diff9d.rviz`` of the
    package share folder ``share``, started when the argument is true."""
    from launch.actions import DeclareLaunchArgument
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    return [
        DeclareLaunchArgument(
            "rviz", default_value=default, description="start RViz with config/diff9d.rviz"
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            arguments=["-d", os.path.join(share, "config", "diff9d.rviz")],
            parameters=[{"use_sim_time": use_sim_time}],
            condition=IfCondition(LaunchConfiguration("rviz")),
            output="screen",
        ),
    ]


#: The camera topic arguments and the image keys of :class:`~diff9d_ros.sources.bag.RgbdTopics`.
CAMERA_TOPIC_ARGUMENTS: dict[str, str] = {
    "rgb_topic": "rgb",
    "depth_topic": "depth",
    "camera_info_topic": "info",
}


def bag_topic_arguments(bag: str, given: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Camera topic (and transport) arguments for replaying ``bag``, and a line saying what was chosen.

    Arguments the user set (not their default) are kept; the others come from the first topic
    preset the bag's metadata fits (realsense-ros 4.x, ``diff9d synth bag``, Gazebo), compressed
    variants included. ValueError when the bag cannot be read; when no preset fits, the defaults stay
    and the line lists the bag's topics.
    """
    from diff9d_ros.bag.io import bag_topics
    from diff9d_ros.sources.bag import COMPRESSED_SUFFIXES, match_topics, present_topics

    available = bag_topics(bag)
    defaults = {name: NODE_ARGUMENTS[name][0] for name in CAMERA_TOPIC_ARGUMENTS}
    explicit = {
        key: given[name] for name, key in CAMERA_TOPIC_ARGUMENTS.items() if given[name] != defaults[name]
    }
    topics = present_topics(match_topics(available, "auto", **explicit), available)
    if topics is None:
        listed = ", ".join(f"{t} ({m.split('/')[-1]})" for t, m in sorted(available.items())) or "none"
        return dict(given), (
            f"bag {bag}: no preset's camera topics found; it has {listed}: "
            "give rgb_topic:=, depth_topic:=, camera_info_topic:="
        )
    out = {name: getattr(topics, key) for name, key in CAMERA_TOPIC_ARGUMENTS.items()}
    out["rgb_transport"] = "compressed" if topics.rgb.endswith(COMPRESSED_SUFFIXES["rgb"]) else "raw"
    out["depth_transport"] = (
        "compressedDepth" if topics.depth.endswith(COMPRESSED_SUFFIXES["depth"]) else "raw"
    )
    return out, f"bag {bag}: camera topics {topics.rgb}, {topics.depth}, {topics.info}"
