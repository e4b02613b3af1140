"""Producer-duplicate detection: the same event identity arriving again within a window.

The window is one of *arrival* time, not event time (contract §1): an SBC that lost its
broker flushes events minutes to hours old in ``ts``, and its producer may send part of the
flush twice; the copies arrive close together whatever their ``ts``. The arrival clock is
the input record's Kafka timestamp (or, for a replay, the arrival the replay stamps on it),
kept per carrier as the newest one seen so far, so it never runs backwards and a replay of
the same records decides exactly as the live run did.

An identity is remembered as three integers: its 64-bit hash, a 32-bit tag of where its
counted copy was read (so a re-delivery of that very message is told apart from a second
copy of the event) and when it arrived. A copy is a duplicate exactly when the counted one
arrived at most one window before it. In memory a carrier's identities sit in a compact
table (``seen.Seen``, ~30 bytes each); what is stored is append-only:

- new identities join the carrier record's *tail* (``CarrierState.tail``), which is
  written with every event anyway, so a sparse carrier costs no record of its own;
- once the tail holds ``Policy.dedup_inline`` identities, a fold *seals* it into chunks in
  the ``dedup`` table, one per arrival bucket (a tenth of the window) it spans, 16 bytes an
  identity, never rewritten;
- a bucket's chunks are deleted whole once it is past the window.

A worker that has not held a carrier's table yet (after a restart or a rebalance) builds it
from the chunks and the tail, in the order they were written: it answers as the one before.
Records written before the compact form (identities as JSON in the record and in buckets)
are read once and sealed into chunks by the carrier's next fold.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterator, Mapping

import orjson

from processor.domain.seen import Seen, where_tag

MINUTE_MS = 60_000
DEFAULT_WINDOW_MS = 10 * MINUTE_MS
BUCKETS_PER_WINDOW = 10
INLINE_IDENTITIES = 32  # in the carrier record's tail before it is sealed into chunks
LEGACY = -1  # the chunk number of a bucket written before chunks: ``<carrier>|<bucket>``

ChunkId = tuple[int, int]  # (bucket start ms, chunk number in the bucket)


def bucket_width(window_ms: int) -> int:
    """A tenth of the window (at least a second): a window spans at most 11 buckets."""
    return max(1000, -(-window_ms // BUCKETS_PER_WINDOW))


def bucket_of(arrival_ms: int, window_ms: int) -> int:
    width = bucket_width(window_ms)
    return arrival_ms - arrival_ms % width


def oldest_kept_bucket(clock_ms: int, window_ms: int) -> int:
    """Buckets starting before this one hold only identities past the window: dropped."""
    return bucket_of(clock_ms - window_ms, window_ms)


def identity_hash(identity: str) -> int:
    """A 64-bit hash of an identity, the same in every process (stored: not ``hash()``):
    CRC-32 of its bytes and of them reversed. Identities are not chosen by an adversary;
    two that differ in at most 4 consecutive bytes (sequential ids) never collide, others
    with odds of about 2**-64. Never 0, which marks an empty slot."""
    b = identity.encode()
    return (zlib.crc32(b) << 32 | zlib.crc32(b[::-1])) or 1


def pack(entries: list[int]) -> bytes:
    """A chunk: flat (hash, where tag, arrival) triples as the first arrival (8 bytes), then
    each hash and each ``where << 32 | arrival - first`` (16 bytes an identity)."""
    base = min(entries[2::3])
    out = array("Q", [base])
    out.extend(entries[0::3])
    out.extend(w << 32 | (a - base) for w, a in zip(entries[1::3], entries[2::3], strict=True))
    return out.tobytes()


def unpack(raw: bytes) -> Iterator[tuple[int, int, int]]:
    """The (hash, where tag, arrival) triples of a chunk, in the order they were packed."""
    a = array("Q")
    a.frombytes(raw)
    n = (len(a) - 1) // 2
    base = a[0]
    for h, v in zip(a[1:n + 1], a[n + 1:], strict=True):
        yield h, v >> 32, base + (v & 0xFFFF_FFFF)


def seal(tail: list[int], window_ms: int, clock_ms: int) -> dict[int, bytes]:
    """A tail's identities still inside the window as one chunk per arrival bucket."""
    width = bucket_width(window_ms)
    oldest = oldest_kept_bucket(clock_ms, window_ms)
    arrivals = tail[2::3]
    first, last = min(arrivals), max(arrivals)
    if first - first % width == last - last % width >= oldest:
        return {last - last % width: pack(tail)}  # the common case: one bucket
    by_bucket: dict[int, list[int]] = {}
    for i in range(0, len(tail), 3):
        a = tail[i + 2]
        b = a - a % width
        if b >= oldest:
            by_bucket.setdefault(b, []).extend(tail[i:i + 3])
    return {b: pack(entries) for b, entries in by_bucket.items()}


def chunks_needed(chunks: Mapping[int, int], legacy: list[int]) -> list[ChunkId]:
    """Every stored chunk of a carrier, in the order written (its identities in order)."""
    out = [(b, LEGACY) for b in sorted(legacy)]
    out += [(b, i) for b in sorted(chunks) for i in range(chunks[b])]
    return sorted(out)


def build(stored: Mapping[ChunkId, bytes], tail: list[int],
          legacy_ids: Mapping[int, Mapping[str, str]],
          window_ms: int, clock_ms: int | None) -> tuple[Seen, list[int]]:
    """A carrier's table from what is stored: its chunks (``chunks_needed`` order), legacy
    identities and its tail. Also returns the legacy identities as a tail (to be sealed:
    their JSON goes)."""
    seen = Seen()
    oldest = -1 if clock_ms is None else clock_ms - window_ms
    converted: list[int] = []
    legacy: dict[int, dict[str, str]] = {b: dict(m) for b, m in legacy_ids.items()}
    for (b, i), raw in stored.items():
        if i == LEGACY:
            legacy.setdefault(b, {}).update(orjson.loads(raw))
    for cid in sorted({*stored, *((b, LEGACY) for b in legacy)}):
        if cid[1] == LEGACY:
            for identity, value in legacy.get(cid[0], {}).items():
                h, where, arrival = _legacy_entry(identity, value, cid[0])
                converted += (h, where, arrival)
                seen.put(h, where, arrival, oldest)
        else:
            for h, where, arrival in unpack(stored[cid]):
                seen.put(h, where, arrival, oldest)
    for i in range(0, len(tail), 3):
        seen.put(tail[i], tail[i + 1], tail[i + 2], oldest)
    return seen, converted


def _legacy_entry(identity: str, value: str, bucket_start: int) -> tuple[int, int, int]:
    """An identity as stored before chunks: ``source@offset#arrival`` (older: no ``#``, the
    bucket's start stands for the arrival)."""
    where, sep, arrival = value.rpartition("#")
    if not sep:
        where, arrival = value, str(bucket_start)
    source, _, offset = where.rpartition("@")
    return identity_hash(identity), where_tag(source, int(offset)), int(arrival)
