"""Producer duplicates inside a fold: is this event a copy of one that arrived at most a
window before it, and remembering each first copy (how they are kept: ``dedup.py``)."""

from __future__ import annotations

from array import array
from collections.abc import Mapping

from processor.domain import dedup
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, FoldResult, Policy
from processor.domain.seen import Seen, where_tag


def table(cur: CarrierState, res: FoldResult, stored: Mapping[dedup.ChunkId, bytes],
          policy: Policy) -> Seen:
    """The carrier's identity table, built from ``stored`` (``dedup.chunks_needed``) and
    its tail the first time; identities stored before chunks are taken into the tail and
    their old keys deleted."""
    if cur.seen is not None:
        return cur.seen
    cur.seen, converted = dedup.build(stored, cur.tail.tolist(), cur.ids,
                                      policy.dedup_window_ms, cur.arrival_ms)
    if converted:
        cur.tail[:0] = array("Q", converted)  # written before the tail: first
    if cur.ids or cur.buckets:
        res.expired_chunks += [(b, dedup.LEGACY) for b in cur.buckets]
        cur.ids, cur.buckets = {}, []
        res.carrier_changed = True
    return cur.seen


def is_duplicate(cur: CarrierState, res: FoldResult, seen: Seen, s: Sourced, *,
                 arrival: int, policy: Policy, fresh: bool) -> bool:
    """Whether ``s`` is a copy of an event that arrived at most a window before it.

    A first copy is remembered; a re-delivery the carrier already applied (not ``fresh``)
    is only looked up: its decision was taken, and an entry written now would carry a
    later arrival than the one it was decided at."""
    h = dedup.identity_hash(s.event.identity)
    found = seen.get(h)
    oldest = arrival - policy.dedup_window_ms
    if found is not None and found[1] >= oldest:
        return found[0] != where_tag(s.source, s.offset)
    if fresh:
        where = where_tag(s.source, s.offset)
        seen.put(h, where, arrival, oldest)
        cur.tail.extend((h, where, arrival))
        res.carrier_changed = True
    return False


def expire(cur: CarrierState, res: FoldResult, policy: Policy) -> None:
    """Drop what left the window (chunks of past buckets, the tail's old identities) and
    seal the tail into chunks once it holds ``dedup_inline`` identities."""
    if cur.arrival_ms is None:
        return
    window = policy.dedup_window_ms
    oldest = dedup.oldest_kept_bucket(cur.arrival_ms, window)
    for b in [b for b in cur.chunks if b < oldest]:
        res.expired_chunks += [(b, i) for i in range(cur.chunks.pop(b))]
        res.carrier_changed = True
    tail = cur.tail
    if not tail:
        return
    if len(tail) >= 3 * policy.dedup_inline:
        for b, raw in dedup.seal(tail.tolist(), window, cur.arrival_ms).items():
            n = cur.chunks.get(b, 0)
            res.chunks[(b, n)] = raw
            cur.chunks[b] = n + 1
        del tail[:]
        res.carrier_changed = True
    elif min(tail[2::3]) < cur.arrival_ms - window:
        kept = [x for i in range(0, len(tail), 3) if tail[i + 2] >= cur.arrival_ms - window
                for x in tail[i:i + 3]]
        cur.tail = array("Q", kept)
        res.carrier_changed = True
