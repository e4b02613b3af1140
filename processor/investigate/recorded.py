"""Recorded traffic for a replay: JSONL and CSV files (gzip too) and topic ranges, the
arrival a file's records are given, and pacing at the recorded speed or faster."""

from __future__ import annotations

import csv
import gzip
import io
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson
from confluent_kafka import KafkaError

from processor.admin.produce import Message
from processor.domain.events import SipEvent
from processor.errors import BadInputFile
from processor.io import codec
from processor.io.connection import client_config
from processor.settings import Settings


class ReplayError(BadInputFile):
    """The replay cannot run as asked; the message says why."""


@dataclass
class FileScan:
    """What a replay source held: messages sent, and the bad ones with where they were."""

    sent: int = 0
    # (where: a line number, or "partition@offset" for a topic range, error, detail)
    bad: list[tuple[int | str, str, str]] = field(default_factory=list)
    carriers: set[str] = field(default_factory=set)


def _open(path: Path) -> IO[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        return opener(path, "rb")  # type: ignore[return-value]
    except OSError as exc:
        raise ReplayError(f"{path}: {exc}") from None


# What a replay source yields: where (a line number, or "partition@offset" for a topic
# range), the message's bytes, and its recorded arrival (a topic record's timestamp; None
# for a file, whose lines arrive on the file's own clock: see ``messages``).
Recorded = tuple[int | str, bytes, int | None]


def jsonl_lines(path: Path) -> Iterator[Recorded]:
    """The lines of a JSON Lines file; ``.gz`` accepted; blank lines skipped."""
    with _open(path) as fh:
        for number, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield number, raw, None


def csv_lines(path: Path, mapping: Mapping[str, str]) -> Iterator[Recorded]:
    """Call records as input events: ``mapping`` names the CSV column of each event field.

    Numeric fields (code, duration_ms, pdd_ms, and ts when it is all digits) become
    integers; empty cells are absent. The row's line number is kept for the report."""
    unknown = set(mapping) - EVENT_FIELDS
    if unknown:
        raise ReplayError(f"--map: unknown event fields {sorted(unknown)}; "
                          f"use {sorted(EVENT_FIELDS)}")
    with _open(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        reader = csv.DictReader(text)
        missing = [c for c in mapping.values() if c not in (reader.fieldnames or [])]
        if missing:
            raise ReplayError(f"{path}: no column {missing} (columns: {reader.fieldnames})")
        for row in reader:
            doc: dict[str, object] = {}
            for fld, column in mapping.items():
                cell = (row.get(column) or "").strip()
                if cell == "":
                    continue
                doc[fld] = int(cell) if fld in INT_FIELDS and _is_int(cell) else cell
            yield reader.line_num, orjson.dumps(doc), None


EVENT_FIELDS = {"v", "carrier_id", "call_id", "code", "ts", "event_id", "reason",
                "duration_ms", "pdd_ms", "destination", "customer_id"}
INT_FIELDS = {"v", "code", "ts", "duration_ms", "pdd_ms"}


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def parse_mapping(spec: str | None, path: Path | None) -> dict[str, str]:
    """``field=column,...`` and/or a YAML/JSON mapping file; the flags win."""
    mapping: dict[str, str] = {}
    if path is not None:
        import yaml

        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict):
            raise ReplayError(f"{path}: expected a mapping of event field -> CSV column")
        mapping.update({str(k): str(v) for k, v in doc.items()})
    for part in (spec or "").split(","):
        if part.strip():
            fld, sep, column = part.partition("=")
            if not sep:
                raise ReplayError(f"--map {part!r}: expected field=column")
            mapping[fld.strip()] = column.strip()
    if not mapping:
        raise ReplayError("a CSV needs --map field=column,... or --map-file")
    return mapping


def topic_range(settings: Settings, topic: str, since_ms: int, until_ms: int,
                ) -> Iterator[Recorded]:
    """Messages of ``topic`` with broker timestamps in [since, until), all partitions; each
    keeps its timestamp as its arrival, so duplicates are decided as the live run did.

    The start offsets come from the broker's time index (offsets_for_times). The consumer
    never commits, so no consumer group's offsets change."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client_config(settings),
                         "group.id": f"carrierwatch-replay-reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        md = consumer.list_topics(topic, timeout=30)
        if md.topics[topic].error is not None:
            raise ReplayError(f"--from-topic {topic}: {md.topics[topic].error}")
        parts = sorted(md.topics[topic].partitions)
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts],
                                            timeout=30)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in parts}
        todo = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
        if not todo:
            return
        consumer.assign(todo)
        active = {tp.partition for tp in todo}
        while active:
            for msg in consumer.consume(5000, timeout=1.0):
                p, err, value = msg.partition() or 0, msg.error(), msg.value()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        active.discard(p)
                        continue
                    raise ReplayError(f"reading {topic}: {err}")
                _, ts = msg.timestamp()
                if ts >= until_ms:
                    active.discard(p)
                    consumer.pause([TopicPartition(topic, p)])
                    continue
                if ts >= since_ms and value is not None:
                    yield f"{p}@{msg.offset()}", value, min(ts, int(time.time() * 1000))
    finally:
        consumer.close()


class FileClock:
    """A file records no arrivals: a line arrives at the newest ``ts`` of the file up to
    it (its stream clock), so a late event arrives when the lines around it do, as it did
    in the recorded traffic, and copies a few lines apart are duplicates."""

    def __init__(self) -> None:
        self.now = 0

    def arrival(self, decoded: SipEvent | codec.Rejected) -> int:
        """The arrival of the line ``decoded`` came from (a refused line moves nothing)."""
        if isinstance(decoded, SipEvent):
            self.now = max(self.now, decoded.ts_ms)
        return self.now


def messages(source: Iterable[Recorded], carriers: set[str] | None,
             scan: FileScan) -> Iterator[Message]:
    """Input messages keyed by carrier_id, each with its arrival.

    A topic record arrives at its recorded timestamp, a file's line on the file's clock
    (``FileClock``). Either way the same source gives the same arrivals, whatever
    ``carriers`` selects or how fast it is sent.

    A message the contract refuses is still sent (the investigation's DLQ gets it, as in
    production) and recorded in ``scan.bad`` with where it came from. ``carriers`` narrows
    the replay to those carriers (bad messages are kept: they may belong to them)."""
    clock = FileClock()
    for where, raw, recorded in source:
        decoded = codec.decode(raw, None)
        arrival = recorded if recorded is not None else clock.arrival(decoded)
        if isinstance(decoded, codec.Rejected):
            scan.bad.append((where, decoded.error, decoded.detail))
            scan.sent += 1
            yield Message(_lenient_key(raw), raw, False, None, arrival_ms=arrival)
            continue
        if carriers and decoded.carrier_id not in carriers:
            continue
        scan.sent += 1
        scan.carriers.add(decoded.carrier_id)
        yield Message(decoded.carrier_id.encode(), raw, True, decoded.carrier_id,
                      arrival_ms=arrival)


def _lenient_key(raw: bytes) -> bytes | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    cid = doc.get("carrier_id") if isinstance(doc, dict) else None
    return cid.encode() if isinstance(cid, str) and cid else None


class Pacer:
    """Sends at ``speed`` times the recorded pace (event time), with an injectable clock."""

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if speed is not None and speed <= 0:
            raise ReplayError("--speed must be > 0 or 'max'")
        self.speed = speed
        self._clock, self._sleep = clock, sleep
        self._first_ts: int | None = None
        self._began = 0.0

    def wait(self, ts_ms: int) -> None:
        """Block until the event at ``ts_ms`` is due (never for --speed max)."""
        if self.speed is None:
            return
        if self._first_ts is None:
            self._first_ts, self._began = ts_ms, self._clock()
            return
        due = self._began + max(0, ts_ms - self._first_ts) / 1000 / self.speed
        ahead = due - self._clock()
        if ahead > 0:
            self._sleep(ahead)

    def paced(self, messages: Iterable[Message]) -> Iterator[Message]:
        for m in messages:
            if m.valid:
                ev = codec.decode(m.value, None)
                if isinstance(ev, SipEvent):
                    self.wait(ev.ts_ms)
            yield m
