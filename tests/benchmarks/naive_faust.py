"""The peer "as Faust's docs teach it": one agent, per-event table updates.

Per final response: the carrier's consecutive-failure counter (a 2xx resets it, any other
final code adds one), its code tallies, and its daily count in a tumbling one-day window
table. No batching, no dedup, no outputs. Writes its result line when it has handled
EVENTS messages; with ``--dump FILE`` it also writes its tables (for the honesty test).

    python -m tests.benchmarks.naive_faust BOOTSTRAP TOPIC EVENTS DATADIR [--dump FILE]
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from tests.benchmarks.common import emit, peer_arguments


def ts_ms(ts: Any) -> int:
    if isinstance(ts, int):
        return ts
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def build(bootstrap: str, topic: str, events: int, datadir: str, dump: str | None) -> faust.App:
    app = faust.App(f"naive-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}",
                    store="rocksdb://", datadir=datadir, topic_partitions=4,
                    consumer_auto_offset_reset="earliest", web_enabled=False)
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    consecutive = app.Table("consecutive", default=int, partitions=4)
    codes = app.Table("codes", default=int, partitions=4)

    def event_time(event: Any) -> float:
        """Windows by the event's own time (what the docs' relative_to_field does)."""
        try:
            return ts_ms(json.loads(event.value)["ts"]) / 1000
        except (ValueError, KeyError, TypeError, AttributeError):
            return time.time()

    daily = app.Table("daily", default=int, partitions=4).tumbling(
        timedelta(days=1), expires=timedelta(days=92)).relative_to(event_time)
    state = {"seen": 0, "first": 0.0}

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for value in stream:
            if state["seen"] == 0:
                state["first"] = time.perf_counter()
            state["seen"] += 1
            try:
                doc = json.loads(value)
                cid, code = doc["carrier_id"], doc["code"]
                ts_ms(doc["ts"])  # a valid time, as the window needs one
            except (ValueError, KeyError, TypeError, AttributeError):
                doc = None
            if doc is not None and isinstance(code, int) and 200 <= code < 700:
                consecutive[cid] = 0 if code < 300 else consecutive[cid] + 1
                codes[f"{cid}|{code}"] += 1
                daily[cid] += 1
            if state["seen"] == events:
                took = time.perf_counter() - state["first"]
                if dump:
                    write_dump(dump, consecutive, codes, daily)
                emit("naive-faust", events, took)
                os._exit(0)

    _ = count
    return app


def write_dump(path: str, consecutive: Any, codes: Any, daily: Any) -> None:
    days: dict[str, int] = {}
    for (cid, (start, _end)), n in daily.table.items():
        day = datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%d")
        days[f"{cid}|{day}"] = n
    with open(path, "w") as f:
        json.dump({"consecutive": dict(consecutive.items()), "codes": dict(codes.items()),
                   "daily": days}, f)


def main() -> None:
    args = peer_arguments()
    app = build(args.bootstrap, args.topic, args.events, args.statedir, args.dump)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
