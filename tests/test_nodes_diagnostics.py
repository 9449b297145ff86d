"""Diagnostics aggregation: counters, sliding-window rates, levels, and the DiagnosticArray message."""

from __future__ import annotations

import pytest

from diff9d_ros.ros.diagnostics import ERROR, OK, WARN, NodeStats, diagnostics_to_msg
from diff9d_ros.ros.message_types import RosbagsTypes
from diff9d_ros.ros.typestore import get_typestore


def test_no_input_is_a_warning() -> None:
    summary = NodeStats(window_s=5.0).summary(now_s=100.0)
    assert summary.level == WARN and "no input" in summary.message


def test_rates_latency_and_counters_over_the_window() -> None:
    stats = NodeStats(window_s=2.0)
    for i in range(20):  # 10 Hz for 2 s, every frame processed 50 ms after arrival
        t = 10.0 + 0.1 * i
        stats.on_received(t)
        stats.on_processed(t + 0.05, 0.05)
    stats.on_stale()
    stats.on_superseded(3)
    summary = stats.summary(now_s=12.0)
    assert summary.level == OK and summary.message == "ok"
    assert float(summary.values["input_rate_hz"]) == pytest.approx(10.0, abs=0.6)
    assert float(summary.values["latency_mean_s"]) == pytest.approx(0.05)
    assert summary.values["dropped_stale"] == "1" and summary.values["dropped_superseded"] == "3"
    assert summary.values["received"] == "20" and summary.values["processed"] == "20"
    late = stats.summary(now_s=30.0)  # the window moved past every input
    assert late.level == WARN and late.values["received"] == "20"


def test_failures_warn_and_all_failed_is_an_error() -> None:
    stats = NodeStats(window_s=5.0)
    stats.on_received(1.0)
    stats.on_failed(1.1, "pose: RuntimeError: bad")
    summary = stats.summary(2.0)
    assert summary.level == ERROR and "pose: RuntimeError: bad" in summary.message
    stats.on_received(1.5)
    stats.on_processed(1.6, 0.1)
    stats.on_received(1.7)
    stats.on_invalid(1.7, "depth image is 4x3 but camera_info is 8x6")
    summary = stats.summary(2.0)
    assert summary.level == WARN and "2 input(s) failed" in summary.message
    assert summary.values["dropped_invalid"] == "1" and summary.values["failed"] == "1"


def test_rate_below_expectation_warns() -> None:
    stats = NodeStats(window_s=1.0)
    for t in (0.1, 0.5):
        stats.on_received(t)
        stats.on_processed(t, 0.01)
    assert stats.summary(1.0, expected_rate_hz=10.0).level == WARN
    assert stats.summary(1.0, expected_rate_hz=1.0).level == OK
    with pytest.raises(ValueError, match="window must be positive"):
        NodeStats(window_s=0.0)


def test_diagnostic_array_serialises_with_the_ros2_typestore() -> None:
    stats = NodeStats(window_s=5.0)
    stats.on_received(1.0)
    stats.on_processed(1.2, 0.2)
    summary = stats.summary(2.0)
    msg = diagnostics_to_msg("/diff9d/pose_node", "diff9d_ros", summary, 1_500_000_000, RosbagsTypes())
    store = get_typestore()
    back = store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
    status = back.status[0]
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (1, 500_000_000)
    assert status.name == "/diff9d/pose_node" and status.level == OK
    assert {kv.key: kv.value for kv in status.values}["latency_mean_s"] == "0.2000"
