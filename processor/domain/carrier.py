"""The per-carrier fold: a batch of one carrier's events into its state and windows.

``fold`` copies what it changes (or, given ``owned``, changes it in place) and returns the
new values with a list of what changed. Every state key (the carrier, each window)
remembers the last source offset it applied per "topic:partition", so a message
re-delivered after a restart is skipped by exactly the keys that already counted it,
whatever was persisted before a crash. Duplicates are told in ``identities.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from processor.domain import (
    alerts,
    dedup,
    destination_asr,
    destinations,
    identities,
    live,
    streak_cause,
)
from processor.domain.codes import Outcome, classify
from processor.domain.consecutive import step
from processor.domain.consistency import verdict
from processor.domain.events import SipEvent, Sourced
from processor.domain.model import (
    CarrierState,
    FoldResult,
    Policy,
    WindowId,
    WindowState,
    record_transition,
)
from processor.domain.rates import Rate, cost_micros
from processor.domain.summary import Stats
from processor.domain.windows import (
    HOUR_MS,
    KINDS,
    oldest_retained,
    oldest_starts,
    starts_of_hour,
)


def keys_needed(events: Sequence[Sourced]) -> set[WindowId]:
    """The window keys a fold of ``events`` reads (those the carrier lists as stored)."""
    hours = {s.event.ts_ms // HOUR_MS for s in events if s.event.code >= 200}
    wins: set[WindowId] = set()
    for hour in hours:
        for kind, start in zip(KINDS, starts_of_hour(hour), strict=True):
            wins.add((kind, start))
    return wins


def chunks_needed(state: CarrierState | None, policy: Policy) -> list[dedup.ChunkId]:
    """The dedup-table chunks a fold reads: none once the carrier's identity table is
    built, else every one it lists (``dedup.py``)."""
    if state is None or state.seen is not None or not policy.counted_once:
        return []
    return dedup.chunks_needed(state.chunks, state.buckets)


def fold(
    carrier_id: str,
    state: CarrierState | None,
    windows: Mapping[WindowId, WindowState],
    chunks: Mapping[dedup.ChunkId, bytes],
    events: Sequence[Sourced],
    *,
    policy: Policy,
    now_ms: int | None,
    wall_ms: int,
    owned: bool = False,
) -> FoldResult:
    """Apply ``events`` (one carrier, arrival order) and expire what is past retention.

    ``windows``/``chunks`` hold the stored values of the keys from ``keys_needed`` and
    ``chunks_needed`` (absent = empty). ``now_ms`` is the reference clock for retention
    (the wall clock in a normal run); ``None`` means stream time: the newest ``ts`` the
    carrier has seen, as of each event (a replay). ``wall_ms`` stamps ``updated_ms``.
    Duplicates are decided on the carrier's arrival clock (``CarrierState.arrival_ms``).

    ``owned``: the caller gives ``state`` and ``windows`` up, and they are
    changed in place instead of copied (the worker's record cache, where a copy of every
    window touched cost 4 µs per event); every changed one is in the result.
    """
    cur = CarrierState(carrier_id) if state is None else state if owned else state.copy()
    res = FoldResult(cur, finals=cur.total_final, owned=owned)
    pending = Pending(res, windows, policy)
    seen = identities.table(cur, res, chunks, policy) if policy.counted_once else None
    for s in events:
        ev, src, off = s.event, s.source, s.offset
        fresh = not policy.counted_once or off > cur.applied.get(src, -1)
        if not fresh:
            res.republish_carrier = True
        arrival = s.arrival_ms if cur.arrival_ms is None else max(cur.arrival_ms, s.arrival_ms)
        if fresh and arrival != cur.arrival_ms:
            cur.arrival_ms = arrival
            res.carrier_changed = True
        if seen is not None and identities.is_duplicate(cur, res, seen, s, arrival=arrival,
                                                        policy=policy, fresh=fresh):
            if fresh:
                cur.applied[src] = off
                cur.counts["duplicate"] += 1
                res.results["duplicate"] += 1
                res.carrier_changed = True
            if ev.code >= 200:
                # The windows remember the decision too: a re-delivery of this duplicate
                # after its identity left the dedup window must not be added to them.
                pending.merge(wall_ms)
                _apply_to_windows(cur, res, windows, s, fresh=False, policy=policy,
                                  now_ms=now_ms if now_ms is not None else cur.max_ts_ms or
                                  ev.ts_ms, wall_ms=wall_ms, count=False)
            continue
        res.accepted.append(s)
        code = ev.code
        if fresh:
            cur.applied[src] = off
            _step_streak(cur, ev, policy)
            cur.max_ts_ms = ev.ts_ms if cur.max_ts_ms is None else max(cur.max_ts_ms, ev.ts_ms)
            res.carrier_changed = True
        late = False
        if code >= 200:
            now = now_ms if now_ms is not None else max(cur.max_ts_ms or ev.ts_ms, ev.ts_ms)
            if fresh:
                cur.codes[code] = cur.codes.get(code, 0) + 1
                res.finals += 1
                _on_final(cur, res, s, policy, now)
            late = _to_windows(pending, s, fresh=fresh, now_ms=now, wall_ms=wall_ms)
        elif fresh and cur.dest_hours and policy.destination_asr is not None:
            # A provisional response moves the stream clock too: hours leave the live
            # window at the event that moves it, however the events are batched.
            destination_asr.update(cur, res, None, policy, rule=policy.destination_asr,
                             now=now_ms if now_ms is not None else cur.max_ts_ms or ev.ts_ms)
        if fresh:
            outcome = "late" if late else "applied"
            cur.counts[outcome] += 1
            res.results[outcome] += 1
    pending.merge(wall_ms)
    _finish(cur, res, policy, now_ms, wall_ms)
    return res


def _finish(cur: CarrierState, res: FoldResult, policy: Policy, now_ms: int | None,
            wall_ms: int) -> None:
    """What a fold does once after its events: retention, the dedup window, the live
    window's short-call rule."""
    if cur.seen is not None:
        identities.expire(cur, res, policy)
    end_now = now_ms if now_ms is not None else cur.max_ts_ms
    if end_now is not None:
        _expire(cur, res, policy, end_now)
        _check_short_calls(cur, res, policy, end_now)
        if policy.destination_asr is not None and cur.dest_hours:
            destination_asr.update(cur, res, None, policy, rule=policy.destination_asr, now=end_now)
    if res.carrier_changed:
        cur.updated_ms = wall_ms


def _step_streak(cur: CarrierState, ev: SipEvent, policy: Policy) -> None:
    """The counter and the streak's cause (streak_cause.py) after one response."""
    outcome = classify(ev.code, policy.failures)
    cur.streak = step(cur.streak, ev.code, ev.ts_ms, outcome)
    if outcome is Outcome.FAILURE:
        streak_cause.add(cur.cause, ev.code, ev.customer_id)
    elif outcome is Outcome.CONNECTED and cur.cause.failures:
        cur.cause = streak_cause.Cause()


def _on_final(cur: CarrierState, res: FoldResult, s: Sourced, policy: Policy, now: int) -> None:
    """The carrier-level effects of a new final response: live ring and alert transitions."""
    ev = s.event
    live.add(cur.hours, ev.ts_ms, now, ev.code, ev.duration_ms, sums=cur.live_sums)
    # Per event, not per batch: the transitions must not depend on how events were batched.
    # Only answered calls and hours leaving the live window move the short-call share.
    if (200 <= ev.code < 300 or cur.live_sums is None
            or live.first_hour(now) != res.pruned_at):
        _check_short_calls(cur, res, policy, now)
    if policy.destination_asr is not None:
        destination_asr.update(cur, res, s, policy, rule=policy.destination_asr, now=now)
    # The rules are only asked when their condition differs from the flag (a transition).
    was, count = cur.firing.get("consecutive-failures", False), cur.streak.count
    if was != (count >= policy.threshold):
        on, alert = alerts.consecutive(was, count, policy.threshold, ev.ts_ms)
        record_transition(cur, res, "consecutive-failures", on, alert)
    was, n404 = cur.firing.get("no-404", False), cur.codes.get(404, 0)
    if was != (res.finals >= policy.min_sample and n404 == 0):
        on, alert = alerts.no_404(was, verdict(res.finals, n404, policy.min_sample), n404,
                                  policy.min_sample, ev.ts_ms)
        record_transition(cur, res, "no-404", on, alert)


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
    record_transition(cur, res, "short-calls", firing, alert)


def _apply_to_windows(cur: CarrierState, res: FoldResult, windows: Mapping[WindowId, WindowState],
                      s: Sourced, *, fresh: bool, policy: Policy, now_ms: int,
                      wall_ms: int, count: bool = True) -> bool:
    """Add a final response to its hour, day and month; True when one was past retention.

    ``count=False`` only moves the windows' offset watermarks (a duplicate)."""
    ev, src, off = s.event, s.source, s.offset
    failed = classify(ev.code, policy.failures) is Outcome.FAILURE
    rate, cost, group = _priced(ev.code, ev.duration_ms, ev.destination, policy)
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
                if failed and kind == "hour":
                    streak_cause.add(w.fails, ev.code, ev.customer_id)
                if cost is not None and rate is not None:
                    w.stats.add_cost(cost, rate.currency)
                row = w.dests.get(group)
                if row is None:
                    row = w.dests[group] = destinations.new_row()
                destinations.add(row, ev.code, ev.duration_ms, ev.pdd_ms, cost)
            w.applied[src] = off
            w.updated_ms = wall_ms
            res.windows[wid] = w
    return late


def _priced(code: int, duration_ms: int | None, destination: str | None,
            policy: Policy) -> tuple[Rate | None, int | None, str]:
    """The rate that matches a final response's destination, the call's cost (answered,
    with a duration and a rate) and its destination group."""
    rate, group = destinations.locate(policy.rates, destination)
    cost = None
    if rate is not None and duration_ms is not None and 200 <= code < 300:
        cost = cost_micros(duration_ms, rate)
    return rate, cost, group


def _to_windows(pending: Pending, s: Sourced, *, fresh: bool, now_ms: int,
                wall_ms: int) -> bool:
    """Count a final response in its windows: pending when it can be, else at once (after
    what is pending, in order); True when a window was past retention."""
    if fresh and pending.add(s, now_ms):
        return False
    pending.merge(wall_ms)
    return _apply_to_windows(pending.res.carrier, pending.res, pending.windows, s,
                             fresh=fresh, policy=pending.policy, now_ms=now_ms,
                             wall_ms=wall_ms)


class Pending:
    """A batch's fresh final responses summed per UTC hour, merged once into each hour, day
    and month (one ``Stats.add`` per event instead of three, one window update per batch)."""

    __slots__ = ("hours", "policy", "res", "windows")

    def __init__(self, res: FoldResult, windows: Mapping[WindowId, WindowState],
                 policy: Policy) -> None:
        self.res, self.windows, self.policy = res, windows, policy
        self.hours: dict[int, _Hour] = {}  # by UTC hour number

    def add(self, s: Sourced, now: int) -> bool:
        """Sum a fresh final response into its hour; False when it needs the
        event-by-event path instead (a window past retention, or one that applied it).

        A window's watermark only grows within a batch by events read before this one,
        which a fresh event's offset exceeds: comparing with the watermarks as first seen
        in the batch is exact."""
        ev, src, off, policy = s.event, s.source, s.offset, self.policy
        hour = ev.ts_ms // HOUR_MS
        h = self.hours.get(hour)
        if h is None:
            h = self.hours[hour] = _Hour(starts_of_hour(hour))
        st, oldest = h.starts, oldest_starts(now // HOUR_MS, policy.retention)
        if st[0] < oldest[0] or st[1] < oldest[1] or st[2] < oldest[2]:
            return False
        if policy.counted_once:
            bound = h.bounds.get(src)
            if bound is None:
                bound = h.bounds[src] = max(self._watermark(wid, src)
                                            for wid in zip(KINDS, st, strict=True))
            if off <= bound:
                return False
        code = ev.code
        failed = classify(code, policy.failures) is Outcome.FAILURE
        h.stats.add(code, failed, ev.duration_ms, ev.pdd_ms)
        if failed:
            streak_cause.add(h.fails, code, ev.customer_id)
        rate, cost, group = _priced(code, ev.duration_ms, ev.destination, policy)
        if cost is not None and rate is not None:
            h.stats.add_cost(cost, rate.currency)
        row = h.dests.get(group)
        if row is None:
            row = h.dests[group] = destinations.new_row()
        destinations.add(row, code, ev.duration_ms, ev.pdd_ms, cost)
        h.applied[src] = off
        return True

    def _watermark(self, wid: WindowId, src: str) -> int:
        w = self.res.windows.get(wid) or self.windows.get(wid)
        return -1 if w is None else w.applied.get(src, -1)

    def merge(self, wall_ms: int) -> None:
        """Add the sums to their windows, as ``_apply_to_windows`` would have one event at
        a time, and forget them."""
        res, cur = self.res, self.res.carrier
        for h in self.hours.values():
            if not h.applied:
                continue
            for wid in zip(KINDS, h.starts, strict=True):
                w = res.windows.get(wid) or _stored_window(res, self.windows, wid, create=True)
                assert w is not None
                if wid not in res.listed:
                    res.listed.add(wid)
                    if wid[1] not in cur.windows[wid[0]]:
                        cur.windows[wid[0]].append(wid[1])
                currency = w.stats.currency
                w.stats.merge(h.stats)
                destinations.merge(w.dests, h.dests)
                if wid[0] == "hour" and h.fails.failures:
                    streak_cause.merge(w.fails, h.fails)
                w.stats.currency = h.stats.currency or currency  # the newest, as add_cost
                for src, off in h.applied.items():
                    if off > w.applied.get(src, -1):
                        w.applied[src] = off
                w.updated_ms = wall_ms
                res.windows[wid] = w
        self.hours.clear()


class _Hour:
    __slots__ = ("applied", "bounds", "dests", "fails", "starts", "stats")

    def __init__(self, starts: tuple[int, int, int]) -> None:
        self.starts = starts
        self.stats = Stats()
        self.fails = streak_cause.Cause()
        self.dests: dict[str, destinations.Row] = {}
        self.applied: dict[str, int] = {}  # source -> newest offset summed
        self.bounds: dict[str, int] = {}  # source -> the windows' highest watermark, at first


def _stored_window(res: FoldResult, windows: Mapping[WindowId, WindowState], wid: WindowId, *,
                   create: bool) -> WindowState | None:
    """The window to change: the stored one (a copy unless the fold owns it), else a new
    one if ``create``."""
    stored = windows.get(wid)
    if stored is None:
        return WindowState() if create else None
    return stored if res.owned else stored.copy()


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
