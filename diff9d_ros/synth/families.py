"""Sub-families of the six NOCS categories: parameter ranges measured against real objects.

Each :class:`Family` gives every parameter of its category's builder
(:mod:`diff9d_ros.synth.builders`) a uniform range. The ranges were chosen to contain the published
dimensions of the household objects in :data:`diff9d_ros.synth.references.REFERENCE_OBJECTS`
(a test builds each reference object from its family and compares the box). Families marked
``held_out`` are never drawn for the train / val / test instance ids: they make the out-of-family
split ``ood`` (:data:`diff9d_ros.synth.meshes.SPLIT_IDS`), a proxy for objects of unseen styles.

Lengths are metres, angles degrees, flags are 0/1 (a range (0, 1) draws either with equal odds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff9d_ros.nocs import CATEGORIES
from diff9d_ros.synth.builders import BUILDERS, Params

Range = tuple[float, float]


@dataclass(frozen=True)
class Family:
    """A sub-family: a name, parameter ranges, a draw weight among its split's families."""

    name: str
    category: str
    ranges: dict[str, Range]
    weight: float = 1.0
    held_out: bool = False

    def midpoint(self) -> Params:
        """Every parameter at the middle of its range."""
        return {k: (lo + hi) / 2.0 for k, (lo, hi) in self.ranges.items()}

    def contains(self, params: Params, tolerance: float = 1e-9) -> bool:
        """Whether every given parameter lies in this family's range."""
        return all(
            self.ranges[k][0] - tolerance <= v <= self.ranges[k][1] + tolerance for k, v in params.items()
        )


def _family(
    category: str, name: str, base: dict[str, Range], weight: float, held_out: bool = False, **ranges: Range
) -> Family:
    merged = {**base, **ranges}
    return Family(name, category, merged, weight, held_out)


_FLAT = (0.0, 0.0)
_ON = (1.0, 1.0)

# --- cans: diameter x height, the US can-size codes and beverage-can formats of the references.
_CAN = {
    "beverage": _ON,
    "bevel": (0.003, 0.007),
    "neck_in": (0.003, 0.007),
    "neck_height": (0.008, 0.014),
    "seam_out": (0.001, 0.0018),
    "seam_height": (0.003, 0.005),
    "lid_sink": (0.002, 0.004),
    "beads": _FLAT,
}
_FOOD = {**_CAN, "beverage": _FLAT, "beads": (0.0, 3.0)}
CAN_FAMILIES = (
    _family("can", "beverage_standard", _CAN, 0.22, diameter=(0.064, 0.068), height=(0.110, 0.126)),
    _family("can", "beverage_tall", _CAN, 0.13, diameter=(0.064, 0.068), height=(0.150, 0.176)),
    _family("can", "beverage_slim", _CAN, 0.15, diameter=(0.052, 0.055), height=(0.130, 0.170)),
    _family("can", "beverage_sleek", _CAN, 0.10, diameter=(0.056, 0.060), height=(0.110, 0.150)),
    _family("can", "food_tin", _FOOD, 0.22, diameter=(0.064, 0.106), height=(0.070, 0.125)),
    _family("can", "squat_tin", _FOOD, 0.18, diameter=(0.080, 0.106), height=(0.030, 0.062)),
    # Held out: small squat tins (pet food, pâté), narrower than any squat tin in training.
    _family("can", "squat_small", _FOOD, 1.0, True, diameter=(0.062, 0.078), height=(0.028, 0.045)),
)

# --- mugs: 11 oz / 15 oz mug blanks, cappuccino cups, conical latte mugs, espresso cups.
_MUG = {
    "flare": (1.0, 1.12),
    "flare_curve": (1.0, 1.0),
    "wall": (0.002, 0.008),
    "bottom": (0.005, 0.012),
    "handle_span": (0.45, 0.85),
    "handle_top": (0.75, 0.92),
    "handle_reach": (0.02, 0.04),
    "handle_squareness": (1.5, 5.0),
    "handle_half_width": (0.003, 0.007),
    "handle_half_depth": (0.004, 0.009),
}
MUG_FAMILIES = (
    _family("mug", "classic", _MUG, 0.30, height=(0.085, 0.106), radius=(0.037, 0.046)),
    _family("mug", "tall", _MUG, 0.15, height=(0.106, 0.145), radius=(0.038, 0.047)),
    _family(
        "mug",
        "squat",
        _MUG,
        0.20,
        height=(0.055, 0.08),
        radius=(0.040, 0.056),
        handle_span=(0.35, 0.7),
        handle_reach=(0.015, 0.032),
    ),
    _family("mug", "conical", _MUG, 0.20, height=(0.075, 0.115), radius=(0.029, 0.040), flare=(1.15, 1.4)),
    _family(
        "mug",
        "espresso",
        _MUG,
        0.15,
        height=(0.05, 0.068),
        radius=(0.026, 0.034),
        wall=(0.003, 0.007),
        handle_span=(0.35, 0.65),
        handle_reach=(0.012, 0.022),
        handle_half_width=(0.0025, 0.0045),
    ),
    # Held out: bell (tulip) mugs, flared up to 1.4x along a curved wall (training flares are straight).
    _family(
        "mug",
        "bell",
        _MUG,
        1.0,
        True,
        height=(0.075, 0.11),
        radius=(0.030, 0.040),
        flare=(1.15, 1.4),
        flare_curve=(1.8, 3.0),
    ),
)

# --- cameras: DSLR, mirrorless, compact, action and instant cameras (manufacturers' W x H x D).
_CAMERA = {
    "rounding": (4.0, 10.0),
    "grip_width": (0.02, 0.032),
    "grip_depth": (0.012, 0.028),
    "hump_height": _FLAT,
    "lens_front_ratio": (0.9, 1.1),
    "lens_square": _FLAT,
    "lens_offset_x": (0.0, 0.012),
    "lens_offset_y": (-0.008, 0.0),
    "flash": _FLAT,
}
_DSLR = {
    **_CAMERA,
    "width": (0.122, 0.152),
    "height": (0.092, 0.118),
    "depth": (0.045, 0.058),
    "hump_height": (0.012, 0.024),
    "lens_radius": (0.030, 0.040),
}
CAMERA_FAMILIES = (
    _family("camera", "dslr_body", _DSLR, 0.12, lens_length=(0.004, 0.012), lens_front_ratio=(1.0, 1.0)),
    _family("camera", "dslr_prime", _DSLR, 0.18, lens_length=(0.02, 0.06)),
    _family("camera", "dslr_zoom", _DSLR, 0.18, lens_length=(0.06, 0.15), lens_radius=(0.033, 0.042)),
    _family(
        "camera",
        "mirrorless",
        _CAMERA,
        0.17,
        width=(0.11, 0.132),
        height=(0.064, 0.09),
        depth=(0.033, 0.045),
        grip_depth=(0.006, 0.016),
        hump_height=(0.0, 0.012),
        lens_radius=(0.027, 0.036),
        lens_length=(0.022, 0.09),
    ),
    _family(
        "camera",
        "compact",
        _CAMERA,
        0.18,
        width=(0.094, 0.112),
        height=(0.054, 0.066),
        depth=(0.022, 0.035),
        rounding=(3.0, 6.0),
        grip_width=(0.012, 0.02),
        grip_depth=(0.0, 0.008),
        lens_radius=(0.017, 0.027),
        lens_length=(0.004, 0.035),
        lens_offset_x=(0.0, 0.02),
        lens_offset_y=(-0.004, 0.004),
    ),
    _family(
        "camera",
        "action",
        _CAMERA,
        0.17,
        width=(0.06, 0.074),
        height=(0.042, 0.056),
        depth=(0.025, 0.035),
        rounding=(4.0, 8.0),
        grip_width=(0.01, 0.01),
        grip_depth=_FLAT,
        lens_radius=(0.011, 0.015),
        lens_length=(0.004, 0.009),
        lens_square=_ON,
        lens_offset_x=(0.012, 0.02),
        lens_offset_y=(0.004, 0.01),
    ),
    # Held out: instant cameras, rounded boxes taller or wider than any training body, large lens,
    # flash window.
    _family(
        "camera",
        "instant",
        _CAMERA,
        1.0,
        True,
        width=(0.10, 0.152),
        height=(0.108, 0.125),
        depth=(0.055, 0.085),
        rounding=(3.0, 5.0),
        grip_width=(0.015, 0.025),
        grip_depth=(0.0, 0.01),
        lens_radius=(0.022, 0.03),
        lens_length=(0.008, 0.03),
        lens_offset_x=(-0.01, 0.01),
        lens_offset_y=(-0.012, 0.0),
        flash=_ON,
    ),
)

# --- bottles: PET water, wine, beer, squeeze sauce (round and oval), shampoo (oval).
_BOTTLE = {
    "depth_ratio": (1.0, 1.0),
    "squareness": (2.0, 2.0),
    "shoulder_fullness": (0.5, 2.0),
    "waist": (0.0, 0.0),
    "cap_height": (0.012, 0.024),
    "cap_flare": (1.0, 1.25),
    "cap_offset": _FLAT,
}
BOTTLE_FAMILIES = (
    _family(
        "bottle",
        "water",
        _BOTTLE,
        0.25,
        height=(0.17, 0.26),
        body_radius=(0.027, 0.037),
        shoulder_start=(0.55, 0.72),
        shoulder_length=(0.1, 0.2),
        neck_ratio=(0.38, 0.5),
        waist=(0.0, 0.08),
    ),
    _family(
        "bottle",
        "wine",
        _BOTTLE,
        0.2,
        height=(0.28, 0.325),
        body_radius=(0.035, 0.042),
        shoulder_start=(0.52, 0.66),
        shoulder_length=(0.1, 0.18),
        neck_ratio=(0.36, 0.42),
        cap_height=(0.03, 0.05),
        cap_flare=(1.02, 1.08),
    ),
    _family(
        "bottle",
        "beer",
        _BOTTLE,
        0.15,
        height=(0.19, 0.245),
        body_radius=(0.028, 0.033),
        shoulder_start=(0.45, 0.6),
        shoulder_length=(0.15, 0.25),
        neck_ratio=(0.42, 0.5),
        cap_height=(0.008, 0.012),
        cap_flare=(1.05, 1.15),
    ),
    _family(
        "bottle",
        "sauce",
        _BOTTLE,
        0.2,
        height=(0.14, 0.22),
        body_radius=(0.028, 0.043),
        depth_ratio=(0.6, 1.0),
        shoulder_start=(0.62, 0.78),
        shoulder_length=(0.08, 0.14),
        neck_ratio=(0.45, 0.62),
        cap_height=(0.02, 0.035),
        cap_flare=(1.0, 1.15),
        cap_offset=(0.0, 0.006),
    ),
    _family(
        "bottle",
        "shampoo",
        _BOTTLE,
        0.2,
        height=(0.15, 0.25),
        body_radius=(0.03, 0.045),
        depth_ratio=(0.42, 0.72),
        squareness=(2.0, 3.0),
        shoulder_start=(0.72, 0.86),
        shoulder_length=(0.05, 0.1),
        neck_ratio=(0.35, 0.5),
        cap_height=(0.015, 0.03),
        cap_flare=(1.1, 1.45),
    ),
    # Held out: square spirits bottles (superellipse cross-section).
    _family(
        "bottle",
        "square_spirits",
        _BOTTLE,
        1.0,
        True,
        height=(0.2, 0.3),
        body_radius=(0.035, 0.045),
        depth_ratio=(0.9, 1.0),
        squareness=(4.0, 8.0),
        shoulder_start=(0.62, 0.75),
        shoulder_length=(0.06, 0.12),
        neck_ratio=(0.3, 0.42),
        cap_height=(0.02, 0.035),
        cap_flare=(1.1, 1.3),
    ),
)

# --- bowls: cereal, rice, soup / noodle, dessert and mixing bowls; held out: brimmed pasta bowls.
_BOWL = {
    "base_ratio": (0.3, 0.5),
    "flare": (0.35, 0.9),
    "wall": (0.003, 0.006),
    "foot": (0.004, 0.01),
    "brim": _FLAT,
    "brim_rise": _FLAT,
}
BOWL_FAMILIES = (
    _family("bowl", "cereal", _BOWL, 0.3, rim_radius=(0.07, 0.085), depth=(0.045, 0.075)),
    _family("bowl", "rice", _BOWL, 0.2, rim_radius=(0.052, 0.065), depth=(0.05, 0.07), flare=(0.5, 0.9)),
    _family("bowl", "soup", _BOWL, 0.2, rim_radius=(0.085, 0.105), depth=(0.065, 0.1)),
    _family("bowl", "dessert", _BOWL, 0.15, rim_radius=(0.04, 0.055), depth=(0.03, 0.05)),
    _family("bowl", "mixing", _BOWL, 0.15, rim_radius=(0.095, 0.115), depth=(0.08, 0.12), flare=(0.6, 1.0)),
    _family(
        "bowl",
        "pasta",
        _BOWL,
        1.0,
        True,
        rim_radius=(0.075, 0.095),
        depth=(0.035, 0.055),
        base_ratio=(0.45, 0.6),
        brim=(0.015, 0.03),
        brim_rise=(0.002, 0.008),
    ),
)

# --- laptops: published W x D x thickness; lids open 70-135 degrees.
_LAPTOP = {"lid_angle_deg": (70.0, 135.0)}
LAPTOP_FAMILIES = (
    _family(
        "laptop",
        "ultrabook",
        _LAPTOP,
        0.4,
        width=(0.295, 0.318),
        depth=(0.195, 0.226),
        base_thickness=(0.006, 0.012),
        lid_thickness=(0.004, 0.006),
    ),
    _family(
        "laptop",
        "standard_15",
        _LAPTOP,
        0.35,
        width=(0.33, 0.365),
        depth=(0.22, 0.25),
        base_thickness=(0.01, 0.02),
        lid_thickness=(0.005, 0.008),
    ),
    _family(
        "laptop",
        "large_17",
        _LAPTOP,
        0.25,
        width=(0.355, 0.4),
        depth=(0.245, 0.272),
        base_thickness=(0.014, 0.022),
        lid_thickness=(0.006, 0.009),
    ),
    # Held out: small, thick 11.6-inch school laptops (Chromebooks, netbooks).
    _family(
        "laptop",
        "small_11",
        _LAPTOP,
        1.0,
        True,
        width=(0.27, 0.295),
        depth=(0.185, 0.21),
        base_thickness=(0.012, 0.018),
        lid_thickness=(0.006, 0.009),
    ),
)

#: Every sub-family per category.
FAMILIES: dict[str, tuple[Family, ...]] = {
    "bottle": BOTTLE_FAMILIES,
    "bowl": BOWL_FAMILIES,
    "camera": CAMERA_FAMILIES,
    "can": CAN_FAMILIES,
    "laptop": LAPTOP_FAMILIES,
    "mug": MUG_FAMILIES,
}


def family_named(category: str, name: str) -> Family:
    """The sub-family ``name`` of ``category``."""
    for family in FAMILIES[category]:
        if family.name == name:
            return family
    raise ValueError(
        f"unknown {category} family {name!r}; expected one of {[f.name for f in FAMILIES[category]]}"
    )


def families_of(category: str, held_out: bool) -> tuple[Family, ...]:
    """The in-family (``held_out=False``) or held-out sub-families of ``category``."""
    return tuple(f for f in FAMILIES[category] if f.held_out == held_out)


def draw_family(category: str, held_out: bool, rng: np.random.Generator) -> Family:
    """One sub-family, drawn by weight among the in-family or held-out ones."""
    candidates = families_of(category, held_out)
    weights = np.array([f.weight for f in candidates])
    return candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]


def draw_params(family: Family, rng: np.random.Generator) -> Params:
    """Uniform draws of every parameter in its range (in the builder's parameter order)."""
    names = BUILDERS[family.category][1]
    return {name: float(rng.uniform(*family.ranges[name])) for name in names}


def _check_families() -> None:
    for category in CATEGORIES:
        names = set(BUILDERS[category][1])
        for family in FAMILIES[category]:
            if set(family.ranges) != names:
                raise RuntimeError(
                    f"{category}/{family.name}: ranges {sorted(family.ranges)} != {sorted(names)}"
                )
        if not families_of(category, True) or not families_of(category, False):
            raise RuntimeError(f"{category} needs in-family and held-out sub-families")


_check_families()
