"""The reference clock ("now") for retention, ``live`` and the metrics' current windows,
as one rule: ``CARRIERWATCH_CLOCK=wall`` (live traffic) is the wall clock; ``stream``
(replays) is the newest ``ts`` the carrier has seen, so everything follows the recorded
time. On the wall clock an event far ahead of now is refused (``io/codec.py``).

The wall clock itself is injectable (``Clock(mode, wall_ms=...)``): the engine reads it
only through a ``Clock``, so a test can set the time."""

from __future__ import annotations

import time
from collections.abc import Callable


def now_ms() -> int:
    """The wall clock, epoch ms."""
    return int(time.time() * 1000)


class Clock:
    """The engine's one reading of time: the wall clock and the reference clock."""

    def __init__(self, mode: str, wall_ms: Callable[[], int] = now_ms) -> None:
        self.wall = mode == "wall"
        self.wall_ms = wall_ms

    def now(self, stream_ms: int | None = None) -> int | None:
        """Now on this clock; ``stream_ms`` is the carrier's stream time (None: unknown,
        and then the fold takes each event's own)."""
        return self.wall_ms() if self.wall else stream_ms
