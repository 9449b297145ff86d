"""Bottles and cans lying on their side: the sampled pose takes the axis measured from the points.

For a body of revolution lying on the table the surface normals pin its axis down as a line to a
few degrees (:func:`diff9d_ros.pose.baseline.lying_axis`, the axis of Diff9D's starting box),
while three DDIM steps from that box leave the axis 5-30 degrees off. Measured on validation
frames of lying bottles and cans: the starting box's axis line is within 10 degrees of the truth
for 96 % of them, the sampled pose's for 71 %. So when the starting box of a bottle or can lies
and the sampled axis agrees with it as a line (within :data:`AGREE_DEG`), the detection's y axis
becomes that line (:func:`align_to_axis`), signed like the sampled axis; the detection keeps its
translation, size, score and covariance, and its x axis is the sampled one made orthogonal to the
new y.

The sign (which end is the top) comes from the object's points where the model file holds a
top-end classifier for its category (:mod:`diff9d_ros.pose.top_end`, ``diff9d pose
fit-top-end``): the profile of its points at each end, measured about the line
(:func:`measured_axis`, which also measures the line from all of the object's points rather
than the starting box's 1024-point sample). On validation frames of lying bottles and cans it
found the top of 98 % of the lying bottles (the network's sign 94-96 %) and of 83 % of the lying
beverage cans (the network's sign a coin flip: right for 30 of 55 and 22 of 43). Without a
classifier the network's sign stays. Three steps from a lying box can still stand a lying can up
(food tins, whose length is near their diameter, at 1.3-1.7 m); when the points' extents alone
say the object lies (:func:`~diff9d_ros.pose.baseline.axis_by_extent`), the line holds against
such a sample. A food tin is the same at both ends: nothing tells its top, and the NOCS metric
scores a flipped can as 180 degrees wrong, so lying cans stay the weak spot (docs/pose.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from diff9d_ros.geometry.plane import TablePlane
from diff9d_ros.nocs import LYING_CATEGORIES, Detection
from diff9d_ros.pose.baseline import lying_line
from diff9d_ros.pose.top_end import MIN_PROFILE_POINTS, TopEndClassifier

#: A starting box lies when the |cos| of its y axis to the table's up direction is under this.
LYING_COS = 0.5
#: The sampled axis is aligned with the measured line only within this angle (deg) of it. Chosen
#: on validation frames (30, 45 and 90 tried): 90 also turned standing cans whose starting box
#: lay by mistake and that the network had set upright.
AGREE_DEG = 45.0


def lying_box_axis(category: str, prior_y: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """The starting box's y axis (unit, camera frame) if ``category`` can lie and the box lies
    (its y axis ``prior_y`` is near the table plane of normal ``up``), else None."""
    if category not in LYING_CATEGORIES or abs(float(prior_y @ up)) > LYING_COS:
        return None
    return prior_y / np.linalg.norm(prior_y)


def measured_axis(
    points_m: np.ndarray, box_axis: np.ndarray, plane: TablePlane, top_end: TopEndClassifier | None
) -> tuple[np.ndarray, bool, bool]:
    """The axis of a lying bottle or can from all of its camera-frame points (N, 3): the line
    :func:`~diff9d_ros.pose.baseline.lying_line` measures (the starting box's ``box_axis``, fitted
    to a 1024-point sample, when it finds none), signed towards the top by ``top_end`` when there
    is one (None: the network's sign stays); whether it was signed; and whether the points'
    extents alone say the object lies (:func:`~diff9d_ros.pose.baseline.axis_by_extent`, from the
    same estimate of their normals)."""
    line, certain = lying_line(points_m, plane)
    axis = box_axis if line is None else line
    if top_end is None or len(points_m) < MIN_PROFILE_POINTS:
        return axis, False, certain
    return top_end.top(points_m, axis, plane), True, certain


def align_to_axis(
    detection: Detection, axis: np.ndarray, signed: bool = False, certain: bool = False
) -> Detection:
    """``detection`` with its y axis on the line of ``axis``, signed like its own y (like
    ``axis`` when ``signed``), x the first of its own axes that lies well across the line, made
    orthogonal to it (Gram-Schmidt), z = x × y; unchanged when its y is more than
    :data:`AGREE_DEG` from the line (the network overruled a starting box that lay by mistake),
    unless the lying is ``certain`` (:func:`measured_axis`): then a sample that stood the object
    up also has its height and diameter swapped."""
    y = np.asarray(axis, dtype=np.float64)
    cos = float(y @ detection.rotation[:, 1])
    agrees = abs(cos) >= np.cos(np.radians(AGREE_DEG))
    if not agrees and not certain:
        return detection
    y = y if cos > 0 or signed else -y
    size = detection.size_m
    if not agrees:  # the sampled pose stood it up: its height is across
        size = np.array([size[1], max(size[0], size[2]), size[1]])
    for x in (detection.rotation[:, 0], detection.rotation[:, 1], detection.rotation[:, 2]):
        x = x - (x @ y) * y
        if np.linalg.norm(x) > 0.5:  # the first of the old axes well across the new y
            break
    x /= np.linalg.norm(x)
    return replace(detection, rotation=np.stack([x, y, np.cross(x, y)], axis=1), size_m=size)
