"""Time /metrics on a real worker holding N carriers (a development tool; prints figures).

    python -m tests.benchmarks.scrape --carriers 10000 --events 40000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from processor.generate import Traffic, generate
from processor.produce import produce
from processor.settings import Settings
from tests.benchmarks.drain import lag
from tests.integration.procs import cli, free_port, start_worker


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--carriers", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--scrapes", type=int, default=10)
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp())
    s = Settings.load(os.environ).replace(
        topic_prefix=f"s{tag}", app_id=f"scrape-{tag}", data_dir=tmp / "data",
        web_port=free_port(), metrics_max_carriers=max(10_000, args.carriers))
    assert cli(s, "topics", "create").returncode == 0
    now = int(time.time() * 1000)
    msgs = generate(Traffic(seed=2, carriers=args.carriers, events=args.events,
                            start_ms=now - 3_600_000, end_ms=now - 60_000, late_share=0.0))
    produce(s.bootstrap_servers, s.topic(s.input_topic), msgs, rate=None, progress=None)
    w = start_worker(s, tmp / "w.log")
    try:
        w.wait_log("Worker ready")
        while lag(s):
            time.sleep(1)
        times, size = [], 0
        for _ in range(args.scrapes):
            began = time.perf_counter()
            with urllib.request.urlopen(f"{s.web_url}/metrics", timeout=60) as resp:
                size = len(resp.read())
            times.append(time.perf_counter() - began)
        carriers = len(urllib.request.urlopen(f"{s.web_url}/carriers").read())
    finally:
        w.stop()
    print(f"/metrics with {args.carriers} carriers ({size / 1e6:.1f} MB, /carriers "
          f"{carriers / 1e6:.1f} MB): median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {len(times)} scrapes", file=sys.stderr)


if __name__ == "__main__":
    main()
