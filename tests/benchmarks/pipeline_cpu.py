"""µs of CPU per event of the batch pipeline alone, without a broker: to iterate on the hot
path in seconds (``python -m tests.benchmarks.pipeline_cpu [--traffic live|week]
[--events N] [--batch N]``).

The bench traffic (as recorded, like ``make bench`` loads it) goes through the tests'
harness (``tests/harness.py``): the real ``Pipeline`` over real RocksDB tables; records go
to an in-memory broker that only counts them, so the figure leaves out librdkafka's
``produce`` and the consumer. A flush every
``--flush-every`` events stands in for the commit interval. ``--profile FILE`` runs it
under cProfile and writes the stats there.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from pathlib import Path

from processor.dev.generate import Live, Traffic, generate, generate_live, live_registry
from processor.runtime.process import tune_gc
from processor.settings import Settings
from tests.benchmarks.scenarios import as_recorded
from tests.harness import Broker, Harness, Msg, Source, rocks_tables

START_MS = 1763510400000


def messages(source: Source, events: int, carriers: int) -> list[Msg]:
    """The sparse week: 1,000 carriers over 7 days, as recorded (a replay's worst case)."""
    traffic = Traffic(seed=7, carriers=carriers, events=events, start_ms=START_MS,
                      end_ms=START_MS + 7 * 86_400_000)
    return [source.record(m.value, key=m.key, arrival_ms=m.arrival_ms or 0)
            for m in as_recorded(generate(traffic))]


def live_messages(h: Harness, events: int, carriers: int) -> list[Msg]:
    """Live traffic (``generate.Live``) and its carriers' rate cards in the registry."""
    traffic = Live(carriers=carriers, events=events, start_ms=START_MS)
    for cid, profile in live_registry(traffic).items():
        h.profile(cid, profile)
    return [h.source.record(m.value, key=m.key, arrival_ms=m.arrival_ms)
            for m in generate_live(traffic)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--carriers", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=Settings().batch_max,
                    help="events per batch (default: the worker's largest, as on a backlog)")
    ap.add_argument("--flush-every", type=int, default=20_000,
                    help="events between flushes (default: one commit interval at 20,000/s; "
                    "a flush comes after a whole batch)")
    ap.add_argument("--traffic", choices=("week", "live"), default="week",
                    help="week: the sparse week as recorded, on the stream clock; live: "
                         "traffic stamped as it is produced, on the (simulated) wall clock")
    ap.add_argument("--profile")
    args = ap.parse_args()
    live = args.traffic == "live"
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Settings(clock="wall" if live else "stream"),
                    tables=rocks_tables(Path(tmp)), broker=Broker(keep=False))
        msgs = (live_messages(h, args.events, args.carriers) if live
                else messages(h.source, args.events, args.carriers))
        tune_gc()  # as the worker does: the collector's full scans otherwise cost 10 µs/event
        prof = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        since = 0
        in_flush = 0.0
        for i in range(0, len(msgs), args.batch):
            batch = msgs[i:i + args.batch]
            h.clock.ms = batch[-1].timestamp()[1]  # the wall clock as the batch is read
            h.run(batch)
            since += len(batch)
            if since >= args.flush_every or i + args.batch >= len(msgs):
                began = time.process_time()
                h.flush()
                in_flush += time.process_time() - began
                since = 0
        if prof:
            prof.disable()
            prof.dump_stats(args.profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        produced = h.broker.produced
    print(f"{args.traffic}: {len(msgs):,} events, batches of {args.batch:,}, flush every "
          f"{args.flush_every:,}: {cpu / len(msgs) * 1e6:.1f} µs CPU/event "
          f"({in_flush / len(msgs) * 1e6:.1f} in flushes), "
          f"{len(msgs) / wall:,.0f} events/s, {produced / len(msgs):.2f} records/event")


if __name__ == "__main__":
    main()
