"""The platform against the real local broker: clients, topics, broker lifecycle, RocksDB."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from rocksdict import AccessType, Rdict

from processor.admin.topics import load_specs
from processor.dev import localbroker
from processor.settings import Settings
from tests.integration.procs import cli, free_port, start_worker, wait_for

pytestmark = pytest.mark.integration


def _new_topic(settings: Settings, name: str, partitions: int, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name]
    fut.result(timeout=30)


def test_confluent_round_trip(broker: Settings) -> None:
    """Every message produced with confluent-kafka is consumed back, key and value intact."""
    topic = f"rt-confluent-{uuid.uuid4().hex[:6]}"
    _new_topic(broker, topic, 3)
    sent = {(f"k{i % 7}".encode(), f"v{i}".encode()) for i in range(500)}
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for key, value in sent:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: set[tuple[bytes, bytes]] = set()
    try:
        wait_for(lambda: _drain(consumer, got) >= len(sent), 60, "500 messages")
    finally:
        consumer.close()
    assert got == sent


def _drain(consumer: Consumer, into: set[tuple[bytes, bytes]]) -> int:
    for msg in consumer.consume(500, timeout=0.5):
        assert msg.error() is None, msg.error()
        into.add((msg.key(), msg.value()))
    return len(into)


def test_aiokafka_round_trip(broker: Settings) -> None:
    """aiokafka (Faust's transport) talks to the 4.x broker both ways."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = f"rt-aiokafka-{uuid.uuid4().hex[:6]}"
    _new_topic(broker, topic, 2)
    sent = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(300)]

    async def run() -> list[tuple[bytes, bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            for key, value in sent:
                await producer.send(topic, value=value, key=key)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers,
                                    group_id=topic, auto_offset_reset="earliest")
        await consumer.start()
        got: list[tuple[bytes, bytes]] = []
        try:
            async with asyncio.timeout(60):
                while len(got) < len(sent):
                    batch = await consumer.getmany(timeout_ms=500)
                    got.extend((m.key, m.value) for msgs in batch.values() for m in msgs)
        finally:
            await consumer.stop()
        return got

    assert sorted(asyncio.run(run())) == sorted(sent)


def test_topics_create_makes_declared_topics(isolated: Settings) -> None:
    """`topics create` makes every declared topic; outputs are compacted on the broker."""
    result = cli(isolated, "topics", "create")
    assert result.returncode == 0, result.stderr
    specs = load_specs(isolated)
    admin = AdminClient({"bootstrap.servers": isolated.bootstrap_servers})
    md = admin.list_topics(timeout=15)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in specs]
    described = {r.name: f.result(30) for r, f in admin.describe_configs(resources).items()}
    for spec in specs:
        assert spec.name.startswith(isolated.topic_prefix + ".")
        assert len(md.topics[spec.name].partitions) == spec.partitions
        policy = described[spec.name]["cleanup.policy"].value
        if spec.role in ("output", "registry") and spec.contract_name != "carrier.alerts":
            assert policy == "compact", spec.name
        else:
            assert policy == "delete", spec.name
    again = cli(isolated, "topics", "create")
    assert again.returncode == 0
    assert "created" not in again.stdout
    assert cli(isolated, "topics", "check").returncode == 0


def test_topics_check_reports_wrong_partition_count(isolated: Settings) -> None:
    """A topic that exists with the wrong partition count is a clear error, exit non-zero."""
    wrong = isolated.topic("carrier.summary.daily")
    _new_topic(isolated, wrong, isolated.partitions + 2, **{"cleanup.policy": "compact"})
    policy_wrong = isolated.topic("carrier.code-consistency")
    _new_topic(isolated, policy_wrong, isolated.partitions, **{"cleanup.policy": "delete"})
    assert cli(isolated, "topics", "create").returncode != 0
    result = cli(isolated, "topics", "check")
    assert result.returncode != 0
    assert f"{wrong}: has {isolated.partitions + 2} partitions, declared {isolated.partitions}" \
        in result.stderr
    assert f"{policy_wrong}: cleanup.policy=delete, declared compact" in result.stderr


def test_broker_start_twice_is_harmless_and_stop_leaves_nothing(tmp_path: Path) -> None:
    """A second broker of our own: start is idempotent, stop leaves no process or port."""
    port, cport = free_port(), free_port()
    settings = Settings(broker=f"kafka://127.0.0.1:{port}", broker_port=port,
                        broker_controller_port=cport, broker_dir=tmp_path / "broker",
                        broker_heap="256m")
    first = cli(settings, "broker", "start", timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"bootstrap: 127.0.0.1:{port}"
    pid = int((tmp_path / "broker" / "broker.pid").read_text())
    try:
        second = cli(settings, "broker", "start")
        assert second.returncode == 0, second.stderr
        assert int((tmp_path / "broker" / "broker.pid").read_text()) == pid
        status = cli(settings, "broker", "status")
        assert status.returncode == 0
        assert f"pid {pid}" in status.stdout
    finally:
        stopped = cli(settings, "broker", "stop")
    assert stopped.returncode == 0
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert not localbroker.port_open(port)
    assert cli(settings, "broker", "status").returncode != 0


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_faust_rocksdb_table_survives_restart(isolated: Settings, tmp_path: Path) -> None:
    """A value written to a rocksdb:// table is on disk after stop and read back on restart."""
    assert cli(isolated, "topics", "create").returncode == 0
    _new_topic(isolated, isolated.topic("roundtrip"), isolated.partitions)
    out = tmp_path / "out.txt"
    producer = Producer({"bootstrap.servers": isolated.bootstrap_servers})
    env = {"ROUNDTRIP_OUT": str(out)}
    app = "tests.integration.apps.table_roundtrip"

    worker = start_worker(isolated, tmp_path / "w1.log", module=app, args=(), extra_env=env)
    try:
        worker.wait_log("Worker ready")
        producer.produce(isolated.topic("roundtrip"), key=b"k", value=b"set colour blue")
        producer.flush(10)
        wait_for(lambda: out.exists() and out.read_text() == "set colour\n", 60, "the write")
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]

    on_disk = {}
    for db_path in (isolated.data_dir / "v1" / "tables").glob("roundtrip-*.db"):
        db = Rdict(str(db_path), access_type=AccessType.read_only())
        on_disk.update({k: v for k, v in db.items() if not k.startswith(b"__faust")})
        db.close()
    assert on_disk == {b"colour": b"blue"}

    out.unlink()
    worker = start_worker(isolated, tmp_path / "w2.log", module=app, args=(), extra_env=env)
    try:
        worker.wait_log("Worker ready")
        producer.produce(isolated.topic("roundtrip"), key=b"k", value=b"get colour")
        producer.flush(10)
        wait_for(lambda: out.exists() and out.read_text().startswith("got"), 60, "the read")
    finally:
        worker.stop()
    assert out.read_text() == "got colour=blue\n"
    assert os.path.isdir(isolated.data_dir)
