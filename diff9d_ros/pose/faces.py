"""Cameras and laptops standing on the table: the sampled heading turns onto the faces the points show.

A camera body and a laptop's base are boxes whose NOCS axes are their faces' normals: x the front
(lens, front edge), z the sides, y up (:mod:`diff9d_ros.nocs`); a laptop's lid turns about z. The
horizontal parts of the surface normals of their points, top faces left out, therefore point
along x or z, and the heading of those faces is known to a few degrees up to a quarter turn: the
4-fold circular mean of the normals' directions on the table plane, that is the mean of
``exp(4 i theta)`` weighted by each normal's horizontal length, whose argument divided by 4 is the
faces' heading and whose length (0 to 1) their concentration (p-axial data: Mardia & Jupp,
*Directional Statistics*, Wiley 2000). A lens or a rounded corner spreads its normals evenly over
``4 theta`` and cancels out.

Three DDIM steps leave the heading of a camera 10-40 degrees off, most of all on bodies unlike
the training ones, while the quarter turn they choose (which face is the front) is mostly right.
On the 200 validation frames with exact masks the faces' heading takes the cameras' 10deg5cm
from 61.7 to 82.0 (5deg5cm 32.3 -> 77.4) and the laptops' from 74.0 to 83.1. So a standing
camera or laptop (its y on the table's normal, :mod:`diff9d_ros.pose.upright`) keeps the quarter
turn the network chose and takes its heading from the faces: x becomes the face direction nearest
the sampled x. Translation, size, score and covariance are kept. Too few normals off the top
faces (:data:`MIN_FACE_NORMALS`) or faces with no common heading (concentration under
:data:`MIN_CONCENTRATION`) leave the sample as it is.
"""

from __future__ import annotations

import numpy as np

from diff9d_ros.geometry.plane import plane_basis
from diff9d_ros.nocs import Detection
from diff9d_ros.pose.baseline import surface_normals
from diff9d_ros.pose.upright import stands, with_heading

#: A normal counts when its |cos| to the table normal is under this (more than 26 deg from it): not
#: a top face, whose horizontal part is noise. A laptop's lid, tilted 20-45 deg, counts: its normal
#: turns about the hinge, on the base's x. Chosen on validation frames (0.3, 0.5, 0.7 and 0.9
#: tried: laptops 10deg5cm 77.9, 80.5, 81.8, 83.1; cameras 80.5, 82.0, 82.7, 82.0; docs/pose.md).
TOP_FACE_COS = 0.9
#: Normals are estimated at this many of the points (evenly thinned).
FACE_SAMPLES = 600
#: Fewer normals off the top faces than this: no heading.
MIN_FACE_NORMALS = 30
#: Faces whose 4-fold mean length is under this have no common heading (the length of the mean of
#: about 100 random directions). On validation frames 0, 0.1, 0.2, 0.3 and 0.4 were tried: 0 and
#: 0.1 scored the same and best (camera 10deg5cm 80.5, 79.7 at 0.2, 75.9 at 0.4; docs/pose.md).
MIN_CONCENTRATION = 0.1


def face_heading(points_m: np.ndarray, up: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The heading of the side faces of camera-frame points (N, 3) on a table of normal ``up``:
    a unit horizontal direction (one of four a quarter turn apart) and its concentration (0 to 1);
    (None, 0) with fewer than :data:`MIN_FACE_NORMALS` normals off the top faces."""
    points_m = np.asarray(points_m, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    if len(points_m) < MIN_FACE_NORMALS:
        return None, 0.0
    normals = surface_normals(points_m, points_m[:: max(1, len(points_m) // FACE_SAMPLES)])
    normals = normals[np.abs(normals @ up) < TOP_FACE_COS]
    if len(normals) < MIN_FACE_NORMALS:
        return None, 0.0
    e1, e2 = plane_basis(up)
    u, v = normals @ e1, normals @ e2
    weight = np.hypot(u, v)
    mean = np.sum(weight * np.exp(4j * np.arctan2(v, u))) / np.sum(weight)
    heading = np.angle(mean) / 4.0
    return np.cos(heading) * e1 + np.sin(heading) * e2, float(abs(mean))


def turn_onto_faces(detection: Detection, points_m: np.ndarray, up: np.ndarray) -> Detection:
    """``detection`` turned about the table normal ``up`` so that its x lies on the face direction
    of :func:`face_heading` nearest its own x (at most 45 degrees); unchanged when it does not
    stand (:func:`~diff9d_ros.pose.upright.stands`) or the faces give no heading."""
    up = np.asarray(up, dtype=np.float64)
    if not stands(detection, up):
        return detection
    heading, concentration = face_heading(points_m, up)
    if heading is None or concentration < MIN_CONCENTRATION:
        return detection
    across = np.cross(up, heading)
    nearest = max((heading, -heading, across, -across), key=lambda d: float(d @ detection.rotation[:, 0]))
    return with_heading(detection, nearest)
