"""Replay a rosbag2 recording through the perception nodes on the bag's clock.

    ros2 launch diff9d_ros bag.launch.py bag:=PATH [rgb_topic:=/camera/camera/color/image_raw ...]

The camera topics are read from the bag's metadata: unless given, they are those of the first
preset the bag has (realsense-ros 4.x ``/camera/camera/...``, ``diff9d synth bag``'s
``/camera/color/...``, Gazebo's ``/rgbd_camera/...``; compressed variants too), and the launch
says which it chose or lists the bag's topics. A node that hears nothing ``no_input_warn_s`` after
activation names the topics it waits on and those that are published.
``ros2 bag play --clock`` publishes /clock from the recording and every node runs with
``use_sim_time``, so stale-frame checks and stamps follow the bag, not the wall clock. Playback
starts once every enabled node is active (models loaded, subscriptions made), so no frame of the
bag is played to a node still loading; a node whose activation failed is not waited for, and after
``start_delay_s`` the bag is played anyway; both with a warning naming the nodes that are not active.
"""

from __future__ import annotations

import os

import launch.logging
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from diff9d_ros.ros.launch_gate import StartWhenActive, node_full_name
from diff9d_ros.ros.nodes.launch_arguments import bag_topic_arguments, declare, node_arguments, rviz_actions

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
    "rgb_transport",
    "depth_transport",
    "log_level",
    "use_pose",
    "use_grasp",
    "use_forecast",
    "start_delay_s",
)
#: The nodes playback waits for and the launch arguments that enable them.
NODE_FLAGS = {"pose_node": "use_pose", "grasp_node": "use_grasp", "forecast_node": "use_forecast"}


def _setup(context: LaunchContext) -> list:
    """nodes.launch.py with the camera topics of the bag (see the module docstring), and the player
    started once the enabled nodes are active."""
    share = get_package_share_directory("diff9d_ros")
    arguments = {name: context.perform_substitution(LaunchConfiguration(name)) for name in PASSED_ON}
    bag = context.perform_substitution(LaunchConfiguration("bag"))
    try:
        topics, note = bag_topic_arguments(bag, arguments)
    except ValueError as error:
        raise RuntimeError(str(error)) from error
    launch.logging.get_logger("bag.launch").info(note)
    arguments.update(topics)
    awaited = [
        node_full_name(arguments["namespace"], name)
        for name, flag in NODE_FLAGS.items()
        if arguments[flag].lower() == "true"
    ]
    loop = context.perform_substitution(LaunchConfiguration("loop")).lower() == "true"
    playback = StartWhenActive([_player(loop)], awaited, "the bag")
    return [
        *playback.handlers(float(arguments["start_delay_s"])),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
            launch_arguments={**arguments, "use_camera": "false", "use_sim_time": "true"}.items(),
        ),
        *playback.on_ready(context),  # at once when no node is enabled
    ]


def _player(loop: bool) -> ExecuteProcess:
    """``ros2 bag play`` of the ``bag`` argument on its own /clock, once or in a ``loop``."""
    return ExecuteProcess(
        cmd=[
            "ros2",
            "bag",
            "play",
            LaunchConfiguration("bag"),
            "--clock",
            "--rate",
            LaunchConfiguration("rate"),
            "--disable-keyboard-controls",  # launch owns the terminal (Ctrl-C), not the player
            *(["--loop"] if loop else []),
        ],
        output="screen",
    )


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diff9d_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 folder to play (mcap or sqlite3)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            DeclareLaunchArgument(
                "loop",
                default_value="false",
                description="play the bag again and again (time jumps back at each start; tracks start over)",
            ),
            *declare(node_arguments(PASSED_ON)),
            OpaqueFunction(function=_setup),
            *rviz_actions(share, default="false", use_sim_time=True),
        ]
    )
