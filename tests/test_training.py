"""The shared training utility: the schedule and the weight average resume exactly, the shipped
file drops the resume-only state, and both trainers run under ``torchrun`` (two gloo ranks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from diff9d_ros.training import (
    DistributedRun,
    exponential_average,
    warmup_cosine,
    warmup_cosine_factor,
    write_model_file,
)

REPO = Path(__file__).resolve().parents[1]


def _rates(optimizer: torch.optim.Optimizer, scheduler, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_cosine_follows_its_factor_and_resumes_at_any_step() -> None:
    weight = nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([weight], lr=2e-3)
    whole = _rates(optimizer, warmup_cosine(optimizer, 2e-3, 5, 40, 0.1), 40)
    expected = [2e-3 * warmup_cosine_factor(step, 5, 40, 0.1) for step in range(40)]
    np.testing.assert_allclose(whole, expected, rtol=1e-12)
    assert whole[0] == pytest.approx(2e-3 / 5) and whole[5] == pytest.approx(2e-3)
    assert whole[-1] == pytest.approx(2e-4, rel=0.05) and warmup_cosine_factor(40, 5, 40, 0.1) == 0.1
    resumed = torch.optim.Adam([weight], lr=2e-3)
    resumed.load_state_dict(optimizer.state_dict())  # carries a decayed rate
    np.testing.assert_allclose(_rates(resumed, warmup_cosine(resumed, 2e-3, 5, 40, 0.1, 17), 23), whole[17:])


def test_exponential_average_is_the_warm_started_ema_and_resumes() -> None:
    model = nn.Linear(3, 2)
    average = exponential_average(model, decay=0.9)
    expected = [p.detach().clone() for p in model.parameters()]
    for k in range(6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update_parameters(model)
        d = min(0.9, (1 + k) / (10 + k))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters(), strict=True)]
        for got, want in zip(average.module.parameters(), expected, strict=True):
            torch.testing.assert_close(got, want)
        assert not any(p.requires_grad for p in average.parameters())
    resumed = exponential_average(model, decay=0.9, updates=6)
    resumed.module.load_state_dict(average.module.state_dict())
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update_parameters(model)
    resumed.update_parameters(model)
    torch.testing.assert_close(resumed.module.weight, average.module.weight)


def test_write_model_file_drops_the_resume_only_keys(tmp_path: Path) -> None:
    payload = {"state_dict": {"w": torch.ones(2)}, "optimizer": {"lr": 1.0}, "step": 3}
    shipped = write_model_file(payload, tmp_path / "models" / "m.pt", ("optimizer", "noise_rng"))
    assert set(shipped) == {"state_dict", "step"} and "optimizer" in payload
    assert set(torch.load(tmp_path / "models" / "m.pt", weights_only=True)) == {"state_dict", "step"}


def _torchrun(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_trajectory_training_runs_under_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _torchrun(
        ["-m", "diff9d_ros.cli", "traj", "train", "--task", "springs", "--data", str(tmp_path / "data"),
         "--out", str(out), "--steps", "4", "--batch-size", "4", "--hidden", "8", "--layers", "1",
         "--prior-layers", "1", "--eval-every", "4", "--eval-windows", "4", "--eval-steps", "2",
         "--num-trajectories", "8", "--history-encoder"],
        tmp_path,
    )  # fmt: skip
    payload = torch.load(out / "last.pt", weights_only=False)
    assert payload["world_size"] == 2 and payload["step"] == 4 and payload["config"]["history_encoder"]
    assert (out / "best.pt").is_file() and len((out / "log.jsonl").read_text().splitlines()) == 1


POSE_SCRIPT = """
import sys
from diff9d_ros.pose.dataset import ObjectArrays
from diff9d_ros.pose.network import NetworkConfig
from diff9d_ros.pose.train import TrainConfig, train
objects = ObjectArrays.load(sys.argv[1])
config = NetworkConfig(**{config})
train(objects, sys.argv[2], TrainConfig(steps=3, batch_size=4, noise_draws=1, warmup_steps=1), config)
"""


@pytest.mark.slow
def test_pose_training_runs_under_torchrun(tmp_path: Path) -> None:
    from diff9d_ros.pose.dataset import observe_objects
    from diff9d_ros.pose.network import NetworkConfig
    from diff9d_ros.pose.train import load_checkpoint
    from tests.test_pose_training import SMALL, _frames

    observe_objects(_frames("train", 6, 0), SMALL.num_points, SMALL.crop_px, seed=0).save(tmp_path / "o.npz")
    script = tmp_path / "train_pose.py"
    script.write_text(POSE_SCRIPT.replace("{config}", json.dumps(SMALL.as_dict())))
    _torchrun([str(script), str(tmp_path / "o.npz"), str(tmp_path / "pose.pt")], tmp_path)
    payload = load_checkpoint(tmp_path / "pose.pt")
    assert payload["step"] == 3 and NetworkConfig(**payload["network_config"]) == SMALL
    assert payload["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(1e-3)


def test_backend_follows_where_the_tensors_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert DistributedRun.from_environment().backend == "nccl"
    assert DistributedRun.from_environment(cpu_only=True).backend == "gloo"  # GeoTDM's CPU tensors
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert DistributedRun.from_environment().backend == "gloo"
