"""False answer supervision in the carrier's fold: what the ``fas-suspect`` alert is judged
on, kept in the carrier's state so every final response can be judged without reading a
window (``fas.py`` says what is judged and how).

- **the live ring** (``CarrierState.fas_hours``): per hour of the live 24 hours that had an
  answer, its ``fas`` row; with the live ring of ``live.py`` (attempts, answered, ACD) it
  makes the live window's figures;
- **the baseline** (``CarrierState.fas_days``): per UTC day, the attempts, answers,
  durations and short calls of the hours before the live window. An hour joins it when it
  leaves the live window, or at once for a response older than the live window; a day
  leaves it once it ends more than ``BASE_DAYS`` days before the live window starts. So
  the baseline is every final response from the UTC midnight 7 days before the live
  window's first hour up to that hour: 7 to 8 days, in 8 small rows.

The running sums of both (``fas_live``, ``fas_base``) are not stored; they are summed
again after a load. ``figures`` sums them from the rows as of any clock, for the records
and the API; the fold's running sums give the same figures (a test says so).
"""

from __future__ import annotations

from typing import Any

from processor.domain import fas, live
from processor.domain.alerts import Alert
from processor.domain.events import SipEvent
from processor.domain.model import CarrierState, FoldResult, record_transition
from processor.domain.windows import DAY_MS, HOUR_MS, LIVE_HOURS

FAS_SUSPECT = "fas-suspect"
BASE_DAYS = 7
# A baseline day's row
B_ATTEMPTS, B_ANSWERED, B_DURATION_MS, B_DURATION_N, B_SHORT_6, B_SHORT_15 = range(6)
B_WIDTH = 6


def base_start(now_ms: int) -> int:
    """The first instant of the baseline as of ``now_ms``."""
    t = live.first_hour(now_ms) - BASE_DAYS * DAY_MS
    return t - t % DAY_MS


def _base_row(ring_row: list[int] | None, fas_row: list[int] | None) -> list[int]:
    out = [0] * B_WIDTH
    if ring_row is not None:
        out[B_ATTEMPTS] = ring_row[live.ATTEMPTS]
        out[B_ANSWERED] = ring_row[live.ANSWERED]
        out[B_DURATION_MS] = ring_row[live.DURATION_MS]
        out[B_DURATION_N] = ring_row[live.DURATION_N]
    if fas_row:
        out[B_SHORT_6] = fas_row[fas.SHORT_6]
        out[B_SHORT_15] = fas_row[fas.SHORT_15]
    return out


def _into_day(cur: CarrierState, hour: int, row: list[int]) -> None:
    day = hour - hour % DAY_MS
    have = cur.fas_days.get(day)
    if have is None:
        cur.fas_days[day] = row
    else:
        for i, n in enumerate(row):
            have[i] += n
    cur.fas_base = None


def add(cur: CarrierState, ev: SipEvent, *, in_live: bool, now_ms: int) -> None:
    """One new final response (``in_live``: ``live.add`` counted it in the live ring)."""
    ts_ms, code, duration_ms, pdd_ms = ev.ts_ms, ev.code, ev.duration_ms, ev.pdd_ms
    answered = 200 <= code < 300
    if in_live:
        if not answered:
            return
        hour = ts_ms - ts_ms % HOUR_MS
        row = cur.fas_hours.get(hour)
        if row is None:
            row = cur.fas_hours[hour] = fas.new_row()
        fas.add(row, code, duration_ms, pdd_ms, answer_ms=ev.answer_ms, ringing=ev.ringing)
        if cur.fas_live is not None:
            fas.add(cur.fas_live, code, duration_ms, pdd_ms, answer_ms=ev.answer_ms,
                    ringing=ev.ringing)
        return
    if ts_ms < base_start(now_ms):
        return
    ring_row = live.counters(code, duration_ms)
    fas_row = None
    if answered:
        fas_row = fas.new_row()
        fas.add(fas_row, code, duration_ms, pdd_ms, answer_ms=None, ringing=None)
    _into_day(cur, ts_ms - ts_ms % HOUR_MS, _base_row(ring_row, fas_row))


def pruned(cur: CarrierState, dropped: list[tuple[int, list[int]]], now_ms: int) -> bool:
    """The live ring dropped these hours (``live.prune``): they join the baseline, whose
    days past it leave; True when something changed."""
    first, oldest = live.first_hour(now_ms), base_start(now_ms)
    changed = False
    for hour, ring_row in dropped:
        fas_row = cur.fas_hours.pop(hour, None)
        if fas_row is not None and cur.fas_live is not None:
            for i, n in enumerate(fas_row):
                cur.fas_live[i] -= n
        if hour >= oldest:
            _into_day(cur, hour, _base_row(ring_row, fas_row))
        changed = True
    if cur.fas_hours and min(cur.fas_hours) < first:  # hours not in the ring (not expected)
        for hour in [h for h in cur.fas_hours if h < first]:
            row = cur.fas_hours.pop(hour)
            cur.fas_live = None
            if hour >= oldest:
                _into_day(cur, hour, _base_row(None, row))
        changed = True
    if not cur.fas_days or min(cur.fas_days) >= oldest:
        return changed
    for day in [d for d in cur.fas_days if d < oldest]:
        del cur.fas_days[day]
        cur.fas_base = None
        changed = True
    return changed


def _live_figures(sums: list[int], row: list[int]) -> fas.Figures:
    return fas.Figures(sums[live.ATTEMPTS], sums[live.ANSWERED], sums[live.DURATION_MS],
                       sums[live.DURATION_N], row)


def _base_figures(base: list[int]) -> fas.Figures:
    row = fas.new_row()
    row[fas.SHORT_6], row[fas.SHORT_15] = base[B_SHORT_6], base[B_SHORT_15]
    return fas.Figures(base[B_ATTEMPTS], base[B_ANSWERED], base[B_DURATION_MS],
                       base[B_DURATION_N], row)


def _sum(rows: list[list[int]], width: int) -> list[int]:
    """Baseline rows summed (``fas.total`` sums the FAS rows)."""
    out = [0] * width
    for r in rows:
        for i, n in enumerate(r):
            out[i] += n
    return out


def check(cur: CarrierState, res: FoldResult, rule: fas.FasRule, at_ms: int) -> None:
    """The ``fas-suspect`` alert after a final response (or an hour leaving the live
    window); ``cur.live_sums`` is up to date."""
    sums = cur.live_sums
    was = cur.firing.get(FAS_SUSPECT, False)
    if sums is None or (not was and sums[live.ANSWERED] < rule.min_answered):
        return  # the common case of a small carrier: no verdict to change
    if cur.fas_live is None:
        cur.fas_live = fas.total(cur.fas_hours.values())
    if cur.fas_base is None:
        cur.fas_base = _sum(list(cur.fas_days.values()), B_WIDTH)
    now_live, base = _live_figures(sums, cur.fas_live), _base_figures(cur.fas_base)
    suspect = fas.verdict(now_live, base, rule, was) == FAS_SUSPECT
    if suspect == was:
        return
    judged = fas.judge(now_live, base, rule, was)
    record_transition(cur, res, FAS_SUSPECT, suspect,
                      Alert(FAS_SUSPECT, "firing" if suspect else "resolved", judged["score"],
                            0.5 if suspect else rule.resolve_score, at_ms,
                            explanation=fas.explain(now_live.signals(), base.signals(),
                                                    judged)))


def figures(cur: CarrierState, now_ms: int) -> tuple[fas.Figures, fas.Figures]:
    """The live window's and the baseline's figures as of ``now_ms``, from the rows (hours
    the fold has not pruned yet count where they belong by then)."""
    first, oldest = live.first_hour(now_ms), base_start(now_ms)
    ring = [r for h, r in cur.hours.items() if h >= first]
    sums = live.total(ring)
    row = fas.total(r for h, r in cur.fas_hours.items() if h >= first)
    base_rows = [r for d, r in cur.fas_days.items() if d >= oldest]
    base_rows += [_base_row(r, cur.fas_hours.get(h)) for h, r in cur.hours.items()
                  if oldest <= h < first]
    return _live_figures(sums, row), _base_figures(_sum(base_rows, B_WIDTH))


def anomalies(cur: CarrierState, rule: fas.FasRule, now_ms: int) -> dict[str, Any]:
    """The live window against the baseline as of ``now_ms``: signals, baseline, score,
    parts, verdict and explanation (``fas.anomalies``), with the spans they cover."""
    now_live, base = figures(cur, now_ms)
    out = fas.anomalies(now_live, base, rule, cur.firing.get(FAS_SUSPECT, False))
    first = live.first_hour(now_ms)
    out["live_from_ms"], out["live_to_ms"] = first, first + LIVE_HOURS * HOUR_MS
    out["baseline_from_ms"] = base_start(now_ms)
    return out
