"""The Faust internals carrierwatch relies on (processor/runtime/faust_internals.py): the pinned
versions are installed, every private name still exists, and Faust leaves the input and
route topics to the worker."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import faust
import pytest
from faust.stores.rocksdb import Store as RocksStore
from faust.tables import GlobalTable
from faust.tables import TableManager as FaustTableManager
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import Consumer as AIOConsumer
from faust.transport.drivers.aiokafka import Transport as AIOTransport
from faust.types import TP

from processor.runtime import faust_internals
from processor.runtime.app import create_app
from processor.settings import Settings


@pytest.mark.parametrize(("package", "version"), sorted(faust_internals.PINNED.items()))
def test_the_pinned_versions_are_installed(package: str, version: str) -> None:
    assert metadata.version(package) == version


@pytest.mark.parametrize(("owner", "name"), [
    (FaustConsumer, "_set_active_tps"), (FaustConsumer, "resume_partitions"),
    (FaustConsumer, "on_buffer_drop"), (AIOConsumer, "verify_event_path"),
    (AIOConsumer, "_commit"), (RocksStore, "_db_for_partition"),
    (RocksStore, "set_persisted_offset"), (RocksStore, "_get"),
    (RocksStore, "_dbs_for_actives"),
    (GlobalTable, "_changelog_topic_name"), (FaustTableManager, "_update_channels"),
    (faust.App, "_new_consumer"), (AIOTransport, "_create_topic"),
])
def test_every_private_name_used_exists(owner: type, name: str) -> None:
    assert callable(getattr(owner, name))


def test_faust_never_fetches_the_batch_topics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, with_worker=False)
    consumer = app.consumer
    inp, route = TP("sip.responses", 0), TP(settings.route_topic, 0)
    calls = TP(settings.calls_topic, 0)
    changelog = TP("carrierwatch-carriers-changelog", 0)
    active = consumer._set_active_tps({inp, route, calls, changelog})
    assert active == {changelog}
    consumer.pause_partitions({changelog})
    consumer.resume_partitions({inp, changelog})  # as table recovery does
    assert consumer._get_active_partitions() == {changelog}
    consumer.on_buffer_drop(inp)
    assert consumer._get_active_partitions() == {changelog}
    consumer.verify_event_path(0.0, inp)  # no alarm for a topic it never fetches
