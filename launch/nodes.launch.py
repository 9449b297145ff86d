"""The diff9d lifecycle nodes, wired: included by robot, sim and bag launch files.

Each node is a managed (lifecycle) node: this file emits ``configure`` when it starts and
``activate`` the first time it reaches ``inactive`` from ``configuring``, so a node whose model
fails to load stays inactive (and says why) instead of running half-configured. The camera node
is activated last, once pose, grasp and forecast node are active (or failed, or ``start_delay_s``
passed), so no frame of a recording streams to a node still loading its model. Only these
launch-time transitions are automatic: after an operator's ``ros2 lifecycle set ... cleanup`` and
``configure``, the node waits in ``inactive`` for the operator's ``activate``. Topic launch
arguments become remappings of the node-relative names in ``diff9d_ros.ros.topics``.
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

from diff9d_ros.ros.launch_gate import StartWhenActive, node_full_name
from diff9d_ros.ros.nodes.launch_arguments import NODE_ARGUMENTS, declare
from diff9d_ros.ros.topics import remappings


def transition(node: LifecycleNode, transition_id: int) -> EmitEvent:
    """The event that asks ``node`` for the lifecycle transition ``transition_id``."""
    return EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id)
    )


def managed(node: LifecycleNode, when_inactive: list) -> list:
    """``node`` plus the event that configures it and, once, ``when_inactive`` the first time it
    reaches ``inactive`` from ``configuring``."""
    on_inactive = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=when_inactive,
            handle_once=True,
        )
    )
    return [on_inactive, node, transition(node, Transition.TRANSITION_CONFIGURE)]


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
        "tracking_frame",
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
        "grasp_node": {**camera, "detections": arg["grasp_input_topic"] or arg["detections_topic"]},
        "forecast_node": {"detections": arg["forecast_input_topic"]},
        "people_forecast_node": {"people": arg["people_topic"]},
    }
    actions = []
    consumers = []
    for name, flag in (
        ("pose_node", "use_pose"),
        ("grasp_node", "use_grasp"),
        ("forecast_node", "use_forecast"),
        ("people_forecast_node", "use_people"),
        ("camera_node", "use_camera"),
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
        if name != "camera_node":
            consumers.append(node_full_name(arg["namespace"], name))
            actions += managed(node, [transition(node, Transition.TRANSITION_ACTIVATE)])
            continue
        activate = StartWhenActive(
            [transition(node, Transition.TRANSITION_ACTIVATE)], consumers, "the camera", ready=False
        )
        actions += managed(node, [OpaqueFunction(function=activate.on_ready)])
        actions += activate.handlers(float(arg["start_delay_s"]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(NODE_ARGUMENTS), OpaqueFunction(function=_setup)])
