"""From synchronised messages to pipeline input, without rclpy: frame assembly and frame policy.

* :func:`frame_from_messages` turns one RGB + depth + CameraInfo set (and optional external
  masks) into an :class:`RGBDFrame`, checking the alignment assumption: depth registered to the
  colour image (same size and frame, as realsense-ros publishes ``aligned_depth_to_color`` and
  a Gazebo ``rgbd_camera`` publishes both images).
* :func:`is_stale` is the stale-frame rule: an input whose header stamp is older than the node's
  ``max_frame_age_s`` on arrival is dropped (it would only delay the newer frames behind it).
* :class:`StampedBuffer` holds recent frames by stamp so that the grasp node can meet the
  detections computed from a frame, whatever the pose node's latency.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Generic, TypeVar

from diff9d_ros.geometry.camera import RGBDFrame
from diff9d_ros.ros.convert_camera import camera_info_to_intrinsics
from diff9d_ros.ros.convert_compressed import message_to_depth_m, message_to_rgb
from diff9d_ros.ros.convert_image import image_to_instance_mask
from diff9d_ros.ros.convert_std import NS_PER_S, header_stamp_ns
from diff9d_ros.ros.convert_vision import msg_to_categories

T = TypeVar("T")


def frame_from_messages(
    rgb_msg: Any,
    depth_msg: Any,
    info_msg: Any,
    *,
    frame_id_override: str = "",
    mask_msg: Any = None,
    categories_msg: Any = None,
) -> RGBDFrame:
    """An :class:`RGBDFrame` of one synchronised set; ValueError naming what does not fit.

    Colour and depth may each be a ``sensor_msgs/Image`` or a ``CompressedImage`` (jpeg/png
    colour, compressedDepth; :mod:`diff9d_ros.ros.convert_compressed`).
    The stamp is the colour image's; the frame is ``frame_id_override`` or the colour image's.
    External masks come as a 16UC1 instance-id image plus a Detection2DArray naming the category
    of each id; they must be given together.
    """
    intrinsics = camera_info_to_intrinsics(info_msg)
    rgb = message_to_rgb(rgb_msg)
    depth_m = message_to_depth_m(depth_msg)
    size = (intrinsics.height, intrinsics.width)
    for what, shape in (("colour image", rgb.shape[:2]), ("depth image", depth_m.shape)):
        if shape != size:
            raise ValueError(
                f"{what} is {shape[1]}x{shape[0]} but camera_info is {size[1]}x{size[0]}: "
                "depth must be aligned to the colour image"
            )
    colour_frame, depth_frame = str(rgb_msg.header.frame_id), str(depth_msg.header.frame_id)
    if depth_frame != colour_frame:
        raise ValueError(
            f"depth is in frame {depth_frame!r} but colour in {colour_frame!r}: depth must be aligned "
            "to colour (realsense-ros: align_depth.enable:=true, topic aligned_depth_to_color/image_raw)"
        )
    frame_id = frame_id_override or colour_frame
    if not frame_id:
        raise ValueError("the colour image has an empty header.frame_id and no frame_id_override is set")
    if (mask_msg is None) != (categories_msg is None):
        raise ValueError("external segmentation needs both the mask image and the categories message")
    instance_mask, categories = None, {}
    if mask_msg is not None:
        instance_mask = image_to_instance_mask(mask_msg)
        if instance_mask.shape != size:
            raise ValueError(
                f"mask image is {instance_mask.shape[1]}x{instance_mask.shape[0]} but camera_info is "
                f"{size[1]}x{size[0]}"
            )
        categories = msg_to_categories(categories_msg)
    return RGBDFrame(
        rgb=rgb,
        depth_m=depth_m,
        intrinsics=intrinsics,
        stamp_ns=header_stamp_ns(rgb_msg.header),
        frame_id=frame_id,
        instance_mask=instance_mask,
        categories=categories,
    )


def frame_age_s(stamp_ns: int, now_ns: int) -> float:
    """Seconds from a header stamp to ``now_ns`` (negative: stamped in the future of this clock)."""
    return (now_ns - stamp_ns) / NS_PER_S


def is_stale(stamp_ns: int, now_ns: int, max_age_s: float) -> bool:
    """Whether an input stamped ``stamp_ns`` is too old on arrival (``max_age_s`` 0: never).

    A stamp from the future (clocks of two machines, or wall time against sim time) is not stale:
    a node must not drop everything because of a clock offset it cannot fix.
    """
    if max_age_s < 0:
        raise ValueError(f"max_frame_age_s must be >= 0, got {max_age_s}")
    return max_age_s > 0 and frame_age_s(stamp_ns, now_ns) > max_age_s


class StampedBuffer(Generic[T]):
    """The last ``capacity`` items by stamp; :meth:`match` takes the one closest to a stamp.

    Items arrive in stamp order; a match also discards the older items (results come in stamp
    order, so no later result can need them). ``evicted`` counts items that left unmatched.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[tuple[int, T]] = deque()
        self._lock = threading.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, stamp_ns: int, item: T) -> None:
        with self._lock:
            self._items.append((int(stamp_ns), item))
            while len(self._items) > self.capacity:
                self._items.popleft()
                self.evicted += 1

    def match(self, stamp_ns: int, tolerance_ns: int) -> T | None:
        """The item stamped closest to ``stamp_ns`` within ``tolerance_ns``, or ``None``."""
        with self._lock:
            if not self._items:
                return None
            best = min(range(len(self._items)), key=lambda i: abs(self._items[i][0] - stamp_ns))
            if abs(self._items[best][0] - stamp_ns) > tolerance_ns:
                return None
            item = self._items[best][1]
            for _ in range(best + 1):
                self._items.popleft()
            self.evicted += best
            return item
