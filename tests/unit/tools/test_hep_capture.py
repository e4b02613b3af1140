"""A real capture (issue 20): what Kamailio 5.6's siptrace mirrored as HEP v3 for three
sipp calls through dispatcher (tests/integration/test_sip_e2e.py's set-up): a call failed
over from a 503 carrier to a 404 one, a 404, and a call answered and hung up by the
carrier after 3 s. Every packet parses, and the collector turns them into those calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from processor.collector.hep import Collector
from processor.domain.signalling import AddressBook
from processor.io.hep import parse_hep, parse_sip

CAPTURE = Path(__file__).parents[2] / "data" / "kamailio-3-calls.hep"


def packets() -> list[bytes]:
    data, out, pos = CAPTURE.read_bytes(), [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos + 4:pos + 6], "big")
        out.append(data[pos:pos + size])
        pos += size
    return out


def test_every_packet_of_the_capture_parses() -> None:
    messages = [parse_sip(parse_hep(p).payload) for p in packets()]
    assert len(messages) == 14
    assert sum(m.method == "INVITE" for m in messages) == 3
    assert sorted(m.status for m in messages if m.status and m.status >= 200) == [
        200, 200, 404, 404, 503]
    replies = [m for m in messages if m.status and m.cseq_method == "INVITE"]
    assert all(m.branch and "," not in m.branch and " " not in m.branch for m in replies)


def test_the_collector_makes_the_three_calls_of_the_capture() -> None:
    events: list[dict[str, Any]] = []
    book = AddressBook.of({"acme": ["127.0.0.21:5071"], "beta": ["127.0.0.22:5072"],
                           "gamma": ["127.0.0.23:5073"]})
    collector = Collector(book, lambda _key, value: events.append(orjson.loads(value)))
    for p in packets():
        collector.packet(p)
    made = [(e["carrier_id"], e["code"], e["call_id"].split("-")[0]) for e in events]
    assert made == [("gamma", 503, "1"), ("beta", 404, "1"), ("beta", 404, "2"),
                    ("acme", 200, "3")]
    answered = events[-1]
    assert abs(answered["duration_ms"] - 3_000) < 100
    assert all(e["destination"] == "4420794601234" for e in events)
    assert len({e["event_id"] for e in events}) == 4
    assert collector.refused == {}
