"""Start a launch action once the perception nodes are active: the camera node's activation in
``nodes.launch.py``, ``ros2 bag play`` in ``bag.launch.py``.

A recording or bag streams from the moment it starts; frames sent while a node still loads its
model (tens of seconds on a busy CPU) are lost to it, and a short recording can end before the
last node listens. :class:`StartWhenActive` holds the action back until every awaited node has
reached ``active`` or failed its activation (a failed node will not come later), or until
``start_delay_s`` has passed (a node hangs), warning which nodes are not active. It opens once:
only the launch's first transitions count, never an operator's later ``ros2 lifecycle set``.
``launch`` and ``launch_ros`` are imported only when actions are built, so this loads without ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def node_full_name(namespace: str, name: str) -> str:
    """``/namespace/name`` as ROS resolves it (``/name`` for an empty namespace)."""
    return "/" + "/".join(part for part in (namespace.strip("/"), name) if part)


class StartWhenActive:
    """Returns ``actions`` once: when the gate is ready (``ready``, or :meth:`on_ready` was called)
    and every node of ``awaited`` (full names) is active or failed, or at the deadline once ready.

    ``what`` names the action in the log, e.g. ``"the camera"``.
    """

    def __init__(self, actions: Sequence[Any], awaited: Iterable[str], what: str, ready: bool = True) -> None:
        self.actions = list(actions)
        self.awaited = frozenset(awaited)
        self.what = what
        self.ready = ready
        self.active: set[str] = set()
        self.failed: set[str] = set()
        self.deadline_passed = False
        self.started = False

    def _try_start(self) -> list[Any]:
        if self.started or not self.ready:
            return []
        if not (self.deadline_passed or self.awaited <= self.active | self.failed):
            return []
        self.started = True
        waiting = sorted(self.awaited - self.active)
        if waiting:
            _logger().warning(
                f"starting {self.what} although {', '.join(waiting)} "
                f"{'is' if len(waiting) == 1 else 'are'} not active"
                + (f" (activation failed: {', '.join(sorted(self.failed))})" if self.failed else "")
                + (" (start_delay_s passed)" if self.deadline_passed else "")
            )
        else:
            _logger().info(f"starting {self.what}: {', '.join(sorted(self.active)) or 'no node'} active")
        return self.actions

    def _event_node(self, context: Any) -> str:
        return str(context.locals.event.action.node_name)

    def on_ready(self, context: Any) -> list[Any]:
        """The action can run now (e.g. the camera node reached ``inactive``)."""
        self.ready = True
        return self._try_start()

    def on_active(self, context: Any) -> list[Any]:
        """A lifecycle node reached ``active`` (``context.locals.event``)."""
        name = self._event_node(context)
        if name in self.awaited:
            self.active.add(name)
            self.failed.discard(name)
        return self._try_start()

    def on_failed(self, context: Any) -> list[Any]:
        """A lifecycle node went from ``activating`` back to ``inactive``: its activation failed."""
        name = self._event_node(context)
        if name in self.awaited and name not in self.active:
            self.failed.add(name)
        return self._try_start()

    def on_deadline(self, context: Any) -> list[Any]:
        """``start_delay_s`` passed: start as soon as the gate is ready, whoever is active."""
        self.deadline_passed = True
        return self._try_start()

    def handlers(self, start_delay_s: Any) -> list[Any]:
        """Event handlers for every lifecycle node's activation (success or failure) and the
        ``start_delay_s`` timer (a float or a substitution) that feed this gate."""
        from launch.actions import OpaqueFunction, RegisterEventHandler, TimerAction
        from launch_ros.event_handlers import OnStateTransition

        return [
            RegisterEventHandler(
                OnStateTransition(goal_state="active", entities=[OpaqueFunction(function=self.on_active)])
            ),
            RegisterEventHandler(
                OnStateTransition(
                    start_state="activating",
                    goal_state="inactive",
                    entities=[OpaqueFunction(function=self.on_failed)],
                )
            ),
            TimerAction(period=start_delay_s, actions=[OpaqueFunction(function=self.on_deadline)]),
        ]


def _logger() -> Any:
    import launch.logging

    return launch.logging.get_logger("diff9d.launch")
