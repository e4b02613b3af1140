"""Reading the processor's table values back into domain objects (absent key = None)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from processor.domain.model import CarrierState, WindowState
from processor.io.names import window_key


class KeyValues(Protocol):
    """A whole table as the HTTP API and the registry read it: bytes by key
    (``runtime/tables.whole_table`` adapts a Faust table; a dict will do in tests)."""

    def get(self, key: bytes, /) -> bytes | None: ...


class OrderedKeyValues(KeyValues, Protocol):
    """A whole table read by key and by key range (the call log's table)."""

    def scan_back(self, lo: bytes, hi: bytes, /) -> Iterator[tuple[bytes, bytes]]:
        """The keys in [lo, hi) and their values, greatest key first."""


def carrier_of(raw: bytes | None) -> CarrierState | None:
    return decode_carrier(raw) if raw else None


def window_of(raw: bytes | None) -> WindowState | None:
    return decode_window(raw) if raw else None


def decode_carrier(raw: bytes) -> CarrierState:
    return CarrierState.from_json(orjson.loads(raw))


def decode_window(raw: bytes) -> WindowState:
    return WindowState.from_json(orjson.loads(raw))


def decode_doc(raw: bytes) -> dict[str, Any]:
    """A dedup bucket or a partition's counters: plain JSON."""
    doc: dict[str, Any] = orjson.loads(raw)
    return doc


def load_carrier(table: KeyValues, carrier_id: str) -> CarrierState | None:
    return carrier_of(table.get(carrier_id.encode()))


def load_window(table: KeyValues, carrier_id: str, kind: str,
                start: int) -> WindowState | None:
    return window_of(table.get(window_key(carrier_id, kind, start).encode()))
