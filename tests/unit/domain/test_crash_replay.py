"""A crash between a batch's changelog writes, then a replay: every event still counts once.

The worker queues a batch's changelog records and goes on; a kill -9 keeps any prefix of
each changelog partition, so the carrier record, its windows and its dedup buckets can
each be recovered as of a different batch. The input is replayed from the last committed
batch. Windows skip what they counted (their offset watermarks); what they must not do is
decide a re-delivered event again on a carrier record from a later batch (its stream time
and identities): that counted one event twice in a window (the kill -9 fault test).

So the sender holds records back by stage (``processor/engine/sender.py``): a batch's carrier
records go once the rest of the batch is acknowledged, the deletes of windows and buckets
once its carrier records are. Here the tables are modelled key by key with exactly the
states a crash can then leave, and the replay must end where an uninterrupted run does.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain.carrier import buckets_needed, fold, keys_needed
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, Policy, WindowState
from tests.unit.domain.test_fold import T0, events_strategy

Key = tuple[object, ...]  # ("carrier",) | ("window", kind, start) | ("bucket", start)
CARRIER: Key = ("carrier",)


@dataclass
class Write:
    batch: int
    key: Key
    value: object  # None: a delete
    stage: int  # 0: first; 1: once stage 0 is acked (the carrier); 2: once stage 1 is


@dataclass
class Tables:
    """The recovered tables; ``log`` is every write in the order the sender produced it."""

    values: dict[Key, object] = field(default_factory=dict)
    log: list[Write] = field(default_factory=list)

    def fold_batch(self, batch: int, events: Sequence[Sourced], policy: Policy,
                   now_ms: int | None) -> None:
        """What ``Processor._fold_carrier`` reads and writes, without Kafka."""
        state = self.values.get(CARRIER)
        assert state is None or isinstance(state, CarrierState)
        windows = {w: v for w in keys_needed(events)
                   if state is None or w[1] in state.windows[w[0]]
                   if isinstance(v := self.values.get(("window", *w)), WindowState)}
        buckets = {b: v for b in buckets_needed(state, policy)
                   if isinstance(v := self.values.get(("bucket", b)), dict)}
        res = fold("c1", state, windows, buckets, events, policy=policy, now_ms=now_ms,
                   wall_ms=1)
        writes: list[tuple[Key, object, int]] = []
        if res.carrier_changed:
            writes.append((CARRIER, res.carrier, 1))
        writes += [(("window", *w), v, 0) for w, v in res.windows.items()]
        writes += [(("window", *w), None, 2) for w in res.expired]
        writes += [(("bucket", b), v, 0) for b, v in res.buckets.items()]
        writes += [(("bucket", b), None, 2) for b in res.expired_buckets]
        for key, value, stage in writes:
            self.log.append(Write(batch, key, value, stage))
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value


def run(batches: list[list[Sourced]], policy: Policy, now_ms: int | None,
        tables: Tables | None = None, first: int = 0) -> Tables:
    tables = tables or Tables()
    for i, events in enumerate(batches, start=first):
        tables.fold_batch(i, events, policy, now_ms)
    return tables


def recovered(log: list[Write], committed: int, carrier_at: int,
              rng: random.Random) -> dict[Key, object]:
    """A state a crash can leave: batches before ``committed`` acknowledged in full, the
    carrier's changelog as of the batches before ``carrier_at``; each other key keeps a
    prefix of its writes that the stages allow."""
    by_key: dict[Key, list[Write]] = {}
    for w in log:
        by_key.setdefault(w.key, []).append(w)
    out: dict[Key, object] = {}
    for key, writes in by_key.items():
        if key == CARRIER:
            kept = [w for w in writes if w.batch < carrier_at]
        else:
            # Acked for sure: stage 0 of every batch up to the carrier's, deletes of the
            # committed batches. Possible: any later stage 0, deletes up to the carrier's.
            must = max((n for n, w in enumerate(writes, 1)
                        if (w.stage == 0 and w.batch < carrier_at)
                        or (w.stage == 2 and w.batch < committed)), default=0)
            may = max((n for n, w in enumerate(writes, 1)
                       if w.stage == 0 or w.batch < carrier_at), default=0)
            kept = writes[:rng.randint(must, max(must, may))]
        if kept and kept[-1].value is not None:
            out[key] = kept[-1].value
    return out


def snapshot(values: dict[Key, object]) -> tuple[object, ...]:
    """What the product shows: the carrier and the windows it lists (reads, the API and the
    outputs go by that list). A crash between a carrier record and the deletes it led to
    can leave an expired window behind, unlisted: garbage on disk, never read again."""
    c = values.get(CARRIER)
    if c is None:
        return (None, {k: v for k, v in values.items() if k[0] == "window"})
    assert isinstance(c, CarrierState)
    wins = {}
    for kind, starts in c.windows.items():
        for start in starts:
            w = values.get(("window", kind, start))
            wins[(kind, start)] = w.stats.to_json() if isinstance(w, WindowState) else None
    return (c.streak, c.codes, c.counts, wins)


def cut(events: list[Sourced], cuts: list[int]) -> list[list[Sourced]]:
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(events_strategy,
       st.tuples(st.lists(st.integers(0, 1000), min_size=1, max_size=8),  # first run
                 st.lists(st.integers(0, 1000), max_size=4)),  # the replay
       st.integers(0, 2**32),
       st.builds(Policy, dedup_inline=st.sampled_from([0, 2, 32])),
       st.sampled_from([None, T0 + 20 * 86_400_000]))
def test_a_replay_after_any_crash_the_stages_allow_counts_every_event_once(
        events: list[Sourced], cuts: tuple[list[int], list[int]], seed: int,
        policy: Policy, now_ms: int | None) -> None:
    """Batches are cut one way in the first run and another in the replay."""
    batches = cut(events, cuts[0])
    whole = run(batches, policy, now_ms)
    rng = random.Random(seed)
    committed = rng.randint(0, len(batches))
    carrier_at = rng.randint(committed, len(batches))
    after = Tables(recovered(whole.log, committed, carrier_at, rng))
    replay = [e for batch in batches[committed:] for e in batch]
    run(cut(replay, cuts[1]), policy, now_ms, after)
    assert snapshot(after.values) == snapshot(whole.values)
