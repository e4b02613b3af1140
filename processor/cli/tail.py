"""``carrierwatch tail TOPIC``: print the records of a topic as they arrive (for a person)."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from processor.io.connection import client_config
from processor.settings import Settings


def tail(settings: Settings, name: str, *, from_beginning: bool, limit: int | None,
         idle_exit_s: float | None, out: TextIO = sys.stdout) -> int:
    """Print ``key<TAB>value`` lines; stops after ``limit`` records or ``idle_exit_s`` of quiet."""
    from confluent_kafka import Consumer

    topic = settings.topic(name)
    consumer = Consumer({
        **client_config(settings),
        "group.id": f"carrierwatch-tail-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    })
    consumer.subscribe([topic])
    shown = 0
    quiet = 0.0
    try:
        while limit is None or shown < limit:
            msg = consumer.poll(0.5)
            if msg is None:
                quiet += 0.5
                if idle_exit_s is not None and quiet >= idle_exit_s:
                    break
                continue
            quiet = 0.0
            if msg.error():
                print(f"error: {msg.error()}", file=sys.stderr)
                continue
            raw_key, raw_value = msg.key(), msg.value()
            key = raw_key.decode(errors="replace") if raw_key is not None else ""
            value = raw_value.decode(errors="replace") if raw_value is not None else "null"
            print(f"{key}\t{value}", file=out, flush=True)
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return shown
