"""A Faust app built by ``create_app`` with one rocksdb:// table, driven by the test.

Messages on ``<prefix>.roundtrip`` are ``set <key> <value>`` (writes the table) or
``get <key>`` (writes the table's value to the file named by ROUNDTRIP_OUT).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from processor.runtime import tables
from processor.runtime.app import create_app
from processor.runtime.process import run
from processor.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    out = Path(os.environ["ROUNDTRIP_OUT"])
    app = create_app(settings, with_worker=False)
    table = tables.declare(app, "roundtrip", "test table")
    topic = app.topic(settings.topic("roundtrip"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(topic, concurrency=1)
    async def handle(stream: Any) -> None:
        async for value in stream:
            op, key, *rest = value.decode().split(" ")
            if op == "set":
                table[key.encode()] = rest[0].encode()
                out.write_text(f"set {key}\n")
            else:
                found = table.get(key.encode())
                out.write_text(f"got {key}={found.decode() if found else None}\n")

    run(app, settings)


if __name__ == "__main__":
    main()
