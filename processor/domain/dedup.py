"""Producer-duplicate detection: the same event identity arriving again within a window.

The window is one of *arrival* time, not event time (contract §1): an SBC that lost its
broker flushes events minutes to hours old in ``ts``, and its producer may send part of the
flush twice; the copies arrive close together whatever their ``ts``. The arrival clock is
the input record's Kafka timestamp (or, for a replay, the arrival the replay stamps on it),
kept per carrier as the newest one seen so far, so it never runs backwards and a replay of
the same records decides exactly as the live run did.

Identities are kept in buckets by arrival, a tenth of the window wide, so an expired
bucket is dropped whole; an identity remembers where it was first read
("source@offset") and when it arrived, so a re-delivery of that very message is told apart
from a second copy of the event, and a copy is a duplicate exactly when it arrives at most
one window after the counted one.

A carrier with little traffic keeps its buckets inside its own state (``CarrierState.ids``),
up to ``INLINE_IDENTITIES`` identities in all: that record is written with every event
anyway, so a sparse event costs no bucket record and no later tombstone. Past the limit, a
bucket moves to the ``dedup`` table.
"""

from __future__ import annotations

MINUTE_MS = 60_000
DEFAULT_WINDOW_MS = 10 * MINUTE_MS
BUCKETS_PER_WINDOW = 10
INLINE_IDENTITIES = 32  # kept in the carrier's own record, at most, over all its buckets


def bucket_width(window_ms: int) -> int:
    """A tenth of the window (at least a second): a lookup checks at most 11 buckets."""
    return max(1000, -(-window_ms // BUCKETS_PER_WINDOW))


def bucket_of(arrival_ms: int, window_ms: int) -> int:
    width = bucket_width(window_ms)
    return arrival_ms - arrival_ms % width


def oldest_kept_bucket(clock_ms: int, window_ms: int) -> int:
    """Buckets starting before this one hold only identities past the window: dropped."""
    return bucket_of(clock_ms - window_ms, window_ms)


def tag(source: str, offset: int) -> str:
    """Where a message was read: its source and offset."""
    return f"{source}@{offset}"


def entry(source: str, offset: int, arrival_ms: int) -> str:
    """What an identity remembers: ``source@offset#arrival`` (topic names have no '#')."""
    return f"{source}@{offset}#{arrival_ms}"  # tag()'s, inline: once per event


def parse(value: str, bucket_start: int) -> tuple[str, int]:
    """(where it was first read, when it arrived) of a stored entry. Entries written before
    arrival times were kept have no ``#``: their bucket's start stands for the arrival."""
    where, sep, arrival = value.rpartition("#")
    if not sep:
        return value, bucket_start
    return where, int(arrival)
