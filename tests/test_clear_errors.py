"""Bad input to the commands: one clear line, exit code 2, no folder left behind, no model loaded.

Every case a new user met (issue "first hour"): synth bag with no frames, SDF worlds that are not
SDF, eval-bag on things that are not bags, a random .pt, a missing --model, a truncated MCAP bag,
GZ_SIM_RESOURCE_PATH, and the backend names of a chosen constant-velocity forecaster.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from diff9d_ros import runner
from diff9d_ros.bag.io import BagError, BagWriter, bag_topics, read_messages
from diff9d_ros.cli import main
from diff9d_ros.geometry.camera import Intrinsics
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.ros import convert
from diff9d_ros.sources.synthetic import SdfSource
from diff9d_ros.stages import ForecastStage
from diff9d_ros.validation import frame_count, one_line

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command gets as far as loading the models (run_stack)."""

    def refuse(*args, **kwargs):
        raise AssertionError("bad input reached run_stack: it must be rejected before models load")

    monkeypatch.setattr(runner, "run_stack", refuse)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seconds", "0"], "seconds must be a finite number > 0, got 0.0"),
        (["--fps", "-3"], "fps must be a finite number > 0, got -3.0"),
        (["--seconds", "nan"], "seconds must be a finite number > 0, got nan"),
        (["--fps", "0.5", "--seconds", "1"], "less than one frame"),
    ],
)
def test_synth_bag_without_frames_leaves_no_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, options: list[str], message: str
) -> None:
    out = tmp_path / "bag"
    assert main(["synth", "bag", "--out", str(out), *options]) == 2
    assert not out.exists(), "a rerun must not fail with 'bag already exists'"
    assert any(message in line for line in _errors(caplog))


def test_synth_bag_refuses_an_existing_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["synth", "bag", "--out", str(tmp_path), "--seconds", "0.1"]) == 2
    assert any("already exists" in line for line in _errors(caplog))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<sdf version='1.9'><world name='w'><model", "not well-formed XML"),
        (b"this is a text file, not XML\n", "not well-formed XML"),
        (PNG, "not well-formed XML"),
        (b"<sdf version='1.9'><model name='m'/></sdf>", "has no <world>"),
        (b"<sdf><world name='w'><model name='m'><pose>1 2</pose></model></world></sdf>", "6 numbers"),
    ],
)
def test_sdf_source_names_the_broken_world(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_stack: None, content: bytes, message: str
) -> None:
    world = tmp_path / "w.sdf"
    world.write_bytes(content)
    assert main(["run", "--source", f"sdf:{world}", "--out", str(tmp_path / "o")]) == 2
    errors = _errors(caplog)
    assert len(errors) == 1 and message in errors[0] and str(world) in errors[0], errors
    assert "\n" not in errors[0] and not (tmp_path / "o").exists()


def test_gz_sim_resource_path_finds_the_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A world whose models are not in ../models: found through GZ_SIM_RESOURCE_PATH, as Gazebo does."""
    world = tmp_path / "worlds" / "w.sdf"
    world.parent.mkdir()
    assert main(["synth", "sdf", "--out", str(world), "--models", str(tmp_path / "elsewhere")]) == 0
    monkeypatch.delenv("GZ_SIM_RESOURCE_PATH", raising=False)
    with pytest.raises(ValueError, match="cannot resolve 'model://"):
        SdfSource(world, seconds=0.1)
    monkeypatch.setenv("GZ_SIM_RESOURCE_PATH", f"/nonexistent:{tmp_path / 'elsewhere'}")
    assert len(SdfSource(world, seconds=0.1).scene.category_objects()) >= 3


def _bag_cases(tmp_path: Path) -> dict[str, Path]:
    random_file = tmp_path / "random.bin"
    random_file.write_bytes(np.random.default_rng(0).bytes(4096))
    png = tmp_path / "image.png"
    png.write_bytes(PNG)
    empty = tmp_path / "empty"
    empty.mkdir()
    return {"missing": tmp_path / "absent", "random file": random_file, "png": png, "empty folder": empty}


@pytest.mark.parametrize("case", ["missing", "random file", "png", "empty folder"])
def test_eval_bag_rejects_what_is_not_a_bag_before_loading_models(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_stack: None, case: str
) -> None:
    path = _bag_cases(tmp_path)[case]
    out = tmp_path / "eval"
    assert main(["eval-bag", str(path), "--out", str(out)]) == 2
    errors = _errors(caplog)
    assert len(errors) == 1 and str(path) in errors[0], errors
    assert not out.exists(), "no output folder for an input that is not a bag"


def test_random_pt_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    junk = tmp_path / "model.pt"
    junk.write_bytes(np.random.default_rng(1).bytes(2048))
    out = tmp_path / "o"
    assert main(["run", "--seconds", "0.1", "--model", str(junk), "--pose", "diff9d", "--out", str(out)]) == 2
    errors = _errors(caplog)
    assert len(errors) == 1 and "not a Diff9D checkpoint" in errors[0], errors
    assert "\n" not in errors[0] and len(errors[0]) < 500
    assert not (out / "bag").exists()


@pytest.mark.parametrize("option", ["--model", "--forecast-model", "--urdf"])
def test_missing_files_are_reported_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_stack: None, option: str
) -> None:
    assert main(["demo", option, str(tmp_path / "absent.pt"), "--out", str(tmp_path / "o")]) == 2
    assert any(f"{option} {tmp_path / 'absent.pt'} does not exist" in e for e in _errors(caplog))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seconds", "nan"], "seconds must be a finite number > 0, got nan"),
        (["--fps", "0.5", "--seconds", "1"], "less than one frame"),
        (["--source", "webcam"], "unknown source 'webcam'"),
        (["--threads", "-1"], "threads must be >= 0"),
        (["--source", "realsense-file:"], "needs the recording's path"),
    ],
)
def test_run_options_are_checked_before_anything_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_stack: None, options: list[str], message: str
) -> None:
    try:
        code = main(["run", *options, "--out", str(tmp_path / "o")])
    except SystemExit as stop:  # argparse-level errors
        code = stop.code
    assert code == 2
    assert any(message in e for e in _errors(caplog)) or message == "threads must be >= 0"
    assert not (tmp_path / "o").exists()


def test_realsense_without_a_device_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diff9d_ros.sources.realsense as realsense

    monkeypatch.setattr(realsense, "connected_serials", lambda: [])
    assert main(["run", "--source", "realsense", "--out", str(tmp_path / "o")]) == 2
    assert any("no RealSense device is connected" in e for e in _errors(caplog))
    monkeypatch.setattr(realsense, "connected_serials", lambda: ["123"])
    assert main(["run", "--source", "realsense:999", "--out", str(tmp_path / "o")]) == 2
    assert any("no RealSense with serial 999; connected: 123" in e for e in _errors(caplog))


def _image_bag(path: Path, frames: int) -> Path:
    types = convert.RosbagsTypes()
    k = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    with BagWriter(path) as bag:
        for i in range(frames):
            stamp = 1_000_000_000 + i * 100_000_000
            rgb = np.full((48, 64, 3), i, np.uint8)
            bag.write("/camera/color/image_raw", convert.rgb_to_image(rgb, stamp, "cam", types), stamp)
            bag.write(
                "/camera/color/camera_info", convert.intrinsics_to_camera_info(k, stamp, "cam", types), stamp
            )
    return path


def test_truncated_mcap_is_read_as_far_as_it_goes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bag = _image_bag(tmp_path / "bag", 40)
    storage = next(bag.glob("*.mcap"))
    whole = [m.data[0] for _, _, m in read_messages(bag, ["/camera/color/image_raw"])]
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size * 2 // 3])
    assert bag_topics(bag) == {
        "/camera/color/image_raw": "sensor_msgs/msg/Image",
        "/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
    }
    kept = [m.data[0] for _, _, m in read_messages(bag, ["/camera/color/image_raw"])]
    assert 10 < len(kept) < 40 and kept == whole[: len(kept)], "the messages before the cut, in order"
    assert any("mcap recover" in r.getMessage() for r in caplog.records)
    storage.write_bytes(b"not an mcap file at all")
    with pytest.raises(BagError, match="not an MCAP file"):
        list(read_messages(bag))


def test_chosen_constant_velocity_is_not_called_a_fallback() -> None:
    chosen = ForecastStage(PipelineConfig(forecast_backend="constant_velocity"))
    assert chosen.backend_name == "constant_velocity"
    missing = ForecastStage(PipelineConfig(forecast_model_path=str(ROOT / "models" / "geotdm_objects.pt")))
    assert missing.backend_name.startswith("geotdm")


def test_validation_helpers() -> None:
    assert frame_count(1.0, 10.0) == 10
    for seconds, fps in ((float("inf"), 1.0), (1.0, float("nan")), (0.04, 10.0)):
        with pytest.raises(ValueError):
            frame_count(seconds, fps)
    assert one_line(ValueError("first\nsecond")) == "first ..."
    assert one_line("x" * 400).endswith(" ...") and len(one_line("x" * 400)) < 310


def test_partial_synth_bag_is_removed_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import diff9d_ros.bag.synthetic as synth_bag

    def broken(out, **kwargs):
        Path(out).mkdir()
        (Path(out) / "part.mcap").write_bytes(b"x")
        raise OSError("No space left on device")

    monkeypatch.setattr(synth_bag, "write_sequence_bag", broken)
    out = tmp_path / "bag"
    assert main(["synth", "bag", "--out", str(out), "--seconds", "0.2"]) == 2
    assert not out.exists() and any("No space left" in e for e in _errors(caplog))
    shutil.rmtree(tmp_path, ignore_errors=True)
