"""The same naive aggregation with Quix Streams' stateful processing on RocksDB.

Runs in its own virtualenv (quixstreams pins an older confluent-kafka than carrierwatch):
``tests/benchmarks/bench.py`` makes ``.local/bench-quix`` on first use. Imports nothing
from ``processor``. Per final response, in the message key's state: the consecutive-failure
counter, the code tallies and the daily counts.

    python -m tests.benchmarks.quix_peer BOOTSTRAP TOPIC EVENTS STATEDIR [--dump FILE]
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from quixstreams import Application

from tests.benchmarks.common import emit, peer_arguments


def ts_ms(ts: Any) -> int:
    if isinstance(ts, int):
        return ts
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def main() -> None:
    args = peer_arguments()
    app = Application(broker_address=args.bootstrap, consumer_group=f"quix-{uuid.uuid4()}",
                      auto_offset_reset="earliest", state_dir=args.statedir, loglevel="WARNING")
    topic = app.topic(args.topic, value_deserializer="bytes", key_deserializer="bytes")
    seen = {"n": 0, "first": 0.0}
    mirror: dict[str, dict[str, int]] = {"consecutive": {}, "codes": {}, "daily": {}}

    def count(value: bytes, state: Any) -> None:
        if seen["n"] == 0:
            seen["first"] = time.perf_counter()
        seen["n"] += 1
        try:
            doc = json.loads(value)
            cid, code, day = doc["carrier_id"], doc["code"], ts_ms(doc["ts"]) // 86_400_000
        except (ValueError, KeyError, TypeError, AttributeError):
            doc = None
        if doc is not None and isinstance(code, int) and 200 <= code < 700:
            streak = 0 if code < 300 else state.get(f"c|{cid}", 0) + 1
            state.set(f"c|{cid}", streak)
            tally = state.get(f"t|{cid}|{code}", 0) + 1
            state.set(f"t|{cid}|{code}", tally)
            daily = state.get(f"d|{cid}|{day}", 0) + 1
            state.set(f"d|{cid}|{day}", daily)
            if args.dump:
                when = datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")
                mirror["consecutive"][cid] = streak
                mirror["codes"][f"{cid}|{code}"] = tally
                mirror["daily"][f"{cid}|{when}"] = daily
        if seen["n"] == args.events:
            took = time.perf_counter() - seen["first"]
            if args.dump:
                with open(args.dump, "w") as f:
                    json.dump(mirror, f)
            emit("quix", args.events, took)
            os._exit(0)

    sdf = app.dataframe(topic)
    sdf = sdf.update(count, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
