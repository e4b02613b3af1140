"""Counting final responses into a carrier's hour, day and month windows: one event at a
time (``apply_to_windows``), or summed per (carrier, hour) within a batch and merged once
into the three windows (``Pending``); both give the same windows. Each window counts the
summary's figures, the destination groups' rows, and for the hour (and day) windows the
failures by class and customer (``streak_cause``) and answer supervision (``fas``).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import add as add_

from processor.domain import destinations, fas, live, outcomes, streak_cause
from processor.domain.codes import Outcome, classify
from processor.domain.events import SipEvent, Sourced
from processor.domain.model import CarrierState, FoldResult, Policy, WindowId, WindowState
from processor.domain.rates import Rate, cost_micros
from processor.domain.summary import Stats
from processor.domain.windows import HOUR_MS, KINDS, oldest_starts, starts_of_hour


def apply_to_windows(cur: CarrierState, res: FoldResult, windows: Mapping[WindowId, WindowState],
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
                _count_in(w, kind, ev, failed, (rate, cost, group))
            w.applied[src] = off
            w.updated_ms = wall_ms
            res.windows[wid] = w
    return late


def _count_in(w: WindowState, kind: str, ev: SipEvent, failed: bool,
              priced: tuple[Rate | None, int | None, str]) -> None:
    """One final response into one window, event by event (``Pending`` sums them)."""
    rate, cost, group = priced
    w.stats.add(ev.code, failed, ev.duration_ms, ev.pdd_ms)
    if failed and kind == "hour":
        streak_cause.add(w.fails, ev.code, ev.customer_id)
    elif 200 <= ev.code < 300 and kind != "month":
        if not w.fas:
            w.fas = fas.new_row()
        fas.add(w.fas, ev.code, ev.duration_ms, ev.pdd_ms, answer_ms=ev.answer_ms,
                ringing=ev.ringing)
    if cost is not None and rate is not None:
        w.stats.add_cost(cost, rate.currency)
    row = w.dests.get(group)
    if row is None:
        row = w.dests[group] = destinations.new_row()
    destinations.add(row, ev.code, ev.duration_ms, ev.pdd_ms, cost)


def _priced(code: int, duration_ms: int | None, destination: str | None,
            policy: Policy) -> tuple[Rate | None, int | None, str]:
    """The rate that matches a final response's destination, the call's cost (answered,
    with a duration and a rate) and its destination group."""
    rate, group = destinations.locate(policy.rates, destination)
    cost = None
    if rate is not None and duration_ms is not None and 200 <= code < 300:
        cost = cost_micros(duration_ms, rate)
    return rate, cost, group


def to_windows(pending: Pending, s: Sourced, *, fresh: bool, now_ms: int,
                wall_ms: int) -> bool:
    """Count a final response in its windows: pending when it can be, else at once (after
    what is pending, in order); True when a window was past retention."""
    if fresh and pending.add(s, now_ms):
        return False
    pending.merge(wall_ms)
    return apply_to_windows(pending.res.carrier, pending.res, pending.windows, s,
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
            streak_cause.count(h.fails, code, ev.customer_id)
        elif 200 <= code < 300:
            if not h.fas:
                h.fas = fas.new_row()
            fas.add(h.fas, code, ev.duration_ms, ev.pdd_ms, answer_ms=ev.answer_ms,
                    ringing=ev.ringing)
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
                if h.fas and wid[0] != "month":
                    w.fas = list(map(add_, w.fas, h.fas)) if w.fas else list(h.fas)
                w.stats.currency = h.stats.currency or currency  # the newest, as add_cost
                for src, off in h.applied.items():
                    if off > w.applied.get(src, -1):
                        w.applied[src] = off
                w.updated_ms = wall_ms
                res.windows[wid] = w
        self.hours.clear()


class _Hour:
    __slots__ = ("applied", "bounds", "dests", "fails", "fas", "starts", "stats")

    def __init__(self, starts: tuple[int, int, int]) -> None:
        self.starts = starts
        self.stats = Stats()
        self.fails = streak_cause.Cause()
        self.fas: list[int] = []
        self.dests: dict[str, destinations.Row] = {}
        self.applied: dict[str, int] = {}  # source -> newest offset summed
        self.bounds: dict[str, int] = {}  # source -> the windows' highest watermark, at first


def fact_to_windows(cur: CarrierState, res: FoldResult,
                    windows: Mapping[WindowId, WindowState], fin: outcomes.FactIn, *,
                    policy: Policy, now_ms: int, wall_ms: int) -> None:
    """A call's outcome for this carrier (``outcomes.Fact``) into the live ring and its
    hour, day and month, each once (the source's offset watermark, as for events)."""
    f, src, off = fin.fact, fin.source, fin.offset
    if off > cur.applied.get(src, -1):
        cur.applied[src] = off
        res.carrier_changed = True
        live.add_rescues(cur.hours, f.ts_ms, now_ms, int(f.rescued_elsewhere is not None),
                         int(f.rescued_here), sums=cur.live_sums)
    starts = starts_of_hour(f.ts_ms // HOUR_MS)
    oldest = oldest_starts(now_ms // HOUR_MS, policy.retention)
    for i, kind in enumerate(KINDS):
        if starts[i] < oldest[i]:
            continue  # past retention
        wid = (kind, starts[i])
        w = res.windows.get(wid) or _stored_window(res, windows, wid, create=True)
        assert w is not None
        if off <= w.applied.get(src, -1):
            continue
        if wid not in res.listed:
            res.listed.add(wid)
            if starts[i] not in cur.windows[kind]:
                cur.windows[kind].append(starts[i])
        if not w.fo:
            w.fo = [0] * outcomes.WIDTH
        outcomes.count(w.fo, w.fp, f)
        w.applied[src] = off
        w.updated_ms = wall_ms
        res.windows[wid] = w


def _stored_window(res: FoldResult, windows: Mapping[WindowId, WindowState], wid: WindowId, *,
                   create: bool) -> WindowState | None:
    """The window to change: the stored one (a copy unless the fold owns it), else a new
    one if ``create``."""
    stored = windows.get(wid)
    if stored is None:
        return WindowState() if create else None
    return stored if res.owned else stored.copy()
