"""CPU threads: one count for torch, OpenMP and BLAS, resolved and applied; the default is 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from diff9d_ros import threads
from diff9d_ros.pipeline import PipelineConfig


def test_resolve_takes_counts_and_zero_means_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threads.resolve_threads(3) == 3
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (5.4, 0.0, 0.0))
    assert threads.resolve_threads(0) == 3  # 8 cores, about 5 busy
    monkeypatch.setattr(os, "getloadavg", lambda: (12.0, 0.0, 0.0))
    assert threads.resolve_threads(0) == 1  # never fewer than one
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be an integer >= 0"):
            threads.resolve_threads(bad)


def test_apply_sets_the_environment_and_a_loaded_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    for name in threads.THREAD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    try:
        assert threads.apply_threads(2) == 2
        assert torch.get_num_threads() == 2
        assert all(os.environ[name] == "2" for name in threads.THREAD_ENV_VARS)
    finally:
        torch.set_num_threads(before)


def test_a_torch_loaded_later_reads_the_count() -> None:
    """The command sets the count before torch is imported: torch then starts with it."""
    code = (
        "from diff9d_ros.threads import apply_threads; apply_threads(1); "
        "import torch; print(torch.get_num_threads())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"


def test_default_is_one_thread_everywhere() -> None:
    from diff9d_ros.cli import build_parser

    assert threads.DEFAULT_THREADS == 1 and PipelineConfig().threads == 1
    assert build_parser().parse_args(["synth", "bag", "--out", "x"]).threads == 1
    assert build_parser().parse_args(["run", "--threads", "0"]).threads == 0
    with pytest.raises(ValueError, match="threads must be >= 0"):
        PipelineConfig(threads=-2).validate()
