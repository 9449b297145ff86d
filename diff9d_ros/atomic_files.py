"""Files written whole or not at all: a temporary sibling, then an atomic rename over the target;
and array caches built on first use.

Caches and checkpoints are read by other processes (DDP ranks, data-generation workers, a resumed
run) and runs are killed mid-write; the temporary name carries the process id, so concurrent writers
of the same file never share one. A cache file that cannot be read (a disk that filled up, a copy cut
short) is built again rather than failing the run.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)


def cache_root() -> Path:
    """The folder of the project's caches built on first use: ``$DIFF9D_CACHE`` or
    ``~/.cache/diff9d_ros``."""
    return Path(os.environ.get("DIFF9D_CACHE") or Path.home() / ".cache" / "diff9d_ros")


def _temporary(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}.tmp{suffix}")


def _write_then_replace(tmp: Path, path: Path, write: Callable[[], object]) -> None:
    """``write()`` to ``tmp``, then rename it over ``path``; a write that fails (a full disk)
    leaves neither a temporary file nor a changed ``path``."""
    try:
        write()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` of ``arrays`` to ``path``, atomically."""
    path = Path(path)
    tmp = _temporary(path, ".npz")  # np.savez appends .npz to any other name
    _write_then_replace(tmp, path, lambda: np.savez(tmp, **arrays))


def save_torch(payload: Any, path: str | Path) -> None:
    """``torch.save`` of ``payload`` to ``path``, atomically."""
    import torch

    path = Path(path)
    tmp = _temporary(path, "")
    _write_then_replace(tmp, path, lambda: torch.save(payload, tmp))


def cached_npz(path: str | Path, build: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays stored at ``path``; where there are none yet, or the file cannot be read,
    ``build()``'s, saved there first (when the cache folder cannot be written, a read-only or full
    disk, they are returned unsaved: a cache only saves time)."""
    path = Path(path)
    if path.is_file():
        try:
            with np.load(path) as stored:
                return {key: stored[key] for key in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            _log.warning("cache file %s cannot be read (%s); building it again", path, error)
    arrays = dict(build())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, arrays)
    except OSError as error:
        _log.warning("cache file %s cannot be written (%s); going on without it", path, error)
    return arrays
