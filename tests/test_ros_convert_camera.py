"""CameraInfo <-> Intrinsics and Header/Time <-> stamp_ns through real CDR round trips."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import cdr_round_trip

TYPES = convert.RosbagsTypes()
FRAME = "camera_color_optical_frame"


@pytest.mark.parametrize(
    "intrinsics",
    [Intrinsics.realsense_d435(), Intrinsics(1280, 720, 912.3456, 911.0987, 641.25, 362.75)],
)
def test_camera_info_round_trip(intrinsics: Intrinsics) -> None:
    msg = cdr_round_trip(convert.intrinsics_to_camera_info(intrinsics, 42, FRAME, TYPES))
    assert convert.camera_info_to_intrinsics(msg) == intrinsics
    assert msg.distortion_model == "plumb_bob" and np.array_equal(msg.d, np.zeros(5))
    np.testing.assert_array_equal(np.asarray(msg.k).reshape(3, 3), intrinsics.matrix)
    np.testing.assert_array_equal(np.asarray(msg.r).reshape(3, 3), np.eye(3))
    np.testing.assert_array_equal(
        np.asarray(msg.p).reshape(3, 4), np.hstack([intrinsics.matrix, np.zeros((3, 1))])
    )
    assert convert.header_stamp_ns(msg.header) == 42 and msg.header.frame_id == FRAME


def uncalibrated_info(**fields):
    return TYPES.new("sensor_msgs/msg/CameraInfo", **fields)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "image size is 0x0"),
        ({"width": 640, "height": 480}, "k is all zero"),
        ({"width": 0, "height": 480, "k": Intrinsics.realsense_d435().matrix.reshape(-1)}, "size is 0x480"),
        (
            {"width": 640, "height": 480, "k": np.array([np.nan, 0, 320, 0, 600, 240, 0, 0, 1.0])},
            "NaN or inf",
        ),
        (
            {"width": 640, "height": 480, "k": np.array([0, 0, 320, 0, 600, 240, 0, 0, 1.0])},
            "must be positive",
        ),
    ],
)
def test_missing_intrinsics_are_a_clear_error(fields: dict, problem: str) -> None:
    msg = cdr_round_trip(uncalibrated_info(**fields))
    with pytest.raises(ValueError, match="missing intrinsics") as error:
        convert.camera_info_to_intrinsics(msg)
    assert problem in str(error.value)


def test_non_zero_distortion_warns() -> None:
    msg = convert.intrinsics_to_camera_info(Intrinsics.realsense_d435(), 0, FRAME, TYPES)
    msg.d = np.array([0.1, -0.05, 0.0, 0.0, 0.01])
    with pytest.warns(UserWarning, match="non-zero 'plumb_bob' distortion"):
        convert.camera_info_to_intrinsics(msg)
    msg.d = np.zeros(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convert.camera_info_to_intrinsics(msg)


@pytest.mark.parametrize(
    "stamp_ns", [0, 1, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, (2**31 - 1) * 10**9]
)
def test_header_stamp_round_trip(stamp_ns: int) -> None:
    header = cdr_round_trip(convert.make_header(stamp_ns, "map", TYPES))
    assert convert.header_stamp_ns(header) == stamp_ns
    assert header.stamp.sec == stamp_ns // 10**9 and 0 <= header.stamp.nanosec < 10**9
    assert header.frame_id == "map"


@pytest.mark.parametrize(("stamp_ns", "problem"), [(-1, "non-negative"), (2**31 * 10**9, "int32")])
def test_bad_stamps_are_errors(stamp_ns: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        convert.ns_to_time(stamp_ns, TYPES)
