"""SDF export/import: scene -> SDF -> scene renders the same depth; shipped worlds are consistent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from diff9d_ros import cli
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.sdf import LINK_FROM_OPTICAL, export_world, load_world, pose_from_sdf, pose_to_sdf

SMALL = Intrinsics.realsense_d435(160, 120)
WORLDS = sorted((Path(__file__).resolve().parent.parent / "sim" / "worlds").glob("*.sdf"))


def _same_depth(a: np.ndarray, b: np.ndarray) -> None:
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    both = np.isfinite(a)
    assert both.mean() > 0.5
    assert np.abs(a[both] - b[both]).max() < 1e-3


def test_pose_strings_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.random(random_state=rng).as_matrix()
        pose[:3, 3] = rng.normal(size=3)
        np.testing.assert_allclose(pose_from_sdf(pose_to_sdf(pose)), pose, atol=1e-8)
    with pytest.raises(ValueError, match="6 numbers"):
        pose_from_sdf("1 2 3")


def test_optical_frame_rotation_matches_gazebo_convention() -> None:
    rotation = LINK_FROM_OPTICAL[:3, :3]
    np.testing.assert_array_equal(rotation @ [0, 0, 1], [1, 0, 0])  # optical z = link x (forward)
    np.testing.assert_array_equal(rotation @ [1, 0, 0], [0, -1, 0])  # optical x = right = -link y
    np.testing.assert_array_equal(rotation @ [0, 1, 0], [0, 0, -1])  # optical y = down = -link z
    np.testing.assert_allclose(
        pose_from_sdf("0 0 0 -1.5707963267948966 0 -1.5707963267948966"), LINK_FROM_OPTICAL, atol=1e-12
    )


def test_scene_sdf_scene_round_trip_renders_the_same_depth(tmp_path: Path) -> None:
    config = RandomizationConfig(objects_range=(5, 5), distractors_range=(3, 3))
    scene = compose_scene(np.random.default_rng(21), config, SMALL, "test")
    world = export_world(scene, tmp_path / "worlds" / "w.sdf", tmp_path / "models")
    loaded = load_world(world)
    assert [o.name for o in loaded.objects] == [o.name for o in scene.objects]
    assert all(o.mesh_file for o in loaded.category_objects())  # rendered from the exported OBJ files
    assert loaded.intrinsics == SMALL
    renderer = Renderer(SMALL)
    before, after = renderer.render(scene), renderer.render(loaded)
    _same_depth(before.depth_m, after.depth_m)
    assert (before.instance_mask == after.instance_mask).mean() > 0.999
    assert np.abs(before.linear_rgb - after.linear_rgb).max() < 1e-3


def test_world_declares_an_rgbd_camera_with_the_intrinsics(tmp_path: Path) -> None:
    intrinsics = Intrinsics.realsense_d435(320, 240)
    args = ["synth", "sdf", "--out", str(tmp_path / "worlds" / "cam.sdf"), "--seed", "3"]
    assert cli.main([*args, "--width", "320", "--height", "240"]) == 0
    root = ET.parse(tmp_path / "worlds" / "cam.sdf").getroot()
    assert root.get("version") == "1.9"
    camera = root.find(".//sensor[@type='rgbd_camera']/camera")
    fov = float(camera.findtext("horizontal_fov"))
    assert fov == pytest.approx(2 * np.arctan(320 / (2 * intrinsics.fx)), rel=1e-6)
    assert int(camera.findtext("image/width")) == 320 and camera.findtext("optical_frame_id")
    assert root.find(".//model[@name='rgbd_camera']/frame") is not None
    for include in root.iter("uri"):
        assert include.text.startswith("model://")
        name = include.text.split("/")[2]
        assert (tmp_path / "models" / name / "model.config").is_file()
        assert (tmp_path / "models" / name / "model.sdf").is_file()


@pytest.mark.parametrize("world", WORLDS, ids=[w.stem for w in WORLDS])
def test_shipped_world_matches_its_procedural_scene(world: Path) -> None:
    scene = load_world(world)
    assert len(scene.category_objects()) >= 3
    small = replace(scene, intrinsics=SMALL)
    procedural = replace(small, objects=[replace(o, mesh_file="") for o in small.objects])
    renderer = Renderer(SMALL)
    _same_depth(renderer.render(small).depth_m, renderer.render(procedural).depth_m)


def test_at_least_two_worlds_ship() -> None:
    assert {w.stem for w in WORLDS} >= {"tabletop", "clutter"}
