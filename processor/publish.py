"""Publishing the output records of a batch: each changed record once per batch.

The agent marks what a batch changed (or re-applied) and flushes at the end of the batch:
the records are built from the tables and queued behind the batch's changelog writes, so
Faust's flush-before-commit makes "offset committed" imply "record sent". Records are
derived from state, so publishing can be repeated at will (after a restart, recent windows
and every owned carrier are republished once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from processor.domain import records
from processor.domain.carrier import CarrierState, Policy
from processor.domain.windows import live_hours, window_key
from processor.stored import load_carrier, load_window

CONSECUTIVE = "carrier.consecutive-failures"
CONSISTENCY = "carrier.code-consistency"
LIVE = "carrier.summary.live"
SUMMARY_TOPIC = {"hour": "carrier.summary.hourly", "day": "carrier.summary.daily",
                 "month": "carrier.summary.monthly"}


@dataclass
class Dirty:
    carriers: set[str] = field(default_factory=set)
    windows: set[tuple[str, str, int]] = field(default_factory=set)
    tombstones: set[tuple[str, str, int]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.carriers or self.windows or self.tombstones)


class Publisher:
    """Collects changes from the agent and sends the records they touch."""

    def __init__(self, send: Callable[[str, bytes, bytes | None], None], carriers: Any,
                 windows: Any, policy_for: Callable[[str], Policy],
                 now_for: Callable[[CarrierState], int | None]) -> None:
        self._send = send  # (contract topic name, key, value or None for a tombstone)
        self._carriers = carriers
        self._windows = windows
        self._policy_for = policy_for
        self._now_for = now_for
        self.dirty = Dirty()
        self.published = 0

    def mark(self, carrier_id: str, windows: Iterable[tuple[str, int]] = (),
             expired: Iterable[tuple[str, int]] = ()) -> None:
        self.dirty.carriers.add(carrier_id)
        for kind, start in windows:
            self.dirty.windows.add((carrier_id, kind, start))
        for kind, start in expired:
            self.dirty.tombstones.add((carrier_id, kind, start))
            self.dirty.windows.discard((carrier_id, kind, start))

    def flush(self) -> int:
        """Send every marked record; returns how many were sent."""
        dirty, self.dirty = self.dirty, Dirty()
        wall = int(time.time() * 1000)
        sent = 0
        for carrier_id in dirty.carriers:
            state = load_carrier(self._carriers, carrier_id)
            if state is None:
                continue
            sent += self._carrier_records(state, wall)
        for carrier_id, kind, start in dirty.windows:
            w = load_window(self._windows, carrier_id, kind, start)
            if w is None:
                continue
            rec = records.summary(carrier_id, kind, start, w.stats, w.updated_ms or wall)
            self._send(SUMMARY_TOPIC[kind], window_key(carrier_id, kind, start).encode(),
                       orjson.dumps(rec))
            sent += 1
        for carrier_id, kind, start in dirty.tombstones:
            self._send(SUMMARY_TOPIC[kind], window_key(carrier_id, kind, start).encode(), None)
            sent += 1
        self.published += sent
        return sent

    def _carrier_records(self, state: CarrierState, wall: int) -> int:
        cid = state.carrier_id
        key = cid.encode()
        policy = self._policy_for(cid)
        updated = state.updated_ms or wall
        self._send(CONSECUTIVE, key, orjson.dumps(records.consecutive_failures(state, policy,
                                                                               updated)))
        self._send(CONSISTENCY, key, orjson.dumps(records.code_consistency(state, policy,
                                                                           updated)))
        now = self._now_for(state)
        if now is None:
            return 2
        hours = []
        stored = set(state.windows.get("hour", ()))  # skip lookups of hours without traffic
        for start in live_hours(now):
            if start not in stored:
                continue
            w = load_window(self._windows, cid, "hour", start)
            if w is not None:
                hours.append(w.stats)
        self._send(LIVE, key, orjson.dumps(records.live(cid, now, hours, wall)))
        return 3
