"""How far a worker is behind its input after an assignment, in log lines for operators.

After a start or a rebalance a worker may have a backlog (it was down, or took over busy
partitions). Operators want to know that it is catching up, how fast, and when it is
done, without scraping ``/metrics``: a line every ``every_s`` while behind, and one line
once every owned input partition has nothing left to process. Pure bookkeeping: the
worker supplies the lags (``runtime.worker.Worker.lag``) and logs what this returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Set

EVERY_S = 10.0  # a progress line at most this often while behind


class CatchUp:
    """One assignment's catching up: ``begin`` at the assignment, ``observe`` often."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 every_s: float = EVERY_S) -> None:
        self._clock, self._every_s = clock, every_s
        self._began = self._last = clock()
        self._processed0 = 0
        self.done = True  # nothing to report before the first assignment

    def begin(self, processed: int) -> None:
        """Partitions were assigned; ``processed`` is the worker's event count so far."""
        self._began = self._last = self._clock()
        self._processed0 = processed
        self.done = False

    def observe(self, owned: Set[int], lag: Mapping[int, int], processed: int) -> str | None:
        """A line to log, or None. ``lag`` holds the partitions whose lag is known; the
        worker is caught up once every ``owned`` one is known and at 0."""
        if self.done or not owned:
            return None
        now = self._clock()
        took = now - self._began
        n = processed - self._processed0
        behind = sum(lag.values())
        if behind == 0 and owned <= lag.keys():
            self.done = True
            return (f"caught up with the input ({_partitions(len(owned))}): {n:,} events "
                    f"processed in {took:.1f} s since the assignment")
        if now - self._last < self._every_s:
            return None
        self._last = now
        unknown = len(owned - lag.keys())
        rate = n / took if took > 0 else 0.0
        return (f"catching up with the input: {behind:,} messages behind"
                + (f" ({_partitions(unknown)} not started yet)" if unknown else "")
                + f"; {n:,} events processed in {took:.0f} s ({rate:,.0f}/s)")


def _partitions(n: int) -> str:
    return f"{n} partition" if n == 1 else f"{n} partitions"
