"""Mesh libraries: where the category objects of a scene come from.

A :class:`MeshLibrary` hands :func:`diff9d_ros.synth.scene.compose_scene` one
:class:`~diff9d_ros.synth.meshes.CategoryMesh` per draw:

* ``MeshLibrary.procedural(split)``: the procedural instances of a split (train, val, test, ood);
* ``MeshLibrary.from_folder(path)``: your own meshes, listed in ``meshes.yaml`` in that folder::

      meshes:
        - file: mug_white.obj      # relative to the folder; any format trimesh reads
          category: mug
          up_axis: +z              # the file's axis that points up (default +y)
          front_axis: +x           # the file's front: lens, laptop front edge, mug handle (default +x)
          scale: 0.001             # file units -> metres (default 1)
          family: my_mugs          # optional name for per-family reports (default: the file name)

Libraries are small and picklable (a folder library reloads its meshes in a worker process from
the cached files), so a dataset writer can send one to its workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from diff9d_ros.nocs import CATEGORIES, category_name
from diff9d_ros.synth.meshes import CategoryMesh, instance_mesh, split_ids

MANIFEST = "meshes.yaml"
_FIELDS = {"file", "category", "up_axis", "front_axis", "scale", "family"}


@dataclass(frozen=True)
class MeshEntry:
    """One manifest row: a mesh file and how to put it into the canonical frame."""

    file: str
    category: str
    up_axis: str = "+y"
    front_axis: str = "+x"
    scale: float = 1.0
    family: str = ""


@dataclass(frozen=True)
class MeshLibrary:
    """Procedural instances of one split, or the meshes of a folder (see the module docstring).

    ``name`` is the split or the folder; ``entries`` is empty for a procedural library.
    """

    name: str
    entries: tuple[MeshEntry, ...] = ()
    _by_category: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def procedural(cls, split: str = "train") -> MeshLibrary:
        """The procedural instances of ``split``."""
        split_ids(split)
        return cls(split)

    @classmethod
    def from_folder(cls, folder: str | Path) -> MeshLibrary:
        """The meshes listed in ``folder/meshes.yaml``; every mesh is loaded and checked once here,
        so a bad file fails now with a ValueError naming it."""
        root = Path(folder)
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise ValueError(f"mesh folder {root} has no {MANIFEST} (see diff9d_ros/synth/library.py)")
        try:
            document = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ValueError(f"{manifest}: not valid YAML ({error})") from error
        rows = document.get("meshes") if isinstance(document, dict) else None
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{manifest}: expected a non-empty list under 'meshes:'")
        entries = []
        for k, row in enumerate(rows):
            if not isinstance(row, dict) or "file" not in row or "category" not in row:
                raise ValueError(f"{manifest}: entry {k} needs at least 'file' and 'category', got {row!r}")
            unknown = set(row) - _FIELDS
            if unknown:
                raise ValueError(
                    f"{manifest}: entry {k} has unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}"
                )
            entry = MeshEntry(
                file=str((root / str(row["file"])).resolve()),
                category=category_name(row["category"]),
                up_axis=str(row.get("up_axis", "+y")),
                front_axis=str(row.get("front_axis", "+x")),
                scale=float(row.get("scale", 1.0)),
                family=str(row.get("family", "")) or Path(str(row["file"])).stem,
            )
            entries.append(entry)
        library = cls(str(root), tuple(entries))
        for instance_id in range(len(entries)):
            library.mesh(instance_id)
        return library

    @property
    def is_procedural(self) -> bool:
        return not self.entries

    def categories(self) -> tuple[str, ...]:
        """The categories this library has meshes of (NOCS order)."""
        if self.is_procedural:
            return CATEGORIES
        return tuple(c for c in CATEGORIES if any(e.category == c for e in self.entries))

    def instance_ids(self, category: str) -> tuple[int, ...]:
        """Ids of the meshes of ``category`` (procedural ids, or manifest positions)."""
        if self.is_procedural:
            return tuple(split_ids(self.name))
        if category not in self._by_category:
            self._by_category[category] = tuple(
                i for i, e in enumerate(self.entries) if e.category == category
            )
        return self._by_category[category]

    def mesh(self, instance_id: int, category: str | None = None) -> CategoryMesh:
        """The mesh ``instance_id`` (procedural: of ``category``; folder: the manifest's row)."""
        if self.is_procedural:
            if category is None:
                raise ValueError("a procedural library needs the category of an instance id")
            return instance_mesh(category, instance_id)
        entry = self.entries[instance_id]
        return CategoryMesh.from_file(
            entry.file,
            entry.category,
            entry.up_axis,
            entry.front_axis,
            entry.scale,
            instance_id=instance_id,
            family=entry.family,
        )

    def draw(self, category: str, rng: np.random.Generator) -> CategoryMesh:
        """One mesh of ``category``, uniformly over this library's instances."""
        if self.is_procedural:
            ids = split_ids(self.name)
            return instance_mesh(category, int(rng.integers(ids.start, ids.stop)))
        ids = self.instance_ids(category)
        if not ids:
            raise ValueError(f"mesh library {self.name} has no {category}; it has {self.categories()}")
        return self.mesh(ids[int(rng.integers(len(ids)))])
