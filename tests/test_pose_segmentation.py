"""Built-in tabletop segmentation and the geometric OBB baseline on a rendered tabletop frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pose.baseline import obb_baseline
from diff9d_ros.pose.metrics import pose_error
from diff9d_ros.pose.observation import gravity_frame, masked_points
from diff9d_ros.pose.segmentation import (
    SegmentationConfig,
    fit_table_plane,
    grow_into_holes,
    grow_into_thin_parts,
    segment_tabletop,
)
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import SynthFrame, synthesize


@pytest.fixture(scope="module")
def clean_frame() -> SynthFrame:
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain(
        "clean", lying_probability=0.0, camera_distance_m=(0.45, 0.95), camera_elevation_deg=(30.0, 80.0)
    )
    rng = np.random.default_rng(2)
    return synthesize(
        compose_scene(rng, config, intrinsics, "val"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )


def test_table_plane_normal_is_world_up(clean_frame: SynthFrame) -> None:
    plane = fit_table_plane(clean_frame.frame)
    world_up_in_camera = clean_frame.camera_pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(np.clip(plane.normal @ world_up_in_camera, -1, 1))) < 2.0
    camera_height = clean_frame.camera_pose[2, 3]
    assert plane.offset_m == pytest.approx(camera_height, abs=0.01)


@pytest.mark.xfail(
    strict=True,
    reason="the built-in segmentation misses this scene's open laptop (its base stands 3-4 mm above the "
    "table); benchmarks/robustness.py's segmentation rows measure the whole path in clutter (AP50 73.9)",
)
def test_segmentation_recovers_visible_objects(clean_frame: SynthFrame) -> None:
    mask, _ = segment_tabletop(clean_frame.frame)
    truth = clean_frame.frame.instance_mask
    for obj in clean_frame.objects:
        if obj.visible_pixels < 1000:
            continue
        labels, counts = np.unique(mask[truth == obj.mask_id], return_counts=True)
        best = labels[np.argmax(counts)]
        assert best > 0, f"{obj.category} not segmented"
        overlap = np.sum((mask == best) & (truth == obj.mask_id)) / np.sum(
            (mask == best) | (truth == obj.mask_id)
        )
        assert overlap > 0.5, f"{obj.category}: mask IoU {overlap:.2f}"


def test_empty_table_has_no_objects(clean_frame: SynthFrame) -> None:
    frame = clean_frame.frame
    # Replace every object by the table plane behind it: depth of the plane along each ray.
    plane = fit_table_plane(frame)
    k = frame.intrinsics
    v, u = np.mgrid[0 : k.height, 0 : k.width]
    rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, dtype=float)], axis=-1)
    depth = (-plane.offset_m / (rays @ plane.normal)).astype(np.float32)
    depth[depth <= 0] = np.nan
    mask, _ = segment_tabletop(replace(frame, depth_m=depth, instance_mask=None))
    assert mask.max() == 0


def test_baseline_box_of_upright_objects(clean_frame: SynthFrame) -> None:
    plane = fit_table_plane(clean_frame.frame)
    for obj in clean_frame.objects:
        if obj.visible_pixels < 500 or obj.category not in ("bottle", "can", "bowl"):
            continue
        points = masked_points(clean_frame.frame, clean_frame.frame.instance_mask == obj.mask_id)
        det = obb_baseline(points, obj.category, plane)
        err = pose_error(det, obj.detection, handle_visible=True)
        assert err.rotation_deg < 5.0 and err.iou > 0.5, (obj.category, err)
    with pytest.raises(ValueError, match="unknown category"):
        obb_baseline(np.zeros((20, 3)), "teapot")
    with pytest.raises(ValueError, match="N >= 10"):
        obb_baseline(np.zeros((3, 3)), "can")


def test_gravity_frame_is_a_rotation_with_y_up() -> None:
    up = np.array([0.0, -0.8, -0.6])
    frame = gravity_frame(up, np.array([0.1, 0.05, 0.7]))
    assert np.allclose(frame.T @ frame, np.eye(3)) and np.linalg.det(frame) == pytest.approx(1.0)
    assert np.allclose(frame[:, 1], up)
    # Degenerate: the object straight along the up direction still gives a rotation.
    frame = gravity_frame(np.array([0.0, 0.0, -1.0]), np.array([0.0, 0.0, 0.8]))
    assert np.allclose(frame.T @ frame, np.eye(3)) and np.linalg.det(frame) == pytest.approx(1.0)


def test_workspace_rejects_clusters_off_the_table_and_out_of_range(clean_frame: SynthFrame) -> None:
    from diff9d_ros.pose.segmentation import SegmentationConfig, fit_table, workspace_filter

    frame = clean_frame.frame
    table = fit_table(frame)
    on_table = table.inliers_m.mean(axis=0)
    e1 = np.cross(table.plane.normal, [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(table.plane.normal, e1)
    beyond = on_table + (np.ptp(table.inliers_m @ e1) + 0.1) * e1  # in the table plane, past its edge
    keep, reasons = workspace_filter(table, np.stack([on_table, beyond]), SegmentationConfig())
    assert keep.tolist() == [True, False] and reasons == ["off the table"]
    near = SegmentationConfig(max_range_m=0.9 * float(np.linalg.norm(on_table)))
    keep, reasons = workspace_filter(table, on_table[None], near)
    assert not keep[0] and "beyond" in reasons[0]
    # A workspace polygon around one object keeps that object only.
    target = max((o for o in clean_frame.objects if o.category != "laptop"), key=lambda o: o.visible_pixels)
    centre = target.detection.translation_m
    polygon = tuple(tuple(centre + 0.08 * (a * e1 + b * e2)) for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)))
    mask, _ = segment_tabletop(frame, SegmentationConfig(workspace_polygon_m=polygon))
    assert mask.max() == 1
    overlap = np.sum((mask == 1) & (frame.instance_mask == target.mask_id)) / np.sum(mask == 1)
    assert overlap > 0.8
    with pytest.raises(ValueError, match="at least 3"):
        SegmentationConfig(workspace_polygon_m=((0.0, 0.0, 1.0),))


def test_the_table_is_found_above_a_larger_floor() -> None:
    """Far away, the floor can hold more points than the table: the table is still the plane."""
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain(
        "clean", camera_distance_m=(1.6, 1.6), camera_elevation_deg=(35, 35)
    )
    rng = np.random.default_rng(12)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "test"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    plane = fit_table_plane(synth.frame)
    assert plane.offset_m == pytest.approx(synth.camera_pose[2, 3], abs=0.02)


def test_small_objects_far_away_are_segmented_by_their_surface_area() -> None:
    """At 1.5 m a whole can covers about 40 points of the 4-px grid: a count threshold of 60
    dropped it. The area threshold keeps every well-visible object at range, and drops clusters
    smaller than it at any range."""
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain(
        "clean", camera_distance_m=(1.5, 1.6), objects_range=(5, 6), lying_probability=0.0
    )
    rng = np.random.default_rng(5)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "val"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    truth = synth.frame.instance_mask
    closed = ("bottle", "can", "camera")  # seen from above, an open mug or bowl shows its inside floor
    seen = [o for o in synth.objects if o.visible_fraction > 0.8 and o.category in closed]
    assert len(seen) >= 3

    def segmented(mask: np.ndarray) -> list[bool]:
        return [bool(np.mean(mask[truth == o.mask_id] > 0) > 0.5) for o in seen]

    by_area, _ = segment_tabletop(synth.frame)
    assert all(segmented(by_area)), [(o.category, o.visible_pixels) for o in seen]
    by_count, _ = segment_tabletop(
        synth.frame, SegmentationConfig(min_cluster_points=60, min_cluster_area_m2=0.0)
    )
    assert not all(segmented(by_count))
    huge, _ = segment_tabletop(synth.frame, SegmentationConfig(min_cluster_area_m2=1.0))
    assert huge.max() == 0
    with pytest.raises(ValueError, match="min_cluster_area_m2"):
        SegmentationConfig(min_cluster_area_m2=-1.0)


def test_clusters_do_not_grow_with_the_extent_of_the_cloud() -> None:
    """A flying pixel 50 m away once made the dense voxel grid of the segmentation exhaust memory:
    the clusters are found on the occupied voxels only, and agree with the dense labelling."""
    from diff9d_ros.geometry.clusters import sparse_voxel_labels, voxel_clusters, voxel_grid_labels

    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(centre, 0.02, (400, 3)) for centre in rng.uniform(0, 0.5, (5, 3))])
    _, dense, _ = voxel_grid_labels(blobs, 0.01)
    sparse = sparse_voxel_labels(blobs, 0.01)
    assert len(set(zip(dense.tolist(), sparse.tolist(), strict=True))) == len(set(dense.tolist()))
    far = np.concatenate([blobs, [[50.0, 50.0, 50.0]]])
    labels = voxel_clusters(far, 0.002)  # a dense grid would need 25000^3 cells
    assert labels[-1] == labels.max() and len(np.unique(labels[:-1])) == len(np.unique(labels)) - 1


def test_table_tracker_refits_the_full_fit_and_falls_back_when_the_table_is_gone() -> None:
    """On a moving-camera stream the tracked table is the plane RANSAC finds (to 0.05 degrees and
    1 mm) and RANSAC runs once a second; a frame without that table, a gap or stamps that go
    backwards start a full fit at once."""
    from diff9d_ros.pose.segmentation import SegmentationConfig, TableTracker, fit_table
    from diff9d_ros.sources.synthetic import SyntheticSource

    source = SyntheticSource(
        seconds=1.2, fps=10.0, seed=17, objects=(3, 3), intrinsics=Intrinsics.realsense_d435(320, 240)
    )
    frames = [item.frame for item in source]
    config, tracker = SegmentationConfig(), TableTracker()
    for frame in frames:
        tracked, full = tracker.fit(frame, config), fit_table(frame, config)
        angle_deg = np.degrees(np.arccos(np.clip(tracked.plane.normal @ full.plane.normal, -1, 1)))
        assert angle_deg < 0.05 and abs(tracked.plane.offset_m - full.plane.offset_m) < 0.001
    assert (tracker.full_fits, tracker.tracked) == (2, len(frames) - 2)  # at 0 s and 1 s
    tilted = replace(
        frames[-1], stamp_ns=frames[-1].stamp_ns + 50_000_000, depth_m=frames[-1].depth_m[::-1].copy()
    )
    tracker.fit(tilted, config)  # upside down: the last plane holds too few of its points
    assert tracker.full_fits == 3
    tracker.fit(frames[0], config)  # backwards
    assert tracker.full_fits == 4


def test_labels_grow_into_the_depth_holes_that_touch_them() -> None:
    labels = np.zeros((9, 12), dtype=np.int32)
    labels[2:5, 1:3] = 1
    labels[2:5, 9:11] = 2
    holes = np.zeros(labels.shape, dtype=bool)
    holes[2:5, 3:9] = True  # a hole between both objects: each takes its nearer half
    holes[7:9, 0:3] = True  # a hole touching no label
    grown = grow_into_holes(labels, holes, max_px=10.0)
    assert (grown[2:5, 3:6] == 1).all() and (grown[2:5, 6:9] == 2).all()
    assert (grown[7:9, 0:3] == 0).all()
    assert (grown[~holes] == labels[~holes]).all()  # pixels with depth keep their label
    near = grow_into_holes(labels, holes, max_px=1.0)
    assert (near[2:5, 3] == 1).all() and (near[2:5, 4:8] == 0).all()
    assert grow_into_holes(labels, holes, max_px=0.0) is labels


def test_an_object_with_missing_depth_keeps_its_whole_mask(clean_frame: SynthFrame) -> None:
    """The upper third of an object's depth gone (a dark or shiny top): its segment still covers it."""
    frame = clean_frame.frame
    obj = max((o for o in clean_frame.objects if o.category != "laptop"), key=lambda o: o.visible_pixels)
    whole = frame.instance_mask == obj.mask_id
    rows = np.nonzero(whole.any(axis=1))[0]
    lost = whole & (np.arange(frame.depth_m.shape[0])[:, None] < np.quantile(rows, 1 / 3))
    holed = replace(frame, depth_m=np.where(lost, 0.0, frame.depth_m))

    def iou(config: SegmentationConfig) -> float:
        mask, _ = segment_tabletop(holed, config)
        labels, counts = np.unique(mask[whole & ~lost], return_counts=True)
        segment = mask == labels[np.argmax(counts)]
        return np.sum(segment & whole) / np.sum(segment | whole)

    lost_share = np.sum(lost) / np.sum(whole)
    assert lost_share > 0.2
    assert iou(SegmentationConfig()) > 0.8
    assert iou(SegmentationConfig(hole_fill_m=0.0)) < 1.0 - 0.8 * lost_share  # most of the lost part missing


def test_labels_grow_into_the_thin_parts_attached_to_them() -> None:
    """A 12 mm slab (a laptop's base) beside a labelled lid, in 5 mm of depth noise (1.4 m): the
    lid's label spreads over the slab; a slab touching no label and the noisy table stay out."""
    rng = np.random.default_rng(0)
    noise_m = np.full((40, 60), 0.005)
    height_m = rng.normal(0.0, 0.005, noise_m.shape)
    labels = np.zeros(noise_m.shape, dtype=np.int32)
    labels[10:30, 5:8] = 1  # the lid, clustered
    height_m[10:30, 8:30] += 0.012  # its base
    height_m[10:30, 45:55] += 0.012  # a slab on its own
    height_m[20, 15] = np.nan  # a cell without depth inside the base
    grown = grow_into_thin_parts(labels, height_m, noise_m, min_height_m=0.008, max_cells=40)
    assert np.mean(grown[12:28, 8:28] == 1) > 0.95  # its border: the window's median is the table
    assert np.mean(grown[10:30, 8:30] == 1) > 0.8
    assert (grown[10:30, 45:55] == 0).all()
    table = np.ones(labels.shape, dtype=bool)
    table[8:32, 3:32] = table[10:30, 45:55] = False
    assert np.mean(grown[table] > 0) < 0.01
    near = grow_into_thin_parts(labels, height_m, noise_m, min_height_m=0.008, max_cells=5)
    assert (near[10:30, 14:30] == 0).all()  # five steps from the lid at most
    assert grow_into_thin_parts(labels, height_m, noise_m, 0.008, max_cells=0) is labels


def test_a_laptop_far_away_keeps_its_thin_base() -> None:
    """At 1.2-1.5 m a laptop's base sinks into the depth noise of the clustering threshold and its
    segment was the lid alone (mask IoU 0.36 with this frame's laptop); the thin-part growth gives
    it its base back without taking the table around the other objects."""
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain(
        "realsense", lying_probability=0.0, camera_distance_m=(1.2, 1.5), objects_range=(3, 4)
    )
    rng = np.random.default_rng(0)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "val"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    truth = synth.frame.instance_mask

    def iou(mask: np.ndarray, mask_id: int) -> float:
        whole = truth == mask_id
        labels, counts = np.unique(mask[whole & (mask > 0)], return_counts=True)
        if not len(labels):
            return 0.0
        segment = mask == labels[np.argmax(counts)]
        return float(np.sum(segment & whole) / np.sum(segment | whole))

    with_base, _ = segment_tabletop(synth.frame)
    lid_only, _ = segment_tabletop(synth.frame, SegmentationConfig(thin_part_reach_m=0.0))
    laptop = next(o for o in synth.objects if o.category == "laptop")
    assert iou(lid_only, laptop.mask_id) < 0.5 and iou(with_base, laptop.mask_id) > 0.6
    for other in synth.objects:
        if other.mask_id != laptop.mask_id and other.visible_pixels > 200:
            assert iou(with_base, other.mask_id) > iou(lid_only, other.mask_id) - 0.02, other.category


def test_thin_part_reach_is_a_pipeline_setting() -> None:
    """`thin_part_reach_m` (node parameter and PipelineConfig field) reaches the segmentation; 0
    turns the growth off and a negative reach is refused where it is set."""
    from diff9d_ros.pipeline import PipelineConfig
    from diff9d_ros.stages import SegmentationStage

    assert SegmentationStage(PipelineConfig()).config_for(640).thin_part_reach_m == 0.35
    assert SegmentationStage(PipelineConfig(thin_part_reach_m=0.0)).config_for(640).thin_part_reach_m == 0.0
    with pytest.raises(ValueError, match="thin_part_reach_m"):
        PipelineConfig(thin_part_reach_m=-0.1).validate()
    with pytest.raises(ValueError, match="thin_part_reach_m"):
        SegmentationConfig(thin_part_reach_m=-0.1)


def test_a_thin_part_goes_to_the_object_it_shares_the_longest_border_with() -> None:
    """A mug standing at the corner of a laptop's base reaches part of the base first; the base
    still goes whole to the lid along its hinge."""
    noise_m = np.full((40, 60), 0.002)
    height_m = np.zeros(noise_m.shape)
    labels = np.zeros(noise_m.shape, dtype=np.int32)
    labels[10:30, 5:8] = 1  # the lid, along the base's left edge
    height_m[10:30, 8:40] = 0.012  # the base
    labels[28:32, 40:44] = 2  # a mug at the base's far corner, reaching it first on that side
    grown = grow_into_thin_parts(labels, height_m, noise_m, min_height_m=0.008, max_cells=40)
    base = grown[10:30, 8:40]
    assert not (base == 2).any() and np.mean(base == 1) > 0.95  # its corners: the median is the table
    assert (grown[labels == 2] == 2).all()


def _dark_frame(seed: int) -> SynthFrame:
    """A clean tabletop frame at 1.3-1.5 m whose objects return depth on 40 % of their pixels, at
    random (a dark surface for a stereo sensor)."""
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain(
        "clean", lying_probability=0.0, camera_distance_m=(1.3, 1.5), objects_range=(3, 4)
    )
    rng = np.random.default_rng(seed)
    synth = synthesize(
        compose_scene(rng, config, intrinsics, "val"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )
    noise = np.random.default_rng(1).random(synth.frame.depth_m.shape)
    dropped = (synth.frame.instance_mask > 0) & (noise < 0.6)
    depth_m = np.where(dropped, np.nan, synth.frame.depth_m).astype(np.float32)
    return replace(synth, frame=replace(synth.frame, depth_m=depth_m))


def _best_mask_iou(mask: np.ndarray, truth: np.ndarray, mask_id: int) -> float:
    whole = truth == mask_id
    labels = [k for k in np.unique(mask[whole]) if k > 0]
    return max((np.sum((mask == k) & whole) / np.sum((mask == k) | whole) for k in labels), default=0.0)


def test_dark_objects_far_away_are_bridged_over_their_depth_holes() -> None:
    """With 60 % of an object's depth gone at 1.4 m, its points cluster into fragments below the
    size threshold and no object of this frame is found; the holes bridged by the median of their
    neighbours (`hole_bridge_cells`), every one is."""
    synth = _dark_frame(1)
    truth = synth.frame.instance_mask
    bridged, _ = segment_tabletop(synth.frame)
    fragments, _ = segment_tabletop(synth.frame, SegmentationConfig(hole_bridge_cells=0))
    for obj in synth.objects:
        assert _best_mask_iou(bridged, truth, obj.mask_id) > 0.6, obj.category
        assert _best_mask_iou(fragments, truth, obj.mask_id) < 0.5, obj.category
    with pytest.raises(ValueError, match="hole_bridge_cells"):
        SegmentationConfig(hole_bridge_cells=-1)


def test_grid_components_split_what_voxels_join_across_a_gap_in_the_image() -> None:
    """Two patches 1.3 cm apart with a column of no depth between them: 26 neighbouring voxels of
    1.2 cm join them, the pixel grid does not; a fragment of a split cluster goes to the part
    of its nearest point."""
    from diff9d_ros.geometry.clusters import grid_components, voxel_clusters
    from diff9d_ros.pose.segmentation import split_touching

    points, grid_rows, grid_cols, spacing_m = _two_patches()
    assert len(np.unique(voxel_clusters(points, 0.012))) == 1
    step_gap_m = np.full(len(points), 3 * spacing_m)
    components = grid_components(points, grid_rows, grid_cols, step_gap_m, 0.012)
    left, right = grid_cols < 10, grid_cols > 10
    assert len(np.unique(components)) == 2
    assert len(np.unique(components[left])) == 1 and len(np.unique(components[right])) == 1
    # one cluster of both patches and a stray point beside the right one, on a grid cell of its own
    points = np.concatenate([points, [[22 * spacing_m, 25 * spacing_m, 1.0]]])
    components = np.append(components, components.max() + 1)
    measured = np.ones(len(points), dtype=bool)
    spacing = np.full(len(points), spacing_m)
    heights_m = np.where(np.append(left, False), 0.10, 0.05)  # two objects: their tops differ
    config = SegmentationConfig(min_cluster_points=30, min_cluster_area_m2=5e-4)
    labels = np.zeros(len(points), dtype=np.int64)
    split = split_touching(labels, components, points, measured, spacing, config, heights_m, 0.012)
    assert len(np.unique(split)) == 2
    assert split[-1] == split[np.flatnonzero(right)[0]] != split[np.flatnonzero(left)[0]]
    whole = split_touching(
        labels,
        components,
        points,
        measured,
        spacing,
        replace(config, min_cluster_points=300),
        heights_m,
        0.012,
    )
    assert (whole == 0).all()  # parts too small to stand alone stay one cluster


def _two_patches(rows_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Points (N, 3) of two 20 x 10 grid patches 6.5 mm apart per cell, either side of a column
    without depth (1.3 cm), the right one moved ``rows_offset`` rows down; their rows and columns."""
    rows, cols = np.mgrid[0:20, 0:21]
    rows = np.where(cols > 10, rows + rows_offset, rows)
    keep = (cols != 10).ravel()
    spacing_m = 0.0065
    points = np.stack([cols.ravel() * spacing_m, rows.ravel() * spacing_m, np.ones(rows.size)], axis=1)[keep]
    return points, rows.ravel()[keep], cols.ravel()[keep], spacing_m


@pytest.mark.parametrize(("rows_offset", "parts"), [(0, 1), (18, 2)])
def test_parts_with_level_tops_that_meet_along_a_line_stay_one_object(rows_offset: int, parts: int) -> None:
    """Grid parts of one cluster whose tops are level rejoin when they meet along 13 cm (a mug's
    outer and inner wall, a laptop's lid and base), not when they meet over two rows (1.3 cm: two
    objects of one height that touch)."""
    points = _two_patches(rows_offset)[0]
    split = _split_two_patches(np.full(len(points), 0.08), rows_offset)
    assert len(np.unique(split)) == parts


def _split_two_patches(heights_m: np.ndarray, rows_offset: int = 0) -> np.ndarray:
    """:func:`split_touching` of :func:`_two_patches` with ``heights_m`` (two grid components, one
    voxel cluster)."""
    from diff9d_ros.geometry.clusters import grid_components
    from diff9d_ros.pose.segmentation import split_touching

    points, grid_rows, grid_cols, spacing_m = _two_patches(rows_offset)
    components = grid_components(points, grid_rows, grid_cols, np.full(len(points), 3 * spacing_m), 0.012)
    assert len(np.unique(components)) == 2
    return split_touching(
        np.zeros(len(points), dtype=np.int64),
        components,
        points,
        np.ones(len(points), dtype=bool),
        np.full(len(points), spacing_m),
        SegmentationConfig(min_cluster_points=30, min_cluster_area_m2=5e-4),
        heights_m,
        0.012,
    )


def test_a_thin_part_stays_with_the_part_it_meets_along_a_line() -> None:
    """A part no higher than a laptop's base (2 cm) rejoins the tall part it meets along 13 cm (the
    lid); two parts whose tops are level but stand 9 cm apart (the lids of two cans side by side, the
    highest points at the far edges) stay split."""
    _, _, grid_cols, _ = _two_patches()
    lid_and_base = np.where(grid_cols < 10, 0.02, 0.20)
    assert len(np.unique(_split_two_patches(lid_and_base))) == 1
    tops_apart = 0.05 + 0.003 * np.abs(grid_cols - 10)  # level tops (8 cm) at columns 0 and 20
    assert len(np.unique(_split_two_patches(tops_apart))) == 2


def test_touching_objects_in_clutter_are_found_apart() -> None:
    """On cluttered tabletops (4-6 objects, 4-8 distractors), more objects get a segment with mask
    IoU 0.5 when depth holes are bridged, and more again when touching objects are split on the
    pixel grid (`split_gap_spacings`)."""
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain("realsense", objects_range=(4, 6), distractors_range=(4, 8))
    rng = np.random.default_rng(3)
    renderer = Renderer(intrinsics, nthreads=1)
    frames = [
        synthesize(compose_scene(rng, config, intrinsics, "val"), renderer, config.sensor, rng)
        for _ in range(12)
    ]

    def found(segmentation: SegmentationConfig) -> int:
        count = 0
        for synth in frames:
            mask, _ = segment_tabletop(synth.frame, segmentation)
            truth = synth.frame.instance_mask
            count += sum(
                _best_mask_iou(mask, truth, o.mask_id) >= 0.5
                for o in synth.objects
                if o.visible_pixels >= 100
            )
        return count

    neither = found(SegmentationConfig(hole_bridge_cells=0, split_gap_spacings=0))
    bridged = found(SegmentationConfig(split_gap_spacings=0))
    both = found(SegmentationConfig())
    assert bridged >= neither + 3 and both >= bridged + 3, (neither, bridged, both)
    with pytest.raises(ValueError, match="split_gap_spacings"):
        SegmentationConfig(split_gap_spacings=-1.0)
