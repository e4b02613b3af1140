"""Measure how fast a worker drains a pre-loaded input topic (a development tool).

    python -m tests.benchmarks.drain --events 50000 --carriers 50 --span 3600
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from processor.generate import Traffic, generate
from processor.produce import produce
from processor.settings import Settings
from processor.topic_reader import group_lag
from tests.integration.procs import cli, free_port, start_worker


def lag(settings: Settings) -> int:
    return group_lag(settings, [settings.topic(settings.input_topic), settings.route_topic])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--carriers", type=int, default=50)
    ap.add_argument("--span", type=float, default=3600.0)
    ap.add_argument("--start", type=int, default=1_709_164_800_000)
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:6]
    base = Settings.load(os.environ)
    tmp = Path(tempfile.mkdtemp())
    s = base.replace(topic_prefix=f"b{tag}", app_id=f"bench-{tag}", data_dir=tmp / "data",
                     web_port=free_port(), clock="stream")
    assert cli(s, "topics", "create").returncode == 0
    msgs = list(generate(Traffic(seed=1, carriers=args.carriers, events=args.events,
                                 start_ms=args.start,
                                 end_ms=args.start + int(args.span * 1000))))
    produce(s.bootstrap_servers, s.topic(s.input_topic), msgs, rate=None, progress=None)
    began = time.monotonic()
    w = start_worker(s, tmp / "w.log")
    try:
        w.wait_log("Worker ready")
        ready = time.monotonic()
        while True:
            time.sleep(1)
            left = lag(s)
            if left == 0:
                break
        took = time.monotonic() - ready
    finally:
        w.stop()
    print(f"{len(msgs)} events: ready {ready - began:.1f} s, drained in {took:.1f} s "
          f"= {len(msgs) / took:.0f} events/s  (log {tmp / 'w.log'})", file=sys.stderr)


if __name__ == "__main__":
    main()
