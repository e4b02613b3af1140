"""What every benchmark contender shares: its result line and its peak memory."""

from __future__ import annotations

import json
import os
import resource
from typing import Any


def peak_rss_mib() -> float:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(name: str, events: int, seconds: float, **extra: Any) -> None:
    """One JSON line on stdout, on a line of its own even if a logger left half a line
    there: what the harness (tests/benchmarks/bench.py) reads with ``result_of``."""
    line = json.dumps({"name": name, "events": events, "seconds": round(seconds, 3),
                       "events_per_s": round(events / seconds) if seconds > 0 else None,
                       "peak_rss_mib": round(peak_rss_mib(), 1), **extra})
    # fd 1 itself: a Faust worker has replaced sys.stdout with a logger.
    os.write(1, f"\n{line}\n".encode())


def result_of(stdout: str) -> dict[str, Any] | None:
    """The last result line a contender printed (None: it printed none)."""
    found = None
    for line in stdout.splitlines():
        at = line.find('{"name": ')
        if at >= 0:
            found = json.loads(line[at:])
    return found
