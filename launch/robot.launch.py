"""Robot bring-up: RealSense camera_node, robot_state_publisher with the URDF, the perception nodes, RViz.

    ros2 launch diff9d_ros robot.launch.py [device:=cuda] [serial:=...] [rviz:=false]

The camera publishes in the URDF's ``camera_color_optical_frame``, so detections, grasps and
forecasts land in the robot's TF tree (base_link -> camera_link -> camera_color_optical_frame).
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from diff9d_ros.ros.nodes.launch_arguments import declare, node_arguments, rviz_actions

PASSED_ON = (
    "namespace",
    "params_file",
    "device",
    "pose_model_path",
    "forecast_model_path",
    "rgb_topic",
    "depth_topic",
    "camera_info_topic",
    "grasp_input_topic",
    "tracking_frame",
    "log_level",
)


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diff9d_ros")
    with open(os.path.join(share, "urdf", "diff9d_robot.urdf"), encoding="utf-8") as handle:
        robot_description = handle.read()
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in PASSED_ON},
            "use_camera": "true",
            "use_sim_time": "false",
        }.items(),
    )
    return LaunchDescription(
        [
            *declare(node_arguments(PASSED_ON)),
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                parameters=[{"robot_description": robot_description}],
                output="screen",
            ),
            nodes,
            *rviz_actions(share, default="true", use_sim_time=False),
        ]
    )
