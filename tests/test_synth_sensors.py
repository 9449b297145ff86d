"""RealSense presets, colour/depth misregistration, flying pixels, camera range, per-frame sensors,
and the renderer's shortcuts (analytic table and floor, render-based unoccluded counts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from diff9d_ros import cli
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.dataset import SynthDataset, generate_dataset
from diff9d_ros.synth.noise import SENSOR_PRESETS, RandomizationConfig, corrupt_depth, sensor_presets
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import MIN_RANGE_MARGIN_M, compose_scene
from diff9d_ros.synth.truth import synthesize

SMALL = Intrinsics.realsense_d435(160, 120)

#: The documented presets (docs/synthetic_world.md): fx = fy, the noise coefficient k of
#: sigma_z = k z^2 and the minimum range; principal point at the image centre.
DOCUMENTED = {
    "d415_640x480": (616.2, 0.00217, 0.292),
    "d415_1280x720": (924.3, 0.00145, 0.439),
    "d435_640x480": (616.2, 0.00395, 0.161),
    "d435_1280x720": (924.3, 0.00237, 0.268),
    "d455_640x480": (384.0, 0.00208, 0.305),
    "d455_1280x720": (640.0, 0.00125, 0.508),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_presets_have_the_documented_intrinsics_and_noise(name: str) -> None:
    focal_px, k_per_m, min_range_m = DOCUMENTED[name]
    preset = SENSOR_PRESETS[name]
    width, height = (int(v) for v in name.split("_")[1].split("x"))
    k = preset.intrinsics
    assert (k.width, k.height) == (width, height)
    assert k.fx == pytest.approx(focal_px, abs=0.05) and k.fy == k.fx
    assert (k.cx, k.cy) == ((width - 1) / 2, (height - 1) / 2)
    assert preset.sensor.depth_noise_per_m == pytest.approx(k_per_m, abs=5e-6)
    assert preset.sensor.min_range_m == pytest.approx(min_range_m, abs=5e-4)
    assert preset.sensor.name == name and preset.sensor.depth_shift_px == 2


def test_sensor_names_resolve_and_bad_ones_are_refused() -> None:
    assert sensor_presets("all") == tuple(SENSOR_PRESETS)
    assert sensor_presets("d455") == ("d455_640x480", "d455_1280x720")
    assert sensor_presets("D415_640x480, d435_640x480") == ("d415_640x480", "d435_640x480")
    with pytest.raises(ValueError, match="unknown sensor"):
        sensor_presets("kinect")
    with pytest.raises(ValueError, match="unknown sensor domain"):
        RandomizationConfig.for_domain("d999")
    config = RandomizationConfig.for_domain("d415,d455_1280x720")
    assert config.sensor_presets == ("d415_640x480", "d415_1280x720", "d455_1280x720")
    with pytest.raises(ValueError, match="unknown sensor presets"):
        RandomizationConfig(sensor_presets=("d999_1x1",))


def _step_image() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat wall at 1.2 m with a box face at 0.8 m in columns 60-99."""
    depth = np.full((120, 160), 1.2, dtype=np.float32)
    depth[:, 60:100] = 0.8
    return depth, np.ones_like(depth), np.ones_like(depth)


def test_depth_moves_against_colour_and_edges_fly() -> None:
    sensor = SENSOR_PRESETS["d435_640x480"].sensor
    quiet = replace(sensor, depth_noise_per_m=0.0, speckle_probability=0.0, quantisation_m=0.0)
    depth, view_cos, albedo = _step_image()
    shifts = set()
    for seed in range(20):
        out = corrupt_depth(
            depth,
            view_cos,
            albedo,
            replace(quiet, flying_pixel_probability=0.0, edge_hole_probability=0.0),
            np.random.default_rng(seed),
        )
        near = np.flatnonzero(np.nanmean(np.abs(out - 0.8) < 1e-6, axis=0) > 0.5)
        shifts.add(int(near[0]) - 60)
        assert int(near[-1]) - 99 == int(near[0]) - 60  # the whole depth image moves
    assert shifts <= set(range(-2, 3)) and len(shifts) >= 3
    out = corrupt_depth(depth, view_cos, albedo, replace(quiet, depth_shift_px=0), np.random.default_rng(0))
    edges = np.zeros(depth.shape, dtype=bool)
    edges[:, 57:63] = edges[:, 97:103] = True
    flying = np.isfinite(out) & (out > 0.801) & (out < 1.199)
    assert flying[edges].mean() > 0.04 and not flying[~edges].any()  # mixed depths only at the step
    assert np.isnan(out[edges]).mean() > 0.3 and not np.isnan(out[~edges]).any()


def test_cameras_keep_to_the_range_and_the_sensor_s_minimum() -> None:
    config = RandomizationConfig(objects_range=(2, 3), distractors_range=(0, 0))
    near_sensor = SENSOR_PRESETS["d455_1280x720"].sensor  # minimum range 0.51 m
    distances, elevations = [], []
    for seed in range(40):
        scene = compose_scene(np.random.default_rng(seed), config, SMALL, "test", sensor=near_sensor)
        centres = np.array([o.pose[:3, 3] for o in scene.category_objects()])
        offset = scene.camera_pose[:3, 3] - centres.mean(axis=0)
        distances.append(np.linalg.norm(offset))
        elevations.append(np.degrees(np.arcsin(offset[2] / np.linalg.norm(offset))))
    assert min(distances) > near_sensor.min_range_m + MIN_RANGE_MARGIN_M - 0.2  # look-at jitter
    assert max(distances) < 1.6 + 0.2 and max(distances) > 1.2
    assert 15 < min(elevations) and max(elevations) < 90
    close = [
        compose_scene(
            np.random.default_rng(s), config, SMALL, "test", sensor=SENSOR_PRESETS["d435_640x480"].sensor
        )
        for s in range(40)
    ]
    assert min(np.linalg.norm(s.camera_pose[:3, 3]) for s in close) < 0.5  # 0.3 m cameras happen


def test_lying_frequency_is_a_config_field() -> None:
    def lying_share(probability: float) -> float:
        config = RandomizationConfig(
            categories=("bottle", "can"), objects_range=(4, 4), lying_probability=probability
        )
        lying = total = 0
        for seed in range(25):
            for obj in compose_scene(np.random.default_rng(seed), config, SMALL, "test").category_objects():
                size = obj.size_m()
                if size[1] > max(size[0], size[2]):  # only objects taller than wide may lie down
                    total += 1
                    lying += abs(obj.pose[2, :3] @ [0.0, 1.0, 0.0]) < 0.5
        return lying / total

    assert lying_share(0.0) == 0.0
    assert 0.35 < lying_share(0.5) < 0.65
    assert lying_share(1.0) == 1.0


def test_analytic_table_and_floor_match_ray_casting() -> None:
    config = RandomizationConfig.for_domain(
        "realsense", objects_range=(5, 5), camera_elevation_deg=(20.0, 85.0)
    )
    fast, slow = Renderer(SMALL), Renderer(SMALL, analytic_supports=False)
    for seed in range(6):
        scene = compose_scene(np.random.default_rng(seed), config, SMALL, "test")
        a, b = fast.render(scene), slow.render(scene)
        assert (a.object_index == b.object_index).mean() > 0.999
        both = np.isfinite(a.depth_m) & np.isfinite(b.depth_m)
        assert np.abs(a.depth_m[both] - b.depth_m[both]).max() < 1e-4
        assert (np.abs(a.linear_rgb - b.linear_rgb).max(axis=2) > 1e-3).mean() < 1e-3


def test_unoccluded_count_from_the_render_equals_casting_the_object_alone() -> None:
    config = RandomizationConfig(objects_range=(6, 6), distractors_range=(2, 3))
    renderer = Renderer(SMALL)
    compared = 0
    for seed in range(8):
        scene = compose_scene(np.random.default_rng(seed), config, SMALL, "test")
        result = renderer.render(scene)
        for obj in scene.category_objects():
            alone = renderer.unoccluded_pixels(scene, obj)
            from_render = renderer.unoccluded_pixels(scene, obj, result)
            assert abs(from_render - alone) <= max(2, 0.02 * alone), (seed, obj.name, alone, from_render)
            compared += alone < 20_000  # exact (unsampled) boxes
    assert compared > 20


def test_datasets_draw_their_sensor_per_frame_and_stay_deterministic(tmp_path: Path) -> None:
    config = RandomizationConfig.for_domain("d415_640x480,d455_640x480", objects_range=(1, 2))
    kwargs = {"split": "ood", "seed": 3, "config": config, "shard_size": 2, "progress": False}
    generate_dataset(tmp_path / "a", 4, workers=1, **kwargs)
    generate_dataset(tmp_path / "b", 4, workers=2, **kwargs)
    for name in ("shard_00000.npz", "shard_00001.npz", "shard_00000.json", "index.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    dataset = SynthDataset(tmp_path / "a")
    focal = {round(frame.frame.intrinsics.fx, 1) for frame in dataset.frames()}
    assert focal <= {616.2, 384.0} and dataset.index["sensors"] == ["d415_640x480", "d455_640x480"]
    for frame in dataset.frames():
        assert frame.frame.depth_m.shape == (frame.frame.intrinsics.height, frame.frame.intrinsics.width)
        assert {o.family for o in frame.objects} <= {
            "squat_small",
            "bell",
            "instant",
            "square_spirits",
            "pasta",
            "small_11",
        }
    with pytest.raises(ValueError, match="intrinsics come from the presets"):
        generate_dataset(tmp_path / "c", 1, intrinsics=SMALL, **kwargs)


def test_generate_command_takes_a_sensor_and_the_ood_split(tmp_path: Path) -> None:
    out = tmp_path / "ood"
    args = ["synth", "generate", "--out", str(out), "--frames", "2", "--workers", "1", "--split", "ood"]
    realism = ["--lying-probability", "0.3", "--materials", "1", "--distractors", "4", "5"]
    assert cli.main([*args, "--sensor", "d435_640x480", *realism]) == 0
    dataset = SynthDataset(out)
    assert dataset.split == "ood" and dataset.intrinsics.width == 640
    assert dataset.index["config"]["lying_probability"] == 0.3
    assert dataset.index["config"]["realistic_material_probability"] == 1.0
    assert dataset.index["config"]["distractors_range"] == [4, 5]
    with pytest.raises(ValueError, match="drop --width"):
        cli.main([*args, "--sensor", "d435", "--width", "320"])
    with pytest.raises(ValueError, match="--distractors MIN MAX"):
        cli.main([*args, "--sensor", "d435", "--distractors", "3", "1"])


def test_renders_are_deterministic_with_materials_and_presets() -> None:
    config = RandomizationConfig.for_domain("all", objects_range=(3, 4), realistic_material_probability=1.0)
    frames = []
    for _ in range(2):
        rng = np.random.default_rng(11)
        preset = config.draw_sensor(rng)
        renderer = Renderer(preset.intrinsics)
        scene = compose_scene(rng, config, preset.intrinsics, "test", sensor=preset.sensor)
        frames.append(synthesize(scene, renderer, preset.sensor, rng).frame)
    assert np.array_equal(frames[0].rgb, frames[1].rgb)
    assert np.array_equal(frames[0].depth_m, frames[1].depth_m, equal_nan=True)
