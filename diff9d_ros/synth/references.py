"""Published dimensions of common household objects, the yardstick of the mesh families.

Every row names a real object, the sub-family meant to cover it, its published dimensions, the
builder parameters those dimensions set, and where the numbers come from. The test suite builds
each row from its family (the family's mid-range parameters, overridden by the row's) and checks
that (a) the row's parameters lie inside the family's ranges and (b) the built box matches the
published box within ``tolerance`` on the axes the published numbers fix, so a family that stops
covering its objects fails a test.

``size_m`` is the NOCS box (x, y, z) in metres: x = front-back (camera depth including the lens,
laptop base depth, the oval bottle's wide side), y = height, z = width. Sources:

* CMI: Can Manufacturers Institute, *Voluntary Can and End Dimension Reference Manual*, food-can
  table (three-digit codes: inches and sixteenths, diameter x height);
* beverage-can formats: the can makers' standard / sleek / slim formats (e.g. cansizedimensions.com,
  "Beverage Can Size Dimension"), 355 ml standard 66.2 x 122 mm, 250 ml slim 53 x 134 mm,
  250 ml sleek 57 x 115 mm, 16 oz tall 66 x 157 mm, 500 ml 66 x 168 mm;
* camera and laptop bodies: the manufacturers' specification sheets (W x H x D, lens diameter x
  length);
* mugs, bottles, bowls: typical retail listings (11 oz / 15 oz mug blanks, 750 ml Bordeaux wine
  bottle, 500 ml PET water bottle); these are nominal sizes of a product class, not one product,
  and are marked "typical".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff9d_ros.nocs import nocs_box
from diff9d_ros.synth.builders import build
from diff9d_ros.synth.families import family_named


@dataclass(frozen=True)
class ReferenceObject:
    """A real object, its published NOCS box (metres) and the family parameters that build it."""

    name: str
    category: str
    family: str
    size_m: tuple[float, float, float]
    params: dict[str, float]
    source: str
    tolerance: float = 0.08  # relative, per axis
    #: The axes the published numbers fix (a mug's listing gives rim diameter and height, not reach).
    axes: tuple[int, ...] = (0, 1, 2)

    def build_size_m(self) -> np.ndarray:
        """The NOCS box of the family's mid-range instance with this object's parameters."""
        family = family_named(self.category, self.family)
        mesh, _ = build(self.category, {**family.midpoint(), **self.params})
        return nocs_box(mesh.vertices, self.category)[1]


def _can(name: str, family: str, diameter_mm: float, height_mm: float, source: str) -> ReferenceObject:
    d, h = diameter_mm / 1000.0, height_mm / 1000.0
    return ReferenceObject(name, "can", family, (d, h, d), {"diameter": d, "height": h}, source)


def _inch16(code: int) -> float:
    """A CMI three-digit dimension (inches and sixteenths) in millimetres."""
    return 25.4 * (code // 100 + (code % 100) / 16.0)


def _cmi(name: str, family: str, code: tuple[int, int]) -> ReferenceObject:
    return _can(name, family, _inch16(code[0]), _inch16(code[1]), f"CMI {code[0]} x {code[1]}")


_BEVERAGE = "beverage-can formats"

REFERENCE_OBJECTS: tuple[ReferenceObject, ...] = (
    # cans
    _can("355 ml standard beverage can", "beverage_standard", 66.2, 122.0, _BEVERAGE),
    _can("16 oz tall beverage can", "beverage_tall", 66.0, 157.0, _BEVERAGE),
    _can("500 ml beverage can", "beverage_tall", 66.0, 168.0, _BEVERAGE),
    _can("250 ml slim energy-drink can", "beverage_slim", 53.0, 134.0, _BEVERAGE),
    _can("355 ml slim energy-drink can", "beverage_slim", 53.0, 168.0, "issue 17 (tall energy drink)"),
    _can("250 ml sleek can", "beverage_sleek", 57.0, 115.0, _BEVERAGE),
    _cmi("No. 1 picnic (condensed soup)", "food_tin", (211, 400)),
    _cmi("No. 300 can", "food_tin", (300, 407)),
    _cmi("No. 2 can", "food_tin", (307, 409)),
    _cmi("No. 2.5 can (wide food tin)", "food_tin", (401, 411)),
    _cmi("8Z short", "food_tin", (211, 300)),
    _cmi("No. 1.25 (flat wide tin)", "squat_tin", (401, 206)),
    _can("5 oz tuna can (US 307 x 109)", "squat_tin", _inch16(307), _inch16(109), "US can code 307 x 109"),
    _can("squat scanned can of issue 17", "squat_tin", 86.0, 34.0, "issue 17 measurement"),
    _can("3 oz pet-food can (typical)", "squat_small", 76.0, 32.0, "typical retail"),
    _can("3 oz pet-food can, 211 diameter", "squat_small", _inch16(211), 38.0, "typical retail"),
    # mugs: the listings give rim diameter (z) and height (y); x adds the handle's reach
    ReferenceObject(
        "11 oz mug blank",
        "mug",
        "classic",
        (0.082 + 2 * 0.034, 0.096, 0.082),
        {
            "radius": 0.0395,
            "flare": 1.038,
            "height": 0.096,
            "handle_reach": 0.029,
            "handle_half_width": 0.005,
        },
        "typical (sublimation blank 82 x 96 mm)",
        axes=(1, 2),
    ),
    ReferenceObject(
        "15 oz mug blank",
        "mug",
        "tall",
        (0.086 + 2 * 0.034, 0.117, 0.086),
        {
            "radius": 0.0415,
            "flare": 1.036,
            "height": 0.117,
            "handle_reach": 0.029,
            "handle_half_width": 0.005,
        },
        "typical (sublimation blank 86 x 117 mm)",
        axes=(1, 2),
    ),
    ReferenceObject(
        "cappuccino cup",
        "mug",
        "squat",
        (0.095 + 2 * 0.026, 0.066, 0.095),
        {
            "radius": 0.0445,
            "flare": 1.067,
            "height": 0.066,
            "handle_reach": 0.022,
            "handle_half_width": 0.004,
        },
        "typical (6 oz, 95 x 66 mm)",
        axes=(1, 2),
    ),
    ReferenceObject(
        "latte mug, 1.4x flare",
        "mug",
        "conical",
        (0.098 + 2 * 0.034, 0.1, 0.098),
        {"radius": 0.035, "flare": 1.4, "height": 0.1, "handle_reach": 0.029, "handle_half_width": 0.005},
        "typical (conical latte mug, base 70 mm, rim 98 mm)",
        axes=(1, 2),
    ),
    ReferenceObject(
        "espresso cup",
        "mug",
        "espresso",
        (0.062 + 2 * 0.02, 0.058, 0.062),
        {"radius": 0.03, "flare": 1.033, "height": 0.058, "handle_reach": 0.017, "handle_half_width": 0.003},
        "typical (demitasse 62 x 58 mm)",
        axes=(1, 2),
    ),
    ReferenceObject(
        "bell mug",
        "mug",
        "bell",
        (0.1 + 2 * 0.034, 0.095, 0.1),
        {"radius": 0.036, "flare": 1.389, "height": 0.095, "handle_reach": 0.029, "handle_half_width": 0.005},
        "typical (tulip mug, base 72 mm, rim 100 mm)",
        axes=(1, 2),
    ),
    # cameras: x = body depth without grip + lens length, y = height, z = width
    ReferenceObject(
        "Canon EOS 2000D body (129.0 x 101.3 x 77.6 mm incl. grip)",
        "camera",
        "dslr_body",
        (0.0776, 0.1013 + 0.018, 0.129),
        {
            "width": 0.129,
            "height": 0.1013,
            "depth": 0.0526,
            "grip_depth": 0.025,
            "lens_length": 0.008,
            "hump_height": 0.018,
        },
        "Canon specification",
    ),
    ReferenceObject(
        "Nikon D3500 + AF-P 18-55 mm (124 x 97 x 69.5 mm; lens 64.5 x 62.5 mm)",
        "camera",
        "dslr_zoom",
        (0.0695 - 0.02 + 0.0625, 0.097 + 0.015, 0.124),
        {
            "width": 0.124,
            "height": 0.097,
            "depth": 0.0495,
            "grip_depth": 0.02,
            "lens_length": 0.0625,
            "lens_radius": 0.03375,
            "hump_height": 0.015,
        },
        "Nikon specification",
    ),
    ReferenceObject(
        "Canon EOS 2000D + EF 50 mm f/1.8 STM (lens 69.2 x 39.3 mm)",
        "camera",
        "dslr_prime",
        (0.0526 + 0.0393, 0.1013 + 0.018, 0.129),
        {
            "width": 0.129,
            "height": 0.1013,
            "depth": 0.0526,
            "grip_depth": 0.025,
            "lens_length": 0.0393,
            "lens_radius": 0.0346,
            "hump_height": 0.018,
        },
        "Canon specification",
    ),
    ReferenceObject(
        "Canon EOS 2000D + EF-S 55-250 mm IS STM (lens 70 x 111.2 mm)",
        "camera",
        "dslr_zoom",
        (0.0526 + 0.1112, 0.1013 + 0.018, 0.129),
        {
            "width": 0.129,
            "height": 0.1013,
            "depth": 0.0526,
            "grip_depth": 0.025,
            "lens_length": 0.1112,
            "lens_radius": 0.035,
            "hump_height": 0.018,
        },
        "Canon specification",
    ),
    ReferenceObject(
        "Sony a6000 + 16-50 mm (120 x 66.9 x 45.1 mm; lens 64.7 x 29.9 mm)",
        "camera",
        "mirrorless",
        (0.0451 - 0.008 + 0.0299, 0.0669, 0.12),
        {
            "width": 0.12,
            "height": 0.0669,
            "depth": 0.0371,
            "grip_depth": 0.008,
            "lens_length": 0.0299,
            "lens_radius": 0.03235,
            "hump_height": 0.0,
        },
        "Sony specification",
    ),
    ReferenceObject(
        "Sony RX100 (101.6 x 58.1 x 35.9 mm, lens retracted)",
        "camera",
        "compact",
        (0.0359, 0.0581, 0.1016),
        {"width": 0.1016, "height": 0.0581, "depth": 0.0289, "grip_depth": 0.0, "lens_length": 0.007},
        "Sony specification",
    ),
    ReferenceObject(
        "Canon PowerShot SX620 HS (97.0 x 56.0 x 27.9 mm)",
        "camera",
        "compact",
        (0.0279, 0.056, 0.097),
        {"width": 0.097, "height": 0.056, "depth": 0.0249, "grip_depth": 0.0, "lens_length": 0.003 + 0.001},
        "Canon specification",
    ),
    ReferenceObject(
        "GoPro HERO9 Black (71.0 x 55.0 x 33.6 mm)",
        "camera",
        "action",
        (0.0336, 0.055, 0.071),
        {"width": 0.071, "height": 0.055, "depth": 0.0276, "lens_length": 0.006},
        "GoPro specification",
    ),
    ReferenceObject(
        "Fujifilm instax mini 11 (107.6 x 121.2 x 67.3 mm)",
        "camera",
        "instant",
        (0.0673, 0.1212, 0.1076),
        {"width": 0.1076, "height": 0.1212, "depth": 0.0573, "grip_depth": 0.0, "lens_length": 0.01},
        "Fujifilm specification",
    ),
    ReferenceObject(
        "Polaroid Now (150.2 x 111.2 x 94 mm)",
        "camera",
        "instant",
        (0.094, 0.1112, 0.1502),
        {"width": 0.1502, "height": 0.1112, "depth": 0.069, "grip_depth": 0.0, "lens_length": 0.025},
        "Polaroid specification",
    ),
    # bottles: x = 2 body_radius, z = 2 body_radius depth_ratio
    ReferenceObject(
        "500 ml PET water bottle",
        "bottle",
        "water",
        (0.065, 0.205, 0.065),
        {"body_radius": 0.0325, "height": 0.205},
        "typical (65 x 205 mm)",
    ),
    ReferenceObject(
        "750 ml Bordeaux wine bottle",
        "bottle",
        "wine",
        (0.076, 0.3, 0.076),
        {"body_radius": 0.038, "height": 0.3},
        "typical (76 x 300 mm)",
    ),
    ReferenceObject(
        "330 ml long-neck beer bottle",
        "bottle",
        "beer",
        (0.06, 0.23, 0.06),
        {"body_radius": 0.03, "height": 0.23},
        "typical (60 x 230 mm)",
    ),
    ReferenceObject(
        "squeeze mustard bottle, oval",
        "bottle",
        "sauce",
        (0.08, 0.19, 0.053),
        {"body_radius": 0.04, "depth_ratio": 0.66, "height": 0.19, "cap_offset": 0.0},
        "typical (400 g squeeze bottle, 80 x 53 x 190 mm)",
    ),
    ReferenceObject(
        "hot-sauce squeeze bottle, round",
        "bottle",
        "sauce",
        (0.065, 0.2, 0.065),
        {"body_radius": 0.0325, "depth_ratio": 1.0, "height": 0.2, "cap_offset": 0.0},
        "typical (500 ml, 65 x 200 mm)",
    ),
    ReferenceObject(
        "400 ml shampoo bottle, oval",
        "bottle",
        "shampoo",
        (0.08, 0.22, 0.045),
        {"body_radius": 0.04, "depth_ratio": 0.5625, "squareness": 2.0, "height": 0.22},
        "typical (80 x 45 x 220 mm)",
    ),
    ReferenceObject(
        "700 ml square spirits bottle",
        "bottle",
        "square_spirits",
        (0.08, 0.25, 0.08),
        {"body_radius": 0.04, "depth_ratio": 1.0, "height": 0.25},
        "typical (80 x 80 x 250 mm)",
    ),
    # bowls: x = z = rim diameter (+ brim), y = depth
    ReferenceObject(
        "cereal bowl",
        "bowl",
        "cereal",
        (0.155, 0.065, 0.155),
        {"rim_radius": 0.0775, "depth": 0.065},
        "typical (155 x 65 mm)",
    ),
    ReferenceObject(
        "rice bowl (chawan)",
        "bowl",
        "rice",
        (0.115, 0.062, 0.115),
        {"rim_radius": 0.0575, "depth": 0.062},
        "typical (115 x 62 mm)",
    ),
    ReferenceObject(
        "ramen / soup bowl",
        "bowl",
        "soup",
        (0.2, 0.09, 0.2),
        {"rim_radius": 0.1, "depth": 0.09},
        "typical (200 x 90 mm)",
    ),
    ReferenceObject(
        "dessert bowl",
        "bowl",
        "dessert",
        (0.1, 0.045, 0.1),
        {"rim_radius": 0.05, "depth": 0.045},
        "typical (100 x 45 mm)",
    ),
    ReferenceObject(
        "1.5 qt mixing bowl",
        "bowl",
        "mixing",
        (0.215, 0.1, 0.215),
        {"rim_radius": 0.1075, "depth": 0.1},
        "typical (215 x 100 mm)",
    ),
    ReferenceObject(
        "pasta bowl with brim",
        "bowl",
        "pasta",
        (0.23, 0.05, 0.23),
        {"rim_radius": 0.09, "brim": 0.025, "depth": 0.04, "brim_rise": 0.005},
        "typical (230 x 50 mm)",
    ),
    # laptops: x = base depth (a lid opened past 90 degrees reaches behind the hinge), z = width
    ReferenceObject(
        "MacBook Air 13 (M2): 304.1 x 215 x 11.3 mm, lid at 90 deg",
        "laptop",
        "ultrabook",
        (0.215, 0.215 + 0.0068, 0.3041),
        {
            "width": 0.3041,
            "depth": 0.215,
            "base_thickness": 0.0068,
            "lid_thickness": 0.0045,
            "lid_angle_deg": 90.0,
        },
        "Apple specification",
    ),
    ReferenceObject(
        "MacBook Pro 14 (2021): 312.6 x 221.2 x 15.5 mm, lid at 90 deg",
        "laptop",
        "ultrabook",
        (0.2212, 0.2212 + 0.0105, 0.3126),
        {
            "width": 0.3126,
            "depth": 0.2212,
            "base_thickness": 0.0105,
            "lid_thickness": 0.005,
            "lid_angle_deg": 90.0,
        },
        "Apple specification",
    ),
    ReferenceObject(
        "Dell Inspiron 15 (358.5 x 235.6 x 18.9 mm), lid at 90 deg",
        "laptop",
        "standard_15",
        (0.2356, 0.2356 + 0.0129, 0.3585),
        {
            "width": 0.3585,
            "depth": 0.2356,
            "base_thickness": 0.0129,
            "lid_thickness": 0.006,
            "lid_angle_deg": 90.0,
        },
        "Dell specification",
    ),
    ReferenceObject(
        "17.3-inch gaming laptop (395 x 262 x 22 mm), lid at 90 deg",
        "laptop",
        "large_17",
        (0.262, 0.262 + 0.015, 0.395),
        {
            "width": 0.395,
            "depth": 0.262,
            "base_thickness": 0.015,
            "lid_thickness": 0.007,
            "lid_angle_deg": 90.0,
        },
        "typical (e.g. Razer Blade 17: 395 x 260 x 19.9 mm)",
    ),
    ReferenceObject(
        "11.6-inch Chromebook (291 x 204 x 20 mm), lid at 90 deg",
        "laptop",
        "small_11",
        (0.204, 0.204 + 0.0125, 0.291),
        {
            "width": 0.291,
            "depth": 0.204,
            "base_thickness": 0.0125,
            "lid_thickness": 0.0075,
            "lid_angle_deg": 90.0,
        },
        "typical (school Chromebooks, 291 x 204 x 20 mm)",
    ),
)
