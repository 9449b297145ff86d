"""CPU renderer on open3d's ray casting: depth, instance mask and shaded RGB.

The frame's meshes are transformed into the camera optical frame and put into ``RaycastingScene``s
(:class:`FrameScenes`: the objects and the supports apart where no support can hide an object),
and one ray per pixel centre is cast with direction ``((u - cx) / fx, (v - cy) / fy, 1)``, so the
hit distance along the ray *is* the z depth. Shading is Lambertian plus ambient with an
optional Blinn-Phong specular lobe (Blinn, SIGGRAPH 1977) and hard shadows from the strongest
light (one more cast from the hit points), all vectorised over pixels; the result is linear RGB
(``noise.corrupt_rgb`` / ``noise.to_srgb8`` turn it into 8-bit sRGB). Pixels that can only see the
table or the floor are intersected with those boxes analytically instead of ray-cast
(:meth:`Renderer._primary_hits`). Shadow rays are cast only from points whose ray towards the
light passes through the bounding sphere of an object that can cast a shadow
(:meth:`Renderer._shadow_candidates`), and from one pixel of each 2x2 block of one object.

Ground-truth helpers: an object's *unoccluded* pixel count (the pixels it would cover with nothing
in front of it, pixels outside the image included, so truncation lowers the visible fraction too),
and mug handle visibility (ray-cast the handle's face centres: a centre is visible when the first
hit along the ray from the camera lands on it, within 1 mm, inside the image). Both read the
object's own mesh (``SceneObject.category_mesh``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy.spatial import ConvexHull

from diff9d_ros.geometry.boxes import box_corners
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.meshes import CategoryMesh
from diff9d_ros.synth.scene import SUPPORT_NAMES, Scene, SceneObject

INVALID_ID = o3d.t.geometry.RaycastingScene.INVALID_ID
#: Bounding-box area (pixels) above which :meth:`Renderer.unoccluded_pixels` samples every 2nd pixel.
UNOCCLUDED_EXACT_PX = 20_000
#: At most this many rays sample a projected box: an object close to the camera plane projects to
#: an unbounded box (millions of pixels a side), which is sampled on a coarser grid instead.
UNOCCLUDED_MAX_RAYS = 400_000


def unoccluded_stride(area_px: int) -> int:
    """Row and column stride of the rays over a projected box of ``area_px`` pixels: 1 up to
    ``UNOCCLUDED_EXACT_PX``, then 2, coarser when the box would need more than
    ``UNOCCLUDED_MAX_RAYS`` rays (each ray then stands for stride^2 pixels)."""
    if area_px <= UNOCCLUDED_EXACT_PX:
        return 1
    return max(2, math.ceil(math.sqrt(area_px / UNOCCLUDED_MAX_RAYS)))


#: Offset of shadow-ray origins along the surface normal, metres.
SHADOW_BIAS_M = 1e-3
#: A handle sample counts as seen when the first hit lies within this distance of it, metres.
HANDLE_HIT_TOLERANCE_M = 1e-3
#: Lights lower than this (sine of the elevation) may shine under the table: no shadow-ray culling.
CULL_MIN_LIGHT_SIN = 0.05
#: Pixels of margin around an object's projected box within which primary rays are cast.
FOOTPRINT_MARGIN_PX = 1.5
#: Mesh vertices this far below the table top still count as above it (for which scene a ray is cast
#: against, :meth:`Renderer._footprint_hits`), metres: float32 ray hits are no finer than that.
ABOVE_TABLE_TOLERANCE_M = 1e-6
#: Rays leaving a point at least this far above the table top upwards cannot meet a support, metres
#: (far above the float32 rounding of the points).
SUPPORT_REACH_M = 1e-4
#: Single-object raycasting scenes a renderer keeps for ground-truth queries.
INSTANCE_SCENES = 64
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
    #: The frame's raycasting scenes (camera frame, geometry id = object index) for GT queries.
    scenes: FrameScenes


def _pixel_directions(intrinsics: Intrinsics, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            (u - intrinsics.cx) / intrinsics.fx,
            (v - intrinsics.cy) / intrinsics.fy,
            np.ones_like(u, dtype=float),
        ],
        axis=-1,
    )


def _dot_columns(columns: Sequence[np.ndarray], direction: np.ndarray) -> np.ndarray:
    """Dot products of vectors given as their x, y and z arrays with one (3,) vector, without a
    BLAS call (contiguous columns make it about three times faster than strided ones)."""
    d = direction.astype(np.float32)
    return columns[0] * d[0] + columns[1] * d[1] + columns[2] * d[2]


def _dot(vectors: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (N, 3) with one (3,) vector, without a BLAS call."""
    return _dot_columns(vectors.T, direction)


def camera_from_object(scene: Scene, obj: SceneObject) -> np.ndarray:
    """4x4 transform from the object's local frame to the camera optical frame."""
    return np.linalg.inv(scene.camera_pose) @ obj.pose


def _pattern_axes(obj: SceneObject) -> tuple[int, ...]:
    """The local-frame axes the object's pattern depends on (stripes: one, checker: all three)."""
    if obj.appearance.pattern == "stripes":
        return (1 if obj.is_category else 0,)  # bands along the symmetry axis of category objects
    return (0, 1, 2)


def _local_axes(points: np.ndarray, transform: np.ndarray, axes: tuple[int, ...]) -> list[np.ndarray]:
    """Local-frame coordinates along ``axes`` of camera-frame (N, 3) float32 points, for the
    object-to-camera ``transform``; only the requested columns of ``(points - t) @ R`` are formed,
    each as a sum of three column products (no BLAS call, see :func:`_dot`)."""
    rotation = transform[:3, :3].astype(np.float32)
    x, y, z = (points[:, k] - np.float32(transform[k, 3]) for k in range(3))
    return [x * rotation[0, a] + y * rotation[1, a] + z * rotation[2, a] for a in axes]


def _second_colour(obj: SceneObject, local_m: list[np.ndarray]) -> np.ndarray:
    """Per surface point: whether it takes the pattern's second colour, from its local-frame
    coordinates along :func:`_pattern_axes`."""
    scale = obj.appearance.pattern_scale_m
    return sum(np.floor(coordinate / scale).astype(np.int64) for coordinate in local_m) % 2 == 1


def _raycaster(meshes: list[tuple[np.ndarray, np.ndarray]]) -> o3d.t.geometry.RaycastingScene:
    """A raycasting scene of (vertices, faces) meshes; geometry id = position in ``meshes``."""
    raycaster = o3d.t.geometry.RaycastingScene()
    for vertices, faces in meshes:
        raycaster.add_triangles(o3d.core.Tensor(vertices), o3d.core.Tensor(faces))
    return raycaster


def _above_table_top(scene: Scene, table: int) -> bool:
    """Whether the camera and every mesh vertex of the objects other than the supports lie above
    the top face of the box ``scene.objects[table]`` (to ABOVE_TABLE_TOLERANCE_M)."""
    box = scene.objects[table]
    table_from_world = np.linalg.inv(box.pose)
    top_m = box.dims_m[2] / 2.0 - ABOVE_TABLE_TOLERANCE_M
    if (table_from_world @ scene.camera_pose)[2, 3] <= top_m:
        return False
    for obj in scene.objects:
        if obj.name in SUPPORT_NAMES:
            continue
        transform = table_from_world @ obj.pose
        if np.min(obj.mesh().vertices @ transform[2, :3]) + transform[2, 3] < top_m:
            return False
    return True


class FrameScenes:
    """The raycasting scenes of one frame (camera frame; geometry id = object index), each built
    when first used.

    Where the scene has a table and a floor and every other object and the camera lie above the
    table top (:func:`_above_table_top`), no support can be in front of another object, and no
    ray leaving a point above the table top upwards can meet a support: rays are then cast
    against two small scenes, the other objects and the supports (in one scene every ray would
    also test the table's and the floor's large faces). Each scene computes a hit from the same
    triangle data, so the answers are those of the whole scene, which is used otherwise.
    """

    def __init__(self, scene: Scene, meshes: list[tuple[np.ndarray, np.ndarray]], nthreads: int) -> None:
        self._meshes = meshes
        self._nthreads = nthreads
        #: The supports, the table first, then the floor below it.
        self.supports = sorted(
            (i for i, o in enumerate(scene.objects) if o.name in SUPPORT_NAMES),
            key=lambda i: SUPPORT_NAMES.index(scene.objects[i].name),
        )
        self._others = [i for i in range(len(scene.objects)) if i not in self.supports]
        self.split = len(self.supports) == len(SUPPORT_NAMES) and _above_table_top(scene, self.supports[0])
        self._table_up: np.ndarray | None = None
        if self.split:
            table = scene.objects[self.supports[0]]
            camera_from_table = camera_from_object(scene, table)
            # the table's up axis (camera frame) and its top face's offset along it, float32
            top_m = table.dims_m[2] / 2.0 + camera_from_table[:3, 2] @ camera_from_table[:3, 3]
            self._table_up = np.r_[camera_from_table[:3, 2], top_m].astype(np.float32)
        self._scenes: dict[tuple[int, ...], o3d.t.geometry.RaycastingScene] = {}

    def _scene(self, indices: list[int]) -> o3d.t.geometry.RaycastingScene:
        key = tuple(indices)
        if key not in self._scenes:
            self._scenes[key] = _raycaster([self._meshes[i] for i in indices])
        return self._scenes[key]

    def _cast(self, indices: list[int], rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hits = self._scene(indices).cast_rays(o3d.core.Tensor(rays), nthreads=self._nthreads)
        object_index = np.array([*indices, INVALID_ID], dtype=np.uint32)
        geometry = object_index.take(np.minimum(hits["geometry_ids"].numpy(), len(indices)))
        return geometry, hits["t_hit"].numpy(), hits["primitive_normals"].numpy()

    def _blocked(self, indices: list[int], rays: np.ndarray) -> np.ndarray:
        return self._scene(indices).test_occlusions(o3d.core.Tensor(rays), nthreads=self._nthreads).numpy()

    def first_hits(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Object index (INVALID_ID = none), hit distance and face normal of (N, 6) float32 rays
        from the camera (origin, direction)."""
        if not self.split:
            return self._cast(list(range(len(self._meshes))), rays)
        geometry, t_hit, normals = self._cast(self._others, rays)
        missed = np.flatnonzero(geometry == INVALID_ID)
        if len(missed):
            geometry[missed], t_hit[missed], normals[missed] = self._cast(
                self.supports, rays.take(missed, axis=0)
            )
        return geometry, t_hit, normals

    def occluded(self, rays: np.ndarray) -> np.ndarray:
        """Whether anything lies along each of the (N, 6) float32 rays (origin, direction)."""
        if not self.split:
            return self._blocked(list(range(len(self._meshes))), rays)
        blocked = self._blocked(self._others, rays) if self._others else np.zeros(len(rays), dtype=bool)
        up = self._table_up
        height_m = _dot(rays[:, :3], up[:3]) - up[3]
        low = np.flatnonzero((height_m <= SUPPORT_REACH_M) | (_dot(rays[:, 3:], up[:3]) <= 0))
        if len(low):
            blocked[low] |= self._blocked(self.supports, rays.take(low, axis=0))
        return blocked


class Renderer:
    """Renders ``Scene`` objects for fixed intrinsics; ray directions and instance scenes are cached."""

    def __init__(
        self, intrinsics: Intrinsics, shadows: bool = True, nthreads: int = 0, analytic_supports: bool = True
    ) -> None:
        self.intrinsics = intrinsics
        self.shadows = shadows
        self.nthreads = nthreads
        self.analytic_supports = analytic_supports
        v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width]
        self._dirs = _pixel_directions(intrinsics, u, v).reshape(-1, 3).astype(np.float32)
        view = self._dirs / np.linalg.norm(self._dirs, axis=1, keepdims=True)
        #: x and y of the (x, y, 1) ray directions, and the unit viewing rays' x, y and z, as
        #: contiguous arrays (fast gathers of some pixels).
        self._dir_columns = tuple(np.ascontiguousarray(self._dirs[:, k]) for k in range(2))
        self._view_columns = tuple(np.ascontiguousarray(view[:, k]) for k in range(3))
        self._ray_array = np.concatenate([np.zeros_like(self._dirs), self._dirs], axis=1)
        #: The top-left pixel of each pixel's 2x2 block (shadow rays on supports are cast there).
        self._anchor = ((v & ~1) * intrinsics.width + (u & ~1)).reshape(-1)
        self._pixel = np.arange(intrinsics.width * intrinsics.height)
        self._instance_scenes: OrderedDict[tuple[str, str, int], o3d.t.geometry.RaycastingScene] = (
            OrderedDict()
        )

    def camera_meshes(self, scene: Scene) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per object of ``scene``: its vertices in the camera frame (float32) and faces (uint32)."""
        if scene.intrinsics != self.intrinsics:
            raise ValueError(
                f"scene intrinsics {scene.intrinsics} differ from the renderer's {self.intrinsics}"
            )
        meshes = []
        for obj in scene.objects:
            transform = camera_from_object(scene, obj)
            mesh = obj.mesh()
            vertices = (mesh.vertices @ transform[:3, :3].T + transform[:3, 3]).astype(np.float32)
            meshes.append((vertices, mesh.faces.astype(np.uint32)))
        return meshes

    def _primary_hits(self, scene: Scene, scenes: FrameScenes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Geometry id (INVALID_ID = none), hit distance along the (x, y, 1) ray and face normal
        (zero where none; (3, N): x, y and z of all pixels) per pixel.

        With ``analytic_supports``, box-shaped supports (table, floor) and the camera above the
        table top, only pixels inside the
        projected boxes of the other objects are ray-cast; every other pixel can only see a
        support, and its hit comes from an exact ray-box (slab) intersection (Kay and Kajiya,
        SIGGRAPH 1986) with the table, then, where it misses, with the floor (which lies entirely
        below the table, so a ray meeting the table cannot meet the floor first).
        """
        n = self.intrinsics.width * self.intrinsics.height
        supports = scenes.supports
        analytic = (
            self.analytic_supports and scene.camera_pose[2, 3] > 0 and len(supports) == len(SUPPORT_NAMES)
        )
        need = self._object_footprint(scene) if analytic else None
        if need is None or any(scene.objects[i].kind != "box" for i in supports):
            geometry, t_hit, normals = scenes.first_hits(self._ray_array)
            return geometry, t_hit, np.ascontiguousarray(normals.T)
        geometry = np.full(n, INVALID_ID, dtype=np.uint32)
        t_hit = np.full(n, np.inf, dtype=np.float32)
        face = np.full(n, 6 * len(supports), dtype=np.intp)  # the last row of face_normals: none
        face_normals = []
        open_pixels = np.flatnonzero(~need)  # pixels no other object can cover
        for j, i in enumerate(supports):
            t, box_face, box_normals = self._box_hits(scene, scene.objects[i], open_pixels)
            hit = np.isfinite(t)
            chosen = open_pixels[hit]
            geometry[chosen], t_hit[chosen], face[chosen] = i, t[hit], box_face[hit] + 6 * j
            face_normals.append(box_normals)
            open_pixels = open_pixels[~hit]  # a camera above the table sees the floor only around it
        face_normals.append(np.zeros((1, 3), dtype=np.float32))
        cast = np.flatnonzero(need)
        if len(cast):
            hit_geometry, hit_t, hit_normals = scenes.first_hits(self._ray_array.take(cast, axis=0))
            geometry[cast], t_hit[cast] = hit_geometry, hit_t
            first_row = 6 * len(supports) + 1  # below: the supports' faces and "none"
            face[cast] = np.arange(first_row, first_row + len(cast))
            face_normals.append(hit_normals)
        return geometry, t_hit, np.ascontiguousarray(np.concatenate(face_normals).T).take(face, axis=1)

    def _object_footprint(self, scene: Scene) -> np.ndarray | None:
        """Pixels inside the image of the boxes of the non-support objects (the convex hull of the
        projected corners, grown by FOOTPRINT_MARGIN_PX); None when one reaches behind the camera
        plane."""
        h, w = self.intrinsics.height, self.intrinsics.width
        need = np.zeros((h, w), dtype=bool)
        for obj in scene.objects:
            if obj.name in SUPPORT_NAMES:
                continue
            transform = camera_from_object(scene, obj)
            corners = box_corners(transform[:3, :3], transform[:3, 3], obj.size_m())
            if np.any(corners[:, 2] <= 1e-3):
                return None
            uv = self.intrinsics.project(corners)
            u0, v0 = np.maximum(np.floor(uv.min(axis=0)).astype(int) - 1, 0)
            u1, v1 = np.minimum(np.ceil(uv.max(axis=0)).astype(int) + 1, (w - 1, h - 1))
            if u0 > u1 or v0 > v1:
                continue
            hull = uv[ConvexHull(uv).vertices]  # counter-clockwise
            edges = np.roll(hull, -1, axis=0) - hull
            lengths = np.linalg.norm(edges, axis=1)
            uu, vv = np.arange(u0, u1 + 1)[None, :], np.arange(v0, v1 + 1)[:, None]
            inside = np.ones((v1 - v0 + 1, u1 - u0 + 1), dtype=bool)
            for (eu, ev), (pu, pv), length in zip(edges, hull, lengths, strict=True):
                # signed distance to the left of the edge; the hull lies to its left
                inside &= (eu * (vv - pv) - ev * (uu - pu)) >= -FOOTPRINT_MARGIN_PX * length
            need[v0 : v1 + 1, u0 : u1 + 1] |= inside
        return need.reshape(-1)

    def _box_hits(
        self, scene: Scene, obj: SceneObject, pixels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entry distance along the rays of ``pixels`` (flat indices; inf = miss), entry face (0-5:
        -x, +x, -y, +y, -z, +z of the box) and the six outward face normals (camera frame) of the
        box primitive ``obj`` (a ray's direction in the box frame is ``R (x_u, y_v, 1)``).

        Supports lie flat, so with the camera above a box most rays end on its top (+z) face: those
        rays are met with that face's plane first (hit point inside the face), and only the others
        take the slab method (Kay and Kajiya, SIGGRAPH 1986).
        """
        box_from_camera = np.linalg.inv(camera_from_object(scene, obj))
        rotation = box_from_camera[:3, :3].astype(np.float32)
        origin = box_from_camera[:3, 3].astype(np.float32)
        half = (obj.dims_m / 2.0).astype(np.float32)
        x, y = self._dir_columns[0].take(pixels), self._dir_columns[1].take(pixels)
        normals = np.stack([sign * rotation[a] for a in range(3) for sign in (-1.0, 1.0)]).astype(np.float32)
        t = np.full(len(pixels), np.inf, dtype=np.float32)
        face = np.full(len(pixels), 5, dtype=np.intp)
        rest = np.arange(len(pixels))
        if origin[2] > half[2]:
            with np.errstate(divide="ignore", invalid="ignore"):
                t_top = (half[2] - origin[2]) * (
                    np.float32(1.0) / (rotation[2, 0] * x + rotation[2, 1] * y + rotation[2, 2])
                )
                on_top = t_top > 0
                for a in range(2):
                    along = origin[a] + t_top * (rotation[a, 0] * x + rotation[a, 1] * y + rotation[a, 2])
                    on_top &= np.abs(along) <= half[a]
            t[on_top] = t_top[on_top]
            rest = np.flatnonzero(~on_top)
        t[rest], face[rest] = self._slab_hits(rotation, origin, half, x.take(rest), y.take(rest))
        return t, face, normals

    @staticmethod
    def _slab_hits(
        rotation: np.ndarray, origin: np.ndarray, half: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Entry distance (inf = miss) and entry face of the rays ``(x, y, 1)`` into the box of
        half-extents ``half`` seen from ``origin`` (box frame), by the slab method."""
        entries, leaves, positive = [], [], []
        with np.errstate(divide="ignore", invalid="ignore"):
            for a in range(3):
                direction = rotation[a, 0] * x + rotation[a, 1] * y + rotation[a, 2]
                inverse = np.float32(1.0) / direction
                low, high = (-half[a] - origin[a]) * inverse, (half[a] - origin[a]) * inverse
                entries.append(np.fmin(low, high))
                leaves.append(np.fmax(low, high))
                positive.append(direction > 0)
        t_near = np.fmax(np.fmax(entries[0], entries[1]), entries[2])
        t_far = np.fmin(np.fmin(leaves[0], leaves[1]), leaves[2])
        axis = np.where(entries[2] >= t_near, 2, np.where(entries[1] >= t_near, 1, 0))
        entering_positive = np.where(axis == 2, positive[2], np.where(axis == 1, positive[1], positive[0]))
        face = (2 * axis + ~entering_positive).astype(np.intp)  # moving along +a enters the -a face
        t = np.where((t_near <= t_far) & (t_near > 0), t_near, np.float32(np.inf))
        return t, face

    def render(self, scene: Scene) -> RenderResult:
        """Depth (float32 m, NaN = no surface), instance mask (int32), linear RGB (float32) and more.

        Shading runs over every pixel at once (a table fills most of the image, so gathering the
        hit pixels first would copy nearly everything); per-object values come from small tables
        indexed by the hit's object, with one extra row for "no surface".
        """
        h, w = self.intrinsics.height, self.intrinsics.width
        n_objects = len(scene.objects)
        scenes = FrameScenes(scene, self.camera_meshes(scene), self.nthreads)
        geometry, t_hit, normals = self._primary_hits(scene, scenes)
        valid = geometry != INVALID_ID
        index = np.where(valid, geometry, n_objects).astype(np.intp)
        depth = np.where(valid, t_hit, np.float32(np.nan))
        mask_ids = np.array([o.mask_id for o in scene.objects] + [0], dtype=np.int32)
        object_index = np.where(valid, geometry.astype(np.int32), np.int32(-1))
        points = self._dirs * np.where(valid, t_hit, np.float32(0.0))[:, None]

        albedo, luminance = self._albedo(scene, index, points)
        view = self._view_columns
        facing = normals[0] * view[0] + normals[1] * view[1] + normals[2] * view[2]
        towards = np.where(facing > 0, np.float32(-1.0), np.float32(1.0))  # turns normals to the camera
        view_cos = np.abs(facing)

        world_to_camera = scene.camera_pose[:3, :3].T
        shade = np.full(h * w, scene.ambient, dtype=np.float32)
        specular_table = np.array([o.appearance.specular for o in scene.objects] + [0.0], dtype=np.float32)
        glossy = np.flatnonzero((specular_table > 0).take(index))
        shininess_table = np.array([o.appearance.shininess for o in scene.objects] + [1.0], np.float32)
        specular = np.zeros(h * w, dtype=np.float32)
        strongest = int(np.argmax([light.intensity for light in scene.lights])) if scene.lights else -1
        for k, light in enumerate(scene.lights):
            direction = (world_to_camera @ light.direction).astype(np.float32)
            cos_light = _dot_columns(normals, direction) * towards
            lambert = np.maximum(cos_light, np.float32(0.0))
            if k == strongest and self.shadows:
                lambert *= self._unshadowed(
                    scene, scenes, points, normals, towards, direction, lambert > 0, index
                )
            shade += np.float32(light.intensity) * lambert
            lit = glossy[lambert.take(glossy) > 0]  # the lobe is off where the light does not reach
            if len(lit):
                lit_objects = index.take(lit)
                specular[lit] += (
                    np.float32(light.intensity)
                    * specular_table.take(lit_objects)
                    * self._blinn_phong(
                        cos_light.take(lit),
                        view_cos.take(lit),
                        self._view_dot(direction, lit),
                        shininess_table,
                        lit_objects,
                    )
                )
        rgb = albedo
        rgb *= shade[:, None]
        rgb += specular[:, None]
        rgb[np.flatnonzero(~valid)] = scene.background_rgb.astype(np.float32)
        return RenderResult(
            depth_m=depth.reshape(h, w),
            instance_mask=mask_ids[index].reshape(h, w),
            linear_rgb=rgb.reshape(h, w, 3),
            object_index=object_index.reshape(h, w),
            view_cos=view_cos.reshape(h, w),
            albedo_luminance=luminance.reshape(h, w),
            scenes=scenes,
        )

    @staticmethod
    def _albedo(scene: Scene, index: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Linear-RGB albedo (N, 3) and its luminance (N,) per pixel, from the object ``index`` of
        each pixel (``len(scene.objects)`` = no surface: the background colour) and, on patterned
        objects, the hit ``points``. Every pixel reads one row of a colour table: the objects'
        colours, the background, then the second colour of each patterned object."""
        colours = [o.appearance.colour for o in scene.objects] + [scene.background_rgb]
        weights = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        luminance = [np.array(colours[:-1], np.float32) @ weights, np.ones(1, np.float32)]
        material = index
        for i, obj in enumerate(scene.objects):
            if obj.appearance.pattern == "plain":
                continue
            rows = np.flatnonzero(index == i)
            if len(rows) == 0:
                continue
            axes = _pattern_axes(obj)
            local = _local_axes(points.take(rows, axis=0), camera_from_object(scene, obj), axes)
            second = rows[_second_colour(obj, local)]
            if material is index:
                material = index.copy()
            material[second] = len(colours)
            colour2 = obj.appearance.colour2.astype(np.float32)
            colours.append(colour2)
            luminance.append(_dot(colour2[None], weights))
        albedo = np.array(colours, dtype=np.float32).take(material, axis=0)
        return albedo, np.concatenate(luminance).astype(np.float32).take(material)

    def _view_dot(self, direction: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Dot products of the unit viewing rays of ``pixels`` (flat indices) with ``direction``."""
        return _dot_columns([column.take(pixels) for column in self._view_columns], direction)

    @staticmethod
    def _blinn_phong(
        cos_light: np.ndarray,
        cos_view: np.ndarray,
        light_dot_ray: np.ndarray,
        shininess_table: np.ndarray,
        objects: np.ndarray,
    ) -> np.ndarray:
        """Blinn-Phong lobe ``(n . h)^s`` with ``h = (l - v) / |l - v|`` (l the unit light direction,
        v the unit viewing ray): ``n . h = (n . l + cos_view) / sqrt(2 - 2 l . v)``, all scalars per
        pixel; ``s`` is the pixel's object's (``shininess_table`` indexed by ``objects``). The power
        is taken only where it can exceed 1e-4 (the highlights)."""
        cos_half = (cos_light + cos_view) / np.sqrt(np.maximum(2.0 - 2.0 * light_dot_ray, np.float32(1e-12)))
        cos_half = np.clip(cos_half, np.float32(0.0), np.float32(1.0))
        lobe = np.zeros_like(cos_half)
        threshold_table = np.float32(1e-4) ** (np.float32(1.0) / shininess_table)
        bright = np.flatnonzero(cos_half > threshold_table.take(objects))
        lobe[bright] = cos_half.take(bright) ** shininess_table.take(objects.take(bright))
        return lobe

    def _unshadowed(
        self,
        scene: Scene,
        scenes: FrameScenes,
        points: np.ndarray,
        normals: np.ndarray,
        towards: np.ndarray,
        direction: np.ndarray,
        facing_light: np.ndarray,
        object_index: np.ndarray,
    ) -> np.ndarray:
        """1 where the light is visible from the surface point, 0 in shadow or facing away.

        Visibility is resolved on the top-left pixel of each 2x2 block: a pixel whose block corner
        lies on the same object and faces the light copies it (shadow edges are so placed to a
        pixel); the others test their own ray, cast only when :meth:`_shadow_candidates` finds
        something that could block it. ``towards`` (+-1) turns ``normals`` ((3, N): x, y, z) to the
        camera.
        """
        anchor = self._anchor
        copies = (
            facing_light
            & (object_index.take(anchor) == object_index)
            & facing_light.take(anchor)
            & (anchor != self._pixel)
        )
        own = np.flatnonzero(facing_light & ~copies)
        own_points = points.take(own, axis=0)
        cast = np.flatnonzero(self._shadow_candidates(scene, own_points, object_index.take(own), direction))
        own = own.take(cast)
        rays = np.empty((len(own), 6), dtype=np.float32)
        offset = (np.float32(SHADOW_BIAS_M) * towards.take(own))[:, None] * normals.take(own, axis=1).T
        rays[:, :3] = own_points.take(cast, axis=0) + offset
        rays[:, 3:] = direction
        blocked = scenes.occluded(rays)
        lit = facing_light.astype(np.float32)
        lit[own[blocked]] = 0.0
        np.copyto(lit, lit.take(anchor), where=copies)
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
        """A raycasting scene of the mesh alone (the INSTANCE_SCENES most recently used are kept)."""
        if record.key in self._instance_scenes:
            self._instance_scenes.move_to_end(record.key)
            return self._instance_scenes[record.key]
        raycaster = _raycaster(
            [(record.mesh.vertices.astype(np.float32), record.mesh.faces.astype(np.uint32))]
        )
        self._instance_scenes[record.key] = raycaster
        if len(self._instance_scenes) > INSTANCE_SCENES:
            self._instance_scenes.popitem(last=False)
        return raycaster

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
        hits = self._instance_scene(obj.category_mesh).test_occlusions(
            o3d.core.Tensor(rays), nthreads=self.nthreads
        )  # any hit: cheaper than the nearest
        return int(np.count_nonzero(hits.numpy()))

    def unoccluded_pixels(self, scene: Scene, obj: SceneObject, result: RenderResult | None = None) -> int:
        """Pixels the object would cover with nothing in front of it, on an unbounded image plane.

        Cast against the object alone over its projected box; boxes larger than
        ``UNOCCLUDED_EXACT_PX`` pixels are sampled on every second row and column and the count
        scaled by 4 (relative error well under 1 % at that size); boxes that would need more than
        ``UNOCCLUDED_MAX_RAYS`` rays (an object near the camera plane) on a coarser grid. Given the
        frame's ``result``, a camera above the table plane (z > 0) and an object resting on or above
        it, the count is the object's visible pixels plus casts of only the box pixels where another
        non-support object lies in front, or that fall outside the image (sampled like the boxes
        above when the box is large): a ray that first meets the table or the floor from above cannot meet an
        object standing on the table behind it.
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
        stride = unoccluded_stride(area)
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
            stride = unoccluded_stride((u1 - u0 + 1) * (v1 - v0 + 1))
            uu, vv = np.meshgrid(np.arange(u0, u1 + 1, stride), np.arange(v0, v1 + 1, stride))
            outside = (uu < 0) | (uu >= w) | (vv < 0) | (vv >= h)
            count += stride * stride * self._instance_hits(obj, transform, uu[outside], vv[outside])
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
        t_hit = result.scenes.first_hits(rays)[1]
        seen = inside & (np.abs(t_hit - points[:, 2]) < HANDLE_HIT_TOLERANCE_M)
        return float(np.mean(seen))
