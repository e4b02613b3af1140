"""The batch pipeline (processor/engine/pipeline.py) through the harness, with no broker:
batches of several carriers and partitions, bad input, mis-keyed input, re-deliveries.
Expected counts are worked out in each test from the contract (§1, §2)."""

from __future__ import annotations

import orjson

from processor.io import names
from processor.io.partitioning import partition_for
from tests.harness import T0, Harness


def _counter(h: Harness, carrier: str) -> int:
    count: int = h.output(names.CONSECUTIVE)[carrier.encode()]["consecutive_failures"]
    return count


def test_each_carrier_of_a_batch_gets_its_own_counter() -> None:
    h = Harness()
    src = h.source
    h.run(src.event("a", 503, ts=T0), src.event("b", 200, ts=T0), src.event("a", 486, ts=T0 + 1),
          src.event("b", 503, ts=T0 + 1), src.event("a", 180, ts=T0 + 2))
    h.flush()
    assert (_counter(h, "a"), _counter(h, "b")) == (2, 1)


def test_a_connected_call_resets_the_counter_across_batches() -> None:
    h = Harness()
    h.run(h.source.event("a", 503, ts=T0), h.source.event("a", 503, ts=T0 + 1))
    h.run(h.source.event("a", 200, ts=T0 + 2), h.source.event("a", 408, ts=T0 + 3))
    h.flush()
    assert _counter(h, "a") == 1


def test_bad_input_is_dead_lettered_and_counted_per_partition() -> None:
    h = Harness()
    bad = h.source.record(b"{not json", key=b"a", partition=1)
    h.run(bad, h.source.event("a", 200, ts=T0, partition=1, key="a"))
    h.flush()
    dlq = [orjson.loads(r.value or b"") for r in h.broker.records(names.DLQ)]
    assert [(d["error"], d["source"]["partition"], d["source"]["offset"]) for d in dlq] == [
        ("not-json", 1, 0)]
    assert h.pipeline.view.invalid == {1: 1}


def test_a_mis_keyed_event_is_routed_to_its_carriers_partition_and_counted_once() -> None:
    h = Harness()
    owner = partition_for(b"a", h.settings.partitions)
    wrong = (owner + 1) % h.settings.partitions
    h.run(h.source.event("a", 503, ts=T0, partition=wrong, key="x"))
    assert "a" not in h.pipeline.view.rows  # not folded on the wrong partition
    routed = h.routed()
    assert [m.partition() for m in routed] == [owner]
    h.run(routed)
    h.run(routed)  # read again (a restart before the commit): skipped, not counted twice
    h.flush()
    assert _counter(h, "a") == 1


def test_a_redelivered_batch_is_counted_once() -> None:
    h = Harness()
    batch = [h.source.event("a", 503, ts=T0 + i) for i in range(3)]
    h.run(batch)
    h.flush()
    h.run(batch)
    h.flush()
    assert _counter(h, "a") == 3
    assert h.output(names.CONSISTENCY)[b"a"]["total_final"] == 3


def test_a_producer_duplicate_is_counted_once() -> None:
    h = Harness()
    first = h.source.event("a", 503, ts=T0, call_id="x1")
    copy = h.source.record(first.value(), key=b"a")  # the same event, sent again
    h.run(first, copy)
    h.flush()
    assert h.output(names.CONSISTENCY)[b"a"]["total_final"] == 1


def test_discarded_work_is_done_again_exactly() -> None:
    h = Harness()
    batch = [h.source.event("a", 503, ts=T0 + i) for i in range(4)]
    h.run(batch)
    h.pipeline.discard()  # a failed batch: the worker reads it again from the last flush
    h.run(batch)
    h.flush()
    assert _counter(h, "a") == 4


def test_a_key_written_by_many_events_is_flushed_once() -> None:
    h = Harness()
    h.run([h.source.event("a", 503, ts=T0 + i) for i in range(30)])
    h.flush()
    carrier_log = h.tables.carriers.changelog
    assert [r.key for r in h.broker.records(carrier_log)] == [b"a"]
    assert len(h.broker.records(h.settings.topic(names.CONSECUTIVE))) == 1


def test_records_published_ahead_of_the_flush_come_again_alike_after_a_discard() -> None:
    """The worker publishes between flushes (``publish_interval_s``): a record may be out
    before the state that made it is durable. Read again after the cache is discarded, the
    same events make the same record; the flush's tracker counts the early records, so the
    input is committed only once they are acknowledged too."""
    h = Harness()
    batch = [h.source.event("a", 503, ts=T0), h.source.event("a", 503, ts=T0 + 1),
             h.source.event("a", 200, ts=T0 + 2), h.source.event("a", 486, ts=T0 + 3)]
    h.run(batch)
    early = h.pipeline.publisher.publish()
    assert early > 0
    out = h.output(names.CONSISTENCY)[b"a"]
    assert out["total_final"] == 4
    h.pipeline.discard()  # a processing failure before the flush: all read again
    h.run(batch)
    tracker = h.flush()
    assert h.output(names.CONSISTENCY)[b"a"] == out
    assert _counter(h, "a") == 1
    assert tracker.queued >= early + 1  # the early records and the state written at the flush
