"""Sensor domains and the one domain-randomisation config object.

``RandomizationConfig`` holds every randomised setting of a synthetic frame: scene composition,
camera placement, lighting, appearance and the sensor model. ``SensorModel`` describes how a
sensor corrupts an ideal render; two domains ship:

* ``clean``: ideal depth (float metres, NaN where no surface), noise-free RGB.
* ``realsense``: an active-stereo D435-like depth model. Depth noise has standard deviation
  ``sigma_z = k * z^2`` (stereo disparity error ``z^2 / (f b) * sigma_d``; Keselman et al., "Intel
  RealSense Stereoscopic Depth Cameras", CVPR-W 2017, Sec. 3), with holes at depth
  discontinuities, on dark and on grazing surfaces, random speckle dropout, a working range, and
  1 mm quantisation (the 16UC1 millimetre wire format). RGB gets exposure gain, Gaussian blur,
  and shot plus read noise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from diff9d_ros.nocs import CATEGORIES


@dataclass(frozen=True)
class SensorModel:
    """How a sensor corrupts an ideal render (all probabilities per pixel)."""

    name: str = "clean"
    depth_noise_per_m: float = 0.0  # k in sigma_z = k * z^2, 1/m
    quantisation_m: float = 0.0  # depth step; 0 = keep float depth
    min_range_m: float = 0.0
    max_range_m: float = 10.0
    edge_jump_m: float = 0.02  # depth step that counts as a discontinuity
    edge_hole_probability: float = 0.0
    edge_width_px: int = 1
    dark_luminance: float = 0.0  # albedo luminance below which stereo matching fails
    dark_hole_probability: float = 0.0
    grazing_cos: float = 0.0  # |cos(view, normal)| below which depth is lost
    speckle_probability: float = 0.0
    exposure_range: tuple[float, float] = (1.0, 1.0)
    blur_sigma_px_range: tuple[float, float] = (0.0, 0.0)
    rgb_read_noise: float = 0.0  # std of additive noise, in [0, 1] intensity units
    rgb_shot_noise: float = 0.0  # std = shot * sqrt(intensity)

    @classmethod
    def clean(cls) -> SensorModel:
        return cls()

    @classmethod
    def realsense(cls) -> SensorModel:
        """D435 at 640x480: f b / sigma_d = 615 px * 0.05 m / 0.08 px gives k ~ 0.0026 / m."""
        return cls(
            name="realsense",
            depth_noise_per_m=0.0026,
            quantisation_m=0.001,
            min_range_m=0.2,
            max_range_m=6.0,
            edge_hole_probability=0.7,
            edge_width_px=2,
            dark_luminance=0.06,
            dark_hole_probability=0.6,
            grazing_cos=0.15,
            speckle_probability=0.003,
            exposure_range=(0.75, 1.3),
            blur_sigma_px_range=(0.0, 1.0),
            rgb_read_noise=0.01,
            rgb_shot_noise=0.02,
        )


#: The sensor domains by name (``--domain`` values).
SENSOR_DOMAINS: dict[str, SensorModel] = {"clean": SensorModel.clean(), "realsense": SensorModel.realsense()}


@dataclass(frozen=True)
class RandomizationConfig:
    """Every domain-randomisation setting of a synthetic frame, in one place.

    Ranges are (low, high) and sampled uniformly. Distances are metres, angles degrees.
    """

    objects_range: tuple[int, int] = (1, 6)
    distractors_range: tuple[int, int] = (0, 3)
    categories: tuple[str, ...] = CATEGORIES
    lying_probability: float = 0.15  # bottles and cans lying on their side
    table_size_m: tuple[tuple[float, float], tuple[float, float]] = ((0.9, 1.6), (0.7, 1.1))
    placement_half_extent_m: float = 0.3  # objects are placed within this square of the table centre
    camera_distance_m: tuple[float, float] = (0.45, 0.95)
    camera_elevation_deg: tuple[float, float] = (30.0, 80.0)
    camera_roll_deg: float = 5.0
    look_at_jitter_m: float = 0.05
    ambient_range: tuple[float, float] = (0.15, 0.4)
    lights_range: tuple[int, int] = (1, 2)
    light_intensity_range: tuple[float, float] = (0.5, 1.0)
    light_elevation_deg: tuple[float, float] = (30.0, 85.0)
    texture_probability: float = 0.5
    specular_probability: float = 0.4
    shininess_range: tuple[float, float] = (8.0, 64.0)
    shadows: bool = True
    sensor: SensorModel = field(default_factory=SensorModel.clean)

    def __post_init__(self) -> None:
        low, high = self.objects_range
        if not 1 <= low <= high <= 8:
            raise ValueError(f"objects_range must satisfy 1 <= low <= high <= 8, got {self.objects_range}")
        if self.camera_distance_m[0] <= 0:
            raise ValueError(f"camera distance must be positive, got {self.camera_distance_m}")
        unknown = set(self.categories) - set(CATEGORIES)
        if not self.categories or unknown:
            raise ValueError(f"categories must be a non-empty subset of {CATEGORIES}, got {unknown}")

    @classmethod
    def for_domain(cls, domain: str, **overrides: object) -> RandomizationConfig:
        """The default config with the sensor of ``domain`` ("clean" or "realsense")."""
        if domain not in SENSOR_DOMAINS:
            raise ValueError(f"unknown sensor domain {domain!r}; expected one of {sorted(SENSOR_DOMAINS)}")
        return cls(sensor=SENSOR_DOMAINS[domain], **overrides)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready copy (for dataset indexes)."""
        return dataclasses.asdict(self)


def corrupt_depth(
    depth_m: np.ndarray,
    view_cos: np.ndarray,
    albedo_luminance: np.ndarray,
    sensor: SensorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Apply ``sensor``'s depth model to an ideal depth image (float32 metres, NaN = no surface).

    ``view_cos`` is |cos| of the angle between viewing ray and surface normal, ``albedo_luminance``
    the surface's reflectance in [0, 1]; both (H, W).
    """
    depth = depth_m.astype(np.float32, copy=True)
    valid = np.isfinite(depth)
    if sensor.depth_noise_per_m > 0:
        sigma = sensor.depth_noise_per_m * np.where(valid, depth, 0.0) ** 2
        depth += (rng.standard_normal(depth.shape, dtype=np.float32) * sigma).astype(np.float32)
    holes = np.zeros(depth.shape, dtype=bool)
    if sensor.edge_hole_probability > 0:
        filled = np.where(valid, depth_m, 10.0 * np.nanmax(depth_m, initial=1.0))
        jump = np.maximum(ndimage.maximum_filter(filled, size=3) - ndimage.minimum_filter(filled, size=3), 0)
        edges = jump > sensor.edge_jump_m
        if sensor.edge_width_px > 1:
            edges = ndimage.binary_dilation(edges, iterations=sensor.edge_width_px - 1)
        holes |= edges & (rng.random(depth.shape) < sensor.edge_hole_probability)
    if sensor.dark_hole_probability > 0:
        holes |= (albedo_luminance < sensor.dark_luminance) & (
            rng.random(depth.shape) < sensor.dark_hole_probability
        )
    if sensor.grazing_cos > 0:
        holes |= view_cos < sensor.grazing_cos
    if sensor.speckle_probability > 0:
        holes |= rng.random(depth.shape) < sensor.speckle_probability
    holes |= (depth < sensor.min_range_m) | (depth > sensor.max_range_m)
    depth[holes] = np.nan
    if sensor.quantisation_m > 0:
        depth = (np.round(depth / sensor.quantisation_m) * sensor.quantisation_m).astype(np.float32)
    return depth


def corrupt_rgb(linear_rgb: np.ndarray, sensor: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """Apply exposure, blur and noise to a linear RGB render (H, W, 3) in [0, inf); returns uint8 sRGB."""
    image = linear_rgb.astype(np.float32, copy=True)
    low, high = sensor.exposure_range
    if high > low:
        image *= np.float32(rng.uniform(low, high))
    b_low, b_high = sensor.blur_sigma_px_range
    if b_high > 0:
        sigma = float(rng.uniform(b_low, b_high))
        if sigma > 0.3:
            image = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0.0), truncate=2.5)
    if sensor.rgb_read_noise > 0 or sensor.rgb_shot_noise > 0:
        std = sensor.rgb_read_noise + sensor.rgb_shot_noise * np.sqrt(np.clip(image, 0.0, None))
        image += rng.standard_normal(image.shape, dtype=np.float32) * std
    return to_srgb8(image)


_SRGB_LEVELS = 4096
_SRGB_LUT = np.round(255.0 * np.linspace(0.0, 1.0, _SRGB_LEVELS) ** (1.0 / 2.2)).astype(np.uint8)


def to_srgb8(linear_rgb: np.ndarray) -> np.ndarray:
    """Linear intensities (clipped to [0, 1]) to 8-bit sRGB (gamma 1/2.2, via a 4096-entry table)."""
    levels = np.clip(linear_rgb * np.float32(_SRGB_LEVELS - 1) + np.float32(0.5), 0, _SRGB_LEVELS - 1)
    return _SRGB_LUT[levels.astype(np.intp)]
