"""Throttled logging per reason: a bad stream must not flood the console, nor hide a second problem.

One throttle shared by every message would let a frequent complaint (a wrong encoding on every
frame) silence a rarer one (a wrong step) for good. :class:`ReasonThrottle` keeps one timer per
*kind* of message: the text with its numbers replaced (stamps, indices and sizes vary from frame to
frame, the problem does not), and says how many repeats it held back.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def reason_key(message: str) -> str:
    """The kind of ``message``: its text with every number replaced by ``#``."""
    return _NUMBER.sub("#", message)[:160]


class ReasonThrottle:
    """At most one message per kind every ``period_s`` seconds; thread-safe."""

    def __init__(self, period_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if period_s < 0:
            raise ValueError(f"throttle period must be >= 0, got {period_s}")
        self.period_s = period_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def text(self, message: str) -> str | None:
        """``message`` (with the count of repeats held back since it was last let through) when
        its kind may be logged now, else None (and the repeat is counted)."""
        key, now = reason_key(message), self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            held = self._held.pop(key, 0)
        return message if not held else f"{message} ({held} more like it in the last {self.period_s:g} s)"
