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


def _mug(
    name: str, family: str, base_mm: float, rim_mm: float, height_mm: float, source: str
) -> ReferenceObject:
    """A mug from its listing: base and rim diameter, height (the box's x adds the handle reach,
    which listings do not give: only y and z are compared)."""
    params = {"radius": base_mm / 2000.0, "flare": rim_mm / base_mm, "height": height_mm / 1000.0}
    return ReferenceObject(
        name,
        "mug",
        family,
        (rim_mm / 1000.0, height_mm / 1000.0, rim_mm / 1000.0),
        params,
        source,
        axes=(1, 2),
    )


def _camera(
    name: str, family: str, body_mm: tuple[float, float, float], extra_mm: dict[str, float], source: str
) -> ReferenceObject:
    """A camera from its width x height x depth (depth without grip and lens) and the grip depth,
    lens length and radius, top hump (``extra_mm``); the box is (depth + front part, height + hump,
    width)."""
    width, height, depth = body_mm
    extra = {k: v / 1000.0 for k, v in extra_mm.items()}
    front = max(extra.get("grip_depth", 0.0), extra["lens_length"])
    size = (
        (depth + front * 1000.0) / 1000.0,
        (height + extra_mm.get("hump_height", 0.0)) / 1000.0,
        width / 1000.0,
    )
    params = {"width": width / 1000.0, "height": height / 1000.0, "depth": depth / 1000.0, **extra}
    return ReferenceObject(name, "camera", family, size, params, source)


def _bottle(
    name: str, family: str, width_mm: float, height_mm: float, depth_mm: float, source: str
) -> ReferenceObject:
    """A bottle from its width (x, the wide side), height and depth (z)."""
    params = {
        "body_radius": width_mm / 2000.0,
        "height": height_mm / 1000.0,
        "depth_ratio": depth_mm / width_mm,
    }
    return ReferenceObject(
        name, "bottle", family, (width_mm / 1000.0, height_mm / 1000.0, depth_mm / 1000.0), params, source
    )


def _bowl(
    name: str, family: str, diameter_mm: float, height_mm: float, source: str, brim_mm: float = 0.0
) -> ReferenceObject:
    """A bowl from its outer diameter (including a brim) and height."""
    rim = (diameter_mm / 2.0 - brim_mm) / 1000.0
    params = {"rim_radius": rim, "depth": height_mm / 1000.0}
    if brim_mm:  # the brim rises and has a thickness on top of the bowl's depth
        params = {
            "rim_radius": rim,
            "brim": brim_mm / 1000.0,
            "depth": height_mm / 1000.0 - 0.01,
            "brim_rise": 0.005,
        }
    size = (diameter_mm / 1000.0, height_mm / 1000.0, diameter_mm / 1000.0)
    return ReferenceObject(name, "bowl", family, size, params, source)


def _laptop(
    name: str, family: str, closed_mm: tuple[float, float, float], lid_mm: float, source: str
) -> ReferenceObject:
    """A laptop from its closed width x depth x thickness and the lid's thickness, opened to 90
    degrees: the box is (depth, depth + base thickness, width)."""
    width, depth, thickness = (v / 1000.0 for v in closed_mm)
    base = thickness - lid_mm / 1000.0
    params = {
        "width": width,
        "depth": depth,
        "base_thickness": base,
        "lid_thickness": lid_mm / 1000.0,
        "lid_angle_deg": 90.0,
    }
    return ReferenceObject(name, "laptop", family, (depth, depth + base, width), params, source)


_BEVERAGE = "beverage-can formats"
_TYPICAL = "typical"

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
    _can("3 oz pet-food can", "squat_small", 76.0, 32.0, _TYPICAL),
    _can("3 oz pet-food can, 211 diameter", "squat_small", _inch16(211), 38.0, _TYPICAL),
    # mugs: base and rim diameter, height
    _mug("11 oz mug blank", "classic", 79.0, 82.0, 96.0, "typical (sublimation blank 82 x 96 mm)"),
    _mug("15 oz mug blank", "tall", 83.0, 86.0, 117.0, "typical (sublimation blank 86 x 117 mm)"),
    _mug("cappuccino cup", "squat", 89.0, 95.0, 66.0, "typical (6 oz, 95 x 66 mm)"),
    _mug("latte mug, 1.4x flare", "conical", 70.0, 98.0, 100.0, "typical (conical latte mug)"),
    _mug("espresso cup", "espresso", 60.0, 62.0, 58.0, "typical (demitasse 62 x 58 mm)"),
    _mug("bell mug", "bell", 72.0, 100.0, 95.0, "typical (tulip mug)"),
    # cameras: width x height x depth without grip and lens, then grip, lens and hump
    _camera(
        "Canon EOS 2000D body (129.0 x 101.3 x 77.6 mm with grip)",
        "dslr_body",
        (129.0, 101.3, 52.6),
        {"grip_depth": 25.0, "lens_length": 8.0, "hump_height": 18.0},
        "Canon specification",
    ),
    _camera(
        "Nikon D3500 + AF-P 18-55 mm (124 x 97 x 69.5 mm; lens 64.5 x 62.5 mm)",
        "dslr_zoom",
        (124.0, 97.0, 49.5),
        {"grip_depth": 20.0, "lens_length": 62.5, "lens_radius": 33.75, "hump_height": 15.0},
        "Nikon specification",
    ),
    _camera(
        "Canon EOS 2000D + EF 50 mm f/1.8 STM (lens 69.2 x 39.3 mm)",
        "dslr_prime",
        (129.0, 101.3, 52.6),
        {"grip_depth": 25.0, "lens_length": 39.3, "lens_radius": 34.6, "hump_height": 18.0},
        "Canon specification",
    ),
    _camera(
        "Canon EOS 2000D + EF-S 55-250 mm IS STM (lens 70 x 111.2 mm)",
        "dslr_zoom",
        (129.0, 101.3, 52.6),
        {"grip_depth": 25.0, "lens_length": 111.2, "lens_radius": 35.0, "hump_height": 18.0},
        "Canon specification",
    ),
    _camera(
        "Sony a6000 + 16-50 mm (120 x 66.9 x 45.1 mm; lens 64.7 x 29.9 mm)",
        "mirrorless",
        (120.0, 66.9, 37.1),
        {"grip_depth": 8.0, "lens_length": 29.9, "lens_radius": 32.35, "hump_height": 0.0},
        "Sony specification",
    ),
    _camera(
        "Sony RX100 (101.6 x 58.1 x 35.9 mm, lens retracted)",
        "compact",
        (101.6, 58.1, 28.9),
        {"grip_depth": 0.0, "lens_length": 7.0},
        "Sony specification",
    ),
    _camera(
        "Canon PowerShot SX620 HS (97.0 x 56.0 x 27.9 mm)",
        "compact",
        (97.0, 56.0, 23.9),
        {"grip_depth": 0.0, "lens_length": 4.0},
        "Canon specification",
    ),
    _camera(
        "GoPro HERO9 Black (71.0 x 55.0 x 33.6 mm)",
        "action",
        (71.0, 55.0, 27.6),
        {"lens_length": 6.0},
        "GoPro specification",
    ),
    _camera(
        "Fujifilm instax mini 11 (107.6 x 121.2 x 67.3 mm)",
        "instant",
        (107.6, 121.2, 57.3),
        {"grip_depth": 0.0, "lens_length": 10.0},
        "Fujifilm specification",
    ),
    _camera(
        "Polaroid Now (150.2 x 111.2 x 94 mm)",
        "instant",
        (150.2, 111.2, 69.0),
        {"grip_depth": 0.0, "lens_length": 25.0},
        "Polaroid specification",
    ),
    # bottles: width (the wide side), height, depth
    _bottle("500 ml PET water bottle", "water", 65.0, 205.0, 65.0, "typical (65 x 205 mm)"),
    _bottle("750 ml Bordeaux wine bottle", "wine", 76.0, 300.0, 76.0, "typical (76 x 300 mm)"),
    _bottle("330 ml long-neck beer bottle", "beer", 60.0, 230.0, 60.0, "typical (60 x 230 mm)"),
    _bottle("squeeze mustard bottle, oval", "sauce", 80.0, 190.0, 53.0, "typical (400 g squeeze bottle)"),
    _bottle("hot-sauce squeeze bottle, round", "sauce", 65.0, 200.0, 65.0, "typical (500 ml)"),
    _bottle("400 ml shampoo bottle, oval", "shampoo", 80.0, 220.0, 45.0, "typical (80 x 45 x 220 mm)"),
    _bottle(
        "700 ml square spirits bottle", "square_spirits", 80.0, 250.0, 80.0, "typical (80 x 80 x 250 mm)"
    ),
    # bowls: diameter, height
    _bowl("cereal bowl", "cereal", 155.0, 65.0, "typical (155 x 65 mm)"),
    _bowl("rice bowl (chawan)", "rice", 115.0, 62.0, "typical (115 x 62 mm)"),
    _bowl("ramen / soup bowl", "soup", 200.0, 90.0, "typical (200 x 90 mm)"),
    _bowl("dessert bowl", "dessert", 100.0, 45.0, "typical (100 x 45 mm)"),
    _bowl("1.5 qt mixing bowl", "mixing", 215.0, 100.0, "typical (215 x 100 mm)"),
    _bowl("pasta bowl with brim", "pasta", 230.0, 50.0, "typical (230 x 50 mm)", brim_mm=25.0),
    # laptops: closed width x depth x thickness, lid thickness; opened to 90 degrees
    _laptop("MacBook Air 13 (M2)", "ultrabook", (304.1, 215.0, 11.3), 4.5, "Apple specification"),
    _laptop("MacBook Pro 14 (2021)", "ultrabook", (312.6, 221.2, 15.5), 5.0, "Apple specification"),
    _laptop("Dell Inspiron 15", "standard_15", (358.5, 235.6, 18.9), 6.0, "Dell specification"),
    _laptop(
        "17.3-inch gaming laptop", "large_17", (395.0, 262.0, 22.0), 7.0, "typical (e.g. Razer Blade 17)"
    ),
    _laptop("11.6-inch Chromebook", "small_11", (291.0, 204.0, 20.0), 7.5, "typical (school Chromebooks)"),
)
