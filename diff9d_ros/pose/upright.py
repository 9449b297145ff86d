"""Objects standing on the table: the sampled y axis becomes the table's normal.

In the NOCS frame every category's y axis is up when the object stands: the symmetry axis of a
bottle, bowl or can, up for a mug, a laptop's base and a camera (:mod:`diff9d_ros.nocs`). An
object standing on a table has that axis along the table's normal, which the fitted plane gives
to a fraction of a degree, while three DDIM steps leave the sampled y a few degrees off and now
and then tilt it by 10-20 degrees. So when the table was fitted and the sampled y lies within
:data:`UPRIGHT_DEG` of its normal (as a line), the detection's y becomes the normal
(:func:`~diff9d_ros.pose.lying.align_to_axis`, signed like the sampled y), its x the sampled x
made orthogonal to it; translation, size, score and covariance are kept. A sampled y farther from
the normal (an object leaning on another, a lying one the starting box took for standing) is left
as the network sampled it. It runs after the lying bottles and cans took the line measured from
their points (:mod:`diff9d_ros.pose.lying`), which lies far from the normal; a standing bottle
whose starting box lay by mistake and whose sample the network stood up again is set upright
here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from diff9d_ros.nocs import Detection
from diff9d_ros.pose.lying import align_to_axis

#: The sampled y is set onto the table's normal within this angle (deg) of it. Chosen on
#: validation frames (5, 10, 15, 20 and 30 tried: 15-30 gave the same scores, 5 and 10 left
#: tilted bottles and mugs in clutter).
UPRIGHT_DEG = 20.0
#: After :func:`stand_upright` a standing detection's y is the table's normal; the heading steps
#: (:mod:`diff9d_ros.pose.faces`, :mod:`diff9d_ros.pose.handle`) take it for standing within this
#: angle (deg) of it.
STANDING_DEG = 1.0


def stand_upright(detection: Detection, up: np.ndarray) -> Detection:
    """``detection`` with its y axis on the table normal ``up`` (unit, camera frame) when its
    sampled y is within :data:`UPRIGHT_DEG` of it as a line, else ``detection`` itself."""
    up = np.asarray(up, dtype=np.float64)
    if abs(float(detection.rotation[:, 1] @ up)) < np.cos(np.radians(UPRIGHT_DEG)):
        return detection
    return align_to_axis(detection, up)


def stands(detection: Detection, up: np.ndarray) -> bool:
    """Whether ``detection``'s y lies within :data:`STANDING_DEG` of the table normal ``up``."""
    return float(detection.rotation[:, 1] @ up) >= np.cos(np.radians(STANDING_DEG))


def with_heading(detection: Detection, direction: np.ndarray) -> Detection:
    """``detection`` turned about its own y so that its x lies along ``direction`` (made orthogonal
    to y), z = x × y; translation, size, score and covariance kept."""
    y = detection.rotation[:, 1]
    x = direction - (direction @ y) * y
    x /= np.linalg.norm(x)
    return replace(detection, rotation=np.stack([x, y, np.cross(x, y)], axis=1))
