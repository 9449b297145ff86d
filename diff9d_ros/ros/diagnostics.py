"""Per-node health for /diagnostics: input and output rate, latency, failures and dropped frames.

:class:`NodeStats` is fed by a node's callbacks and worker thread (it is thread-safe) and
summarised over a sliding window into one ``diagnostic_msgs/DiagnosticStatus``: OK, WARN (no
input, failures, output rate below the expected one) or ERROR (every frame of the window
failed). Every input is accounted for: received = processed + failed + dropped (stale,
superseded by a newer frame, invalid) + in flight.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from diff9d_ros.ros.convert_std import make_header
from diff9d_ros.ros.message_types import MessageTypes

OK, WARN, ERROR = 0, 1, 2


@dataclass(frozen=True)
class HealthSummary:
    """Level (``OK``/``WARN``/``ERROR``), a one-line message and key/value pairs for the status."""

    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)


class NodeStats:
    """Counters and a sliding window (``window_s``) of arrival and output times and latencies."""

    def __init__(self, window_s: float = 5.0) -> None:
        if window_s <= 0:
            raise ValueError(f"diagnostics window must be positive, got {window_s} s")
        self.window_s = window_s
        self.received = 0
        self.processed = 0
        self.failed = 0
        self.dropped_stale = 0
        self.dropped_superseded = 0
        self.dropped_invalid = 0
        self.last_error = ""
        self._arrivals: deque[float] = deque()
        self._outputs: deque[tuple[float, float]] = deque()  # (time, latency_s)
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def on_received(self, now_s: float) -> None:
        """An input (one synchronised set) arrived."""
        with self._lock:
            self.received += 1
            self._arrivals.append(now_s)

    def on_invalid(self, now_s: float, reason: str) -> None:
        """An input was rejected before processing (malformed message, mismatched sizes)."""
        with self._lock:
            self.dropped_invalid += 1
            self.last_error = reason
            self._failures.append(now_s)

    def on_stale(self) -> None:
        """An input was older than the node's ``max_frame_age_s`` on arrival."""
        with self._lock:
            self.dropped_stale += 1

    def on_superseded(self, count: int = 1) -> None:
        """``count`` inputs were replaced by a newer one before the worker took them."""
        with self._lock:
            self.dropped_superseded += count

    def on_processed(self, now_s: float, latency_s: float) -> None:
        """An input went through the pipeline and its results were published ``latency_s`` after arrival."""
        with self._lock:
            self.processed += 1
            self._outputs.append((now_s, latency_s))

    def on_failed(self, now_s: float, reason: str) -> None:
        """The pipeline failed on an input (the stage and reason are in ``reason``)."""
        with self._lock:
            self.failed += 1
            self.last_error = reason
            self._failures.append(now_s)

    def _trim(self, now_s: float) -> None:
        start = now_s - self.window_s
        for queue in (self._arrivals, self._failures):
            while queue and queue[0] < start:
                queue.popleft()
        while self._outputs and self._outputs[0][0] < start:
            self._outputs.popleft()

    def summary(self, now_s: float, expected_rate_hz: float = 0.0) -> HealthSummary:
        """Health over the last ``window_s`` seconds (rates in Hz, latencies in seconds)."""
        with self._lock:
            self._trim(now_s)
            arrivals, failures = len(self._arrivals), len(self._failures)
            latencies = [latency for _, latency in self._outputs]
            values = {
                "input_rate_hz": f"{arrivals / self.window_s:.2f}",
                "output_rate_hz": f"{len(latencies) / self.window_s:.2f}",
                "latency_mean_s": f"{sum(latencies) / len(latencies):.4f}" if latencies else "nan",
                "latency_max_s": f"{max(latencies):.4f}" if latencies else "nan",
                "received": str(self.received),
                "processed": str(self.processed),
                "failed": str(self.failed),
                "dropped_stale": str(self.dropped_stale),
                "dropped_superseded": str(self.dropped_superseded),
                "dropped_invalid": str(self.dropped_invalid),
                "last_error": self.last_error,
            }
            output_rate_hz = len(latencies) / self.window_s
            last_error = self.last_error
        if arrivals == 0:
            return HealthSummary(WARN, f"no input in the last {self.window_s:g} s", values)
        if failures and not latencies:
            message = f"every input of the last {self.window_s:g} s failed: {last_error}"
            return HealthSummary(ERROR, message, values)
        if failures:
            return HealthSummary(WARN, f"{failures} input(s) failed or were invalid: {last_error}", values)
        if expected_rate_hz > 0 and output_rate_hz < expected_rate_hz:
            message = f"output rate {output_rate_hz:.2f} Hz is below the expected {expected_rate_hz:g} Hz"
            return HealthSummary(WARN, message, values)
        return HealthSummary(OK, "ok", values)


def diagnostics_to_msg(
    name: str, hardware_id: str, summary: HealthSummary, stamp_ns: int, types: MessageTypes
) -> Any:
    """``diagnostic_msgs/DiagnosticArray`` with one status ``name`` holding ``summary``.

    The status ``level`` is a ROS ``byte``: rclpy wants a one-byte ``bytes``, rosbags an int.
    """
    status = types.new(
        "diagnostic_msgs/msg/DiagnosticStatus",
        name=name,
        message=summary.message,
        hardware_id=hardware_id,
        values=[
            types.new("diagnostic_msgs/msg/KeyValue", key=key, value=value)
            for key, value in summary.values.items()
        ],
    )
    is_rclpy = hasattr(type(status), "_fields_and_field_types")
    status.level = bytes([summary.level]) if is_rclpy else summary.level
    return types.new(
        "diagnostic_msgs/msg/DiagnosticArray", header=make_header(stamp_ns, "", types), status=[status]
    )


#: Message types worth naming when a node hears nothing (what could be its input).
INPUT_LIKE_TYPES: tuple[str, ...] = (
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CompressedImage",
    "sensor_msgs/msg/CameraInfo",
    "vision_msgs/msg/Detection3DArray",
    "vision_msgs/msg/Detection2DArray",
)


def no_input_message(
    node: str, seconds: float, subscribed: dict[str, int], graph: dict[str, tuple[str, ...]]
) -> str:
    """The warning of a node that received nothing ``seconds`` after activation.

    ``subscribed``: its input topics (resolved names) -> publisher count; ``graph``: every topic
    in the ROS graph -> its types. Names the inputs nobody publishes and the topics of input-like
    types that are there, so a wrong remapping (a bag's /camera/camera/... against rgb/image)
    shows at once.
    """
    if not subscribed:
        return f"{node}: no input in {seconds:g} s since activation (the device delivered no frame)"
    heard = [f"{t} ({n} publisher{'s' if n != 1 else ''})" for t, n in sorted(subscribed.items()) if n > 0]
    silent = [t for t, n in sorted(subscribed.items()) if n == 0]
    candidates = [
        f"{name} ({', '.join(t.split('/')[-1] for t in types)})"
        for name, types in sorted(graph.items())
        if name not in subscribed and any(t in INPUT_LIKE_TYPES for t in types)
    ]
    parts = [f"{node}: no input in {seconds:g} s since activation"]
    if silent:
        parts.append(f"nobody publishes {', '.join(silent)}")
    if heard:
        parts.append(f"published but not arriving (QoS or stamps?): {', '.join(heard)}")
    parts.append(
        f"image/detection topics available: {', '.join(candidates)}"
        if candidates
        else "no image or detection topic is published at all"
    )
    return "; ".join(parts) + " (remap with rgb_topic:=, depth_topic:=, camera_info_topic:=)"
