"""What every benchmark contender shares: its arguments, result line and peak memory.

Standard library only: the Quix Streams peer imports this from its own venv."""

from __future__ import annotations

import argparse
import json
import os
import resource
from typing import Any


def peer_arguments() -> argparse.Namespace:
    """BOOTSTRAP TOPIC EVENTS STATEDIR [--dump FILE]: what every peer is started with."""
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("events", type=int, help="stop after this many messages")
    ap.add_argument("statedir")
    ap.add_argument("--dump", help="write the final state here (the honesty test)")
    return ap.parse_args()


def peak_rss_mib() -> float:
    """This process's peak resident set: VmHWM, which starts afresh at ``exec``.
    (``ru_maxrss`` does not: a peer started by a bench process that had grown to 3.7 GiB
    reported 3.7 GiB.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
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
