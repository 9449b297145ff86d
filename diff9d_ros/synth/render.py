"""CPU renderer on open3d's ray casting: depth, instance mask and shaded RGB.

One ``RaycastingScene`` per frame holds every mesh already transformed into the camera optical
frame, and one ray per pixel centre is cast with direction ``((u - cx) / fx, (v - cy) / fy, 1)``,
so the hit distance along the ray *is* the z depth. Shading is Lambertian plus ambient with an
optional Blinn-Phong specular lobe (Blinn, SIGGRAPH 1977) and hard shadows from the strongest
light (one more cast from the hit points), all vectorised over pixels; the result is linear RGB
(``noise.corrupt_rgb`` / ``noise.to_srgb8`` turn it into 8-bit sRGB). Shadow rays are cast only
from points whose ray towards the light passes through the bounding sphere of an object that can
cast a shadow (:meth:`Renderer._shadow_candidates`); every other lit point is lit.

Ground-truth helpers: an object's *unoccluded* pixel count (the pixels it would cover with nothing
in front of it, pixels outside the image included, so truncation lowers the visible fraction too),
and mug handle visibility (ray-cast the handle's face centres: a centre is visible when the first
hit along the ray from the camera lands on it, within 1 mm, inside the image). Both read the
object's own mesh (``SceneObject.category_mesh``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from diff9d_ros.geometry.boxes import box_corners
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.meshes import CategoryMesh
from diff9d_ros.synth.scene import SUPPORT_NAMES, Scene, SceneObject

INVALID_ID = o3d.t.geometry.RaycastingScene.INVALID_ID
#: Bounding-box area (pixels) above which :meth:`Renderer.unoccluded_pixels` samples every 2nd pixel.
UNOCCLUDED_EXACT_PX = 20_000
#: Offset of shadow-ray origins along the surface normal, metres.
SHADOW_BIAS_M = 1e-3
#: A handle sample counts as seen when the first hit lies within this distance of it, metres.
HANDLE_HIT_TOLERANCE_M = 1e-3
#: Lights lower than this (sine of the elevation) may shine under the table: no shadow-ray culling.
CULL_MIN_LIGHT_SIN = 0.05
#: Cells per side of the light-space occupancy grid that culls shadow rays.
SHADOW_GRID_CELLS = 256


@dataclass
class RenderResult:
    """Ideal (noise-free) render of a scene, all images (H, W).

    ``object_index`` indexes ``scene.objects`` (-1 where no surface). ``view_cos`` is |cos| of the
    angle between the viewing ray and the surface normal; ``albedo_luminance`` the surface
    reflectance (both feed the sensor model).
    """

    depth_m: np.ndarray
    instance_mask: np.ndarray
    linear_rgb: np.ndarray
    object_index: np.ndarray
    view_cos: np.ndarray
    albedo_luminance: np.ndarray
    #: The frame's raycasting scene (camera frame, geometry id = object index) for GT queries.
    raycaster: o3d.t.geometry.RaycastingScene


def _pixel_directions(intrinsics: Intrinsics, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            (u - intrinsics.cx) / intrinsics.fx,
            (v - intrinsics.cy) / intrinsics.fy,
            np.ones_like(u, dtype=float),
        ],
        axis=-1,
    )


def _rotate(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``points @ rotation.T`` for tall (N, 3) float32 arrays without a BLAS call.

    Column-wise arithmetic: BLAS gemm/gemv on N x 3 operands is slow and, with spinning BLAS
    threads on a loaded machine, erratic.
    """
    r = rotation.astype(np.float32)
    return points[:, 0:1] * r[:, 0] + points[:, 1:2] * r[:, 1] + points[:, 2:3] * r[:, 2]


def _dot(vectors: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (N, 3) with one (3,) vector, without a BLAS call."""
    d = direction.astype(np.float32)
    return vectors[:, 0] * d[0] + vectors[:, 1] * d[1] + vectors[:, 2] * d[2]


def camera_from_object(scene: Scene, obj: SceneObject) -> np.ndarray:
    """4x4 transform from the object's local frame to the camera optical frame."""
    return np.linalg.inv(scene.camera_pose) @ obj.pose


def _pattern_weight(obj: SceneObject, local_m: np.ndarray) -> np.ndarray:
    """0/1 per point: which of the two pattern colours a local-frame surface point takes."""
    scale = obj.appearance.pattern_scale_m
    cells = np.floor(local_m / scale).astype(np.int64)
    if obj.appearance.pattern == "stripes":
        axis = 1 if obj.is_category else 0  # bands along the symmetry axis of category objects
        return (cells[:, axis] % 2).astype(np.float32)
    return (cells.sum(axis=1) % 2).astype(np.float32)


class Renderer:
    """Renders ``Scene`` objects for fixed intrinsics; ray directions and instance scenes are cached."""

    def __init__(self, intrinsics: Intrinsics, shadows: bool = True, nthreads: int = 0) -> None:
        self.intrinsics = intrinsics
        self.shadows = shadows
        self.nthreads = nthreads
        v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width]
        self._dirs = _pixel_directions(intrinsics, u, v).reshape(-1, 3).astype(np.float32)
        self._view = self._dirs / np.linalg.norm(self._dirs, axis=1, keepdims=True)
        rays = np.concatenate([np.zeros_like(self._dirs), self._dirs], axis=1)
        self._rays = o3d.core.Tensor(rays)
        self._instance_scenes: dict[tuple[str, str, int], o3d.t.geometry.RaycastingScene] = {}

    def build(self, scene: Scene) -> o3d.t.geometry.RaycastingScene:
        """A raycasting scene with every object in the camera frame; geometry id = object index."""
        if scene.intrinsics != self.intrinsics:
            raise ValueError(
                f"scene intrinsics {scene.intrinsics} differ from the renderer's {self.intrinsics}"
            )
        raycaster = o3d.t.geometry.RaycastingScene()
        for obj in scene.objects:
            transform = camera_from_object(scene, obj)
            mesh = obj.mesh()
            vertices = (mesh.vertices @ transform[:3, :3].T + transform[:3, 3]).astype(np.float32)
            raycaster.add_triangles(o3d.core.Tensor(vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        return raycaster

    def render(self, scene: Scene) -> RenderResult:
        """Depth (float32 m, NaN = no surface), instance mask (int32), linear RGB (float32) and more."""
        h, w = self.intrinsics.height, self.intrinsics.width
        n = h * w
        raycaster = self.build(scene)
        hits = raycaster.cast_rays(self._rays, nthreads=self.nthreads)
        geometry = hits["geometry_ids"].numpy()
        pixels = np.flatnonzero(geometry != INVALID_ID)
        index = geometry[pixels].astype(np.intp)
        t_hit = hits["t_hit"].numpy()[pixels]

        depth = np.full(n, np.nan, dtype=np.float32)
        depth[pixels] = t_hit
        instance_mask = np.zeros(n, dtype=np.int32)
        instance_mask[pixels] = np.array([o.mask_id for o in scene.objects], dtype=np.int32)[index]
        object_index = np.full(n, -1, dtype=np.int32)
        object_index[pixels] = index

        points = self._dirs[pixels] * t_hit[:, None]
        albedo = np.array([o.appearance.colour for o in scene.objects], dtype=np.float32)[index]
        for i, obj in enumerate(scene.objects):
            if obj.appearance.pattern == "plain":
                continue
            rows = np.flatnonzero(index == i)
            if len(rows) == 0:
                continue
            transform = camera_from_object(scene, obj)
            local = _rotate(points[rows] - transform[:3, 3].astype(np.float32), transform[:3, :3].T)
            weight = _pattern_weight(obj, local)[:, None]
            second = obj.appearance.colour2.astype(np.float32)
            albedo[rows] = albedo[rows] * (1.0 - weight) + second * weight

        normals = hits["primitive_normals"].numpy()[pixels]
        view = self._view[pixels]
        facing = np.einsum("ij,ij->i", normals, view)
        normals *= np.where(facing > 0, np.float32(-1.0), np.float32(1.0))[:, None]
        view_cos = np.zeros(n, dtype=np.float32)
        view_cos[pixels] = np.abs(facing)

        world_to_camera = scene.camera_pose[:3, :3].T
        shade = np.full(len(pixels), scene.ambient, dtype=np.float32)
        ks = np.array([o.appearance.specular for o in scene.objects], dtype=np.float32)[index]
        glossy = np.flatnonzero(ks > 0)
        shininess = np.array([o.appearance.shininess for o in scene.objects], dtype=np.float32)[index[glossy]]
        specular = np.zeros(len(pixels), dtype=np.float32)
        strongest = int(np.argmax([light.intensity for light in scene.lights])) if scene.lights else -1
        for k, light in enumerate(scene.lights):
            direction = (world_to_camera @ light.direction).astype(np.float32)
            lambert = np.maximum(_dot(normals, direction), np.float32(0.0))
            if k == strongest and self.shadows:
                lit = self._unshadowed(scene, raycaster, points, normals, direction, lambert > 0, index)
                lambert *= lit
            shade += np.float32(light.intensity) * lambert
            if len(glossy):
                half = direction - view[glossy]
                half /= np.sqrt(np.einsum("ij,ij->i", half, half))[:, None]
                cos_half = np.maximum(np.einsum("ij,ij->i", normals[glossy], half), np.float32(0.0))
                lobe = cos_half**shininess * (lambert[glossy] > 0)
                specular[glossy] += np.float32(light.intensity) * ks[glossy] * lobe
        rgb = np.empty((n, 3), dtype=np.float32)
        rgb[:] = scene.background_rgb.astype(np.float32)
        rgb[pixels] = albedo * shade[:, None] + specular[:, None]
        luminance = np.ones(n, dtype=np.float32)
        luminance[pixels] = _dot(albedo, np.array([0.2126, 0.7152, 0.0722]))
        return RenderResult(
            depth_m=depth.reshape(h, w),
            instance_mask=instance_mask.reshape(h, w),
            linear_rgb=rgb.reshape(h, w, 3),
            object_index=object_index.reshape(h, w),
            view_cos=view_cos.reshape(h, w),
            albedo_luminance=luminance.reshape(h, w),
            raycaster=raycaster,
        )

    def _unshadowed(
        self,
        scene: Scene,
        raycaster: o3d.t.geometry.RaycastingScene,
        points: np.ndarray,
        normals: np.ndarray,
        direction: np.ndarray,
        facing_light: np.ndarray,
        object_index: np.ndarray,
    ) -> np.ndarray:
        """1 where the light is visible from the surface point, 0 in shadow or facing away."""
        cast = np.flatnonzero(facing_light & self._shadow_candidates(scene, points, object_index, direction))
        rays = np.empty((len(cast), 6), dtype=np.float32)
        rays[:, :3] = points[cast] + np.float32(SHADOW_BIAS_M) * normals[cast]
        rays[:, 3:] = direction
        blocked = raycaster.test_occlusions(o3d.core.Tensor(rays), nthreads=self.nthreads).numpy()
        lit = facing_light.astype(np.float32)
        lit[cast[blocked]] = 0.0
        return lit

    def _shadow_candidates(
        self, scene: Scene, points: np.ndarray, object_index: np.ndarray, direction: np.ndarray
    ) -> np.ndarray:
        """Points whose ray towards the light may hit something: True where the ray's footprint in
        the light's view falls into the bounding disc of a non-support object (a cell of a
        SHADOW_GRID_CELLS^2 occupancy grid, conservatively rasterised), or, for floor points, of
        the table. A light at or below the horizon makes every point a candidate."""
        direction_world = scene.camera_pose[:3, :3] @ direction
        if direction_world[2] < CULL_MIN_LIGHT_SIN:
            return np.ones(len(points), dtype=bool)
        helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        axis_u = np.cross(direction, helper)
        axis_u /= np.linalg.norm(axis_u)
        axis_v = np.cross(direction, axis_u)
        spheres = [(i, *self._bounding_sphere(scene, o)) for i, o in enumerate(scene.objects)]
        blockers = [(c, r) for i, c, r in spheres if scene.objects[i].name not in SUPPORT_NAMES]
        candidates = np.zeros(len(points), dtype=bool)
        u = _dot(points, axis_u)
        v = _dot(points, axis_v)
        if blockers:
            centres = np.array([[c @ axis_u, c @ axis_v] for c, _ in blockers])
            radii = np.array([r for _, r in blockers])
            low, high = (centres - radii[:, None]).min(axis=0), (centres + radii[:, None]).max(axis=0)
            cell = max((high - low).max() / SHADOW_GRID_CELLS, 1e-4)
            shape = np.ceil((high - low) / cell).astype(int) + 1
            grid = np.zeros(shape, dtype=bool)
            ix, iy = np.ogrid[0 : shape[0], 0 : shape[1]]
            for (cu, cv), radius in zip(centres, radii, strict=True):
                reach = radius + cell * 0.71  # a cell counts when any part of it may touch the disc
                grid |= (
                    (low[0] + (ix + 0.5) * cell - cu) ** 2 + (low[1] + (iy + 0.5) * cell - cv) ** 2
                ) <= reach**2
            cu = np.floor((u - low[0]) / cell).astype(np.int64)
            cv = np.floor((v - low[1]) / cell).astype(np.int64)
            inside = (cu >= 0) & (cu < shape[0]) & (cv >= 0) & (cv < shape[1])
            candidates[inside] = grid[cu[inside], cv[inside]]
        floor = [i for i, o in enumerate(scene.objects) if o.name == SUPPORT_NAMES[1]]
        table = [(c, r) for i, c, r in spheres if scene.objects[i].name == SUPPORT_NAMES[0]]
        if floor and table:
            on_floor = np.flatnonzero(object_index == floor[0])
            centre, radius = table[0]
            du, dv = u[on_floor] - centre @ axis_u, v[on_floor] - centre @ axis_v
            candidates[on_floor] |= du * du + dv * dv <= radius * radius
        return candidates

    @staticmethod
    def _bounding_sphere(scene: Scene, obj: SceneObject) -> tuple[np.ndarray, float]:
        """Centre (camera frame) and radius of a sphere around the object's mesh box."""
        low, high = obj.mesh().bounds
        transform = camera_from_object(scene, obj)
        centre_local = (low + high) / 2.0
        return transform[:3, :3] @ centre_local + transform[:3, 3], float(np.linalg.norm(high - low) / 2.0)

    def _instance_scene(self, record: CategoryMesh) -> o3d.t.geometry.RaycastingScene:
        if record.key not in self._instance_scenes:
            raycaster = o3d.t.geometry.RaycastingScene()
            raycaster.add_triangles(
                o3d.core.Tensor(record.mesh.vertices.astype(np.float32)),
                o3d.core.Tensor(record.mesh.faces.astype(np.uint32)),
            )
            self._instance_scenes[record.key] = raycaster
        return self._instance_scenes[record.key]

    def _instance_hits(self, obj: SceneObject, transform: np.ndarray, u: np.ndarray, v: np.ndarray) -> int:
        """How many of the pixel rays (u, v) (any shape) hit the object alone (its canonical-frame
        scene; the rays moved into that frame)."""
        if u.size == 0:
            return 0
        rotation, translation = transform[:3, :3], transform[:3, 3]
        dx = ((u - self.intrinsics.cx) / self.intrinsics.fx).reshape(-1, 1)
        dy = ((v - self.intrinsics.cy) / self.intrinsics.fy).reshape(-1, 1)
        rays = np.empty((dx.shape[0], 6), dtype=np.float32)
        rays[:, :3] = -translation @ rotation
        rays[:, 3:] = dx * rotation[0] + dy * rotation[1] + rotation[2]
        hits = self._instance_scene(obj.category_mesh).cast_rays(
            o3d.core.Tensor(rays), nthreads=self.nthreads
        )
        return int(np.count_nonzero(hits["geometry_ids"].numpy() != INVALID_ID))

    def unoccluded_pixels(self, scene: Scene, obj: SceneObject, result: RenderResult | None = None) -> int:
        """Pixels the object would cover with nothing in front of it, on an unbounded image plane.

        Cast against the object alone over its projected box; boxes larger than
        ``UNOCCLUDED_EXACT_PX`` pixels are sampled on every second row and column and the count
        scaled by 4 (relative error well under 1 % at that size). Given the frame's ``result``, a
        camera above the table plane (z > 0) and an object resting on or above it, the count is
        the object's visible pixels plus casts of only the box pixels where another non-support
        object lies in front, or that fall outside the image: a ray that first meets the table or
        the floor from above cannot meet an object standing on the table behind it.
        """
        transform = camera_from_object(scene, obj)
        corners = box_corners(transform[:3, :3], transform[:3, 3], obj.size_m())
        if np.any(corners[:, 2] <= 0):
            raise ValueError(f"object {obj.name} crosses the camera plane; its image is unbounded")
        uv = self.intrinsics.project(corners)
        u0, v0 = np.floor(uv.min(axis=0)).astype(int)
        u1, v1 = np.ceil(uv.max(axis=0)).astype(int)
        area = (u1 - u0 + 1) * (v1 - v0 + 1)
        above_table = (
            scene.camera_pose[2, 3] > 0
            and obj.pose[2, 3] - np.abs(obj.pose[2, :3]) @ obj.size_m() / 2 > -1e-4
        )
        if result is not None and above_table:
            return self._unoccluded_from_render(scene, obj, transform, (u0, v0, u1, v1), result)
        stride = 2 if area > UNOCCLUDED_EXACT_PX else 1
        uu, vv = np.meshgrid(np.arange(u0, u1 + 1, stride), np.arange(v0, v1 + 1, stride))
        return stride * stride * self._instance_hits(obj, transform, uu, vv)

    def _unoccluded_from_render(
        self,
        scene: Scene,
        obj: SceneObject,
        transform: np.ndarray,
        box_px: tuple[int, int, int, int],
        result: RenderResult,
    ) -> int:
        u0, v0, u1, v1 = box_px
        h, w = self.intrinsics.height, self.intrinsics.width
        iu0, iv0, iu1, iv1 = max(u0, 0), max(v0, 0), min(u1, w - 1), min(v1, h - 1)
        own = next(i for i, o in enumerate(scene.objects) if o is obj)
        count = 0
        if iu0 <= iu1 and iv0 <= iv1:
            window = result.object_index[iv0 : iv1 + 1, iu0 : iu1 + 1]
            count = int(np.count_nonzero(window == own))
            blocking = np.array([o.name not in SUPPORT_NAMES for o in scene.objects] + [False])
            in_front = blocking[window] & (window != own)  # index -1 (no surface) maps to False
            rows, cols = np.nonzero(in_front)
            count += self._instance_hits(obj, transform, cols + iu0, rows + iv0)
        if (u0, v0, u1, v1) != (iu0, iv0, iu1, iv1):
            uu, vv = np.meshgrid(np.arange(u0, u1 + 1), np.arange(v0, v1 + 1))
            outside = (uu < 0) | (uu >= w) | (vv < 0) | (vv >= h)
            count += self._instance_hits(obj, transform, uu[outside], vv[outside])
        return count

    def handle_visible_fraction(self, scene: Scene, obj: SceneObject, result: RenderResult) -> float:
        """Fraction of the mug's handle face centres seen by the camera (see module docstring)."""
        record = obj.category_mesh
        if record is None or not np.any(record.handle_faces):
            raise ValueError(f"object {obj.name} ({obj.kind}) has no handle")
        transform = camera_from_object(scene, obj)
        centres = record.mesh.triangles_center[record.handle_faces]
        points = centres @ transform[:3, :3].T + transform[:3, 3]
        in_front = points[:, 2] > 0
        uv = self.intrinsics.project(np.where(in_front[:, None], points, 1.0))
        inside = (
            in_front
            & (uv[:, 0] >= -0.5)
            & (uv[:, 0] < self.intrinsics.width - 0.5)
            & (uv[:, 1] >= -0.5)
            & (uv[:, 1] < self.intrinsics.height - 0.5)
        )
        dirs = points / points[:, 2:3]
        rays = np.concatenate([np.zeros_like(dirs), dirs], axis=1).astype(np.float32)
        t_hit = result.raycaster.cast_rays(o3d.core.Tensor(rays), nthreads=self.nthreads)["t_hit"].numpy()
        seen = inside & (np.abs(t_hit - points[:, 2]) < HANDLE_HIT_TOLERANCE_M)
        return float(np.mean(seen))
