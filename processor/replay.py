"""Replaying recorded traffic through an isolated processor, for an investigation.

An investigation NAME gets its own topic prefix (``replay-NAME``), app id (consumer group
and changelogs) and data dir, so production topics, groups and state are never touched,
and it runs on the stream clock: windows, retention and ``live`` follow the recorded time.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import orjson

from processor import codec
from processor.domain.events import SipEvent
from processor.generate import Message
from processor.report import Report, streak_timeline
from processor.settings import Settings

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
    """What a replay file held: lines sent, and the bad ones with their line numbers."""

    sent: int = 0
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line, error, detail)
    carriers: set[str] = field(default_factory=set)


def read_jsonl(path: Path, carriers: set[str] | None, scan: FileScan) -> Iterator[Message]:
    """Messages from a JSON Lines file (``.gz`` accepted), keyed by carrier_id.

    A line the contract refuses is still sent (the investigation's DLQ gets it, like in
    production) and recorded in ``scan.bad`` with its line number. ``carriers`` narrows the
    replay to those carriers (bad lines are kept: they may belong to them).
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        fh = opener(path, "rb")
    except OSError as exc:
        raise ReplayError(f"{path}: {exc}") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            decoded = codec.decode(raw, None)
            if isinstance(decoded, codec.Rejected):
                scan.bad.append((number, decoded.error, decoded.detail))
                scan.sent += 1
                yield Message(_lenient_key(raw), raw, False, None)
                continue
            if carriers and decoded.carrier_id not in carriers:
                continue
            scan.sent += 1
            scan.carriers.add(decoded.carrier_id)
            yield Message(decoded.carrier_id.encode(), raw, True, decoded.carrier_id)


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


def run(settings: Settings, name: str, path: Path, *, carriers: set[str] | None,
        speed: float | None, min_streak: int, out: TextIO = sys.stderr) -> Report:
    """Replay ``path`` through an isolated worker and build the report once it drained."""
    from processor import topics
    from processor.produce import produce

    inv = isolated(settings, name)
    if not path.is_file():
        raise ReplayError(f"{path}: no such file")
    topics.create(inv)
    worker = _start_worker(inv, out)
    try:
        scan = FileScan()
        pacer = Pacer(speed)
        produce(inv.bootstrap_servers, inv.topic(inv.input_topic),
                pacer.paced(read_jsonl(path, carriers, scan)), rate=None, progress=out)
        print(f"replay {name}: {scan.sent} messages sent ({len(scan.bad)} bad lines); "
              "waiting for the worker to drain", file=out)
        _wait_drained(inv, worker, out)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return _report(inv, name, path, carriers=carriers, scan=scan, min_streak=min_streak)


def _start_worker(inv: Settings, out: TextIO) -> subprocess.Popen[bytes]:
    log_path = inv.data_dir / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIERWATCH_")}
    env.update(inv.replace(web_port=_free_port()).as_env())
    print(f"replay: isolated worker (group {inv.app_id}, topics {inv.topic_prefix}.*), "
          f"log {log_path}", file=out)
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "processor.cli", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_drained(inv: Settings, worker: subprocess.Popen[bytes], out: TextIO,
                  timeout_s: float = 3600.0) -> None:
    from processor.topic_reader import group_lag

    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    quiet = 0
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise ReplayError(f"the replay worker exited ({worker.returncode}); see "
                              f"{inv.data_dir / 'worker.log'}")
        left = group_lag(inv, [inv.topic(inv.input_topic), inv.route_topic])
        quiet = quiet + 1 if left == 0 else 0
        if quiet >= 3:  # committed to the end three times in a row: outputs published too
            time.sleep(inv.publish_interval_s * 3)
            return
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            print(f"replay: {left} messages left to process", file=out)
        time.sleep(1.0)
    raise ReplayError(f"the replay did not drain within {timeout_s:.0f} s")


def _report(inv: Settings, name: str, path: Path, *, carriers: set[str] | None,
            scan: FileScan, min_streak: int) -> Report:
    from processor.agents import default_policy
    from processor.topic_reader import latest, read_to_end

    outputs = read_to_end(inv, ["carrier.consecutive-failures", "carrier.code-consistency",
                                "carrier.summary.hourly", "carrier.summary.daily",
                                "carrier.alerts"])
    policy = default_policy(inv)
    valid = (m.value for m in read_jsonl(path, carriers, FileScan()) if m.valid)
    rep = Report(name=name, sent=scan.sent, bad_lines=scan.bad,
                 streaks=streak_timeline(valid, lambda _cid: policy, min_streak))
    rep.consecutive = latest(outputs["carrier.consecutive-failures"])
    rep.consistency = latest(outputs["carrier.code-consistency"])
    by_start = lambda r: (r["carrier_id"], r["start"])  # noqa: E731
    rep.hourly = sorted(latest(outputs["carrier.summary.hourly"]).values(), key=by_start)
    rep.daily = sorted(latest(outputs["carrier.summary.daily"]).values(), key=by_start)
    rep.alerts = [v for _, v in outputs["carrier.alerts"] if v is not None]
    return rep


def cleanup(settings: Settings, name: str, out: TextIO = sys.stderr) -> list[str]:
    """Delete an investigation's topics (its own prefix and changelogs) and its state."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    inv = isolated(settings, name)
    admin = AdminClient({"bootstrap.servers": inv.bootstrap_servers})
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
