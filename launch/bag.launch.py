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
bag is played to a node still loading; if a node has not become active after ``start_delay_s``
(its activation failed, or loading is slower than that), the bag is played anyway, with a warning.
"""

from __future__ import annotations

import os

import launch.logging
from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
    TimerAction,
)
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.event_handlers import OnStateTransition

from diff9d_ros.ros.launch_arguments import bag_topic_arguments, declare, node_arguments, rviz_actions

PASSED_ON = (
    "namespace",
    "params_file",
    "device",
    "pose_model_path",
    "forecast_model_path",
    "rgb_topic",
    "depth_topic",
    "camera_info_topic",
    "rgb_transport",
    "depth_transport",
    "log_level",
    "use_pose",
    "use_grasp",
    "use_forecast",
)
#: Launch arguments that enable a node; playback waits for each enabled one to be active.
NODE_FLAGS = ("use_pose", "use_grasp", "use_forecast")


class PlayWhenActive:
    """Starts ``ros2 bag play`` once: when every enabled node is active, or at the deadline."""

    def __init__(self, play: ExecuteProcess) -> None:
        self.play = play
        self.active: set[str] = set()
        self.started = False

    def _start(self) -> list:
        if self.started:
            return []
        self.started = True
        return [self.play]

    def on_launch(self, context: LaunchContext) -> list:
        """Play at once when no node is enabled."""
        return self._start() if _enabled_nodes(context) == 0 else []

    def on_active(self, context: LaunchContext) -> list:
        """A node reached ``active`` (``context.locals.event``): play when it was the last one."""
        self.active.add(context.locals.event.action.node_name)
        return self._start() if len(self.active) >= _enabled_nodes(context) else []

    def on_deadline(self, context: LaunchContext) -> list:
        """``start_delay_s`` passed: play, saying which nodes are not active yet."""
        if not self.started:
            launch.logging.get_logger("bag.launch").warning(
                f"playing the bag although only {sorted(self.active) or 'no node'} became active "
                f"within start_delay_s={context.perform_substitution(LaunchConfiguration('start_delay_s'))}"
            )
        return self._start()


def _enabled_nodes(context: LaunchContext) -> int:
    """How many of pose, grasp and forecast node this launch starts."""
    return sum(
        context.perform_substitution(LaunchConfiguration(flag)).lower() == "true" for flag in NODE_FLAGS
    )


def _nodes(context: LaunchContext) -> list:
    """nodes.launch.py with the camera topics of the bag (see the module docstring)."""
    share = get_package_share_directory("diff9d_ros")
    arguments = {name: context.perform_substitution(LaunchConfiguration(name)) for name in PASSED_ON}
    bag = context.perform_substitution(LaunchConfiguration("bag"))
    try:
        topics, note = bag_topic_arguments(bag, arguments)
    except ValueError as error:
        raise RuntimeError(str(error)) from error
    launch.logging.get_logger("bag.launch").info(note)
    arguments.update(topics)
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
            launch_arguments={**arguments, "use_camera": "false", "use_sim_time": "true"}.items(),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diff9d_ros")
    play = ExecuteProcess(
        cmd=[
            "ros2",
            "bag",
            "play",
            LaunchConfiguration("bag"),
            "--clock",
            "--rate",
            LaunchConfiguration("rate"),
            "--disable-keyboard-controls",  # launch owns the terminal (Ctrl-C), not the player
        ],
        output="screen",
    )
    playback = PlayWhenActive(play)
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 folder to play (mcap or sqlite3)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            DeclareLaunchArgument(
                "start_delay_s",
                default_value="30.0",
                description="longest wait for the nodes to become active before playing anyway",
            ),
            *declare(node_arguments(PASSED_ON)),
            RegisterEventHandler(
                OnStateTransition(goal_state="active", entities=[OpaqueFunction(function=playback.on_active)])
            ),
            OpaqueFunction(function=_nodes),
            OpaqueFunction(function=playback.on_launch),
            TimerAction(
                period=LaunchConfiguration("start_delay_s"),
                actions=[OpaqueFunction(function=playback.on_deadline)],
            ),
            *rviz_actions(share, default="false", use_sim_time=True),
        ]
    )
