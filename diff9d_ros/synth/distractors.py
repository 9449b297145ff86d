"""Distractor primitives: plain boxes, cylinders and spheres that are none of the categories.

A distractor is labelled background, so its shape must not be one that a category object takes:
a plain cylinder 66 mm wide and 120 mm tall *is* a beverage can by shape, and half of the training
cans wear the same random appearances as the distractors (``realistic_material_probability``).
Labelling such a cylinder background gives the category head contradicting labels for the same
observation, and in a benchmark it is a false positive that no classifier can avoid. So a drawn
primitive whose extents fall within :data:`LOOKALIKE_MARGIN` of a category family whose plain
shape it reproduces (a cylinder: any can family, diameter x diameter x height; a box: any camera
body, width x height x depth, its lens hidden) is drawn again.
"""

from __future__ import annotations

import numpy as np

from diff9d_ros.synth.families import FAMILIES

#: Relative margin around a family's dimension ranges within which a primitive is a look-alike.
LOOKALIKE_MARGIN = 0.15
#: Draws of a distractor's dimensions before the last (look-alike or not) is kept.
LOOKALIKE_REDRAWS = 50
#: Family parameters giving a category's plain shape per primitive kind: the sorted extents of the
#: primitive are compared with the sorted ranges of these parameters.
LOOKALIKE_EXTENTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "cylinder": {"can": ("diameter", "diameter", "height")},
    "box": {"camera": ("width", "height", "depth")},
}


def random_primitive_dims(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Dimensions of a primitive as :func:`diff9d_ros.synth.scene.primitive_mesh` takes them (box:
    extents; cylinder: radius, radius, height; sphere: radius x3), metres."""
    if kind == "box":
        return rng.uniform(0.03, 0.12, size=3)
    if kind == "cylinder":
        radius = rng.uniform(0.015, 0.05)
        return np.array([radius, radius, rng.uniform(0.03, 0.15)])
    return np.full(3, rng.uniform(0.02, 0.05))


def primitive_extents_m(kind: str, dims_m: np.ndarray) -> np.ndarray:
    """Full extents (3,) of a primitive from its dimensions."""
    dims_m = np.asarray(dims_m, dtype=np.float64)
    if kind == "box":
        return dims_m.copy()
    if kind == "cylinder":
        return np.array([2.0 * dims_m[0], 2.0 * dims_m[0], dims_m[2]])
    return np.full(3, 2.0 * dims_m[0])


def lookalike_category(kind: str, dims_m: np.ndarray, margin: float = LOOKALIKE_MARGIN) -> str | None:
    """The category whose plain shape this primitive reproduces, or None.

    The primitive's sorted extents are compared, smallest with smallest, with the sorted ranges of
    each family in :data:`LOOKALIKE_EXTENTS` (every family, held-out ones included), each range
    widened by ``margin`` of its bounds.
    """
    extents = np.sort(primitive_extents_m(kind, dims_m))
    for category, names in LOOKALIKE_EXTENTS.get(kind, {}).items():
        for family in FAMILIES[category]:
            ranges = sorted((family.ranges[name] for name in names), key=lambda r: r[0] + r[1])
            if all(
                lo * (1 - margin) <= e <= hi * (1 + margin)
                for e, (lo, hi) in zip(extents, ranges, strict=True)
            ):
                return category
    return None


def draw_distractor_dims(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Dimensions of a distractor of ``kind`` that is no category's look-alike (redrawn up to
    :data:`LOOKALIKE_REDRAWS` times)."""
    dims = random_primitive_dims(kind, rng)
    for _ in range(LOOKALIKE_REDRAWS):
        if lookalike_category(kind, dims) is None:
            break
        dims = random_primitive_dims(kind, rng)
    return dims
