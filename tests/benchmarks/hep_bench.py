"""``make bench BENCH_ARGS='--only hep'``: SIP messages per second one HEP collector
process parses and turns into events (issue 20; target >= 30,000 on one core).

The recorded Kamailio capture (tests/data/kamailio-3-calls.hep: 14 messages, three calls)
is replayed over loopback TCP as many times as asked, each copy with Call-IDs of its own
(same length, so the HEP lengths stay right), to a real ``carrierwatch ingest hep`` that
produces to a real broker. The time runs from the first byte sent to the collector's
/metrics counting every message; its CPU is read from /proc."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from processor.domain.attempts import AttemptTracker
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
            "cpu_us_per_message": round(cpu / total * 1e6, 1),
            "tracker_us_per_packet": tracker_scaling()}


def tracker_scaling(open_calls: tuple[int, ...] = (1_000, 10_000, 100_000),
                    packets: int = 60_000, rate: int = 10_000) -> dict[str, float]:
    """The attempt tracker alone (issue 32): µs of CPU per packet, expiry included, with
    ``open_calls`` answered calls held open while short failed calls flow at ``rate``
    packets/s of capture time (INVITE, 180, 503 each) and the deadlines run every 0.5 s,
    as the collector's do. Flat from 1,000 to 100,000 open calls: expiry costs what
    expires, not what is open."""
    out = {}
    for n in open_calls:
        t = AttemptTracker(max_open=n + 50_000, transaction_timeout_ms=180_000)
        ts = 1_764_000_000_000
        for i in range(n):  # the open calls: answered over the 3 minutes before, no BYE yet
            at = ts - 180_000 + i * 180_000 // n
            t.on_request("INVITE", f"open{i}", "z9hG4bK-c", "4420", at, to_carrier=None)
            t.on_reply(180, "INVITE", f"open{i}", "z9hG4bK-0", at, carrier_id="acme")
            t.on_reply(200, "INVITE", f"open{i}", "z9hG4bK-0", at, carrier_id="acme")
        step = 1000 / rate  # ms of capture time per packet
        warm = int(180 * rate)  # the steady state: calls now expire as fast as they come
        began = time.process_time()
        counted_from = None
        for p in range(warm + packets):
            if p == warm:
                counted_from = time.process_time()
            now = ts + int(p * step)
            call, kind = divmod(p, 3)
            cid = f"short{call}"
            if kind == 0:
                t.on_request("INVITE", cid, "z9hG4bK-c", "4420", now, to_carrier=None)
            elif kind == 1:
                t.on_reply(180, "INVITE", cid, "z9hG4bK-0", now, carrier_id="beta")
            else:
                t.on_reply(503, "INVITE", cid, "z9hG4bK-0", now, carrier_id="beta")
            if p % (rate // 2) == 0:
                t.expire(now)
        assert counted_from is not None
        spent = time.process_time() - counted_from
        assert len(t.calls) >= n
        out[str(n)] = round(spent / packets * 1e6, 2)
        print(f"tracker with {n} open calls: {out[str(n)]} µs/packet "
              f"(warm-up {counted_from - began:.1f} s)", file=sys.stderr)
    return out


if __name__ == "__main__":
    print(tracker_scaling())
