"""Logging throttled per kind of message, and the words of a node that hears nothing."""

from __future__ import annotations

from diff9d_ros.log_throttle import ReasonThrottle, reason_key
from diff9d_ros.ros.diagnostics import no_input_message


def test_each_kind_of_message_has_its_own_throttle() -> None:
    now = [0.0]
    throttle = ReasonThrottle(5.0, clock=lambda: now[0])
    assert throttle.text("unsupported image encoding 'yuv422'") is not None
    assert throttle.text("unsupported image encoding 'yuv422'") is None  # the same kind, held back
    # another problem right after is not hidden by the first one's throttle
    assert throttle.text("rgb8 image step 10 is smaller than width*bytes-per-pixel = 64*3 = 192") is not None
    now[0] = 6.0
    assert throttle.text("unsupported image encoding 'yuv422'") == (
        "unsupported image encoding 'yuv422' (1 more like it in the last 5 s)"
    )


def test_numbers_do_not_make_a_new_kind() -> None:
    assert reason_key("frame 12 failed at 1700000000.25 s") == reason_key(
        "frame 13 failed at 1700000000.35 s"
    )
    assert reason_key("frame 12 failed in pose") != reason_key("frame 12 failed in grasp")


def test_no_input_message_names_silent_inputs_and_what_is_published() -> None:
    text = no_input_message(
        "pose_node",
        5.0,
        {"/diff9d/rgb/image": 0, "/diff9d/depth/image": 0, "/diff9d/rgb/camera_info": 1},
        {
            "/camera/camera/color/image_raw": ("sensor_msgs/msg/Image",),
            "/camera/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo",),
            "/rosout": ("rcl_interfaces/msg/Log",),
            "/diff9d/rgb/camera_info": ("sensor_msgs/msg/CameraInfo",),
        },
    )
    assert "pose_node: no input in 5 s" in text
    assert "nobody publishes /diff9d/depth/image, /diff9d/rgb/image" in text
    assert "/diff9d/rgb/camera_info (1 publisher)" in text
    assert "/camera/camera/color/image_raw (Image)" in text and "/rosout" not in text
    assert "no image or detection topic" in no_input_message("forecast_node", 5.0, {"/d": 0}, {})
    assert "device delivered no frame" in no_input_message("camera_node", 5.0, {}, {})
