"""Thin glue between Kafka and the domain: consume, decode, fold, write, publish."""

from __future__ import annotations

from typing import Any

import faust

from processor import tables
from processor.settings import Settings


def register(app: faust.App, settings: Settings) -> None:
    """Attach the processor's topics, tables and agents to ``app``."""
    source = app.topic(
        settings.topic(settings.input_topic),
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    )
    consumed = tables.declare(app, "consumed", "input messages consumed, per source partition")

    @app.agent(source, concurrency=1)
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            key = f"p{event.message.partition}".encode()
            consumed[key] = str(int(consumed.get(key) or 0) + 1).encode()
