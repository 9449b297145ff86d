"""Imperfect masks: each corruption does what real segmenters do, and only that."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth import masks
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import SynthFrame, synthesize


@pytest.fixture(scope="module")
def frame() -> SynthFrame:
    intrinsics = Intrinsics.realsense_d435(320, 240)
    # a low camera: the far background is behind the objects, for the bleed to reach into; no laptop
    # to fill the view
    config = RandomizationConfig.for_domain(
        "clean",
        objects_range=(3, 4),
        distractors_range=(0, 0),
        categories=("bottle", "bowl", "camera", "can", "mug"),
        lying_probability=0.0,
        camera_distance_m=(0.45, 0.95),
        camera_elevation_deg=(20.0, 35.0),
    )
    rng = np.random.default_rng(3)
    return synthesize(
        compose_scene(rng, config, intrinsics, "test"), Renderer(intrinsics, nthreads=1), config.sensor, rng
    )


def _objects(frame: SynthFrame) -> list[np.ndarray]:
    return [frame.frame.instance_mask == o.mask_id for o in frame.objects if o.visible_pixels > 300]


def test_bleed_adds_background_behind_the_object(frame: SynthFrame) -> None:
    depth = frame.frame.depth_m
    shares = []
    for k, mask in enumerate(_objects(frame)):
        bled = masks.bleed(mask, depth, np.random.default_rng(k))
        assert np.all(bled[mask]), "bleed only adds pixels"
        added = bled & ~mask
        shares.append(added.sum() / bled.sum())
        # Every added pixel lies 5-25 cm behind the nearest object pixel.
        _, (r, c) = ndimage.distance_transform_edt(~mask, return_indices=True)
        behind = (depth - depth[r, c])[added]
        assert np.all((behind >= 0.05 - 1e-6) & (behind <= 0.25 + 1e-6)), behind
    assert max(shares) > 0.05 and max(shares) <= 0.12 + 1e-3, shares


def test_erode_dilate_moves_the_edge_by_one_to_four_pixels(frame: SynthFrame) -> None:
    mask = _objects(frame)[0]
    for seed in range(6):
        out = masks.erode_dilate(mask, np.random.default_rng(seed))
        changed = out ^ mask
        assert changed.any()
        grown = out.sum() > mask.sum()
        assert np.all(out[mask]) if grown else np.all(mask[out])  # a pure dilation or erosion
        distance = ndimage.distance_transform_edt(~mask if grown else mask)
        assert distance[changed].max() <= 4 * np.sqrt(2) + 1e-9


def test_blobby_and_partial_masks(frame: SynthFrame) -> None:
    for k, mask in enumerate(_objects(frame)):
        blob = masks.blobby(mask, np.random.default_rng(k))
        iou = np.sum(blob & mask) / np.sum(blob | mask)
        assert 0.5 < iou < 1.0, iou
        part = masks.partial(mask, np.random.default_rng(k))
        assert np.all(mask[part]) and 0.45 <= part.sum() / mask.sum() <= 0.9


def test_corrupt_mask_is_seeded_and_checks_its_input(frame: SynthFrame) -> None:
    mask, depth = _objects(frame)[0], frame.frame.depth_m
    a, name_a = masks.corrupt_mask(mask, depth, np.random.default_rng(7))
    b, name_b = masks.corrupt_mask(mask, depth, np.random.default_rng(7))
    assert name_a == name_b and np.array_equal(a, b)
    with pytest.raises(ValueError, match="unknown mask corruption"):
        masks.corrupt_mask(mask, depth, np.random.default_rng(0), ("smudge",))
    with pytest.raises(ValueError, match="empty"):
        masks.blobby(np.zeros_like(mask), np.random.default_rng(0))
    with pytest.raises(ValueError, match="bool"):
        masks.partial(mask.astype(np.uint8), np.random.default_rng(0))
