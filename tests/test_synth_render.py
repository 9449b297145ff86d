"""Renderer and ground truth: depth geometry, masks vs boxes, sensor noise, mug handle visibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from diff9d_ros.geometry.boxes import box_corners, points_in_box, to_box_frame
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.noise import RandomizationConfig, SensorModel, corrupt_depth
from diff9d_ros.synth.render import Renderer, camera_from_object
from diff9d_ros.synth.scene import compose_scene, look_at
from diff9d_ros.synth.truth import synthesize

SMALL = Intrinsics.realsense_d435(160, 120)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(SMALL)


def _frames(renderer: Renderer, seeds: range, **overrides: object):
    config = RandomizationConfig.for_domain("clean", **overrides)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        scene = compose_scene(rng, config, SMALL, "train")
        yield scene, synthesize(scene, renderer, config.sensor, rng)


def test_backprojected_depth_lies_in_the_ground_truth_box(renderer: Renderer) -> None:
    checked = 0
    for _, synth in _frames(renderer, range(12)):
        frame = synth.frame
        for truth in synth.objects:
            mask = frame.instance_mask == truth.mask_id
            if mask.sum() < 20:
                continue
            det = truth.detection
            points = frame.intrinsics.backproject(frame.depth_m, mask)
            inside = points_in_box(points, det.rotation, det.translation_m, det.size_m, tolerance_m=1e-3)
            assert inside.mean() >= 0.99, (truth.category, inside.mean())
            # The points fill the box: they reach close to its faces, not only its middle.
            local = to_box_frame(points, det.rotation, det.translation_m)
            assert np.ptp(local, axis=0).max() > 0.4 * det.size_m.max()
            checked += 1
    assert checked >= 20


def test_projected_box_corners_bracket_the_mask(renderer: Renderer) -> None:
    for _, synth in _frames(renderer, range(12, 20)):
        for truth in synth.objects:
            v, u = np.nonzero(synth.frame.instance_mask == truth.mask_id)
            if len(u) == 0:
                continue
            det = truth.detection
            uv = SMALL.project(box_corners(det.rotation, det.translation_m, det.size_m))
            assert u.min() >= uv[:, 0].min() - 1 and u.max() <= uv[:, 0].max() + 1
            assert v.min() >= uv[:, 1].min() - 1 and v.max() <= uv[:, 1].max() + 1


def test_table_depth_matches_the_analytic_plane(renderer: Renderer) -> None:
    scene, _ = next(_frames(renderer, range(3, 4)))
    result = renderer.render(scene)
    table = result.object_index == 0
    assert table.sum() > 1000
    v, u = np.nonzero(table)
    rays = np.stack([(u - SMALL.cx) / SMALL.fx, (v - SMALL.cy) / SMALL.fy, np.ones(len(u))], axis=1)
    rotation, eye = scene.camera_pose[:3, :3], scene.camera_pose[:3, 3]
    # World z of eye + depth * (R @ ray) is 0 on the table top.
    expected = -eye[2] / (rays @ rotation[2])
    np.testing.assert_allclose(result.depth_m[table], expected, atol=1e-4)


def test_unoccluded_objects_are_fully_visible_and_rgb_is_shaded(renderer: Renderer) -> None:
    fractions = []
    for _, synth in _frames(renderer, range(20, 30), objects_range=(1, 1), distractors_range=(0, 0)):
        assert synth.frame.rgb.dtype == np.uint8 and synth.frame.rgb.std() > 5
        truth = synth.objects[0]
        fractions.append(truth.visible_fraction)
        assert truth.visible_pixels == int((synth.frame.instance_mask == truth.mask_id).sum())
    # A lone object in view is (nearly) entirely visible; the only loss is image truncation.
    assert np.median(fractions) > 0.97 and max(fractions) <= 1.0 + 1e-9


def _flat_table_scene(distance_m: float):
    config = RandomizationConfig(objects_range=(1, 1), distractors_range=(0, 0), texture_probability=0.0)
    scene = compose_scene(np.random.default_rng(5), config, SMALL)
    scene.objects = scene.objects[:2]  # table and floor only
    eye = np.array([0.05, 0.0, distance_m])
    return scene.with_camera(look_at(eye, np.array([0.0, 0.0, 0.0])))


def test_realsense_depth_noise_grows_with_distance_squared(renderer: Renderer) -> None:
    # The disparity noise alone: no colour/depth misregistration, no flying pixels.
    sensor = replace(SensorModel.realsense(), depth_shift_px=0, flying_pixel_probability=0.0)
    sigmas = []
    for distance in (0.5, 1.0):
        result = renderer.render(_flat_table_scene(distance))
        noisy = corrupt_depth(
            result.depth_m, result.view_cos, result.albedo_luminance, sensor, np.random.default_rng(0)
        )
        valid = np.isfinite(noisy) & (result.object_index == 0)
        residual = noisy[valid] - result.depth_m[valid]
        assert np.allclose(noisy[valid] * 1000.0, np.round(noisy[valid] * 1000.0), atol=1e-3)  # 1 mm steps
        sigmas.append(residual.std())
    assert 3.0 < sigmas[1] / sigmas[0] < 5.0, sigmas


def test_realsense_holes_and_flying_pixels_at_edges(renderer: Renderer) -> None:
    config = RandomizationConfig.for_domain("realsense", objects_range=(4, 4))
    sensor = replace(config.sensor, depth_shift_px=0)  # edges where the colour mask has them
    rng = np.random.default_rng(7)
    scene = compose_scene(rng, config, SMALL)
    clean = renderer.render(scene)
    synth = synthesize(scene, renderer, sensor, rng)
    depth = synth.frame.depth_m
    holes = ~np.isfinite(depth) & np.isfinite(clean.depth_m)
    flying = np.isfinite(depth) & np.isfinite(clean.depth_m) & (np.abs(depth - clean.depth_m) > 0.02)
    # Depth discontinuities: object outlines and jumps inside one object (a mug's rim over its inside).
    boundary = np.zeros_like(holes)
    filled = np.nan_to_num(clean.depth_m, nan=100.0)
    boundary[:, 1:] |= np.abs(filled[:, 1:] - filled[:, :-1]) > 0.03
    boundary[1:, :] |= np.abs(filled[1:, :] - filled[:-1, :]) > 0.03
    lit_and_facing = (clean.albedo_luminance > 0.1) & (clean.view_cos > 0.3)  # no dark or grazing holes
    interior = ~ndimage.binary_dilation(boundary, iterations=3) & lit_and_facing
    # Holes and flying pixels concentrate on depth edges, far above the random-dropout rate.
    assert holes[boundary].mean() > 0.3 > 0.05 > holes[interior].mean()
    assert flying[boundary].mean() > 0.05 > 0.01 > flying[interior].mean()


def _lone_mug_frame(renderer: Renderer, azimuth_offset_rad: float, elevation_deg: float):
    config = RandomizationConfig(objects_range=(1, 1), distractors_range=(0, 0), categories=("mug",))
    rng = np.random.default_rng(11)
    scene = compose_scene(rng, config, SMALL)
    mug = scene.category_objects()[0]
    handle_dir = mug.pose[:3, 0]  # canonical +x (handle) in the world
    azimuth = np.arctan2(handle_dir[1], handle_dir[0]) + azimuth_offset_rad
    elevation = np.radians(elevation_deg)
    target = mug.pose[:3, 3]
    eye = target + 0.5 * np.array(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
    )
    scene = scene.with_camera(look_at(eye, target))
    return synthesize(scene, renderer, config.sensor, rng).objects[0]


def test_mug_handle_visibility_follows_the_view(renderer: Renderer) -> None:
    facing = _lone_mug_frame(renderer, 0.0, 20.0)
    side = _lone_mug_frame(renderer, np.pi / 2, 20.0)
    behind = _lone_mug_frame(renderer, np.pi, 10.0)
    assert facing.handle_visible and not facing.symmetric
    assert side.handle_visible and side.handle_visible_fraction > 0.2
    assert behind.handle_visible is False and behind.symmetric
    assert facing.handle_visible_fraction > 0.3 > 0.05 > behind.handle_visible_fraction


def test_a_box_near_the_camera_plane_is_sampled_with_bounded_rays() -> None:
    """An object close to the camera plane projects to an unbounded box: its unoccluded count is
    sampled on a grid of at most UNOCCLUDED_MAX_RAYS rays (a moving camera once exhausted memory)."""
    from diff9d_ros.synth.render import UNOCCLUDED_EXACT_PX, UNOCCLUDED_MAX_RAYS, unoccluded_stride

    assert unoccluded_stride(UNOCCLUDED_EXACT_PX) == 1
    assert unoccluded_stride(UNOCCLUDED_EXACT_PX + 1) == 2
    for area in (10**8, 10**12, 10**15):
        assert area / unoccluded_stride(area) ** 2 <= UNOCCLUDED_MAX_RAYS


def test_top_face_rays_agree_with_the_slab_method(renderer: Renderer) -> None:
    for seed in range(3):
        scene, _ = next(_frames(renderer, range(seed, seed + 1)))
        table = scene.objects[0]
        pixels = np.arange(SMALL.width * SMALL.height)
        t, face, _ = renderer._box_hits(scene, table, pixels)
        box_from_camera = np.linalg.inv(camera_from_object(scene, table))
        rotation = box_from_camera[:3, :3].astype(np.float32)
        origin = box_from_camera[:3, 3].astype(np.float32)
        half = (table.dims_m / 2.0).astype(np.float32)
        x, y = renderer._dirs[:, 0], renderer._dirs[:, 1]
        t_slab, face_slab = Renderer._slab_hits(rotation, origin, half, x, y)
        hit = np.isfinite(t_slab)
        assert hit.mean() > 0.3 and (face[hit] == 5).mean() > 0.9  # most rays end on the top face
        np.testing.assert_array_equal(np.isfinite(t), hit)
        np.testing.assert_allclose(t[hit], t_slab[hit], rtol=1e-6)
        np.testing.assert_array_equal(face[hit], face_slab[hit])


def test_two_scene_casts_answer_as_the_whole_scene(renderer: Renderer) -> None:
    """FrameScenes casts against the objects and the supports separately when everything stands on the
    table; first hits and occlusions must be those of one scene of every mesh."""
    import open3d as o3d

    from diff9d_ros.synth.render import INVALID_ID, FrameScenes

    config = RandomizationConfig.for_domain("clean", lying_probability=0.0)
    rng = np.random.default_rng(3)
    split_seen = 0
    for seed in range(4):
        scene = compose_scene(np.random.default_rng(seed), config, SMALL, "train")
        meshes = renderer.camera_meshes(scene)
        scenes = FrameScenes(scene, meshes, nthreads=1)
        split_seen += scenes.split
        whole = o3d.t.geometry.RaycastingScene()
        for vertices, faces in meshes:
            whole.add_triangles(o3d.core.Tensor(vertices), o3d.core.Tensor(faces))
        directions = rng.normal(size=(2000, 3)).astype(np.float32) * [0.4, 0.3, 0.0] + [0, 0, 1]
        rays = np.hstack([np.zeros_like(directions), directions]).astype(np.float32)
        geometry, t_hit, _ = scenes.first_hits(rays)
        expected = whole.cast_rays(o3d.core.Tensor(rays))
        ids = expected["geometry_ids"].numpy()
        hit = ids != INVALID_ID
        np.testing.assert_array_equal(geometry != INVALID_ID, hit)
        np.testing.assert_array_equal(geometry[hit], ids[hit])
        np.testing.assert_allclose(t_hit[hit], expected["t_hit"].numpy()[hit], rtol=1e-6)
        # shadow-like rays: from the first hits towards random directions
        origins = directions[hit] * t_hit[hit, None] * 0.999
        towards = rng.normal(size=origins.shape).astype(np.float32)
        shadow = np.hstack([origins, towards]).astype(np.float32)
        np.testing.assert_array_equal(
            scenes.occluded(shadow), whole.test_occlusions(o3d.core.Tensor(shadow)).numpy()
        )
    assert split_seen >= 1
