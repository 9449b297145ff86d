"""People as a rosbag2: an ETH-UCY scene written as person detections, and read back for the runner.

:func:`write_people_bag` (``diff9d traj bag``) writes one leave-one-out test scene of ETH-UCY
(:mod:`diff9d_ros.trajectory.eth_ucy`) as the messages a person detector with tracking publishes:

* ``/people`` (vision_msgs/Detection3DArray) every 0.4 s (the scene's annotation rate), empty where
  nobody is annotated; one Detection3D per person, class id ``person``, ``bbox.center`` the
  ground-plane position (z = 0 in ``map``), ``bbox.size`` 0.5 x 0.5 x 1.7 m, ``id`` the person's id
  (``<recording>/<pedestrian>``; left empty with ``ids=False``, so the tracker has to find them);
  in ``map`` or, with ``frame=SENSOR_FRAME``, in the optical frame of an overhead camera;
* ``/tf``: ``map`` -> :data:`SENSOR_FRAME` (a camera 10 m above the scene centre, looking down) with
  every message, so the detections can be moved into ``map`` through tf2;
* ``/clock`` (rosgraph_msgs/Clock) at every message, for ``use_sim_time``;
* ``/ground_truth/people``: the same people in ``map``, always with ids.

The scene's name is stored in the bag's metadata (custom data ``diff9d.eth_ucy_scene``), so the
evaluation can pick the model that held that scene out. A scene's recordings (univ has two) follow
each other with a 10 s gap. :class:`PeopleBagSource` reads such a bag (or any bag with person
Detection3DArrays and ``/tf``) back as :class:`PeopleFrame` items.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from diff9d_ros.bag.io import BagError, BagWriter, bag_topics, read_messages
from diff9d_ros.geometry.transforms import make_transform
from diff9d_ros.nocs import Detection
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_std import NS_PER_S, header_stamp_ns
from diff9d_ros.sources.bag import TF_TOPICS, add_tf
from diff9d_ros.trajectory.eth_ucy import FRAME_PERIOD_S, SCENES, read_tracks
from diff9d_ros.trajectory.people import PERSON_CLASS, TransformTree

LOG = logging.getLogger(__name__)

PEOPLE_TOPIC = "/people"
PEOPLE_GT_TOPIC = "/ground_truth/people"
DETECTIONS_TYPE = "vision_msgs/msg/Detection3DArray"
SCENE_KEY = "diff9d.eth_ucy_scene"
FIXED_FRAME = "map"
SENSOR_FRAME = "scene_camera_optical_frame"
PERSON_SIZE_M = np.array([0.5, 0.5, 1.7])
#: The first message's stamp, and the gap between two recordings of one scene.
START_NS = NS_PER_S
GAP_NS = 10 * NS_PER_S


def sensor_pose(centre_xy_m: np.ndarray) -> np.ndarray:
    """4x4 pose in ``map`` of the overhead camera's optical frame: 10 m above ``centre_xy_m``,
    optical z down, x along map x (a half turn about x)."""
    return make_transform(np.diag([1.0, -1.0, -1.0]), [centre_xy_m[0], centre_xy_m[1], 10.0])


@dataclass
class PeopleScene:
    """An ETH-UCY scene as a timeline: per 0.4 s step, the (id, x, y) of the people present."""

    name: str
    stamps_ns: np.ndarray
    people: list[list[tuple[str, float, float]]]


def scene_timeline(root: str | Path, scene: str, split: str = "test") -> PeopleScene:
    """The recordings of ``ROOT/SCENE/SPLIT`` one after the other, one step per 0.4 s."""
    if scene not in SCENES:
        raise ValueError(f"unknown ETH-UCY scene {scene!r}; scenes: {', '.join(SCENES)}")
    folder = Path(root) / scene / split
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise ValueError(f"no ETH-UCY recordings in {folder} (expected ROOT/{scene}/{split}/*.txt)")
    stamps: list[int] = []
    people: list[list[tuple[str, float, float]]] = []
    start_ns = START_NS
    for path in files:
        rows = read_tracks(path)
        frames = np.unique(rows[:, 0])
        step = np.diff(frames).min() if len(frames) > 1 else 1.0
        index = np.round((rows[:, 0] - frames[0]) / step).astype(int)
        count = int(index.max()) + 1
        per_step: list[list[tuple[str, float, float]]] = [[] for _ in range(count)]
        for k, (_, ped, x, y) in zip(index, rows, strict=True):
            per_step[k].append((f"{path.stem}/{int(ped)}", float(x), float(y)))
        stamps += [start_ns + round(k * FRAME_PERIOD_S * NS_PER_S) for k in range(count)]
        people += per_step
        start_ns = stamps[-1] + GAP_NS
    return PeopleScene(scene, np.array(stamps, dtype=np.int64), people)


def _people_detections(people: list[tuple[str, float, float]], to_frame: np.ndarray, ids: bool) -> list:
    rotation, translation = to_frame[:3, :3], to_frame[:3, 3]
    return [
        Detection(
            PERSON_CLASS,
            rotation,
            rotation @ np.array([x, y, 0.0]) + translation,
            PERSON_SIZE_M,
            track_id=person if ids else "",
        )
        for person, x, y in people
    ]


def write_people_bag(
    root: str | Path,
    scene: str,
    out: str | Path,
    *,
    split: str = "test",
    ids: bool = True,
    frame: str = FIXED_FRAME,
    storage: str = "mcap",
    progress: bool = True,
    max_messages: int | None = None,
) -> dict[str, int]:
    """Write the ``scene`` bag described in the module docstring; returns message counts per topic.

    ``max_messages``: the first messages only (smoke runs)."""
    if frame not in (FIXED_FRAME, SENSOR_FRAME):
        raise ValueError(f"people frame must be {FIXED_FRAME!r} or {SENSOR_FRAME!r}, got {frame!r}")
    timeline = scene_timeline(root, scene, split)
    if max_messages is not None:
        timeline.stamps_ns, timeline.people = (
            timeline.stamps_ns[:max_messages],
            timeline.people[:max_messages],
        )
    positions = np.array([(x, y) for step in timeline.people for _, x, y in step]).reshape(-1, 2)
    camera = sensor_pose(positions.mean(axis=0) if len(positions) else np.zeros(2))
    to_frame = np.eye(4) if frame == FIXED_FRAME else np.linalg.inv(camera)
    types = convert.RosbagsTypes()
    counts: dict[str, int] = {}
    with BagWriter(out, storage=storage) as bag:
        bag.set_custom_data(SCENE_KEY, scene)

        def put(topic: str, msg: object, stamp_ns: int) -> None:
            bag.write(topic, msg, stamp_ns)
            counts[topic] = counts.get(topic, 0) + 1

        steps = tqdm(
            zip(timeline.stamps_ns, timeline.people, strict=True),
            total=len(timeline.people),
            desc=f"bag {scene}",
            disable=not progress,
        )
        for stamp, people in steps:
            stamp = int(stamp)
            put("/clock", types.new("rosgraph_msgs/msg/Clock", clock=convert.ns_to_time(stamp, types)), stamp)
            tf = convert.FrameTransform(FIXED_FRAME, SENSOR_FRAME, camera, stamp)
            put("/tf", convert.frame_transforms_to_tf([tf], types), stamp)
            seen = _people_detections(people, to_frame, ids)
            put(PEOPLE_TOPIC, convert.detections_to_msg(seen, stamp, frame, types), stamp)
            truth = _people_detections(people, np.eye(4), True)
            put(PEOPLE_GT_TOPIC, convert.detections_to_msg(truth, stamp, FIXED_FRAME, types), stamp)
    return counts


def bag_custom_data(path: str | Path) -> dict[str, str]:
    """The ``custom_data`` of a rosbag2's ``metadata.yaml`` (empty when it has none)."""
    meta = Path(path) / "metadata.yaml"
    if not meta.is_file():
        raise BagError(f"bag {path} has no metadata.yaml (not a rosbag2 directory)")
    info = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    return dict((info.get("rosbag2_bagfile_information") or {}).get("custom_data") or {})


def is_people_bag(path: str | Path, topic: str = PEOPLE_TOPIC) -> bool:
    """Whether the bag carries person detections on ``topic`` (a Detection3DArray)."""
    return bag_topics(path).get(topic) == DETECTIONS_TYPE


@dataclass
class PeopleFrame:
    """One people message: detections in ``frame_id`` at ``stamp_ns``, ground truth (fixed frame) if
    known, or why there is nothing (``error``)."""

    stamp_ns: int
    frame_id: str = ""
    people: list[Detection] | None = None
    truth: list[Detection] | None = None
    truth_frame_id: str = FIXED_FRAME
    error: str | None = None


class PeopleBagSource:
    """:class:`PeopleFrame` per message of ``topic``; ``tree`` holds the bag's ``/tf`` and
    ``/tf_static`` (read first),
    ``truth`` comes from ``gt_topic`` at the same stamp, ``scene`` from the bag's metadata."""

    def __init__(self, path: str | Path, topic: str = PEOPLE_TOPIC, gt_topic: str | None = PEOPLE_GT_TOPIC):
        self.path = Path(path)
        available = bag_topics(self.path)
        if available.get(topic) != DETECTIONS_TYPE:
            raise BagError(
                f"bag {self.path} has no {DETECTIONS_TYPE} topic {topic}; it has: "
                f"{', '.join(f'{t} ({m})' for t, m in sorted(available.items())) or 'none'}"
            )
        self.topic = topic
        self.gt_topic = gt_topic if gt_topic and available.get(gt_topic) == DETECTIONS_TYPE else None
        self.tf_topics = [topic for topic in TF_TOPICS if topic in available]
        self.scene = bag_custom_data(self.path).get(SCENE_KEY)
        self.count = self._count()
        self.error: str | None = None
        self.tree = TransformTree()
        self.description = f"rosbag2 {self.path} (people on {topic})"

    def _count(self) -> int:
        from rosbags.highlevel import AnyReader

        from diff9d_ros.ros.typestore import get_typestore

        try:
            with AnyReader([self.path], default_typestore=get_typestore()) as reader:
                return sum(c.msgcount for c in reader.connections if c.topic == self.topic)
        except Exception:  # a damaged index: the count is unknown, reading will say why
            return 0

    def __len__(self) -> int:
        return self.count

    def _first_pass(self) -> dict[int, tuple[str, list[Detection]]]:
        """Every /tf edge into ``tree``; ground truth (frame, people) by stamp."""
        truth: dict[int, tuple[str, list[Detection]]] = {}
        topics = self.tf_topics + ([self.gt_topic] if self.gt_topic else [])
        if not topics:
            return truth
        try:
            for topic, _, msg in read_messages(self.path, topics):
                if topic in self.tf_topics:
                    add_tf(self.tree, topic, msg)
                else:
                    people = convert.msg_to_detections(msg)
                    truth[header_stamp_ns(msg.header)] = (str(msg.header.frame_id), people)
        except (BagError, ValueError) as error:
            self.error = str(error)
        return truth

    def __iter__(self) -> Iterator[PeopleFrame]:
        truth = self._first_pass()
        try:
            for _, _, msg in read_messages(self.path, [self.topic]):
                stamp = header_stamp_ns(msg.header)
                try:
                    people = convert.msg_to_detections(msg)
                except ValueError as error:
                    yield PeopleFrame(stamp, str(msg.header.frame_id), error=f"source: {error}")
                    continue
                truth_frame, truth_people = truth.get(stamp, (FIXED_FRAME, None))
                yield PeopleFrame(stamp, str(msg.header.frame_id), people, truth_people, truth_frame)
        except BagError as error:
            self.error = str(error)
            LOG.error("%s", error)
