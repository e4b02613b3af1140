"""µs of CPU per event of the batch pipeline alone, without a broker: to iterate on the hot
path in seconds (``python -m tests.benchmarks.pipeline_cpu [--events N] [--batch N]``).

The bench traffic (as recorded, like ``make bench`` loads it) goes through the real
``Pipeline`` over real RocksDB tables; records go to a producer that only counts them, so
the figure leaves out librdkafka's ``produce`` and the consumer. A flush every
``--flush-every`` events stands in for the commit interval. ``--profile FILE`` runs it
under cProfile and writes the stats there.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rocksdict import Options, Rdict

from processor.engine.pipeline import Pipeline
from processor.engine.profiles import Profiles, default_policy
from processor.engine.sender import Sender
from processor.engine.stores import Stores
from processor.io.partitioning import partition_for
from processor.runtime.process import tune_gc
from processor.settings import Settings
from processor.tools.generate import Traffic, generate
from tests.benchmarks.scenarios import as_recorded

START_MS = 1763510400000


class _Producer:
    def __init__(self) -> None:
        self.n = 0

    def produce(self, *args: Any, **kw: Any) -> None:
        self.n += 1
        kw["on_delivery"](None, _Ack)

    def poll(self, _: float) -> int:
        return 0

    def __len__(self) -> int:
        return 0


class _Ack:
    @staticmethod
    def topic() -> str:
        return "out"

    @staticmethod
    def partition() -> int:
        return 0

    @staticmethod
    def offset() -> int:
        return 0


class Msg:
    """The confluent-kafka ``Message`` methods the pipeline calls."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_topic", "_ts", "_value")

    def __init__(self, topic: str, partition: int, offset: int, *, key: bytes | None,
                 value: bytes, ts: int, headers: list[tuple[str, bytes]] | None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._ts, self._headers = key, value, ts, headers

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


def _tables(tmp: Path, partitions: int) -> Any:
    def table(name: str) -> Any:
        dbs: dict[int, Rdict] = {}

        def db(p: int) -> Rdict:
            if p not in dbs:
                dbs[p] = Rdict(str(tmp / f"{name}-{p}"), Options(raw_mode=True))
            return dbs[p]

        return SimpleNamespace(changelog=f"{name}-changelog", db=db,
                               persisted=lambda *a: None)

    return SimpleNamespace(**{n: table(n) for n in ("carriers", "windows", "dedup",
                                                    "partitions", "latest")})


def messages(events: int, carriers: int, partitions: int, topic: str) -> list[Msg]:
    out = []
    offsets = [0] * partitions
    traffic = Traffic(seed=7, carriers=carriers, events=events, start_ms=START_MS,
                      end_ms=START_MS + 7 * 86_400_000)
    for m in as_recorded(generate(traffic)):
        p = partition_for(m.key, partitions) if m.key else 0
        headers = [("carrierwatch-arrival-ms", str(m.arrival_ms).encode())]
        out.append(Msg(topic, p, offsets[p], key=m.key, value=m.value, ts=m.arrival_ms or 0,
                       headers=headers))
        offsets[p] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--carriers", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--flush-every", type=int, default=10_000)
    ap.add_argument("--profile")
    args = ap.parse_args()
    settings = Settings(clock="stream")
    msgs = messages(args.events, args.carriers, settings.partitions,
                    settings.topic(settings.input_topic))
    tune_gc()  # as the worker does: the collector's full scans otherwise cost 10 µs/event
    with tempfile.TemporaryDirectory() as tmp:
        tables = _tables(Path(tmp), settings.partitions)
        producer = _Producer()
        sender = Sender({}, (), producer=producer)
        registry = SimpleNamespace(data=SimpleNamespace(get=lambda k: None))
        profiles = Profiles(registry, default_policy(settings))
        pipe = Pipeline(settings, Stores.over(tables), sender, profiles)
        prof = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        since = 0
        in_flush = 0.0
        for i in range(0, len(msgs), args.batch):
            batch = msgs[i:i + args.batch]
            pipe.process(batch)
            since += len(batch)
            if since >= args.flush_every:
                began = time.process_time()
                pipe.flush()
                sender.poll()
                in_flush += time.process_time() - began
                since = 0
        began = time.process_time()
        pipe.flush()
        sender.poll()
        in_flush += time.process_time() - began
        if prof:
            prof.disable()
            prof.dump_stats(args.profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{len(msgs):,} events, batches of {args.batch:,}, flush every "
          f"{args.flush_every:,}: {cpu / len(msgs) * 1e6:.1f} µs CPU/event "
          f"({in_flush / len(msgs) * 1e6:.1f} in flushes), "
          f"{len(msgs) / wall:,.0f} events/s, {producer.n / len(msgs):.2f} records/event")


if __name__ == "__main__":
    main()
