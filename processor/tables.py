"""Table declarations: every table lives in RocksDB (rocksdict) under the data dir."""

from __future__ import annotations

from typing import Any

import faust

ROCKSDICT = {"driver": "rocksdict"}


def declare(app: faust.App, name: str, help_text: str) -> Any:
    """A RocksDB-backed table of raw bytes; we encode values ourselves with orjson."""
    return app.Table(
        name,
        default=None,
        # bytes key/value types make Faust pick the "raw" codec for the store and the
        # changelog alike (a Schema alone only covers the changelog).
        key_type=bytes,
        value_type=bytes,
        options=ROCKSDICT,
        help=help_text,
    )
