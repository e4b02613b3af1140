"""Producer duplicates inside a fold: is this event a copy of one that arrived at most a
window before it, and remembering each first copy (the bucket rules are ``dedup.py``)."""

from __future__ import annotations

from collections.abc import Mapping

from processor.domain import dedup
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, FoldResult, Policy


def first_arrival(cur: CarrierState, res: FoldResult,
                   buckets: Mapping[int, Mapping[str, str]], identity: str,
                   oldest_ms: int) -> str | None:
    """Where ``identity`` was first read, if it arrived at ``oldest_ms`` or later."""
    for start, inline in cur.ids.items():
        value = inline.get(identity)
        if value is not None:
            where, arrived = dedup.parse(value, start)
            if arrived >= oldest_ms:
                return where
    for start in cur.buckets:
        bucket: Mapping[str, str] | None = res.buckets.get(start)
        if bucket is None:
            bucket = buckets.get(start)
        value = bucket.get(identity) if bucket is not None else None
        if value is not None:
            where, arrived = dedup.parse(value, start)
            if arrived >= oldest_ms:
                return where
    return None


def is_duplicate(cur: CarrierState, res: FoldResult, buckets: Mapping[int, Mapping[str, str]],
                  s: Sourced, *, arrival: int, policy: Policy, fresh: bool) -> bool:
    """Whether ``s`` is a copy of an event that arrived at most a window before it.

    A first copy is remembered; a re-delivery the carrier already applied (not ``fresh``)
    is only looked up: its decision was taken, and an entry written now would carry a
    later arrival than the one it was decided at."""
    identity = s.event.identity
    first = first_arrival(cur, res, buckets, identity, arrival - policy.dedup_window_ms)
    if first is not None:
        return first != dedup.tag(s.source, s.offset)
    if not fresh:
        return False
    value = dedup.entry(s.source, s.offset, arrival)
    bucket_start = dedup.bucket_of(arrival, policy.dedup_window_ms)
    inline = cur.ids.get(bucket_start)
    if inline is None and bucket_start not in res.buckets and bucket_start not in cur.buckets:
        inline = cur.ids[bucket_start] = {}  # a new bucket starts in the carrier's record
    if inline is not None:
        n = res.inline_ids
        if n is None:
            n = sum(len(m) for m in cur.ids.values())
        if n < policy.dedup_inline:
            inline[identity] = value
            res.inline_ids = n + 1
            res.carrier_changed = True
            return False
        # Over the limit: this bucket moves to the dedup table.
        res.inline_ids = n - len(inline)
        del cur.ids[bucket_start]
        res.buckets[bucket_start] = inline
        cur.buckets.append(bucket_start)
        res.carrier_changed = True
    bucket = res.buckets.get(bucket_start)
    if bucket is None:
        stored = buckets.get(bucket_start)
        bucket = stored if res.owned and isinstance(stored, dict) else dict(stored or {})
    bucket[identity] = value
    res.buckets[bucket_start] = bucket
    if bucket_start not in cur.buckets:
        cur.buckets.append(bucket_start)
        res.carrier_changed = True
    return False
