"""Message <-> numpy/dataclass conversion for every topic of the stack, in one import.

No rclpy import: readers take any object with the ROS field names (rclpy or rosbags messages),
builders take a :class:`MessageTypes` provider (:class:`RosbagsTypes` for bags and tests,
:class:`RclpyTypes` in the nodes). The conversions live in small modules by message family;
this module gathers their public API::

    from diff9d_ros.ros import convert
    types = convert.RosbagsTypes()
    msg = convert.rgb_to_image(rgb, stamp_ns, "camera_color_optical_frame", types)
    rgb_back = convert.image_to_rgb(msg)
"""

from diff9d_ros.ros.convert_camera import camera_info_to_intrinsics, intrinsics_to_camera_info
from diff9d_ros.ros.convert_compressed import (
    compressed_to_depth_m,
    compressed_to_rgb,
    depth_to_compressed,
    message_to_depth_m,
    message_to_rgb,
    rgb_to_compressed,
)
from diff9d_ros.ros.convert_image import (
    DEPTH_ENCODINGS,
    IMAGE_ENCODINGS,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_depth_m,
    image_to_instance_mask,
    image_to_rgb,
    instance_mask_to_image,
    rgb_to_image,
)
from diff9d_ros.ros.convert_markers import (
    axes_to_markers,
    boxes_to_markers,
    forecasts_to_markers,
)
from diff9d_ros.ros.convert_nav import (
    FrameTransform,
    frame_transforms_to_tf,
    path_stamps_ns,
    path_to_positions,
    pose_array_to_transforms,
    pose_stamped_to_transform,
    positions_to_path,
    tf_to_frame_transforms,
    transform_stamped_to_frame_transform,
    transform_to_pose_stamped,
    transforms_to_pose_array,
)
from diff9d_ros.ros.convert_std import (
    header_stamp_ns,
    make_header,
    ns_to_time,
    pose_from_transform,
    time_to_ns,
    transform_from_pose,
)
from diff9d_ros.ros.convert_vision import (
    categories_to_msg,
    detections_to_msg,
    msg_to_categories,
    msg_to_detections,
)
from diff9d_ros.ros.message_types import MessageTypes, RclpyTypes, RosbagsTypes

__all__ = [
    "DEPTH_ENCODINGS",
    "IMAGE_ENCODINGS",
    "FrameTransform",
    "MessageTypes",
    "RclpyTypes",
    "RosbagsTypes",
    "array_to_image",
    "axes_to_markers",
    "boxes_to_markers",
    "camera_info_to_intrinsics",
    "categories_to_msg",
    "compressed_to_depth_m",
    "compressed_to_rgb",
    "depth_to_compressed",
    "depth_to_image",
    "detections_to_msg",
    "forecasts_to_markers",
    "frame_transforms_to_tf",
    "header_stamp_ns",
    "image_to_array",
    "image_to_depth_m",
    "image_to_instance_mask",
    "image_to_rgb",
    "instance_mask_to_image",
    "intrinsics_to_camera_info",
    "make_header",
    "message_to_depth_m",
    "message_to_rgb",
    "msg_to_categories",
    "msg_to_detections",
    "ns_to_time",
    "path_stamps_ns",
    "path_to_positions",
    "pose_array_to_transforms",
    "pose_from_transform",
    "pose_stamped_to_transform",
    "positions_to_path",
    "rgb_to_compressed",
    "rgb_to_image",
    "tf_to_frame_transforms",
    "time_to_ns",
    "transform_from_pose",
    "transform_stamped_to_frame_transform",
    "transform_to_pose_stamped",
    "transforms_to_pose_array",
]
