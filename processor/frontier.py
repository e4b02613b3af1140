"""Per input partition, the next offset the processor must see: progress is contiguous.

Faust can drop a fetched message without handing it to the agent (its fetch loop gives up
a delivery when flow is suspended at a rebalance or during start-up) and still commit the
offsets after it: its commit check lets the first acked offset be one past the committed
one. A dropped message is then never processed, and the per-key offset watermarks would
even refuse it if it came back after a later one. So the processor keeps its own frontier:

- a partition's frontier starts where consumption starts (the committed offset, or the
  log start when nothing is committed) at every assignment;
- a message at or below the frontier is processed (below: a re-delivery, which the
  watermarks make harmless); one above it reveals a gap: the messages in between are read
  from Kafka directly and processed first, in order (processor/partition_reader.py);
- offsets are committed no further than the frontier.

Pure bookkeeping; the agent does the lookups and reads (processor/agents.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Frontier(Generic[K]):
    """Next offset to process per partition key, for the current assignment."""

    def __init__(self) -> None:
        self._next: dict[K, int] = {}

    def known(self, key: K) -> bool:
        return key in self._next

    def start(self, key: K, committed: int | None, log_start: int) -> int:
        """Where consumption of ``key`` starts: the committed offset, never below the log."""
        at = log_start if committed is None or committed < 0 else max(committed, log_start)
        self._next[key] = at
        return at

    def skip_to(self, key: K, offset: int) -> None:
        """The messages before ``offset`` were handed over another way (read directly)."""
        self._next[key] = max(self._next.get(key, offset), offset)

    def admit(self, key: K, offset: int) -> bool:
        """Record ``offset`` as handed to the processor; False for a gap (skip it)."""
        nxt = self._next.get(key)
        if nxt is None:  # no start known (lookup failed): trust the first offset seen
            self._next[key] = offset + 1
            return True
        if offset > nxt:
            return False
        if offset == nxt:
            self._next[key] = nxt + 1
        return True

    def rewind(self, key: K, offset: int) -> None:
        """A batch failed from ``offset`` on: it must be handed over again, not committed."""
        if key in self._next:
            self._next[key] = min(self._next[key], offset)

    def next(self, key: K) -> int | None:
        return self._next.get(key)

    def cap(self, key: K, offset: int) -> int | None:
        """The furthest offset that may be committed for ``key`` (None: nothing yet)."""
        nxt = self._next.get(key)
        return None if nxt is None else min(offset, nxt)

    def forget(self, keys: Iterable[K]) -> None:
        """Revoked or newly assigned partitions start over at the next message."""
        for key in keys:
            self._next.pop(key, None)
