"""The benchmark's runs of the real worker: throughput, latency at a steady rate, and scale.

Each run gets its own consumer group, data dir and (except the throughput variants, which
share the seeded input) its own topics, on the benchmark's broker. Figures, never
assertions.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from processor.admin.produce import Message, produce
from processor.admin.topic_reader import Drain, group_lag
from processor.dev.generate import Live, generate_live, live_registry
from processor.investigate.recorded import FileClock
from processor.io import codec, names
from processor.settings import Settings
from tests.faults.harness import peak_rss_mib
from tests.integration.procs import Proc, cli, free_port, start_worker

OUTPUT_TOPICS = ("carrier.consecutive-failures", "carrier.code-consistency",
                 "carrier.summary.live", "carrier.summary.hourly", "carrier.summary.daily",
                 "carrier.summary.monthly")
DAY_MS = 86_400_000


def as_recorded(messages: Iterable[Message]) -> Iterator[Message]:
    """History as it arrived: a message arrives at the newest ``ts`` so far (the rule a
    replay of a file uses), sent in the arrival header. Loaded in seconds without it, a
    week of traffic would arrive at once, every identity inside the dedup window together
    (the bench measured 3,106 events/s that way against 6,316 before arrivals were kept):
    a burst of 18,000 events/s on 1,000 carriers, not the week the traffic describes."""
    clock = FileClock()
    for m in messages:
        yield dataclasses.replace(m, arrival_ms=clock.arrival(codec.decode(m.value, None)))


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def create_topics(settings: Settings, attempts: int = 5) -> None:
    """``carrierwatch topics create``; a broker just started may still refuse it."""
    for attempt in range(attempts):
        out = cli(settings, "topics", "create")
        if out.returncode == 0:
            return
        say(f"topics create failed ({out.returncode}): {out.stderr.strip()[-500:]}")
        if attempt < attempts - 1:
            time.sleep(3.0)
    raise SystemExit("could not create the topics")


def own_group(settings: Settings, tmp: Path, label: str, **changes: Any) -> Settings:
    """The same topics, read by a fresh worker (own group, route topic, data dir)."""
    tag = uuid.uuid4().hex[:6]
    s = settings.replace(app_id=f"{label}-{tag}", data_dir=tmp / f"{label}-{tag}" / "data",
                         web_port=free_port(), **changes)
    create_topics(s)
    return s


def isolated(base: Settings, tmp: Path, label: str, **changes: Any) -> Settings:
    """Topics of its own too."""
    tag = uuid.uuid4().hex[:6]
    return own_group(base.replace(topic_prefix=f"{label}{tag}"), tmp, label, **changes)


# -- reading topics back ----------------------------------------------------------------
def read_all(settings: Settings, topic: str) -> Iterator[tuple[int, int, bytes | None,
                                                                bytes | None, int]]:
    """Every record of ``topic``: (partition, offset, key, value, CreateTime ms)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                  "group.id": f"bench-read-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {}
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        while ends:
            for msg in c.consume(10_000, timeout=5):
                if msg.error() is not None:
                    continue
                p, o = msg.partition(), msg.offset()
                yield p, o, msg.key(), msg.value(), msg.timestamp()[1]
                if p in ends and o >= ends[p] - 1:
                    del ends[p]
    finally:
        c.close()


def last_output_ms(settings: Settings, attempts: int = 10) -> int:
    """The newest producer timestamp on any output topic (the last record's CreateTime);
    retried while the broker is still moving partition leadership about."""
    from confluent_kafka import KafkaException

    for attempt in range(attempts):
        try:
            return _last_output_ms(settings)
        except KafkaException as exc:
            if attempt == attempts - 1:
                raise
            say(f"reading the outputs' ends: {exc}; again in 1 s")
            time.sleep(1.0)
    raise AssertionError("unreachable")


def _last_output_ms(settings: Settings) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                  "group.id": f"bench-read-{uuid.uuid4()}", "enable.auto.commit": False})
    newest = 0
    try:
        for name in OUTPUT_TOPICS:
            topic = settings.topic(name)
            for p in c.list_topics(topic, timeout=30).topics[topic].partitions:
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                if high <= low:
                    continue
                c.assign([TopicPartition(topic, p, high - 1)])
                msg = c.poll(10)
                if msg is not None and msg.error() is None:
                    newest = max(newest, msg.timestamp()[1])
    finally:
        c.close()
    return newest


def lag(settings: Settings) -> int:
    return group_lag(settings, [settings.topic(settings.input_topic), settings.route_topic])


def settle(settings: Settings, poll: float = 1.0) -> int:
    """Wait until the group has committed everything and the outputs went quiet; returns
    the newest output record's CreateTime."""
    while lag(settings) > 0:
        time.sleep(poll)
    last, still = last_output_ms(settings), 0
    while still < 3:  # the outputs of the last batches are still being published
        time.sleep(1.0)
        now = last_output_ms(settings)
        still = still + 1 if now == last else 0
        last = now
    return last


def drained_ms(settings: Settings, poll: float = 0.1) -> int:
    """The wall time at which the group had committed the whole input and what it routed.
    A commit comes only once every record produced for those events was acknowledged, so
    this is when the last event was processed and its records were durable (not the last
    output record's time: the first tick, ~30 s after a start, republishes every carrier)."""
    drain = Drain(settings)
    try:
        while not drain.check():
            time.sleep(poll)
        return int(time.time() * 1000)
    finally:
        drain.close()


def log_time_ms(log: str, needle: str) -> int:
    """The wall time of the first worker log line holding ``needle``."""
    for line in log.splitlines():
        if needle in line and line.startswith("["):
            stamp = line[1:24]  # [2026-11-26 07:01:42,957]
            dt = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
            return int(dt.timestamp() * 1000)
    raise RuntimeError(f"{needle!r} not in the worker log")


def steady_start(logs: Iterable[str], topic: str) -> tuple[int, int]:
    """(when the group's last assignment started processing, how many input messages were
    processed before it): from each input partition's newest "processing starts at offset
    N" line across the workers' logs. Workers started together join one after another, and
    the first one processes alone until the group settles."""
    newest: dict[str, tuple[int, int]] = {}  # partition -> (time ms, offset)
    pattern = re.compile(rf"{re.escape(topic)}\[(\d+)\]: processing starts at offset (\d+)")
    for log in logs:
        for line in log.splitlines():
            found = pattern.search(line)
            if found and line.startswith("["):
                at = log_time_ms(line, "processing starts")
                if at >= newest.get(found[1], (0, 0))[0]:
                    newest[found[1]] = (at, int(found[2]))
    return max(t for t, _ in newest.values()), sum(o for _, o in newest.values())


# -- profiling --------------------------------------------------------------------------
def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the worker (collapsed stacks) until SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--format", "raw",
                             "--rate", "200", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: Path, top: int = 25) -> None:
    """The functions the worker spent its samples in: own time and with callees."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
                  for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            total[f] = total.get(f, 0) + n
    say(f"profile: {samples:,} samples in {path}")
    print(f"\n{'own %':>6} {'total %':>8}  function (file)")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * n / samples:>6.1f} {100 * total[f] / samples:>8.1f}  {f}")
    print(f"\n{'total %':>8}  function (file), by time with callees")
    for f, n in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * n / samples:>8.1f}  {f}")


# -- throughput ---------------------------------------------------------------------------
def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def registry_messages(traffic: Live) -> list[Message]:
    """The rate cards of ``live_registry`` as ``carrier.registry`` records."""
    return [Message(cid.encode(), orjson.dumps(doc), True, cid)
            for cid, doc in live_registry(traffic).items()]


def live_topic(base: Settings, tmp: Path, events: int, carriers: int) -> Settings:
    """Topics of their own loaded with live traffic (``generate.Live``), stamped as it is
    produced, with rate cards for half of the carriers in the registry: the settings of the
    worker that runs on it (the wall clock) and the topic the core peers read."""
    s = isolated(base, tmp, "live", clock="wall")
    traffic = Live(carriers=carriers, events=events, start_ms=int(time.time() * 1000))
    produce(s.bootstrap_servers, s.topic(names.REGISTRY), registry_messages(traffic),
            rate=None, progress=None)
    produce(s.bootstrap_servers, s.topic(s.input_topic), generate_live(traffic), rate=None,
            label="bench: live load", total=events)
    return s


def throughput(settings: Settings, events: int, tmp: Path, name: str = "carrierwatch", *,
               profile: bool = False, ready_s: float = 300) -> dict[str, Any]:
    """The real worker, all outputs on, over the seeded topic: from the first event
    consumed to the whole input committed (its records acknowledged)."""
    return throughput_workers(settings, events, tmp, 1, name, profile=profile,
                              ready_s=ready_s)


def throughput_workers(settings: Settings, events: int, tmp: Path, workers: int,
                       name: str, *, profile: bool = False,
                       ready_s: float = 300) -> dict[str, Any]:
    """``workers`` workers in one group over the seeded topic (the lever past one core:
    each owns a share of the partitions), started together: from the first event any of
    them consumed to the whole input committed, rebalances included. ``profile``
    samples the first one."""
    procs: list[Proc] = []
    spy = None
    try:
        for i in range(workers):
            s = settings if i == 0 else settings.replace(
                data_dir=settings.data_dir.parent / f"data-{i}", web_port=free_port())
            procs.append(start_worker(s, tmp / (f"{name}.log" if workers == 1
                                                else f"{name}-{i}.log")))
        for w in procs:
            w.wait_log("Worker ready", timeout=ready_s)
        if profile:
            spy = start_profile(procs[0].popen.pid, tmp / "profile.txt")
        cpu0 = [cpu_s(w.popen.pid) for w in procs]
        last = drained_ms(settings)
        rss = [peak_rss_mib(w.popen.pid) for w in procs]
        cpu = sum(cpu_s(w.popen.pid) - c for w, c in zip(procs, cpu0, strict=True))
    finally:
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes its file
            spy.wait(60)
        for w in procs:
            w.stop()
    if profile:
        print_profile(tmp / "profile.txt")
    first = min(log_time_ms(w.log(), "processing starts at offset") for w in procs
                if "processing starts at offset" in w.log())
    seconds = (last - first) / 1000
    out = {"name": name, "events": events, "seconds": round(seconds, 3),
           "events_per_s": round(events / seconds), "peak_rss_mib": round(sum(rss), 1),
           "cpu_us_per_event": round(cpu / events * 1e6, 1)}
    if workers > 1:
        began, before = steady_start((w.log() for w in procs),
                                     settings.topic(settings.input_topic))
        out |= {"workers": workers, "peak_rss_mib_each": [round(r, 1) for r in rss],
                "all_workers_events_per_s": round((events - before) / ((last - began) / 1000)),
                "alone_first_s": round((began - first) / 1000, 1)}
    return out


# -- latency --------------------------------------------------------------------------------
def latency(base: Settings, tmp: Path, rate: int, seconds: float,
            carriers: int, *, warm_up_s: float = 2.0) -> dict[str, Any]:
    """Live traffic (``generate.Live``, without re-sends) produced at a steady ``rate``
    into an idle worker on the wall clock; each final response's latency is from its
    produce time (CreateTime) to the first carrier.code-consistency record that counts it
    (total_final reaching the event's rank among its carrier's finals).

    The first ``warm_up_s`` of traffic are left out of the percentiles and reported on
    their own: there every carrier is new and the worker's producer sends to each output
    and changelog topic for the first time (a start-up, not the steady state)."""
    s = isolated(base.replace(clock="wall"), tmp, "lat")
    n = int(rate * (seconds + warm_up_s))
    traffic = Live(seed=11, carriers=carriers, events=n, start_ms=int(time.time() * 1000),
                   rate=rate, duplicate_share=0.0)
    # Made first (the producer shares 2 cores), stamped when sent: CreateTime is the clock.
    messages = [dataclasses.replace(m, arrival_ms=None) for m in generate_live(traffic)]
    worker = start_worker(s, tmp / f"latency-{rate}.log")
    try:
        worker.wait_log("Worker ready", timeout=300)
        # The rate cards, as in the live run. Sent first, they also take the broker's
        # first idempotent producer id (a second on a fresh broker: a producer's start-up,
        # not the worker's latency).
        produce(s.bootstrap_servers, s.topic(names.REGISTRY), registry_messages(traffic),
                rate=None, progress=None)
        began = time.monotonic()
        produce(s.bootstrap_servers, s.topic(s.input_topic), messages, rate=rate,
                label=f"bench: latency at {rate:,}/s", total=n)
        produced_in = time.monotonic() - began
        settle(s)
        rss = peak_rss_mib(worker.popen.pid)
    finally:
        worker.stop()
    sent: dict[bytes, list[int]] = {}  # final responses only: what total_final counts
    for _, _, key, value, ts in sorted(read_all(s, s.topic(s.input_topic))):
        if value is not None and orjson.loads(value)["code"] >= 200:
            sent.setdefault(key or b"", []).append(ts)
    seen: dict[bytes, list[tuple[int, int]]] = {}
    for _, _, key, value, ts in sorted(read_all(s, s.topic("carrier.code-consistency"))):
        if value is not None:
            seen.setdefault(key or b"", []).append((orjson.loads(value)["total_final"], ts))
    first = min(t for times in sent.values() for t in times)
    steady: list[float] = []
    warm: list[float] = []
    missing = 0
    for key, times in sent.items():
        outs, i = seen.get(key, []), 0
        for rank, at in enumerate(times, start=1):
            while i < len(outs) and outs[i][0] < rank:
                i += 1
            if i == len(outs):
                missing += len(times) - rank + 1
                break
            (warm if at - first < warm_up_s * 1000 else steady).append((outs[i][1] - at) / 1000)
    steady.sort()
    warm.sort()
    return {"name": f"latency@{rate}", "rate_asked": rate,
            "rate_produced": round(n / produced_in), "events": len(steady),
            "p50_s": round(statistics.median(steady), 3),
            "p99_s": round(steady[int(0.99 * (len(steady) - 1))], 3),
            "max_s": round(steady[-1], 3), "not_seen": missing,
            "warm_up_events": len(warm),
            "warm_up_p99_s": round(warm[int(0.99 * (len(warm) - 1))], 3) if warm else None,
            "peak_rss_mib": round(rss, 1)}


# -- scale ------------------------------------------------------------------------------------
def daily_traffic(carriers: int, days: int, start_ms: int, seed: int = 5,
                  span_ms: int = DAY_MS) -> Iterator[Message]:
    """One final response per carrier per UTC day, day after day, within the first
    ``span_ms`` of each day: every carrier ends up with ``days`` daily windows (and a week
    of hourly ones, the hourly retention)."""
    rng = random.Random(seed)
    names = [f"scale-{i:05d}" for i in range(carriers)]
    codes = [200, 200, 200, 486, 487, 480, 404, 503]
    for day in range(days):
        base = start_ms + day * DAY_MS
        for cid in names:
            code = rng.choice(codes)
            doc: dict[str, Any] = {
                "carrier_id": cid, "call_id": f"{rng.getrandbits(64):016x}@sbc",
                "code": code, "ts": base + rng.randrange(span_ms),
                "destination": f"+44{rng.randrange(10**8, 10**10)}"}
            if code == 200:
                doc["duration_ms"] = rng.randint(1_000, 600_000)
            yield Message(cid.encode(), orjson.dumps(doc), True, cid)


def _dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _scrape(settings: Settings, times: int = 5,
            path: str = "/metrics") -> tuple[float, float, int]:
    """Median and max time in ms to GET ``path``, and the body's size."""
    took, size = [], 0
    for _ in range(times):
        began = time.perf_counter()
        with urllib.request.urlopen(f"{settings.web_url}{path}", timeout=120) as resp:
            size = len(resp.read())
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took), max(took), size


def _wait_caught_up(worker: Proc, began: float) -> tuple[float, float]:
    """Seconds from ``began`` (the start) to "Worker ready", and to the worker's line saying
    it caught up with the input (its own lag, as ``/metrics`` reports it, at 0 on every
    partition). Polling ``/metrics`` for that instead would have the worker render 22 MB
    every few ms, slowing the very catch-up being timed."""
    worker.wait_log("Worker ready", timeout=1800, poll=0.02)
    ready = time.monotonic() - began
    worker.wait_log("caught up with the input", timeout=1800, poll=0.02)
    return ready, time.monotonic() - began


def scale(base: Settings, tmp: Path, carriers: int, days: int) -> dict[str, Any]:
    """``carriers`` carriers with ``days`` daily windows each: state size, RSS, /metrics,
    the carriers page (``/ui/`` and the ``/carriers`` list it reads), restart catch-up
    with the local state intact and rebuild from the changelog."""
    s = isolated(base, tmp, "scale", metrics_max_carriers=carriers)
    topic = s.topic(s.input_topic)
    start = int(time.time() * 1000) // DAY_MS * DAY_MS - days * DAY_MS
    produce(s.bootstrap_servers, topic, as_recorded(daily_traffic(carriers, days, start)),
            rate=None, label="bench: scale load", total=carriers * days, arrival_in_header=True)
    began = time.monotonic()
    worker = start_worker(s, tmp / "scale-load.log")
    try:
        _, loaded = _wait_caught_up(worker, began)
        settle(s)
        rss = peak_rss_mib(worker.popen.pid)
        scrape_ms, scrape_max_ms, scrape_bytes = _scrape(s)
        # The carriers page: its HTML is static; the server's work is the list it reads.
        ui_ms, ui_max_ms, ui_bytes = _scrape(s, path="/carriers")
        page_ms, _, _ = _scrape(s, path="/ui/")
    finally:
        worker.stop()
    state_mib = _dir_mib(s.data_dir)
    # Restart with the local state intact; one more event per carrier arrived meanwhile,
    # today before now (an event from the future would only be dead-lettered).
    today = start + days * DAY_MS
    produce(s.bootstrap_servers, topic, daily_traffic(
        carriers, 1, today, 6, span_ms=max(1, int(time.time() * 1000) - today - 60_000)),
            rate=None, label="bench: scale, one more day", total=carriers)
    began = time.monotonic()
    worker = start_worker(s, tmp / "scale-restart.log")
    try:
        restart_ready, restart_caught_up = _wait_caught_up(worker, began)
        settle(s)
    finally:
        worker.stop()
    # Rebuild: the data dir is gone; every table comes back from its changelog.
    shutil.rmtree(s.data_dir)
    began = time.monotonic()
    worker = start_worker(s, tmp / "scale-rebuild.log")
    try:
        rebuild_ready, _ = _wait_caught_up(worker, began)
        rebuilt_mib = _dir_mib(s.data_dir)
    finally:
        worker.stop()
    return {"name": "scale", "carriers": carriers, "daily_windows": days,
            "events": carriers * (days + 1), "load_s": round(loaded, 1),
            "state_on_disk_mib": round(state_mib, 1), "peak_rss_mib": round(rss, 1),
            "metrics_scrape_ms": round(scrape_ms, 1),
            "metrics_scrape_max_ms": round(scrape_max_ms, 1),
            "metrics_bytes": scrape_bytes,
            "ui_list_ms": round(ui_ms, 1), "ui_list_max_ms": round(ui_max_ms, 1),
            "ui_list_bytes": ui_bytes, "ui_page_ms": round(page_ms, 1),
            "restart_ready_s": round(restart_ready, 2),
            "restart_caught_up_s": round(restart_caught_up, 2),
            "rebuild_ready_s": round(rebuild_ready, 2),
            "rebuilt_state_mib": round(rebuilt_mib, 1)}
