"""The HEP collector between a mirroring proxy and the worker (issue 20): HEP v3 over UDP
and TCP in, contract events on sip.responses, the worker's records out. The packets are
built here from the HEP v3 layout and SIP as a proxy mirrors it (caller requests, carrier
replies), so the expected events follow from the flows alone."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.settings import Settings
from tests.integration.procs import cli, free_port, start_worker, wait_for
from tests.unit.io.test_hep import hep

pytestmark = pytest.mark.integration

PROXY = ("127.0.0.1", 5060)
CALLER = ("127.0.0.10", 5061)
CARRIERS = {"acme": ("127.0.0.21", 5070), "beta": ("127.0.0.22", 5072),
            "gamma": ("127.0.1.7", 5060)}


def sip_request(method: str, call: str, *, user: str = "+4420794601234",
                branch: str = "z9hG4bK-caller") -> bytes:
    return (f"{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10:5061;"
            f"branch={branch}\r\nFrom: <sip:sbc@127.0.0.10>;tag=f1\r\nTo: <sip:{user}@x>\r\n"
            f"Call-ID: {call}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def sip_reply(status: int, call: str, branch: str, method: str = "INVITE") -> bytes:
    return (f"SIP/2.0 {status} Reason\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n"
            f"From: <sip:sbc@127.0.0.10>;tag=f1\r\nTo: <sip:x@x>;tag=t-{branch}\r\n"
            f"Call-ID: {call}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def packet(payload: bytes, src: tuple[str, int], dst: tuple[str, int], at_ms: int) -> bytes:
    return hep(payload, src=src[0], dst=dst[0], sport=src[1], dport=dst[1],
               ts_s=at_ms // 1000, ts_us=at_ms % 1000 * 1000)


def flows(t0: int) -> list[tuple[bytes, str]]:
    """(packet, how it travels: udp or tcp). Three calls: answered (5 s), 404, and a 503
    failed over to an answering carrier (3 s)."""
    a, b, g = CARRIERS["acme"], CARRIERS["beta"], CARRIERS["gamma"]
    return [
        (packet(sip_request("INVITE", "call-1"), CALLER, PROXY, t0), "udp"),
        (packet(sip_reply(180, "call-1", "k1.0"), a, PROXY, t0 + 150), "udp"),
        (packet(sip_reply(200, "call-1", "k1.0"), a, PROXY, t0 + 400), "udp"),
        (packet(sip_reply(200, "call-1", "k1.0"), a, PROXY, t0 + 410), "udp"),  # again
        (packet(sip_request("BYE", "call-1", branch="bye1"), CALLER, PROXY, t0 + 5_400),
         "udp"),
        (packet(sip_request("INVITE", "call-2"), CALLER, PROXY, t0 + 1_000), "tcp"),
        (packet(sip_reply(404, "call-2", "k2.0"), b, PROXY, t0 + 1_060), "tcp"),
        (packet(sip_request("INVITE", "call-3"), CALLER, PROXY, t0 + 2_000), "tcp"),
        (packet(sip_reply(503, "call-3", "k3.0"), g, PROXY, t0 + 2_030), "tcp"),
        (packet(sip_reply(183, "call-3", "k3.1"), a, PROXY, t0 + 2_230), "tcp"),
        (packet(sip_reply(200, "call-3", "k3.1"), a, PROXY, t0 + 2_500), "tcp"),
        (packet(sip_request("BYE", "call-3", branch="bye3"), CALLER, PROXY, t0 + 5_500),
         "tcp"),
    ]


def latest_calls(settings: Settings, cid: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{settings.web_url}/carriers/{cid}/latest-calls",
                                    timeout=10) as resp:
            return list(json.loads(resp.read())["calls"])
    except OSError:
        return []


def test_mirrored_calls_become_the_carriers_records(isolated: Settings, tmp_path: Path) -> None:
    hep_port, metrics_port = free_port(), free_port()
    settings = isolated.replace(hep_listen=f"127.0.0.1:{hep_port}",
                                hep_metrics_port=metrics_port, web_port=free_port())
    assert cli(settings, "topics", "create").returncode == 0
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"carriers": {
        "acme": {"signalling": ["127.0.0.21"]}, "beta": {"signalling": ["127.0.0.22:5072"]},
        "gamma": {"signalling": ["127.0.1.0/24"]}}}))
    assert cli(settings, "registry", "import", str(registry)).returncode == 0
    collector = start_worker(settings, tmp_path / "hep.log", args=("ingest", "hep"))
    worker = start_worker(settings, tmp_path / "w.log")
    try:
        collector.wait_log("HEP collector listening")
        t0 = int(time.time() * 1000) - 60_000
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.create_connection(("127.0.0.1", hep_port))
        udp.sendto(b"not a HEP packet", ("127.0.0.1", hep_port))
        for data, how in flows(t0):
            if how == "udp":
                udp.sendto(data, ("127.0.0.1", hep_port))
            else:
                tcp.sendall(data[:10])  # TCP may split a packet anywhere
                tcp.sendall(data[10:])
        worker.wait_log("Worker ready")
        wait_for(lambda: len(latest_calls(settings, "acme")) == 2
                 and latest_calls(settings, "beta") and latest_calls(settings, "gamma"),
                 120, "the events of the three calls in the worker")
        acme = {c["call_id"]: c for c in latest_calls(settings, "acme")}
        assert (acme["call-1"]["code"], acme["call-1"]["pdd_ms"],
                acme["call-1"]["duration_ms"]) == (200, 150, 5_000)
        assert (acme["call-3"]["code"], acme["call-3"]["pdd_ms"],
                acme["call-3"]["duration_ms"]) == (200, 200, 3_000)  # from the 503
        [beta] = latest_calls(settings, "beta")
        [gamma] = latest_calls(settings, "gamma")
        assert (beta["code"], beta["call_id"], gamma["code"]) == (404, "call-2", 503)
        assert acme["call-1"]["destination"] == "+4420794601234"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
            text = resp.read().decode()
        assert 'carrierwatch_hep_refused_total{kind="not-hep"} 1.0' in text
        assert "carrierwatch_hep_events_total 4.0" in text
        assert "carrierwatch_hep_sip_messages_total 12.0" in text
        udp.close()
        tcp.close()
    finally:
        worker.stop()
        assert collector.stop() == 0, collector.log()[-2000:]
