"""The latest final responses of a carrier: a ring of call chunks and a small head.

The head (key ``<carrier>``) holds how many calls were ever stored, the ring's size, the
calls per chunk and the offset watermarks; call ``n`` is at position ``n % chunk`` of the
chunk stored under ``<carrier>|k<(n // chunk) % keys>``. A flush writes the head and the
chunk or two its new calls went to: one record per carrier and a few calls, where a key
per call meant a changelog record per call (a third of all records). Keeping the whole
list in one value instead would re-encode ~20 KB per carrier per flush.

Older layouts are read and rewritten on the next change: a key per call
(``<carrier>|<n % size>``, ``chunk`` 1) and one value holding every call (``size`` 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from processor.domain.calllog import Log
from processor.domain.events import Sourced
from processor.domain.windows import iso, parse_iso_ms

FIELDS = ("call_id", "code", "reason", "ts", "duration_ms", "pdd_ms", "destination",
          "customer_id")


CHUNK = 10  # calls per stored value


def keys_in_ring(size: int, chunk: int) -> int:
    """How many call keys a ring of ``size`` calls uses: enough full chunks behind the
    newest, partly filled one to always hold the newest ``size`` calls."""
    return size if chunk == 1 else -(-size // chunk) + 1


@dataclass(frozen=True, slots=True)
class Head:
    seq: int  # calls stored so far; call n goes to chunk (n // chunk) % keys, at n % chunk
    size: int  # ring size (0: the older one-value layout, whose calls are ``inline``)
    applied: dict[str, int]
    inline: tuple[dict[str, Any], ...] = field(default=())  # newest first
    chunk: int = 1  # calls per key (1: the older key-per-call layout)
    log: Log | None = None  # the call log's bookkeeping (calllog.py); None: never logged

    def to_json(self) -> dict[str, Any]:
        d = {"n": self.seq, "r": self.size, "ap": self.applied, "k": self.chunk}
        if self.log is not None:
            d["lg"] = self.log.to_json()
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Head:
        if "n" not in d:  # {"calls": [newest first], "ap": ...}, written before the ring
            return cls(0, 0, dict(d["ap"]), tuple(d["calls"]))
        lg = d.get("lg")
        return cls(d["n"], d["r"], dict(d["ap"]), chunk=d.get("k", 1),
                   log=Log.from_json(lg) if lg is not None else None)

    @property
    def keys(self) -> int:
        return keys_in_ring(self.size, self.chunk)

    def laid_out(self, size: int, chunk: int) -> bool:
        """Whether the stored ring already has this size and chunk."""
        return (self.size, self.chunk) == (size, chunk)


@dataclass(slots=True)
class Update:
    head: Head
    calls: dict[int, Any]  # slot -> what to write there: a call (chunk 1) or a chunk
    dropped: list[tuple[int, int]]  # (slot, chunk) of keys of an older layout to delete
    fresh: list[Sourced]  # the final responses not applied before (the call log's)


def call_key(carrier_id: str, slot: int, chunk: int = CHUNK) -> bytes:
    if chunk == 1:
        return f"{carrier_id}|{slot}".encode()
    return f"{carrier_id}|k{slot}".encode()


def decode_head(raw: bytes) -> Head:
    return Head.from_json(orjson.loads(raw))


def call_record(s: Sourced) -> dict[str, Any]:
    """A latest call as stored: the API's (contract §6; absent fields are null) with ``ts``
    in epoch ms, made into text only when shown (``shown``): most stored calls never are."""
    e = s.event
    return {"call_id": e.call_id, "code": e.code, "reason": e.reason, "ts": e.ts_ms,
            "duration_ms": e.duration_ms, "pdd_ms": e.pdd_ms, "destination": e.destination,
            "customer_id": e.customer_id}


def shown(calls: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` of stored calls by event time, as the API shows them (calls
    stored before ``ts`` was kept in ms hold it as text already)."""
    def ts_ms(c: Mapping[str, Any]) -> int:
        ts = c["ts"]
        return ts if isinstance(ts, int) else parse_iso_ms(ts)

    newest = sorted(calls, key=ts_ms, reverse=True)[:limit]
    return [{**c, "ts": iso(c["ts"])} if isinstance(c["ts"], int) else c for c in newest]


def stored_calls(carrier_id: str, head: Head | None,
                 read: Callable[[bytes], bytes | None]) -> list[dict[str, Any]]:
    """The calls ``head`` points at, newest first (``read(key)``: a key's stored bytes)."""
    if head is None:
        return []
    if head.size == 0:
        return list(head.inline)
    chunks: dict[int, Any] = {}
    out = []
    for n in range(head.seq - 1, head.seq - 1 - min(head.seq, head.size), -1):
        slot = (n // head.chunk) % head.keys
        if slot not in chunks:
            raw = read(call_key(carrier_id, slot, head.chunk))
            chunks[slot] = orjson.loads(raw) if raw else None
        value = chunks[slot]
        if head.chunk == 1:
            if value:
                out.append(value)
        elif value and n % head.chunk < len(value) and value[n % head.chunk] is not None:
            out.append(value[n % head.chunk])
    return out


def needs_calls(head: Head | None, size: int, chunk: int = CHUNK) -> bool:
    """True when ``push`` needs the stored calls: the ring is laid out anew."""
    return head is not None and head.size != 0 and not head.laid_out(size, chunk)


def open_slot(head: Head | None, size: int, chunk: int = CHUNK) -> int | None:
    """The slot of the partly filled newest chunk, whose calls ``push`` adds to (None:
    there is none, or the ring is laid out anew)."""
    if head is None or chunk == 1 or not head.laid_out(size, chunk) or head.seq % chunk == 0:
        return None
    return (head.seq // chunk) % head.keys


def push(head: Head | None, events: Sequence[Sourced], size: int,
         stored: Sequence[Mapping[str, Any]] = (), *, chunk: int = CHUNK,
         open_calls: Sequence[Mapping[str, Any] | None] = ()) -> Update | None:
    """Add the final responses not yet applied; None when nothing changed.

    ``open_calls`` holds the calls of the chunk at ``open_slot``. A ring of another size or
    chunk (or the one-value layout) is rewritten first, from ``stored`` (its calls, newest
    first: see ``needs_calls``)."""
    applied = dict(head.applied) if head is not None else {}
    new: list[Mapping[str, Any] | Sourced] = []
    dropped: list[tuple[int, int]] = []
    seq = head.seq if head is not None else 0
    buf: list[Mapping[str, Any] | None] = []
    fresh: list[Sourced] = []
    changed = False
    if head is not None and not head.laid_out(size, chunk):
        new = [dict(c) for c in reversed(list(head.inline if head.size == 0 else stored)[:size])]
        seq = 0
        if head.size:
            dropped = [(slot, head.chunk) for slot in range(head.keys)]
        changed = True
    elif chunk > 1 and seq % chunk:
        # Calls sit at their number's position: a chunk read short keeps its gaps. The
        # calls themselves are shared, never changed: only the list is new.
        buf = list(open_calls[:seq % chunk])
        buf += [None] * (seq % chunk - len(buf))
    for s in events:
        if s.offset <= applied.get(s.source, -1):
            continue
        applied[s.source] = s.offset
        changed = True
        if s.event.code >= 200:
            new.append(s)
            fresh.append(s)
    if not changed:
        return None
    calls, seq = _place(new, seq, size, chunk, buf)
    return Update(Head(seq, size, applied, chunk=chunk,
                       log=head.log if head is not None else None), calls, dropped, fresh)


def _place(new: list[Mapping[str, Any] | Sourced], seq: int, size: int, chunk: int,
           buf: list[Mapping[str, Any] | None]) -> tuple[dict[int, Any], int]:
    """The ring's values to write for ``new`` calls numbered from ``seq`` (``buf``: the
    open chunk so far), and the next number.

    Only the newest ``size`` calls can be read back: older ones take their numbers (and a
    gap in a chunk) but are never made into records."""
    keys = keys_in_ring(size, chunk)
    calls: dict[int, Any] = {}
    skip = len(new) - size
    for i, item in enumerate(new):
        call = None if i < skip else call_record(item) if isinstance(item, Sourced) else item
        if chunk == 1:
            if call is not None:
                calls[seq % size] = call
        else:
            if seq % chunk == 0:
                buf = []
            buf.append(call)
            if call is not None:
                calls[(seq // chunk) % keys] = buf
        seq += 1
    return calls, seq
