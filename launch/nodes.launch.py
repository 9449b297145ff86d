"""The diff9d lifecycle nodes, wired: included by robot, sim and bag launch files.

Each node is a managed (lifecycle) node: this file emits ``configure`` when it starts and
``activate`` the first time it reaches ``inactive`` from ``configuring``, so a node whose model
fails to load stays inactive (and says why) instead of running half-configured. Only that
launch-time transition is automatic: after an operator's ``ros2 lifecycle set ... cleanup`` and
``configure``, the node waits in ``inactive`` for the operator's ``activate``. Topic launch arguments become
remappings of the node-relative names in ``diff9d_ros.ros.topics``.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from diff9d_ros.ros.launch_arguments import NODE_ARGUMENTS, declare
from diff9d_ros.ros.topics import remappings


def managed(node: LifecycleNode) -> list:
    """``node`` plus the events that configure it and then activate it, once."""
    activate = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_ACTIVATE
        )
    )
    configure = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_CONFIGURE
        )
    )
    on_inactive = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[activate],
            handle_once=True,
        )
    )
    return [on_inactive, node, configure]


def _setup(context, *args, **kwargs) -> list:
    arg = {name: context.perform_substitution(LaunchConfiguration(name)) for name in NODE_ARGUMENTS}
    params_file = arg["params_file"] or os.path.join(
        get_package_share_directory("diff9d_ros"), "config", "diff9d.yaml"
    )
    overrides = {"use_sim_time": arg["use_sim_time"].lower() == "true"}
    for name in (
        "device",
        "pose_model_path",
        "forecast_model_path",
        "frame_id_override",
        "people_model_path",
        "fixed_frame",
        "rgb_transport",
        "depth_transport",
    ):
        if arg[name]:
            overrides[name] = arg[name]
    camera = {"rgb/image": arg["rgb_topic"], "depth/image": arg["depth_topic"]}
    camera["rgb/camera_info"] = arg["camera_info_topic"]
    topics = {
        "camera_node": camera,
        "pose_node": {**camera, "detections": arg["detections_topic"]},
        "grasp_node": {**camera, "detections": arg["detections_topic"]},
        "forecast_node": {"detections": arg["forecast_input_topic"]},
        "people_forecast_node": {"people": arg["people_topic"]},
    }
    actions = []
    for name, flag in (
        ("camera_node", "use_camera"),
        ("pose_node", "use_pose"),
        ("grasp_node", "use_grasp"),
        ("forecast_node", "use_forecast"),
        ("people_forecast_node", "use_people"),
    ):
        if arg[flag].lower() != "true":
            continue
        node = LifecycleNode(
            package="diff9d_ros",
            executable=name,
            name=name,
            namespace=arg["namespace"],
            parameters=[params_file, overrides],
            remappings=remappings(name, topics[name]),
            arguments=["--ros-args", "--log-level", arg["log_level"]],
            output="screen",
        )
        actions += managed(node)
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(NODE_ARGUMENTS), OpaqueFunction(function=_setup)])
