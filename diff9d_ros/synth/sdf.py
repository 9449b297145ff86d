"""Scenes as Gazebo (gz sim Harmonic) SDFormat 1.9 worlds, and back.

Export writes a world with the gz-sim system plugins, the scene's ambient light and directional
lights, the table and floor (static boxes), distractors (SDF primitives), every category object as
a dynamic mesh model (the mesh as OBJ under ``<models>/<model>/meshes/`` with ``model.config`` and
``model.sdf``, referenced from the world by ``model://`` URI; mass and inertia from the mesh and a
category density), and a static camera model carrying an ``rgbd_camera`` sensor with the scene's
intrinsics (``horizontal_fov = 2 atan(W / 2 fx)``, image size, clip, and the full ``lens/intrinsics``).

Gazebo camera links look along +x (x forward, y left, z up); the optical frame (z forward, x right,
y down, REP 103) is that link rotated by rpy (-pi/2, 0, -pi/2). The camera link is posed so that
its optical frame is the scene camera, the optical frame is declared as an SDF ``<frame>`` and
named in ``<optical_frame_id>``. Object identity (category, instance id, mask id) travels in
``diff9d:object`` elements (a custom namespace gz sim ignores) so ``load_world`` rebuilds the scene.

SDF poses are ``x y z roll pitch yaw`` with R = Rz(yaw) Ry(pitch) Rx(roll) (SDFormat spec, "pose").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.nocs import DENSITY_KG_M3
from diff9d_ros.synth.meshes import CategoryMesh
from diff9d_ros.synth.scene import Appearance, Light, Scene, SceneObject

SDF_VERSION = "1.9"
NAMESPACE = "https://github.com/diff9d_ros/sdf"
ET.register_namespace("diff9d", NAMESPACE)
OPTICAL_FRAME = "camera_color_optical_frame"
#: Optical frame in the Gazebo camera link (x forward): rpy (-pi/2, 0, -pi/2).
LINK_FROM_OPTICAL = np.array(
    [[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0, 0, 0, 1.0]]
)
CLIP_M = (0.1, 10.0)
SYSTEM_PLUGINS = (
    ("gz-sim-physics-system", "gz::sim::systems::Physics"),
    ("gz-sim-sensors-system", "gz::sim::systems::Sensors"),
    ("gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster"),
    ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
)


def _num(value: float) -> str:
    return f"{float(value):.9g}"


def _vec(values: np.ndarray) -> str:
    return " ".join(_num(v) for v in values)


def pose_to_sdf(pose: np.ndarray) -> str:
    """``x y z roll pitch yaw`` of a 4x4 transform."""
    rpy = Rotation.from_matrix(pose[:3, :3]).as_euler("xyz")
    return _vec(np.concatenate([pose[:3, 3], rpy]))


def pose_from_sdf(text: str | None) -> np.ndarray:
    """4x4 transform of an SDF ``x y z roll pitch yaw`` string (identity when absent)."""
    pose = np.eye(4)
    if not text or not text.strip():
        return pose
    values = np.array([float(v) for v in text.split()])
    if values.shape != (6,):
        raise ValueError(f"SDF pose needs 6 numbers (x y z roll pitch yaw), got {text!r}")
    pose[:3, :3] = Rotation.from_euler("xyz", values[3:]).as_matrix()
    pose[:3, 3] = values[:3]
    return pose


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _material(parent: ET.Element, appearance: Appearance) -> None:
    material = _sub(parent, "material")
    colour = _vec(np.append(appearance.colour, 1.0))
    _sub(material, "ambient", colour)
    _sub(material, "diffuse", colour)
    _sub(material, "specular", _vec([appearance.specular] * 3 + [1.0]))
    # The built-in renderer's pattern and gloss (Gazebo shows the plain diffuse colour).
    _sub(
        parent,
        f"{{{NAMESPACE}}}appearance",
        pattern=appearance.pattern,
        colour2=_vec(appearance.colour2),
        pattern_scale_m=_num(appearance.pattern_scale_m),
        shininess=_num(appearance.shininess),
    )


def _geometry(parent: ET.Element, obj: SceneObject, mesh_uri: str | None) -> None:
    geometry = _sub(parent, "geometry")
    if mesh_uri is not None:
        _sub(_sub(geometry, "mesh"), "uri", mesh_uri)
    elif obj.kind == "box":
        _sub(_sub(geometry, "box"), "size", _vec(obj.dims_m))
    elif obj.kind == "cylinder":
        cylinder = _sub(geometry, "cylinder")
        _sub(cylinder, "radius", _num(obj.dims_m[0]))
        _sub(cylinder, "length", _num(obj.dims_m[2]))
    else:
        _sub(_sub(geometry, "sphere"), "radius", _num(obj.dims_m[0]))


def model_name(record: CategoryMesh) -> str:
    """``diff9d_<category>_<id>`` for procedural meshes, ``diff9d_<category>_<family>_<id>`` for files."""
    if record.source == "procedural":
        return f"diff9d_{record.category}_{record.instance_id:04d}"
    family = "".join(c if c.isalnum() else "_" for c in record.family)
    return f"diff9d_{record.category}_{family}_{record.instance_id:04d}"


def _inertial(parent: ET.Element, mesh: trimesh.Trimesh, density_kg_m3: float) -> None:
    solid = mesh.copy()
    solid.density = density_kg_m3
    inertial = _sub(parent, "inertial")
    _sub(inertial, "pose", _vec(np.concatenate([solid.center_mass, np.zeros(3)])))
    _sub(inertial, "mass", _num(solid.mass))
    tensor = solid.moment_inertia
    inertia = _sub(inertial, "inertia")
    for name, (i, j) in {
        "ixx": (0, 0),
        "ixy": (0, 1),
        "ixz": (0, 2),
        "iyy": (1, 1),
        "iyz": (1, 2),
        "izz": (2, 2),
    }.items():
        _sub(inertia, name, _num(tensor[i, j]))


def _mesh_link(parent: ET.Element, obj: SceneObject, uri: str, static: bool) -> None:
    link = _sub(parent, "link", name="link")
    if not static:
        _inertial(link, obj.mesh(), DENSITY_KG_M3[obj.kind])
    _geometry(_sub(link, "collision", name="collision"), obj, uri)
    visual = _sub(link, "visual", name="visual")
    _geometry(visual, obj, uri)
    _material(visual, obj.appearance)


def export_model(record: CategoryMesh, models_dir: Path) -> str:
    """Write ``models_dir/<name>/`` (OBJ mesh, model.config, model.sdf); returns the model name."""
    category, instance_id = record.category, record.instance_id
    name = model_name(record)
    folder = models_dir / name
    (folder / "meshes").mkdir(parents=True, exist_ok=True)
    obj_text = trimesh.exchange.obj.export_obj(
        record.mesh, include_normals=False, include_texture=False, digits=6
    )
    (folder / "meshes" / f"{name}.obj").write_text(obj_text, encoding="utf-8")
    config = ET.Element("model")
    _sub(config, "name", name)
    _sub(config, "version", "1.0")
    _sub(config, "sdf", "model.sdf", version=SDF_VERSION)
    _sub(
        config,
        "description",
        f"diff9d_ros {category} ({record.family}), instance {instance_id}, NOCS canonical frame",
    )
    _write_xml(config, folder / "model.config")
    sdf = ET.Element("sdf", version=SDF_VERSION)
    model = _sub(sdf, "model", name=name)
    placeholder = SceneObject(
        name, category, np.eye(4), Appearance(colour=np.full(3, 0.5)), 1, instance_id, category_mesh=record
    )
    _mesh_link(model, placeholder, f"meshes/{name}.obj", static=False)
    _write_xml(sdf, folder / "model.sdf")
    return name


def _write_xml(root: ET.Element, path: Path) -> None:
    ET.indent(root, space="  ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")


def _camera_model(world: ET.Element, scene: Scene) -> None:
    k = scene.intrinsics
    model = _sub(world, "model", name="rgbd_camera")
    _sub(model, "static", "true")
    _sub(model, "pose", pose_to_sdf(scene.camera_pose @ np.linalg.inv(LINK_FROM_OPTICAL)))
    link = _sub(model, "link", name="camera_link")
    _sub(
        _sub(model, "frame", name=OPTICAL_FRAME, attached_to="camera_link"),
        "pose",
        pose_to_sdf(LINK_FROM_OPTICAL),
    )
    sensor = _sub(link, "sensor", name="rgbd_camera", type="rgbd_camera")
    _sub(sensor, "always_on", "true")
    _sub(sensor, "update_rate", "30")
    _sub(sensor, "topic", "rgbd_camera")
    camera = _sub(sensor, "camera", name="camera")
    _sub(camera, "horizontal_fov", _num(2.0 * np.arctan(k.width / (2.0 * k.fx))))
    image = _sub(camera, "image")
    _sub(image, "width", str(k.width))
    _sub(image, "height", str(k.height))
    _sub(image, "format", "R8G8B8")
    clip = _sub(camera, "clip")
    _sub(clip, "near", _num(CLIP_M[0]))
    _sub(clip, "far", _num(CLIP_M[1]))
    depth_clip = _sub(_sub(camera, "depth_camera"), "clip")
    _sub(depth_clip, "near", _num(CLIP_M[0]))
    _sub(depth_clip, "far", _num(CLIP_M[1]))
    intrinsics = _sub(_sub(camera, "lens"), "intrinsics")
    for name, value in (("fx", k.fx), ("fy", k.fy), ("cx", k.cx), ("cy", k.cy), ("s", 0.0)):
        _sub(intrinsics, name, _num(value))
    _sub(camera, "optical_frame_id", OPTICAL_FRAME)


def export_world(
    scene: Scene, world_path: str | Path, models_dir: str | Path, name: str = "diff9d_tabletop"
) -> Path:
    """Write ``scene`` as an SDF world at ``world_path`` and its object models under ``models_dir``.

    Run it with ``GZ_SIM_RESOURCE_PATH=<models_dir> gz sim <world_path>``.
    """
    world_path, models_dir = Path(world_path), Path(models_dir)
    sdf = ET.Element("sdf", version=SDF_VERSION)
    world = _sub(sdf, "world", name=name)
    for filename, plugin in SYSTEM_PLUGINS:
        attrib = {"filename": filename, "name": plugin}
        element = _sub(world, "plugin", **attrib)
        if "Sensors" in plugin:
            _sub(element, "render_engine", "ogre2")
    _sub(world, "gravity", "0 0 -9.8")
    scene_element = _sub(world, "scene")
    _sub(scene_element, "ambient", _vec([scene.ambient] * 3 + [1.0]))
    _sub(scene_element, "background", _vec(np.append(scene.background_rgb, 1.0)))
    for k, light in enumerate(scene.lights):
        element = _sub(world, "light", name=f"light_{k}", type="directional")
        _sub(element, "cast_shadows", "true" if k == 0 else "false")
        _sub(element, "diffuse", _vec([light.intensity] * 3 + [1.0]))
        _sub(element, "specular", "0.2 0.2 0.2 1")
        _sub(element, "direction", _vec(-light.direction))
    for obj in scene.objects:
        model = _sub(world, "model", name=obj.name)
        _sub(model, "pose", pose_to_sdf(obj.pose))
        if obj.is_category:
            name_ = export_model(obj.category_mesh, models_dir)
            _sub(
                model,
                f"{{{NAMESPACE}}}object",
                category=obj.kind,
                instance_id=str(obj.instance_id),
                mask_id=str(obj.mask_id),
                family=obj.family,
            )
            _mesh_link(model, obj, f"model://{name_}/meshes/{name_}.obj", static=False)
        else:
            _sub(model, "static", "true")
            link = _sub(model, "link", name="link")
            _geometry(_sub(link, "collision", name="collision"), obj, None)
            visual = _sub(link, "visual", name="visual")
            _geometry(visual, obj, None)
            _material(visual, obj.appearance)
    _camera_model(world, scene)
    _write_xml(sdf, world_path)
    return world_path


def _resolve_uri(uri: str, search: list[Path]) -> Path:
    if uri.startswith("model://"):
        relative = uri[len("model://") :]
        for root in search:
            if (root / relative).is_file():
                return root / relative
        raise ValueError(f"cannot resolve {uri!r} in {[str(p) for p in search]}")
    path = Path(uri.removeprefix("file://"))
    if not path.is_file():
        raise ValueError(f"mesh file {uri!r} not found")
    return path


def _appearance(visual: ET.Element | None) -> Appearance:
    diffuse = visual.findtext("material/diffuse") if visual is not None else None
    specular = visual.findtext("material/specular") if visual is not None else None
    colour = np.array([float(v) for v in diffuse.split()[:3]]) if diffuse else np.full(3, 0.5)
    appearance = Appearance(colour=colour, specular=float(specular.split()[0]) if specular else 0.0)
    extra = visual.find(f"{{{NAMESPACE}}}appearance") if visual is not None else None
    if extra is not None:
        appearance.pattern = extra.get("pattern", "plain")
        appearance.colour2 = np.array([float(v) for v in extra.get("colour2", "0 0 0").split()])
        appearance.pattern_scale_m = float(extra.get("pattern_scale_m", appearance.pattern_scale_m))
        appearance.shininess = float(extra.get("shininess", appearance.shininess))
    return appearance


def _primitive(geometry: ET.Element) -> tuple[str, np.ndarray]:
    if geometry.find("box") is not None:
        return "box", np.array([float(v) for v in geometry.findtext("box/size").split()])
    if geometry.find("cylinder") is not None:
        radius = float(geometry.findtext("cylinder/radius"))
        return "cylinder", np.array([radius, radius, float(geometry.findtext("cylinder/length"))])
    if geometry.find("sphere") is not None:
        return "sphere", np.full(3, float(geometry.findtext("sphere/radius")))
    raise ValueError(f"unsupported SDF geometry {[child.tag for child in geometry]}")


def _intrinsics(camera: ET.Element) -> Intrinsics:
    width, height = int(camera.findtext("image/width")), int(camera.findtext("image/height"))
    lens = camera.find("lens/intrinsics")
    if lens is not None:
        values = {name: float(lens.findtext(name)) for name in ("fx", "fy", "cx", "cy")}
        return Intrinsics(width, height, **values)
    fx = width / (2.0 * np.tan(float(camera.findtext("horizontal_fov")) / 2.0))
    return Intrinsics(width, height, fx, fx, (width - 1) / 2.0, (height - 1) / 2.0)


def load_world(world_path: str | Path, model_paths: list[str | Path] | None = None) -> Scene:
    """Rebuild a ``Scene`` from an SDF world written by ``export_world``.

    Meshes are read from the files the world references (``model://`` URIs are looked up in
    ``model_paths``, default ``../models`` next to the world), so the round trip checks the export.
    """
    world_path = Path(world_path)
    search = [Path(p) for p in (model_paths or [world_path.resolve().parent.parent / "models"])]
    root = ET.parse(world_path).getroot()
    world = root.find("world")
    if world is None:
        raise ValueError(f"{world_path} has no <world>")
    ambient = world.findtext("scene/ambient")
    background = world.findtext("scene/background")
    lights = []
    for light in world.findall("light"):
        if light.get("type") == "directional":
            direction = -np.array([float(v) for v in light.findtext("direction").split()])
            lights.append(Light(direction, float(light.findtext("diffuse").split()[0])))
    objects: list[SceneObject] = []
    camera_pose, intrinsics = None, None
    for model in world.findall("model"):
        pose = pose_from_sdf(model.findtext("pose"))
        sensor = model.find("link/sensor[@type='rgbd_camera']")
        if sensor is not None:
            camera_pose = pose @ pose_from_sdf(model.findtext("link/pose")) @ LINK_FROM_OPTICAL
            intrinsics = _intrinsics(sensor.find("camera"))
            continue
        visual = model.find("link/visual")
        tag = model.find(f"{{{NAMESPACE}}}object")
        if tag is not None:
            mesh_path = _resolve_uri(visual.findtext("geometry/mesh/uri"), search)
            instance_id = int(tag.get("instance_id"))
            record = CategoryMesh.from_file(
                mesh_path, tag.get("category"), instance_id=instance_id, family=tag.get("family") or None
            )
            objects.append(
                SceneObject(
                    model.get("name"),
                    tag.get("category"),
                    pose,
                    _appearance(visual),
                    mask_id=int(tag.get("mask_id")),
                    instance_id=instance_id,
                    mesh_file=str(mesh_path),
                    category_mesh=record,
                )
            )
        else:
            kind, dims = _primitive(visual.find("geometry"))
            objects.append(SceneObject(model.get("name"), kind, pose, _appearance(visual), dims_m=dims))
    if camera_pose is None or intrinsics is None:
        raise ValueError(f"{world_path} has no model with an rgbd_camera sensor")
    return Scene(
        objects=objects,
        lights=lights,
        ambient=float(ambient.split()[0]) if ambient else 0.3,
        camera_pose=camera_pose,
        intrinsics=intrinsics,
        background_rgb=np.array([float(v) for v in background.split()[:3]])
        if background
        else np.full(3, 0.5),
    )
