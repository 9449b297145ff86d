"""Atomic writes: the target holds the new content and no temporary file is left beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.atomic_files import cached_npz, save_npz, save_torch


def test_save_npz_and_save_torch_replace_the_target_whole(tmp_path: Path) -> None:
    npz = tmp_path / "cache.npz"
    save_npz(npz, {"a": np.arange(3)})
    save_npz(npz, {"a": np.arange(5), "b": np.ones(2)})
    with np.load(npz) as stored:
        np.testing.assert_array_equal(stored["a"], np.arange(5))
        assert sorted(stored.files) == ["a", "b"]
    model = tmp_path / "model.pt"
    save_torch({"step": 1}, model)
    save_torch({"step": 2}, model)
    assert torch.load(model, weights_only=True) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz", "model.pt"]


def test_cached_npz_builds_once_then_reads(tmp_path: Path) -> None:
    calls = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(4.0)}

    path = tmp_path / "sub" / "cache.npz"
    first = cached_npz(path, build)
    second = cached_npz(path, build)
    assert len(calls) == 1 and path.is_file()
    np.testing.assert_array_equal(first["x"], second["x"])


def test_cached_npz_builds_again_over_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    path.write_bytes(b"PK\x03\x04 cut short")  # a zip header and nothing after it
    arrays = cached_npz(path, lambda: {"x": np.arange(3)})
    np.testing.assert_array_equal(arrays["x"], np.arange(3))
    with np.load(path) as stored:  # replaced by a readable file
        np.testing.assert_array_equal(stored["x"], np.arange(3))


def test_cached_npz_goes_on_when_the_cache_cannot_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the cache folder would be")
    arrays = cached_npz(blocked / "cache.npz", lambda: {"x": np.arange(2)})
    np.testing.assert_array_equal(arrays["x"], np.arange(2))
    assert blocked.is_file()


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    save_torch({"step": 1}, target)
    with pytest.raises(Exception):  # noqa: B017 - whatever torch raises for an unpicklable payload
        save_torch({"step": lambda: 2}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    assert torch.load(target, weights_only=True) == {"step": 1}
