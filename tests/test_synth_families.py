"""Sub-families: they cover published dimensions of real objects; held-out families stay held out."""

from __future__ import annotations

import numpy as np
import pytest

from diff9d_ros.nocs import CATEGORIES
from diff9d_ros.synth.families import FAMILIES, families_of, family_named
from diff9d_ros.synth.meshes import SPLIT_IDS, instance_family, instance_mesh
from diff9d_ros.synth.references import REFERENCE_OBJECTS


@pytest.mark.parametrize("reference", REFERENCE_OBJECTS, ids=[r.name for r in REFERENCE_OBJECTS])
def test_families_cover_the_published_dimensions(reference) -> None:
    family = family_named(reference.category, reference.family)
    assert family.contains(reference.params), (reference.params, family.ranges)
    built = reference.build_size_m()
    published = np.array(reference.size_m)
    error = np.abs(built - published) / published
    assert np.all(error[list(reference.axes)] <= reference.tolerance), (built, published)


def test_every_family_has_a_reference_and_the_brief_s_objects_are_covered() -> None:
    referenced = {(r.category, r.family) for r in REFERENCE_OBJECTS}
    for category, families in FAMILIES.items():
        for family in families:
            assert (category, family.name) in referenced, (category, family.name)
    in_family = {
        (r.category, r.family) for r in REFERENCE_OBJECTS if not family_named(r.category, r.family).held_out
    }
    sizes = {r.name: r.size_m for r in REFERENCE_OBJECTS if (r.category, r.family) in in_family}
    # squat (tuna 87 x 40), standard beverage (66 x 122), slim energy drink (53 x 168), wide tin (~103)
    can_sizes = [
        s for n, s in sizes.items() if n in {r.name for r in REFERENCE_OBJECTS if r.category == "can"}
    ]
    for diameter, height in ((0.087, 0.040), (0.066, 0.122), (0.053, 0.168), (0.103, 0.119)):
        assert any(abs(s[0] - diameter) < 0.003 and abs(s[1] - height) < 0.004 for s in can_sizes)
    mugs = {f.name: f for f in FAMILIES["mug"] if not f.held_out}
    assert max(f.ranges["flare"][1] for f in mugs.values()) >= 1.4  # flare up to 1.4x in training
    assert min(f.ranges["handle_span"][0] for f in mugs.values()) <= 0.4  # short handles
    assert max(f.ranges["handle_span"][1] for f in mugs.values()) >= 0.8  # tall handles
    assert (
        min(f.ranges["wall"][0] for f in mugs.values())
        <= 0.002
        < 0.008
        <= max(f.ranges["wall"][1] for f in mugs.values())
    )
    assert min(f.ranges["height"][0] / f.ranges["radius"][1] / 2 for f in mugs.values()) < 0.6  # squat mugs
    for family in FAMILIES["laptop"]:
        assert family.ranges["lid_angle_deg"] == (70.0, 135.0)
    bottles = {f.name: f for f in FAMILIES["bottle"] if not f.held_out}
    assert (
        bottles["sauce"].ranges["depth_ratio"][0] < 0.8 and bottles["shampoo"].ranges["depth_ratio"][1] < 0.8
    )
    cameras = {f.name for f in FAMILIES["camera"]}
    assert {"dslr_body", "dslr_prime", "dslr_zoom", "compact", "action", "instant"} <= cameras


@pytest.mark.parametrize("category", CATEGORIES)
def test_held_out_families_appear_only_in_the_ood_split(category: str) -> None:
    held_out = {f.name for f in families_of(category, held_out=True)}
    assert held_out, f"{category} has no held-out family"
    seen: dict[str, set[str]] = {}
    for split, ids in SPLIT_IDS.items():
        seen[split] = {instance_family(category, i) for i in ids}
    for split in ("train", "val", "test"):
        assert not seen[split] & held_out, (split, seen[split] & held_out)
    assert seen["ood"] <= held_out
    assert seen["ood"] == held_out  # every held-out family is drawn
    assert seen["train"] == {f.name for f in families_of(category, held_out=False)}
    # instance_family is the family the mesh is built from
    for instance_id in (3, 905, 1010):
        assert instance_mesh(category, instance_id).family == instance_family(category, instance_id)
