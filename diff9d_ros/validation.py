"""Checks of user input shared by the commands and the sources, and one-line error text.

Bad input must end as one clear line naming the problem (a ValueError), never as a traceback or
an empty output folder: commands call these before they create anything.
"""

from __future__ import annotations

import math


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """The first line of an error message, shortened (torch and rosbags quote pages of context)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    text = lines[0].strip()
    return text if len(text) <= limit and len(lines) == 1 else text[:limit].rstrip() + " ..."


def frame_count(seconds: float, fps: float) -> int:
    """Frames of a ``seconds`` long sequence at ``fps``; ValueError unless that is at least one.

    Both must be finite and positive (NaN and infinity are named, not passed on to ``round``).
    """
    for name, value in (("seconds", seconds), ("fps", fps)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    frames = round(seconds * fps)
    if frames < 1:
        raise ValueError(
            f"{seconds:g} s at {fps:g} fps is less than one frame: give more seconds or a higher fps"
        )
    return frames
