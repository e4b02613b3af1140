"""The commit rule end to end in the engine (pipeline, sender, checkpoint) through the
harness, with a broker that acknowledges only when the test says: an input offset becomes
committable once every record its flush produced is acknowledged, and not before."""

from __future__ import annotations

from processor.io.partitioning import partition_for
from tests.harness import T0, Broker, Harness


def _harness() -> tuple[Harness, tuple[str, int]]:
    h = Harness(broker=Broker(auto_ack=False))
    return h, (h.source.topic, partition_for(b"a", h.settings.partitions))


def test_nothing_is_committable_before_a_flush() -> None:
    h, _ = _harness()
    h.run(h.source.event("a", 503, ts=T0))
    h.broker.ack()
    assert h.committable() == {}


def test_a_flush_is_committable_once_all_its_records_are_acknowledged() -> None:
    h, key = _harness()
    h.run(h.source.event("a", 503, ts=T0), h.source.event("a", 503, ts=T0 + 1))
    h.flush()
    assert h.committable() == {}
    h.broker.ack(1)  # one of the flush's records
    assert h.committable() == {}
    for _ in range(4):  # each stage goes out once the one before is acknowledged
        h.broker.ack()
        positions = h.committable()
        if positions:
            break
    assert positions[key] == 2  # the next offset to read


def test_the_carrier_record_waits_for_its_windows() -> None:
    h, _ = _harness()
    h.run(h.source.event("a", 200, ts=T0))
    h.flush()
    carriers = h.tables.carriers.changelog
    assert h.broker.records(carriers) == []  # held back: the windows are not acked yet
    assert h.broker.records(h.tables.windows.changelog)
    h.broker.ack()
    h.sender.poll()  # served the acks: the carrier record's stage comes
    assert [r.key for r in h.broker.records(carriers)] == [b"a"]


def test_offsets_read_after_a_flush_wait_for_the_next_one() -> None:
    h, key = _harness()
    h.run(h.source.event("a", 503, ts=T0))
    h.flush()
    h.run(h.source.event("a", 503, ts=T0 + 1))  # folded, not yet flushed
    for _ in range(4):
        h.broker.ack()
        h.sender.poll()
    assert h.committable()[key] == 1
    h.flush()
    for _ in range(4):
        h.broker.ack()
        h.sender.poll()
    assert h.committable()[key] == 2
