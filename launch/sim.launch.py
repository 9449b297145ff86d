"""Gazebo Harmonic simulation: a world from sim/worlds/, the ros_gz bridge, the optical frame, the nodes.

    ros2 launch diff9d_ros sim.launch.py world:=tabletop [headless:=true] [rviz:=true]

Gazebo's ``rgbd_camera`` sensor sits on a link whose frame is a camera body frame (x forward);
its pixels are in optical convention (z forward, x right, y down) and its headers carry the
sensor's ``<optical_frame_id>``. A static transform adds ``optical_frame`` under the body frame
(REP 103 rotation), and pose_node publishes its results in that optical frame
(``frame_id_override``). Every node runs on Gazebo's /clock. The bridge config and the
world are checked against each other before anything starts.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from diff9d_ros.ros.gz_bridge import OPTICAL_IN_BODY_XYZW, bridged_camera, load_bridge_config, world_cameras
from diff9d_ros.ros.nodes.launch_arguments import declare, node_arguments, rviz_actions

PASSED_ON = (
    "namespace",
    "params_file",
    "device",
    "pose_model_path",
    "forecast_model_path",
    "grasp_input_topic",
    "log_level",
)


def world_path(share: str, world: str) -> str:
    """A world name of sim/worlds/ (``tabletop``) or a path to an SDF file."""
    if os.path.isfile(world):
        return world
    path = os.path.join(share, "sim", "worlds", world if world.endswith(".sdf") else f"{world}.sdf")
    if not os.path.isfile(path):
        names = sorted(f[:-4] for f in os.listdir(os.path.dirname(path)) if f.endswith(".sdf"))
        raise RuntimeError(f"world {world!r} not found: no {path}; worlds: {', '.join(names)}")
    return path


def _setup(context, *args, **kwargs) -> list:
    share = get_package_share_directory("diff9d_ros")
    arg = {name: context.perform_substitution(LaunchConfiguration(name)) for name in ARGUMENTS}
    world = world_path(share, arg["world"])
    bridge_file = os.path.join(share, "sim", "bridge.yaml")
    camera = bridged_camera(load_bridge_config(bridge_file), world_cameras(world))
    body_frame = arg["gz_camera_frame"] or camera.link
    if camera.frame_id not in ("", arg["optical_frame"], body_frame):
        raise RuntimeError(
            f"{world}: camera {camera.name} stamps images in {camera.frame_id!r}, which is neither "
            f"optical_frame:={arg['optical_frame']} nor its link {body_frame!r}"
        )
    gz_args = ("-s " if arg["headless"].lower() == "true" else "") + f"-r {world}"
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            os.path.join(get_package_share_directory("ros_gz_sim"), "launch", "gz_sim.launch.py")
        ),
        launch_arguments={"gz_args": gz_args}.items(),
    )
    bridge = Node(
        package="ros_gz_bridge",
        executable="parameter_bridge",
        namespace=arg["namespace"],
        parameters=[{"config_file": bridge_file, "use_sim_time": True}],
        output="screen",
    )
    rotation = [
        part
        for axis, value in zip("xyzw", OPTICAL_IN_BODY_XYZW, strict=True)
        for part in (f"--q{axis}", str(value))
    ]
    optical = Node(
        package="tf2_ros",
        executable="static_transform_publisher",
        arguments=[*rotation, "--frame-id", body_frame, "--child-frame-id", arg["optical_frame"]],
        parameters=[{"use_sim_time": True}],
        output="screen",
    )
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "nodes.launch.py")),
        launch_arguments={
            **{name: arg[name] for name in PASSED_ON},
            "use_camera": "false",
            "use_sim_time": "true",
            "frame_id_override": arg["optical_frame"],
        }.items(),
    )
    return [gazebo, bridge, optical, nodes]


ARGUMENTS = {
    "world": ("tabletop", "world name in sim/worlds/ or a path to an SDF world"),
    "headless": ("false", "run the Gazebo server only (no GUI)"),
    "gz_camera_frame": (
        "",
        "camera body frame (x forward) above the optical frame (default: the sensor's link)",
    ),
    "optical_frame": ("camera_color_optical_frame", "optical frame the results are published in"),
    **node_arguments(PASSED_ON),
    "namespace": ("diff9d", "namespace of the bridge and the nodes"),
}


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diff9d_ros")
    return LaunchDescription(
        [
            *declare(ARGUMENTS),
            OpaqueFunction(function=_setup),
            *rviz_actions(share, default="false", use_sim_time=True),
        ]
    )
