"""The per-carrier fold: a batch of one carrier's events into its state and windows.

``fold`` is pure: it copies what it changes and returns the new values with a list of
what changed. Every state key (the carrier, each window) remembers the last source
offset it applied per "topic:partition", so a message re-delivered after a restart is
skipped by exactly the keys that already counted it, whatever was persisted before a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processor.domain import alerts, dedup, live
from processor.domain.alerts import Alert, ShortCallRule
from processor.domain.codes import ALL_FAILURES, Outcome, classify
from processor.domain.consecutive import Streak, step
from processor.domain.consistency import verdict
from processor.domain.events import Sourced
from processor.domain.rates import RateCard, cost_micros
from processor.domain.summary import Stats
from processor.domain.windows import (
    HOUR_MS,
    KINDS,
    Retention,
    oldest_retained,
    oldest_starts,
    starts_of_hour,
)

WindowId = tuple[str, int]  # (kind, start_ms)


@dataclass(frozen=True, slots=True)
class Policy:
    """What decides a carrier's numbers; per-carrier values come from the registry."""

    failures: frozenset[int] = ALL_FAILURES
    threshold: int = 1000
    min_sample: int = 100
    retention: Retention = field(default_factory=Retention)
    dedup_window_ms: int = dedup.DEFAULT_WINDOW_MS
    dedup_inline: int = dedup.INLINE_IDENTITIES  # identities kept in the carrier record
    counted_once: bool = True  # False (benchmarks only): no dedup, no offset watermarks
    rates: RateCard = field(default_factory=lambda: RateCard(()))
    short_calls: ShortCallRule = field(default_factory=ShortCallRule)


@dataclass(slots=True)
class CarrierState:
    carrier_id: str
    streak: Streak = field(default_factory=Streak)
    codes: dict[int, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    windows: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in KINDS})
    buckets: list[int] = field(default_factory=list)
    max_ts_ms: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"applied": 0, "duplicate": 0,
                                                            "late": 0})
    updated_ms: int = 0
    firing: dict[str, bool] = field(default_factory=dict)  # alert kind -> firing
    hours: live.Ring = field(default_factory=dict)
    # Dedup buckets kept here rather than in the dedup table (dedup.py); ``buckets``
    # lists those in the table.
    ids: dict[int, dict[str, str]] = field(default_factory=dict)
    arrival_ms: int | None = None  # the dedup clock: newest input record timestamp seen
    # The ring's rows summed (live.total), kept as rows are added and pruned; None: not
    # summed yet (not stored: summed again once after a load).
    live_sums: list[int] | None = None

    def copy(self) -> CarrierState:
        return CarrierState(self.carrier_id, self.streak, dict(self.codes), dict(self.applied),
                            {k: list(v) for k, v in self.windows.items()}, list(self.buckets),
                            self.max_ts_ms, dict(self.counts), self.updated_ms,
                            dict(self.firing), {h: list(r) for h, r in self.hours.items()},
                            {b: dict(m) for b, m in self.ids.items()}, self.arrival_ms,
                            None if self.live_sums is None else list(self.live_sums))

    @property
    def total_final(self) -> int:
        return sum(self.codes.values())

    def to_json(self) -> dict[str, Any]:
        s = self.streak
        return {"id": self.carrier_id,
                "s": [s.count, s.max_count, s.started_ms, s.last_code, s.last_event_ms,
                      s.last_connected_ms],
                "c": {str(k): v for k, v in self.codes.items()}, "ap": self.applied,
                "w": self.windows, "b": self.buckets, "m": self.max_ts_ms, "n": self.counts,
                "u": self.updated_ms, "al": self.firing,
                "h": {str(h): r for h, r in self.hours.items()},
                "i": {str(b): m for b, m in self.ids.items()}, "a": self.arrival_ms}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CarrierState:
        return cls(d["id"], Streak(*d["s"]), {int(k): v for k, v in d["c"].items()},
                   dict(d["ap"]), {k: list(v) for k, v in d["w"].items()}, list(d["b"]), d["m"],
                   dict(d["n"]), d["u"], dict(d.get("al", {})),
                   {int(h): list(r) for h, r in d.get("h", {}).items()},
                   {int(b): dict(m) for b, m in d.get("i", {}).items()}, d.get("a"))


@dataclass(slots=True)
class WindowState:
    stats: Stats = field(default_factory=Stats)
    applied: dict[str, int] = field(default_factory=dict)
    updated_ms: int = 0

    def copy(self) -> WindowState:
        return WindowState(self.stats.copy(), dict(self.applied), self.updated_ms)

    def to_json(self) -> dict[str, Any]:
        return {"s": self.stats.to_json(), "ap": self.applied, "u": self.updated_ms}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowState:
        return cls(Stats.from_json(d["s"]), dict(d["ap"]), d["u"])


@dataclass(slots=True)
class FoldResult:
    carrier: CarrierState
    carrier_changed: bool = False
    windows: dict[WindowId, WindowState] = field(default_factory=dict)
    expired: list[WindowId] = field(default_factory=list)
    buckets: dict[int, dict[str, str]] = field(default_factory=dict)
    expired_buckets: list[int] = field(default_factory=list)
    results: dict[str, int] = field(default_factory=lambda: {"applied": 0, "duplicate": 0,
                                                             "late": 0})
    alerts: list[Alert] = field(default_factory=list)
    accepted: list[Sourced] = field(default_factory=list)  # not producer duplicates
    # Re-delivered events (already applied): their records may never have been published
    # (a crash between the state write and the send), so they are published again.
    republish_carrier: bool = False
    republish: set[WindowId] = field(default_factory=set)
    # Working notes of the fold: windows known listed by the carrier, and the live
    # window's first hour as of the last prune (nothing older is left in the ring).
    listed: set[WindowId] = field(default_factory=set)
    pruned_at: int | None = None
    inline_ids: int | None = None  # identities in ``carrier.ids``, once counted
    owned: bool = False  # the stored values are the fold's to change (``fold(owned=)``)
    finals: int = 0  # the carrier's final responses (``total_final``), kept as they count


def keys_needed(events: Sequence[Sourced]) -> set[WindowId]:
    """The window keys a fold of ``events`` reads (those the carrier lists as stored)."""
    hours = {s.event.ts_ms // HOUR_MS for s in events if s.event.code >= 200}
    wins: set[WindowId] = set()
    for hour in hours:
        for kind, start in zip(KINDS, starts_of_hour(hour), strict=True):
            wins.add((kind, start))
    return wins


def buckets_needed(state: CarrierState | None, policy: Policy) -> list[int]:
    """The dedup-table buckets a fold reads: every one the carrier lists, since a copy may
    match an identity of any bucket still inside the window."""
    return list(state.buckets) if state is not None and policy.counted_once else []


def fold(
    carrier_id: str,
    state: CarrierState | None,
    windows: Mapping[WindowId, WindowState],
    buckets: Mapping[int, Mapping[str, str]],
    events: Sequence[Sourced],
    *,
    policy: Policy,
    now_ms: int | None,
    wall_ms: int,
    owned: bool = False,
) -> FoldResult:
    """Apply ``events`` (one carrier, arrival order) and expire what is past retention.

    ``windows``/``buckets`` hold the stored values of the keys from ``keys_needed`` and
    ``buckets_needed`` (absent = empty). ``now_ms`` is the reference clock for retention
    (the wall clock in a normal run); ``None`` means stream time: the newest ``ts`` the
    carrier has seen, as of each event (a replay). ``wall_ms`` stamps ``updated_ms``.
    Duplicates are decided on the carrier's arrival clock (``CarrierState.arrival_ms``).

    ``owned``: the caller gives ``state``, ``windows`` and ``buckets`` up, and they are
    changed in place instead of copied (the worker's record cache, where a copy of every
    window touched cost 4 µs per event); every changed one is in the result.
    """
    cur = CarrierState(carrier_id) if state is None else state if owned else state.copy()
    res = FoldResult(cur, finals=cur.total_final, owned=owned)
    for s in events:
        ev, src, off = s.event, s.source, s.offset
        fresh = not policy.counted_once or off > cur.applied.get(src, -1)
        if not fresh:
            res.republish_carrier = True
        arrival = s.arrival_ms if cur.arrival_ms is None else max(cur.arrival_ms, s.arrival_ms)
        if fresh and arrival != cur.arrival_ms:
            cur.arrival_ms = arrival
            res.carrier_changed = True
        if policy.counted_once and _is_duplicate(cur, res, buckets, s, arrival=arrival,
                                                   policy=policy, fresh=fresh):
            if fresh:
                cur.applied[src] = off
                cur.counts["duplicate"] += 1
                res.results["duplicate"] += 1
                res.carrier_changed = True
            if ev.code >= 200:
                # The windows remember the decision too: a re-delivery of this duplicate
                # after its identity left the dedup window must not be added to them.
                _apply_to_windows(cur, res, windows, s, fresh=False, policy=policy,
                                  now_ms=now_ms if now_ms is not None else cur.max_ts_ms or
                                  ev.ts_ms, wall_ms=wall_ms, count=False)
            continue
        res.accepted.append(s)
        code = ev.code
        if fresh:
            cur.applied[src] = off
            cur.streak = step(cur.streak, code, ev.ts_ms, classify(code, policy.failures))
            cur.max_ts_ms = ev.ts_ms if cur.max_ts_ms is None else max(cur.max_ts_ms, ev.ts_ms)
            res.carrier_changed = True
        late = False
        if code >= 200:
            now = now_ms if now_ms is not None else max(cur.max_ts_ms or ev.ts_ms, ev.ts_ms)
            if fresh:
                cur.codes[code] = cur.codes.get(code, 0) + 1
                res.finals += 1
                _on_final(cur, res, s, policy, now)
            late = _apply_to_windows(cur, res, windows, s, fresh=fresh, policy=policy,
                                     now_ms=now, wall_ms=wall_ms)
        if fresh:
            outcome = "late" if late else "applied"
            cur.counts[outcome] += 1
            res.results[outcome] += 1
    end_now = now_ms if now_ms is not None else cur.max_ts_ms
    if end_now is not None:
        _expire(cur, res, policy, end_now)
        _check_short_calls(cur, res, policy, end_now)
    if res.carrier_changed:
        cur.updated_ms = wall_ms
    return res


def _on_final(cur: CarrierState, res: FoldResult, s: Sourced, policy: Policy, now: int) -> None:
    """The carrier-level effects of a new final response: live ring and alert transitions."""
    ev = s.event
    live.add(cur.hours, ev.ts_ms, now, ev.code, ev.duration_ms, sums=cur.live_sums)
    # Per event, not per batch: the transitions must not depend on how events were batched.
    _check_short_calls(cur, res, policy, now)
    firing, alert = alerts.consecutive(cur.firing.get("consecutive-failures", False),
                                       cur.streak.count, policy.threshold, ev.ts_ms)
    _transition(cur, res, "consecutive-failures", firing, alert)
    v = verdict(res.finals, cur.codes.get(404, 0), policy.min_sample)
    firing, alert = alerts.no_404(cur.firing.get("no-404", False), v, cur.codes.get(404, 0),
                                  policy.min_sample, ev.ts_ms)
    _transition(cur, res, "no-404", firing, alert)


def _check_short_calls(cur: CarrierState, res: FoldResult, policy: Policy, now: int) -> None:
    first = live.first_hour(now)
    hours = cur.hours
    dropped = live.prune(hours, now) if first != res.pruned_at and hours and min(
        hours) < first else []
    res.pruned_at = first  # ``live.add`` adds no hour before it: no need to look again
    if dropped:
        res.carrier_changed = True
    if cur.live_sums is None:
        cur.live_sums = live.total(list(cur.hours.values()))
    else:
        for row in dropped:
            for i, n in enumerate(row):
                cur.live_sums[i] -= n
    t = cur.live_sums  # every row left is inside the live window of ``now``
    firing, alert = alerts.short_calls(cur.firing.get("short-calls", False), t[live.SHORT],
                                       t[live.ANSWERED], policy.short_calls, now)
    _transition(cur, res, "short-calls", firing, alert)


def _transition(cur: CarrierState, res: FoldResult, kind: str, firing: bool,
                alert: Alert | None) -> None:
    if alert is not None:
        cur.firing[kind] = firing
        res.alerts.append(alert)
        res.carrier_changed = True


def _apply_to_windows(cur: CarrierState, res: FoldResult, windows: Mapping[WindowId, WindowState],
                      s: Sourced, *, fresh: bool, policy: Policy, now_ms: int,
                      wall_ms: int, count: bool = True) -> bool:
    """Add a final response to its hour, day and month; True when one was past retention.

    ``count=False`` only moves the windows' offset watermarks (a duplicate)."""
    ev, src, off = s.event, s.source, s.offset
    failed = classify(ev.code, policy.failures) is Outcome.FAILURE
    rate = None
    if 200 <= ev.code < 300 and ev.duration_ms is not None:
        rate = policy.rates.match(ev.destination)
    late = False
    starts = starts_of_hour(ev.ts_ms // HOUR_MS)
    oldest = oldest_starts(now_ms // HOUR_MS, policy.retention)
    for i, kind in enumerate(KINDS):
        start = starts[i]
        if start < oldest[i]:
            late = True
            continue
        wid = (kind, start)
        w = res.windows.get(wid) or _stored_window(res, windows, wid, create=count)
        if w is None:
            continue  # nothing counted there; no empty window for a duplicate
        if fresh and wid not in res.listed:  # the carrier's lists are long: look once
            res.listed.add(wid)
            if start not in cur.windows[kind]:
                cur.windows[kind].append(start)
        if policy.counted_once and off <= w.applied.get(src, -1):
            res.republish.add(wid)
        else:
            if count:
                w.stats.add(ev.code, failed, ev.duration_ms, ev.pdd_ms)
                if rate is not None and ev.duration_ms is not None:
                    w.stats.add_cost(cost_micros(ev.duration_ms, rate), rate.currency)
            w.applied[src] = off
            w.updated_ms = wall_ms
            res.windows[wid] = w
    return late


def _stored_window(res: FoldResult, windows: Mapping[WindowId, WindowState], wid: WindowId, *,
                   create: bool) -> WindowState | None:
    """The window to change: the stored one (a copy unless the fold owns it), else a new
    one if ``create``."""
    stored = windows.get(wid)
    if stored is None:
        return WindowState() if create else None
    return stored if res.owned else stored.copy()


def _first_arrival(cur: CarrierState, res: FoldResult,
                   buckets: Mapping[int, Mapping[str, str]], identity: str,
                   oldest_ms: int) -> str | None:
    """Where ``identity`` was first read, if it arrived at ``oldest_ms`` or later."""
    for start, inline in cur.ids.items():
        value = inline.get(identity)
        if value is not None:
            where, arrived = dedup.parse(value, start)
            if arrived >= oldest_ms:
                return where
    for start in cur.buckets:
        bucket: Mapping[str, str] | None = res.buckets.get(start)
        if bucket is None:
            bucket = buckets.get(start)
        value = bucket.get(identity) if bucket is not None else None
        if value is not None:
            where, arrived = dedup.parse(value, start)
            if arrived >= oldest_ms:
                return where
    return None


def _is_duplicate(cur: CarrierState, res: FoldResult, buckets: Mapping[int, Mapping[str, str]],
                  s: Sourced, *, arrival: int, policy: Policy, fresh: bool) -> bool:
    """Whether ``s`` is a copy of an event that arrived at most a window before it.

    A first copy is remembered; a re-delivery the carrier already applied (not ``fresh``)
    is only looked up: its decision was taken, and an entry written now would carry a
    later arrival than the one it was decided at."""
    identity = s.event.identity
    first = _first_arrival(cur, res, buckets, identity, arrival - policy.dedup_window_ms)
    if first is not None:
        return first != dedup.tag(s.source, s.offset)
    if not fresh:
        return False
    value = dedup.entry(s.source, s.offset, arrival)
    bucket_start = dedup.bucket_of(arrival, policy.dedup_window_ms)
    inline = cur.ids.get(bucket_start)
    if inline is None and bucket_start not in res.buckets and bucket_start not in cur.buckets:
        inline = cur.ids[bucket_start] = {}  # a new bucket starts in the carrier's record
    if inline is not None:
        n = res.inline_ids
        if n is None:
            n = sum(len(m) for m in cur.ids.values())
        if n < policy.dedup_inline:
            inline[identity] = value
            res.inline_ids = n + 1
            res.carrier_changed = True
            return False
        # Over the limit: this bucket moves to the dedup table.
        res.inline_ids = n - len(inline)
        del cur.ids[bucket_start]
        res.buckets[bucket_start] = inline
        cur.buckets.append(bucket_start)
        res.carrier_changed = True
    bucket = res.buckets.get(bucket_start)
    if bucket is None:
        stored = buckets.get(bucket_start)
        bucket = stored if res.owned and isinstance(stored, dict) else dict(stored or {})
    bucket[identity] = value
    res.buckets[bucket_start] = bucket
    if bucket_start not in cur.buckets:
        cur.buckets.append(bucket_start)
        res.carrier_changed = True
    return False


def _expire(cur: CarrierState, res: FoldResult, policy: Policy, now_ms: int) -> None:
    for kind in KINDS:
        starts = cur.windows[kind]
        oldest = oldest_retained(kind, now_ms, policy.retention)
        if not starts or min(starts) >= oldest:
            continue  # the common case: one comparison per kind, not one per window
        cur.windows[kind] = [s for s in starts if s >= oldest]
        for start in starts:
            if start < oldest:
                res.expired.append((kind, start))
                res.windows.pop((kind, start), None)
        res.carrier_changed = True
    if cur.arrival_ms is not None:
        oldest = dedup.oldest_kept_bucket(cur.arrival_ms, policy.dedup_window_ms)
        for b in [b for b in cur.ids if b < oldest]:
            del cur.ids[b]
            res.inline_ids = None
            res.carrier_changed = True
        old = [b for b in cur.buckets if b < oldest]
        if old:
            cur.buckets = [b for b in cur.buckets if b >= oldest]
            res.expired_buckets.extend(old)
            for b in old:
                res.buckets.pop(b, None)
            res.carrier_changed = True


def expire(state: CarrierState, policy: Policy, now_ms: int | None, wall_ms: int) -> FoldResult:
    """Retention alone (a timer, when no events come): which windows to drop."""
    return fold(state.carrier_id, state, {}, {}, (), policy=policy, now_ms=now_ms,
                wall_ms=wall_ms)
