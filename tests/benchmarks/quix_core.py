"""carrierwatch's core job written in Quix Streams, the way its docs teach it.

Runs in the Quix venv (``bench.quix_python``) and imports nothing from ``processor``. Per
carrier (the message key), on final responses (``code`` >= 200):

- the consecutive-failure counter in arrival order (any code >= 300 adds one, a 2xx
  resets it), the final-code tallies with 200 and 404, and a live 24 h total (the 24 hours
  ending with the hour of the carrier's newest ``ts``): one stateful ``apply``;
- hour and day windows of attempts, answered, duration and PDD sums: ``tumbling_window``
  with ``agg`` and ``current()``, grace as long as carrierwatch keeps them (7 and 92
  days), on the event's ``ts`` (a ``timestamp_extractor``);
- month windows, which Quix's fixed-length windows cannot express (calendar months): a
  stateful ``apply`` keyed by the month's start.

Every update goes to compacted topics, ``<input>.quix-core-carriers`` (key: the carrier)
and ``<input>.quix-core-windows`` (key: ``carrier|kind|start ms``), in JSON. State is
Quix's RocksDB with its changelog topics. The clock runs from the first message to the
application stopped after the last: its outputs flushed and its offsets committed.

    python -m tests.benchmarks.quix_core BOOTSTRAP TOPIC EVENTS STATEDIR
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum
from quixstreams.models import TopicConfig

from tests.benchmarks.common import emit, peer_arguments
from tests.benchmarks.quix_peer import ts_ms

HOUR = 3_600_000
DAY = 24 * HOUR


def month_start(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def shape(doc: dict[str, Any]) -> dict[str, Any]:
    """What the windows sum, from a final response."""
    answered = 200 <= doc["code"] < 300
    return {"carrier_id": doc["carrier_id"], "code": doc["code"], "ts": ts_ms(doc["ts"]),
            "answered": 1 if answered else 0,
            "duration_ms": doc.get("duration_ms") if answered else None,
            "pdd_ms": doc.get("pdd_ms")}


def sums(row: list[int], ev: dict[str, Any]) -> None:
    row[0] += 1
    row[1] += ev["answered"]
    row[2] += ev["duration_ms"] or 0
    row[3] += ev["pdd_ms"] or 0


def carrier(ev: dict[str, Any], state: Any) -> dict[str, Any]:
    """Streak, code tallies and the live 24 h of the carrier, in one state entry."""
    c = state.get("carrier") or {"streak": 0, "codes": {}, "newest": ev["ts"], "hours": {}}
    code = ev["code"]
    c["streak"] = 0 if code < 300 else c["streak"] + 1
    c["codes"][str(code)] = c["codes"].get(str(code), 0) + 1
    c["newest"] = max(c["newest"], ev["ts"])
    first = c["newest"] // HOUR * HOUR - 23 * HOUR
    hour = ev["ts"] // HOUR * HOUR
    hours = {h: row for h, row in c["hours"].items() if int(h) >= first}
    if hour >= first:
        sums(hours.setdefault(str(hour), [0, 0, 0, 0]), ev)
    c["hours"] = hours
    state.set("carrier", c)
    live = [sum(row[i] for row in hours.values()) for i in range(4)]
    return {"carrier_id": ev["carrier_id"], "consecutive_failures": c["streak"],
            "codes": c["codes"], "total_200": c["codes"].get("200", 0),
            "total_404": c["codes"].get("404", 0),
            "live": {"start": first, "attempts": live[0], "answered": live[1],
                     "duration_ms": live[2], "pdd_ms": live[3]}}


def month(ev: dict[str, Any], state: Any) -> dict[str, Any]:
    start = month_start(ev["ts"])
    row = state.get(f"m|{start}") or [0, 0, 0, 0]
    sums(row, ev)
    state.set(f"m|{start}", row)
    return {"key": f"{ev['carrier_id']}|month|{start}", "attempts": row[0],
            "answered": row[1], "duration_ms": row[2], "pdd_ms": row[3]}


def main() -> None:
    args = peer_arguments()
    app = Application(broker_address=args.bootstrap, consumer_group=f"quix-core-{uuid.uuid4()}",
                      auto_offset_reset="earliest", state_dir=args.statedir, loglevel="WARNING")
    topic = app.topic(args.topic, value_deserializer="json", key_deserializer="str",
                      timestamp_extractor=lambda value, headers, ts, kind: ts_ms(value["ts"]))
    compacted = TopicConfig(num_partitions=topic.broker_config.num_partitions,
                            replication_factor=1, extra_config={"cleanup.policy": "compact"})
    carriers = app.topic(f"{args.topic}.quix-core-carriers", key_serializer="str",
                         config=compacted)
    windows = app.topic(f"{args.topic}.quix-core-windows", key_serializer="str",
                        config=compacted)
    seen = {"n": 0, "first": 0.0}

    def count(_: Any) -> None:
        if seen["n"] == 0:
            seen["first"] = time.perf_counter()
        seen["n"] += 1
        if seen["n"] == args.events:
            app.stop()  # after this message: outputs flushed, offsets committed

    sdf = app.dataframe(topic)
    sdf = sdf.update(count)
    finals = sdf.filter(lambda doc: doc["code"] >= 200).apply(shape)
    finals.apply(carrier, stateful=True).to_topic(carriers, key=lambda c: c["carrier_id"])
    finals.apply(month, stateful=True).to_topic(windows, key=lambda w: w["key"])
    for kind, size, grace in (("hour", HOUR, 7 * DAY), ("day", DAY, 92 * DAY)):
        agg = finals.tumbling_window(timedelta(milliseconds=size), grace_ms=grace,
                                     name=kind).agg(
            attempts=Count(), answered=Sum("answered"), duration_ms=Sum("duration_ms"),
            pdd_ms=Sum("pdd_ms")).current()
        agg.apply(lambda w, key, ts, headers, kind=kind: {
            "key": f"{key}|{kind}|{w['start']}", "attempts": w["attempts"],
            "answered": w["answered"], "duration_ms": w["duration_ms"],
            "pdd_ms": w["pdd_ms"]}, metadata=True).to_topic(windows, key=lambda w: w["key"])
    app.run()
    emit("quix-core", args.events, time.perf_counter() - seen["first"])


if __name__ == "__main__":
    main()
