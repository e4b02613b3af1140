"""``make bench BENCH_ARGS='--only hep'``: SIP messages per second one HEP collector
process parses and turns into events (issue 20; target >= 30,000 on one core).

The recorded Kamailio capture (tests/data/kamailio-3-calls.hep: 14 messages, three calls)
is replayed over loopback TCP as many times as asked, each copy with Call-IDs of its own
(same length, so the HEP lengths stay right), to a real ``carrierwatch ingest hep`` that
produces to a real broker. The time runs from the first byte sent to the collector's
/metrics counting every message; its CPU is read from /proc."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from processor.settings import Settings
from tests.benchmarks.scenarios import cpu_s, create_topics, isolated
from tests.integration.procs import cli, free_port, start_worker

CAPTURE = Path(__file__).parents[1] / "data" / "kamailio-3-calls.hep"
CARRIERS = {"acme": "127.0.0.21:5071", "beta": "127.0.0.22:5072", "gamma": "127.0.0.23:5073"}
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _tag(i: int) -> bytes:
    return "".join(DIGITS[i // 36 ** k % 36] for k in range(4)).encode()


def stream(messages: int) -> tuple[bytes, int]:
    """The capture repeated to about ``messages`` messages: (bytes, messages)."""
    capture = CAPTURE.read_bytes()
    per_copy = 14
    copies = max(1, messages // per_copy)
    return b"".join(capture.replace(b"-4990@", b"-" + _tag(i) + b"@")
                    for i in range(copies)), copies * per_copy


def counted(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("carrierwatch_hep_sip_messages_total "):
                return int(float(line.split()[1]))
    return 0


def run(base: Settings, tmp: Path, messages: int) -> dict[str, Any]:
    hep_port, metrics_port = free_port(), free_port()
    s = isolated(base, tmp, "hep", hep_listen=f"127.0.0.1:{hep_port}",
                 hep_metrics_port=metrics_port)
    create_topics(s)
    registry = tmp / "hep-registry.yaml"
    registry.write_text(yaml.safe_dump({"carriers": {
        cid: {"signalling": [address]} for cid, address in CARRIERS.items()}}))
    assert cli(s, "registry", "import", str(registry)).returncode == 0
    data, total = stream(messages)
    collector = start_worker(s, tmp / "hep-bench.log", args=("ingest", "hep"))
    try:
        collector.wait_log("HEP collector listening")
        cpu0 = cpu_s(collector.popen.pid)
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", hep_port)) as conn:
            for i in range(0, len(data), 1 << 20):
                conn.sendall(data[i:i + (1 << 20)])
            while counted(metrics_port) < total:
                time.sleep(0.05)
        seconds = time.monotonic() - began
        cpu = cpu_s(collector.popen.pid) - cpu0
    finally:
        collector.stop()
    return {"name": "hep", "sip_messages": total, "seconds": round(seconds, 2),
            "sip_messages_per_s": round(total / seconds),
            "cpu_us_per_message": round(cpu / total * 1e6, 1)}
