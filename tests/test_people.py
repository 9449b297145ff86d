"""The people path without ROS: transform tree, fixed frame, tracks, stages, people bags and their replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diff9d_ros.bag.io import bag_topics, read_messages
from diff9d_ros.geometry.transforms import make_transform
from diff9d_ros.nocs import Detection
from diff9d_ros.people_runner import run_people
from diff9d_ros.pipeline import PipelineConfig
from diff9d_ros.ros import convert
from diff9d_ros.sources.people import (
    PEOPLE_GT_TOPIC,
    PEOPLE_TOPIC,
    SENSOR_FRAME,
    PeopleBagSource,
    write_people_bag,
)
from diff9d_ros.stages import ForecastStage, PeopleForecastStage
from diff9d_ros.trajectory.eth_ucy import load_scene_split
from diff9d_ros.trajectory.evaluate import evaluate
from diff9d_ros.trajectory.model import GeoTDM, GeoTDMConfig
from diff9d_ros.trajectory.people import PeopleTracker, TransformTree, people_in_frame
from diff9d_ros.trajectory.sampling import SpeedTemperature

SECOND = 1_000_000_000


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


#: REP 103 optical frame in a body frame (z forward, x right, y down).
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def scripted_tree() -> TransformTree:
    """map -> odom (shift) -> base_link (turned, driving 1 m/s along odom x) -> camera (REP 103 optical,
    1.2 m up), each edge known at 0 and 2 s; the camera mount is static."""
    tree = TransformTree()
    for stamp, x in ((0, 1.0), (2 * SECOND, 3.0)):
        tree.add("map", "odom", make_transform(np.eye(3), [2.0, -1.0, 0.0]), stamp)
        tree.add("odom", "base_link", make_transform(rot_z(0.5), [x, 0.0, 0.0]), stamp)
    tree.add("base_link", "camera", make_transform(OPTICAL_IN_BODY, [0.2, 0.0, 1.2]), 0, static=True)
    return tree


def test_transform_tree_chains_and_interpolates_like_tf2() -> None:
    tree = scripted_tree()
    base_at_1s = make_transform(np.eye(3), [2.0, -1.0, 0.0]) @ make_transform(rot_z(0.5), [2.0, 0.0, 0.0])
    camera = base_at_1s @ make_transform(OPTICAL_IN_BODY, [0.2, 0.0, 1.2])
    np.testing.assert_allclose(tree.lookup("map", "camera", SECOND), camera, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("camera", "map", SECOND), np.linalg.inv(camera), atol=1e-12)
    latest = tree.lookup("map", "base_link", 0)  # 0: the latest time the chain knows (2 s)
    np.testing.assert_allclose(latest[:3, 3], [2.0 + 3.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(tree.lookup("camera", "camera", 5), np.eye(4))
    with pytest.raises(ValueError, match="extrapolation"):
        tree.lookup("map", "camera", 3 * SECOND)
    with pytest.raises(ValueError, match="no transform from 'lidar' to 'map'"):
        tree.lookup("map", "lidar", SECOND)
    with pytest.raises(ValueError, match="already has parent 'odom'"):
        tree.add("map", "base_link", np.eye(4), 0)
    with pytest.raises(ValueError, match="cycle"):
        tree.add("camera", "map", np.eye(4), 0)
    with pytest.raises(ValueError, match="rotation"):
        tree.add("map", "bad", np.diag([1.0, 1.0, 2.0, 1.0]), 0)
    turning = TransformTree()
    turning.add("map", "a", make_transform(rot_z(0.0), [0.0, 0.0, 0.0]), 0)
    turning.add("map", "a", make_transform(rot_z(1.0), [2.0, 0.0, 0.0]), SECOND)
    np.testing.assert_allclose(turning.lookup("map", "a", SECOND // 4)[:3, :3], rot_z(0.25), atol=1e-12)


def test_people_in_the_camera_frame_are_moved_into_map() -> None:
    """Person detections in a camera optical frame, through a Detection3DArray and a scripted tree,
    land on their map positions; other classes are dropped."""
    tree = scripted_tree()
    stamp = SECOND
    in_map = np.array([[4.0, 1.0, 0.9], [6.5, -0.5, 0.9]])
    to_camera = np.linalg.inv(tree.lookup("map", "camera", stamp))
    seen = [
        Detection("person", to_camera[:3, :3], to_camera[:3, :3] @ p + to_camera[:3, 3], [0.5, 0.5, 1.7])
        for p in in_map
    ]
    seen.append(Detection("chair", np.eye(3), [0.0, 0.0, 3.0], [0.5, 0.5, 0.9]))
    types = convert.RosbagsTypes()
    msg = convert.detections_to_msg(seen, stamp, "camera", types)
    back = convert.msg_to_detections(msg)
    people = people_in_frame(back, tree.lookup("map", msg.header.frame_id, stamp))
    assert [p.category for p in people] == ["person", "person"]
    np.testing.assert_allclose([p.translation_m for p in people], in_map, atol=1e-9)
    with pytest.raises(ValueError, match="NaN or inf centre"):
        people_in_frame([Detection("person", np.eye(3), [np.nan, 0, 0], np.ones(3))], np.eye(4))


def person(xy: tuple[float, float], person_id: str = "") -> Detection:
    return Detection("person", np.eye(3), [xy[0], xy[1], 0.0], [0.5, 0.5, 1.7], track_id=person_id)


def test_people_tracker_uses_ids_or_tracks_and_restarts_when_time_jumps_back() -> None:
    tracker = PeopleTracker(gate_m=1.0, min_hits=2, max_age_s=1.0)
    for k in range(3):
        tracks = tracker.update([person((0.5 * k, 0.0), "a"), person((0.0, 0.5 * k), "b")], k * SECOND // 2)
    assert sorted(t.track_id for t in tracks) == ["a", "b"] and tracks[0].history.shape == (3, 3)
    with pytest.raises(ValueError, match="repeats the previous stamp"):
        tracker.update([], SECOND)
    tracker.update([person((1.5, 0.0), "a")], 3 * SECOND)  # b unseen for 2 s: forgotten
    assert set(tracker.by_id) == {"a"}

    anonymous = PeopleTracker(gate_m=1.0, min_hits=2)
    outputs = []
    for k in range(4):
        people = [person((0.4 * k, 0.0)), person((5.0, 0.4 * k))]
        outputs.append(anonymous.update(people, k * 4 * SECOND // 10))
    assert [len(o) for o in outputs] == [0, 2, 2, 2]
    assert {p.track_id for p in people} == {t.track_id for t in outputs[-1]}
    assert all(t.track_id.startswith("person_") for t in outputs[-1])

    anonymous.update([person((0.0, 0.0))], SECOND // 10)  # a bag played in a loop starts again
    assert anonymous.resets == 1 and anonymous.tracker.tracks[0].hits == 1


def _save_model(path: Path, planar: bool, task: str) -> Path:
    torch.manual_seed(0)
    config = GeoTDMConfig(node_dim=1, edge_dim=0, num_obs=8, num_future=12, hidden_dim=16, num_layers=2)
    GeoTDM(config).save(path, task=task, planar=planar)
    return path


def test_planar_and_object_models_are_told_apart(tmp_path: Path) -> None:
    planar = _save_model(tmp_path / "people.pt", True, "zara1")
    objects = _save_model(tmp_path / "objects.pt", False, "tabletop")
    with pytest.raises(ValueError, match=r"planar \(pedestrian\) model.*people_forecast_node"):
        ForecastStage(PipelineConfig(forecast_model_path=str(planar)))
    with pytest.raises(ValueError, match=r"3-D \(object\) model.*planar pedestrian model"):
        PeopleForecastStage(PipelineConfig(people_model_path=str(objects)))
    stage = PeopleForecastStage(PipelineConfig(people_model_path=str(planar)))
    assert stage.forecaster.planar and stage.forecaster.frame_period_s == pytest.approx(0.4)


def test_people_and_objects_keep_their_own_sampler(tmp_path: Path) -> None:
    planar = _save_model(tmp_path / "people.pt", True, "zara1")
    objects = _save_model(tmp_path / "objects.pt", False, "tabletop")
    config = PipelineConfig(
        people_model_path=str(planar), forecast_model_path=str(objects), forecast_sampler="ddim"
    )
    assert (
        PeopleForecastStage(config).backend_name
        == "geotdm (people.pt, dpmpp_2m-2, temperature 0.5-3, speed 0.3/0.2 m, 20 of 30 draws)"
    )
    assert ForecastStage(config).backend_name == "geotdm (objects.pt, ddim-3)"
    steps = PipelineConfig(people_model_path=str(planar), people_steps=5, forecast_steps=4)
    assert (PeopleForecastStage(steps).forecaster.num_steps, ForecastStage(steps).forecaster.num_steps) == (
        5,
        4,
    )
    with pytest.raises(ValueError, match="people_steps must be >= 1"):
        PipelineConfig(people_steps=0).validate()
    with pytest.raises(ValueError, match="people_sampler must be one of"):
        PipelineConfig(people_sampler="euler").validate()
    assert PeopleForecastStage(config).forecaster.max_step == PipelineConfig().people_max_step_m
    assert ForecastStage(config).forecaster.max_step is None  # objects: every speed as observed
    off = PipelineConfig(people_model_path=str(planar), people_max_step_m=0.0)
    assert PeopleForecastStage(off).forecaster.max_step is None
    with pytest.raises(ValueError, match="people_max_step_m must be >= 0"):
        PipelineConfig(people_max_step_m=-0.1).validate()
    assert PeopleForecastStage(config).forecaster.speed_temperature == SpeedTemperature(0.3, 0.2)
    assert ForecastStage(config).forecaster.speed_temperature is None
    still = PipelineConfig(people_model_path=str(planar), people_speed_reference_m=0.0)
    assert PeopleForecastStage(still).forecaster.speed_temperature is None
    with pytest.raises(ValueError, match="people_speed_floor_m > 0"):
        PipelineConfig(people_speed_floor_m=0.0).validate()
    assert PeopleForecastStage(config).forecaster.draws == 30  # default: 20 kept of 30 draws
    every = PipelineConfig(people_model_path=str(planar), people_draws=0)
    assert PeopleForecastStage(every).forecaster.draws is None  # 0: draw forecast_samples, keep all
    covered = PipelineConfig(people_model_path=str(planar), people_draws=60)
    stage = PeopleForecastStage(covered)
    assert stage.forecaster.draws == 60 and stage.backend_name.endswith("speed 0.3/0.2 m, 20 of 60 draws)")
    assert ForecastStage(covered).forecaster.draws is None  # objects: every draw kept
    with pytest.raises(ValueError, match="people_draws must be >= 0"):
        PipelineConfig(people_draws=-1).validate()


def fake_scene(root: Path, scene: str = "zara1") -> Path:
    """An ETH-UCY-format test recording: five walkers over 40 frames (step 10), one of them turning,
    one leaving mid-way, and a gap of two frames where nobody is annotated."""
    rng = np.random.default_rng(3)
    rows = []
    for ped in range(5):
        start = rng.uniform(0.0, 8.0, 2)
        velocity = rng.uniform(-1.2, 1.2, 2) * 0.4
        last = 25 if ped == 4 else 40
        for k in range(last):
            if k in (30, 31):
                continue
            turn = 0.05 * k * k * 0.4 if ped == 1 else 0.0
            x, y = start + k * velocity + [0.0, turn] + rng.normal(0.0, 0.02, 2)
            rows.append((10 * k, ped + 1, x, y))
    folder = root / scene / "test"
    folder.mkdir(parents=True)
    np.savetxt(folder / "crowds_fake.txt", np.array(rows), fmt=["%d", "%d", "%.4f", "%.4f"], delimiter="\t")
    return root


def test_people_bag_reads_back_with_the_same_positions(tmp_path: Path) -> None:
    root = fake_scene(tmp_path / "eth_ucy")
    bag = tmp_path / "bag"
    counts = write_people_bag(root, "zara1", bag, ids=False, frame=SENSOR_FRAME, progress=False)
    assert counts == {"/clock": 40, "/tf": 40, PEOPLE_TOPIC: 40, PEOPLE_GT_TOPIC: 40}
    assert bag_topics(bag)["/clock"] == "rosgraph_msgs/msg/Clock"
    rows = np.loadtxt(root / "zara1" / "test" / "crowds_fake.txt")
    source = PeopleBagSource(bag)
    items = list(source)
    assert source.scene == "zara1" and len(items) == len(source) == 40
    stamps = [item.stamp_ns for item in items]
    np.testing.assert_array_equal(np.diff(stamps), 400_000_000)
    for k, item in enumerate(items):
        expected = rows[rows[:, 0] == 10 * k]
        assert item.frame_id == SENSOR_FRAME and len(item.people) == len(expected)
        assert all(p.track_id == "" for p in item.people)  # ids=False: the tracker has to find them
        moved = people_in_frame(item.people, source.tree.lookup("map", item.frame_id, item.stamp_ns))
        got = sorted(tuple(np.round(p.translation_m, 6)) for p in moved)
        want = sorted((round(x, 6), round(y, 6), 0.0) for x, y in expected[:, 2:])
        np.testing.assert_allclose(got, want, atol=1e-6)
        ids = sorted(f"crowds_fake/{int(p)}" for p in expected[:, 1])
        assert sorted(t.track_id for t in item.truth) == ids
    clocks = [convert.time_to_ns(m.clock) for _, _, m in read_messages(bag, ["/clock"])]
    assert clocks == stamps


def test_people_runner_scores_the_benchmark_windows(tmp_path: Path) -> None:
    """Constant velocity through the whole people path (bag in a camera frame, tf, tracks by id,
    resampling, scoring) gives exactly the windows' constant-velocity ADE/FDE, on exactly the
    windows' agents: the bag evaluation and the benchmark measure the same thing."""
    root = fake_scene(tmp_path / "eth_ucy")
    bag = tmp_path / "bag"
    write_people_bag(root, "zara1", bag, frame=SENSOR_FRAME, progress=False)
    config = PipelineConfig(forecast_backend="constant_velocity")
    result = run_people(PeopleBagSource(bag), config, tmp_path / "out", progress=False)
    assert all(r.status == "ok" for r in result.records)
    windows = load_scene_split(root, "zara1", "test")
    cv = evaluate(None, windows, num_samples=1, reduce="mean")
    scored = result.metrics["forecast"]
    assert scored["forecasts_scored"] == cv.num_agents > 0
    assert scored["ade_m"] == pytest.approx(cv.ade, abs=1e-5)
    assert scored["fde_m"] == pytest.approx(cv.fde, abs=1e-5)
    paths = [m for _, _, m in read_messages(tmp_path / "out" / "bag", ["/diff9d/people/forecasts"])]
    first = paths[0]  # of the first message, at 1 s: poses at the forecast times, 0.4 s apart
    assert first.header.frame_id == "map" and len(first.poses) == config.forecast_horizon
    poses_ns = np.array([convert.header_stamp_ns(p.header) for p in first.poses])
    np.testing.assert_array_equal(poses_ns, SECOND + 400_000_000 * np.arange(1, 13))
    assert "minADE" in result.report_path.read_text()


def test_people_runner_refuses_a_model_trained_on_the_bags_scene(tmp_path: Path) -> None:
    root = fake_scene(tmp_path / "eth_ucy")
    bag = tmp_path / "bag"
    write_people_bag(root, "zara1", bag, progress=False)
    hotel = _save_model(tmp_path / "geotdm_hotel.pt", True, "hotel")
    config = PipelineConfig(people_model_path=str(hotel))
    with pytest.raises(ValueError, match="held out ETH-UCY scene 'hotel' and was trained on 'zara1'"):
        run_people(PeopleBagSource(bag), config, tmp_path / "out", progress=False)
    zara1 = _save_model(tmp_path / "geotdm_zara1.pt", True, "zara1")
    config = PipelineConfig(people_model_path=str(zara1), forecast_samples=4, people_draws=0)
    result = run_people(PeopleBagSource(bag), config, tmp_path / "ok", progress=False)
    assert result.metrics["forecast"]["forecasts_scored"] > 0
    backend = "geotdm (geotdm_zara1.pt, dpmpp_2m-2, temperature 0.5-3, speed 0.3/0.2 m)"
    assert result.info["forecast_backend"] == backend
    covered = PipelineConfig(people_model_path=str(zara1), forecast_samples=4, people_draws=8)
    result = run_people(PeopleBagSource(bag), covered, tmp_path / "covered", progress=False)
    assert result.info["forecast_backend"] == backend[:-1] + ", 4 of 8 draws)"
    assert result.metrics["forecast"]["forecasts_scored"] > 0
    from diff9d_ros.cli import main

    out = str(tmp_path / "cli")
    assert main(["eval-bag", str(bag), "--people-draws", "-1", "--out", out]) == 2  # named, not a traceback


def test_people_runner_refuses_the_default_model_of_another_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only geotdm_hotel.pt shipped: a zara1 bag must not be scored with it (it trained on zara1)."""
    import diff9d_ros.stages as stages

    root = fake_scene(tmp_path / "eth_ucy")
    bag = tmp_path / "bag"
    write_people_bag(root, "zara1", bag, progress=False)
    models = tmp_path / "models"
    models.mkdir()
    _save_model(models / "geotdm_hotel.pt", True, "hotel")
    monkeypatch.setattr(stages, "_models_dir", lambda: models)
    refused = r"no geotdm_zara1\.pt .* the default geotdm_hotel\.pt was trained on"
    with pytest.raises(ValueError, match=refused):
        run_people(PeopleBagSource(bag), PipelineConfig(), tmp_path / "out", progress=False)


def test_traj_eval_runs_the_online_settings_on_jittered_and_sped_up_windows(tmp_path: Path) -> None:
    """`diff9d traj eval` with the people path's settings, more draws, random windows, observation
    jitter and a faster scene: constant velocity per metre is the same at twice the speed (its
    error scales with the scene), jitter makes it worse, and a bad option is one clear error."""
    import json

    from diff9d_ros.cli import main

    root = fake_scene(tmp_path / "eth_ucy")
    model = _save_model(tmp_path / "geotdm_zara1.pt", True, "zara1")
    common = ["traj", "eval", "--checkpoint", str(model), "--data", str(root), "--windows", "4"]
    common += ["--threads", "1"]
    online = ["--sampler", "dpmpp_2m:3", "--temperature", "0.5,3", "--max-step", "0.35"]
    online += ["--speed-temperature", "0.3,0.2", "--draws", "40"]

    def rows(*extra: str) -> list[dict]:
        out = tmp_path / f"eval{len(list(tmp_path.glob('eval*.json')))}.json"
        assert main([*common, *online, *extra, "--json", str(out)]) == 0
        return json.loads(out.read_text())["rows"]

    plain, fast, noisy = rows(), rows("--speed", "2"), rows("--jitter-m", "0.05")
    assert [r["method"] for r in plain] == ["constant velocity", "GeoTDM dpmpp_2m-3"]
    assert fast[0]["ade"] == pytest.approx(plain[0]["ade"], abs=2e-4)  # per metre
    assert noisy[0]["ade"] > plain[0]["ade"]
    assert all(np.isfinite(r["ade"]) and np.isfinite(r["fde"]) for r in plain + fast + noisy)
    assert main([*common, "--temperature", "0.5,x"]) == 2
    assert main([*common, "--speed", "0"]) == 2
    assert plain[1]["spread"] > 0 and plain[1]["energy"] > 0  # 20 samples: scored as a distribution
    tune = ["traj", "train", "--task", "zara1", "--data", str(root), "--out", str(tmp_path / "tuned")]
    tune += ["--init", str(model), "--variety-samples", "4", "--steps", "1"]
    assert main([*tune, "--eval-speed-temperature", "0.3"]) == 2  # one clear line, not a traceback
    assert main([*tune, "--eval-sampler", "dpmpp_2m"]) == 2
