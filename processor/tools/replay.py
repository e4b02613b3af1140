"""Replaying recorded traffic through an isolated processor, for an investigation.

An investigation NAME gets its own topic prefix (``replay-NAME``), app id (consumer group
and changelogs) and data dir, so production topics, groups and state are never touched,
and it runs on the stream clock: windows, retention and ``live`` follow the recorded time.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

import orjson
from confluent_kafka import KafkaError

from processor.domain.events import SipEvent
from processor.domain.windows import parse_iso_ms
from processor.io import codec
from processor.io.connection import client_config
from processor.settings import Settings
from processor.tools.generate import Message
from processor.tools.progress import Progress
from processor.tools.report import Report, streak_timeline

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ReplayError(ValueError):
    """The replay cannot run as asked; the message says why."""


def isolated(settings: Settings, name: str) -> Settings:
    """The settings of investigation ``name``: prefix, app id and data dir of its own."""
    if not NAME_RE.fullmatch(name):
        raise ReplayError(f"--name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return settings.replace(
        topic_prefix=f"replay-{name}",
        app_id=f"carrierwatch-replay-{name}",
        data_dir=settings.data_dir.parent / "replays" / name,
        clock="stream",
    )


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


Source = Callable[[], Iterable[Recorded]]


def run(settings: Settings, name: str, source: Source, *, carriers: set[str] | None,
        speed: float | None, min_streak: int, total: int | None = None,
        out: TextIO = sys.stderr) -> Report:
    """Replay ``source`` through an isolated worker and build the report once it drained.

    ``source`` is called twice: once to send, once to rebuild the streak timeline."""
    from processor.tools import topics
    from processor.tools.produce import produce

    inv = isolated(settings, name)
    topics.create(inv)
    problems = topics.check_settled(inv)
    if problems:
        raise ReplayError("the investigation's topics are not as declared: " + "; ".join(problems))
    worker = _start_worker(inv, out)
    try:
        scan = FileScan()
        pacer = Pacer(speed)
        produce(inv, inv.topic(inv.input_topic),
                pacer.paced(messages(source(), carriers, scan)), rate=None, progress=out,
                label=f"replay {name}", total=total, arrival_in_header=True)
        print(f"replay {name}: {scan.sent} messages sent ({len(scan.bad)} bad); waiting for "
              "the worker to process them", file=out)
        _wait_drained(inv, worker, scan.sent, out)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return _report(inv, name, source, carriers=carriers, scan=scan, min_streak=min_streak)


def _start_worker(inv: Settings, out: TextIO) -> subprocess.Popen[bytes]:
    log_path = inv.data_dir / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIERWATCH_")}
    env.update(inv.replace(web_port=_free_port()).as_env())
    print(f"replay: isolated worker (group {inv.app_id}, topics {inv.topic_prefix}.*), "
          f"log {log_path}", file=out)
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "processor.tools.cli", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_drained(inv: Settings, worker: subprocess.Popen[bytes], sent: int, out: TextIO,
                  timeout_s: float = 3600.0) -> None:
    """Until the worker committed every message sent and every event it routed."""
    from processor.tools.topic_reader import Drain

    deadline = time.monotonic() + timeout_s
    shown = Progress("processed", sent, out)
    drain = Drain(inv)
    try:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise ReplayError(f"the replay worker exited ({worker.returncode}); see "
                                  f"{inv.data_dir / 'worker.log'}")
            done = drain.check()
            if drain.left >= 0:
                shown.update(max(0, sent - drain.left), f"{drain.left:,} left")
            if done:
                shown.close()
                return
            time.sleep(1.0)
    finally:
        drain.close()
    why = f" (last broker error: {drain.error})" if drain.error else ""
    raise ReplayError(f"the replay did not drain within {timeout_s:.0f} s{why}")


def _report(inv: Settings, name: str, source: Source, *, carriers: set[str] | None,
            scan: FileScan, min_streak: int) -> Report:
    from processor.engine.profiles import default_policy
    from processor.tools.topic_reader import latest, read_to_end

    outputs = read_to_end(inv, ["carrier.consecutive-failures", "carrier.code-consistency",
                                "carrier.summary.hourly", "carrier.summary.daily",
                                "carrier.alerts"])
    policy = default_policy(inv)
    valid = ((m.value, m.arrival_ms or 0) for m in messages(source(), carriers, FileScan())
             if m.valid)
    series: dict[str, list[tuple[int, int]]] = {}
    rep = Report(name=name, sent=scan.sent, bad_lines=scan.bad,
                 streaks=streak_timeline(valid, lambda _cid: policy, min_streak, series),
                 counter_series=series)
    rep.consecutive = latest(outputs["carrier.consecutive-failures"])
    rep.consistency = latest(outputs["carrier.code-consistency"])
    by_start = lambda r: (r["carrier_id"], r["start"])  # noqa: E731
    rep.hourly = sorted(latest(outputs["carrier.summary.hourly"]).values(), key=by_start)
    rep.daily = sorted(latest(outputs["carrier.summary.daily"]).values(), key=by_start)
    rep.alerts = sorted((v for _, v in outputs["carrier.alerts"] if v is not None),
                        key=lambda a: (parse_iso_ms(a["at"]), a["carrier_id"], a["kind"],
                                       a["state"]))
    return rep


def cleanup(settings: Settings, name: str, out: TextIO = sys.stderr) -> list[str]:
    """Delete an investigation's topics (its own prefix and changelogs) and its state."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    inv = isolated(settings, name)
    admin = AdminClient(client_config(inv))
    names = [t for t in admin.list_topics(timeout=15).topics
             if t.startswith((f"{inv.topic_prefix}.", f"{inv.app_id}-"))]
    if names:
        for topic, fut in admin.delete_topics(names, operation_timeout=30).items():
            fut.result(timeout=60)
            print(f"deleted topic {topic}", file=out)
    groups = [inv.app_id]
    try:
        for fut in admin.delete_consumer_groups(groups, request_timeout=30).values():
            fut.result(timeout=60)
        print(f"deleted consumer group {inv.app_id}", file=out)
    except KafkaException as exc:  # a group that never existed is not an error
        if "GROUP_ID_NOT_FOUND" not in str(exc):
            raise
    if inv.data_dir.exists():
        shutil.rmtree(inv.data_dir)
        print(f"deleted state {inv.data_dir}", file=out)
    return names
