"""The output records of contract §3, built from state. Pure: the caller stamps the time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from processor.domain import destinations, fas_fold, streak_cause
from processor.domain.alerts import Alert
from processor.domain.consistency import verdict
from processor.domain.model import CarrierState, Policy
from processor.domain.summary import Stats, figures, total
from processor.domain.windows import (
    HOUR_MS,
    LIVE_HOURS,
    bound_iso,
    iso,
    stamp_iso,
    window_end,
    window_start,
)


def _ts(ms: int | None) -> str | None:
    return iso(ms) if ms is not None else None


def consecutive_failures(c: CarrierState, policy: Policy, updated_ms: int) -> dict[str, Any]:
    s = c.streak
    return {
        "carrier_id": c.carrier_id,
        "consecutive_failures": s.count,
        "max_consecutive_failures": s.max_count,
        "streak_started_at": _ts(s.started_ms),
        "last_code": s.last_code,
        "last_event_at": _ts(s.last_event_ms),
        "last_connected_at": _ts(s.last_connected_ms),
        "threshold": policy.threshold,
        "alerting": s.count >= policy.threshold,
        "streak": streak_cause.record(c.cause),
        "updated_at": stamp_iso(updated_ms),
    }


def anomalies(c: CarrierState, policy: Policy, now_ms: int, updated_ms: int) -> dict[str, Any]:
    """False answer supervision over the live window (``carrier.anomalies``, the
    ``anomalies`` of ``GET /carriers/{id}``): signals, baseline, score, verdict and why."""
    a = fas_fold.anomalies(c, policy.fas, now_ms)
    rule = policy.fas
    return {
        "carrier_id": c.carrier_id,
        "live_from": iso(a["live_from_ms"]),
        "live_to": iso(a["live_to_ms"]),
        "baseline_from": iso(a["baseline_from_ms"]),
        "baseline_to": iso(a["live_from_ms"]),
        "signals": a["signals"],
        "baseline": a["baseline"],
        "score": a["score"],
        "parts": a["parts"],
        "verdict": a["verdict"],
        "explanation": a["explanation"],
        "thresholds": {"min_answered": rule.min_answered,
                       "short_ratio_factor": rule.short_ratio_factor,
                       "instant_share": rule.instant_share, "no_ring_share": rule.no_ring_share,
                       "resolve_score": rule.resolve_score},
        "alerting": c.firing.get(fas_fold.FAS_SUSPECT, False),
        "updated_at": stamp_iso(updated_ms),
    }


def code_consistency(c: CarrierState, policy: Policy, updated_ms: int) -> dict[str, Any]:
    t200, t404, final = c.codes.get(200, 0), c.codes.get(404, 0), c.total_final
    return {
        "carrier_id": c.carrier_id,
        "total_final": final,
        "total_200": t200,
        "total_404": t404,
        "codes": {str(k): c.codes[k] for k in sorted(c.codes)},
        "ratio_404": t404 / (t200 + t404) if t200 + t404 else None,
        "verdict": verdict(final, t404, policy.min_sample),
        "updated_at": stamp_iso(updated_ms),
    }


def summary(carrier_id: str, kind: str, start_ms: int, stats: Stats,
            updated_ms: int) -> dict[str, Any]:
    return {
        "carrier_id": carrier_id,
        "window": kind,
        "start": bound_iso(start_ms),
        "end": bound_iso(window_end(kind, start_ms)),
        **figures(stats),
        "updated_at": stamp_iso(updated_ms),
    }


def live(carrier_id: str, now_ms: int, hours: Iterable[Stats], updated_ms: int) -> dict[str, Any]:
    """The rolling view: the 24 hourly windows ending with the current hour, summed."""
    end = window_start("hour", now_ms) + HOUR_MS
    rec = summary(carrier_id, "hour", end - LIVE_HOURS * HOUR_MS, total(hours), updated_ms)
    rec["window"] = "live"
    rec["end"] = bound_iso(end)
    return rec


def destination_groups(carrier_id: str, kind: str, start_ms: int, end_ms: int,
                       groups: Mapping[str, destinations.Row], *, currency: str | None,
                       top: int, updated_ms: int) -> dict[str, Any]:
    """A window's quality per destination group (``carrier.destinations``): the busiest
    ``top`` groups, then ``other`` with the rest (``other_groups``: how many it folds)."""
    shown, folded = destinations.busiest(groups, top)
    return {
        "carrier_id": carrier_id,
        "window": kind,
        "start": bound_iso(start_ms),
        "end": bound_iso(end_ms),
        "destinations": [destinations.figures(g, row, currency) for g, row in shown],
        "other_groups": folded,
        "updated_at": stamp_iso(updated_ms),
    }


def firing_alerts(c: CarrierState, policy: Policy, contacts: list[dict[str, str | None]],
                  now_ms: int | None, updated_ms: int) -> list[dict[str, Any]]:
    """The alerts a carrier's state has firing, as alert records whose figure is not
    known (``value`` and ``threshold`` None), with the explanation the state gives now."""
    out = []
    for key, on in sorted(c.firing.items()):
        if not on:
            continue
        kind, _, group = key.partition("|")
        explanation = None
        if kind == "consecutive-failures":
            explanation = streak_cause.explain(streak_cause.record(c.cause), c.streak.count)
        elif kind == fas_fold.FAS_SUSPECT and now_ms is not None:
            explanation = fas_fold.anomalies(c, policy.fas, now_ms)["explanation"]
        at = c.firing_since.get(key, updated_ms)
        out.append(alert(c.carrier_id, Alert(kind, "firing", 0, 0, at, group or None,
                                             explanation), contacts, updated_ms)
                   | {"value": None, "threshold": None})
    return out


def alert(carrier_id: str, a: Alert, contacts: list[dict[str, str | None]],
          updated_ms: int) -> dict[str, Any]:
    """One alert transition (contract §3 carrier.alerts)."""
    return {
        "carrier_id": carrier_id,
        "kind": a.kind,
        "state": a.state,
        "value": a.value,
        "threshold": a.threshold,
        "at": iso(a.at_ms),
        "contacts": contacts,
        "updated_at": stamp_iso(updated_ms),
        **({"group": a.group} if a.group is not None else {}),
        **({"explanation": a.explanation} if a.explanation is not None else {}),
    }
