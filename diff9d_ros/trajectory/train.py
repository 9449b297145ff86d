"""Training GeoTDM (NeurIPS 2024, Sec. 4.3, Alg. 1): eps-prediction, linear 1000-step schedule.

Each step draws a batch of windows, computes the learnable prior ``x_r`` from the observed frames,
and takes the diffusion core's ``training_loss`` with the forward process centred at ``x_r``; the
gradient reaches the prior network through ``x_t``. Not in the paper: an auxiliary squared error
of the prior itself against the future (``prior_loss_weight``, 0 turns it off). With a few
thousand CPU steps instead of the paper's ~94k, a prior trained only through ``x_t`` stayed worse
than repeating the last frame; the auxiliary term makes it a deterministic forecaster that the
diffusion refines. Adam with linear warm-up and cosine decay,
gradient clipping, and an exponential moving average (EMA) of the weights, which is what gets
evaluated and exported.

Fine-tuning (``init_from``) starts from a trained model's weights and configuration; with
``variety_samples`` K it trains the forecast itself, the best of K samples of the validation sampler
(:class:`_VarietyLoss`), instead of the denoiser.

Checkpoints (``last.pt`` every few minutes and at the end, ``best.pt`` by validation ADE) hold the
EMA weights under ``state_dict`` (so :meth:`GeoTDM.load` reads them directly) plus everything needed
to resume bit-for-bit: raw weights, optimiser, step, data/noise generator states. Under ``torchrun``
the loss runs in ``DistributedDataParallel`` over the gloo backend; rank 0 evaluates and writes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diff9d_ros.atomic_files import save_torch
from diff9d_ros.diffusion import training_loss
from diff9d_ros.training import DistributedRun, exponential_average, warmup_cosine, write_model_file
from diff9d_ros.trajectory.datasets import load_windows, task_spec
from diff9d_ros.trajectory.evaluate import constant_velocity, displacement_errors, evaluate
from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig, load_checkpoint
from diff9d_ros.trajectory.sampling import (
    SpeedTemperature,
    forecast_samples,
    planar_projection,
    training_schedule,
)
from diff9d_ros.trajectory.windows import Windows, random_batch

LOG = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Everything that defines a training run (stored in every checkpoint)."""

    task: str
    out_dir: str
    data_dir: str | None = None
    hidden_dim: int = 64
    num_layers: int = 3
    prior_layers: int = 2
    history_encoder: bool = False  # GeoTDMConfig.history_encoder: the past encoded once per forecast
    batch_size: int = 64
    max_nodes: int = 2048
    steps: int = 6000
    lr: float = 1e-3
    warmup_steps: int = 200
    grad_clip: float = 1.0
    prior_loss_weight: float = 1.0  # auxiliary ||x_r - x_0||^2 (not in the paper; 0 = paper)
    loss_weighting: str = "simple"  # "simple": the paper's eps MSE; "edm": EDM lambda(sigma), see _Loss
    # sigma_data: the model's residual_std (diffusion units); None: measured on the training windows
    # (:func:`residual_rms`)
    residual_std: float | None = 0.25
    ema_decay: float = 0.999
    # Speed augmentation: every training window is scaled by a factor drawn log-uniformly from
    # [1 / speed_augment, speed_augment] (1 = off); see :func:`speed_scaled`.
    speed_augment: float = 1.0
    # Observation-noise augmentation: each training window's observed positions get Gaussian noise of
    # a standard deviation drawn uniformly from [0, obs_noise_m] (data units; 0 = off); see
    # :func:`observation_noised`.
    obs_noise_m: float = 0.0
    # Fine-tuning: start from this checkpoint's (EMA) weights, with its model configuration (which
    # replaces hidden_dim, num_layers, prior_layers, history_encoder and residual_std); None: from scratch.
    init_from: str | None = None
    # The objective: 0 trains the denoiser (GeoTDM Alg. 1); K > 0 trains the forecast, the best of K
    # samples drawn by the validation sampler below (:class:`_VarietyLoss`).
    variety_samples: int = 0
    seed: int = 1
    data_seed: int = 43
    threads: int = 1
    checkpoint_minutes: float = 3.0
    eval_every: int = 1000
    eval_windows: int = 256
    # The validation sampler, and the best-of-K objective's: name and steps, initial-noise temperature
    # (first, last future frame), step limit of fast scenes (data units per frame; None: off) and
    # speed scaling of the temperature ((reference, floor); None: off); see forecast_samples.
    eval_sampler: str = "ddim"
    eval_steps: int = 10
    eval_temperature: tuple[float, float] = (1.0, 1.0)
    eval_max_step: float | None = None
    eval_speed_temperature: tuple[float, float] | None = None
    limit_train: int | None = None
    num_trajectories: int | None = None  # N-body split size override (smoke runs); None: protocol
    extra: dict = field(default_factory=dict)


LOSS_WEIGHTINGS: tuple[str, ...] = ("simple", "edm")
#: The learning rate decays from ``TrainOptions.lr`` to this fraction of it (:func:`warmup_cosine`).
LR_FLOOR = 0.1


def check_speed_augment(speed_augment: float) -> float:
    """``speed_augment`` if it is a valid range bound (>= 1; 1 = off), else ValueError."""
    if not speed_augment >= 1.0:
        raise ValueError(f"speed_augment must be >= 1 (1 = off), got {speed_augment}")
    return speed_augment


def speed_scaled(
    batch: dict[str, torch.Tensor | None], speed_augment: float, generator: torch.Generator
) -> dict[str, torch.Tensor | None]:
    """``batch`` with each window's observed and future positions scaled by one factor, drawn
    log-uniformly from ``[1 / speed_augment, speed_augment]``.

    Scaling a window's positions about the origin scales its speeds (the frames keep their period)
    and, the denoiser being translation-equivariant, is the same as scaling about any point. The
    EGTN is equivariant to rotations, reflections and translations (GeoTDM Sec. 4.2) but not to
    scale: it learns the speeds it is shown, and a scene whose people walk faster than those of
    its training scenes (the ETH recording against the four others) is out of its range. The
    features of pedestrians (a constant) and their empty edge features carry no distance.
    """
    if check_speed_augment(speed_augment) == 1.0:
        return batch
    x_obs = batch["x_obs"]
    shape = (x_obs.shape[0],) + (1,) * (x_obs.dim() - 1)
    uniform = torch.rand(shape, generator=generator, dtype=x_obs.dtype)
    factor = torch.exp((2.0 * uniform - 1.0) * math.log(speed_augment))
    return {**batch, "x_obs": x_obs * factor, "x_future": batch["x_future"] * factor}


def check_obs_noise(obs_noise_m: float) -> float:
    """``obs_noise_m`` if it is a valid noise bound (>= 0; 0 = off), else ValueError."""
    if not obs_noise_m >= 0.0:
        raise ValueError(f"obs_noise_m must be >= 0 (0 = off), got {obs_noise_m}")
    return obs_noise_m


def observation_noised(
    batch: dict[str, torch.Tensor | None], obs_noise_m: float, planar: bool, generator: torch.Generator
) -> dict[str, torch.Tensor | None]:
    """``batch`` with Gaussian noise on each window's observed positions (not on its future), of a
    standard deviation drawn per window uniformly from ``[0, obs_noise_m]``; planar tasks keep z.

    ETH-UCY's positions were annotated by hand on overhead video; a robot's person detector sees
    people from the side and its positions jitter by centimetres from frame to frame. A model that
    saw only the annotations reads that jitter as changes of velocity. Noise of a random scale,
    including none, teaches it to read the observed track through the noise while the target
    stays the true future (a denoising objective on the input, as in Vincent et al. 2008).
    """
    if check_obs_noise(obs_noise_m) == 0.0:
        return batch
    x_obs = batch["x_obs"]
    shape = (x_obs.shape[0],) + (1,) * (x_obs.dim() - 1)
    scale = obs_noise_m * torch.rand(shape, generator=generator, dtype=x_obs.dtype)
    noise = torch.randn(x_obs.shape, generator=generator, dtype=x_obs.dtype) * scale
    if planar:
        noise[..., 2] = 0.0
    return {**batch, "x_obs": x_obs + noise}


class _Loss(nn.Module):
    """The scalar training loss as a module, so that DDP can wrap prior + denoiser together.

    ``weighting="simple"`` is the paper's eps MSE. ``"edm"`` weights it with EDM's ``lambda(sigma)``
    for ``sigma_data`` = the model's ``residual_std`` (the core's ``snr_weighting="edm_<sigma_data>"``),
    so that the network output behind the preconditioned eps has unit weight at every noise level.
    Under the simple loss that output is scaled by ``sqrt(abar)``, so its error at high noise (where
    a 3-step sampler makes its first, largest move) is worth almost nothing in the objective.
    """

    def __init__(
        self,
        model: GeoTDM,
        planar: bool,
        prior_weight: float,
        weighting: str,
        speed_augment: float = 1.0,
        obs_noise_m: float = 0.0,
    ) -> None:
        super().__init__()
        if weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss weighting must be one of {LOSS_WEIGHTINGS}, got {weighting!r}")
        self.model = model
        self.schedule = training_schedule()
        self.planar = planar
        self.prior_weight = prior_weight
        self.snr_weighting = None if weighting == "simple" else f"edm_{model.config.residual_std}"
        self.speed_augment = check_speed_augment(speed_augment)
        self.obs_noise_m = check_obs_noise(obs_noise_m)

    def forward(self, batch: dict[str, torch.Tensor | None], generator: torch.Generator) -> torch.Tensor:
        scale = self.model.config.position_scale
        batch = speed_scaled(batch, self.speed_augment, generator)
        batch = observation_noised(batch, self.obs_noise_m, self.planar, generator)
        batch = {**batch, "x_obs": batch["x_obs"] * scale, "x_future": batch["x_future"] * scale}
        prior = self.model.prior_mean(batch["x_obs"], batch["node_features"], batch["edge_attr"])
        extra = {k: batch[k] for k in ("x_obs", "node_features", "edge_attr")}
        extra["x_prior"] = prior
        losses = training_loss(
            self.model,
            batch["x_future"],
            self.schedule,
            "eps",
            extra_args=extra,
            prior_mean=prior,
            projection=planar_projection if self.planar else None,
            snr_weighting=self.snr_weighting,
            generator=generator,
        )
        if self.prior_weight == 0:
            return losses.mean()
        prior_error = (prior - batch["x_future"]).pow(2).sum(-1).mean()
        return losses.mean() + self.prior_weight * prior_error


class _VarietyLoss(nn.Module):
    """The best-of-K objective: the mean over agents of the smallest ADE of ``samples`` forecasts
    drawn by the validation sampler (:func:`sampling_options`), differentiated through every step of
    the sampler to the weights of the denoiser and the prior.

    This is Social-GAN's variety loss (Gupta et al. 2018, Sec. 3.5) applied to the few-step
    sampler as a whole: of each agent's K samples only the nearest to its future is pulled toward
    it, so the K spread to cover the futures a person may take, which is what minADE over K scores.
    The denoising objective teaches the network the distribution; a deterministic three-step
    sampler from it draws samples that spread less than the data (:mod:`.sampling`), and a
    temperature on the initial noise widens them all alike. Fine-tuning a model trained with the
    denoising objective this way trains the forecast the online path runs, at the samples it draws.
    The windows get the same speed and observation-noise augmentation as :class:`_Loss`.
    """

    def __init__(
        self, model: GeoTDM, planar: bool, opts: TrainOptions, speed_augment: float, obs_noise_m: float
    ) -> None:
        super().__init__()
        if opts.variety_samples < 2:
            raise ValueError(f"the best-of-K objective needs K >= 2 samples, got {opts.variety_samples}")
        self.model = model
        self.samples = opts.variety_samples
        self.sampling = sampling_options(opts, planar)
        self.speed_augment = check_speed_augment(speed_augment)
        self.obs_noise_m = check_obs_noise(obs_noise_m)
        self.planar = planar

    def forward(self, batch: dict[str, torch.Tensor | None], generator: torch.Generator) -> torch.Tensor:
        batch = speed_scaled(batch, self.speed_augment, generator)
        batch = observation_noised(batch, self.obs_noise_m, self.planar, generator)
        args = (batch["x_obs"], batch["node_features"], batch["edge_attr"])
        drawn = forecast_samples(
            self.model, *args, self.samples, generator=generator, differentiable=True, **self.sampling
        )
        return displacement_errors(drawn, batch["x_future"], "min")[0].mean()


def sampling_options(opts: TrainOptions, planar: bool) -> dict[str, object]:
    """Keyword arguments of :func:`~.sampling.forecast_samples` for the validation sampler of ``opts``."""
    return {
        "sampler": opts.eval_sampler,
        "num_steps": opts.eval_steps,
        "planar": planar,
        "temperature": tuple(opts.eval_temperature),
        "max_step": opts.eval_max_step,
        "speed_temperature": (
            None if opts.eval_speed_temperature is None else SpeedTemperature(*opts.eval_speed_temperature)
        ),
    }


def residual_rms(groups: list[Windows], position_scale: float, planar: bool) -> float:
    """EDM's ``sigma_data`` for the residual ``x_0 - x_r``: the root-mean-square per coordinate of the
    future about the constant-velocity extrapolation of the last two observed frames (the prior's
    initial value, :mod:`diff9d_ros.trajectory.prior`), in diffusion units (``position_scale``).
    Planar tasks count x and y only (z is identically 0)."""
    total, count = 0.0, 0
    for group in groups:
        batch = group.tensors(torch.float64)
        cv = constant_velocity(batch["x_obs"], batch["x_future"].shape[2])
        residual = (batch["x_future"] - cv) * position_scale
        if planar:
            residual = residual[..., :2]
        total += float(residual.pow(2).sum())
        count += residual.numel()
    if count == 0:
        raise ValueError("no training windows to measure sigma_data on")
    return math.sqrt(total / count)


def _validate(ema: GeoTDM, val: list[Windows], opts: TrainOptions) -> dict[str, float]:
    spec = task_spec(opts.task)
    ema.eval()
    result = evaluate(
        ema,
        val,
        num_samples=spec.num_eval_samples,
        reduce=spec.metric,
        seed=0,
        **sampling_options(opts, spec.planar),
    )
    return {"val_ade": result.ade, "val_fde": result.fde}


def train(opts: TrainOptions, resume: bool = False) -> Path:
    """Run (or resume) training; returns the path of the final ``last.pt``."""
    torch.set_num_threads(opts.threads)
    with DistributedRun.from_environment(cpu_only=True) as run:  # GeoTDM trains on the CPU
        return _train(opts, resume, run)


def _train(opts: TrainOptions, resume: bool, run: DistributedRun) -> Path:
    world, rank = run.world_size, run.rank
    out = Path(opts.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_path = out / "last.pt"
    spec = task_spec(opts.task)
    sizes = {"data_dir": opts.data_dir, "seed": opts.data_seed, "num_trajectories": opts.num_trajectories}
    train_groups = load_windows(opts.task, "train", limit=opts.limit_train, **sizes)
    init = None if opts.init_from is None else _initial_model(opts.init_from, opts.task)
    if init is not None:
        opts = replace(opts, **{option: init["config"][key] for option, key in INIT_OPTIONS.items()})
    residual_std = opts.residual_std
    if residual_std is None:
        residual_std = round(residual_rms(train_groups, spec.position_scale, spec.planar), 4)
        LOG.info("sigma_data (residual std) from the training windows: %.4f", residual_std)
    config = GeoTDMConfig(
        node_dim=spec.node_dim,
        edge_dim=spec.edge_dim,
        num_obs=spec.num_obs,
        num_future=spec.num_future,
        hidden_dim=opts.hidden_dim,
        num_layers=opts.num_layers,
        prior_layers=opts.prior_layers,
        history_encoder=opts.history_encoder,
        position_scale=spec.position_scale,
        residual_std=residual_std,
    )
    torch.manual_seed(opts.seed)
    model = GeoTDM(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    ema_state = None
    data_rng = np.random.default_rng([opts.seed, rank])
    noise_gen = torch.Generator().manual_seed(opts.seed * 1000 + rank)
    step, elapsed, cpu, best = 0, 0.0, 0.0, math.inf
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        if GeoTDMConfig(**state["config"]) != config:
            raise ValueError(f"{last_path}: stored config {state['config']} differs from {asdict(config)}")
        model.load_state_dict(state["raw_state_dict"])
        ema_state = state["state_dict"]
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, best = state["step"], state["elapsed_s"], state.get("best_val_ade", math.inf)
        cpu = state.get("cpu_s", 0.0)
        if rank == 0:
            data_rng.bit_generator.state = state["data_rng"]
            noise_gen.set_state(state["noise_rng"])
        else:  # only rank 0's generators are stored; the others restart on fresh streams
            data_rng = np.random.default_rng([opts.seed, rank, step])
            noise_gen.manual_seed(opts.seed * 1000 + rank + 7919 * step)
        LOG.info("resumed %s at step %d (%.0f s trained)", last_path, step, elapsed)
    elif resume:
        LOG.info("no %s yet: starting from %s", last_path, opts.init_from or "scratch")
    if init is not None and ema_state is None:
        model.load_state_dict(init["state_dict"])
    ema = exponential_average(model, opts.ema_decay, updates=step)
    if ema_state is not None:
        ema.module.load_state_dict(ema_state)
    scheduler = warmup_cosine(optimizer, opts.lr, opts.warmup_steps, opts.steps, LR_FLOOR, start_step=step)

    # The last layer's feature update does not reach the output (only coordinates do).
    if opts.variety_samples:
        objective = _VarietyLoss(model, spec.planar, opts, opts.speed_augment, opts.obs_noise_m)
    else:
        objective = _Loss(
            model,
            spec.planar,
            opts.prior_loss_weight,
            opts.loss_weighting,
            opts.speed_augment,
            opts.obs_noise_m,
        )
    loss_module = run.wrap(objective, find_unused_parameters=True)
    val_groups = load_windows(opts.task, "val", limit=opts.eval_windows, **sizes) if rank == 0 else []

    def checkpoint(path: Path, extra: dict | None = None) -> None:
        payload = {
            "config": asdict(config),
            "state_dict": ema.module.state_dict(),
            "raw_state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed_s": elapsed,
            "cpu_s": cpu,
            "best_val_ade": best,
            "options": asdict(opts),
            "task": opts.task,
            "planar": spec.planar,
            "world_size": world,
            "data_rng": data_rng.bit_generator.state,
            "noise_rng": noise_gen.get_state(),
            **({} if init is None else {"init": init["record"]}),
            **(extra or {}),
        }
        save_torch(payload, path)

    from tqdm import tqdm

    log_file = (out / "log.jsonl").open("a", encoding="utf-8") if rank == 0 else None
    last_save = time.monotonic()
    running = None
    bar = tqdm(total=opts.steps, initial=step, desc=f"train {opts.task}", disable=rank != 0, mininterval=5)
    model.train()
    while step < opts.steps:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        batch = random_batch(train_groups, opts.batch_size, data_rng, opts.max_nodes).tensors()
        loss = loss_module(batch, noise_gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()
        scheduler.step()
        ema.update_parameters(model)
        step += 1
        elapsed += time.perf_counter() - begin
        cpu += time.process_time() - begin_cpu
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update()
        bar.set_postfix(loss=f"{running:.4f}")
        if rank != 0:
            continue
        record: dict[str, float] = {}
        if step % opts.eval_every == 0 or step == opts.steps:
            record = _validate(ema.module, val_groups, opts)
            if record["val_ade"] < best:
                best = record["val_ade"]
                checkpoint(out / "best.pt", record)
        if record or step % 100 == 0:
            log_file.write(
                json.dumps({"step": step, "loss": running, "elapsed_s": elapsed, "cpu_s": cpu, **record})
                + "\n"
            )
            log_file.flush()
        if time.monotonic() - last_save > 60 * opts.checkpoint_minutes or step == opts.steps:
            checkpoint(last_path)
            last_save = time.monotonic()
    bar.close()
    if log_file is not None:
        log_file.close()
    return last_path


#: TrainOptions fields a fine-tuning run takes from its initial model's configuration.
INIT_OPTIONS: dict[str, str] = {
    "hidden_dim": "hidden_dim",
    "num_layers": "num_layers",
    "prior_layers": "prior_layers",
    "history_encoder": "history_encoder",
    "residual_std": "residual_std",
}


def _initial_model(path: str, task: str) -> dict:
    """The checkpoint a fine-tuning run starts from: its config, EMA weights and ``record`` (the
    training that made it: options, step, CPU seconds, its own ``init`` if it was fine-tuned too);
    ValueError for anything but a GeoTDM checkpoint of ``task``."""
    GeoTDM.load(path)  # ValueError for anything but a GeoTDM checkpoint
    payload = load_checkpoint(path)
    if payload.get("task") != task:
        raise ValueError(f"{path} is a model of task {payload.get('task')!r}, not {task!r}")
    record = {key: payload[key] for key in ("options", "step", "cpu_s", "init") if key in payload}
    return {
        "config": payload["config"],
        "state_dict": payload["state_dict"],
        "record": {"path": path, **record},
    }


#: Keys of a training checkpoint that only resuming needs (dropped from a shipped model file).
RESUME_ONLY_KEYS: tuple[str, ...] = ("raw_state_dict", "optimizer", "data_rng", "noise_rng")


def export_weights(checkpoint: str | Path, out: str | Path) -> dict:
    """Write ``checkpoint`` (EMA weights, config, task, training record) without the resume-only
    state and the training folders to ``out``: the file shipped in ``models/``, loadable by
    :meth:`GeoTDM.load`."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    GeoTDM.load(checkpoint)  # ValueError for anything but a GeoTDM checkpoint
    payload = load_checkpoint(checkpoint)
    record = payload  # the training machine's folders are not part of a shipped model, nor its inits'
    while record is not None:
        if "options" in record:
            record["options"] = {**record["options"], "out_dir": "", "data_dir": None}
        record = record.get("init")
    return write_model_file(payload, out, RESUME_ONLY_KEYS)
