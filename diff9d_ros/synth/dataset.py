"""Sharded synthetic datasets: parallel, deterministic writer and a random-access reader.

Layout of a dataset directory::

    index.json            format, seed, split, domain, intrinsics, config, shard table
    shard_00000.npz       per frame k: k_rgb (H,W,3 uint8), k_depth_mm (H,W uint16, 0 = none),
                          k_mask (H,W uint8 instance ids, 0 = background)
    shard_00000.json      per frame: index, camera pose, sensor and intrinsics, categories and
                          object ground truth (with each object's sub-family)

Frame ``i`` is a pure function of (seed, split, i): its generator is seeded with that triple, so
the bytes do not depend on the number of worker processes or shards, and the zip members carry a
fixed timestamp (``np.savez_compressed`` would embed the wall clock). With sensor presets
(``RandomizationConfig.sensor_presets``) every frame draws its camera, so frames of one dataset
may differ in intrinsics and resolution; the reader gives each frame its own. Objects come from
the procedural instances of the split or from a mesh folder (:mod:`diff9d_ros.synth.library`).
"""

from __future__ import annotations

import bisect
import functools
import io
import json
import logging
import multiprocessing
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.nocs import Detection
from diff9d_ros.synth.library import MeshLibrary
from diff9d_ros.synth.meshes import SPLIT_IDS
from diff9d_ros.synth.noise import SENSOR_PRESETS, RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import OPTICAL_FRAME_ID, ObjectTruth, SynthFrame, synthesize

LOG = logging.getLogger(__name__)

FORMAT = "diff9d-synth/1"
_SPLIT_CODES = {name: code for code, name in enumerate(SPLIT_IDS)}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class GenerationJob:
    """One shard to write (picklable, sent to a worker process)."""

    out_dir: str
    shard: int
    first_index: int
    count: int
    seed: int
    split: str
    config: RandomizationConfig
    intrinsics: Intrinsics
    nthreads: int
    library: MeshLibrary | None = None


def frame_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of frame ``index`` of a (seed, split) dataset."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and frame index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([seed, _SPLIT_CODES[split], index])


@functools.lru_cache(maxsize=16)
def renderer_for(intrinsics: Intrinsics, shadows: bool = True, nthreads: int = 0) -> Renderer:
    """A renderer for these settings, cached per process."""
    return Renderer(intrinsics, shadows=shadows, nthreads=nthreads)


def render_frame(
    seed: int,
    split: str,
    index: int,
    config: RandomizationConfig,
    renderer: Renderer,
    stamp_ns: int = 0,
    library: MeshLibrary | None = None,
) -> SynthFrame:
    """Compose, render and corrupt frame ``index`` of the (seed, split) dataset.

    With sensor presets the frame first draws its camera; a preset with other intrinsics than
    ``renderer``'s is rendered by a cached renderer of the same settings.
    """
    rng = frame_rng(seed, split, index)
    preset = config.draw_sensor(rng)
    sensor = config.sensor
    if preset is not None:
        sensor = preset.sensor
        if preset.intrinsics != renderer.intrinsics:
            renderer = renderer_for(preset.intrinsics, renderer.shadows, renderer.nthreads)
    scene = compose_scene(rng, config, renderer.intrinsics, split, library, sensor)
    return synthesize(scene, renderer, sensor, rng, stamp_ns=stamp_ns, index=index)


def _depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    if np.nanmax(depth_m, initial=0.0) >= 65.535:
        raise ValueError("depth beyond 65.535 m does not fit the 16-bit millimetre format")
    return np.nan_to_num(np.round(depth_m * 1000.0), nan=0.0).astype(np.uint16)


def _truth_to_json(truth: ObjectTruth) -> dict:
    det = truth.detection
    return {
        "category": det.category,
        "instance_id": truth.instance_id,
        "mask_id": det.mask_id,
        "track_id": det.track_id,
        "rotation": det.rotation.tolist(),
        "translation_m": det.translation_m.tolist(),
        "size_m": det.size_m.tolist(),
        "symmetric": truth.symmetric,
        "handle_visible": truth.handle_visible,
        "handle_visible_fraction": truth.handle_visible_fraction,
        "visible_pixels": truth.visible_pixels,
        "visible_fraction": truth.visible_fraction,
        "family": truth.family,
    }


def _truth_from_json(record: dict) -> ObjectTruth:
    detection = Detection(
        category=record["category"],
        rotation=np.array(record["rotation"]),
        translation_m=np.array(record["translation_m"]),
        size_m=np.array(record["size_m"]),
        mask_id=record["mask_id"],
        track_id=record["track_id"],
    )
    return ObjectTruth(
        detection=detection,
        instance_id=record["instance_id"],
        symmetric=record["symmetric"],
        handle_visible=record["handle_visible"],
        handle_visible_fraction=record["handle_visible_fraction"],
        visible_pixels=record["visible_pixels"],
        visible_fraction=record["visible_fraction"],
        family=record.get("family", ""),
    )


def _write_npz(path: Path, arrays: dict[str, np.ndarray], stored: tuple[str, ...] = ()) -> None:
    """A ``np.load``-able .npz whose bytes depend only on the arrays (fixed member timestamps).

    Members whose name ends with one of ``stored`` are not deflated (noisy RGB barely compresses).
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(stored) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=1)


def _dump_json(path: Path, payload: object, indent: int | None = 1) -> None:
    """``payload`` as JSON with sorted keys; ``indent=None`` writes it compact (json's C encoder,
    about 3x faster than indented: shards, which only programs read)."""
    separators = None if indent is not None else (",", ":")
    text = json.dumps(payload, indent=indent, separators=separators, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def frame_record(synth: SynthFrame) -> dict:
    """JSON-ready metadata and ground truth of one frame."""
    return {
        "index": synth.index,
        "stamp_ns": synth.frame.stamp_ns,
        "frame_id": synth.frame.frame_id,
        "camera_pose": synth.camera_pose.tolist(),
        "intrinsics": asdict(synth.frame.intrinsics),
        "categories": {str(k): v for k, v in sorted(synth.frame.categories.items())},
        "objects": [_truth_to_json(t) for t in synth.objects],
    }


def write_shard(job: GenerationJob) -> int:
    """Render and write one shard; returns the number of frames written."""
    renderer = renderer_for(job.intrinsics, job.config.shadows, job.nthreads)
    arrays: dict[str, np.ndarray] = {}
    records = []
    for k in range(job.count):
        synth = render_frame(
            job.seed, job.split, job.first_index + k, job.config, renderer, library=job.library
        )
        if synth.frame.instance_mask.max(initial=0) > 255:
            raise ValueError("more than 255 instances do not fit the uint8 mask format")
        arrays[f"{k:05d}_rgb"] = synth.frame.rgb
        arrays[f"{k:05d}_depth_mm"] = _depth_to_mm(synth.frame.depth_m)
        arrays[f"{k:05d}_mask"] = synth.frame.instance_mask.astype(np.uint8)
        records.append(frame_record(synth))
    out = Path(job.out_dir)
    sensor = job.config.sensor
    noisy_rgb = sensor.rgb_read_noise > 0 or sensor.rgb_shot_noise > 0
    _write_npz(out / f"shard_{job.shard:05d}.npz", arrays, stored=("_rgb",) if noisy_rgb else ())
    _dump_json(out / f"shard_{job.shard:05d}.json", records, indent=None)
    return job.count


def _stop_broken_pool(pool: ProcessPoolExecutor) -> None:
    """Kill what is left of a broken pool without waiting for it: a worker killed while it held the
    pool's call-queue lock leaves the others blocked on that queue for ever, so a waiting shutdown
    (what ``with`` does) would hang."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


#: Pool restarts without a finished shard before generation gives up.
MAX_RESTARTS_WITHOUT_PROGRESS = 3


def _write_shards_in_workers(jobs: list[GenerationJob], workers: int, bar: tqdm) -> None:
    """Render ``jobs`` in spawned worker processes, surviving a worker that dies.

    A worker killed by a signal (open3d has been seen to segfault rarely and not reproducibly)
    breaks the pool; the shards not yet written are then submitted to a fresh pool. Shards are
    deterministic, so a re-rendered shard has the same bytes. After
    ``MAX_RESTARTS_WITHOUT_PROGRESS`` restarts with no shard finished, RuntimeError names the
    missing shards.
    """
    pending = {job.shard: job for job in jobs}
    restarts = 0
    context = multiprocessing.get_context("spawn")
    while pending:
        finished_before = len(pending)
        pool = ProcessPoolExecutor(min(workers, len(pending)), mp_context=context)
        try:
            futures = {pool.submit(write_shard, job): shard for shard, job in pending.items()}
            for future in as_completed(futures):
                bar.update(future.result())
                del pending[futures[future]]
            pool.shutdown()
        except BrokenProcessPool:
            _stop_broken_pool(pool)
            restarts = 0 if len(pending) < finished_before else restarts + 1
            LOG.warning(
                "a synth worker died; re-rendering %d unfinished shard(s) in a new pool", len(pending)
            )
            if restarts >= MAX_RESTARTS_WITHOUT_PROGRESS:
                missing = sorted(pending)
                raise RuntimeError(
                    f"synth workers kept dying on shard(s) {missing}; run with workers=1 to see the error"
                ) from None


def generate_dataset(
    out_dir: str | Path,
    frames: int,
    *,
    split: str = "train",
    seed: int = 0,
    config: RandomizationConfig | None = None,
    intrinsics: Intrinsics | None = None,
    workers: int = 2,
    shard_size: int = 32,
    progress: bool = True,
    library: MeshLibrary | None = None,
) -> Path:
    """Write ``frames`` frames as shards plus ``index.json`` under ``out_dir``; returns the index path.

    Shards are rendered by ``workers`` spawned processes (1 = in this process). The output is
    byte-identical for the same arguments whatever ``workers`` and machine load are. Objects come
    from ``library`` (default: the procedural instances of ``split``). With sensor presets in
    ``config`` the intrinsics come from the presets (``intrinsics`` must then be None).
    """
    if frames <= 0:
        raise ValueError(f"frames must be positive, got {frames}")
    if shard_size <= 0 or workers <= 0:
        raise ValueError(f"shard_size and workers must be positive, got {shard_size}, {workers}")
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
    config = config or RandomizationConfig()
    if config.sensor_presets:
        if intrinsics is not None:
            raise ValueError("with sensor presets the intrinsics come from the presets; pass intrinsics=None")
        intrinsics = SENSOR_PRESETS[config.sensor_presets[0]].intrinsics
    intrinsics = intrinsics or Intrinsics.realsense_d435()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nthreads = 1 if workers > 1 else 0
    jobs = [
        GenerationJob(
            str(out),
            s,
            first,
            min(shard_size, frames - first),
            seed,
            split,
            config,
            intrinsics,
            nthreads,
            library,
        )
        for s, first in enumerate(range(0, frames, shard_size))
    ]
    bar = tqdm(total=frames, unit="frame", desc=f"synth {split}", disable=not progress)
    if workers == 1:
        for job in jobs:
            bar.update(write_shard(job))
    else:
        _write_shards_in_workers(jobs, workers, bar)
    bar.close()
    index = {
        "format": FORMAT,
        "frames": frames,
        "seed": seed,
        "split": split,
        "domain": config.sensor.name,
        "sensors": list(config.sensor_presets),
        "meshes": None if library is None or library.is_procedural else library.name,
        "intrinsics": asdict(intrinsics),
        "config": config.as_dict(),
        "shards": [
            {
                "npz": f"shard_{j.shard:05d}.npz",
                "json": f"shard_{j.shard:05d}.json",
                "first": j.first_index,
                "count": j.count,
            }
            for j in jobs
        ],
    }
    path = out / "index.json"
    _dump_json(path, index)
    return path


class SynthDataset:
    """Random-access reader of a dataset written by ``generate_dataset``.

    ``dataset[i]`` is a ``SynthFrame`` whose ``frame`` has float32 depth in metres (NaN = no
    measurement; 1 mm steps, the storage format), the frame's intrinsics (``self.intrinsics`` is
    the first sensor's), the int32 instance mask and the categories, and
    whose ``objects`` are the ground truth. Safe to use from DataLoader workers (each process opens
    shards itself).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise ValueError(f"{self.root} is not a synthetic dataset: no index.json")
        self.index = json.loads(index_path.read_text(encoding="utf-8"))
        if self.index.get("format") != FORMAT:
            raise ValueError(
                f"{index_path}: unsupported format {self.index.get('format')!r}, expected {FORMAT!r}"
            )
        self.intrinsics = Intrinsics(**self.index["intrinsics"])
        self.split: str = self.index["split"]
        self.domain: str = self.index["domain"]
        self._firsts = [shard["first"] for shard in self.index["shards"]]
        self._open: tuple[int, object, list[dict]] | None = None

    def __len__(self) -> int:
        return int(self.index["frames"])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": None}

    def _shard(self, number: int) -> tuple[object, list[dict]]:
        if self._open is None or self._open[0] != number:
            shard = self.index["shards"][number]
            arrays = np.load(self.root / shard["npz"], allow_pickle=False)
            records = json.loads((self.root / shard["json"]).read_text(encoding="utf-8"))
            self._open = (number, arrays, records)
        return self._open[1], self._open[2]

    def __getitem__(self, i: int) -> SynthFrame:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for a dataset of {len(self)} frames")
        i %= len(self)
        number = bisect.bisect_right(self._firsts, i) - 1
        arrays, records = self._shard(number)
        k = i - self._firsts[number]
        record = records[k]
        depth_mm = arrays[f"{k:05d}_depth_mm"]
        depth_m = np.where(depth_mm > 0, depth_mm.astype(np.float32) / np.float32(1000.0), np.float32(np.nan))
        intrinsics = Intrinsics(**record["intrinsics"]) if "intrinsics" in record else self.intrinsics
        frame = RGBDFrame(
            rgb=arrays[f"{k:05d}_rgb"],
            depth_m=depth_m,
            intrinsics=intrinsics,
            stamp_ns=record["stamp_ns"],
            frame_id=record.get("frame_id", OPTICAL_FRAME_ID),
            instance_mask=arrays[f"{k:05d}_mask"].astype(np.int32),
            categories={int(key): value for key, value in record["categories"].items()},
        )
        objects = [_truth_from_json(o) for o in record["objects"]]
        return SynthFrame(
            frame=frame, objects=objects, camera_pose=np.array(record["camera_pose"]), index=record["index"]
        )

    def frames(self) -> Iterator[SynthFrame]:
        """Every frame in order."""
        for i in range(len(self)):
            yield self[i]
