"""The rclpy side of the MessageTypes protocol.

Without ROS only the container conversion and the error for a missing interface package can be
checked; where ROS 2 is sourced (``ros`` marker) rclpy messages built and read by the same
converters are serialised by rclpy and deserialised by rosbags, proving the wire formats agree.
"""

from __future__ import annotations

import array
import importlib.util

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import Detection
from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import get_typestore

FRAME = "camera_color_optical_frame"


def test_rclpy_sequences_are_array_arrays() -> None:
    values = np.array([0, 1, 255], dtype=np.uint8)
    out = convert.RclpyTypes().sequence(values, "uint8")
    assert isinstance(out, array.array) and out.typecode == "B" and list(out) == [0, 1, 255]
    floats = convert.RclpyTypes().sequence(np.array([0.5, -2.0]), "float64")
    assert floats.typecode == "d" and list(floats) == [0.5, -2.0]
    with pytest.raises(ValueError, match="'string'"):
        convert.RclpyTypes().sequence(np.zeros(2), "string")


@pytest.mark.skipif(
    importlib.util.find_spec("sensor_msgs") is not None, reason="ROS 2 interfaces are installed"
)
def test_missing_interface_package_is_named() -> None:
    with pytest.raises(ValueError, match="'sensor_msgs' is not installed"):
        convert.RclpyTypes().new("sensor_msgs/msg/Image")
    with pytest.raises(ValueError, match="package/msg/Name"):
        convert.RclpyTypes().new("sensor_msgs/Image")


@pytest.mark.ros
def test_rclpy_messages_match_rosbags_on_the_wire() -> None:
    from rclpy.serialization import serialize_message

    types = convert.RclpyTypes()
    store = get_typestore()
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    image = convert.rgb_to_image(rgb, 12_345, FRAME, types)
    assert np.array_equal(convert.image_to_rgb(image), rgb)
    decoded = store.deserialize_cdr(serialize_message(image), "sensor_msgs/msg/Image")
    assert np.array_equal(convert.image_to_rgb(decoded), rgb)

    info = convert.intrinsics_to_camera_info(Intrinsics.realsense_d435(), 1, FRAME, types)
    decoded = store.deserialize_cdr(serialize_message(info), "sensor_msgs/msg/CameraInfo")
    assert convert.camera_info_to_intrinsics(decoded) == Intrinsics.realsense_d435()

    if importlib.util.find_spec("vision_msgs") is not None:
        detection = Detection("mug", np.eye(3), [0.1, 0.0, 0.5], [0.1, 0.1, 0.1], 0.8, track_id="3")
        msg = convert.detections_to_msg([detection], 7, FRAME, types)
        decoded = store.deserialize_cdr(serialize_message(msg), "vision_msgs/msg/Detection3DArray")
        (back,) = convert.msg_to_detections(decoded)
        assert back.category == "mug" and back.track_id == "3"
