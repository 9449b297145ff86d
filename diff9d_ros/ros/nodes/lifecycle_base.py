"""What the four lifecycle nodes share: parameters, QoS, publishers, the newest-frame worker, diagnostics.

The yolo_ros pattern: parameters declared (with descriptions and ranges) in ``__init__``,
validated and publishers created in ``on_configure``, model and subscriptions created in
``on_activate`` and released in ``on_deactivate``, publishers released in ``on_cleanup``. Inputs
are handed to a worker thread through a :class:`~diff9d_ros.pipeline.LatestFrameSlot`, so the
executor never blocks on the model and the newest input wins; every input is counted in
:class:`~diff9d_ros.ros.diagnostics.NodeStats` and published on ``/diagnostics``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from diff9d_ros.log_throttle import ReasonThrottle
from diff9d_ros.pipeline import LatestFrameSlot
from diff9d_ros.ros.diagnostics import NodeStats, diagnostics_to_msg, no_input_message
from diff9d_ros.ros.frames import is_stale
from diff9d_ros.ros.message_types import RclpyTypes
from diff9d_ros.ros.nodes.params import ParamSpec, node_params, validate_params
from diff9d_ros.ros.topics import DIAGNOSTICS, QosChoice, TopicSpec, node_topics, qos_for, topic_spec
from diff9d_ros.threads import apply_threads

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE
#: Seconds between repeats of the same kind of warning (a bad stream must not flood the log).
WARN_THROTTLE_S = 5.0
#: Seconds a node that exits waits for the input its worker is processing.
EXIT_WORKER_WAIT_S = 1.0
#: Seconds the teardown of a node that exits may take before the process ends without it (ros2 launch
#: escalates to SIGTERM 5 s after its SIGINT).
EXIT_DEADLINE_S = 4.0
#: Seconds between the checks for an input that never came (``no_input_warn_s``).
INPUT_CHECK_PERIOD_S = 0.5
#: Topics every rclpy node may subscribe to by itself (not inputs of ours).
_INFRASTRUCTURE_TOPICS = frozenset({"/clock", "/parameter_events"})


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """ROS parameter descriptor of ``spec``: description, and the range where it has one."""
    text = spec.description
    if spec.choices is not None:
        text += " (one of: " + ", ".join(str(c) for c in spec.choices) + ")"
    out = ParameterDescriptor(description=text)
    if spec.range is not None and spec.kind is int:
        out.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=0)]
    elif spec.range is not None:
        out.floating_point_range = [
            FloatingPointRange(from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)
        ]
    return out


def qos_profile(choice: QosChoice) -> QoSProfile:
    """rclpy QoSProfile of a ROS-free :class:`QosChoice` (keep last, volatile)."""
    reliability = (
        ReliabilityPolicy.RELIABLE if choice.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(
        reliability=reliability,
        history=HistoryPolicy.KEEP_LAST,
        depth=choice.depth,
        durability=DurabilityPolicy.VOLATILE,
    )


class Diff9dNode(LifecycleNode):
    """Base of the diff9d lifecycle nodes; ``NODE`` names the entry of the parameter and topic tables."""

    NODE: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(self.NODE, **kwargs)
        self.types = RclpyTypes()
        self.params: dict[str, Any] = {}
        self.stats = NodeStats()
        self.outputs: dict[str, Any] = {}
        self._diagnostics_pub: Any = None
        self._diagnostics_timer: Any = None
        self._slot: LatestFrameSlot[Any] | None = None
        self._worker: threading.Thread | None = None
        self._throttle = ReasonThrottle(WARN_THROTTLE_S)
        self._input_check: Any = None
        self._said_stamp_zero = False
        self._received_at_activation = 0
        self._waiting_since_s = 0.0
        # Diagnostics and the no-input check run on the steady clock: rates are measured in it, and
        # under use_sim_time a paused or finished bag must not silence the node's health.
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        for spec in node_params(self.NODE):
            self.declare_parameter(spec.name, spec.default, descriptor(spec))

    # ----- helpers for subclasses -----
    def msg_class(self, msgtype: str) -> type:
        """The rclpy class of ``pkg/msg/Name``."""
        return type(self.types.new(msgtype))

    def qos(self, spec: TopicSpec) -> QoSProfile:
        return qos_profile(qos_for(spec, str(self.params["reliability"]), int(self.params["qos_depth"])))

    def subscribe_topic(self, key: str, callback: Callable[[Any], None]) -> Any:
        """A subscription to this node's input ``key`` of the topic table (type, name and QoS)."""
        spec = topic_spec(self.NODE, key)
        return self.create_subscription(self.msg_class(spec.msg_type), spec.key, callback, self.qos(spec))

    def now_ns(self) -> int:
        """ROS time (sim time under ``use_sim_time``) in nanoseconds."""
        return self.get_clock().now().nanoseconds

    def warn(self, message: str) -> None:
        """Log ``message``, throttled per kind of message (:class:`ReasonThrottle`)."""
        text = self._throttle.text(message)
        if text is not None:
            self.get_logger().warning(text)

    def drop_stale(self, stamp_ns: int) -> bool:
        """Whether an input stamped ``stamp_ns`` is too old (``max_frame_age_s``); counts it, and says
        once why inputs stamped 0 are all dropped."""
        max_age_s = float(self.params["max_frame_age_s"])
        if not is_stale(stamp_ns, self.now_ns(), max_age_s):
            return False
        self.stats.on_stale()
        if stamp_ns == 0 and not self._said_stamp_zero:
            self._said_stamp_zero = True
            self.get_logger().warning(
                f"inputs stamped 0 are dropped as older than max_frame_age_s={max_age_s:g}: the publisher "
                "does not set header.stamp; fix it, or set max_frame_age_s:=0 to keep every input"
            )
        return True

    # ----- lifecycle -----
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = {spec.name: self.get_parameter(spec.name).value for spec in node_params(self.NODE)}
        try:
            self.params = validate_params(self.NODE, values)
            threads = apply_threads(int(self.params["threads"]))
            self.configure_node()
        except ValueError as error:
            self.get_logger().error(f"configure failed: {error}")
            return FAILURE
        period_s = float(self.params["diagnostics_period_s"])
        self.stats = NodeStats(window_s=max(5.0, 2.0 * period_s))
        for spec in node_topics(self.NODE, "out"):
            if spec.key != "/tf":
                self.outputs[spec.key] = self.create_lifecycle_publisher(
                    self.msg_class(spec.msg_type), spec.key, self.qos(spec)
                )
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS.key, 10)
        self._diagnostics_timer = self.create_timer(
            period_s, self._publish_diagnostics, clock=self._steady_clock
        )
        self.get_logger().info(f"configured ({threads} CPU thread(s)): {self.params}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.load_model()
        except Exception as error:  # a missing or broken model file must fail the transition, not the node
            self.get_logger().error(
                f"activate failed while loading the model: {type(error).__name__}: {error}"
            )
            return FAILURE
        self._slot = LatestFrameSlot()
        self._worker = threading.Thread(
            target=self._work, args=(self._slot,), name=f"{self.NODE}-worker", daemon=True
        )
        self._worker.start()
        self.create_inputs()
        self._said_stamp_zero = False
        self._received_at_activation = self.stats.received
        self._waiting_since_s = time.monotonic()
        if float(self.params["no_input_warn_s"]) > 0:
            self._input_check = self.create_timer(
                INPUT_CHECK_PERIOD_S, self._check_input, clock=self._steady_clock
            )
        self.get_logger().info("activated")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input_check()
        self.destroy_inputs()
        self._stop_worker()
        self.release_model()
        self.get_logger().info("deactivated")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_outputs()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.teardown()
        return super().on_shutdown(state)

    def teardown(self, worker_timeout_s: float | None = None) -> None:
        """Release everything, whatever the current state (shutdown, or the process exits).

        ``worker_timeout_s``: the longest wait for an input the worker is processing (None = until
        it is done); a process that exits leaves a busy worker (a daemon thread) behind.
        """
        self._stop_input_check()
        self.destroy_inputs()
        if self._stop_worker(worker_timeout_s):
            self.release_model()
        self._release_outputs()

    def _release_outputs(self) -> None:
        for publisher in self.outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self.outputs = {}
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None

    # ----- inputs that never come -----
    def _stop_input_check(self) -> None:
        if self._input_check is not None:
            self.destroy_timer(self._input_check)
            self._input_check = None

    def _check_input(self) -> None:
        """Once ``no_input_warn_s`` (steady time) passed since activation, or since the ROS clock
        started under use_sim_time, without input: say what is subscribed, which of it has
        publishers, and which topics the graph has."""
        if self.stats.received > self._received_at_activation:
            self._stop_input_check()
            return
        if self.now_ns() == 0:  # use_sim_time and no /clock yet: nothing plays, nothing can arrive late
            self._waiting_since_s = time.monotonic()
            return
        seconds = float(self.params["no_input_warn_s"])
        if time.monotonic() - self._waiting_since_s < seconds:
            return
        self._stop_input_check()
        subscribed = {
            sub.topic_name: self.count_publishers(sub.topic_name)
            for sub in self.subscriptions
            if sub.topic_name not in _INFRASTRUCTURE_TOPICS
        }
        graph = {name: tuple(types) for name, types in self.get_topic_names_and_types()}
        self.get_logger().warning(no_input_message(self.get_name(), seconds, subscribed, graph))

    # ----- newest-frame worker -----
    def submit(self, item: Any) -> None:
        """Hand ``item`` to the worker; an unread older item is dropped and counted."""
        slot = self._slot
        if slot is None:
            return
        before = slot.dropped
        slot.put((time.monotonic(), item))
        if slot.dropped > before:
            self.stats.on_superseded(slot.dropped - before)

    def _stop_worker(self, timeout_s: float | None = None) -> bool:
        """Close the worker's slot and wait for it (at most ``timeout_s``); False when it is still busy."""
        if self._slot is not None:
            self._slot.close()
        if self._worker is not None:
            self._worker.join(timeout_s)
            if self._worker.is_alive():
                return False
        self._slot, self._worker = None, None
        return True

    def _work(self, slot: LatestFrameSlot[Any]) -> None:
        index = 0
        while True:
            taken = slot.take()
            if taken is None:
                return
            arrived_s, item = taken
            try:
                ok = self.process(index, item)
            except Exception as error:  # never let one input kill the worker
                if not self.context.ok():
                    # Ctrl-C shut the ROS context down while this input was processed: its results
                    # have nowhere to go, and the process is exiting. Not a failure.
                    return
                self.stats.on_failed(time.monotonic(), f"{type(error).__name__}: {error}")
                self.get_logger().error(f"input {index} failed: {error}\n{traceback.format_exc()}")
                ok = False
            if ok:
                done_s = time.monotonic()
                self.stats.on_processed(done_s, done_s - arrived_s)
            index += 1

    def reject(self, reason: str) -> None:
        """Count and log an input that cannot be processed (it never reaches the pipeline)."""
        self.stats.on_invalid(time.monotonic(), reason)
        self.warn(f"dropped an input: {reason}")

    def _publish_diagnostics(self) -> None:
        """The node's health, stamped with its ROS clock (none under use_sim_time before /clock)."""
        stamp_ns = self.now_ns()
        if self._diagnostics_pub is None or stamp_ns == 0:
            return
        summary = self.stats.summary(time.monotonic(), float(self.params["expected_rate_hz"]))
        name = f"{self.get_fully_qualified_name()}"
        self._diagnostics_pub.publish(diagnostics_to_msg(name, "diff9d_ros", summary, stamp_ns, self.types))

    # ----- what each node fills in -----
    def configure_node(self) -> None:
        """Extra checks and state after parameter validation (raise ValueError to fail configure)."""

    def load_model(self) -> None:
        """Build the pipeline (raise to fail activation)."""

    def release_model(self) -> None:
        """Drop the pipeline."""

    def create_inputs(self) -> None:
        """Create subscriptions (or start the device) that feed :meth:`submit`."""

    def destroy_inputs(self) -> None:
        """Destroy what :meth:`create_inputs` made."""

    def process(self, index: int, item: Any) -> bool:
        """Handle one input in the worker thread; True when results were published."""
        raise NotImplementedError


def spin_node(
    factory: Callable[[], Diff9dNode], args: list[str] | None = None, executor_threads: int = 1
) -> None:
    """``main`` of a node: init, spin until shutdown, clean up, exit at once.

    ``executor_threads`` above 1 spins on a :class:`MultiThreadedExecutor` of that many threads:
    callbacks of one callback group still run one at a time (the node's default group holds the
    subscriptions, timers and lifecycle services), those of a node's other groups (grasp_node's
    service) beside them.

    Transitions come from the launch file (configure, then activate once inactive) or from
    ``ros2 lifecycle set``; the node starts unconfigured like every managed node. After Ctrl-C
    the node waits at most :data:`EXIT_WORKER_WAIT_S` for the input being processed, releases
    its subscriptions, publishers and the ROS context, and ends the process with ``os._exit``:
    the interpreter's own finalisation, a garbage collection over torch, Open3D and their
    modules, takes seconds on a busy CPU (``ros2 launch`` escalates to SIGTERM after 5 s) and
    has nothing of ours left to release. Should the teardown hang, the process ends anyway
    :data:`EXIT_DEADLINE_S` after it began (status 1, saying so), and a SIGTERM during the
    teardown (launch's escalation) ends it at once.
    """
    rclpy.init(args=args)
    node = factory()
    executor = MultiThreadedExecutor(num_threads=executor_threads) if executor_threads > 1 else None
    try:
        rclpy.spin(node, executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # rclpy's SIGINT handler shuts the context down from its own thread; an executor building
        # its wait set at that moment gets RCLError (a RuntimeError) instead of
        # ExternalShutdownException. That is a normal Ctrl-C, not a crash; anything else is.
        if rclpy.ok():
            raise
    finally:
        # A terminal Ctrl-C reaches the node twice (from the terminal and from ros2 launch): the
        # second must not cut the teardown short (launch escalates to SIGTERM if it hangs).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        watchdog = threading.Timer(EXIT_DEADLINE_S, _exit_now, (node.get_name(),))
        watchdog.daemon = True
        watchdog.start()
        node.teardown(EXIT_WORKER_WAIT_S)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exit_now(name: str) -> None:
    """End the process whose teardown did not finish within :data:`EXIT_DEADLINE_S`."""
    print(f"{name}: teardown took over {EXIT_DEADLINE_S:.0f} s; exiting without it", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)
