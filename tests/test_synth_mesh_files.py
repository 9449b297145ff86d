"""Your own meshes: CategoryMesh.from_file, mesh folders, scenes and datasets that use them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from diff9d_ros import cli
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.dataset import SynthDataset
from diff9d_ros.synth.library import MeshLibrary
from diff9d_ros.synth.meshes import CategoryMesh, axes_rotation, instance_mesh
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import SceneObject, compose_scene
from diff9d_ros.synth.truth import synthesize

MESH_FOLDER = Path(__file__).resolve().parent / "data" / "meshes"
SMALL = Intrinsics.realsense_d435(160, 120)


def _export(record: CategoryMesh, path: Path, up: str, front: str, scale: float, offset: tuple) -> Path:
    """``record`` written in another frame: canonical +y -> file ``up``, +x -> ``front``, in units
    of ``scale`` metres, moved by ``offset`` (file units)."""
    rotation = axes_rotation(up, front)
    vertices = record.mesh.vertices @ rotation / scale + np.asarray(offset)
    mesh = trimesh.Trimesh(vertices, record.mesh.faces, process=False)
    path.write_text(trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False))
    return path


@pytest.mark.parametrize(
    ("category", "instance_id", "up", "front", "scale"),
    [
        ("camera", 951, "+z", "-y", 1.0),
        ("laptop", 957, "-x", "+z", 0.001),
        ("mug", 936, "+z", "+x", 0.01),
        ("bottle", 947, "-y", "-z", 1.0),
    ],
)
def test_from_file_recovers_the_canonical_frame(
    tmp_path: Path, category: str, instance_id: int, up: str, front: str, scale: float
) -> None:
    original = instance_mesh(category, instance_id)
    path = _export(
        original, tmp_path / f"{category}.obj", up, front, scale, (0.3 / scale, -0.2 / scale, 0.05 / scale)
    )
    loaded = CategoryMesh.from_file(path, category, up, front, scale)
    np.testing.assert_allclose(loaded.size_m, original.size_m, atol=1e-6)
    # same vertices in the same frame: front on +x, up on +y, NOCS box centred (the mug's on its axis)
    np.testing.assert_allclose(loaded.mesh.vertices, original.mesh.vertices, atol=2e-6)
    assert loaded.mesh.is_watertight and loaded.mesh.volume > 0
    assert loaded.family == category and loaded.source != "procedural"
    if category == "mug":
        found, truth = loaded.handle_faces, original.handle_faces
        assert (found & truth).sum() / (found | truth).sum() > 0.95


def test_from_file_rejects_bad_files_and_repairs_small_holes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        CategoryMesh.from_file(tmp_path / "missing.obj", "mug")
    can = _export(instance_mesh("can", 931), tmp_path / "can_mm.obj", "+y", "+x", 0.001, (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=r"implausible.*scale=0\.001"):
        CategoryMesh.from_file(can, "can")
    with pytest.raises(ValueError, match="perpendicular"):
        CategoryMesh.from_file(can, "can", "+y", "-y", 0.001)
    with pytest.raises(ValueError, match="axis"):
        CategoryMesh.from_file(can, "can", "up", "+x", 0.001)
    with pytest.raises(ValueError, match="unknown category"):
        CategoryMesh.from_file(can, "teapot", scale=0.001)
    # a box missing one triangle: trimesh closes it
    box = trimesh.creation.box(extents=(0.07, 0.12, 0.07))
    holed = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)
    path = tmp_path / "holed.obj"
    path.write_text(trimesh.exchange.obj.export_obj(holed, include_normals=False, include_texture=False))
    repaired = CategoryMesh.from_file(path, "can")
    assert repaired.mesh.is_watertight
    np.testing.assert_allclose(repaired.size_m, [0.07, 0.12, 0.07], atol=1e-9)
    # an open cylinder without caps has two large holes fill_holes cannot close
    tube = trimesh.creation.cylinder(radius=0.03, height=0.1, sections=16)
    sides = tube.faces[np.abs(tube.face_normals[:, 2]) < 0.5]
    open_path = tmp_path / "tube.obj"
    open_path.write_text(
        trimesh.exchange.obj.export_obj(
            trimesh.Trimesh(tube.vertices, sides, process=False), include_normals=False, include_texture=False
        )
    )
    with pytest.raises(ValueError, match="not watertight"):
        CategoryMesh.from_file(open_path, "can", "+z", "+x")


def test_mesh_folder_loads_into_the_canonical_frame() -> None:
    library = MeshLibrary.from_folder(MESH_FOLDER)
    assert library.categories() == ("bottle", "camera", "can", "mug")
    meshes = {library.mesh(i).category: library.mesh(i) for i in range(len(library.entries))}
    assert {m.family for m in meshes.values()} >= {"test_sauce", "test_tall"}
    can = meshes["can"]
    assert can.size_m[1] > can.size_m[0] == pytest.approx(can.size_m[2], rel=1e-3)  # axis up, round
    bottle = meshes["bottle"]
    assert bottle.size_m[0] > 1.2 * bottle.size_m[2]  # the oval's wide side along x (its front axis)
    mug = meshes["mug"]
    handle = mug.mesh.triangles_center[mug.handle_faces]
    assert mug.handle_faces.sum() > 50 and handle[:, 0].min() > 0  # handle found, on +x
    assert mug.mesh.bounds[1, 0] == pytest.approx(mug.size_m[0] / 2)  # box centred on the body axis
    camera = meshes["camera"]
    front = camera.mesh.vertices[camera.mesh.vertices[:, 0] > camera.size_m[0] / 2 - 0.002]
    assert np.ptp(front[:, 2]) < 0.6 * camera.size_m[2]  # the lens housing is the front (+x)
    for record in meshes.values():
        assert 0.03 < record.size_m.max() < 0.3 and record.mesh.is_watertight


def test_mesh_folder_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"meshes\.yaml"):
        MeshLibrary.from_folder(tmp_path)
    (tmp_path / "meshes.yaml").write_text("meshes:\n  - file: a.obj\n")
    with pytest.raises(ValueError, match="'file' and 'category'"):
        MeshLibrary.from_folder(tmp_path)
    (tmp_path / "meshes.yaml").write_text("meshes:\n  - {file: a.obj, category: mug, colour: red}\n")
    with pytest.raises(ValueError, match="unknown field"):
        MeshLibrary.from_folder(tmp_path)
    (tmp_path / "meshes.yaml").write_text("meshes:\n  - {file: a.obj, category: mug}\n")
    with pytest.raises(ValueError, match="does not exist"):
        MeshLibrary.from_folder(tmp_path)


def test_scene_truth_comes_from_the_object_s_own_mesh() -> None:
    library = MeshLibrary.from_folder(MESH_FOLDER)
    config = RandomizationConfig(objects_range=(3, 4), distractors_range=(0, 0))
    renderer = Renderer(SMALL)
    seen: set[str] = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        scene = compose_scene(rng, config, SMALL, "test", library)
        synth = synthesize(scene, renderer, config.sensor, rng)
        for obj, truth in zip(scene.category_objects(), synth.objects, strict=True):
            record = library.mesh(obj.instance_id)
            np.testing.assert_array_equal(truth.detection.size_m, record.size_m)
            assert truth.family == record.family and obj.category_mesh is record
            assert 0.0 <= truth.visible_fraction <= 1.0
            if truth.category == "mug":
                assert truth.handle_visible_fraction is not None
            seen.add(truth.category)
    assert seen == {"bottle", "camera", "can", "mug"}


def test_an_object_carrying_another_mesh_reports_and_renders_that_mesh() -> None:
    """Regression: with ``mesh_file`` set, size and visibility used to come from the procedural id."""
    config = RandomizationConfig(objects_range=(1, 1), distractors_range=(0, 0), categories=("can",))
    scene = compose_scene(np.random.default_rng(2), config, SMALL, "test")
    can = scene.category_objects()[0]
    squat = CategoryMesh.from_file(MESH_FOLDER / "can_ydown_cm.obj", "can", "-y", "+x", 0.01)
    pose = can.pose.copy()
    pose[2, 3] = squat.size_m[1] / 2  # stand it on the table
    swapped = SceneObject(
        can.name, "can", pose, can.appearance, can.mask_id, can.instance_id, category_mesh=squat
    )
    scene.objects[scene.objects.index(can)] = swapped
    renderer = Renderer(SMALL)
    truth = synthesize(scene, renderer, config.sensor, np.random.default_rng(0)).objects[0]
    np.testing.assert_array_equal(truth.detection.size_m, squat.size_m)
    assert not np.allclose(squat.size_m, instance_mesh("can", can.instance_id).size_m)
    assert truth.visible_fraction > 0.9  # a lone can: its own silhouette, not the procedural one's


def test_generate_command_renders_a_mesh_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["synth", "generate", "--out", str(out), "--frames", "3", "--workers", "1", "--split", "test"]
    assert cli.main([*args, "--meshes", str(MESH_FOLDER), "--width", "160", "--height", "120"]) == 0
    dataset = SynthDataset(out)
    families = {o.family for frame in dataset.frames() for o in frame.objects}
    assert families and all(f.startswith("test_") for f in families)
    assert dataset.index["meshes"] == str(MESH_FOLDER)
