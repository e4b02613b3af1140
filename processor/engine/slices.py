"""Long work in slices: the worker's event loop serves HTTP requests (``/metrics``, the
API) between them. A batch or a tick is a generator that pauses (``yield``) whenever its
slice is used up, and the worker resumes it after giving the loop a turn."""

from __future__ import annotations

import time

SLICE_S = 0.02  # a slice's length: a request waits at most about this long


class Slicer:
    """``due()`` is True once per ``SLICE_S`` of work: time to pause."""

    __slots__ = ("_began",)

    def __init__(self) -> None:
        self._began = time.perf_counter()

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self._began >= SLICE_S:
            self._began = now
            return True
        return False
