"""Surface appearances: random colours, or materials of the kind of object they cover.

:func:`random_appearance` draws any colour (HSV-uniform, dark to bright), maybe a stripe or checker
pattern, maybe a Blinn-Phong lobe: domain randomisation. :func:`material_appearance` draws from
:data:`MATERIALS`, per category (and sub-family where it matters) the surfaces such objects have:
printed aluminium cans, PET and glass bottles, glazed ceramic mugs and bowls, black or silver
camera bodies, aluminium and black laptops, wood, laminate and stone tables, concrete, wood and
carpet floors. Colours are given in sRGB HSV and returned as linear albedo (gamma 2.2).
:func:`appearance_for` mixes the two by ``RandomizationConfig.realistic_material_probability``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from diff9d_ros.synth.noise import RandomizationConfig

Range = tuple[float, float]
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checker")


@dataclass
class Appearance:
    """Surface reflectance: linear-RGB albedo, an optional two-colour pattern, Blinn-Phong specular."""

    colour: np.ndarray
    colour2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pattern: str = "plain"
    pattern_scale_m: float = 0.02
    specular: float = 0.0
    shininess: float = 32.0

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}; expected one of {PATTERNS}")
        self.colour = np.asarray(self.colour, dtype=np.float64).reshape(3)
        self.colour2 = np.asarray(self.colour2, dtype=np.float64).reshape(3)


@dataclass(frozen=True)
class Material:
    """Ranges of one kind of surface: sRGB hue, saturation and value, gloss, a pattern."""

    hue: Range
    saturation: Range
    value: Range
    specular: Range = (0.0, 0.0)
    shininess: Range = (16.0, 64.0)
    pattern: str = "plain"
    pattern_probability: float = 0.0
    pattern_scale_m: Range = (0.008, 0.04)


ANY_HUE = (0.0, 1.0)
ALUMINIUM = Material(ANY_HUE, (0.0, 0.06), (0.6, 0.85), (0.5, 0.9), (40.0, 120.0))
PRINTED_CAN = Material(
    ANY_HUE, (0.5, 1.0), (0.35, 0.95), (0.3, 0.7), (30.0, 100.0), "stripes", 0.6, (0.01, 0.05)
)
TIN_LABEL = Material(
    ANY_HUE, (0.3, 0.9), (0.4, 0.95), (0.05, 0.2), (10.0, 40.0), "stripes", 0.3, (0.01, 0.04)
)
CLEAR_PET = Material((0.5, 0.6), (0.05, 0.3), (0.6, 0.9), (0.6, 0.9), (60.0, 150.0))
GLASS = Material((0.08, 0.35), (0.5, 0.9), (0.08, 0.35), (0.6, 0.9), (60.0, 150.0))
PLASTIC = Material(ANY_HUE, (0.2, 1.0), (0.3, 0.95), (0.15, 0.5), (20.0, 60.0))
CERAMIC_WHITE = Material(ANY_HUE, (0.0, 0.08), (0.82, 0.97), (0.3, 0.6), (30.0, 90.0))
CERAMIC_GLAZE = Material(ANY_HUE, (0.15, 0.7), (0.25, 0.9), (0.3, 0.6), (30.0, 90.0), "stripes", 0.15)
BLACK_BODY = Material(ANY_HUE, (0.0, 0.1), (0.06, 0.16), (0.1, 0.3), (10.0, 40.0))
SILVER_BODY = Material(ANY_HUE, (0.0, 0.06), (0.55, 0.8), (0.3, 0.6), (30.0, 80.0))
PASTEL_BODY = Material(ANY_HUE, (0.15, 0.5), (0.7, 0.95), (0.1, 0.3), (10.0, 40.0))
SPACE_GREY = Material(ANY_HUE, (0.0, 0.05), (0.3, 0.45), (0.3, 0.5), (30.0, 80.0))
WOOD = Material(
    (0.05, 0.11), (0.35, 0.7), (0.3, 0.8), (0.0, 0.25), (10.0, 40.0), "stripes", 0.7, (0.004, 0.015)
)
LAMINATE = Material(ANY_HUE, (0.0, 0.1), (0.55, 0.95), (0.0, 0.3), (10.0, 40.0))
STONE = Material(ANY_HUE, (0.0, 0.12), (0.15, 0.6), (0.1, 0.4), (20.0, 60.0), "checker", 0.2, (0.2, 0.6))
CONCRETE = Material((0.05, 0.15), (0.0, 0.15), (0.3, 0.7))
CARPET = Material(ANY_HUE, (0.1, 0.5), (0.15, 0.6))

#: (weight, material) choices per category, sub-family ("category/family") or support surface.
MATERIALS: dict[str, tuple[tuple[float, Material], ...]] = {
    "can": ((0.7, PRINTED_CAN), (0.3, ALUMINIUM)),
    "can/food_tin": ((0.8, TIN_LABEL), (0.2, ALUMINIUM)),
    "can/squat_tin": ((0.7, TIN_LABEL), (0.3, ALUMINIUM)),
    "can/squat_small": ((0.7, TIN_LABEL), (0.3, ALUMINIUM)),
    "bottle": ((0.6, PLASTIC), (0.4, GLASS)),
    "bottle/water": ((0.8, CLEAR_PET), (0.2, PLASTIC)),
    "bottle/wine": ((1.0, GLASS),),
    "bottle/beer": ((1.0, GLASS),),
    "bowl": ((0.6, CERAMIC_WHITE), (0.4, CERAMIC_GLAZE)),
    "mug": ((0.5, CERAMIC_WHITE), (0.5, CERAMIC_GLAZE)),
    "camera": ((0.75, BLACK_BODY), (0.25, SILVER_BODY)),
    "camera/instant": ((0.8, PASTEL_BODY), (0.2, BLACK_BODY)),
    "laptop": ((0.4, SILVER_BODY), (0.3, SPACE_GREY), (0.3, BLACK_BODY)),
    "table": ((0.5, WOOD), (0.3, LAMINATE), (0.2, STONE)),
    "floor": ((0.4, CONCRETE), (0.35, WOOD), (0.25, CARPET)),
}


def _colour(rng: np.random.Generator, hue: Range, saturation: Range, value: Range) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.uniform(*hue), rng.uniform(*saturation), rng.uniform(*value))
    return np.asarray(rgb) ** 2.2


def random_appearance(rng: np.random.Generator, config: RandomizationConfig) -> Appearance:
    """Random colours (HSV-uniform, dark to bright), maybe a pattern, maybe a specular lobe."""
    first = _colour(rng, ANY_HUE, (0.0, 0.9), (0.08, 0.95))
    second = _colour(rng, ANY_HUE, (0.0, 0.9), (0.08, 0.95))
    pattern = "plain"
    if rng.random() < config.texture_probability:
        pattern = str(rng.choice(["stripes", "checker"]))
    specular = rng.uniform(0.1, 0.5) if rng.random() < config.specular_probability else 0.0
    return Appearance(
        colour=first,
        colour2=second,
        pattern=pattern,
        pattern_scale_m=rng.uniform(0.008, 0.04),
        specular=specular,
        shininess=rng.uniform(*config.shininess_range),
    )


def material_appearance(kind: str, family: str, rng: np.random.Generator) -> Appearance:
    """A material of ``kind`` (a category, "table" or "floor"), sub-family aware (see MATERIALS)."""
    choices = MATERIALS.get(f"{kind}/{family}") or MATERIALS[kind]
    weights = np.array([w for w, _ in choices])
    material = choices[int(rng.choice(len(choices), p=weights / weights.sum()))][1]
    first = _colour(rng, material.hue, material.saturation, material.value)
    second = _colour(rng, material.hue, material.saturation, material.value)
    patterned = rng.random() < material.pattern_probability
    return Appearance(
        colour=first,
        colour2=second,
        pattern=material.pattern if patterned else "plain",
        pattern_scale_m=rng.uniform(*material.pattern_scale_m),
        specular=rng.uniform(*material.specular),
        shininess=rng.uniform(*material.shininess),
    )


def appearance_for(
    kind: str, family: str, rng: np.random.Generator, config: RandomizationConfig
) -> Appearance:
    """A material of its kind with probability ``config.realistic_material_probability`` (for kinds
    in MATERIALS), else a random appearance."""
    if kind in MATERIALS and rng.random() < config.realistic_material_probability:
        return material_appearance(kind, family, rng)
    return random_appearance(rng, config)
