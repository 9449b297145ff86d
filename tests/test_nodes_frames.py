"""Message sets -> RGBDFrame (alignment checks, external masks), the stale rule, the stamp buffer."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.ros import convert
from diff9d_ros.ros.frames import StampedBuffer, frame_from_messages, is_stale

TYPES = convert.RosbagsTypes()
INTR = Intrinsics(8, 6, 10.0, 11.0, 3.5, 2.5)
STAMP = 1_700_000_000_123_456_789
FRAME = "camera_color_optical_frame"


def _messages(depth_encoding: str = "16UC1", depth_frame: str = FRAME, width: int = 8):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (6, width, 3), dtype=np.uint8)
    depth_m = np.full((6, width), 0.8)
    depth_m[0, 0] = np.nan
    return (
        rgb,
        depth_m,
        convert.rgb_to_image(rgb, STAMP, FRAME, TYPES),
        convert.depth_to_image(depth_m, STAMP + 1000, depth_frame, TYPES, encoding=depth_encoding),
        convert.intrinsics_to_camera_info(INTR, STAMP, FRAME, TYPES),
    )


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_frame_from_messages_keeps_pixels_metres_stamp_and_frame(encoding: str) -> None:
    rgb, _, *msgs = _messages(encoding)
    frame = frame_from_messages(*msgs)
    frame.validate()
    np.testing.assert_array_equal(frame.rgb, rgb)
    assert np.isnan(frame.depth_m[0, 0])
    np.testing.assert_allclose(frame.depth_m[1:], 0.8, atol=5e-4)
    assert frame.intrinsics == INTR
    assert frame.stamp_ns == STAMP  # the colour image's stamp, not the depth's
    assert frame.frame_id == FRAME and frame.instance_mask is None
    assert frame_from_messages(*msgs, frame_id_override="optical").frame_id == "optical"


def test_misaligned_inputs_are_rejected_with_the_reason() -> None:
    *_, rgb, depth, info = _messages(depth_frame="camera_depth_optical_frame")
    with pytest.raises(ValueError, match="depth must be aligned to colour"):
        frame_from_messages(rgb, depth, info)
    *_, rgb, depth, _ = _messages(width=9)
    _, _, _, _, info = _messages()
    with pytest.raises(ValueError, match="colour image is 9x6 but camera_info is 8x6"):
        frame_from_messages(rgb, depth, info)
    *_, rgb, depth, info = _messages()
    rgb.header.frame_id = depth.header.frame_id = ""
    with pytest.raises(ValueError, match=r"empty header\.frame_id"):
        frame_from_messages(rgb, depth, info)
    broken = convert.rgb_to_image(np.zeros((6, 8, 3), np.uint8), STAMP, FRAME, TYPES)
    broken.encoding = "yuv422"
    with pytest.raises(ValueError, match="cannot read a 'yuv422' image as colour"):
        frame_from_messages(broken, depth, info)


def test_external_masks_travel_with_the_frame() -> None:
    *_, rgb, depth, info = _messages()
    mask = np.zeros((6, 8), np.int32)
    mask[2:4, 2:5] = 3
    mask_msg = convert.instance_mask_to_image(mask, STAMP, FRAME, TYPES)
    categories = convert.categories_to_msg(mask, {3: "mug"}, STAMP, FRAME, TYPES)
    frame = frame_from_messages(rgb, depth, info, mask_msg=mask_msg, categories_msg=categories)
    np.testing.assert_array_equal(frame.instance_mask, mask)
    assert frame.categories == {3: "mug"}
    with pytest.raises(ValueError, match="needs both the mask image and the categories"):
        frame_from_messages(rgb, depth, info, mask_msg=mask_msg)


def test_stale_rule() -> None:
    now = 10_000_000_000
    assert not is_stale(now - 400_000_000, now, 0.5)
    assert is_stale(now - 600_000_000, now, 0.5)
    assert not is_stale(now - 60_000_000_000, now, 0.0)  # 0 disables
    assert not is_stale(now + 5_000_000_000, now, 0.5)  # future stamp: a clock offset, not staleness
    with pytest.raises(ValueError, match="max_frame_age_s must be >= 0"):
        is_stale(now, now, -1.0)


def test_stamped_buffer_matches_by_stamp_and_discards_older() -> None:
    buffer: StampedBuffer[str] = StampedBuffer(3)
    for stamp in (100, 200, 300, 400):
        buffer.put(stamp, f"f{stamp}")
    assert len(buffer) == 3 and buffer.evicted == 1  # 100 fell out
    assert buffer.match(100, tolerance_ns=10) is None
    assert buffer.match(305, tolerance_ns=10) == "f300"
    assert len(buffer) == 1 and buffer.evicted == 2  # 200 can no longer be needed
    assert buffer.match(420, tolerance_ns=10) is None
    assert buffer.match(400, tolerance_ns=0) == "f400" and len(buffer) == 0
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        StampedBuffer(0)
