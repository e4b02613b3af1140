"""Producer-duplicate detection: the same event identity seen again within a time window.

Identities are kept in one-minute buckets by event time, so an event only ever needs the
bucket of its own ``ts``; buckets older than the carrier's stream time minus the window
are dropped. Each identity remembers where it was first read ("source@offset"), so a
re-delivery of that very message is told apart from a second copy of the event.

A carrier with little traffic keeps its buckets inside its own state (``CarrierState.ids``),
up to ``INLINE_IDENTITIES`` identities in all: that record is written with every event
anyway, so a sparse event costs no bucket record and no later tombstone (two of about
fourteen records per event). Past the limit, a bucket moves to the ``dedup`` table.
"""

from __future__ import annotations

MINUTE_MS = 60_000
DEFAULT_WINDOW_MS = 10 * MINUTE_MS
INLINE_IDENTITIES = 32  # kept in the carrier's own record, at most, over all its buckets


def bucket_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def oldest_kept_bucket(stream_ts_ms: int, window_ms: int) -> int:
    """Buckets starting before this one are past the window and dropped."""
    return bucket_of(stream_ts_ms - window_ms)


def tag(source: str, offset: int) -> str:
    return f"{source}@{offset}"
