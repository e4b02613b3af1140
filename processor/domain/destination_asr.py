"""The destination-asr alert's state: each destination group's final responses and answered
calls over the live 24 hours, kept per hour only for carriers whose registry profile turns
the alert on (``Policy.destination_asr``), and the rule asked whenever a group's figures
change (``alerts.destination_asr``)."""

from __future__ import annotations

from processor.domain import alerts, destinations, live
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, FoldResult, Policy, record_transition
from processor.domain.windows import HOUR_MS


def update(cur: CarrierState, res: FoldResult, s: Sourced | None, policy: Policy, *,
           rule: alerts.DestinationAsrRule, now: int) -> None:
    """The live window per destination group: hours that left it go (the groups they held
    are asked again, in group order), then ``s`` counts in its group, which is asked."""
    first = live.first_hour(now)
    hours, sums = cur.dest_hours, cur.dest_live
    if sums is None:  # not stored: summed from every stored hour, as before the clock moved
        sums = cur.dest_live = {}
        for groups in hours.values():
            destinations.merge(sums, groups)
    changed: set[str] = set()
    for hour in [h for h in hours if h < first]:
        for group, (attempts, answered) in hours.pop(hour).items():
            row = sums.get(group)
            if row is not None:
                row[0] -= attempts
                row[1] -= answered
                changed.add(group)
        res.carrier_changed = True
    for group in sorted(changed):  # left by the clock: stamped with the clock
        _ask(cur, res, group, sums, rule=rule, at=now)
    if s is None:
        return
    ev = s.event
    hour = ev.ts_ms - ev.ts_ms % HOUR_MS
    if hour < first:
        return
    _rate, group = destinations.locate(policy.rates, ev.destination)
    answered = 1 if 200 <= ev.code < 300 else 0
    row = hours.setdefault(hour, {}).setdefault(group, [0, 0])
    row[0] += 1
    row[1] += answered
    total = sums.setdefault(group, [0, 0])
    total[0] += 1
    total[1] += answered
    res.carrier_changed = True
    _ask(cur, res, group, sums, rule=rule, at=ev.ts_ms)


def _ask(cur: CarrierState, res: FoldResult, group: str, sums: dict[str, list[int]], *,
         rule: alerts.DestinationAsrRule, at: int) -> None:
    key = alerts.destination_key(group)
    attempts, answered = sums.get(group, (0, 0))
    firing, alert = alerts.destination_asr(cur.firing.get(key, False), group, attempts,
                                           answered, rule=rule, at_ms=at)
    record_transition(cur, res, key, firing, alert)
    if alert is not None and not firing:
        del cur.firing[key]  # resolved: a group's flag is kept only while it fires
    if attempts == 0:
        sums.pop(group, None)
