"""vision_msgs Detection3DArray / Detection2DArray <-> our types through real CDR round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros.nocs import CATEGORIES, Detection
from diff9d_ros.ros import convert
from diff9d_ros.ros.typestore import SHIPPED_TYPES, cdr_round_trip, get_typestore

TYPES = convert.RosbagsTypes()
FRAME = "camera_color_optical_frame"


def random_detections(count: int, seed: int = 0) -> list[Detection]:
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        spread = rng.normal(size=(6, 6)) * 0.01
        out.append(
            Detection(
                category=CATEGORIES[index % len(CATEGORIES)],
                rotation=Rotation.random(random_state=seed + index).as_matrix(),
                translation_m=rng.uniform([-0.3, -0.2, 0.4], [0.3, 0.2, 1.2]),
                size_m=rng.uniform(0.05, 0.3, 3),
                score=float(rng.uniform()),
                covariance=spread @ spread.T,
                track_id=f"{index + 10}",
            )
        )
    return out


def test_vision_msgs_are_registered_with_the_humble_fields() -> None:
    store = get_typestore()
    vision = [t for t in SHIPPED_TYPES if t.startswith("vision_msgs/msg/")]
    fields = {t.rsplit("/", 1)[1]: [f for f, _ in store.fielddefs[t][1]] for t in vision}
    assert fields["Detection3D"] == ["header", "results", "bbox", "id"]
    assert fields["Detection3DArray"] == ["header", "detections"]
    assert fields["ObjectHypothesisWithPose"] == ["hypothesis", "pose"]
    assert fields["ObjectHypothesis"] == ["class_id", "score"]
    assert fields["BoundingBox3D"] == ["center", "size"]
    assert fields["BoundingBox2D"] == ["center", "size_x", "size_y"]
    assert fields["Pose2D"] == ["position", "theta"]
    # The core Humble packages every converter needs are in the store.
    for msgtype in (
        "sensor_msgs/msg/Image",
        "sensor_msgs/msg/CameraInfo",
        "geometry_msgs/msg/PoseArray",
        "nav_msgs/msg/Path",
        "visualization_msgs/msg/MarkerArray",
        "tf2_msgs/msg/TFMessage",
        "diagnostic_msgs/msg/DiagnosticArray",
    ):
        assert msgtype in store.types


def test_detection3d_array_round_trip() -> None:
    detections = random_detections(7)
    msg = cdr_round_trip(convert.detections_to_msg(detections, 1_234_567_890_123, FRAME, TYPES))
    assert convert.header_stamp_ns(msg.header) == 1_234_567_890_123 and msg.header.frame_id == FRAME
    assert all(item.header.frame_id == FRAME for item in msg.detections)
    back = convert.msg_to_detections(msg)
    assert len(back) == len(detections)
    for original, restored in zip(detections, back, strict=True):
        assert restored.category == original.category and restored.track_id == original.track_id
        assert restored.score == pytest.approx(original.score)
        np.testing.assert_allclose(restored.rotation, original.rotation, atol=1e-12)
        np.testing.assert_allclose(restored.translation_m, original.translation_m, atol=1e-12)
        np.testing.assert_allclose(restored.size_m, original.size_m, atol=1e-12)
        np.testing.assert_array_equal(restored.covariance, original.covariance)


def test_wire_layout_follows_the_contract() -> None:
    (detection,) = random_detections(1, seed=3)
    (item,) = cdr_round_trip(convert.detections_to_msg([detection], 0, FRAME, TYPES)).detections
    assert item.id == detection.track_id and item.results[0].hypothesis.class_id == detection.category
    np.testing.assert_allclose(
        [item.bbox.center.position.x, item.bbox.center.position.y, item.bbox.center.position.z],
        detection.translation_m,
    )
    np.testing.assert_allclose([item.bbox.size.x, item.bbox.size.y, item.bbox.size.z], detection.size_m)
    # Covariance is row-major 6x6, not transposed: an asymmetric entry keeps its place.
    assert item.results[0].pose.covariance[1] == detection.covariance[0, 1]


def test_empty_detection_array() -> None:
    msg = cdr_round_trip(convert.detections_to_msg([], 9, FRAME, TYPES))
    assert convert.msg_to_detections(msg) == [] and convert.header_stamp_ns(msg.header) == 9


def test_best_hypothesis_wins() -> None:
    msg = convert.detections_to_msg(random_detections(1), 0, FRAME, TYPES)
    (item,) = msg.detections
    weaker = TYPES.new(
        "vision_msgs/msg/ObjectHypothesisWithPose",
        hypothesis=TYPES.new("vision_msgs/msg/ObjectHypothesis", class_id="can", score=-1.0),
    )
    item.results = [weaker, *item.results]
    (restored,) = convert.msg_to_detections(cdr_round_trip(msg))
    assert restored.category == "bottle"


def test_bad_detections_are_named() -> None:
    msg = convert.detections_to_msg(random_detections(2), 0, FRAME, TYPES)
    msg.detections[1].results = []
    with pytest.raises(ValueError, match=r"detection 1 \(id '11'\) has no class hypothesis"):
        convert.msg_to_detections(msg)
    msg = convert.detections_to_msg(random_detections(2), 0, FRAME, TYPES)
    orientation = msg.detections[0].bbox.center.orientation
    orientation.x = orientation.y = orientation.z = orientation.w = 0.0
    with pytest.raises(ValueError, match=r"detection 0 .* bad bbox.center pose: .*zero norm"):
        convert.msg_to_detections(msg)
    msg = convert.detections_to_msg(random_detections(2), 0, FRAME, TYPES)
    msg.detections[1].bbox.size.x = float("nan")
    with pytest.raises(ValueError, match=r"detection 1 .* bbox.size must be finite"):
        convert.msg_to_detections(msg)
    bad = random_detections(1)[0]
    bad.covariance[0, 0] = np.inf
    with pytest.raises(ValueError, match="covariance has NaN or inf"):
        convert.detections_to_msg([bad], 0, FRAME, TYPES)


def test_segmentation_detection2d_array_round_trip() -> None:
    mask = np.zeros((20, 30), dtype=np.int32)
    mask[2:6, 3:10] = 4
    mask[10:19, 20:25] = 9
    categories = {4: "mug", 9: "bowl"}
    msg = cdr_round_trip(convert.categories_to_msg(mask, categories, 5, FRAME, TYPES))
    assert convert.msg_to_categories(msg) == categories
    boxes = {
        d.id: (d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y)
        for d in msg.detections
    }
    assert boxes == {"4": (6.0, 3.5, 7.0, 4.0), "9": (22.0, 14.0, 5.0, 9.0)}
    with pytest.raises(ValueError, match=r"instance 5 .* no pixels"):
        convert.categories_to_msg(mask, {5: "can"}, 5, FRAME, TYPES)
    msg.detections[0].id = "left"
    with pytest.raises(ValueError, match="'left' is not a positive instance id"):
        convert.msg_to_categories(msg)
