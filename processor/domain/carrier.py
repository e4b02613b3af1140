"""The per-carrier fold: a batch of one carrier's events into its state and windows.

``fold`` copies what it changes (or, given ``owned``, changes it in place) and returns the
new values with a list of what changed. Every state key (the carrier, each window)
remembers the last source offset it applied per "topic:partition", so a message
re-delivered after a restart is skipped by exactly the keys that already counted it,
whatever was persisted before a crash. Duplicates are told in ``identities.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from processor.domain import (
    alerts,
    dedup,
    destination_asr,
    fas_fold,
    identities,
    live,
    outcomes,
    streak_cause,
    window_counts,
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
from processor.domain.windows import (
    HOUR_MS,
    KINDS,
    oldest_retained,
    starts_of_hour,
)


def keys_needed(events: Sequence[Sourced],
                facts: Sequence[outcomes.FactIn] = ()) -> set[WindowId]:
    """The window keys a fold of ``events`` and ``facts`` reads (those the carrier lists
    as stored)."""
    hours = {s.event.ts_ms // HOUR_MS for s in events if s.event.code >= 200}
    hours.update(f.fact.ts_ms // HOUR_MS for f in facts)
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
    facts: Sequence[outcomes.FactIn] = (),
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

    ``facts``: what ended calls say of this carrier (``outcomes.py``), counted after the
    events.
    """
    cur = CarrierState(carrier_id) if state is None else state if owned else state.copy()
    res = FoldResult(cur, finals=cur.total_final, owned=owned)
    pending = window_counts.Pending(res, windows, policy)
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
                window_counts.apply_to_windows(
                    cur, res, windows, s, fresh=False, policy=policy,
                    now_ms=now_ms if now_ms is not None else cur.max_ts_ms or ev.ts_ms,
                    wall_ms=wall_ms, count=False)
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
            late = window_counts.to_windows(pending, s, fresh=fresh, now_ms=now,
                                            wall_ms=wall_ms)
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
    for fin in facts:
        window_counts.fact_to_windows(
            cur, res, windows, fin, policy=policy,
            now_ms=now_ms if now_ms is not None else cur.max_ts_ms or fin.fact.ts_ms,
            wall_ms=wall_ms)
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
        fas_fold.check(cur, res, policy.fas, end_now)
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
    in_live = live.add(cur.hours, ev.ts_ms, now, ev.code, ev.duration_ms, sums=cur.live_sums)
    # Per event, not per batch: the transitions must not depend on how events were batched.
    # Only answered calls and hours leaving the live window move the short-call share.
    if (200 <= ev.code < 300 or cur.live_sums is None
            or live.first_hour(now) != res.pruned_at):
        _check_short_calls(cur, res, policy, now)
    fas_fold.add(cur, ev, in_live=in_live, now_ms=now)
    fas_fold.check(cur, res, policy.fas, ev.ts_ms)
    if policy.destination_asr is not None:
        destination_asr.update(cur, res, s, policy, rule=policy.destination_asr, now=now)
    # The rules are only asked when their condition differs from the flag (a transition).
    was, count = cur.firing.get("consecutive-failures", False), cur.streak.count
    if was != (count >= policy.threshold):
        on, alert = alerts.consecutive(was, count, policy.threshold, ev.ts_ms)
        if alert is not None and on:
            alert = replace(alert, explanation=streak_cause.explain(
                streak_cause.record(cur.cause), count))
        record_transition(cur, res, "consecutive-failures", on, alert)
    was, n404 = cur.firing.get("no-404", False), cur.codes.get(404, 0)
    if was != (res.finals >= policy.min_sample and n404 == 0):
        on, alert = alerts.no_404(was, verdict(res.finals, n404, policy.min_sample), n404,
                                  policy.min_sample, ev.ts_ms)
        record_transition(cur, res, "no-404", on, alert)


def _check_short_calls(cur: CarrierState, res: FoldResult, policy: Policy, now: int) -> None:
    first = live.first_hour(now)
    hours = cur.hours
    dropped: list[tuple[int, list[int]]] = []
    if first != res.pruned_at:
        dropped = live.prune(hours, now) if hours and min(hours) < first else []
        # The hours leaving feed the FAS baseline, and its old days leave it.
        if fas_fold.pruned(cur, dropped, now):
            res.carrier_changed = True
    res.pruned_at = first  # ``live.add`` adds no hour before it: no need to look again
    if cur.live_sums is None:
        cur.live_sums = live.total(list(cur.hours.values()))
    else:
        for _, row in dropped:
            for i, n in enumerate(row):
                cur.live_sums[i] -= n
    t = cur.live_sums  # every row left is inside the live window of ``now``
    firing, alert = alerts.short_calls(cur.firing.get("short-calls", False), t[live.SHORT],
                                       t[live.ANSWERED], policy.short_calls, now)
    record_transition(cur, res, "short-calls", firing, alert)


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
