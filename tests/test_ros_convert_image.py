"""sensor_msgs/Image <-> numpy through real CDR round trips with the rosbags type store."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import cdr_round_trip

TYPES = convert.RosbagsTypes()
STAMP_NS = 1_700_000_000_123_456_789
FRAME = "camera_color_optical_frame"
H, W = 5, 7


def wire_image(pixels: np.ndarray, encoding: str, *, big_endian: bool = False, padding: int = 0):
    """An Image built byte by byte (independently of the encoder): rows of pixels in the given byte
    order, each followed by ``padding`` garbage bytes."""
    order = ">" if big_endian else "<"
    rows = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder(order)).reshape(pixels.shape[0], -1)
    row_bytes = rows.view(np.uint8).reshape(pixels.shape[0], -1)
    garbage = np.full((pixels.shape[0], padding), 0xAB, dtype=np.uint8)
    data = np.hstack([row_bytes, garbage]).reshape(-1)
    return TYPES.new(
        "sensor_msgs/msg/Image",
        header=convert.make_header(STAMP_NS, FRAME, TYPES),
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=row_bytes.shape[1] + padding,
        data=data,
    )


def sample_pixels(encoding: str, seed: int = 0) -> np.ndarray:
    """Random pixels of the dtype and channel count of ``encoding``."""
    rng = np.random.default_rng(seed)
    kind, channels = convert.IMAGE_ENCODINGS[encoding]
    shape = (H, W) if channels == 1 else (H, W, channels)
    if kind == "f4":
        return rng.uniform(0.2, 5.0, shape).astype(np.float32)
    return rng.integers(0, np.iinfo(np.dtype(kind)).max, shape, endpoint=True).astype(np.dtype(kind))


@pytest.fixture
def rgb() -> np.ndarray:
    return sample_pixels("rgb8", seed=1)


@pytest.mark.parametrize("encoding", list(convert.IMAGE_ENCODINGS))
def test_every_encoding_round_trips_through_cdr(encoding: str) -> None:
    pixels = sample_pixels(encoding)
    msg = cdr_round_trip(convert.array_to_image(pixels, encoding, STAMP_NS, FRAME, TYPES))
    assert msg.encoding == encoding and (msg.height, msg.width) == (H, W)
    assert convert.header_stamp_ns(msg.header) == STAMP_NS and msg.header.frame_id == FRAME
    back = convert.image_to_array(msg)
    assert back.dtype == pixels.dtype and np.array_equal(back, pixels)


@pytest.mark.parametrize(
    ("encoding", "to_rgb"),
    [
        ("rgb8", lambda rgba: rgba[..., :3]),
        ("bgr8", lambda rgba: rgba[..., 2::-1]),
        ("rgba8", lambda rgba: rgba),
        ("bgra8", lambda rgba: rgba[..., [2, 1, 0, 3]]),
    ],
)
def test_colour_encodings_read_as_rgb(encoding: str, to_rgb) -> None:
    rgba = sample_pixels("rgba8", seed=2)
    msg = cdr_round_trip(
        convert.array_to_image(np.ascontiguousarray(to_rgb(rgba)), encoding, 0, FRAME, TYPES)
    )
    out = convert.image_to_rgb(msg)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert np.array_equal(out, rgba[..., :3])


def test_mono8_reads_as_grey_rgb() -> None:
    grey = sample_pixels("mono8")
    out = convert.image_to_rgb(cdr_round_trip(convert.array_to_image(grey, "mono8", 0, FRAME, TYPES)))
    assert np.array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_rgb_to_image_round_trip(rgb: np.ndarray) -> None:
    msg = cdr_round_trip(convert.rgb_to_image(rgb, STAMP_NS, FRAME, TYPES))
    assert msg.step == W * 3 and msg.is_bigendian == 0
    assert np.array_equal(convert.image_to_rgb(msg), rgb)


@pytest.mark.parametrize("encoding", list(convert.IMAGE_ENCODINGS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_padded_rows_and_byte_order_are_decoded(encoding: str, big_endian: bool) -> None:
    pixels = sample_pixels(encoding, seed=3)
    msg = cdr_round_trip(wire_image(pixels, encoding, big_endian=big_endian, padding=5))
    assert np.array_equal(convert.image_to_array(msg), pixels)


def test_big_endian_flag_changes_the_values() -> None:
    """The same bytes read with and without is_bigendian differ: the flag is really honoured."""
    depth_mm = np.full((H, W), 0x0102, dtype=np.uint16)
    msg = wire_image(depth_mm, "16UC1", big_endian=True)
    assert np.all(convert.image_to_array(msg) == 0x0102)
    msg.is_bigendian = 0
    assert np.all(convert.image_to_array(msg) == 0x0201)


def test_16uc1_depth_is_millimetres_with_zero_as_no_measurement() -> None:
    depth_mm = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 37
    msg = cdr_round_trip(wire_image(depth_mm, "16UC1", big_endian=True, padding=2))
    depth_m = convert.image_to_depth_m(msg)
    assert depth_m.dtype == np.float32
    assert np.isnan(depth_m[0, 0])  # 0 mm
    np.testing.assert_allclose(depth_m.reshape(-1)[1:], depth_mm.reshape(-1)[1:] / 1000.0, rtol=1e-6)


def test_32fc1_depth_marks_zero_nan_inf_and_negative_as_missing() -> None:
    depth = np.linspace(0.3, 3.0, H * W, dtype=np.float32).reshape(H, W)
    depth[0, :5] = [0.0, np.nan, np.inf, -np.inf, -1.0]
    depth_m = convert.image_to_depth_m(cdr_round_trip(wire_image(depth, "32FC1", padding=4)))
    assert np.all(np.isnan(depth_m[0, :5]))
    assert np.array_equal(depth_m[0, 5:], depth[0, 5:]) and np.array_equal(depth_m[1:], depth[1:])


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_depth_to_image_round_trip(encoding: str) -> None:
    rng = np.random.default_rng(4)
    depth_m = rng.integers(200, 5000, (H, W)).astype(np.float64) / 1000.0  # on the millimetre grid
    depth_m[1, 2] = np.nan
    depth_m[3, 4] = 0.0
    depth_m[2, 2] = np.inf
    msg = cdr_round_trip(convert.depth_to_image(depth_m, STAMP_NS, FRAME, TYPES, encoding=encoding))
    assert msg.encoding == encoding
    back = convert.image_to_depth_m(msg)
    missing = ~np.isfinite(depth_m) | (depth_m <= 0)
    assert np.array_equal(np.isnan(back), missing)
    np.testing.assert_allclose(back[~missing], depth_m[~missing], rtol=1e-6)


def test_16uc1_depth_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds the 16UC1 range"):
        convert.depth_to_image(np.full((H, W), 70.0), 0, FRAME, TYPES, encoding="16UC1")
    with pytest.raises(ValueError, match="depth images are"):
        convert.depth_to_image(np.ones((H, W)), 0, FRAME, TYPES, encoding="mono8")


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_instance_mask_round_trip(encoding: str) -> None:
    mask = np.zeros((H, W), dtype=np.int64)
    mask[1:3, 2:5] = 3
    mask[4, :] = 65535
    msg = cdr_round_trip(convert.instance_mask_to_image(mask, 0, FRAME, TYPES, encoding=encoding))
    back = convert.image_to_instance_mask(msg)
    assert back.dtype == np.int32 and np.array_equal(back, mask)


def test_instance_mask_errors() -> None:
    with pytest.raises(ValueError, match=r"\[0, 65535\]"):
        convert.instance_mask_to_image(np.full((H, W), 70000), 0, FRAME, TYPES)
    with pytest.raises(ValueError, match="integer ids"):
        convert.instance_mask_to_image(np.zeros((H, W), dtype=np.float32), 0, FRAME, TYPES)
    with pytest.raises(ValueError, match="16UC1 or mono16"):
        convert.instance_mask_to_image(np.zeros((H, W), dtype=np.int32), 0, FRAME, TYPES, encoding="32FC1")


@pytest.mark.parametrize("encoding", ["yuv422", "jpeg", "8UC3", ""])
def test_unsupported_encoding_is_named(encoding: str) -> None:
    msg = wire_image(sample_pixels("mono8"), "mono8")
    msg.encoding = encoding
    with pytest.raises(ValueError, match=f"unsupported image encoding '{encoding}'"):
        convert.image_to_array(msg)


@pytest.mark.parametrize("delta", [-1, 1, -W])
def test_data_size_not_matching_height_times_step(delta: int) -> None:
    msg = wire_image(sample_pixels("mono16"), "mono16")
    msg.data = np.zeros(H * msg.step + delta, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"does not match height\*step"):
        convert.image_to_array(msg)


def test_step_smaller_than_a_row_of_pixels() -> None:
    msg = wire_image(sample_pixels("rgb8"), "rgb8")
    msg.step = W * 3 - 1
    msg.data = np.zeros(H * msg.step, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"step 20 is smaller than width\*bytes-per-pixel = 7\*3 = 21"):
        convert.image_to_array(msg)


@pytest.mark.parametrize(("height", "width"), [(0, W), (H, 0), (0, 0)])
def test_empty_image_is_an_error(height: int, width: int) -> None:
    msg = TYPES.new("sensor_msgs/msg/Image", height=height, width=width, encoding="rgb8", step=width * 3)
    with pytest.raises(ValueError, match="empty rgb8 image"):
        convert.image_to_rgb(msg)


def test_reading_with_the_wrong_kind_of_image_is_named() -> None:
    rgb_msg = wire_image(sample_pixels("rgb8"), "rgb8")
    depth_msg = wire_image(sample_pixels("32FC1"), "32FC1")
    with pytest.raises(ValueError, match="as depth"):
        convert.image_to_depth_m(rgb_msg)
    with pytest.raises(ValueError, match="as colour"):
        convert.image_to_rgb(depth_msg)
    with pytest.raises(ValueError, match="as instance ids"):
        convert.image_to_instance_mask(depth_msg)


def test_encoder_rejects_arrays_that_do_not_match_the_encoding(rgb: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"rgb8 needs a \(H, W, 3\) uint8 array"):
        convert.array_to_image(rgb.astype(np.float32), "rgb8", 0, FRAME, TYPES)
    with pytest.raises(ValueError, match="32FC1 needs a"):
        convert.array_to_image(rgb, "32FC1", 0, FRAME, TYPES)
    with pytest.raises(ValueError, match="empty"):
        convert.array_to_image(np.zeros((0, 4, 3), dtype=np.uint8), "rgb8", 0, FRAME, TYPES)
    with pytest.raises(ValueError, match="unsupported image encoding"):
        convert.array_to_image(rgb, "hsv8", 0, FRAME, TYPES)


def test_rclpy_style_data_containers_decode_alike(rgb: np.ndarray) -> None:
    """rclpy stores ``uint8[]`` as array.array; bytes and lists of ints must read the same."""
    msg = convert.rgb_to_image(rgb, 0, FRAME, TYPES)
    for data in (convert.RclpyTypes().sequence(msg.data, "uint8"), bytes(msg.data), list(msg.data)):
        msg.data = data
        assert np.array_equal(convert.image_to_rgb(msg), rgb)
