"""MarkerArray for boxes, axes and forecasts through real CDR round trips: geometry, ids, colours."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.boxes import box_corners
from diff9d_ros.nocs import CATEGORY_COLOURS, UNKNOWN_COLOUR, Detection
from diff9d_ros.ros import convert
from diff9d_ros.ros.convert_markers import LINE_LIST, SPHERE_LIST
from diff9d_ros.ros.typestore import cdr_round_trip

TYPES = convert.RosbagsTypes()
FRAME = "camera_color_optical_frame"


def points_in_frame(marker) -> np.ndarray:
    """(N, 3) marker points mapped by the marker's pose into the header frame."""
    local = np.array([[p.x, p.y, p.z] for p in marker.points]).reshape(-1, 3)
    transform = convert.transform_from_pose(marker.pose)
    return local @ transform[:3, :3].T + transform[:3, 3]


def test_box_markers_draw_the_twelve_edges() -> None:
    detections = [
        Detection(
            "mug", Rotation.from_rotvec([0.3, -0.2, 1.0]).as_matrix(), [0.1, -0.05, 0.7], [0.12, 0.09, 0.1]
        ),
        Detection("laptop", np.eye(3), [0.0, 0.1, 0.9], [0.3, 0.02, 0.25]),
        Detection("spoon", np.eye(3), [0.2, 0.1, 0.9], [0.1, 0.02, 0.02]),
    ]
    msg = cdr_round_trip(convert.boxes_to_markers(detections, 55, FRAME, TYPES, lifetime_s=0.25))
    assert [m.id for m in msg.markers] == [0, 1, 2] and {m.ns for m in msg.markers} == {"boxes"}
    for marker, detection in zip(msg.markers, detections, strict=True):
        assert marker.type == LINE_LIST and marker.header.frame_id == FRAME
        assert convert.time_to_ns(marker.lifetime) == 250_000_000
        expected_colour = CATEGORY_COLOURS.get(detection.category, UNKNOWN_COLOUR)
        assert (marker.color.r, marker.color.g, marker.color.b, marker.color.a) == pytest.approx(
            expected_colour
        )
        segments = points_in_frame(marker).reshape(12, 2, 3)
        corners = box_corners(detection.rotation, detection.translation_m, detection.size_m)
        # Every segment joins two corners that differ along exactly one box axis...
        edges = set()
        for start, end in segments:
            i = int(np.argmin(np.linalg.norm(corners - start, axis=1)))
            j = int(np.argmin(np.linalg.norm(corners - end, axis=1)))
            np.testing.assert_allclose([corners[i], corners[j]], [start, end], atol=1e-12)
            assert bin(i ^ j).count("1") == 1
            edges.add(frozenset((i, j)))
        # ...and all 12 distinct edges are drawn.
        assert len(edges) == 12
        lengths = sorted(np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1))
        np.testing.assert_allclose(lengths, sorted(np.repeat(detection.size_m, 4)), atol=1e-12)
    assert len({(m.color.r, m.color.g, m.color.b) for m in msg.markers}) == 3


def test_axes_markers_are_red_green_blue_along_the_pose_axes() -> None:
    transform = np.eye(4)
    transform[:3, :3] = Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix()
    transform[:3, 3] = [1.0, 2.0, 3.0]
    msg = cdr_round_trip(convert.axes_to_markers([transform, np.eye(4)], 0, "world", TYPES, length_m=0.1))
    marker = msg.markers[0]
    points = points_in_frame(marker).reshape(3, 2, 3)
    np.testing.assert_allclose(points[:, 0], np.tile([1.0, 2.0, 3.0], (3, 1)), atol=1e-12)
    np.testing.assert_allclose(points[:, 1] - points[:, 0], 0.1 * transform[:3, :3].T, atol=1e-12)
    colours = [(c.r, c.g, c.b) for c in marker.colors]
    assert colours == [(1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1)]
    assert [m.id for m in msg.markers] == [0, 1]


def test_forecast_markers_hold_every_sample_point_and_segment() -> None:
    rng = np.random.default_rng(0)
    samples = [rng.normal(size=(4, 6, 3)), rng.normal(size=(2, 3, 3))]
    msg = cdr_round_trip(convert.forecasts_to_markers(samples, 0, "world", TYPES))
    assert [(m.id, m.type) for m in msg.markers] == [
        (0, SPHERE_LIST),
        (1, LINE_LIST),
        (2, SPHERE_LIST),
        (3, LINE_LIST),
    ]
    for agent, agent_samples in enumerate(samples):
        spheres, lines = msg.markers[2 * agent], msg.markers[2 * agent + 1]
        np.testing.assert_allclose(points_in_frame(spheres), agent_samples.reshape(-1, 3), atol=1e-12)
        segments = points_in_frame(lines).reshape(-1, 2, 3)
        k, t, _ = agent_samples.shape
        assert segments.shape[0] == k * (t - 1)
        expected = [(s[i], s[i + 1]) for s in agent_samples for i in range(t - 1)]
        np.testing.assert_allclose(segments, np.array(expected), atol=1e-12)
    with pytest.raises(ValueError, match=r"\(K, T, 3\)"):
        convert.forecasts_to_markers([np.zeros((5, 3))], 0, "world", TYPES)


def test_negative_lifetime_is_an_error() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        convert.axes_to_markers([np.eye(4)], 0, "world", TYPES, lifetime_s=-1.0)
