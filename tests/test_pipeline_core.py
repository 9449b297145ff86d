"""Pipeline machinery: per-stage timing, failure isolation, wiring checks, newest-frame-wins."""

from __future__ import annotations

import time

import numpy as np
import pytest

from diff9d_ros.geometry.camera import Intrinsics, RGBDFrame
from diff9d_ros.pipeline import FrameState, LatestFrameSlot, Pipeline, Stage, run_newest_first


def _frame(stamp_ns: int, depth_value: float = 1.0) -> RGBDFrame:
    intr = Intrinsics(8, 6, 10.0, 10.0, 3.5, 2.5)
    return RGBDFrame(
        rgb=np.zeros((6, 8, 3), np.uint8),
        depth_m=np.full((6, 8), depth_value, np.float32),
        intrinsics=intr,
        stamp_ns=stamp_ns,
    )


class NearestDepthMask(Stage):
    """Masks the pixels within 5 cm of the nearest valid depth (a tiny real segmentation)."""

    name = "segmentation"
    reads = ("frame",)
    writes = ("instance_mask",)

    def __call__(self, state: FrameState) -> None:
        depth = state.frame.depth_m
        nearest = np.nanmin(depth)
        state.instance_mask = (np.abs(depth - nearest) < 0.05).astype(np.int32)


class RejectFarFrames(Stage):
    name = "gate"
    reads = ("instance_mask",)

    def __call__(self, state: FrameState) -> None:
        if np.nanmin(state.frame.depth_m) > 3.0:
            raise ValueError("nothing within 3 m")


def test_bad_frames_fail_alone_with_stage_and_reason() -> None:
    pipeline = Pipeline([NearestDepthMask(), RejectFarFrames()])
    frames = [_frame(1), _frame(2, depth_value=5.0), _frame(3, depth_value=np.nan), _frame(4)]
    states = list(pipeline.run(frames))
    assert [s.ok for s in states] == [True, False, False, True]
    assert states[1].failed_stage == "gate" and "within 3 m" in states[1].error
    assert states[2].failed_stage == "input" and "no valid measurement" in states[2].error
    assert set(states[0].timings_s) == {"input", "segmentation", "gate"}
    assert states[3].instance_mask is not None and states[3].instance_mask.all()


def test_wiring_checks_reads_against_earlier_writes() -> None:
    with pytest.raises(ValueError, match="reads \\['instance_mask'\\]"):
        Pipeline([RejectFarFrames(), NearestDepthMask()])


def test_newest_frame_wins_and_every_input_is_accounted_for() -> None:
    handled: list[int] = []

    def slow_consumer(item: int) -> None:
        time.sleep(0.01)
        handled.append(item)

    def fast_producer():
        for i in range(200):
            time.sleep(0.0005)
            yield i

    slot = run_newest_first(fast_producer(), slow_consumer)
    assert slot.accepted == 200
    assert handled == sorted(handled)
    assert handled[-1] == 199
    assert slot.dropped > 0
    assert slot.dropped + len(handled) == slot.accepted


def test_slot_take_times_out_empty() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.take(timeout_s=0.01) is None
