"""A test harness for the engine, in the spirit of bytewax's ``testing`` module: an
in-memory source of input records, an in-memory broker that acknowledges what the engine
produces when told to, in-memory (or RocksDB) tables, a registry and a clock the test sets.

The engine runs as in the worker: the real ``Pipeline``, ``CarrierStep``, record cache,
``Sender`` with its stages and ``Checkpoint``; only Kafka and Faust are left out.

    h = Harness()
    h.run(h.source.event("c1", 503, ts=T0), h.source.event("c1", 200, ts=T0 + 1000))
    h.flush()
    assert h.broker.latest("carrier.consecutive-failures")[b"c1"]["consecutive_failures"] == 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from rocksdict import Options, Rdict

from processor.engine.checkpoint import Checkpoint
from processor.engine.clock import Clock
from processor.engine.memory import MemoryTables
from processor.engine.pipeline import Pipeline
from processor.engine.profiles import Profiles, call_log_limits, default_policy
from processor.engine.sender import STAGES, Sender, Tracker
from processor.engine.stores import Stores
from processor.io.partitioning import partition_for
from processor.io.rocks import RocksTable
from processor.ops.api import CarrierApi
from processor.settings import Settings

T0 = 1_763_510_400_000  # 2025-11-19T00:00:00Z
ARRIVAL_HEADER = "carrierwatch-arrival-ms"
TABLES = ("carriers", "windows", "dedup", "partitions", "latest")


class FakeClock:
    """The wall clock, set by the test (epoch ms)."""

    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


class Msg:
    """What the engine calls of a confluent-kafka ``Message``."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_topic", "_ts", "_value")

    def __init__(self, topic: str, partition: int, offset: int, *, key: bytes | None,
                 value: bytes | None, ts: int, headers: list[tuple[str, bytes]] | None = None,
                 ) -> None:
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

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None


class Source:
    """Input records of one topic, numbered per partition as Kafka would."""

    def __init__(self, topic: str, partitions: int, clock: Callable[[], int]) -> None:
        self.topic, self.partitions, self.clock = topic, partitions, clock
        self.offsets = [0] * partitions

    def record(self, value: bytes | None, *, key: bytes | None, partition: int | None = None,
               arrival_ms: int | None = None) -> Msg:
        """The next record; ``partition`` None: by key, as the default partitioner."""
        if partition is None:
            partition = partition_for(key, self.partitions) if key else 0
        arrival = self.clock() if arrival_ms is None else arrival_ms
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        return Msg(self.topic, partition, offset, key=key, value=value, ts=arrival,
                   headers=[(ARRIVAL_HEADER, str(arrival).encode())])

    def event(self, carrier_id: str, code: int, *, ts: int, key: str | None = None,
              partition: int | None = None, arrival_ms: int | None = None,
              **fields: Any) -> Msg:
        """A contract input event (§1); ``call_id`` defaults to a fresh one, ``key`` to
        the carrier."""
        doc = {"carrier_id": carrier_id, "call_id": f"call-{sum(self.offsets)}", "code": code,
               "ts": ts, **fields}
        return self.record(orjson.dumps(doc), key=(key or carrier_id).encode(),
                           partition=partition, arrival_ms=arrival_ms)


class Produced:
    """One record the engine produced; also its own delivery report (``topic()``...)."""

    __slots__ = ("_offset", "_partition", "_topic", "key", "value")

    def __init__(self, topic: str, partition: int | None, offset: int, key: bytes | None,
                 value: bytes | None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self.key, self.value = key, value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int:
        return self._offset


@dataclass
class Broker:
    """The producer ``Sender`` drives: keeps every record and acknowledges it at once (or,
    with ``auto_ack`` off, at a ``poll`` after ``ack`` released it)."""

    auto_ack: bool = True
    keep: bool = True  # False: count the records only (benchmarks)
    produced: int = 0
    log: list[Produced] = field(default_factory=list)
    _offsets: dict[tuple[str, int | None], int] = field(default_factory=dict)
    _unacked: list[tuple[Produced, Callable[[Any, Any], None]]] = field(default_factory=list)
    _released: int = 0
    _acks: dict[str, Produced] = field(default_factory=dict)

    def produce(self, topic: str, value: bytes | None, key: bytes | None,
                partition: int | None = None, *,
                on_delivery: Callable[[Any, Any], None]) -> None:
        if not self.keep and self.auto_ack:  # a benchmark's: as cheap as can be
            self.produced += 1
            ack = self._acks.get(topic)
            if ack is None:
                ack = self._acks[topic] = Produced(topic, 0, 0, None, None)
            on_delivery(None, ack)
            return
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        self.produced += 1
        rec = Produced(topic, partition, offset, key, value if self.keep else None)
        if self.keep:
            self.log.append(rec)
        if self.auto_ack:
            on_delivery(None, rec)
        else:
            self._unacked.append((rec, on_delivery))

    def ack(self, n: int | None = None) -> None:
        """Let the next ``n`` records (None: all) be acknowledged at the next poll."""
        self._released = len(self._unacked) if n is None else self._released + n

    def poll(self, _timeout: float = 0) -> int:
        ready = min(self._released, len(self._unacked))
        done, self._unacked = self._unacked[:ready], self._unacked[ready:]
        self._released -= min(self._released, ready)
        for rec, callback in done:
            callback(None, rec)
        return len(done)

    def __len__(self) -> int:
        return len(self._unacked)

    def records(self, topic: str) -> list[Produced]:
        return [r for r in self.log if r.topic() == topic]

    def latest(self, topic: str) -> dict[bytes | None, Any]:
        """The topic as compaction leaves it: each key's last value, decoded (None: a
        tombstone)."""
        out: dict[bytes | None, Any] = {}
        for r in self.records(topic):
            out[r.key] = orjson.loads(r.value) if r.value is not None else None
        return out


def rocks_tables(tmp: Path) -> SimpleNamespace:
    """The tables on real RocksDB under ``tmp``, one ``Rdict`` per table and partition."""
    def table(name: str) -> RocksTable:
        dbs: dict[int, Rdict] = {}

        def db(p: int) -> Rdict:
            if p not in dbs:
                dbs[p] = Rdict(str(tmp / f"{name}-{p}"), Options(raw_mode=True))
            return dbs[p]

        return RocksTable(f"{name}-changelog", db)

    return SimpleNamespace(**{n: table(n) for n in TABLES})


class Harness:
    """The engine of one worker, with every outside part in memory."""

    def __init__(self, settings: Settings | None = None, *, tables: Any = None,
                 clock: FakeClock | None = None, broker: Broker | None = None) -> None:
        self.settings = settings or Settings(clock="wall")
        self.clock = clock or FakeClock()
        self.tables = tables if tables is not None else MemoryTables()
        self.broker = broker if broker is not None else Broker()  # empty is falsy
        self.sender = Sender({}, [getattr(self.tables, n).changelog for n in TABLES],
                             producer=self.broker)
        self.registry: dict[bytes, bytes] = {}
        self.profiles = Profiles(self.registry,
                                 default_policy(self.settings))
        self.stores = Stores.over(self.tables)
        self.pipeline = Pipeline(self.settings, self.stores, self.sender, self.profiles,
                                 Clock(self.settings.clock, self.clock))
        self.checkpoint = Checkpoint()
        self._route_read: dict[tuple[str, int | None], int] = {}
        s = self.settings
        self.source = Source(s.topic(s.input_topic), s.partitions, self.clock)
        for p in range(s.partitions):
            self.checkpoint.start((self.source.topic, p), 0)
            self.checkpoint.start((s.route_topic, p), 0)
            self.checkpoint.start((s.calls_topic, p), 0)

    def profile(self, carrier_id: str, doc: dict[str, Any]) -> None:
        """Set a carrier's registry profile (contract §5)."""
        self.registry[carrier_id.encode()] = orjson.dumps(doc)

    def run(self, *batch: Msg | Iterable[Msg]) -> None:
        """Fold one batch, as the worker does after a poll."""
        msgs = [m for item in batch for m in ([item] if isinstance(item, Msg) else item)]
        for key, offset in self.pipeline.process(msgs).items():
            self.checkpoint.advance(key, offset)

    def routed(self) -> list[Msg]:
        """The records sent to the route and calls topics since the last call, as their
        reader sees them."""
        out = []
        for topic in (self.settings.route_topic, self.settings.calls_topic):
            for r in self.broker.records(topic):
                read = (topic, r.partition())
                if r.offset() >= self._route_read.get(read, 0):
                    out.append(Msg(r.topic(), r.partition() or 0, r.offset(), key=r.key,
                                   value=r.value, ts=self.clock()))
                    self._route_read[read] = r.offset() + 1
        return out

    def flush(self) -> Tracker:
        """The commit interval ends: flush the record cache; deliveries are served."""
        every = set(range(self.settings.partitions))
        self.pipeline.send_progress(every, dict.fromkeys(every, 0))  # all read
        tracker = self.pipeline.flush()
        self.checkpoint.sealed(tracker)
        for _ in range(STAGES + 1):  # a held stage goes out once the one before is acked
            self.sender.poll()
        return tracker

    def committable(self) -> dict[tuple[str, int], int]:
        """The input positions that became durable (what the worker would commit)."""
        self.sender.poll()
        settled = self.checkpoint.settle()
        return settled[0] if settled else {}

    def tick(self, partition: int = 0) -> None:
        """The hourly tick of ``partition`` at the clock's time."""
        for _ in self.pipeline.tick_steps(partition, self.clock()):
            pass

    def output(self, name: str) -> dict[bytes | None, Any]:
        """A contract output topic (``io/names.py``) as compaction leaves it."""
        return self.broker.latest(self.settings.topic(name))

    def api(self) -> CarrierApi:
        """The HTTP API's answers over this engine's tables (what the last flush stored)."""
        n = self.settings.partitions
        return CarrierApi(carriers=WholeTable(self.tables.carriers, n),
                          windows=WholeTable(self.tables.windows, n),
                          latest=WholeTable(self.tables.latest, n), profiles=self.profiles,
                          now_for=self.pipeline.step.now_for,
                          default_latest=self.settings.latest_calls,
                          call_log=call_log_limits(self.settings))


class WholeTable:
    """A table of every partition, as the HTTP API reads it (``io.stored.OrderedKeyValues``)."""

    def __init__(self, table: Any, partitions: int) -> None:
        self._table = table
        self.partitions = partitions

    def get(self, key: bytes, /) -> bytes | None:
        for p in range(self.partitions):
            value: bytes | None = self._table.get(p, key)
            if value is not None:
                return value
        return None

    def scan_back(self, lo: bytes, hi: bytes, /) -> Iterator[tuple[bytes, bytes]]:
        for p in range(self.partitions):
            keys = list(self._table.scan(p, lo, hi))
            for key in reversed(keys):
                value = self._table.get(p, key)
                if value is not None:
                    yield key, value
