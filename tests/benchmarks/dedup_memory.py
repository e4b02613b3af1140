"""What duplicate detection holds in memory per identity, on live traffic.

``python -m tests.benchmarks.dedup_memory [--rate 50000] [--window-s 10] [--events N]``

Live traffic (``generate.Live``) stamped at ``--rate`` events/s goes through the pipeline
(tests' harness, in-memory tables) with a dedup window of ``--window-s`` seconds, run for
1.5 windows so that chunks expire as they do in production. Then what the worker keeps in
memory for dedup (each carrier's identity table, ``domain/seen.py``, and its record's tail)
is weighed: bytes per identity held. They do not depend on the window's length, so the
figure holds for the default 10-minute window, which at 50,000 events/s keeps 30 million
identities (printed as the total it implies). ``cpu_us_per_event``: the whole pipeline's,
on in-memory tables.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from processor.dev.generate import Live, generate_live
from processor.settings import Settings
from tests.harness import Broker, Harness

START_MS = 1763510400000
DEFAULT_WINDOW_S = Settings().dedup_window_s


def measure(*, rate: int, window_s: int, events: int) -> dict[str, Any]:
    h = Harness(Settings(clock="wall", dedup_window_s=window_s), broker=Broker(keep=False))
    traffic = Live(carriers=1_000, events=events, start_ms=START_MS, rate=rate)
    msgs = [h.source.record(m.value, key=m.key, arrival_ms=m.arrival_ms)
            for m in generate_live(traffic)]
    batch = h.settings.batch_max
    began = time.process_time()
    for i in range(0, len(msgs), batch):
        h.clock.ms = msgs[min(i + batch, len(msgs)) - 1].timestamp()[1]
        h.run(msgs[i:i + batch])
        if (i // batch) % 2:
            h.flush()
    h.flush()
    took = time.process_time() - began
    # What the worker holds for dedup: each carrier's table and its record's tail (the
    # chunks are bytes in RocksDB, not in memory once flushed).
    n = size = 0
    for state in h.stores.carriers.cached():
        if state.seen is not None:
            n += len(state.seen)
            size += sys.getsizeof(state.seen) + state.seen.nbytes + sys.getsizeof(state.tail)
    per = size / n if n else 0.0
    return {"name": "dedup-memory", "rate": rate, "window_s": window_s, "events": events,
            "identities_held": n, "dedup_bytes_per_identity": round(per, 1),
            "cpu_us_per_event": round(took / events * 1e6, 1),
            "default_window_identities_at_rate": rate * DEFAULT_WINDOW_S,
            "default_window_gib_at_rate": round(per * rate * DEFAULT_WINDOW_S / 2**30, 2)}


def run(*, rate: int, window_s: int, events: int) -> dict[str, Any]:
    """Both measures in a process of their own: the traffic they hold (GiBs) must not
    stay in the caller's memory, nor in the peak RSS of the processes it starts."""
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.dedup_memory", "--rate",
                          str(rate), "--window-s", str(window_s), "--events", str(events),
                          "--json"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    result: dict[str, Any] = orjson.loads(out.stdout.splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--window-s", type=int, default=10)
    ap.add_argument("--events", type=int, help="default: 1.5 windows at the rate")
    ap.add_argument("--json", action="store_true", help="one JSON line (for the bench)")
    args = ap.parse_args()
    events = args.events or int(args.rate * args.window_s * 1.5)
    r = measure(rate=args.rate, window_s=args.window_s, events=events)
    print(orjson.dumps(r).decode() if args.json
          else " ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
