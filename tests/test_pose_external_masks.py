"""External masks: instance masks of any 2-D detector (16UC1 ids + Detection2DArray, the contract of
our ``segmentation/*`` topics) read from a bag by ``diff9d run`` give the same detections as the
same masks through the API; and the stack fits one table plane per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros import cli
from diff9d_ros.bag.io import BagWriter, read_messages
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pipeline import Pipeline, PipelineConfig
from diff9d_ros.pose import segmentation
from diff9d_ros.pose.estimator import PoseEstimator, SamplerConfig
from diff9d_ros.pose.network import NetworkConfig, PoseNetwork
from diff9d_ros.pose.train import TrainConfig, save_checkpoint
from diff9d_ros.ros import convert
from diff9d_ros.ros.frames import frame_from_messages
from diff9d_ros.stages import SegmentationStage, build_stages
from diff9d_ros.synth import masks as corruptions
from diff9d_ros.synth.noise import RandomizationConfig
from diff9d_ros.synth.render import Renderer
from diff9d_ros.synth.scene import compose_scene
from diff9d_ros.synth.truth import synthesize

SMALL = NetworkConfig(
    num_points=128, crop_px=32, point_width=32, rgb_width=32, cond_dim=32, hidden=32, num_blocks=1
)
TOPICS = {
    "rgb": "/camera/color/image_raw",
    "depth": "/camera/aligned_depth_to_color/image_raw",
    "info": "/camera/color/camera_info",
    "mask": "/detector/instances",
    "classes": "/detector/detections",
}
FRAMES = 2


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bag of two rendered frames with a detector's (blobby) instance masks, and a model."""
    root = tmp_path_factory.mktemp("external")
    intrinsics = Intrinsics.realsense_d435(320, 240)
    config = RandomizationConfig.for_domain("realsense", objects_range=(3, 3))
    renderer = Renderer(intrinsics, nthreads=1)
    types = convert.RosbagsTypes()
    rng = np.random.default_rng(21)
    with BagWriter(root / "bag") as bag:
        for k in range(FRAMES):
            stamp = (k + 1) * 100_000_000
            synth = synthesize(compose_scene(rng, config, intrinsics, "test"), renderer, config.sensor, rng)
            frame = synth.frame
            detector = np.zeros_like(frame.instance_mask)
            labels = {}
            for obj in synth.objects:  # a detector's own ids (not the renderer's) and blobby masks
                if obj.visible_pixels < 150:
                    continue
                blob = corruptions.blobby(frame.instance_mask == obj.mask_id, rng)
                ident = 10 + len(labels)
                detector[blob & (detector == 0)] = ident
                labels[ident] = obj.category.capitalize()
            fid = frame.frame_id
            bag.write(TOPICS["rgb"], convert.rgb_to_image(frame.rgb, stamp, fid, types), stamp)
            depth_msg = convert.depth_to_image(frame.depth_m, stamp, fid, types, encoding="16UC1")
            bag.write(TOPICS["depth"], depth_msg, stamp)
            bag.write(TOPICS["info"], convert.intrinsics_to_camera_info(intrinsics, stamp, fid, types), stamp)
            # The detector is late: its masks are logged 30 ms after the image they belong to.
            mask_msg = convert.instance_mask_to_image(detector, stamp, fid, types)
            bag.write(TOPICS["mask"], mask_msg, stamp + 30_000_000)
            classes = convert.categories_to_msg(detector, labels, stamp, fid, types)
            bag.write(TOPICS["classes"], classes, stamp + 30_000_000)
    torch.manual_seed(0)
    model = root / "pose.pt"
    save_checkpoint(model, PoseNetwork(SMALL), TrainConfig(), step=0)
    return root / "bag", model


def _bag_frames(bag: Path) -> list:
    by_topic: dict[str, list] = {}
    for topic, _, msg in read_messages(bag):
        by_topic.setdefault(topic, []).append(msg)
    return [
        frame_from_messages(*parts[:3], mask_msg=parts[3], categories_msg=parts[4])
        for parts in zip(
            *(by_topic[TOPICS[k]] for k in ("rgb", "depth", "info", "mask", "classes")), strict=True
        )
    ]


def test_external_masks_through_diff9d_run_equal_the_api(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    bag, model = recording
    out = tmp_path / "run"
    args = ["run", "--source", f"bag:{bag}", "--out", str(out), "--model", str(model), "--pose", "diff9d"]
    args += ["--mask-topic", TOPICS["mask"], "--mask-detections-topic", TOPICS["classes"]]
    args += ["--forecast", "constant_velocity", "--overlays", "0", "--slop-ms", "50"]
    assert cli.main(args) == 0
    written = [
        convert.msg_to_detections(msg) for _, _, msg in read_messages(out / "bag", ["/diff9d/detections"])
    ]
    assert len(written) == FRAMES
    estimator = PoseEstimator.from_file(model, SamplerConfig(seed=0), engine=PipelineConfig().pose_engine)
    stage = SegmentationStage(PipelineConfig())
    for frame, detections in zip(_bag_frames(bag), written, strict=True):
        masks = {int(i): frame.instance_mask == i for i in np.unique(frame.instance_mask) if i > 0}
        plane = segmentation.fit_table_plane(frame, stage.config_for(frame.intrinsics.width), seed=0)
        expected = estimator.estimate_masks(frame, masks, frame.categories, plane)
        assert len(detections) == len(expected) >= 2
        for got, want in zip(detections, expected, strict=True):
            assert got.category == want.category
            assert np.allclose(got.translation_m, want.translation_m, atol=1e-6)
            assert np.allclose(got.rotation, want.rotation, atol=1e-6)
            assert np.allclose(got.size_m, want.size_m, atol=1e-6)


def test_one_table_fit_per_frame(recording: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    bag, model = recording
    calls = []
    real = segmentation.fit_table

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(segmentation, "fit_table", counting)
    frame = _bag_frames(bag)[0]
    for use_given_masks in (True, False):
        config = PipelineConfig(
            pose_model_path=str(model), pose_backend="diff9d", use_given_masks=use_given_masks
        )
        pipeline = Pipeline(build_stages(config, ["segmentation", "pose", "grasp"]))
        calls.clear()
        state = pipeline.process(0, frame)
        assert state.ok, state.error
        assert len(calls) == 1, f"{len(calls)} table fits in one frame (use_given_masks={use_given_masks})"
