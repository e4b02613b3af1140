"""The real worker, except that Faust stops fetching input partition 1 once per assignment.

It is put in the state a rebalance was seen to leave behind (test_worker_joins_then_dies:
lag stuck, nothing delivered): dropped by Faust's flow control (``on_buffer_full``) with no
buffer left to drain and take it back. Only the processor's stall check can then see and
read what the partition holds; now the worker reads its input itself.
"""

from __future__ import annotations

import logging

from faust.types import TP

from processor.runtime.app import create_app
from processor.runtime.faust_internals import is_ready
from processor.runtime.process import run
from processor.settings import Settings

log = logging.getLogger(__name__)


def main() -> None:
    settings = Settings.from_env()
    app = create_app(settings)
    deaf = TP(settings.topic(settings.input_topic), 1)
    deafened: set[int] = set()

    @app.timer(0.5, on_leader=False)
    async def deafen() -> None:
        generation = app.consumer_generation_id
        if generation in deafened or not is_ready(app):
            return
        if deaf in app.consumer.assignment():
            deafened.add(generation)
            app.consumer.on_buffer_full(deaf)
            log.warning("test: Faust stops fetching %s[%d]", deaf.topic, deaf.partition)

    _ = deafen
    run(app, settings)


if __name__ == "__main__":
    main()
