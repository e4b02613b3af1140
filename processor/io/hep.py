"""HEP v3 packets (the encapsulation Homer made common for mirrored VoIP traffic) and the
SIP message they carry, parsed without trusting a byte.

A HEP v3 packet is ``HEP3``, its total length (16 bits, network order), then chunks of
``vendor (16) | type (16) | length (16, the 6-byte chunk header included) | payload``.
Vendor 0 types used here: 1 IP family, 2 IP protocol, 3/4 IPv4 source/destination, 5/6
IPv6 source/destination, 7/8 source/destination port, 9/10 timestamp seconds/microseconds,
11 protocol type (1: SIP), 12 capture agent id, 15 payload, 17 correlation id (the call
the message belongs to, set by SBCs that link the legs of a call). Other chunks are
skipped. The
real addresses of a mirrored message are only in these chunks: every packet comes from
the capturing proxy's own socket.

Both parsers raise ``Refused`` with a short machine ``kind`` (counted per kind by the
collector) and a detail for people; they never raise anything else on any input.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from processor.errors import InvalidInput

MAGIC = b"HEP3"
MAX_PACKET = 65_535  # the 16-bit total length
MAX_SIP_HEADERS = 200
SIP = 1  # protocol type chunk: SIP


class Refused(InvalidInput):
    """Not a packet (or message) we use: ``kind`` says why, for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind, f"{kind}: {detail}")


@dataclass(slots=True)
class HepPacket:
    src: tuple[str, int]  # (address, port) of the mirrored message's sender
    dst: tuple[str, int]
    ts_us: int  # capture time, epoch microseconds
    proto_type: int
    payload: bytes
    capture_id: int | None = None
    correlation: str | None = None  # chunk 17, when the sender sets it


@lru_cache(maxsize=4_096)
def _address(raw: bytes) -> str:
    """Text of a packed address; a capture sees few, so each is formatted once."""
    return str(ipaddress.ip_address(raw))


def parse_hep(data: bytes) -> HepPacket:
    """One HEP v3 packet; ``Refused`` for anything else (not HEP, truncated, lengths that
    disagree, a needed chunk missing, a payload that is not SIP)."""
    if len(data) < 6 or data[:4] != MAGIC:
        raise Refused("not-hep", "no HEP3 header")
    total = int.from_bytes(data[4:6], "big")
    if total != len(data):
        raise Refused("bad-length", f"header says {total} bytes, packet has {len(data)}")
    chunks: dict[int, bytes] = {}
    pos = 6
    while pos < total:
        if pos + 6 > total:
            raise Refused("truncated", f"chunk header cut at byte {pos}")
        vendor = int.from_bytes(data[pos:pos + 2], "big")
        kind = int.from_bytes(data[pos + 2:pos + 4], "big")
        length = int.from_bytes(data[pos + 4:pos + 6], "big")
        if length < 6 or pos + length > total:
            raise Refused("bad-length", f"chunk {vendor}/{kind} of {length} bytes at {pos}")
        if vendor == 0:
            chunks[kind] = data[pos + 6:pos + length]
        pos += length
    try:
        src_raw = chunks.get(3) or chunks[5]
        dst_raw = chunks.get(4) or chunks[6]
        src = (_address(src_raw), int.from_bytes(chunks[7], "big"))
        dst = (_address(dst_raw), int.from_bytes(chunks[8], "big"))
        ts_us = int.from_bytes(chunks[9], "big") * 1_000_000 + int.from_bytes(
            chunks.get(10, b"\0\0\0\0"), "big") % 1_000_000
        proto = int.from_bytes(chunks[11], "big")
        payload = chunks[15]
    except KeyError as missing:
        raise Refused("missing-chunk", f"no chunk of type {missing}") from None
    except ValueError as bad:
        raise Refused("bad-address", str(bad)) from None
    if len(chunks[7]) != 2 or len(chunks[8]) != 2:
        raise Refused("bad-length", "a port chunk is not 2 bytes")
    if proto != SIP:
        raise Refused("not-sip", f"protocol type {proto}")
    capture = int.from_bytes(chunks[12], "big") if 12 in chunks else None
    correlation = chunks[17].decode("utf-8", errors="replace").strip() if 17 in chunks else ""
    return HepPacket(src, dst, ts_us, proto, payload, capture, correlation or None)


@dataclass(slots=True)
class SipMessage:
    method: str | None  # a request's method; None for a response
    status: int | None  # a response's code; None for a request
    call_id: str
    cseq: int
    cseq_method: str
    branch: str | None  # of the top Via: one transaction (one fork of a proxy)
    from_tag: str | None
    to_tag: str | None
    request_user: str | None = None  # the Request-URI's user part (the dialled number)
    call_key: str | None = None  # the first of the asked-for headers present (``X-CID``)


COMPACT = {"i": "call-id", "v": "via", "f": "from", "t": "to"}


def _param(value: str, name: str) -> str | None:
    for part in value.split(";")[1:]:
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == name:
            return val.strip() or None
    return None


def _uri_user(uri: str) -> str | None:
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        return None
    user = rest.split("@", 1)[0] if "@" in rest else (rest if scheme == "tel" else "")
    user = user.split(";", 1)[0]
    return user or None


def parse_sip(payload: bytes, key_headers: tuple[str, ...] = ()) -> SipMessage:
    """The fields of a SIP message the collector needs; ``Refused`` when it is not SIP
    or lacks them. ``key_headers`` (lower case): the headers that may name the call the
    message belongs to, in order of preference."""
    head = payload.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    start = lines[0].split(" ", 2)
    method = status = request_user = None
    if len(start) == 3 and start[0] == "SIP/2.0":
        if not (start[1].isdigit() and len(start[1]) == 3):
            raise Refused("not-sip", "bad status line")
        status = int(start[1])
    elif len(start) == 3 and start[2] == "SIP/2.0" and start[0].isalpha():
        method, request_user = start[0].upper(), _uri_user(start[1])
    else:
        raise Refused("not-sip", "no SIP start line")
    headers: dict[str, str] = {}
    for line in lines[1:MAX_SIP_HEADERS + 1]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = COMPACT.get(key, key)
        if key not in headers:  # the first Via is the top one
            headers[key] = value.strip()
    try:
        call_id = headers["call-id"]
        number, _, cseq_method = headers["cseq"].partition(" ")
        cseq = int(number)
    except (KeyError, ValueError):
        raise Refused("not-sip", "no Call-ID or CSeq") from None
    if not call_id:
        raise Refused("not-sip", "empty Call-ID")
    via = headers.get("via", "").split(",", 1)[0]  # a proxy may fold Vias into one line
    call_key = next((v for h in key_headers if (v := headers.get(h))), None)
    return SipMessage(method, status, call_id, cseq, cseq_method.strip().upper(),
                      _param(via, "branch"), _param(headers.get("from", ""), "tag"),
                      _param(headers.get("to", ""), "tag"), request_user, call_key)
