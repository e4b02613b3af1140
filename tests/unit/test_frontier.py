"""Contiguous progress per partition, and commits held back to it.

The oracle here is the simplest possible one: the set of offsets handed to the processor
must always be exactly range(start, next), whatever Faust delivers (drops, repeats, stale
messages after a rewind); and a commit never passes the first offset not handed over.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree

from processor.agents import HOLD_S, Processor
from processor.catch_up import CatchUp
from processor.commit_gate import acknowledge, install
from processor.frontier import Frontier
from processor.partition_reader import Fetched, Record
from processor.sender import Tracker

KEY = ("in", 0)


def test_start_is_the_committed_offset_never_below_the_log_start() -> None:
    f: Frontier[tuple[str, int]] = Frontier()
    assert f.start(KEY, committed=None, log_start=7) == 7
    assert f.start(KEY, committed=12, log_start=7) == 12
    assert f.start(KEY, committed=3, log_start=7) == 7  # deleted by retention: log start


def test_a_gap_is_refused_until_the_missing_offset_arrives() -> None:
    f: Frontier[tuple[str, int]] = Frontier()
    f.start(KEY, committed=40, log_start=0)
    assert f.admit(KEY, 40)
    assert not f.admit(KEY, 42)  # 41 was dropped
    assert f.cap(KEY, 43) == 41  # Faust may not commit past 41
    assert f.admit(KEY, 41)
    assert f.admit(KEY, 42)
    assert f.admit(KEY, 40)  # a re-delivery is handed over (the watermarks skip it)
    assert f.next(KEY) == 43


def test_unknown_partitions_commit_nothing_and_forget_starts_over() -> None:
    f: Frontier[tuple[str, int]] = Frontier()
    assert f.cap(KEY, 10) is None
    f.start(KEY, committed=5, log_start=0)
    f.forget([KEY])
    assert not f.known(KEY)
    assert f.cap(KEY, 10) is None


@given(start=st.integers(0, 50), plan=st.lists(st.tuples(st.booleans(), st.integers(-5, 5)),
                                               max_size=200))
def test_handed_over_offsets_are_always_a_contiguous_run(
        start: int, plan: list[tuple[bool, int]]) -> None:
    """A consumer that drops messages and re-sends stale ones; gaps are read directly."""
    f: Frontier[tuple[str, int]] = Frontier()
    f.start(KEY, committed=start, log_start=0)
    handed: list[int] = []
    position = start
    for drop, jitter in plan:
        offset = max(0, position + jitter) if jitter < 0 else position
        position = offset + 1
        if drop:
            continue
        expected = f.next(KEY)
        assert expected is not None
        if offset > expected:  # the gap: what the agent reads from Kafka itself
            handed.extend(range(expected, offset))
            f.skip_to(KEY, offset)
        assert f.admit(KEY, offset)
        handed.append(offset)
        nxt = f.next(KEY)
        assert nxt is not None
        assert sorted({o for o in handed if o >= start}) == list(range(start, nxt))
        assert f.cap(KEY, 10_000) == nxt


def faust_consumer(committed: int, acked: list[int], cap: Any) -> Any:
    c = install(object.__new__(Consumer))  # Faust's own commit bookkeeping, no broker
    tp = TP("in", 0)
    c._committed_offset = defaultdict(lambda: None, {tp: committed})
    c._acked = defaultdict(list, {tp: list(acked)})
    c._acked_index = defaultdict(set, {tp: set(acked)})
    c._gap = defaultdict(_NoGap)
    c.app = SimpleNamespace(commit_cap=cap)
    return c


class _NoGap:
    def __bool__(self) -> bool:
        return False


def test_faust_alone_commits_over_a_dropped_message_and_the_gate_stops_it() -> None:
    tp = TP("in", 0)
    # 40 was dropped; 41..50 were processed and acked.
    alone = faust_consumer(40, list(range(41, 51)), cap=None)
    assert alone._filter_committable_offsets([tp]) == {tp: 51}  # 40 would be lost
    f: Frontier[tuple[str, int]] = Frontier()
    f.start(("in", 0), committed=40, log_start=0)
    gated = faust_consumer(40, list(range(41, 51)),
                           cap=lambda t, o: f.cap((t.topic, t.partition), o))
    assert gated._filter_committable_offsets([tp]) == {}


class _Delivered:
    """What Faust's ``Consumer.ack`` reads of a message it handed over."""

    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset, self.topic, self.acked = tp, offset, tp.topic, False


@pytest.mark.parametrize("faust_acks", ["none", "before", "after"])
@pytest.mark.parametrize("read_directly", [False, True])
def test_offsets_read_directly_count_as_acked_so_commits_go_on(read_directly: bool,
                                                               faust_acks: str) -> None:
    """2736..3268 were processed from a direct read (Faust never handed them over), so
    Faust never acked them: without ``acknowledge`` its commits stop at the hole for the
    rest of the assignment, and a restart would process everything since once more.
    Faust may also deliver and ack some of them itself, before or after the direct read
    (seen in CI: 4780..5132 read directly, 4780..4820 acked by Faust too); an offset
    counted twice breaks Faust's run of consecutive acks, and its commits then crawled
    forward by one offset per commit."""
    tp = TP("in", 0)
    c = faust_consumer(2732, [*range(2732, 2736), *range(3269, 3301)], cap=lambda t, o: o)
    c.app.topics = SimpleNamespace(acks_enabled_for=lambda topic: True)
    c._unacked_messages, c._n_acked, c._waiting_for_ack = set(), 0, None
    redelivered = [_Delivered(tp, o) for o in range(2736, 2758)]
    if faust_acks == "before":
        for m in redelivered:
            c.ack(m)
    if read_directly:
        acknowledge(c, tp, 2736, 3269)
    if faust_acks == "after":
        for m in redelivered:
            c.ack(m)
    first = c._filter_committable_offsets([tp])
    c._committed_offset[tp] = first[tp]
    later = c._filter_committable_offsets([tp])
    if read_directly:
        assert first == {tp: 3301}
    else:
        assert first == {tp: 2758 if faust_acks != "none" else 2736}
        assert later == {}  # stuck below the hole


@pytest.mark.parametrize("gap", [(2736, 3269), (2800, 3269), (2736, 3000)])
def test_offsets_read_directly_leave_the_gap_faust_recorded_for_them(
        gap: tuple[int, int]) -> None:
    """Faust records a jump in offsets as a gap (offsets missing from the log) and adds it
    to its acks at its next commit; a range it dropped and the worker then read directly
    was acked twice that way, and commits crawled forward by one offset per commit (seen
    in CI: two partitions 39 offsets past the read after 120 s, ~1,000 below the end)."""
    tp = TP("in", 0)
    c = faust_consumer(2732, [*range(2732, 2736), *range(3269, 3301)], cap=lambda t, o: o)
    c._gap = defaultdict(IntervalTree)
    c._gap[tp].addi(*gap)
    acknowledge(c, tp, 2736, 3269)  # the dropped range, or more of it than Faust saw
    assert c._filter_committable_offsets([tp]) == {tp: 3301}


@pytest.mark.parametrize("first", [None, 14])
def test_acks_held_back_are_committed_later_without_new_messages(first: int | None) -> None:
    """Faust forgets the acks it computed a commit from; the gate hands back those it held,
    so the offsets are committed once the cap allows, though no new message arrives."""
    tp = TP("in", 0)
    caps = [first, 20]
    c = faust_consumer(10, list(range(11, 20)),
                       cap=lambda t, o: None if caps[0] is None else min(o, caps[0]))
    held = c._filter_committable_offsets([tp])
    assert held == ({} if first is None else {tp: first})
    if first is not None:
        c._committed_offset[tp] = first
    caps.pop(0)
    assert c._filter_committable_offsets([tp]) == {tp: 20}


def test_install_keeps_the_object_and_its_class() -> None:
    obj = object.__new__(Consumer)
    assert install(obj) is obj
    assert isinstance(obj, Consumer)
    gated = obj.__class__
    assert install(obj).__class__ is gated  # idempotent


class _Reader:
    """Serves the log of one partition; ``down`` makes reads fail like a broker outage."""

    def __init__(self, committed: int | None) -> None:
        self.committed = committed
        self.end = 0  # the log end the broker reports
        self.down = False
        self.reads: list[tuple[int, int]] = []

    def starts(self, keys: Any) -> dict[tuple[str, int], tuple[int | None, int]]:
        return dict.fromkeys(keys, (self.committed, 0))

    def log_ends(self, keys: Any) -> dict[tuple[str, int], int]:
        return dict.fromkeys(keys, self.end)

    def read(self, key: tuple[str, int], start: int, end: int) -> list[Fetched] | None:
        self.reads.append((start, end))
        if self.down:
            return None
        return [_event(key[0], key[1], o) for o in range(start, end)]


def _event(topic: str, partition: int, offset: int, generation: int | None = 1) -> Any:
    """A message as Faust hands it over, fetched in consumer ``generation``."""
    return Fetched(Record(topic, partition, offset, None, b"v%d" % offset, None, generation))


class _Consumer:
    """What the stall check reads of Faust's consumer: its read offsets and the log ends."""

    def __init__(self) -> None:
        self._read_offset: dict[TP, int | None] = {}
        self.ends: dict[TP, int] = {}
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._paused_partitions: set[TP] = set()  # Faust's flow control
        self._buffered_partitions: set[TP] = set()
        self.active: set[TP] = set()

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]

    def _get_active_partitions(self) -> set[TP]:
        return self.active


class _Sender:
    """Hands out the trackers a test controls; every batch's records "delivered" at once
    unless the test queues a tracker of its own."""

    def __init__(self) -> None:
        self.trackers: list[Tracker] = []

    def seal(self) -> Tracker:
        return self.trackers.pop(0) if self.trackers else Tracker(frozenset())

    def poll(self) -> None:
        pass


def _processor(reader: _Reader) -> Processor:
    proc = object.__new__(Processor)
    proc.sender = _Sender()  # type: ignore[assignment]
    proc.stores = SimpleNamespace(all=lambda: ())  # type: ignore[assignment]
    proc._in_flight = deque()
    proc._durable = {}
    proc.input_name, proc.route_name = "in", "route"
    proc._tracked = ("in", "route")
    proc.frontier = Frontier()
    proc.reader = reader  # type: ignore[assignment]
    proc._stall = {}
    proc.log_ends = {}
    proc.settings = SimpleNamespace(batch_max=10_000)  # type: ignore[assignment]
    proc._lock = asyncio.Lock()
    consumer = _Consumer()
    recovered = SimpleNamespace(is_set=lambda: True)
    proc.app = SimpleNamespace(consumer=consumer, assignor=SimpleNamespace(
        assigned_actives=lambda: set(consumer._read_offset)), rebalancing=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=recovered)))
    proc.clock = lambda: 0.0
    proc._generation = 1
    proc.processed = 0
    proc.catch_up = CatchUp()
    proc._policies = {}
    proc.publisher = SimpleNamespace(forget=lambda: None)  # type: ignore[assignment]
    return proc


def _done(proc: Processor, batch: list[Any]) -> list[Any]:
    """``batch`` processed and its records acknowledged."""
    proc.track(batch, Tracker(frozenset()))
    proc.settle()
    return batch


def test_the_batch_is_made_contiguous_by_reading_what_faust_dropped() -> None:
    proc = _processor(_Reader(committed=0))
    batch = [_event("in", 0, o) for o in (0, 1, 4, 5)] + [_event("other", 0, 9)]
    out = _done(proc, proc.contiguous(batch))
    assert [(e.message.topic, e.message.offset) for e in out] == [
        ("in", 0), ("in", 1), ("in", 2), ("in", 3), ("in", 4), ("in", 5), ("other", 9)]
    assert proc.commit_cap(TP("in", 0), 100) == 6
    assert proc.commit_cap(TP("other", 0), 100) == 100  # not the processor's to hold back
    # what was read directly counts as acked for Faust's commits
    assert proc.app.consumer._acked[TP("in", 0)] == [2, 3]


def test_a_gap_that_cannot_be_read_holds_the_partition_and_its_commits() -> None:
    reader = _Reader(committed=10)
    proc = _processor(reader)
    reader.down = True
    out = _done(proc, proc.contiguous([_event("in", 0, o) for o in (10, 13, 14)]))
    assert [e.message.offset for e in out] == [10]
    assert proc.commit_cap(TP("in", 0), 15) == 11
    reader.down = False
    out = proc.contiguous([_event("in", 0, 15)])
    assert [e.message.offset for e in out] == [11, 12, 13, 14, 15]
    assert reader.reads[-1] == (11, 15)


def test_a_gap_with_no_later_message_is_filled_once_the_partition_stalls() -> None:
    """Faust dropped the last messages of a partition that gets no new traffic: no later
    message reveals the gap, but the consumer's read offset has moved past the frontier."""
    proc = _processor(_Reader(committed=0))
    out = proc.contiguous([_event("in", 0, o) for o in (0, 1)])
    assert [e.message.offset for e in out] == [0, 1]
    tp = TP("in", 0)
    proc.app.consumer._read_offset[tp] = 5  # 2..5 read by Faust, never handed over
    proc.app.consumer.ends[tp] = 6
    assert proc.contiguous([]) == []  # noticed, not yet a stall
    proc.clock = lambda: 9.0
    assert proc.contiguous([]) == []
    proc.clock = lambda: 11.0
    assert [e.message.offset for e in _done(proc, proc.contiguous([]))] == [2, 3, 4, 5]
    assert proc.commit_cap(tp, 100) == 6
    proc.clock = lambda: 30.0
    assert proc.contiguous([]) == []  # nothing owed any more


def test_a_partition_faust_never_fetches_is_read_directly_in_batches() -> None:
    """After a rebalance Faust may not fetch a partition at all: its read offset never
    moves, so only the broker's log end shows what is owed. The stall timer reads it,
    ``batch_max`` at a time, with no batch from Faust to start it."""
    reader = _Reader(committed=3)
    proc = _processor(reader)
    proc.settings = SimpleNamespace(batch_max=4)  # type: ignore[assignment]
    tp = TP("in", 1)
    proc.app.consumer._read_offset[tp] = None  # assigned, never read
    proc.app.consumer._buffered_partitions.add(tp)  # dropped by flow control, not taken back
    seen: list[int] = []
    proc._process = lambda batch: seen.extend(e.message.offset for e in batch)  # type: ignore[method-assign]
    proc._generation = 1
    reader.end = 3
    asyncio.run(proc.watch_stalls())  # at the end of the log: nothing owed
    reader.end = 9
    for t in (20.0, 25.0):
        proc.clock = lambda t=t: t
        asyncio.run(proc.watch_stalls())
    assert seen == []  # behind, but not yet for STALL_S
    proc.app.rebalancing = True  # tables not recovered yet: no direct read
    proc.clock = lambda: 31.0
    asyncio.run(proc.watch_stalls())
    assert seen == []
    proc.app.rebalancing = False
    for t in (31.0, 45.0, 60.0, 75.0):
        proc.clock = lambda t=t: t
        asyncio.run(proc.watch_stalls())
    assert seen == [3, 4, 5, 6, 7, 8]
    assert reader.reads == [(3, 7), (7, 9)]
    assert proc.frontier.next(("in", 1)) == 9
    assert proc.app.consumer.active == {tp}  # and Faust fetches it again
    assert not proc.app.consumer._buffered_partitions


def test_a_partition_paused_by_faust_is_not_made_to_fetch() -> None:
    proc = _processor(_Reader(committed=0))
    tp = TP("in", 0)
    proc.app.consumer._paused_partitions.add(tp)
    proc._refetch(tp)
    assert not proc.app.consumer.active


def test_a_log_end_asked_before_a_rebalance_is_not_used_after_it() -> None:
    reader = _Reader(committed=0)
    proc = _processor(reader)
    proc.app.consumer._read_offset[TP("in", 1)] = None
    reader.end = 5
    real = reader.log_ends

    def rebalanced(keys: Any) -> dict[tuple[str, int], int]:
        proc._generation = None  # revoked while the broker was asked
        return real(keys)

    reader.log_ends = rebalanced  # type: ignore[method-assign]
    asyncio.run(proc.watch_stalls())
    assert proc.log_ends == {}
    assert reader.reads == []


def test_an_idle_partition_right_after_a_seek_owes_nothing() -> None:
    """After a seek Faust's read offset is the next offset to read; at the end of the log
    that is no gap, however long the partition stays quiet."""
    proc = _processor(_Reader(committed=7))
    tp = TP("in", 0)
    proc.app.consumer._read_offset[tp] = 7
    proc.app.consumer.ends[tp] = 7
    for t in (0.0, 20.0, 40.0):
        proc.clock = lambda t=t: t
        assert proc.contiguous([]) == []
    assert proc.frontier.next(("in", 0)) == 7


def test_a_failed_batch_is_not_committed_and_is_read_again() -> None:
    """Faust acks a batch even when its processing raised: the frontier must step back so
    the commit cap keeps it uncommitted, and the next message re-reads it."""
    reader = _Reader(committed=0)
    proc = _processor(reader)

    def fail(batch: Any) -> None:
        raise RuntimeError("table write refused")

    proc._process = fail  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        asyncio.run(proc.process([_event("in", 0, o) for o in (0, 1, 2)]))
    assert proc.commit_cap(TP("in", 0), 3) is None  # nothing durable yet
    seen: list[int] = []
    proc._process = lambda batch: seen.extend(e.message.offset for e in batch)  # type: ignore[method-assign]
    asyncio.run(proc.process([_event("in", 0, 3)]))
    assert seen == [0, 1, 2, 3]
    assert proc.commit_cap(TP("in", 0), 4) == 4


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._at = (topic, partition, offset)

    def topic(self) -> str:
        return self._at[0]

    def partition(self) -> int:
        return self._at[1]

    def offset(self) -> int:
        return self._at[2]


def test_a_batch_is_committable_only_once_the_broker_acked_all_its_records() -> None:
    """Records go out in the background: commits wait for each batch's acks, in order,
    even when a later batch is acked first."""
    proc = _processor(_Reader(committed=0))
    first, second = Tracker(frozenset()), Tracker(frozenset())
    proc.sender.trackers += [first, second]  # type: ignore[attr-defined]
    proc._process = lambda batch: None  # type: ignore[method-assign]
    first.queued, second.queued = 2, 1
    asyncio.run(proc.process([_event("in", 0, o) for o in (0, 1)]))
    asyncio.run(proc.process([_event("in", 0, 2)]))
    tp = TP("in", 0)
    assert proc.commit_cap(tp, 3) is None
    second.delivered(None, _Msg("out", 0, 0))
    proc.settle()
    assert proc.commit_cap(tp, 3) is None  # the first batch still owes an ack
    first.delivered(None, _Msg("out", 0, 1))
    proc.settle()
    assert proc.commit_cap(tp, 3) is None
    first.delivered(None, _Msg("out", 0, 2))
    proc.settle()
    assert proc.commit_cap(tp, 3) == 3


def test_batches_are_held_while_the_log_can_fill_one_and_never_longer_than_hold_s() -> None:
    """Behind, Faust's small batches are joined into one (each carrier folded once for
    more events); caught up, a batch is processed at once; held, at most HOLD_S."""
    proc = _processor(_Reader(committed=0))
    proc.settings = SimpleNamespace(batch_max=10)  # type: ignore[assignment]
    proc._held, proc._held_since, proc._lock = [], 0.0, asyncio.Lock()
    now = [0.0]
    proc.clock = lambda: now[0]
    seen: list[list[int]] = []
    proc._process = lambda batch: seen.append(  # type: ignore[method-assign]
        [e.message.offset for e in batch])
    ends = proc.app.consumer.ends  # type: ignore[attr-defined]
    tp = TP("in", 0)

    async def run() -> None:
        ends[tp] = 100  # 97 more waiting: enough to fill the batch
        assert await proc.offer([_event("in", 0, o) for o in (0, 1, 2)]) == 0
        assert await proc.offer([_event("in", 0, o) for o in (3, 4, 5)]) == 0
        ends[tp] = 9  # caught up: the rest is in hand
        assert await proc.offer([_event("in", 0, o) for o in (6, 7, 8)]) == 9
        ends[tp] = 12  # 2 waiting cannot fill the batch: live traffic goes at once
        assert await proc.offer([_event("in", 0, 9)]) == 1
        ends[tp] = 100
        assert await proc.offer([_event("in", 0, 10)]) == 0
        assert await proc.flush_held() == 0  # not held long enough yet
        now[0] += HOLD_S
        assert await proc.flush_held() == 1

    asyncio.run(run())
    assert seen == [list(range(9)), [9], [10]]
    assert proc.commit_cap(tp, 11) == 11


def test_events_fetched_before_a_rebalance_are_never_processed() -> None:
    """A batch handed over once partitions are being revoked, or still holding messages
    of the previous generation, may hold a partition that is now another worker's:
    processing it would write that worker's changelog from stale state. Such events are
    dropped and, never committed, read again by the partition's owner."""
    reader = _Reader(committed=0)
    proc = _processor(reader)
    proc.settings = SimpleNamespace(batch_max=1)  # type: ignore[assignment]
    proc._held, proc._held_since, proc._lock = [], 0.0, asyncio.Lock()
    seen: list[tuple[int, int]] = []
    proc._process = lambda batch: seen.extend(  # type: ignore[method-assign]
        (e.message.partition, e.message.offset) for e in batch)

    async def run() -> None:
        assert await proc.offer([_event("in", 0, 0), _event("in", 1, 0)]) == 2
        proc.revoke()  # a rebalance starts: partition 1 goes to another worker
        assert await proc.offer([_event("in", 0, 1), _event("in", 1, 1)]) == 0
        proc.forget([TP("in", 0), TP("in", 1)])
        reader.committed = 1  # what was processed of partition 0 was committed
        proc.assign(2)
        # still in Faust's buffer from generation 1, then fetched in generation 2
        assert await proc.offer([_event("in", 1, 2), _event("in", 0, 1, generation=2)]) == 1

    asyncio.run(run())
    assert seen == [(0, 0), (1, 0), (0, 1)]
    assert proc.commit_cap(TP("in", 1), 3) is None  # nothing of partition 1 since
    assert proc.commit_cap(TP("in", 0), 2) == 2


def test_lag_counts_to_the_newest_known_log_end() -> None:
    """A partition Faust does not fetch has a stale highwater: /metrics must not show it
    nearly caught up while the broker's log has moved on."""
    proc = _processor(_Reader(committed=3))
    tp = TP("in", 1)
    proc.app.consumer._read_offset[tp] = None
    proc.app.consumer.ends[tp] = 5  # as of Faust's last fetch
    proc.frontier.start(("in", 1), 3, 0)
    assert proc.lag() == {1: 2}
    proc.log_ends[("in", 1)] = 9  # asked of the broker
    assert proc.lag() == {1: 6}


def test_a_backlog_faust_is_still_reading_is_left_to_it() -> None:
    """Behind, but Faust's read offset moves: the messages are on their way, so no direct
    read (it would process them twice); once the reading stops, the stall check reads."""
    reader = _Reader(committed=0)
    proc = _processor(reader)
    tp = TP("in", 0)
    consumer = proc.app.consumer
    consumer._read_offset[tp] = None
    consumer.ends[tp] = 100
    reader.end = 100
    proc._process = lambda batch: None  # type: ignore[method-assign]
    for t, read in ((0.0, None), (6.0, 10), (12.0, 20), (18.0, 30), (24.0, 40)):
        proc.clock = lambda t=t: t
        consumer._read_offset[tp] = read
        asyncio.run(proc.watch_stalls())
    assert reader.reads == []
    proc.clock = lambda: 35.0
    asyncio.run(proc.watch_stalls())
    assert reader.reads == [(0, 100)]
