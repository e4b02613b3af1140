"""HEP v3 and SIP parsing (issue 20): the fields a collector needs from well-formed
packets, and nothing but ``Refused`` from hostile ones. The packets are built here from
the HEP v3 layout (HEP3, total length, vendor/type/length chunks), not by the parser."""

from __future__ import annotations

import contextlib
import ipaddress
import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.io.hep import Refused, parse_hep, parse_sip


def chunk(kind: int, payload: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, kind, 6 + len(payload)) + payload


def hep(payload: bytes, *, src: str = "127.0.0.21", dst: str = "127.0.0.1",
        sport: int = 5070, dport: int = 5060, ts_s: int = 1_709_164_800, ts_us: int = 250_000,
        proto: int = 1, extra: bytes = b"") -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    body = b"".join([
        chunk(1, bytes([2 if s.version == 4 else 10])), chunk(2, bytes([17])),
        chunk(3 if s.version == 4 else 5, s.packed), chunk(4 if d.version == 4 else 6, d.packed),
        chunk(7, struct.pack("!H", sport)), chunk(8, struct.pack("!H", dport)),
        chunk(9, struct.pack("!I", ts_s)), chunk(10, struct.pack("!I", ts_us)),
        chunk(11, bytes([proto])), chunk(12, struct.pack("!I", 2001)), extra,
        chunk(15, payload)])
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


INVITE = (b"INVITE sip:+4420794601234@127.0.0.21:5070;user=phone SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0a1b.kam.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.10:5061;received=127.0.0.10;branch=z9hG4bK-caller-1\r\n"
          b"From: <sip:sbc@127.0.0.10>;tag=abc123\r\n"
          b"To: <sip:+4420794601234@127.0.0.1>\r\n"
          b"Call-ID: 1-2345@127.0.0.10\r\n"
          b"CSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")
REPLY_503 = (b"SIP/2.0 503 Service Unavailable\r\n"
             b"v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0a1b.kam.0\r\n"
             b"f: <sip:sbc@127.0.0.10>;tag=abc123\r\n"
             b"t: <sip:+4420794601234@127.0.0.1>;tag=carrier-9\r\n"
             b"i: 1-2345@127.0.0.10\r\n"
             b"CSeq: 1 INVITE\r\n\r\n")


def test_a_mirrored_invite_gives_its_addresses_time_and_transaction() -> None:
    packet = parse_hep(hep(INVITE, src="127.0.0.1", dst="127.0.0.21"))
    assert (packet.src, packet.dst) == (("127.0.0.1", 5070), ("127.0.0.21", 5060))
    assert packet.ts_us == 1_709_164_800_250_000
    assert packet.capture_id == 2001
    msg = parse_sip(packet.payload)
    assert (msg.method, msg.status, msg.cseq, msg.cseq_method) == ("INVITE", None, 1, "INVITE")
    assert (msg.call_id, msg.branch) == ("1-2345@127.0.0.10", "z9hG4bK0a1b.kam.0")
    assert (msg.from_tag, msg.to_tag, msg.request_user) == ("abc123", None, "+4420794601234")


def test_a_reply_in_compact_form_and_ipv6_addresses() -> None:
    packet = parse_hep(hep(REPLY_503, src="::1", dst="fe80::2", extra=chunk(99, b"x", 7)))
    assert packet.src == ("::1", 5070)
    msg = parse_sip(packet.payload)
    assert (msg.method, msg.status, msg.cseq_method) == (None, 503, "INVITE")
    assert (msg.branch, msg.to_tag) == ("z9hG4bK0a1b.kam.0", "carrier-9")


@pytest.mark.parametrize(("packet", "kind"), [
    (b"", "not-hep"), (b"HEP2" + bytes(10), "not-hep"), (b"GET / HTTP/1.1\r\n", "not-hep"),
    (hep(INVITE)[:-1], "bad-length"),
    (hep(INVITE, proto=5), "not-sip"),
    (b"HEP3\x00\x0e" + chunk(7, b"\x13\xc4"), "missing-chunk"),
    (b"HEP3\x00\x0b" + b"\x00\x00\x00\x07\x00", "truncated"),
    (b"HEP3\x00\x0c" + struct.pack("!HHH", 0, 15, 99), "bad-length"),
])
def test_refused_packets_say_why(packet: bytes, kind: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_hep(packet)
    assert refused.value.kind == kind


@pytest.mark.parametrize("payload", [
    b"", b"\x16\x03\x01 binary", b"HELLO world\r\n\r\n", b"SIP/2.0 2OO OK\r\nCSeq: 1 X\r\n\r\n",
    b"INVITE sip:x@y SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",  # no Call-ID
    b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: one INVITE\r\n\r\n",
])
def test_what_is_not_usable_sip_is_refused(payload: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_sip(payload)
    assert refused.value.kind == "not-sip"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_are_a_packet_or_refused(data: bytes) -> None:
    for raw in (data, b"HEP3" + struct.pack("!H", 6 + len(data)) + data):
        with contextlib.suppress(Refused):
            parse_sip(parse_hep(raw).payload)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=8), st.binary(max_size=70_000))
def test_cut_patched_or_huge_packets_are_refused_or_parsed(at: int, patch: bytes,
                                                           payload: bytes) -> None:
    good = hep(INVITE)
    cut = good[:at % len(good)]
    patched = good[:at % len(good)] + patch + good[at % len(good) + len(patch):]
    for raw in (cut, patched, hep(payload) if len(payload) < 65_000 else b"HEP3" + payload):
        try:
            packet = parse_hep(raw)
            assert len(packet.payload) <= len(raw)
            parse_sip(packet.payload)
        except Refused:
            pass


def test_the_call_key_comes_from_the_correlation_id_else_a_header_else_the_call_id() -> None:
    """Issue 32: HEP chunk 0x0011 first, then the configured headers (first present),
    then the Call-ID (the tracker's fallback)."""
    from processor.collector.hep import Collector
    from processor.domain.signalling import AddressBook

    with_header = INVITE.replace(b"CSeq: 1 INVITE\r\n", b"CSeq: 1 INVITE\r\nX-CID: orig-77\r\n")
    reply_with_header = REPLY_503.replace(b"CSeq: 1 INVITE\r\n",
                                          b"CSeq: 1 INVITE\r\nX-CID: orig-77\r\n")
    assert parse_sip(with_header, ("x-other", "x-cid")).call_key == "orig-77"
    assert parse_sip(INVITE, ("x-cid",)).call_key is None
    assert parse_hep(hep(INVITE, extra=chunk(17, b" corr-9 "))).correlation == "corr-9"
    assert parse_hep(hep(INVITE)).correlation is None
    book = AddressBook.of({"gamma": ["127.0.0.21:5070"]})
    for invite, reply, extra, want in (
            (INVITE, REPLY_503, chunk(17, b"corr-9"), "corr-9"),
            (with_header, reply_with_header, b"", "orig-77"),
            (INVITE, REPLY_503, b"", "1-2345@127.0.0.10")):
        out: list[bytes] = []
        c = Collector(book, lambda _k, v, out=out: out.append(v))
        c.packet(hep(invite, src="127.0.0.10", dst="127.0.0.1", extra=extra))
        c.packet(hep(reply, src="127.0.0.21", sport=5070, ts_us=400_000, extra=extra))
        [event] = [orjson.loads(v) for v in out]
        assert (event["call_key"], event["attempt"], event["code"]) == (want, 1, 503)
