"""Replaying recorded traffic through an isolated processor, for an investigation.

An investigation NAME gets its own topic prefix (``replay-NAME``), app id (consumer group
and changelogs) and data dir, so production topics, groups and state are never touched,
and it runs on the stream clock: windows, retention and ``live`` follow the recorded time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from processor.admin.progress import Progress
from processor.domain.windows import parse_iso_ms
from processor.investigate.recorded import (
    FileScan,
    Pacer,
    Recorded,
    ReplayError,
    messages,
)
from processor.investigate.report import Report, streak_timeline
from processor.io import names
from processor.io.connection import client_config
from processor.settings import Settings

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


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


Source = Callable[[], Iterable[Recorded]]


def run(settings: Settings, name: str, source: Source, *, carriers: set[str] | None,
        speed: float | None, min_streak: int, total: int | None = None,
        out: TextIO = sys.stderr) -> Report:
    """Replay ``source`` through an isolated worker and build the report once it drained.

    ``source`` is called twice: once to send, once to rebuild the streak timeline."""
    from processor.admin import topics
    from processor.admin.produce import produce

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
        return subprocess.Popen([sys.executable, "-m", "processor.cli.main", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_drained(inv: Settings, worker: subprocess.Popen[bytes], sent: int, out: TextIO,
                  timeout_s: float = 3600.0) -> None:
    """Until the worker committed every message sent and every event it routed."""
    from processor.admin.topic_reader import Drain

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
    from processor.admin.topic_reader import latest, read_to_end
    from processor.engine.profiles import default_policy

    outputs = read_to_end(inv, [names.CONSECUTIVE, names.CONSISTENCY, names.SUMMARY["hour"],
                                names.SUMMARY["day"], names.ALERTS])
    policy = default_policy(inv)
    valid = ((m.value, m.arrival_ms or 0) for m in messages(source(), carriers, FileScan())
             if m.valid)
    series: dict[str, list[tuple[int, int]]] = {}
    rep = Report(name=name, sent=scan.sent, bad_lines=scan.bad,
                 streaks=streak_timeline(valid, lambda _cid: policy, min_streak, series),
                 counter_series=series)
    rep.consecutive = latest(outputs[names.CONSECUTIVE])
    rep.consistency = latest(outputs[names.CONSISTENCY])
    by_start = lambda r: (r["carrier_id"], r["start"])  # noqa: E731
    rep.hourly = sorted(latest(outputs[names.SUMMARY["hour"]]).values(), key=by_start)
    rep.daily = sorted(latest(outputs[names.SUMMARY["day"]]).values(), key=by_start)
    rep.alerts = sorted((v for _, v in outputs[names.ALERTS] if v is not None),
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
