"""Distractors are none of the categories: no plain cylinder of a can's size, no box of a camera's."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.synth.distractors import draw_distractor_dims, lookalike_category
from diff9d_ros.synth.families import FAMILIES
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.scene import PRIMITIVE_KINDS, compose_scene


@pytest.mark.parametrize("family", FAMILIES["can"], ids=[f.name for f in FAMILIES["can"]])
def test_a_cylinder_of_every_can_family_s_size_is_a_can(family) -> None:
    middle = family.midpoint()
    radius = middle["diameter"] / 2
    assert lookalike_category("cylinder", np.array([radius, radius, middle["height"]])) == "can"


@pytest.mark.parametrize("family", FAMILIES["camera"], ids=[f.name for f in FAMILIES["camera"]])
def test_a_box_of_every_camera_body_s_size_is_a_camera(family) -> None:
    middle = family.midpoint()
    # Any orientation of the box: extents are compared sorted.
    extents = np.array([middle["depth"], middle["width"], middle["height"]])
    assert lookalike_category("box", extents) == "camera"


def test_shapes_of_no_category_are_not_look_alikes() -> None:
    assert lookalike_category("cylinder", np.array([0.01, 0.01, 0.14])) is None  # a pen-like rod
    assert lookalike_category("cylinder", np.array([0.05, 0.05, 0.015])) is None  # a coaster-like disc
    assert lookalike_category("box", np.array([0.12, 0.12, 0.03])) is None  # a flat square box
    assert lookalike_category("sphere", np.full(3, 0.04)) is None


@pytest.mark.parametrize("kind", ["box", "cylinder"])
def test_drawn_distractor_dimensions_are_never_look_alikes(kind: str) -> None:
    rng = np.random.default_rng(4)
    drawn = [draw_distractor_dims(kind, rng) for _ in range(300)]
    assert all(lookalike_category(kind, dims) is None for dims in drawn)
    assert len({tuple(np.round(d, 4)) for d in drawn}) == len(drawn)  # still random


def test_cluttered_scenes_hold_distractors_and_no_look_alike() -> None:
    config = RandomizationConfig(objects_range=(2, 3), distractors_range=(6, 8))
    intrinsics = Intrinsics.realsense_d435()
    rng = np.random.default_rng(9)
    distractors = [
        obj
        for _ in range(6)
        for obj in compose_scene(rng, config, intrinsics, "train").objects
        if obj.kind in PRIMITIVE_KINDS and obj.mask_id == 0 and obj.name.startswith("distractor")
    ]
    assert len(distractors) >= 24
    assert {obj.kind for obj in distractors} == set(PRIMITIVE_KINDS)
    assert all(lookalike_category(obj.kind, obj.dims_m) is None for obj in distractors)
