"""Where the package's shared files (models/, urdf/, sim/, config/, launch/) are on this install.

Three layouts are found, in this order: the source tree (editable install or a checkout), a
``pip install`` (``<prefix>/share/diff9d_ros``, from setup.py's data_files) and a colcon install
(the same folder, found through ``AMENT_PREFIX_PATH`` without importing ament_index_python).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

PACKAGE = "diff9d_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


@cache
def share_dir() -> Path:
    """The folder that holds package.xml, models/, urdf/, sim/, config/ and launch/."""
    candidates = [_SOURCE_ROOT]
    candidates.append(Path(sys.prefix) / "share" / PACKAGE)
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE)
    for folder in candidates:
        if (folder / "package.xml").is_file():
            return folder
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{PACKAGE}: share folder with package.xml not found (searched {searched})")


def share_path(*parts: str) -> Path:
    """A path below :func:`share_dir`, e.g. ``share_path("urdf", "diff9d_robot.urdf")``."""
    return share_dir().joinpath(*parts)
