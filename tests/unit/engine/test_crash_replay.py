"""A crash between a batch's changelog writes, then a replay: every event still counts once.

The worker queues a batch's changelog records and goes on; a kill -9 keeps any prefix of
each changelog partition, so the carrier record, its windows and its dedup buckets can
each be recovered as of a different batch. The input is replayed from the last committed
batch. Windows skip what they counted (their offset watermarks); what they must not do is
decide a re-delivered event again on a carrier record from a later batch (its stream time
and identities): that counted one event twice in a window (the kill -9 fault test).

So the sender holds records back by stage (``processor/engine/sender.py``): a batch's carrier
records go once the rest of the batch is acknowledged, the deletes of windows and buckets
once its carrier records are. Here the worker's own carrier step and record cache run on
in-memory tables (the stages are the ones ``Stores.over`` gives each table); each flush's
changelog records are kept with their stage, a crash keeps of each key exactly the
prefixes the stages allow, and the replay must end where an uninterrupted run does.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain.events import Sourced
from processor.domain.model import CarrierState, Policy
from processor.engine.clock import Clock
from processor.engine.memory import MemoryTables
from processor.engine.step import CarrierStep
from processor.io import names
from processor.io.stored import decode_carrier, decode_window
from tests.unit.domain.test_fold import T0, events_strategy

Key = tuple[str, bytes]  # (changelog topic, key)
CARRIER: Key = ("carriers-changelog", b"c1")


@dataclass
class Write:
    batch: int
    key: Key
    value: bytes | None  # None: a delete
    stage: int  # 0: first; 1: once stage 0 is acked (the carrier); 2: once stage 1 is


class _Policy:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def policy_for(self, carrier_id: str) -> Policy:
        return self.policy

    def contacts(self, carrier_id: str) -> list[dict[str, str | None]]:
        return []


@dataclass
class Worker:
    """The worker's carrier step and record cache over in-memory tables; ``log`` is every
    changelog record in the order the flushes handed them to the sender, with its stage."""

    policy: Policy
    now_ms: int | None
    tables: MemoryTables = field(default_factory=MemoryTables)
    log: list[Write] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stores = self.tables.stores()
        clock = Clock("stream") if self.now_ms is None else Clock("wall", lambda: self.now_ms or 0)
        self.step = CarrierStep(self.stores, _Policy(self.policy), self, clock,
                                outputs={n: n for n in names.OUTPUTS}, latest_calls=0)
        self.batch = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None, stage: int = 0) -> None:
        if topic.endswith("-changelog") and key is not None:
            self.log.append(Write(self.batch, (topic, key), value, stage))

    def run(self, batches: Sequence[Sequence[Sourced]], first: int = 0) -> Worker:
        """One flush per batch, as the worker at each commit interval."""
        for self.batch, events in enumerate(batches, start=first):
            self.step(0, "c1", events, 1)
            for store in self.stores.all():
                store.write_dirty(self)
        return self

    @classmethod
    def recovered(cls, values: dict[Key, bytes], policy: Policy,
                  now_ms: int | None) -> Worker:
        worker = cls(policy, now_ms)
        for (topic, key), value in values.items():
            table = getattr(worker.tables, topic.removesuffix("-changelog"))
            table.write(0, [(key, value)])
        return worker

    def values(self) -> dict[Key, bytes]:
        return {(t.changelog, k): v for t in vars(self.tables).values()
                for k, v in t.data.get(0, {}).items()}


def recovered(log: list[Write], committed: int, carrier_at: int,
              rng: random.Random) -> dict[Key, bytes]:
    """A state a crash can leave: batches before ``committed`` acknowledged in full, the
    carrier's changelog as of the batches before ``carrier_at``; each other key keeps a
    prefix of its writes that the stages allow."""
    by_key: dict[Key, list[Write]] = {}
    for w in log:
        by_key.setdefault(w.key, []).append(w)
    out: dict[Key, bytes] = {}
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


def snapshot(values: dict[Key, bytes]) -> tuple[object, ...]:
    """What the product shows: the carrier and the windows it lists (reads, the API and the
    outputs go by that list). A crash between a carrier record and the deletes it led to
    can leave an expired window behind, unlisted: garbage on disk, never read again."""
    windows = {k: decode_window(v).stats.to_json() for (t, k), v in values.items()
               if t == "windows-changelog"}
    raw = values.get(CARRIER)
    if raw is None:
        return (None, windows)
    c: CarrierState = decode_carrier(raw)
    wins = {}
    for kind, starts in c.windows.items():
        for start in starts:
            wins[(kind, start)] = windows.get(names.window_key("c1", kind, start).encode())
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
    whole = Worker(policy, now_ms).run(batches)
    rng = random.Random(seed)
    committed = rng.randint(0, len(batches))
    carrier_at = rng.randint(committed, len(batches))
    after = Worker.recovered(recovered(whole.log, committed, carrier_at, rng), policy, now_ms)
    replay = [e for batch in batches[committed:] for e in batch]
    after.run(cut(replay, cuts[1]))
    assert snapshot(after.values()) == snapshot(whole.values())
