"""Training of the Diff9D pose network on synthetic objects (Diff9D, Liu et al., TPAMI 2025, Sec. 3.3).

Per batch the encoders run once per object; the pose target is repeated ``noise_draws`` times with
independent diffusion steps and noise, and the denoiser is trained with the diffusion core's
loss (:func:`diff9d_ros.diffusion.losses.training_loss`, Ho et al. 2020, Alg. 1, x0
parametrisation) around the prior mean given by the geometric baseline's box (GeoTDM-style prior,
Han et al. 2024, Sec. 4.2), on the rows that are objects; the category head adds a cross-entropy
term over the categories and the background class on every row. AdamW with linear warm-up and
cosine decay. Checkpoints (weights, optimiser, step, RNG-free resumable state) are written
atomically every ``checkpoint_every`` steps and at the end; ``resume`` continues from one.

Distributed: under ``torchrun`` (``WORLD_SIZE`` set) the process group uses gloo on CPU (NCCL on
GPUs), each rank draws its own batches and gradients are averaged by DistributedDataParallel;
rank 0 writes checkpoints. Schedule, distributed set-up and export: :mod:`diff9d_ros.training`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from diff9d_ros.atomic_files import save_torch
from diff9d_ros.diffusion.losses import training_loss
from diff9d_ros.diffusion.schedules import DiscreteVPSchedule
from diff9d_ros.pose.dataset import AugmentConfig, ObjectArrays, PoseDataset
from diff9d_ros.pose.network import BACKGROUND, PREDICTION, NetworkConfig, PoseNetwork
from diff9d_ros.training import DistributedRun, warmup_cosine, write_model_file

LOG = logging.getLogger(__name__)

#: Written into every checkpoint; :func:`load_checkpoint` refuses anything else. Format 2 added
#: the category head's background class and the hypothesis-spread calibration.
CHECKPOINT_FORMAT = "diff9d_ros.pose/2"
SCHEDULES = ("linear", "cosine")
#: The learning rate decays from ``TrainConfig.lr`` to this fraction of it (:func:`warmup_cosine`).
LR_FLOOR = 0.01
#: Keys of a training checkpoint that only resuming needs (dropped from a shipped model file).
RESUME_ONLY_KEYS: tuple[str, ...] = ("optimizer",)


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (saved in the checkpoint)."""

    steps: int = 20000
    batch_size: int = 32
    noise_draws: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    schedule: str = "linear"
    class_weight: float = 0.2
    seed: int = 0
    checkpoint_every: int = 500


def make_schedule(name: str) -> DiscreteVPSchedule:
    """The 1000-step discrete VP schedule ``name`` (``linear`` as in Diff9D, or ``cosine``)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULES}")
    return DiscreteVPSchedule.linear(1000) if name == "linear" else DiscreteVPSchedule.cosine(1000)


class TrainingObjective(nn.Module):
    """Loss of a batch: diffusion loss of the pose plus weighted category cross-entropy."""

    def __init__(self, network: PoseNetwork, config: TrainConfig) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.schedule = make_schedule(config.schedule)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        net, cfg = self.network, self.config
        cond = net.encode(batch["points_m"], batch["crop"])
        label = batch["category"]
        is_object = label != BACKGROUND
        category = torch.where(is_object, label, torch.zeros_like(label))  # any index for background
        x0 = net.codec.encode(batch["rotation"], batch["residual_m"], batch["size_m"], category)
        prior = net.codec.encode(
            batch["prior_rotation"], batch["prior_residual_m"], batch["prior_size_m"], category
        )
        draws = cfg.noise_draws
        prior = prior.repeat_interleave(draws, 0)
        extra = {"cond": cond.repeat_interleave(draws, 0), "category": category.repeat_interleave(draws, 0)}
        per_sample = training_loss(
            net,
            x0.repeat_interleave(draws, 0),
            self.schedule,
            PREDICTION,
            extra_args={**extra, "prior": prior},
            prior_mean=prior,
        )
        weight = is_object.repeat_interleave(draws).to(per_sample.dtype)
        diffusion = (per_sample * weight).sum() / weight.sum().clamp_min(1.0)
        logits = net.classify(cond)
        ce = nn.functional.cross_entropy(logits, label)
        accuracy = float((logits.argmax(1) == label).float().mean())
        loss = diffusion + cfg.class_weight * ce
        stats = {"loss": loss.item(), "diffusion": diffusion.item(), "ce": ce.item(), "acc": accuracy}
        return loss, stats


def save_checkpoint(
    path: Path,
    network: PoseNetwork,
    train_config: TrainConfig,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
) -> None:
    """Write weights, configs and (if given) the optimiser state atomically to ``path``."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "network_config": network.config.as_dict(),
        "train_config": asdict(train_config),
        "state_dict": network.state_dict(),
        "step": step,
        "extra": extra or {},
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch(payload, path)


def export_weights(checkpoint: str | Path, out: str | Path) -> dict:
    """Write ``checkpoint`` without its optimiser state to ``out`` (the shippable model file)."""
    return write_model_file(load_checkpoint(checkpoint), out, RESUME_ONLY_KEYS)


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at ``path``; ValueError naming the problem if it is not a pose checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"model file {path} is not a readable torch checkpoint: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        if isinstance(found, str) and found.startswith("diff9d_ros.pose/"):
            raise ValueError(
                f"model file {path} is a Diff9D pose checkpoint of format {found!r}, this version reads "
                f"{CHECKPOINT_FORMAT!r} (a category head with a background class): retrain it with "
                "`diff9d pose train`"
            )
        raise ValueError(f"model file {path} is not a Diff9D pose checkpoint (format {found!r})")
    return payload


def update_checkpoint(path: str | Path, entries: dict) -> None:
    """Set ``entries`` (key -> value) in the pose checkpoint at ``path``, atomically (the file is
    checked by :func:`load_checkpoint` first)."""
    payload = load_checkpoint(path)
    payload.update(entries)
    save_torch(payload, Path(path))


def network_from_checkpoint(payload: dict) -> PoseNetwork:
    """Rebuild the network of a checkpoint; ValueError if the weights do not fit its config."""
    try:
        network = PoseNetwork(NetworkConfig(**payload["network_config"]))
        network.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as error:
        raise ValueError(f"checkpoint weights do not match the pose network: {error}") from error
    return network


def _batches(dataset: PoseDataset, batch_size: int, seed: int, rank: int, start_step: int):
    """Endless stream of collated batches; the order depends only on (seed, rank, epoch)."""
    per_epoch = max(1, len(dataset) // batch_size)
    epoch, offset = divmod(start_step, per_epoch)
    while True:
        dataset.set_epoch(epoch * 1000 + rank)
        order = np.random.default_rng((seed, rank, epoch)).permutation(len(dataset))
        for b in range(offset, per_epoch):
            items = [dataset[int(i)] for i in order[b * batch_size : (b + 1) * batch_size]]
            yield {k: torch.stack([item[k] for item in items]) for k in items[0]}
        epoch, offset = epoch + 1, 0


def train(
    objects: ObjectArrays,
    out_path: str | Path,
    config: TrainConfig,
    network_config: NetworkConfig | None = None,
    augment: AugmentConfig | None = None,
    resume: bool = False,
    log_path: str | Path | None = None,
    max_seconds: float | None = None,
    initial: dict | None = None,
) -> PoseNetwork:
    """Train (or resume) a pose network on ``objects``; checkpoints go to ``out_path``.

    ``initial`` (a checkpoint payload, :func:`load_checkpoint`) fine-tunes: training starts from its
    weights and target normalisation (its network config replaces ``network_config``) at step 0
    with a fresh optimiser; ``resume`` with an existing ``out_path`` still continues from there.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with DistributedRun.from_environment() as run:
        device = run.device()
        torch.manual_seed(config.seed + run.rank)

        network = PoseNetwork(network_config)
        start_step = 0
        optimizer_state = None
        if resume and out_path.exists():
            payload = load_checkpoint(out_path)
            network = network_from_checkpoint(payload)
            start_step, optimizer_state = int(payload["step"]), payload.get("optimizer")
            LOG.info("resuming from %s at step %d", out_path, start_step)
        elif initial is not None:
            network = network_from_checkpoint(initial)
        else:
            rows = objects.category != BACKGROUND
            centroid = torch.from_numpy(objects.points_m[rows].mean(axis=1).astype(np.float64))
            network.codec.fit(
                torch.from_numpy(objects.translation_m[rows]) - centroid,
                torch.from_numpy(objects.size_m[rows]),
                torch.from_numpy(objects.category[rows]),
            )
        network.to(device)
        model = run.wrap(TrainingObjective(network, config).to(device))
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        scheduler = warmup_cosine(
            optimizer, config.lr, config.warmup_steps, config.steps, LR_FLOOR, start_step=start_step
        )
        dataset = PoseDataset(objects, augment if augment is not None else AugmentConfig(), seed=config.seed)
        stream = _batches(dataset, config.batch_size, config.seed, run.rank, start_step)
        log_file = open(log_path, "a", encoding="utf-8") if (log_path and run.is_main) else None
        started = time.monotonic()
        bar = tqdm(
            range(start_step, config.steps), initial=start_step, total=config.steps, disable=not run.is_main
        )
        try:
            for step in bar:
                batch = {k: v.to(device) for k, v in next(stream).items()}
                loss, stats = model(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                bar.set_postfix(loss=f"{stats['diffusion']:.4f}", acc=f"{stats['acc']:.2f}")
                done = step + 1
                if log_file is not None and done % 50 == 0:
                    log_file.write(json.dumps({"step": done, **stats}) + "\n")
                    log_file.flush()
                timed_out = max_seconds is not None and time.monotonic() - started > max_seconds
                if run.is_main and (done % config.checkpoint_every == 0 or done == config.steps or timed_out):
                    save_checkpoint(out_path, network.cpu(), config, done, optimizer)
                    network.to(device)
                if timed_out:
                    break
        finally:
            if log_file is not None:
                log_file.close()
    return network.cpu().eval()
