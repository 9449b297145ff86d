"""Gazebo side of the simulation, without ROS: the ros_gz bridge config and the worlds' RGB-D camera.

``sim/bridge.yaml`` is a ros_gz_bridge ``config_file`` (a YAML list of topic maps). Its entries
are checked against the type pairs ros_gz_bridge can convert (its README's table, the subset a
perception stack can meet), and its Gazebo topics against the ``rgbd_camera`` sensor of a world:
a Gazebo Harmonic RGB-D camera with ``<topic>T</topic>`` publishes ``T/image``,
``T/depth_image`` (32FC1 metres) and ``T/camera_info``. ``sim.launch.py`` runs both checks
before starting Gazebo, so a renamed topic fails at launch with a message, not with silence.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

#: ROS type -> Gazebo Transport types ros_gz_bridge converts (Harmonic ``gz.msgs``; ``ignition.msgs``
#: is the Fortress spelling of the same messages).
ROS_GZ_PAIRS: dict[str, tuple[str, ...]] = {
    "rosgraph_msgs/msg/Clock": ("gz.msgs.Clock",),
    "sensor_msgs/msg/Image": ("gz.msgs.Image",),
    "sensor_msgs/msg/CameraInfo": ("gz.msgs.CameraInfo",),
    "sensor_msgs/msg/PointCloud2": ("gz.msgs.PointCloudPacked",),
    "sensor_msgs/msg/Imu": ("gz.msgs.IMU",),
    "sensor_msgs/msg/JointState": ("gz.msgs.Model",),
    "sensor_msgs/msg/LaserScan": ("gz.msgs.LaserScan",),
    "tf2_msgs/msg/TFMessage": ("gz.msgs.Pose_V",),
    "geometry_msgs/msg/Pose": ("gz.msgs.Pose",),
    "geometry_msgs/msg/PoseArray": ("gz.msgs.Pose_V",),
    "geometry_msgs/msg/PoseStamped": ("gz.msgs.Pose",),
    "geometry_msgs/msg/TransformStamped": ("gz.msgs.Pose",),
    "geometry_msgs/msg/Twist": ("gz.msgs.Twist",),
    "nav_msgs/msg/Odometry": ("gz.msgs.Odometry", "gz.msgs.OdometryWithCovariance"),
    "std_msgs/msg/Bool": ("gz.msgs.Boolean",),
    "std_msgs/msg/Float64": ("gz.msgs.Double",),
    "std_msgs/msg/String": ("gz.msgs.StringMsg",),
}
DIRECTIONS: tuple[str, ...] = ("BIDIRECTIONAL", "GZ_TO_ROS", "ROS_TO_GZ")
RGBD_SENSOR_TYPES: tuple[str, ...] = ("rgbd_camera", "rgbd")
#: Topic suffixes of a Gazebo RGB-D camera, by what they carry.
RGBD_SUFFIXES: dict[str, str] = {"image": "image", "depth": "depth_image", "camera_info": "camera_info"}
#: Rotation of an optical frame (z forward, x right, y down) in its camera body frame (x forward,
#: y left, z up), as a quaternion (x, y, z, w): REP 103's fixed optical-frame transform.
OPTICAL_IN_BODY_XYZW: tuple[float, float, float, float] = (-0.5, 0.5, -0.5, 0.5)
OPTICAL_IN_BODY_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class BridgeEntry:
    """One bridged topic of a ros_gz_bridge config file."""

    ros_topic: str
    gz_topic: str
    ros_type: str
    gz_type: str
    direction: str


@dataclass(frozen=True)
class GzCamera:
    """An RGB-D camera sensor of a world: name, type, topic prefix, header frame id, parent link.

    ``frame_id`` is what Gazebo writes in the image headers: ``<camera><optical_frame_id>``
    (SDF 1.9+), else ``<gz_frame_id>`` (``<ignition_frame_id>`` in Fortress); empty when unset.
    """

    name: str
    sensor_type: str
    topic: str
    frame_id: str
    link: str = ""

    def topics(self) -> dict[str, str]:
        """Absolute Gazebo topics of image, depth and camera_info."""
        prefix = "/" + self.topic.strip("/")
        return {what: f"{prefix}/{suffix}" for what, suffix in RGBD_SUFFIXES.items()}


def _gz_type_key(gz_type: str) -> str:
    return gz_type.replace("ignition.msgs.", "gz.msgs.")


def load_bridge_config(path: str | Path) -> list[BridgeEntry]:
    """The entries of a ros_gz_bridge YAML config; ValueError naming the file, entry and problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the bridge config: {error}") from error
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: a ros_gz_bridge config is a non-empty YAML list of topic maps")
    entries = []
    for index, item in enumerate(data):
        where = f"{path}: entry {index}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not a map")
        unknown = set(item) - {
            "topic_name",
            "ros_topic_name",
            "gz_topic_name",
            "ros_type_name",
            "gz_type_name",
            "direction",
            "subscriber_queue",
            "publisher_queue",
            "lazy",
        }
        if unknown:
            raise ValueError(f"{where} has unknown key(s) {sorted(unknown)}")
        ros_topic = item.get("ros_topic_name", item.get("topic_name"))
        gz_topic = item.get("gz_topic_name", item.get("topic_name"))
        if not ros_topic or not gz_topic:
            raise ValueError(f"{where} needs topic_name or both ros_topic_name and gz_topic_name")
        ros_type, gz_type = str(item.get("ros_type_name", "")), str(item.get("gz_type_name", ""))
        if ros_type not in ROS_GZ_PAIRS:
            raise ValueError(f"{where}: ros_gz_bridge cannot bridge ROS type {ros_type!r}")
        if _gz_type_key(gz_type) not in ROS_GZ_PAIRS[ros_type]:
            allowed = " or ".join(ROS_GZ_PAIRS[ros_type])
            raise ValueError(f"{where}: {ros_type} bridges to {allowed}, not {gz_type!r}")
        direction = str(item.get("direction", "BIDIRECTIONAL"))
        if direction not in DIRECTIONS:
            raise ValueError(f"{where}: direction must be one of {DIRECTIONS}, got {direction!r}")
        entries.append(BridgeEntry(str(ros_topic), str(gz_topic), ros_type, gz_type, direction))
    topics = [entry.ros_topic for entry in entries]
    if len(set(topics)) != len(topics):
        raise ValueError(f"{path}: a ROS topic is bridged twice: {topics}")
    return entries


def world_cameras(path: str | Path) -> list[GzCamera]:
    """The RGB-D camera sensors of an SDF world; ValueError if the file is not an SDF world."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise ValueError(f"{path}: not a readable SDF file: {error}") from error
    if root.tag != "sdf" or root.find("world") is None:
        raise ValueError(f"{path}: an SDF world needs an <sdf> root with a <world>")
    cameras = []
    for link in root.iter("link"):
        for sensor in link.findall("sensor"):
            sensor_type = sensor.get("type", "")
            if sensor_type not in RGBD_SENSOR_TYPES:
                continue
            frame = (
                sensor.findtext("camera/optical_frame_id")
                or sensor.findtext("gz_frame_id")
                or sensor.findtext("ignition_frame_id")
                or ""
            )
            topic = (sensor.findtext("topic") or "").strip()
            cameras.append(
                GzCamera(sensor.get("name", ""), sensor_type, topic, frame.strip(), link.get("name", ""))
            )
    return cameras


def bridged_camera(entries: list[BridgeEntry], cameras: list[GzCamera]) -> GzCamera:
    """The world camera whose image, depth and camera_info topics the bridge carries.

    ValueError naming the bridged topics and the world's camera topics when none matches.
    """
    bridged = {entry.gz_topic for entry in entries if entry.direction != "ROS_TO_GZ"}
    for camera in cameras:
        if camera.topic and set(camera.topics().values()) <= bridged:
            return camera
    found = [f"{c.name} (topic {c.topic or 'unset'})" for c in cameras] or ["no rgbd_camera sensor"]
    raise ValueError(
        f"no world camera publishes the bridged topics {sorted(bridged)}; the world has: {', '.join(found)}"
    )


#: Environment variables Gazebo searches for ``model://`` URIs (Harmonic, then the Fortress name).
RESOURCE_PATH_VARS: tuple[str, ...] = ("GZ_SIM_RESOURCE_PATH", "IGN_GAZEBO_RESOURCE_PATH")


def model_search_path(world: str | Path, environ: dict[str, str] | None = None) -> list[Path]:
    """Folders searched for a world's ``model://NAME`` URIs, in Gazebo's order: the entries of
    ``GZ_SIM_RESOURCE_PATH`` (then ``IGN_GAZEBO_RESOURCE_PATH``), then ``../models`` next to the
    world (where ``diff9d synth sdf`` writes them)."""
    environ = os.environ if environ is None else environ
    paths = [
        Path(entry)
        for name in RESOURCE_PATH_VARS
        for entry in environ.get(name, "").split(os.pathsep)
        if entry
    ]
    return [*paths, Path(world).resolve().parent.parent / "models"]
