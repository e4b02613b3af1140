"""What duplicate detection holds in memory per identity, on live traffic.

``python -m tests.benchmarks.dedup_memory [--rate 50000] [--window-s 10] [--events N]``

Live traffic (``generate.Live``) stamped at ``--rate`` events/s goes through the pipeline
(tests' harness, in-memory tables) with a dedup window of ``--window-s`` seconds, run for
1.5 windows so that buckets expire as they do in production. Then every identity the
worker keeps (inline in carrier records and in cached dedup buckets) is weighed with
``sys.getsizeof`` over its containers, keys and values. Bytes per identity do not depend on
the window's length, so the figure holds for the default 10-minute window, which at
50,000 events/s keeps 30 million identities (printed as the total it implies).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from processor.domain.seen import Seen, identity_hash, where_tag
from processor.settings import Settings
from processor.tools.generate import Live, generate_live
from tests.harness import Broker, Harness

START_MS = 1763510400000
DEFAULT_WINDOW_S = Settings().dedup_window_s


def weigh(containers: list[dict[str, Any]]) -> tuple[int, int]:
    """(identities, bytes) of identity maps: each dict, its keys and its values, once."""
    seen: set[int] = set()
    size = n = 0
    for d in containers:
        if id(d) in seen:
            continue
        seen.add(id(d))
        size += sys.getsizeof(d)
        for k, v in d.items():
            n += 1
            size += sys.getsizeof(k) + sys.getsizeof(v)
    return n, size


def measure(*, rate: int, window_s: int, events: int) -> dict[str, Any]:
    h = Harness(Settings(clock="wall", dedup_window_s=window_s), broker=Broker(keep=False))
    traffic = Live(carriers=1_000, events=events, start_ms=START_MS, rate=rate)
    msgs = [h.source.record(m.value, key=m.key, arrival_ms=m.arrival_ms)
            for m in generate_live(traffic)]
    batch = h.settings.batch_max
    for i in range(0, len(msgs), batch):
        h.clock.ms = msgs[min(i + batch, len(msgs)) - 1].timestamp()[1]
        h.run(msgs[i:i + batch])
        if (i // batch) % 2:
            h.flush()
    h.flush()
    maps: list[dict[str, Any]] = [b for b in h.stores.dedup.cached() if isinstance(b, dict)]
    for state in h.stores.carriers.cached():
        maps.extend(state.ids.values())
    n, size = weigh(maps)
    per = size / n if n else 0.0
    return {"name": "dedup-memory", "rate": rate, "window_s": window_s, "events": events,
            "identities_held": n, "dedup_bytes_per_identity": round(per, 1),
            "default_window_identities_at_rate": rate * DEFAULT_WINDOW_S,
            "default_window_gib_at_rate": round(per * rate * DEFAULT_WINDOW_S / 2**30, 2)}


def measure_table(*, rate: int, window_s: int, events: int) -> dict[str, Any]:
    """The same traffic's identities into ``domain/seen.Seen`` tables, one per carrier (the
    worker's next dedup store, not yet wired in): bytes per identity held, and µs of CPU
    per event for hashing, looking up and holding its identity."""
    traffic = Live(carriers=1_000, events=events, start_ms=START_MS, rate=rate)
    docs = [(m.carrier_id, orjson.loads(m.value)["event_id"], m.arrival_ms)
            for m in generate_live(traffic)]
    tables: dict[str, Seen] = {}
    window = window_s * 1000
    began = time.process_time()
    for offset, (cid, event_id, arrival) in enumerate(docs):
        table = tables.get(cid)
        if table is None:
            table = tables[cid] = Seen()
        h = identity_hash("e:" + event_id)
        found = table.get(h)
        if found is None or found[1] < arrival - window:
            table.put(h, where_tag("in:0", offset), arrival, arrival - window)
    took = time.process_time() - began
    held = sum(len(t) for t in tables.values())
    size = sum(t.nbytes + sys.getsizeof(t) for t in tables.values())
    return {"seen_table_bytes_per_identity": round(size / held, 1),
            "seen_table_us_per_event": round(took / len(docs) * 1e6, 2)}


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
    r.update(measure_table(rate=args.rate, window_s=args.window_s, events=events))
    print(orjson.dumps(r).decode() if args.json
          else " ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
