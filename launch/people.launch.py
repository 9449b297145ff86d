"""Forecast people: people_forecast_node on live person detections or on a recorded bag.

    ros2 launch diff9d_ros people.launch.py                       # live: person Detection3DArray on /people
    ros2 launch diff9d_ros people.launch.py bag:=zara1_bag [loop:=true] [rate:=2.0] [rviz:=true]

With a bag (e.g. one written by ``diff9d traj bag --scene zara1 --out zara1_bag``), the node runs on
the bag's clock (``use_sim_time``; the bag carries ``/clock``, or pass ``player_clock:=true`` to
let the player publish one) and ``ros2 bag play`` starts once the node is active, so no message is
played to a node still loading its model. ``loop:=true`` plays the bag in a loop (``-l``); the node
starts its tracks over when the clock jumps back.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.event_handlers import OnStateTransition

from diff9d_ros.ros.nodes.launch_arguments import declare, node_arguments, rviz_actions

PASSED_ON = (
    "namespace",
    "params_file",
    "device",
    "people_model_path",
    "fixed_frame",
    "people_topic",
    "log_level",
)


def _play(context: LaunchContext) -> list:
    """``ros2 bag play`` of the ``bag`` argument (nothing without one)."""
    bag = context.perform_substitution(LaunchConfiguration("bag"))
    if not bag:
        return []
    cmd = ["ros2", "bag", "play", bag, "--rate", context.perform_substitution(LaunchConfiguration("rate"))]
    if context.perform_substitution(LaunchConfiguration("loop")).lower() == "true":
        cmd.append("--loop")
    if context.perform_substitution(LaunchConfiguration("player_clock")).lower() == "true":
        cmd.append("--clock")
    cmd.append("--disable-keyboard-controls")  # launch owns the terminal (Ctrl-C), not the player
    return [ExecuteProcess(cmd=cmd, output="screen")]


def _nodes(context: LaunchContext) -> list:
    share = get_package_share_directory("diff9d_ros")
    with_bag = bool(context.perform_substitution(LaunchConfiguration("bag")))
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
            launch_arguments={
                **{name: LaunchConfiguration(name) for name in PASSED_ON},
                "use_camera": "false",
                "use_pose": "false",
                "use_grasp": "false",
                "use_forecast": "false",
                "use_people": "true",
                "use_sim_time": "true" if with_bag else "false",
            }.items(),
        ),
        *rviz_actions(share, default="false", use_sim_time=with_bag),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", default_value="", description="people bag to play (empty: live)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            DeclareLaunchArgument("loop", default_value="false", description="play the bag in a loop"),
            DeclareLaunchArgument(
                "player_clock", default_value="false", description="player publishes /clock (bag has none)"
            ),
            *declare(node_arguments(PASSED_ON)),
            RegisterEventHandler(
                OnStateTransition(goal_state="active", entities=[OpaqueFunction(function=_play)])
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
