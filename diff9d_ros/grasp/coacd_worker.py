"""Child process of :func:`diff9d_ros.grasp.physics.coacd_parts`: CoACD on one mesh.

``python -m diff9d_ros.grasp.coacd_worker MESH.npz PARTS.npz SETTINGS_JSON`` reads ``vertices`` and
``faces`` from MESH.npz, runs CoACD (seed 0) with the settings, and writes the parts to PARTS.npz
(``n``, then ``v0``, ``f0``, ...). CoACD aborts its process on a failed assertion in its native
code, which is why it runs here: the caller sees a non-zero exit status.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(argv: list[str]) -> None:
    import coacd

    mesh_path, parts_path, settings = argv
    with np.load(mesh_path) as mesh:
        vertices, faces = mesh["vertices"], mesh["faces"]
    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(vertices, faces), seed=0, **json.loads(settings))
    arrays = {"n": np.array(len(parts))}
    for i, (v, f) in enumerate(parts):
        arrays[f"v{i}"], arrays[f"f{i}"] = np.asarray(v), np.asarray(f)
    with open(parts_path, "wb") as out:
        np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1:])
