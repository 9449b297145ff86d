"""Replay RGB-D frames from a rosbag2 (MCAP or sqlite3) for the runner and ``diff9d eval-bag``.

Topic names come from a preset (:data:`TOPIC_PRESETS`) or are given; by default
(:func:`topics_for_bag` with ``auto``) the first preset whose topics the bag has is taken:
``realsense`` (realsense-ros 4.x: ``/camera/camera/color/image_raw``,
``/camera/camera/aligned_depth_to_color/image_raw``, ``/camera/camera/color/camera_info``),
``synth`` (what ``diff9d synth bag`` writes, and realsense-ros 3.x: ``/camera/color/...``) and
``gazebo`` (an ``rgbd_camera`` through ros_gz_bridge: ``/rgbd_camera/image``, ``depth_image``,
``camera_info``). Where a bag holds only image_transport's compressed variant of an image topic
(``.../compressed``, ``.../compressedDepth``), that one is read (sensor_msgs/CompressedImage).

Colour and depth are paired by header stamp in the manner of message_filters' approximate-time
policy with one slop: the oldest colour and depth images are paired when their stamps differ by
at most ``slop_s``; otherwise the older one has no partner and is reported (a colour image) or
counted (a depth image). CameraInfo and ground truth (small messages) are read in a first pass and
matched to each colour stamp, the info by the nearest stamp, the ground truth within ``slop_s``.
Every colour image becomes one :class:`~diff9d_ros.pipeline.SourceFrame`: a frame, or the reason
there is none (no depth partner, a repeated or decreasing stamp, an image that does not convert).
A bag that breaks off mid-way (truncated, corrupt) ends the stream; ``error`` keeps the reason.

External masks (:class:`MaskTopics`): instance masks of any 2-D detector, as our
``segmentation/*`` topics publish them (a ``sensor_msgs/Image`` of 16UC1 instance ids and a
``vision_msgs/Detection2DArray`` naming each id's category, both with the colour image's stamp).
Each colour frame takes the mask stamped within ``slop_s`` of it, read by a second cursor over
the bag so that a detector's latency (masks logged after their image) does not matter; a frame
without one is reported.

Camera poses (``tracking_frame``, e.g. ``odom``, ``map`` or a synthetic bag's ``world``): the bag's
``/tf`` and ``/tf_static`` are read in the first pass, and every frame gets the pose of its camera
frame in ``tracking_frame`` at its stamp (``RGBDFrame.camera_pose``), so objects are tracked in that
frame as ``forecast_node`` does with the same parameter; a frame whose transform the bag lacks is
reported with the reason.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from diff9d_ros.bag.io import BagError, bag_topics, read_messages
from diff9d_ros.nocs import Detection
from diff9d_ros.pipeline import SourceFrame
from diff9d_ros.ros.convert_nav import tf_to_frame_transforms
from diff9d_ros.ros.convert_std import NS_PER_S, header_stamp_ns
from diff9d_ros.ros.convert_vision import msg_to_detections
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.trajectory.people import TransformTree

LOG = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DETECTIONS_TYPE = "vision_msgs/msg/Detection3DArray"
DETECTIONS_2D_TYPE = "vision_msgs/msg/Detection2DArray"
DEFAULT_GT_TOPIC = "/ground_truth/detections"
TF_TOPICS: tuple[str, ...] = ("/tf", "/tf_static")


@dataclass(frozen=True)
class RgbdTopics:
    """Names of the colour image, aligned depth image and colour CameraInfo topics."""

    rgb: str
    depth: str
    info: str


TOPIC_PRESETS: dict[str, RgbdTopics] = {
    "realsense": RgbdTopics(
        "/camera/camera/color/image_raw",
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/camera/color/camera_info",
    ),
    "synth": RgbdTopics(
        "/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw", "/camera/color/camera_info"
    ),
    "gazebo": RgbdTopics("/rgbd_camera/image", "/rgbd_camera/depth_image", "/rgbd_camera/camera_info"),
}
PRESET_HELP = (
    "realsense = realsense-ros 4.x (/camera/camera/color/...), synth = `diff9d synth bag` and "
    "realsense-ros 3.x (/camera/color/...), gazebo = an rgbd_camera through ros_gz_bridge (/rgbd_camera/...)"
)
#: image_transport's topic suffixes of the compressed colour and depth variants.
COMPRESSED_SUFFIXES = {"rgb": "/compressed", "depth": "/compressedDepth"}


@dataclass(frozen=True)
class MaskTopics:
    """Names of an external segmenter's instance-id image and Detection2DArray topics."""

    image: str = "/segmentation/image"
    detections: str = "/segmentation/detections"


class _MaskCursor:
    """Masks of one topic in stamp order, taken by the frame stamp they match."""

    def __init__(self, messages: Iterator[tuple[str, int, Any]], slop_ns: int) -> None:
        self.messages = messages
        self.slop_ns = slop_ns
        self.head: tuple[int, Any] | None = None

    def take(self, stamp_ns: int) -> Any:
        """The mask stamped within the slop of ``stamp_ns`` (older ones are skipped), or None."""
        while True:
            if self.head is None:
                item = next(self.messages, None)
                if item is None:
                    return None
                self.head = (header_stamp_ns(item[2].header), item[2])
            mask_stamp, msg = self.head
            if mask_stamp < stamp_ns - self.slop_ns:
                self.head = None
                continue
            if mask_stamp <= stamp_ns + self.slop_ns:
                self.head = None
                return msg
            return None


def add_tf(tree: TransformTree, topic: str, msg: Any) -> None:
    """Every transform of a ``/tf`` or ``/tf_static`` (static: at every time) message into ``tree``."""
    for edge in tf_to_frame_transforms(msg):
        tree.add(edge.parent_frame, edge.child_frame, edge.transform, edge.stamp_ns, topic == "/tf_static")


def topics_from_options(preset: str, rgb: str = "", depth: str = "", info: str = "") -> RgbdTopics:
    """The preset's names with any given name replacing its own; ValueError for an unknown preset."""
    if preset not in TOPIC_PRESETS:
        raise ValueError(f"unknown topic preset {preset!r}; presets: {', '.join(TOPIC_PRESETS)}")
    base = TOPIC_PRESETS[preset]
    return RgbdTopics(rgb or base.rgb, depth or base.depth, info or base.info)


def present_topics(wanted: RgbdTopics, available: dict[str, str]) -> RgbdTopics | None:
    """``wanted`` as found among ``available`` (topic -> type), an image topic replaced by its
    compressed variant where only that one is there; None when one of the three is missing."""
    names = {}
    for key in ("rgb", "depth"):
        name = getattr(wanted, key)
        compressed = name + COMPRESSED_SUFFIXES[key]
        names[key] = name if name in available else compressed if compressed in available else None
    if names["rgb"] is None or names["depth"] is None or wanted.info not in available:
        return None
    return RgbdTopics(names["rgb"], names["depth"], wanted.info)


def match_topics(
    available: dict[str, str], preset: str = "auto", rgb: str = "", depth: str = "", info: str = ""
) -> RgbdTopics:
    """The RGB-D topics to read among ``available``: ``preset`` (``auto``: the first preset the
    topics fit) with given names replacing its own. Where nothing fits, the first candidate, whose
    missing topics the bag source then names."""
    presets = list(TOPIC_PRESETS) if preset == "auto" else [preset]
    candidates = [topics_from_options(name, rgb, depth, info) for name in presets]
    for wanted in candidates:
        found = present_topics(wanted, available)
        if found is not None:
            return found
    return candidates[0]


def topics_for_bag(
    path: str | Path, preset: str = "auto", rgb: str = "", depth: str = "", info: str = ""
) -> RgbdTopics:
    """:func:`match_topics` on the bag at ``path``; BagError when it cannot be opened."""
    return match_topics(bag_topics(Path(path)), preset, rgb, depth, info)


class UnreadableBag:
    """A bag that could not be opened at all: no frames, and ``error`` says why (for the report)."""

    def __init__(self, path: str | Path, error: str) -> None:
        self.description = f"rosbag2 {path}"
        self.error = error
        self.period_s = 0.0

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[SourceFrame]:
        return iter(())


class BagSource:
    """:class:`SourceFrame` per colour image of a rosbag2 (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        topics: RgbdTopics | None = None,
        *,
        gt_topic: str | None = None,
        slop_s: float = 0.02,
        masks: MaskTopics | None = None,
        tracking_frame: str = "",
    ) -> None:
        self.path = Path(path)
        self.topics = topics or TOPIC_PRESETS["synth"]
        self.masks = masks
        #: Whether frames carry external instance masks (the runner then reports them as used).
        self.give_masks = masks is not None
        self.slop_ns = round(slop_s * NS_PER_S)
        if slop_s < 0:
            raise ValueError(f"slop_s must be >= 0, got {slop_s}")
        available = bag_topics(self.path)
        self._check_topics(available)
        self.tracking_frame = tracking_frame
        self.tf_topics = [t for t in TF_TOPICS if t in available] if tracking_frame else []
        if tracking_frame and not self.tf_topics:
            raise BagError(
                f"bag {self.path} has no /tf or /tf_static: no camera poses in tracking frame "
                f"{tracking_frame!r} (leave the tracking frame empty to track in the camera frame)"
            )
        self.tree = TransformTree()
        self.gt_topic = gt_topic if gt_topic and gt_topic in available else None
        if gt_topic and self.gt_topic is None:
            LOG.warning("bag %s has no ground-truth topic %s: no accuracy metrics", self.path, gt_topic)
        self.error: str | None = None
        self.unpaired_depth = 0
        self.count = self._count_rgb()
        #: Frame period from the CameraInfo stamps (known once iteration has started; 0 before).
        self.period_s = 0.0
        self.description = (
            f"rosbag2 {self.path} ({self.topics.rgb}, {self.topics.depth}, {self.topics.info})"
            + (f", objects tracked in {tracking_frame} through the bag's /tf" if tracking_frame else "")
        )

    def _check_topics(self, available: dict[str, str]) -> None:
        image_types = (IMAGE_TYPE, COMPRESSED_TYPE)
        wanted = {
            self.topics.rgb: image_types,
            self.topics.depth: image_types,
            self.topics.info: (INFO_TYPE,),
        }
        if self.masks is not None:
            wanted |= {self.masks.image: (IMAGE_TYPE,), self.masks.detections: (DETECTIONS_2D_TYPE,)}
        missing = [t for t in wanted if t not in available]
        if missing:
            raise BagError(
                f"bag {self.path} has no topic(s) {', '.join(missing)}; it has: "
                f"{', '.join(f'{t} ({m})' for t, m in sorted(available.items())) or 'none'} "
                f"(choose names with --rgb-topic/--depth-topic/--info-topic or --topics: {PRESET_HELP})"
            )
        for topic, msgtypes in wanted.items():
            if available[topic] not in msgtypes:
                raise BagError(
                    f"bag {self.path}: topic {topic} carries {available[topic]}, expected "
                    f"{' or '.join(msgtypes)}"
                )

    def _count_rgb(self) -> int:
        from rosbags.highlevel import AnyReader

        from diff9d_ros.ros.typestore import get_typestore

        try:
            with AnyReader([self.path], default_typestore=get_typestore()) as reader:
                return sum(c.msgcount for c in reader.connections if c.topic == self.topics.rgb)
        except Exception:  # a damaged index: the count is unknown, reading will say why
            return 0

    def __len__(self) -> int:
        return self.count

    def _first_pass(self) -> tuple[list[tuple[int, Any]], dict[int, list[Detection]], dict[int, Any]]:
        """CameraInfo messages, ground truth and external-mask categories by stamp (all small)."""
        infos: list[tuple[int, Any]] = []
        truth: dict[int, list[Detection]] = {}
        categories: dict[int, Any] = {}
        topics = [self.topics.info] + ([self.gt_topic] if self.gt_topic else []) + self.tf_topics
        if self.masks is not None:
            topics.append(self.masks.detections)
        try:
            for topic, _, msg in read_messages(self.path, topics):
                if topic in TF_TOPICS:
                    add_tf(self.tree, topic, msg)
                    continue
                stamp = header_stamp_ns(msg.header)
                if topic == self.topics.info:
                    infos.append((stamp, msg))
                elif self.masks is not None and topic == self.masks.detections:
                    categories[stamp] = msg
                else:
                    try:
                        truth[stamp] = msg_to_detections(msg)
                    except ValueError as error:
                        LOG.warning("ground truth at %d ns unusable: %s", stamp, error)
        except BagError as error:
            self.error = str(error)
        infos.sort(key=lambda item: item[0])
        if len(infos) > 1:
            self.period_s = float(np.median(np.diff([stamp for stamp, _ in infos]))) / NS_PER_S
        return infos, truth, categories

    def _nearest(self, stamps: np.ndarray, stamp_ns: int) -> int:
        i = int(np.searchsorted(stamps, stamp_ns))
        candidates = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
        return min(candidates, key=lambda j: abs(int(stamps[j]) - stamp_ns))

    def _truth_for(self, truth: dict[int, list[Detection]], stamps: np.ndarray, stamp_ns: int) -> list | None:
        if not len(stamps):
            return None
        j = self._nearest(stamps, stamp_ns)
        return truth[int(stamps[j])] if abs(int(stamps[j]) - stamp_ns) <= self.slop_ns else None

    def __iter__(self) -> Iterator[SourceFrame]:
        infos, truth, categories = self._first_pass()
        if not infos:
            self.error = (
                self.error or f"bag {self.path}: no CameraInfo on {self.topics.info}: missing intrinsics"
            )
            return
        info_stamps = np.array([s for s, _ in infos], dtype=np.int64)
        truth_stamps = np.array(sorted(truth), dtype=np.int64)
        rgb: deque[tuple[int, Any]] = deque()
        depth: deque[tuple[int, Any]] = deque()
        last = {"rgb": None, "depth": None}
        cursor = None
        if self.masks is not None:
            cursor = _MaskCursor(read_messages(self.path, [self.masks.image]), self.slop_ns)
        category_stamps = np.array(sorted(categories), dtype=np.int64)

        def emit(stamp_ns: int, rgb_msg: Any, depth_msg: Any) -> SourceFrame:
            info = infos[self._nearest(info_stamps, stamp_ns)][1]
            masks: dict[str, Any] = {}
            if cursor is not None:
                mask_msg = cursor.take(stamp_ns)
                near = self._nearest(category_stamps, stamp_ns) if len(category_stamps) else None
                close = near is not None and abs(int(category_stamps[near]) - stamp_ns) <= self.slop_ns
                if mask_msg is None or not close:
                    missing = self.masks.image if mask_msg is None else self.masks.detections
                    return SourceFrame(
                        stamp_ns, error=f"source: no {missing} within the slop of {stamp_ns} ns"
                    )
                masks = {"mask_msg": mask_msg, "categories_msg": categories[int(category_stamps[near])]}
            try:
                frame = frame_from_messages(rgb_msg, depth_msg, info, **masks)
                if self.tracking_frame:
                    pose = self.tree.lookup(self.tracking_frame, frame.frame_id, stamp_ns)
                    frame = replace(frame, camera_pose=pose)
            except ValueError as error:
                return SourceFrame(stamp_ns, error=f"source: {error}")
            return SourceFrame(stamp_ns, frame=frame, truth=self._truth_for(truth, truth_stamps, stamp_ns))

        try:
            for topic, _, msg in read_messages(self.path, [self.topics.rgb, self.topics.depth]):
                key = "rgb" if topic == self.topics.rgb else "depth"
                stamp = header_stamp_ns(msg.header)
                if last[key] is not None and stamp <= last[key]:
                    if key == "rgb":
                        kind = "repeats" if stamp == last[key] else "is older than"
                        yield SourceFrame(
                            stamp, error=f"source: colour stamp {stamp} {kind} the previous one"
                        )
                    else:
                        self.unpaired_depth += 1
                    continue
                last[key] = stamp
                (rgb if key == "rgb" else depth).append((stamp, msg))
                while rgb and depth:
                    (r_stamp, r_msg), (d_stamp, d_msg) = rgb[0], depth[0]
                    if abs(r_stamp - d_stamp) <= self.slop_ns:
                        rgb.popleft(), depth.popleft()
                        yield emit(r_stamp, r_msg, d_msg)
                    elif r_stamp < d_stamp:
                        rgb.popleft()
                        yield SourceFrame(r_stamp, error=self._no_partner(r_stamp, d_stamp))
                    else:
                        depth.popleft()
                        self.unpaired_depth += 1
        except BagError as error:
            self.error = str(error)
            LOG.error("%s", error)
        for r_stamp, _ in rgb:
            yield SourceFrame(r_stamp, error=f"source: colour image at {r_stamp} ns has no depth image")
        self.unpaired_depth += len(depth)

    def _no_partner(self, rgb_stamp: int, depth_stamp: int) -> str:
        gap_ms = (depth_stamp - rgb_stamp) / 1e6
        return (
            f"source: colour image at {rgb_stamp} ns has no depth image within {self.slop_ns / 1e6:g} ms "
            f"(next depth {gap_ms:.1f} ms later): mismatched stamps"
        )
