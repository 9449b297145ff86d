"""Sensor models, RealSense presets, and the one domain-randomisation config object.

``RandomizationConfig`` holds every randomised setting of a synthetic frame: scene composition,
camera placement, lighting, appearance and the sensor model. ``SensorModel`` describes how a
sensor corrupts an ideal render:

* ``clean``: ideal depth (float metres, NaN where no surface), noise-free RGB.
* active stereo (RealSense D400): depth noise with standard deviation ``sigma_z = k z^2``, the
  stereo disparity error ``sigma_z = z^2 sigma_d / (f b)`` (Keselman et al., "Intel RealSense
  Stereoscopic Depth Cameras", CVPR-W 2017, Sec. 3; Grunnet-Jepsen et al., Intel white paper
  "Subpixel linearity improvement for Intel RealSense depth cameras": ``sigma_d`` ~ 0.08 px);
  no depth nearer than ``f b / 126`` (the D4 processor's 126-pixel disparity search); holes at
  depth discontinuities, on dark and on grazing surfaces, random speckle; depth shifted by up to
  ``depth_shift_px`` pixels against colour (imperfect depth-to-colour registration) and "flying"
  pixels at depth edges whose depth mixes foreground and background; 1 mm quantisation (the 16UC1
  millimetre wire format). RGB gets exposure gain, Gaussian blur, and shot plus read noise.

:data:`SENSOR_PRESETS` holds D415, D435 and D455 at 640x480 and 1280x720 (colour intrinsics and
depth model from the datasheet's fields of view and baselines, see :func:`realsense_preset`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import CATEGORIES


@dataclass(frozen=True)
class SensorModel:
    """How a sensor corrupts an ideal render (all probabilities per pixel)."""

    name: str = "clean"
    depth_noise_per_m: float = 0.0  # k in sigma_z = k * z^2, 1/m
    quantisation_m: float = 0.0  # depth step; 0 = keep float depth
    min_range_m: float = 0.0
    max_range_m: float = 10.0
    edge_jump_m: float = 0.02  # depth step at 1 m that counts as a discontinuity (scales with z^2)
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
    depth_shift_px: int = 0  # depth moves against colour by a per-frame (dx, dy) in [-n, n]^2
    flying_pixel_probability: float = 0.0  # an edge pixel takes a foreground/background mix

    @classmethod
    def clean(cls) -> SensorModel:
        return cls()

    @classmethod
    def realsense(cls) -> SensorModel:
        """The D435 at 640x480 (:data:`SENSOR_PRESETS`), named ``realsense``."""
        return dataclasses.replace(SENSOR_PRESETS["d435_640x480"].sensor, name="realsense")


@dataclass(frozen=True)
class StereoCamera:
    """Datasheet numbers of one RealSense model (Intel RealSense D400 Series Product Family
    Datasheet: baselines, depth field of view at 16:9, colour sensor and its field of view)."""

    model: str
    baseline_m: float
    depth_hfov_deg: float  # at 1280x720 (16:9), the depth stream's widest 16:9 mode
    depth_native_px: tuple[int, int]  # depth imager (OV2740 on D415, OV9282 on D435 / D455)
    colour_hfov_deg: float  # of the colour sensor's full frame
    colour_native_px: tuple[int, int]  # colour sensor (OV2740 on D415 / D435, OV9782 on D455)


STEREO_CAMERAS: dict[str, StereoCamera] = {
    "d415": StereoCamera("d415", 0.055, 65.0, (1920, 1080), 69.4, (1920, 1080)),
    "d435": StereoCamera("d435", 0.050, 87.0, (1280, 800), 69.4, (1920, 1080)),
    "d455": StereoCamera("d455", 0.095, 87.0, (1280, 800), 90.0, (1280, 800)),
}
#: Matching precision of the D4 stereo processor, pixels (Intel's 0.08 px subpixel RMS).
SUBPIXEL_RMS_PX = 0.08
#: Disparity search range of the D4 processor, pixels: the nearest depth is f b / this.
DISPARITY_SEARCH_PX = 126
#: A disparity step of this many pixels between neighbours is a depth edge (matching fails there).
EDGE_DISPARITY_PX = 1.0
PRESET_RESOLUTIONS: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))


def _mode_focal_px(native_px: tuple[int, int], native_focal_px: float, width: int, height: int) -> float:
    """Focal length of a (width, height) mode cut from the native frame: centre-crop to the mode's
    aspect ratio, then scale to its size."""
    native_w, native_h = native_px
    if width / height < native_w / native_h:
        return native_focal_px * height / native_h  # full height, cropped width
    return native_focal_px * width / native_w


@dataclass(frozen=True)
class SensorPreset:
    """A named camera: colour intrinsics of the aligned stream and its sensor model."""

    name: str
    intrinsics: Intrinsics
    sensor: SensorModel


def realsense_preset(model: str, width: int, height: int) -> SensorPreset:
    """A RealSense model at one resolution, depth aligned to colour at the same resolution.

    Colour focal length: ``f = (W_native / 2) / tan(HFOV / 2)`` of the colour sensor, cropped and
    scaled to the mode (:func:`_mode_focal_px`); principal point at the image centre. Depth: the
    depth imager's focal length at the 16:9 datasheet FOV, ``k = sigma_d / (f_d b)`` with
    ``sigma_d`` = :data:`SUBPIXEL_RMS_PX`, minimum range ``f_d b / 126``, depth edges where the
    disparity ``f_d b / z`` steps by :data:`EDGE_DISPARITY_PX`.
    """
    camera = STEREO_CAMERAS[model]
    colour_native_f = camera.colour_native_px[0] / 2.0 / np.tan(np.radians(camera.colour_hfov_deg) / 2.0)
    f_colour = _mode_focal_px(camera.colour_native_px, colour_native_f, width, height)
    # The depth FOV is quoted for the 1280x720 (16:9) mode; its pixel pitch fixes the native focal.
    depth_720_f = 640.0 / np.tan(np.radians(camera.depth_hfov_deg) / 2.0)
    native_w = camera.depth_native_px[0]
    depth_native_f = depth_720_f * native_w / 1280.0
    f_depth = _mode_focal_px(camera.depth_native_px, depth_native_f, width, height)
    intrinsics = Intrinsics(width, height, f_colour, f_colour, (width - 1) / 2.0, (height - 1) / 2.0)
    sensor = SensorModel(
        name=f"{model}_{width}x{height}",
        depth_noise_per_m=SUBPIXEL_RMS_PX / (f_depth * camera.baseline_m),
        quantisation_m=0.001,
        min_range_m=f_depth * camera.baseline_m / DISPARITY_SEARCH_PX,
        max_range_m=6.0,
        edge_jump_m=EDGE_DISPARITY_PX / (f_depth * camera.baseline_m),
        edge_hole_probability=0.7,
        edge_width_px=2 if width <= 640 else 3,
        dark_luminance=0.06,
        dark_hole_probability=0.6,
        grazing_cos=0.15,
        speckle_probability=0.003,
        exposure_range=(0.75, 1.3),
        blur_sigma_px_range=(0.0, 1.0),
        rgb_read_noise=0.01,
        rgb_shot_noise=0.02,
        depth_shift_px=2,
        flying_pixel_probability=0.25,
    )
    return SensorPreset(sensor.name, intrinsics, sensor)


#: RealSense presets by name, e.g. ``d455_1280x720`` (``--sensor`` values).
SENSOR_PRESETS: dict[str, SensorPreset] = {
    preset.name: preset
    for preset in (realsense_preset(m, w, h) for m in STEREO_CAMERAS for (w, h) in PRESET_RESOLUTIONS)
}

#: The sensor domains by name (``--domain`` values).
SENSOR_DOMAINS: dict[str, SensorModel] = {"clean": SensorModel.clean(), "realsense": SensorModel.realsense()}


def sensor_presets(names: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Preset names from a comma-separated string or a list; ``all`` = every preset, ``NAME_640x480``
    style names or bare model names (``d455`` = both resolutions). Raises ValueError for others."""
    parts = [n.strip().lower() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    chosen: list[str] = []
    for part in parts:
        if part == "all":
            matches = list(SENSOR_PRESETS)
        elif part in SENSOR_PRESETS:
            matches = [part]
        else:
            matches = [n for n in SENSOR_PRESETS if n.startswith(f"{part}_")]
        if not matches:
            raise ValueError(
                f"unknown sensor {part!r}; expected 'all', a model or one of {sorted(SENSOR_PRESETS)}"
            )
        chosen += [m for m in matches if m not in chosen]
    if not chosen:
        raise ValueError("no sensor named")
    return tuple(chosen)


@dataclass(frozen=True)
class RandomizationConfig:
    """Every domain-randomisation setting of a synthetic frame, in one place.

    Ranges are (low, high) and sampled uniformly. Distances are metres, angles degrees.
    """

    objects_range: tuple[int, int] = (1, 6)
    distractors_range: tuple[int, int] = (0, 3)
    categories: tuple[str, ...] = CATEGORIES
    lying_probability: float = 0.15  # bottles and cans (taller than wide) lying on their side
    table_size_m: tuple[tuple[float, float], tuple[float, float]] = ((0.9, 1.6), (0.7, 1.1))
    placement_half_extent_m: float = 0.3  # objects are placed within this square of the table centre
    camera_distance_m: tuple[float, float] = (0.3, 1.6)  # from the look-at point near the objects
    camera_elevation_deg: tuple[float, float] = (20.0, 85.0)
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
    #: Names of :data:`SENSOR_PRESETS` drawn per frame (intrinsics and sensor model); empty = the
    #: ``sensor`` above with the dataset's intrinsics.
    sensor_presets: tuple[str, ...] = ()
    #: Probability that an object, the table or the floor gets a material of its kind (aluminium
    #: cans, ceramic mugs, black camera bodies, wood tables, ...) instead of a random colour.
    realistic_material_probability: float = 0.5

    def __post_init__(self) -> None:
        low, high = self.objects_range
        if not 1 <= low <= high <= 8:
            raise ValueError(f"objects_range must satisfy 1 <= low <= high <= 8, got {self.objects_range}")
        if self.camera_distance_m[0] <= 0:
            raise ValueError(f"camera distance must be positive, got {self.camera_distance_m}")
        unknown = set(self.categories) - set(CATEGORIES)
        if not self.categories or unknown:
            raise ValueError(f"categories must be a non-empty subset of {CATEGORIES}, got {unknown}")
        if self.camera_distance_m[0] > self.camera_distance_m[1]:
            raise ValueError(f"camera_distance_m must be (low, high), got {self.camera_distance_m}")
        for name, value in (
            ("lying_probability", self.lying_probability),
            ("realistic_material_probability", self.realistic_material_probability),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        unknown_presets = set(self.sensor_presets) - set(SENSOR_PRESETS)
        if unknown_presets:
            raise ValueError(
                f"unknown sensor presets {sorted(unknown_presets)}; known: {sorted(SENSOR_PRESETS)}"
            )

    @classmethod
    def for_domain(cls, domain: str, **overrides: object) -> RandomizationConfig:
        """The default config with the sensor of ``domain``: "clean", "realsense" (the D435 at
        640x480 with the dataset's intrinsics) or sensor presets (see :func:`sensor_presets`: "all",
        "d455_1280x720", "d415,d435"), drawn per frame with their own intrinsics."""
        if domain in SENSOR_DOMAINS:
            return cls(sensor=SENSOR_DOMAINS[domain], **overrides)
        try:
            presets = sensor_presets(domain)
        except ValueError:
            raise ValueError(
                f"unknown sensor domain {domain!r}; expected one of {sorted(SENSOR_DOMAINS)} or presets "
                f"({', '.join(sorted(SENSOR_PRESETS))}, a model name or 'all')"
            ) from None
        return cls(sensor=SENSOR_PRESETS[presets[0]].sensor, sensor_presets=presets, **overrides)

    def draw_sensor(self, rng: np.random.Generator) -> SensorPreset | None:
        """This frame's sensor preset (one draw from ``rng``), or None without presets."""
        if not self.sensor_presets:
            return None
        return SENSOR_PRESETS[self.sensor_presets[int(rng.integers(len(self.sensor_presets)))]]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready copy (for dataset indexes)."""
        return dataclasses.asdict(self)


def shift_image(image: np.ndarray, dx: int, dy: int, fill: float) -> np.ndarray:
    """``image`` moved by (dx, dy) pixels (x right, y down); uncovered pixels get ``fill``."""
    out = np.full_like(image, fill)
    h, w = image.shape[:2]
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _filter_3x3(image: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """The 3x3 maximum (``np.maximum``) or minimum (``np.minimum``) filter of a 2-D image over the
    pixels inside it (``scipy.ndimage.maximum_filter(image, 3)`` with its default border, which
    repeats the edge pixel), as two separable passes of shifted slices."""
    rows = image.copy()
    reduce(rows[1:], image[:-1], out=rows[1:])
    reduce(rows[:-1], image[1:], out=rows[:-1])
    out = rows.copy()
    reduce(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    reduce(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def _dilate_cross(mask: np.ndarray) -> np.ndarray:
    """One binary dilation of a 2-D mask by the 3x3 cross (``scipy.ndimage.binary_dilation``'s
    default structure), as shifted slices."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def corrupt_depth(
    depth_m: np.ndarray,
    view_cos: np.ndarray,
    albedo_luminance: np.ndarray,
    sensor: SensorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Apply ``sensor``'s depth model to an ideal depth image (float32 metres, NaN = no surface).

    ``view_cos`` is |cos| of the angle between viewing ray and surface normal, ``albedo_luminance``
    the surface's reflectance in [0, 1]; both (H, W). In order: the depth image (with the surface
    properties it was measured on) moves against colour by the frame's misregistration; pixels at
    depth discontinuities (in their 3x3 neighbourhood the inverse depth, i.e. the disparity, jumps
    by more than ``edge_jump_m`` / 1 m^2: a 2 cm step at 1 m, 8 cm at 2 m) become flying
    pixels (probability ``flying_pixel_probability``; depth ``near + t (far - near)``, t uniform),
    else holes (``edge_hole_probability``); disparity noise; holes on dark and
    grazing surfaces, speckle and out-of-range depth; quantisation.
    """
    h, w = depth_m.shape
    if sensor.depth_shift_px > 0:
        dx, dy = (int(v) for v in rng.integers(-sensor.depth_shift_px, sensor.depth_shift_px + 1, size=2))
        depth_m = shift_image(depth_m, dx, dy, np.nan)
        view_cos = shift_image(view_cos, dx, dy, 1.0)
        albedo_luminance = shift_image(albedo_luminance, dx, dy, 1.0)
    depth = depth_m.astype(np.float32, copy=True)
    valid = np.isfinite(depth)
    uniform = rng.random((3, h, w), dtype=np.float32)  # edge, dark-surface and speckle draws
    holes = np.zeros(depth.shape, dtype=bool)
    if sensor.edge_hole_probability > 0 or sensor.flying_pixel_probability > 0:
        inverse = np.where(valid, np.float32(1.0) / np.where(valid, depth, np.float32(1.0)), np.float32(0.0))
        near_inv = _filter_3x3(inverse, np.maximum)
        far_inv = _filter_3x3(inverse, np.minimum)
        edges = (near_inv - far_inv) > sensor.edge_jump_m  # a disparity step: edge_jump_m at 1 m
        for _ in range(sensor.edge_width_px - 1):
            edges = _dilate_cross(edges)
        flying = edges & valid & (far_inv > 0) & (uniform[0] < sensor.flying_pixel_probability)
        near_m, far_m = np.float32(1.0) / near_inv[flying], np.float32(1.0) / far_inv[flying]
        mix = rng.random(len(near_m), dtype=np.float32)
        depth[flying] = near_m + mix * (far_m - near_m)
        hole_below = (
            sensor.flying_pixel_probability
            + (1.0 - sensor.flying_pixel_probability) * sensor.edge_hole_probability
        )
        holes |= edges & ~flying & (uniform[0] < hole_below)
    if sensor.depth_noise_per_m > 0:
        sigma = np.float32(sensor.depth_noise_per_m) * np.where(valid, depth, np.float32(0.0)) ** 2
        depth += rng.standard_normal(depth.shape, dtype=np.float32) * sigma
    if sensor.dark_hole_probability > 0:
        holes |= (albedo_luminance < sensor.dark_luminance) & (uniform[1] < sensor.dark_hole_probability)
    if sensor.grazing_cos > 0:
        holes |= view_cos < sensor.grazing_cos
    if sensor.speckle_probability > 0:
        holes |= uniform[2] < sensor.speckle_probability
    with np.errstate(invalid="ignore"):
        holes |= (depth < sensor.min_range_m) | (depth > sensor.max_range_m)
    depth[holes] = np.nan
    if sensor.quantisation_m > 0:
        step = np.float32(sensor.quantisation_m)
        depth = np.round(depth / step) * step
    return depth


def corrupt_rgb(linear_rgb: np.ndarray, sensor: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """Apply exposure, blur and noise to a linear RGB render (H, W, 3) in [0, inf); returns uint8 sRGB."""
    low, high = sensor.exposure_range
    gain = np.float32(rng.uniform(low, high)) if high > low else np.float32(1.0)
    image = linear_rgb.astype(np.float32, copy=False) * gain  # a new array: the noise is added in place
    b_low, b_high = sensor.blur_sigma_px_range
    if b_high > 0:
        sigma = float(rng.uniform(b_low, b_high))
        if sigma > 0.3:
            image = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0.0), truncate=2.5)
    if sensor.rgb_read_noise > 0 or sensor.rgb_shot_noise > 0:
        std = np.maximum(image, np.float32(0.0))
        np.sqrt(std, out=std)
        std *= np.float32(sensor.rgb_shot_noise)
        std += np.float32(sensor.rgb_read_noise)
        noise = rng.standard_normal(image.shape, dtype=np.float32)
        noise *= std
        image += noise
    return to_srgb8(image)


_SRGB_LEVELS = 4096
_SRGB_LUT = np.round(255.0 * np.linspace(0.0, 1.0, _SRGB_LEVELS) ** (1.0 / 2.2)).astype(np.uint8)


def to_srgb8(linear_rgb: np.ndarray) -> np.ndarray:
    """Linear intensities (clipped to [0, 1]) to 8-bit sRGB (gamma 1/2.2, via a 4096-entry table)."""
    levels = linear_rgb * np.float32(_SRGB_LEVELS - 1)
    levels += np.float32(0.5)
    np.clip(levels, 0, _SRGB_LEVELS - 1, out=levels)
    return _SRGB_LUT[levels.astype(np.uint16)]
