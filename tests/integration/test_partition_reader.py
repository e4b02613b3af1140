"""Direct partition reads (the gap filler) against the real broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from processor.partition_reader import PartitionReader
from processor.settings import Settings

pytestmark = pytest.mark.integration


def test_reads_exact_ranges_and_start_offsets(isolated: Settings) -> None:
    topic = f"reader-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": isolated.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": isolated.bootstrap_servers})
    for i in range(100):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=1)
    assert producer.flush(30) == 0
    reader = PartitionReader(isolated)
    try:
        assert reader.starts([(topic, 1)]) == {(topic, 1): (None, 0)}
        got = reader.read((topic, 1), 37, 52)
        assert got is not None
        assert [f.message.offset for f in got] == list(range(37, 52))
        assert [f.message.value for f in got] == [b"v%d" % i for i in range(37, 52)]
        assert all(f.message.key == b"k%d" % f.message.offset for f in got)
        assert all(f.message.timestamp and f.message.timestamp > 1e9 for f in got)
        assert reader.read((topic, 0), 0, 5) == []  # an empty partition: nothing, no hang
        # The group's committed offset is what a restarted worker starts from.
        group = Consumer({"bootstrap.servers": isolated.bootstrap_servers,
                          "group.id": isolated.app_id})
        group.commit(offsets=[TopicPartition(topic, 1, 64)], asynchronous=False)
        group.close()
        assert reader.starts([(topic, 1)]) == {(topic, 1): (64, 0)}
    finally:
        reader.close()
