"""Progress of long work: a redrawn bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """``update(done)`` as often as you like; it draws at most every ``every_s``."""

    def __init__(self, label: str, total: int | None = None, out: TextIO = sys.stderr,
                 *, every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.out, self._clock = label, total, out, clock
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 5.0)
        self._began = self._last = clock()
        self.done = 0
        self.extra = ""

    def update(self, done: int, extra: str = "") -> None:
        self.done, self.extra = done, extra
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        elapsed = max(now - self._began, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            share = min(self.done / self.total, 1.0)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            bar = "#" * int(share * 24)
            parts = [f"{self.label} [{bar:<24}] {self.done:,}/{self.total:,} ({share:.0%})",
                     f"ETA {eta:.0f} s" if eta != float("inf") else "ETA ?"]
        parts.append(f"{rate:,.0f}/s")
        if self.extra:
            parts.append(self.extra)
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + self.line(now))
        else:
            self.out.write(self.line(now) + "\n")
        self.out.flush()

    def close(self) -> None:
        self._draw(self._clock())
        if self.tty:
            self.out.write("\n")
