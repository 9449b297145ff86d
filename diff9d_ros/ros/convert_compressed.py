"""``sensor_msgs/CompressedImage`` <-> numpy, as image_transport's ``compressed`` and
``compressedDepth`` plugins write them (what realsense-ros and most recordings carry).

* colour (``compressed``): ``format`` is ``jpeg``/``png`` or ``"<encoding>; jpeg compressed bgr8"``;
  ``data`` is a standard JPEG or PNG file (decoded with Pillow to RGB);
* depth (``compressedDepth``): ``format`` is ``"16UC1; compressedDepth png"`` (or ``32FC1; ...``);
  ``data`` is a 12-byte header (int32 compression format: 0 inverse depth, 1 PNG, 2 RVL; then two
  float32 quantisation parameters A and B) followed by a 16-bit PNG. 16UC1 holds millimetres;
  32FC1 holds quantised inverse depth ``q = A / depth_m + B``, so ``depth_m = A / (q - B)``
  (compressed_depth_image_transport, ``depth_quantization`` and ``depth_max``).

:func:`message_to_rgb` and :func:`message_to_depth_m` take either an Image or a CompressedImage.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np

from diff9d_ros.ros.convert_image import MM_PER_M, image_to_depth_m, image_to_rgb
from diff9d_ros.ros.convert_std import make_header
from diff9d_ros.ros.message_types import MessageTypes

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
#: Header of compressedDepth data: compression format (int32), depthQuantA, depthQuantB (float32).
DEPTH_HEADER = struct.Struct("<iff")
INV_DEPTH, PNG_DEPTH, RVL_DEPTH = 0, 1, 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: compressed_depth_image_transport defaults: depth_quantization 100, depth_max 10 m.
DEPTH_QUANTIZATION, DEPTH_MAX_M = 100.0, 10.0


def is_compressed(msg: Any) -> bool:
    """Whether ``msg`` is a CompressedImage (it has ``format``, an Image has ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def _data(msg: Any) -> bytes:
    data = msg.data
    return bytes(np.asarray(data, dtype=np.uint8)) if isinstance(data, (list, tuple)) else bytes(data)


def _decode(data: bytes, what: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError(f"{what}: empty data")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I"):
                return np.asarray(image, dtype=np.uint16 if image.mode != "I" else np.int32)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{what}: data is not a readable JPEG/PNG ({error})") from error


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a ``compressed`` CompressedImage (JPEG or PNG, any colour order:
    the file format fixes it)."""
    fmt = str(msg.format)
    if "compressedDepth" in fmt:
        raise ValueError(f"cannot read a {fmt!r} CompressedImage as colour (it is depth)")
    pixels = _decode(_data(msg), f"CompressedImage {fmt!r}")
    if pixels.ndim != 3:
        raise ValueError(f"CompressedImage {fmt!r} holds a {pixels.dtype} single-channel image, not colour")
    return pixels


def compressed_to_depth_m(msg: Any) -> np.ndarray:
    """(H, W) float32 metres of a ``compressedDepth`` CompressedImage; NaN = no measurement."""
    fmt = str(msg.format)
    encoding = fmt.split(";")[0].strip()
    if "compressedDepth" not in fmt or encoding not in ("16UC1", "32FC1"):
        raise ValueError(
            f"cannot read a {fmt!r} CompressedImage as depth; expected '16UC1; compressedDepth png' "
            "or '32FC1; compressedDepth png'"
        )
    data = _data(msg)
    start = data.find(PNG_MAGIC, 0, 32)
    if start < 0:
        raise ValueError(f"compressedDepth {fmt!r}: no PNG after the header (RVL is not supported)")
    quant_a = quant_b = 0.0
    if start >= DEPTH_HEADER.size:
        kind, quant_a, quant_b = DEPTH_HEADER.unpack(data[start - DEPTH_HEADER.size : start])
        if kind == RVL_DEPTH:
            raise ValueError("compressedDepth in RVL format is not supported; publish png")
    raw = _decode(data[start:], f"compressedDepth {fmt!r}")
    if raw.ndim != 2:
        raise ValueError(f"compressedDepth {fmt!r} holds a colour image, not 16-bit depth")
    if encoding == "16UC1":
        depth_m = raw.astype(np.float32) / np.float32(MM_PER_M)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            depth_m = (quant_a / (raw.astype(np.float64) - quant_b)).astype(np.float32)
        depth_m[raw == 0] = np.nan
    with np.errstate(invalid="ignore"):
        depth_m[~(np.isfinite(depth_m) & (depth_m > 0))] = np.nan
    return depth_m


def message_to_rgb(msg: Any) -> np.ndarray:
    """RGB of an Image (:func:`image_to_rgb`) or a CompressedImage (:func:`compressed_to_rgb`)."""
    return compressed_to_rgb(msg) if is_compressed(msg) else image_to_rgb(msg)


def message_to_depth_m(msg: Any) -> np.ndarray:
    """Depth in metres of an Image (:func:`image_to_depth_m`) or a compressedDepth CompressedImage."""
    return compressed_to_depth_m(msg) if is_compressed(msg) else image_to_depth_m(msg)


def _encode(pixels: np.ndarray, image_format: str, **options: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format.upper(), **options)
    return buffer.getvalue()


def _message(data: bytes, fmt: str, stamp_ns: int, frame_id: str, types: MessageTypes) -> Any:
    return types.new(
        COMPRESSED_IMAGE,
        header=make_header(stamp_ns, frame_id, types),
        format=fmt,
        data=types.sequence(np.frombuffer(data, dtype=np.uint8), "uint8"),
    )


def rgb_to_compressed(
    rgb: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes, image_format: str = "jpeg"
) -> Any:
    """CompressedImage of (H, W, 3) uint8 RGB as image_transport writes it (``rgb8; jpeg compressed
    bgr8``, quality 95, or png)."""
    if image_format not in ("jpeg", "png"):
        raise ValueError(f"colour CompressedImage format must be jpeg or png, got {image_format!r}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"need an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    options = {"quality": 95} if image_format == "jpeg" else {}
    data = _encode(rgb, image_format, **options)
    return _message(data, f"rgb8; {image_format} compressed bgr8", stamp_ns, frame_id, types)


def depth_to_compressed(
    depth_m: np.ndarray, stamp_ns: int, frame_id: str, types: MessageTypes, encoding: str = "16UC1"
) -> Any:
    """compressedDepth CompressedImage of (H, W) metres: 16UC1 millimetres in a PNG, or 32FC1 as
    quantised inverse depth with the plugin's default quantisation (100, ``depth_max`` 10 m)."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    if encoding == "16UC1":
        raw = np.where(valid, np.rint(depth_m * MM_PER_M), 0.0)
        if raw.size and raw.max() > np.iinfo(np.uint16).max:
            raise ValueError(f"depth {raw.max() / MM_PER_M:.3f} m exceeds the 16UC1 range of 65.535 m")
        header = DEPTH_HEADER.pack(PNG_DEPTH, 0.0, 0.0)
    elif encoding == "32FC1":
        quant_a = DEPTH_QUANTIZATION * (DEPTH_QUANTIZATION + 1.0)
        quant_b = 1.0 - quant_a / DEPTH_MAX_M
        valid &= depth_m <= DEPTH_MAX_M
        raw = np.where(valid, np.rint(quant_a / np.where(valid, depth_m, 1.0) + quant_b), 0.0)
        header = DEPTH_HEADER.pack(INV_DEPTH, quant_a, quant_b)
    else:
        raise ValueError(f"compressedDepth encodes 16UC1 or 32FC1, got {encoding!r}")
    data = header + _encode(raw.astype(np.uint16), "png")
    return _message(data, f"{encoding}; compressedDepth png", stamp_ns, frame_id, types)
