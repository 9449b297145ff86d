"""``sensor_msgs/Image`` <-> numpy: colour, depth in metres and instance masks.

Follows the sensor_msgs/Image contract: ``data`` holds ``height`` rows of ``step`` bytes each; a
row's first ``width * bytes_per_pixel`` bytes are pixels and the rest is padding; multi-byte
values are big-endian when ``is_bigendian`` is set. Depth follows REP 118: ``16UC1`` is in
millimetres, ``32FC1`` in metres, and 0, NaN and inf mean "no measurement" (NaN on our side).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diff9d_ros.ros.convert_std import make_header
from diff9d_ros.ros.message_types import MessageTypes

#: Supported encodings: numpy kind of one channel (byte order is set per message) and channels.
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "32FC1": ("f4", 1),
}
#: Encodings :func:`image_to_rgb` reads, with the channel selection that gives R, G, B.
COLOUR_CHANNELS: dict[str, tuple[int, int, int]] = {
    "rgb8": (0, 1, 2),
    "bgr8": (2, 1, 0),
    "rgba8": (0, 1, 2),
    "bgra8": (2, 1, 0),
    "mono8": (0, 0, 0),
}
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "32FC1")
MASK_ENCODINGS: tuple[str, ...] = ("16UC1", "mono16", "8UC1", "mono8")
MM_PER_M = 1000.0


def image_to_array(msg: Any) -> np.ndarray:
    """Pixels of an Image as a native-endian array, (H, W) for one channel, else (H, W, C).

    ValueError for an unsupported encoding, an empty image, ``step`` smaller than a row of
    pixels, or ``data`` whose size is not ``height * step``.
    """
    encoding = str(msg.encoding)
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}")
    kind, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"empty {encoding} image: {width}x{height} pixels")
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    pixel_bytes = channels * dtype.itemsize
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise ValueError(
            f"{encoding} image step {step} is smaller than width*bytes-per-pixel = "
            f"{width}*{pixel_bytes} = {row_bytes}"
        )
    data = _as_bytes(msg.data)
    if data.size != height * step:
        raise ValueError(
            f"{encoding} image data size {data.size} does not match height*step = "
            f"{height}*{step} = {height * step}"
        )
    rows = np.ascontiguousarray(data.reshape(height, step)[:, :row_bytes])
    pixels = rows.view(dtype).reshape((height, width, channels) if channels > 1 else (height, width))
    return pixels.astype(dtype.newbyteorder("="))


def image_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an rgb8, bgr8, rgba8, bgra8 or mono8 Image (alpha dropped)."""
    if str(msg.encoding) not in COLOUR_CHANNELS:
        raise ValueError(
            f"cannot read a {msg.encoding!r} image as colour; expected one of {', '.join(COLOUR_CHANNELS)}"
        )
    pixels = image_to_array(msg)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if msg.encoding == "rgb8":
        return pixels
    rgb = np.empty((*pixels.shape[:2], 3), dtype=np.uint8)
    for target, source in enumerate(COLOUR_CHANNELS[str(msg.encoding)]):
        rgb[:, :, target] = pixels[:, :, source]  # per-channel copies beat a strided gather
    return rgb


def image_to_depth_m(msg: Any) -> np.ndarray:
    """(H, W) float32 depth in metres of a 16UC1 (mm) or 32FC1 (m) Image; NaN = no measurement.

    Zero, NaN, inf and negative values carry no measurement and become NaN.
    """
    if str(msg.encoding) not in DEPTH_ENCODINGS:
        raise ValueError(
            f"cannot read a {msg.encoding!r} image as depth; expected one of {', '.join(DEPTH_ENCODINGS)}"
        )
    pixels = image_to_array(msg)
    depth_m = pixels.astype(np.float32)
    if msg.encoding == "16UC1":
        depth_m /= np.float32(MM_PER_M)
    with np.errstate(invalid="ignore"):
        depth_m[~(np.isfinite(depth_m) & (depth_m > 0))] = np.nan
    return depth_m


def image_to_instance_mask(msg: Any) -> np.ndarray:
    """(H, W) int32 instance ids (0 = background) of a 16UC1, mono16, 8UC1 or mono8 Image."""
    if str(msg.encoding) not in MASK_ENCODINGS:
        raise ValueError(
            f"cannot read a {msg.encoding!r} image as instance ids; "
            f"expected one of {', '.join(MASK_ENCODINGS)}"
        )
    return image_to_array(msg).astype(np.int32)


def array_to_image(
    pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str, types: MessageTypes
) -> Any:
    """Image of an array whose dtype and channel count match ``encoding`` (little-endian, no padding)."""
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}")
    kind, channels = IMAGE_ENCODINGS[encoding]
    pixels = np.asarray(pixels)
    expected_shape = "(H, W)" if channels == 1 else f"(H, W, {channels})"
    shape_ok = pixels.ndim == 2 if channels == 1 else pixels.ndim == 3 and pixels.shape[2] == channels
    if not shape_ok or pixels.dtype.kind + str(pixels.dtype.itemsize) != kind:
        raise ValueError(
            f"{encoding} needs a {expected_shape} {np.dtype(kind).name} array, "
            f"got {pixels.shape} {pixels.dtype}"
        )
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"cannot encode an empty {width}x{height} image")
    little = np.ascontiguousarray(pixels, dtype=np.dtype(kind).newbyteorder("<"))
    return types.new(
        "sensor_msgs/msg/Image",
        header=make_header(stamp_ns, frame_id, types),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * little.dtype.itemsize,
        data=types.sequence(np.frombuffer(little.tobytes(), dtype=np.uint8), "uint8"),
    )


def rgb_to_image(rgb: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes) -> Any:
    """rgb8 Image of an (H, W, 3) uint8 RGB array."""
    return array_to_image(rgb, "rgb8", stamp_ns, frame_id, types)


def depth_to_image(
    depth_m: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes, encoding: str = "32FC1"
) -> Any:
    """Depth Image of (H, W) metres: 32FC1 metres (NaN = none) or 16UC1 millimetres (0 = none).

    Non-finite and non-positive values are "no measurement". For 16UC1 depths are rounded to
    the millimetre and a depth beyond 65.535 m is a ValueError.
    """
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    if encoding == "32FC1":
        return array_to_image(
            np.where(valid, depth_m, np.nan).astype(np.float32), encoding, stamp_ns, frame_id, types
        )
    if encoding == "16UC1":
        depth_mm = np.where(valid, np.rint(depth_m * MM_PER_M), 0.0)
        if depth_mm.size and depth_mm.max() > np.iinfo(np.uint16).max:
            raise ValueError(f"depth {depth_mm.max() / MM_PER_M:.3f} m exceeds the 16UC1 range of 65.535 m")
        return array_to_image(depth_mm.astype(np.uint16), encoding, stamp_ns, frame_id, types)
    raise ValueError(f"depth images are {' or '.join(DEPTH_ENCODINGS)}, got {encoding!r}")


def instance_mask_to_image(
    instance_mask: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes, encoding: str = "16UC1"
) -> Any:
    """16UC1 (or mono16) Image of (H, W) integer instance ids in [0, 65535] (0 = background)."""
    if encoding not in ("16UC1", "mono16"):
        raise ValueError(f"instance masks are written as 16UC1 or mono16, got {encoding!r}")
    mask = np.asarray(instance_mask)
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"instance mask must hold integer ids, got {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"instance ids must lie in [0, 65535], got [{mask.min()}, {mask.max()}]")
    return array_to_image(mask.astype(np.uint16), encoding, stamp_ns, frame_id, types)


def _as_bytes(data: Any) -> np.ndarray:
    """1-D uint8 view of an Image's ``data`` (numpy array, array.array, bytes or list of ints)."""
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)
