"""vision_msgs <-> our detections: Detection3DArray <-> list[Detection], Detection2DArray <-> categories.

Detection3D contract (DESIGN.md, "Message contracts"): ``bbox.center`` is the pose of the
object's canonical (NOCS) frame in the header's frame, ``bbox.size`` its full extents in metres,
``results[0].hypothesis`` the category name and score, ``results[0].pose.covariance`` the 6x6
row-major pose covariance (x, y, z, rot x, rot y, rot z) and ``id`` the track id.

Segmentation input: a 16UC1 instance-id Image plus a Detection2DArray whose detection ``id`` is
the instance id (as a decimal string) and whose best hypothesis names the category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diff9d_ros.geometry.transforms import split_transform
from diff9d_ros.nocs import Detection
from diff9d_ros.ros.convert_std import (
    make_header,
    make_vector3,
    pose_from_transform,
    transform_from_pose,
    xyz_of,
)
from diff9d_ros.ros.message_types import MessageTypes


def detections_to_msg(
    detections: Sequence[Detection], stamp_ns: int, frame_id: str, types: MessageTypes
) -> Any:
    """Detection3DArray of ``detections`` (poses in ``frame_id``); every Detection3D gets the same header."""
    header = make_header(stamp_ns, frame_id, types)
    return types.new(
        "vision_msgs/msg/Detection3DArray",
        header=header,
        detections=[_detection3d(detection, header, types) for detection in detections],
    )


def msg_to_detections(msg: Any) -> list[Detection]:
    """Detections of a Detection3DArray (category and covariance from the best-scoring hypothesis).

    ValueError naming the detection for one without hypotheses, with a zero or NaN orientation,
    or with non-finite or negative sizes.
    """
    out = []
    for index, item in enumerate(msg.detections):
        if len(item.results) == 0:
            raise ValueError(f"detection {index} (id {item.id!r}) has no class hypothesis in results")
        best = max(item.results, key=lambda result: float(result.hypothesis.score))
        try:
            rotation, translation_m = split_transform(transform_from_pose(item.bbox.center))
        except ValueError as error:
            raise ValueError(f"detection {index} (id {item.id!r}): bad bbox.center pose: {error}") from error
        size_m = xyz_of(item.bbox.size)
        if not np.all(np.isfinite(size_m)) or np.any(size_m < 0):
            raise ValueError(
                f"detection {index} (id {item.id!r}): bbox.size must be finite and >= 0, got {size_m}"
            )
        covariance = np.asarray(best.pose.covariance, dtype=np.float64)
        if covariance.size != 36:
            raise ValueError(f"detection {index}: covariance has {covariance.size} values, expected 36")
        out.append(
            Detection(
                category=str(best.hypothesis.class_id),
                rotation=rotation,
                translation_m=translation_m,
                size_m=size_m,
                score=float(best.hypothesis.score),
                covariance=covariance.reshape(6, 6),
                track_id=str(item.id),
            )
        )
    return out


def _detection3d(detection: Detection, header: Any, types: MessageTypes) -> Any:
    """One Detection3D of a Detection (see the module docstring for the field mapping)."""
    pose = pose_from_transform(detection.transform, types)
    covariance = np.asarray(detection.covariance, dtype=np.float64)
    if not np.all(np.isfinite(covariance)):
        raise ValueError(f"{detection.category} detection {detection.track_id!r}: covariance has NaN or inf")
    hypothesis = types.new(
        "vision_msgs/msg/ObjectHypothesisWithPose",
        hypothesis=types.new(
            "vision_msgs/msg/ObjectHypothesis", class_id=detection.category, score=float(detection.score)
        ),
        pose=types.new("geometry_msgs/msg/PoseWithCovariance", pose=pose, covariance=covariance.reshape(36)),
    )
    bbox = types.new(
        "vision_msgs/msg/BoundingBox3D",
        center=pose,
        size=make_vector3(detection.size_m, types),
    )
    return types.new(
        "vision_msgs/msg/Detection3D", header=header, results=[hypothesis], bbox=bbox, id=detection.track_id
    )


def categories_to_msg(
    instance_mask: np.ndarray,
    categories: Mapping[int, str],
    stamp_ns: int,
    frame_id: str,
    types: MessageTypes,
) -> Any:
    """Detection2DArray of the instances of a mask: id = instance id, axis-aligned pixel box, category.

    Instances named in ``categories`` but absent from the mask are a ValueError.
    """
    mask = np.asarray(instance_mask)
    header = make_header(stamp_ns, frame_id, types)
    detections = []
    for instance_id, category in sorted(categories.items()):
        rows, cols = np.nonzero(mask == instance_id)
        if instance_id == 0 or rows.size == 0:
            raise ValueError(
                f"instance {instance_id} ({category}) has no pixels in the mask (0 is background)"
            )
        center = types.new(
            "vision_msgs/msg/Pose2D",
            position=types.new(
                "vision_msgs/msg/Point2D",
                x=float(cols.min() + cols.max()) / 2.0,
                y=float(rows.min() + rows.max()) / 2.0,
            ),
            theta=0.0,
        )
        hypothesis = types.new(
            "vision_msgs/msg/ObjectHypothesisWithPose",
            hypothesis=types.new("vision_msgs/msg/ObjectHypothesis", class_id=category, score=1.0),
        )
        detections.append(
            types.new(
                "vision_msgs/msg/Detection2D",
                header=header,
                results=[hypothesis],
                bbox=types.new(
                    "vision_msgs/msg/BoundingBox2D",
                    center=center,
                    size_x=float(cols.max() - cols.min() + 1),
                    size_y=float(rows.max() - rows.min() + 1),
                ),
                id=str(instance_id),
            )
        )
    return types.new("vision_msgs/msg/Detection2DArray", header=header, detections=detections)


def msg_to_categories(msg: Any) -> dict[int, str]:
    """Instance id -> category of a segmentation Detection2DArray (ids are decimal strings)."""
    out: dict[int, str] = {}
    for index, item in enumerate(msg.detections):
        if not str(item.id).isdigit() or int(item.id) == 0:
            raise ValueError(f"Detection2D {index}: id {item.id!r} is not a positive instance id")
        if len(item.results) == 0:
            raise ValueError(f"Detection2D {index} (instance {item.id}) has no class hypothesis")
        best = max(item.results, key=lambda result: float(result.hypothesis.score))
        out[int(item.id)] = str(best.hypothesis.class_id)
    return out
