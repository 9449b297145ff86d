"""The NOCS object vocabulary, in one place: categories, their ids, canonical frames, per-category
tables and the 9-DoF :class:`Detection` every package passes around.

This module sits at the bottom of the house: it imports numpy only, and everything else may
import it.

Canonical frame (NOCS: Wang et al., "Normalized Object Coordinate Space for Category-Level 6D
Object Pose and Size Estimation", CVPR 2019, Sec. 3.1, and the REAL275/CAMERA25 labels that
Diff9D and every NOCS tool read), metric instead of normalised::

            +y (up: symmetry axis of bottle, bowl, can; up for mug, laptop base, camera)
             |
             |      mug: handle on +x; box centred on the BODY axis, x extent 2 max|x|
             |      camera: lens on +x           laptop: front edge (opposite the hinge) on +x,
             |                                           hinge along z at -x
             o-------- +x (front)
            /
          +z

* origin at the box centre, y up, x the front (see above), z = x × y;
* ``size_m`` is the full extent along x, y, z of the tight box, except the mug's, whose box is
  centred on the body axis with an x extent of twice the farthest point's |x| (the handle side
  mirrored), as the NOCS labels are (:data:`MIRRORED_X_BOX`);
* symmetry (:data:`SYMMETRY`): rotation about y is free for bottle, bowl and can, and for a mug
  whose handle is hidden; the benchmark ignores it (Sec. 6 of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: The six NOCS categories, in the NOCS benchmark's order; class ids on the wire are these names.
CATEGORIES: tuple[str, ...] = ("bottle", "bowl", "camera", "can", "laptop", "mug")
#: NOCS integer class ids (the REAL275/CAMERA25 label files; 0 is the background).
NOCS_CLASS_IDS: dict[int, str] = {i + 1: name for i, name in enumerate(CATEGORIES)}

#: Rotational symmetry per category, NOCS benchmark style: "y" = any rotation about the canonical y
#: axis maps the shape onto itself; "y_if_handle_hidden" = the mug, symmetric only in views where
#: its handle is not visible; "none" = no continuous symmetry.
SYMMETRY: dict[str, str] = {
    "bottle": "y",
    "bowl": "y",
    "camera": "none",
    "can": "y",
    "laptop": "none",
    "mug": "y_if_handle_hidden",
}
#: Categories whose canonical frame is always free to rotate about y.
SYMMETRIC_CATEGORIES: frozenset[str] = frozenset(c for c, s in SYMMETRY.items() if s == "y")
#: Categories whose NOCS box is centred on the body axis with a mirrored x extent (the mug).
MIRRORED_X_BOX: frozenset[str] = frozenset({"mug"})
#: Categories that also rest on their side (axis parallel to the table).
LYING_CATEGORIES: frozenset[str] = frozenset({"bottle", "can"})
#: Categories whose front (+x) is a property of the shape (lens, the laptop's front edge).
FRONT_ON_X: frozenset[str] = frozenset({"camera", "laptop"})

#: Effective densities (kg/m^3) of the solid category meshes, for every simulator (MuJoCo grasp
#: checks and Gazebo worlds): filled cans and half-full bottles, ceramic bowls and mugs (their
#: meshes are thin shells), a camera body, a laptop. Masses of about 0.3 kg (can, bottle, bowl,
#: mug), 0.5 kg (camera) and 1.3 kg (laptop).
DENSITY_KG_M3: dict[str, float] = {
    "bottle": 500.0,
    "bowl": 2400.0,
    "camera": 1100.0,
    "can": 1000.0,
    "laptop": 800.0,
    "mug": 2400.0,
}
#: Density of distractor primitives (kg/m^3), a light plastic / wood.
PRIMITIVE_DENSITY_KG_M3 = 500.0

RGBA = tuple[float, float, float, float]
#: Display colour per category (RGBA in [0, 1]) for RViz markers and overlays.
CATEGORY_COLOURS: dict[str, RGBA] = {
    "bottle": (0.12, 0.47, 0.71, 1.0),
    "bowl": (1.0, 0.5, 0.05, 1.0),
    "camera": (0.17, 0.63, 0.17, 1.0),
    "can": (0.84, 0.15, 0.16, 1.0),
    "laptop": (0.58, 0.4, 0.74, 1.0),
    "mug": (0.55, 0.34, 0.29, 1.0),
}
UNKNOWN_COLOUR: RGBA = (0.6, 0.6, 0.6, 1.0)


def category_name(label: str | int) -> str:
    """The category of a label: a name in any case ("Mug", " bottle ") or a NOCS class id (1-6).

    Raises ValueError naming the label and what is accepted.
    """
    if isinstance(label, (bool, np.bool_)):
        raise ValueError(f"category label must be a name or a NOCS class id, got {label!r}")
    if isinstance(label, (int, np.integer)):
        if int(label) in NOCS_CLASS_IDS:
            return NOCS_CLASS_IDS[int(label)]
        raise ValueError(f"unknown NOCS class id {label}; expected 1-6 ({', '.join(CATEGORIES)})")
    name = str(label).strip().lower()
    if name.isdigit():
        return category_name(int(name))
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {label!r}; expected one of {CATEGORIES} or a NOCS id 1-6")
    return name


def is_symmetric(category: str, handle_visible: bool = True) -> bool:
    """Whether the NOCS protocol ignores rotation about y for this object (Wang et al. 2019, Sec. 6)."""
    return category in SYMMETRIC_CATEGORIES or (category == "mug" and not handle_visible)


def nocs_box(vertices_m: np.ndarray, category: str) -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and size (3,) of the NOCS box of canonical-frame vertices (N, 3).

    The tight axis-aligned box, except for :data:`MIRRORED_X_BOX` categories: their vertices are
    given with the body axis at x = z = 0, and the box keeps that axis, with an x extent of
    ``2 max|x|`` (and z extent ``2 max|z|``).
    """
    vertices_m = np.asarray(vertices_m, dtype=np.float64).reshape(-1, 3)
    if len(vertices_m) == 0:
        raise ValueError("a NOCS box needs at least one vertex")
    low, high = vertices_m.min(axis=0), vertices_m.max(axis=0)
    centre, size = (low + high) / 2.0, high - low
    if category in MIRRORED_X_BOX:
        half_x = np.abs(vertices_m[:, 0]).max()
        half_z = np.abs(vertices_m[:, 2]).max()
        centre = np.array([0.0, centre[1], 0.0])
        size = np.array([2.0 * half_x, size[1], 2.0 * half_z])
    return centre, size


@dataclass
class Detection:
    """One object: category, pose of its canonical (NOCS) frame in the camera optical frame, size.

    ``rotation`` is a proper 3x3 rotation, ``translation_m`` the NOCS box centre (3,), ``size_m``
    the full extents along the canonical x, y, z (see the module docstring for the frame).
    ``covariance`` is the 6x6 pose covariance (x, y, z, rot x, rot y, rot z; m^2 and rad^2, ROS
    ``PoseWithCovariance`` order) from the spread of the diffusion samples. ``track_id`` is set by
    the tracker (or the ground truth), empty otherwise.
    """

    category: str
    rotation: np.ndarray
    translation_m: np.ndarray
    size_m: np.ndarray
    score: float = 1.0
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))
    mask_id: int = 0
    track_id: str = ""

    def __post_init__(self) -> None:
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        self.translation_m = np.asarray(self.translation_m, dtype=np.float64).reshape(3)
        self.size_m = np.asarray(self.size_m, dtype=np.float64).reshape(3)
        self.covariance = np.asarray(self.covariance, dtype=np.float64).reshape(6, 6)

    @property
    def transform(self) -> np.ndarray:
        """4x4 homogeneous transform from the object's canonical frame to the camera frame."""
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.translation_m
        return out

    def contains(self, point_m: np.ndarray) -> bool:
        """Whether ``point_m`` (3,) lies inside this detection's oriented box."""
        local = self.rotation.T @ (np.asarray(point_m, dtype=np.float64) - self.translation_m)
        return bool(np.all(np.abs(local) <= 0.5 * self.size_m))

    def moved(self, transform: np.ndarray) -> Detection:
        """A copy expressed in another frame: ``transform`` (4x4, rigid) maps this detection's frame
        into it. The covariance turns with the rotation (both its position and rotation blocks);
        category, size, score, mask id and track id are kept."""
        rotation = np.asarray(transform, dtype=np.float64)[:3, :3]
        turn = np.kron(np.eye(2), rotation)
        return replace(
            self,
            rotation=rotation @ self.rotation,
            translation_m=rotation @ self.translation_m + np.asarray(transform, dtype=np.float64)[:3, 3],
            size_m=self.size_m.copy(),
            covariance=turn @ self.covariance @ turn.T,
        )
