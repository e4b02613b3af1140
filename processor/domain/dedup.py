"""Producer-duplicate detection: the same event identity seen again within a time window.

Identities are kept in one-minute buckets by event time, so an event only ever needs the
bucket of its own ``ts``; buckets older than the carrier's stream time minus the window
are dropped. Each identity remembers where it was first read ("source@offset"), so a
re-delivery of that very message is told apart from a second copy of the event.
"""

from __future__ import annotations

MINUTE_MS = 60_000
DEFAULT_WINDOW_MS = 10 * MINUTE_MS


def bucket_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def oldest_kept_bucket(stream_ts_ms: int, window_ms: int) -> int:
    """Buckets starting before this one are past the window and dropped."""
    return bucket_of(stream_ts_ms - window_ms)


def tag(source: str, offset: int) -> str:
    return f"{source}@{offset}"
