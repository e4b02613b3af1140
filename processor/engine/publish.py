"""Publishing the output records of a batch: each changed record once per batch.

The pipeline marks what a batch changed (or re-applied); at the flush, ``publish`` builds
each marked record once from the values and queues it with the flush's changelog records,
and the flush is acknowledged before its offsets can be committed, so "offset committed"
implies "record sent". Records are derived from state, so publishing can be repeated at will
(after a start, every owned carrier and its newest hour, day and month are republished
once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from processor.domain import destinations, records
from processor.domain.model import CarrierState, Policy, WindowState
from processor.domain.summary import Stats, total
from processor.domain.windows import HOUR_MS, LIVE_HOURS, live_hours, window_end, window_start
from processor.engine.state import Store
from processor.io import names
from processor.io.names import window_key


@dataclass
class Dirty:
    carriers: dict[str, int] = field(default_factory=dict)  # carrier -> its partition
    windows: dict[tuple[str, str, int], int] = field(default_factory=dict)
    tombstones: set[tuple[str, str, int]] = field(default_factory=set)
    # What the batch just wrote, so publishing need not read it back from RocksDB.
    states: dict[str, CarrierState] = field(default_factory=dict)
    window_states: dict[tuple[str, str, int], WindowState] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.carriers or self.windows or self.tombstones)


@dataclass
class DirtyGroups:
    """What changed since the last flush, for ``carrier.destinations``: its records (a
    window's dozens of groups) are built once per flush, not at every early publish."""

    carriers: dict[str, int] = field(default_factory=dict)  # their live groups
    windows: dict[tuple[str, str, int], int] = field(default_factory=dict)
    tombstones: set[tuple[str, str, int]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.carriers or self.windows or self.tombstones)


@dataclass
class _Closed:
    """A carrier's 23 hours before ``hour`` (its current one), summed once: a live record
    is that plus the current hour. Dropped when one of them is written (a late event) and
    when partitions move."""

    hour: int
    stats: Stats
    groups: dict[str, destinations.Row] | None = None  # summed when first needed


class Publisher:
    """Collects what the carrier steps changed and sends the records it touches."""

    def __init__(self, send: Callable[[str, bytes, bytes | None], None],
                 carriers: Store[CarrierState], windows: Store[WindowState],
                 policy_for: Callable[[str], Policy],
                 now_for: Callable[[CarrierState], int | None], *,
                 wall_ms: Callable[[], int],
                 live_groups: Callable[[str, tuple[tuple[str, int, int], ...]], None]
                 = lambda _c, _g: None,
                 fas: Callable[[str, dict[str, Any]], None] = lambda _c, _r: None,
                 groups_every_ms: int = 0) -> None:
        """``live_groups``: told each carrier's busiest live groups (group, attempts,
        answered) when they are published (the view, for ``/metrics``), and ``fas`` each
        ``carrier.anomalies`` record sent;
        ``groups_every_ms``: ``carrier.destinations`` (and ``carrier.anomalies``) records
        go out with a flush at most this often (each holds dozens of groups: one per window
        per flush cost more than the rest of the flush); ``hand_over`` sends what waits at
        once."""
        self._send = send  # (contract topic name, key, value or None for a tombstone)
        self._live_groups_to = live_groups
        self._fas_to = fas
        self._groups_every = groups_every_ms
        self._groups_sent: int | None = None  # wall ms of the last destinations send
        self._groups_now = False  # send what waits at the next flush, due or not
        self._carriers = carriers
        self._windows = windows
        self._policy_for = policy_for
        self._now_for = now_for
        self._wall_ms = wall_ms
        self.dirty = Dirty()
        self.published = 0
        # carrier -> its closed hours, instead of 24 hours merged for every batch
        self._closed: dict[str, _Closed] = {}
        self.groups = DirtyGroups()

    def mark(self, carrier_id: str, partition: int, windows: Iterable[tuple[str, int]] = (),
             expired: Iterable[tuple[str, int]] = (), *, state: CarrierState | None = None,
             written: Mapping[tuple[str, int], WindowState] | None = None) -> None:
        """``carrier_id`` (stored in ``partition``) and these windows of it changed;
        ``state`` and ``written`` are the values just stored, if the caller has them."""
        self.dirty.carriers[carrier_id] = partition
        if state is not None:
            self.dirty.states[carrier_id] = state
        for (kind, start), w in (written or {}).items():
            self.dirty.window_states[(carrier_id, kind, start)] = w
            if kind == "hour":
                closed = self._closed.get(carrier_id)
                if closed is not None and start != closed.hour:
                    del self._closed[carrier_id]
        for kind, start in windows:
            self.dirty.windows[(carrier_id, kind, start)] = partition
        for kind, start in expired:
            if kind == "hour":
                self._closed.pop(carrier_id, None)
            self.dirty.tombstones.add((carrier_id, kind, start))
            self.dirty.windows.pop((carrier_id, kind, start), None)
            self.dirty.window_states.pop((carrier_id, kind, start), None)

    def hand_over(self) -> None:
        """The partitions are leaving (a revoke, a shutdown): the next flush sends every
        destinations record that waits."""
        self._groups_now = True

    @property
    def waiting(self) -> bool:
        """Records wait for a flush: those marked, or destinations ones handed over."""
        return bool(self.dirty) or (self._groups_now and bool(self.groups))

    def forget(self) -> None:
        """Partitions changed hands: what was summed may have changed elsewhere since."""
        self._closed.clear()

    def discard(self) -> None:
        """What was marked is processed again (the cache was discarded)."""
        self.dirty = Dirty()
        self.groups = DirtyGroups()
        self.forget()

    def publish(self, *, flush: bool = True) -> int:
        """Send every marked record; returns how many were sent. The destination groups'
        records wait for the ``flush`` (they are not sent early)."""
        dirty, self.dirty = self.dirty, Dirty()
        wall = self._wall_ms()
        groups = self.groups
        groups.carriers.update(dirty.carriers)
        for t in dirty.tombstones:
            groups.windows.pop(t, None)
        groups.tombstones.update(dirty.tombstones)
        groups.tombstones.difference_update(dirty.windows)  # written again since
        groups.windows.update(dirty.windows)
        due = flush and (self._groups_now or self._groups_sent is None
                         or wall - self._groups_sent >= self._groups_every)
        sent = self._group_records(groups, dirty, wall) if due else 0
        if due:
            self.groups = DirtyGroups()
            self._groups_sent, self._groups_now = wall, False
        for carrier_id, partition in dirty.carriers.items():
            state = dirty.states.get(carrier_id) or self._carriers.load(
                partition, carrier_id.encode())
            if state is None:
                continue
            sent += self._carrier_records(state, partition, wall, dirty)
        for (carrier_id, kind, start), partition in dirty.windows.items():
            key = window_key(carrier_id, kind, start).encode()
            w = dirty.window_states.get((carrier_id, kind, start)) or self._windows.load(
                partition, key)
            if w is None:
                continue
            rec = records.summary(carrier_id, kind, start, w.stats, w.updated_ms or wall)
            self._send(names.SUMMARY[kind], key, orjson.dumps(rec))
            sent += 1
        for carrier_id, kind, start in dirty.tombstones:
            self._send(names.SUMMARY[kind], window_key(carrier_id, kind, start).encode(), None)
            sent += 1
        self.published += sent
        return sent

    def _carrier_records(self, state: CarrierState, partition: int, wall: int,
                         dirty: Dirty) -> int:
        cid = state.carrier_id
        key = cid.encode()
        policy = self._policy_for(cid)
        updated = state.updated_ms or wall
        self._send(names.CONSECUTIVE, key, orjson.dumps(records.consecutive_failures(state, policy,
                                                                               updated)))
        self._send(names.CONSISTENCY, key, orjson.dumps(records.code_consistency(state, policy,
                                                                           updated)))
        now = self._now_for(state)
        if now is None:
            return 2
        closed, now_hour = self._live_hours(state, partition, now, dirty)
        hours = [closed.stats, *(w.stats for w in now_hour)]
        self._send(names.LIVE, key, orjson.dumps(records.live(cid, now, hours, wall)))
        return 3

    def _live_hours(self, state: CarrierState, partition: int, now: int, dirty: Dirty,
                    *, groups: bool = False) -> tuple[_Closed, list[WindowState]]:
        """The 23 hours before the current one, summed (their destination groups too if
        ``groups``: only destinations records need them), and the current hour's window
        if it has traffic."""
        cid = state.carrier_id
        stored = set(state.windows.get("hour", ()))  # skip lookups of hours without traffic
        current = window_start("hour", now)
        closed = self._closed.get(cid)
        windows = None
        if closed is None or closed.hour != current:
            windows = self._hour_windows(cid, partition, live_hours(now)[:-1], stored, dirty)
            closed = self._closed[cid] = _Closed(current, total(w.stats for w in windows))
        if groups and closed.groups is None:
            if windows is None:
                windows = self._hour_windows(cid, partition, live_hours(now)[:-1], stored,
                                             dirty)
            closed.groups = destinations.total(w.dests for w in windows)
        return closed, self._hour_windows(cid, partition, [current], stored, dirty)

    def _hour_windows(self, cid: str, partition: int, starts: Iterable[int],
                      stored: set[int], dirty: Dirty) -> list[WindowState]:
        """These hourly windows of ``cid`` that hold traffic."""
        out = []
        for start in starts:
            if start not in stored:
                continue
            w = dirty.window_states.get((cid, "hour", start)) or self._windows.load(
                partition, window_key(cid, "hour", start).encode())
            if w is not None:
                out.append(w)
        return out

    def _group_records(self, groups: DirtyGroups, dirty: Dirty, wall: int) -> int:
        """``carrier.destinations``: each changed window's groups, and each changed
        carrier's live 24 hours (whose key of the hour before is tombstoned: the live key
        moves with the hour); and each changed carrier's ``carrier.anomalies``."""
        sent = 0
        for (cid, kind, start), partition in groups.windows.items():
            key = window_key(cid, kind, start).encode()
            w = dirty.window_states.get((cid, kind, start)) or self._windows.load(partition, key)
            if w is None:
                continue
            rec = records.destination_groups(
                cid, kind, start, window_end(kind, start), w.dests, currency=w.stats.currency,
                top=self._policy_for(cid).destinations_top, updated_ms=w.updated_ms or wall)
            self._send(names.DESTINATIONS, key, orjson.dumps(rec))
            sent += 1
        for cid, kind, start in groups.tombstones:
            self._send(names.DESTINATIONS, window_key(cid, kind, start).encode(), None)
            sent += 1
        for cid, partition in groups.carriers.items():
            state = dirty.states.get(cid) or self._carriers.load(partition, cid.encode())
            now = None if state is None else self._now_for(state)
            if state is None or now is None:
                continue
            sent += self._live_groups(state, partition, now, wall, dirty)
            rec = records.anomalies(state, self._policy_for(cid), now, wall)
            self._fas_to(cid, rec)
            self._send(names.ANOMALIES, cid.encode(), orjson.dumps(rec))
            sent += 1
        return sent

    def _live_groups(self, state: CarrierState, partition: int, now: int, wall: int,
                     dirty: Dirty) -> int:
        cid = state.carrier_id
        closed, now_hour = self._live_hours(state, partition, now, dirty, groups=True)
        current = closed.hour
        groups = destinations.total([closed.groups or {}, *(w.dests for w in now_hour)])
        currency = next((w.stats.currency for w in now_hour if w.stats.currency), None) \
            or self._policy_for(cid).rates.currency
        end = current + HOUR_MS
        start = end - LIVE_HOURS * HOUR_MS
        top = self._policy_for(cid).destinations_top
        rec = records.destination_groups(cid, "live", start, end, groups, currency=currency,
                                         top=top, updated_ms=wall)
        shown, _ = destinations.busiest(groups, top)
        self._live_groups_to(cid, tuple((g, r[destinations.ATTEMPTS], r[destinations.ANSWERED])
                                        for g, r in shown if g != destinations.OTHER))
        self._send(names.DESTINATIONS, window_key(cid, "live", start).encode(),
                   orjson.dumps(rec))
        self._send(names.DESTINATIONS, window_key(cid, "live", start - HOUR_MS).encode(), None)
        return 2
