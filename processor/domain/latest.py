"""The latest final responses of a carrier, newest first, with an offset watermark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processor.domain.events import Sourced
from processor.domain.windows import iso

FIELDS = ("call_id", "code", "reason", "ts", "duration_ms", "pdd_ms", "destination",
          "customer_id")


def call_record(s: Sourced) -> dict[str, Any]:
    """A latest call as the API shows it (contract §6); absent fields are null."""
    e = s.event
    return {"call_id": e.call_id, "code": e.code, "reason": e.reason, "ts": iso(e.ts_ms),
            "duration_ms": e.duration_ms, "pdd_ms": e.pdd_ms, "destination": e.destination,
            "customer_id": e.customer_id}


def push(doc: Mapping[str, Any] | None, events: Sequence[Sourced], limit: int,
         ) -> dict[str, Any] | None:
    """Add the final responses not yet applied to this key; None when nothing changed."""
    calls = list(doc["calls"]) if doc else []
    applied = dict(doc["ap"]) if doc else {}
    changed = False
    for s in events:
        if s.offset <= applied.get(s.source, -1):
            continue
        applied[s.source] = s.offset
        changed = True
        if s.event.code >= 200:
            calls.insert(0, call_record(s))
    if not changed:
        return None
    return {"calls": calls[:limit], "ap": applied}
