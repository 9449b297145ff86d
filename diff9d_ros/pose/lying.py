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

The sign (which end is the top) stays the network's: it tells a bottle's neck from its base (right
for 91 % of the lying bottles on validation, against 79 % for the starting box's end rule), and for
a can neither beats a coin (a food tin is the same at both ends; a beverage can's neck and foot
differ by millimetres). The NOCS metric scores a flipped can as 180 degrees wrong, so lying cans
stay the weak spot (docs/pose.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from diff9d_ros.nocs import Detection
from diff9d_ros.pose.baseline import LYING_CATEGORIES

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


def align_to_axis(detection: Detection, axis: np.ndarray) -> Detection:
    """``detection`` with its y axis on the line of ``axis``, signed like its own y, x its own x
    made orthogonal to it (Gram-Schmidt), z = x × y; unchanged when its y is more than
    :data:`AGREE_DEG` from the line (the network overruled a starting box that lay by mistake)."""
    y = np.asarray(axis, dtype=np.float64)
    cos = float(y @ detection.rotation[:, 1])
    if abs(cos) < np.cos(np.radians(AGREE_DEG)):
        return detection
    y = y if cos > 0 else -y
    x = detection.rotation[:, 0] - (detection.rotation[:, 0] @ y) * y
    x /= np.linalg.norm(x)  # |x . y| <= sin(AGREE_DEG): never parallel
    return replace(detection, rotation=np.stack([x, y, np.cross(x, y)], axis=1))
