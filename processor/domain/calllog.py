"""A carrier's call log: every final response of the last hours, in time order on disk.

The log lives beside the latest calls (``latest.py``), whose head's offset watermarks skip
re-deliveries for both, and whose head keeps the log's bookkeeping (``Log``). Calls are
stored in **segments**, keyed ``<carrier>|t<minute>.<seq>.<calls>``: the UTC minute its
calls' ``ts`` fall in (epoch ms, 13 digits), a per-carrier number and how many calls it
holds. A flush writes one segment per carrier and minute its new calls fall in (nearly
always one), never rewrites one, and deletes whole segments when they expire. Keys sort by
minute, so the calls of a time range are one ordered scan of keys; the segments of one
minute (several flushes) are merged and sorted when read.

A call is told by its (source, offset). After a crash, a segment may reach the changelog
without the head that counts it, and the re-delivered calls go to another segment of the
same minute: readers show each call once, and the count that bounds the log only drifts by
such a segment until the log empties.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from processor.domain.events import Sourced

MINUTE_MS = 60_000
# A stored call: [source index, offset, ts, code, call_id, reason, duration_ms, pdd_ms,
# destination, customer_id].
_SOURCE, _OFFSET, _TS, _CODE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Log:
    """The log's bookkeeping, kept in the latest-calls head."""

    calls: int = 0  # calls held in the segments counted here
    seq: int = 0  # the next segment's number
    oldest: int | None = None  # the minute of the oldest segment (None: empty)

    def to_json(self) -> list[Any]:
        return [self.calls, self.seq, self.oldest]

    @classmethod
    def from_json(cls, d: Sequence[Any]) -> Log:
        return cls(int(d[0]), int(d[1]), d[2])


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a carrier's log keeps: ``hours`` back from its clock, ``max_calls`` at most."""

    hours: int
    max_calls: int

    def cutoff(self, now_ms: int) -> int:
        """Calls before this time are expired."""
        return now_ms - self.hours * 3_600_000


def minute_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def _prefix(carrier_id: str) -> str:
    return f"{carrier_id}|t"


def segment_key(carrier_id: str, minute: int, seq: int, calls: int) -> bytes:
    return f"{carrier_id}|t{minute:013d}.{seq:010d}.{calls}".encode()


def carrier_of(key: bytes) -> bytes:
    """The carrier of a key of the latest-calls table (a carrier id holds no ``|``)."""
    return key.split(b"|", 1)[0]


def key_minute_and_calls(key: bytes) -> tuple[int, int]:
    """The minute and the call count a segment key names."""
    tail = key[key.rindex(b"|t") + 2:].split(b".")
    return int(tail[0]), int(tail[2])


def bounds(carrier_id: str, first: int | None = None,
           last: int | None = None) -> tuple[bytes, bytes]:
    """The key range [lo, hi) of the segments of minutes ``first`` to ``last`` (None: no
    bound)."""
    p = _prefix(carrier_id)
    lo = f"{p}{first:013d}" if first is not None else p
    hi = f"{p}{last + MINUTE_MS:013d}" if last is not None else f"{carrier_id}|u"
    return lo.encode(), hi.encode()


def add(log: Log | None, carrier_id: str, calls: Iterable[Sourced],
        cutoff: int) -> tuple[Log, dict[bytes, bytes]]:
    """Log ``calls`` (final responses not logged before); those before ``cutoff`` are
    already expired and left out. Returns the bookkeeping and the segments to write."""
    log = log or Log()
    by_minute: dict[int, tuple[dict[str, int], list[list[Any]]]] = {}
    seg: tuple[dict[str, int], list[list[Any]]] | None = None
    at = -1
    for s in calls:  # per call: one row; the minute and source usually as the last one's
        e = s.event
        ts = e.ts_ms
        if ts < cutoff:
            continue
        minute = ts - ts % MINUTE_MS
        if minute != at or seg is None:
            seg = by_minute.get(minute)
            if seg is None:
                seg = by_minute[minute] = ({}, [])
            at = minute
        sources = seg[0]
        index = sources.get(s.source)
        if index is None:
            index = sources[s.source] = len(sources)
        seg[1].append([index, s.offset, ts, e.code, e.call_id, e.reason, e.duration_ms,
                       e.pdd_ms, e.destination, e.customer_id])
    if not by_minute:
        return log, {}
    out = {}
    seq, n = log.seq, log.calls
    for minute, (names, rows) in sorted(by_minute.items()):
        out[segment_key(carrier_id, minute, seq, len(rows))] = orjson.dumps([list(names),
                                                                            rows])
        seq += 1
        n += len(rows)
    first = min(by_minute)
    oldest = first if log.oldest is None else min(log.oldest, first)
    return Log(n, seq, oldest), out


def due(log: Log | None, limits: Limits, cutoff: int) -> bool:
    """Whether ``trim`` has anything to do: too many calls, or a minute past the cutoff."""
    return log is not None and log.oldest is not None and (
        log.calls > limits.max_calls or log.oldest + MINUTE_MS <= cutoff)


def trim(log: Log, keys: Iterable[bytes], limits: Limits,
         cutoff: int) -> tuple[Log, list[bytes]]:
    """Drop the oldest segments (``keys``: the carrier's segments from ``log.oldest`` on,
    oldest first) while the log holds more than ``max_calls`` or their minute is past
    ``cutoff``."""
    calls, dropped = log.calls, []
    for key in keys:
        minute, n = key_minute_and_calls(key)
        if calls > limits.max_calls or minute + MINUTE_MS <= cutoff:
            dropped.append(key)
            calls = max(0, calls - n)
            continue
        return Log(calls, log.seq, minute), dropped
    return Log(0, log.seq, None), dropped  # none left


# -- reading --------------------------------------------------------------------------


class BadQuery(ValueError):
    """A query parameter is wrong; the message names it."""


@dataclass(frozen=True)
class Query:
    """Which calls to read: ``ts`` in [since, until), codes, customer, destination prefix,
    and past ``after`` (a cursor: the position of the last call of the previous page)."""

    since: int | None = None
    until: int | None = None
    codes: frozenset[int] | None = None  # exact codes
    classes: frozenset[int] = frozenset()  # hundreds: 5 for "5xx"
    customer: str | None = None
    destination: str | None = None  # digits (a leading + of the stored number is ignored)
    after: tuple[int, str, int] | None = None  # (ts, source, offset)

    def wanted(self, row: Sequence[Any]) -> bool:
        code = row[_CODE]
        if self.codes is not None and code not in self.codes and code // 100 not in self.classes:
            return False
        if self.customer is not None and row[9] != self.customer:
            return False
        if self.destination is not None:
            dest = row[8]
            if dest is None or not dest.lstrip("+").startswith(self.destination):
                return False
        return True


def parse_codes(raw: str) -> tuple[frozenset[int], frozenset[int]]:
    """``503``, ``5xx`` or a comma list of either: the exact codes and the classes."""
    codes, classes = set(), set()
    for part in (p.strip().lower() for p in raw.split(",")):
        if len(part) == 3 and part.endswith("xx") and part[0] in "23456":
            classes.add(int(part[0]))
        elif part.isdigit() and 200 <= int(part) <= 699:
            codes.add(int(part))
        else:
            raise BadQuery(f"code: expected a final SIP code (200-699), a class such as "
                           f"5xx, or a comma list of them; got {part!r}")
    return frozenset(codes), frozenset(classes)


def encode_cursor(position: tuple[int, str, int]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[int, str, int]:
    try:
        ts, source, offset = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if type(ts) is int and isinstance(source, str) and type(offset) is int:
            return ts, source, offset
    except (ValueError, TypeError, binascii.Error):
        pass
    raise BadQuery("cursor: not a cursor this API returned (pass `next` as it came)")


Scan = Callable[[bytes, bytes], Iterator[tuple[bytes, bytes]]]
"""A carrier's stored keys and values in [lo, hi), newest (greatest key) first."""


@dataclass(frozen=True, slots=True)
class Call:
    """A logged call and its position (for the next page's cursor)."""

    position: tuple[int, str, int]  # (ts, source, offset): the order, newest first
    fields: dict[str, Any]  # the latest-calls fields (``latest.FIELDS``), ``ts`` in epoch ms


def read(scan: Scan, carrier_id: str, query: Query) -> Iterator[Call]:
    """The calls ``query`` asks for, newest first by ``ts`` (then by source and offset)."""
    until = query.until
    if query.after is not None:
        until = query.after[0] + 1 if until is None else min(until, query.after[0] + 1)
    last = minute_of(until - 1) if until is not None else None
    first = minute_of(query.since) if query.since is not None else None
    if first is not None and last is not None and first > last:
        return
    lo, hi = bounds(carrier_id, first, last)
    minute: int | None = None
    values: list[bytes] = []
    for key, value in scan(lo, hi):
        m = key_minute_and_calls(key)[0]
        if m != minute and values:
            yield from _minute(values, query, until)
            values = []
        minute = m
        values.append(value)
    if values:
        yield from _minute(values, query, until)


def _minute(values: list[bytes], query: Query, until: int | None) -> list[Call]:
    """One minute's calls (its segments merged, each call once), filtered, newest first."""
    seen: dict[tuple[str, int], Call] = {}
    since, after = query.since, query.after
    for raw in values:
        sources, rows = orjson.loads(raw)
        for row in rows:
            ts = row[_TS]
            if (since is not None and ts < since) or (until is not None and ts >= until):
                continue
            position = (ts, sources[row[_SOURCE]], row[_OFFSET])
            if (after is not None and position >= after) or position[1:] in seen:
                continue
            if query.wanted(row):
                seen[position[1:]] = Call(position, {
                    "call_id": row[4], "code": row[_CODE], "reason": row[5], "ts": ts,
                    "duration_ms": row[6], "pdd_ms": row[7], "destination": row[8],
                    "customer_id": row[9]})
    return sorted(seen.values(), key=lambda c: c.position, reverse=True)
