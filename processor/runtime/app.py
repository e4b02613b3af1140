"""``create_app(settings)``: the only place the Faust application is built.

No app exists at import time and no broker address is baked in, so tests, replays and
several workers can each build their own from their own settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from processor.io import connection
from processor.runtime import faust_internals
from processor.settings import Settings

MAX_RECORD_BYTES = 4 * 1024 * 1024  # = max.message.bytes of the DLQ in topics/topics.toml


log = logging.getLogger(__name__)


class App(faust.App):
    """Faust's app, leaving the input and route topics to the worker's own reader
    (processor/runtime/faust_internals.py) and letting the worker hand over before it stops."""

    batch_topics: frozenset[str] = frozenset()

    def _new_consumer(self) -> Any:
        return faust_internals.own_batch_topics(super()._new_consumer(), self.batch_topics)

    async def on_stop(self) -> None:
        worker = getattr(self, "batch_worker", None)
        if worker is not None:  # flush, commit, before Faust stops the consumer and tables
            await worker.on_shutdown()
        await super().on_stop()


def create_app(settings: Settings, *, with_worker: bool = True) -> faust.App:
    """Build the Faust app for ``settings``; ``with_worker=False`` gives a bare app (its
    tables and web server, no worker) for tests."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=faust_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        autodiscover=False,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        canonical_url=settings.web_url,
        topic_partitions=settings.partitions,
        # 0 (from the cluster) is resolved by the worker command from the input topic.
        topic_replication_factor=settings.replication or 1,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=settings.group_instance_id or None,
        broker_session_timeout=settings.session_timeout_s,
        # Tables are recovered from our own RocksDB files; standbys double the load on a
        # 2-core machine and buy nothing with one worker.
        table_standby_replicas=0,
        # A DLQ record holds the whole refused message (up to the input topic's 2 MiB).
        producer_max_request_size=MAX_RECORD_BYTES,
        TableManager=faust_internals.TableManager,
    )
    faust_internals.retry_topic_creation(app.transport)
    app.batch_topics = frozenset({settings.topic(settings.input_topic), settings.route_topic,
                                  settings.calls_topic})
    if with_worker:
        register(app, settings)
    return app


def register(app: faust.App, settings: Settings) -> Any:
    """Attach the worker (its topics, tables, loop and lifecycle) and its HTTP views."""
    from processor.runtime.http import register_http
    from processor.runtime.worker import Worker

    worker = Worker(app, settings)
    app.batch_worker = worker  # type: ignore[attr-defined]

    @app.task
    async def loop() -> None:
        worker._loop_task = asyncio.current_task()
        try:
            await worker.run()
        except Exception:
            log.exception("the worker's loop failed; stopping")
            raise

    @app.on_partitions_revoked.connect
    async def revoked(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        await worker.on_revoke()

    @app.on_partitions_assigned.connect
    async def assigned(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        worker.on_assign()

    register_http(app, worker, settings)
    _ = (loop, revoked, assigned)
    return worker


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for faust.App (None: plaintext), from the same settings and
    TLS context as the librdkafka clients (``io/connection.py``)."""
    protocol = settings.security_protocol
    if protocol == "SSL":
        return faust.SSLCredentials(connection.ssl_context(settings))
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=connection.ssl_context(settings) if protocol == "SASL_SSL" else None)
    return None
