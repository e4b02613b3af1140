"""Call outcomes in the worker (issue 32): the attempts of one call, read on the calls
topic where ``call_key`` put them, grouped into a call (``domain/outcomes.py``) in the
per-partition table; a call that ends goes out to ``call.outcomes`` and, as one fact per
carrier it tried, back to each carrier's partition on the route topic.

Keys, in the ``partitions`` table of the calls partition (the worker that owns input
partition ``n`` owns calls partition ``n``): ``g|<call_key>`` a call, ``q|<due>|<call_key>``
the index of calls by when they are next due (open: their settle time; settled: when they
are forgotten), ``w<n>`` the progress each input partition reported (newest ``ts`` read,
whether behind), the event time reached and the count of late attempts.

The event time a calls partition has reached (its watermark) is the oldest of the newest
``ts`` each input partition has read, as in Kafka Streams: an input partition that is
behind (its worker catching up) holds it back, so its attempts are not late for calls the
others already sent. Like Kafka Streams' stream time it never goes back: a worker that
restarts reports its partitions from where it reads again, and a watermark taken back
with them would no longer know the calls it forgot, whose attempts that worker may send
again. A partition without traffic is left out; on the wall clock an idle one reports
the wall clock less an allowance (``Pipeline.send_progress``). Each carrier step sends its
batch's attempts oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from processor.domain import outcomes
from processor.engine.intake import FACT, AttemptIn, ProgressIn
from processor.engine.ports import Sink
from processor.engine.sender import DELETE_STAGE
from processor.engine.state import Store
from processor.io.partitioning import partition_for

KEEP_FACTOR = 10  # a settled call is remembered this many settle times (late attempts)
RANK = 1024  # facts a calls record can end calls for, at most, apart in position
DUE_DIGITS = 15


def call_key(key: str) -> bytes:
    return b"g|" + key.encode()


def due_key(due: int, key: str) -> bytes:
    return b"q|%0*d|%s" % (DUE_DIGITS, max(0, due), key.encode())


def meta_key(partition: int) -> bytes:
    return b"w%d" % partition


class CallGrouping:
    """Groups the attempts a batch read on the calls topic; see the module doc."""

    def __init__(self, store: Store[dict[str, Any]], sink: Sink, *, outcomes_topic: str,
                 route_topic: str, partitions: int, settle_ms: int) -> None:
        self.store, self.sink = store, sink
        self.outcomes_topic, self.route_topic = outcomes_topic, route_topic
        self.partitions = partitions
        self.settle_ms = settle_ms
        self.keep_ms = KEEP_FACTOR * settle_ms
        self.settled = 0  # calls ended since the start
        self.late = 0

    def _due(self, call: outcomes.Call) -> int:
        return call.last_ts + (self.keep_ms if call.settled else self.settle_ms)

    def __call__(self, partition: int, items: Sequence[AttemptIn | ProgressIn]) -> None:
        store, p = self.store, partition
        meta = store.load(p, meta_key(p)) or {"src": {}, "late": 0}
        progress: dict[str, list[Any]] = {k: list(v) for k, v in meta["src"].items()}
        late, reached = int(meta["late"]), meta.get("wm")
        for item in items:
            ended: list[tuple[outcomes.Call, str, int | None]] = []
            if isinstance(item, ProgressIn):
                progress[str(item.origin)] = [item.newest_ms, item.behind]
                wm = self.watermark(progress)
                if wm is not None and (reached is None or wm > reached):
                    reached = wm
                    ended = [(c, "timeout", self._due(c)) for c in self._due_calls(p, wm)]
            else:
                answered, is_late = self._attempt(p, item, reached)
                late += is_late
                ended = answered
            for rank, (c, how, before) in enumerate(ended):
                self._end(p, c, how, item, rank=rank, before=before)
        if progress != meta["src"] or late != meta["late"] or reached != meta.get("wm"):
            store.save(p, meta_key(p), {"src": progress, "late": late, "wm": reached},
                       stage=DELETE_STAGE)

    def _attempt(self, p: int, item: AttemptIn, reached: int | None,
                 ) -> tuple[list[tuple[outcomes.Call, str, int | None]], int]:
        """An attempt into its call: the call if the attempt ended it (with its index
        entry's due), and 1 if the attempt was late (0 if not). ``reached``: the event time
        the partition has reached."""
        key = call_key(item.call_key)
        doc = self.store.load(p, key)
        if doc is None and reached is not None and item.attempt.ts_ms < reached - self.keep_ms:
            # Its call, if it had one, was settled and forgotten (a forgotten call's last
            # attempt is that far behind): a call of its own would count it twice.
            self.late += 1
            return [], 1
        call = outcomes.Call.from_json(doc) if doc else outcomes.Call(item.call_key)
        if call.settled:
            if all(a.identity != item.attempt.identity for a in call.attempts):
                self.late += 1
                return [], 1
            return [], 0
        before = self._due(call) if doc else None  # its index entry, if any
        if not outcomes.add(call, item.attempt):
            return [], 0  # sent again: nothing new
        if outcomes.complete(call):
            return [(call, "answer", before)], 0
        self._store(p, call, before)
        return [], 0

    def watermark(self, progress: dict[str, list[Any]]) -> int | None:
        """The event time every input partition has reached (None: not known yet): the
        oldest of their newest ``ts``. A partition still reading its backlog holds it back,
        as does one never heard of; one that has read nothing and is not behind has no
        traffic and is left out. (On the wall clock an idle partition reports the wall
        clock less an allowance: ``Pipeline.send_progress``.)"""
        if len(progress) < self.partitions:
            return None
        if any(t is None and behind for t, behind in progress.values()):
            return None  # behind, with nothing read yet
        times = [t for t, _ in progress.values() if t is not None]
        return int(min(times)) if times else None

    def _store(self, p: int, call: outcomes.Call, before: int | None) -> None:
        """Save the call and move its index entry from ``before`` (None: none yet)."""
        due = self._due(call)
        if before is not None and before != due:
            self.store.delete(p, due_key(before, call.call_key))
        if before != due:
            self.store.put(p, due_key(due, call.call_key), b"1")
        self.store.save(p, call_key(call.call_key), call.to_json())

    def _due_calls(self, p: int, wm: int) -> list[outcomes.Call]:
        """The open calls the watermark ends, in index order; settled calls past their
        keeping are forgotten on the way."""
        out = []
        hi = due_key(wm + 1, "")
        for key in list(self.store.scan(p, b"q|", hi)):
            due_text, _, ck = key[2:].partition(b"|")
            cid = ck.decode()
            doc = self.store.load(p, call_key(cid))
            call = outcomes.Call.from_json(doc) if doc else None
            if call is None or self._due(call) != int(due_text):
                self.store.delete(p, key)  # stale: the call moved on
                continue
            if call.settled:
                self.store.delete(p, key, stored=True)
                self.store.delete(p, call_key(cid))
            elif outcomes.settles(call, wm, self.settle_ms):
                out.append(call)
        return out

    def _end(self, p: int, call: outcomes.Call, how: str, at: AttemptIn | ProgressIn, *,
             rank: int, before: int | None) -> None:
        """Send the call's outcome and facts, then store it as settled (``before``: its
        index entry's due, if it has one)."""
        call.settled = True
        self.settled += 1
        key = call.call_key.encode()
        self.sink.send(self.outcomes_topic, key, orjson.dumps(outcomes.outcome(call, how)))
        position = at.offset * RANK + min(rank, RANK - 1)
        for fact in outcomes.facts(call):
            cid = fact.carrier_id.encode()
            value = b"%s%s|%d|%s" % (FACT, at.source.encode(), position,
                                     orjson.dumps(fact.to_json()))
            self.sink.send(self.route_topic, cid, value, partition_for(cid, self.partitions))
        self._store(p, call, before)
