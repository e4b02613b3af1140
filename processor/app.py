"""``create_app(settings)``: the only place the Faust application is built.

No app exists at import time and no broker address is baked in, so tests, replays and
several workers can each build their own from their own settings.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.tables import TableManager as FaustTableManager

from processor import commit_gate, connection, flush, handover
from processor.settings import Settings

MAX_RECORD_BYTES = 4 * 1024 * 1024  # = max.message.bytes of the DLQ in topics/topics.toml


class App(faust.App):
    """Faust's app with a producer whose flush really drains (processor/flush.py) and a
    consumer that commits no further than the processor got (processor/commit_gate.py)
    and hands messages to the streams without a task per message (processor/handover.py)."""

    def _new_producer(self) -> Any:
        return flush.install(super()._new_producer())

    def _new_consumer(self) -> Any:
        return commit_gate.install(handover.install(super()._new_consumer()))


class TableManager(FaustTableManager):
    """Faust's, without its one-second sleep before the tables start.

    The sleep gives code that declares tables while the app starts time to do so; every
    table of ours is declared before the worker starts (``register``), so it only delayed
    every start, restart and rebuild by a second."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def create_app(settings: Settings, *, with_agents: bool = True) -> faust.App:
    """Build the Faust app for ``settings``; ``with_agents=False`` gives a bare app for tests."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=connection.faust_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        autodiscover=False,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        canonical_url=settings.web_url,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=settings.group_instance_id or None,
        # Tables are recovered from our own RocksDB files; standbys double the load on a
        # 2-core machine and buy nothing with one worker.
        table_standby_replicas=0,
        # A DLQ record holds the whole refused message (up to the input topic's 2 MiB).
        producer_max_request_size=MAX_RECORD_BYTES,
        TableManager=TableManager,
    )
    if with_agents:
        from processor.agents import register

        register(app, settings)
    return app
