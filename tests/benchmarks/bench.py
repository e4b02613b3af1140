"""``make bench``: carrierwatch side by side with its peers on one seeded input topic.

Starts the project's own broker (in ``.local/bench-broker``, on free ports) unless
``--bootstrap`` names one, loads one input topic (default 1,000,000 events, 1,000
carriers over 7 days, 4 partitions), then runs each contender as its own process on that
same topic and prints events/s, the ratios and each one's peak RSS. Results also go to
``bench-results/bench-<time>.json``. Figures, never assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processor import localbroker
from processor.generate import Traffic, generate
from processor.produce import produce
from processor.settings import Settings
from processor.topic_reader import group_lag
from tests.benchmarks.common import result_of
from tests.faults.harness import peak_rss_mib
from tests.integration.procs import REPO, cli, free_port, start_worker

START_MS = 1763510400000  # 2025-11-19T00:00:00Z
OUTPUT_TOPICS = ("carrier.consecutive-failures", "carrier.code-consistency",
                 "carrier.summary.live", "carrier.summary.hourly", "carrier.summary.daily",
                 "carrier.summary.monthly")


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


QUIX_VENV = REPO / ".local" / "bench-quix"
QUIX_REQUIREMENT = "quixstreams==3.28.1"  # pins confluent-kafka < 2.13: its own venv


def quix_python() -> str:
    """The Quix Streams peer's interpreter, made (once) by the benchmark itself."""
    py = QUIX_VENV / "bin" / "python"
    marker = QUIX_VENV / ".installed"
    if not marker.is_file() or marker.read_text() != QUIX_REQUIREMENT:
        say(f"making {QUIX_VENV} with {QUIX_REQUIREMENT} ...")
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", QUIX_REQUIREMENT], check=True)
        marker.write_text(QUIX_REQUIREMENT)
    return str(py)


def contender(module: str, *args: str, python: str = sys.executable,
              timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``python -m module args``; its last stdout line is its JSON result."""
    out = subprocess.run([python, "-m", module, *args], cwd=REPO, capture_output=True,
                         text=True, timeout=timeout, check=False)
    result = result_of(out.stdout)
    if result is None:
        raise RuntimeError(f"{module} gave no result ({out.returncode}):\n{out.stderr[-3000:]}")
    return result


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


def log_time_ms(log: str, needle: str) -> int:
    """The wall time of the first worker log line holding ``needle``."""
    for line in log.splitlines():
        if needle in line and line.startswith("["):
            stamp = line[1:24]  # [2026-11-26 07:01:42,957]
            dt = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
            return int(dt.timestamp() * 1000)
    raise RuntimeError(f"{needle!r} not in the worker log")


def run_carrierwatch(settings: Settings, events: int, tmp: Path,
                     profile: bool = False) -> dict[str, Any]:
    """The real worker, all outputs on: first event consumed to last output published."""
    worker = start_worker(settings, tmp / "carrierwatch.log")
    spy = None
    try:
        worker.wait_log("Worker ready", timeout=300)
        if profile:
            spy = start_profile(worker.popen.pid, tmp / "profile.txt")
        topics = [settings.topic(settings.input_topic), settings.route_topic]
        while group_lag(settings, topics) > 0:
            time.sleep(1.0)
        last, still = last_output_ms(settings), 0
        while still < 3:  # the outputs of the last batches are still being published
            time.sleep(1.0)
            now = last_output_ms(settings)
            still = still + 1 if now == last else 0
            last = now
        rss = peak_rss_mib(worker.popen.pid)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        worker.stop()
    if profile:
        print_profile(tmp / "profile.txt")
    first = log_time_ms(worker.log(), "processing starts at offset")
    seconds = (last - first) / 1000
    return {"name": "carrierwatch", "events": events, "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds), "peak_rss_mib": round(rss, 1)}


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the worker (collapsed stacks, idle threads left out) until SIGINT."""
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--carriers", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bootstrap", help="use this broker instead of starting the local one")
    ap.add_argument("--only", nargs="*",
                    default=["ceiling", "naive-faust", "quix", "carrierwatch"])
    ap.add_argument("--profile", action="store_true",
                    help="sample the worker with py-spy and print where its time goes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    tag = uuid.uuid4().hex[:6]
    own_broker = None
    if args.bootstrap:
        base = Settings(broker=f"kafka://{args.bootstrap}")
    else:
        port = free_port()
        own_broker = Settings(broker=f"kafka://127.0.0.1:{port}", broker_port=port,
                              broker_controller_port=free_port(), broker_heap="1g",
                              broker_dir=REPO / ".local" / "bench-broker")
        localbroker.stop(own_broker)
        say(localbroker.start(own_broker).detail)
        base = own_broker
    settings = base.replace(topic_prefix=f"bench{tag}", app_id=f"bench-{tag}",
                            partitions=args.partitions, data_dir=tmp / "data",
                            web_port=free_port(), clock="stream")
    try:
        create_topics(settings)
        topic = settings.topic(settings.input_topic)
        traffic = Traffic(seed=7, carriers=args.carriers, events=args.events,
                          start_ms=START_MS, end_ms=START_MS + 7 * 86_400_000)
        began = time.monotonic()
        produce(settings.bootstrap_servers, topic, generate(traffic), rate=None,
                label="bench: load", total=args.events)
        say(f"loaded {args.events:,} events into {topic} in {time.monotonic() - began:.0f} s")
        results: dict[str, dict[str, Any]] = {}
        for name in args.only:
            say(f"running {name} ...")
            if name == "ceiling":
                r = contender("tests.benchmarks.ceiling", settings.bootstrap_servers, topic,
                              str(args.events))
            elif name == "naive-faust":
                r = contender("tests.benchmarks.naive_faust", settings.bootstrap_servers,
                              topic, str(args.events), str(tmp / "naive"))
            elif name == "quix":
                r = contender("tests.benchmarks.quix_peer", settings.bootstrap_servers, topic,
                              str(args.events), str(tmp / "quix"), python=quix_python())
            elif name == "carrierwatch":
                r = run_carrierwatch(settings, args.events, tmp, args.profile)
            else:
                raise SystemExit(f"unknown contender {name}")
            results[name] = r
            say(f"{name}: {r['events_per_s']:,} events/s, peak RSS {r['peak_rss_mib']:.0f} MiB")
        report(results, args, tmp)
    finally:
        if own_broker is not None:
            localbroker.stop(own_broker)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, tmp: Path) -> None:
    cw = results.get("carrierwatch", {}).get("events_per_s")
    ratios = {f"carrierwatch/{k}": round(cw / v["events_per_s"], 3)
              for k, v in results.items() if cw and k != "carrierwatch"}
    print(f"\n{'contender':<14} {'events/s':>12} {'seconds':>9} {'peak RSS MiB':>13}")
    for name, r in results.items():
        print(f"{name:<14} {r['events_per_s']:>12,} {r['seconds']:>9.1f} "
              f"{r['peak_rss_mib']:>13.0f}")
    for k, v in ratios.items():
        print(f"{k:<26} {v:>6.3f}")
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"events": args.events, "carriers": args.carriers,
                                "partitions": args.partitions, "results": results,
                                "ratios": ratios, "workdir": str(tmp)}, indent=2))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
