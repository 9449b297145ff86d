"""Replay a rosbag2 recording through the perception nodes on the bag's clock.

    ros2 launch diff9d_ros bag.launch.py bag:=PATH [rgb_topic:=/camera/camera/color/image_raw ...]

``ros2 bag play --clock`` publishes /clock from the recording and every node runs with
``use_sim_time``, so stale-frame checks and stamps follow the bag, not the wall clock. Playback
starts ``start_delay_s`` after launch so the models are loaded before the first frame.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PASSED_ON = (
    "namespace",
    "params_file",
    "device",
    "pose_model_path",
    "forecast_model_path",
    "rgb_topic",
    "depth_topic",
    "camera_info_topic",
    "log_level",
)


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diff9d_ros")
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in PASSED_ON},
            "use_camera": "false",
            "use_sim_time": "true",
        }.items(),
    )
    play = ExecuteProcess(
        cmd=[
            "ros2",
            "bag",
            "play",
            LaunchConfiguration("bag"),
            "--clock",
            "--rate",
            LaunchConfiguration("rate"),
        ],
        output="screen",
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 folder to play (mcap or sqlite3)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            DeclareLaunchArgument(
                "start_delay_s", default_value="5.0", description="wait before playing (model loading)"
            ),
            DeclareLaunchArgument("namespace", default_value="diff9d", description="namespace of the nodes"),
            DeclareLaunchArgument("params_file", default_value="", description="parameters YAML"),
            DeclareLaunchArgument("device", default_value="", description="torch device (cpu, cuda, cuda:N)"),
            DeclareLaunchArgument("pose_model_path", default_value="", description="Diff9D checkpoint"),
            DeclareLaunchArgument("forecast_model_path", default_value="", description="GeoTDM checkpoint"),
            DeclareLaunchArgument("rgb_topic", default_value="rgb/image", description="colour image topic"),
            DeclareLaunchArgument("depth_topic", default_value="depth/image", description="aligned depth"),
            DeclareLaunchArgument(
                "camera_info_topic", default_value="rgb/camera_info", description="colour CameraInfo"
            ),
            DeclareLaunchArgument("log_level", default_value="info", description="log level of the nodes"),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="start RViz with config/diff9d.rviz"
            ),
            nodes,
            TimerAction(period=LaunchConfiguration("start_delay_s"), actions=[play]),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", os.path.join(share, "config", "diff9d.rviz")],
                parameters=[{"use_sim_time": True}],
                condition=IfCondition(LaunchConfiguration("rviz")),
                output="screen",
            ),
        ]
    )
