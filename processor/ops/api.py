"""The HTTP API's answers, independent of the web framework: (status, JSON-able body)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from processor.domain import calllog, destinations, live, outcomes, records, streak_cause
from processor.domain import latest as latest_calls
from processor.domain.consistency import verdict
from processor.domain.model import CarrierState, Policy, WindowState
from processor.domain.rates import MICROS, Rate
from processor.domain.summary import Stats
from processor.domain.windows import HOUR_MS, KINDS, LIVE_HOURS, iso, live_hours, window_end
from processor.engine.profiles import Profiles
from processor.engine.view import CarrierRow
from processor.errors import CarrierwatchError
from processor.io import codec
from processor.io.stored import KeyValues, OrderedKeyValues, load_carrier, load_window

WINDOW_CHOICES = (*KINDS, "live")
MAX_LIMIT = 10_000
CALLS_PAGE = 100  # calls per page of the call log, unless ``limit`` says


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def rate_json(r: Rate) -> dict[str, Any]:
    """A rate card line as the carrier page shows it."""
    return {"prefix": r.prefix, "per_minute": r.per_minute_micros / MICROS,
            "currency": r.currency, "increment_s": r.increment_s, "minimum_s": r.minimum_s}


class BadRequest(CarrierwatchError, ValueError):
    """A parameter is wrong (HTTP 400); the message says which and why."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def not_found(carrier_id: str) -> Reply:
    return Reply(404, {"error": "unknown-carrier",
                       "detail": f"no carrier {carrier_id!r} in this processor's state"})


def parse_time(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return codec.parse_ts(int(raw) if raw.lstrip("-").isdigit() else raw)
    except codec.Invalid as bad:
        raise BadRequest(f"{name}: {bad.rejected.detail}") from None


def parse_limit(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def time_range(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``from`` and ``to`` of a query (RFC 3339 or epoch ms; None: no bound), from first."""
    since, until = parse_time("from", query.get("from")), parse_time("to", query.get("to"))
    if since is not None and until is not None and since >= until:
        raise BadRequest("from must be before to")
    return since, until


def call_query(query: Mapping[str, str]) -> calllog.Query:
    """The call log's filters (``from``, ``to``, ``code``, ``customer``, ``destination``,
    ``cursor``) from a request's query."""
    since, until = time_range(query)
    try:
        codes, classes = (calllog.parse_codes(query["code"]) if query.get("code")
                          else (None, frozenset[int]()))
        cursor = query.get("cursor")
        after = calllog.decode_cursor(cursor) if cursor else None
    except calllog.BadQuery as bad:
        raise BadRequest(str(bad)) from None
    customer = query.get("customer") or None
    if customer is not None and len(customer) > 128:
        raise BadRequest("customer: at most 128 characters")
    destination = query.get("destination") or None
    if destination is not None:
        destination = destination.removeprefix("+")
        if not destination.isdigit() or len(destination) > 32:
            raise BadRequest(f"destination: expected a prefix of digits, got "
                             f"{query['destination'][:40]!r}")
    return calllog.Query(since, until, codes if codes or classes else None, classes,
                         customer, destination, after)


def window_query(query: Mapping[str, str], default: str) -> tuple[str, int | None, int | None]:
    """``window`` (one of WINDOW_CHOICES), ``from`` and ``to`` of a listing's query."""
    window = query.get("window", default)
    if window not in WINDOW_CHOICES:
        raise BadRequest(f"window: expected one of {', '.join(WINDOW_CHOICES)}, "
                         f"got {window!r}")
    return (window, *time_range(query))


class CarrierApi:
    """Reads the tables (this worker's partitions) and answers API requests."""

    def __init__(self, *, carriers: KeyValues, windows: KeyValues, latest: OrderedKeyValues,
                 profiles: Profiles,
                 now_for: Callable[[CarrierState], int | None], default_latest: int,
                 now_for_row: Callable[[CarrierRow], int | None] = lambda _: None,
                 call_log: calllog.Limits | None = None) -> None:
        """``latest``: the latest-calls table, which holds the call log too;
        ``call_log``: what the log keeps (None: the worker keeps none)."""
        self._now_for_row = now_for_row
        self._call_log = call_log
        self._carriers = carriers
        self._windows = windows
        self._latest = latest
        self._profiles = profiles
        self._now_for = now_for
        self._default_latest = default_latest

    def _state(self, cid: str) -> CarrierState | None:
        return load_carrier(self._carriers, cid)

    def _window(self, cid: str, kind: str, start: int) -> WindowState | None:
        return load_window(self._windows, cid, kind, start)

    def carriers(self, rows: Iterable[CarrierRow]) -> Reply:
        out = []
        for row in sorted(rows, key=lambda r: r.carrier_id):
            cid = row.carrier_id
            policy, profile = self._profiles.policy_and_profile(cid)
            final, t404 = sum(row.codes.values()), row.codes.get(404, 0)
            now = self._now_for_row(row)
            t = live.totals(row.hours, now) if now is not None else [0] * live.WIDTH
            out.append({"carrier_id": cid,
                        "name": profile.name if profile else None,
                        "consecutive_failures": row.consecutive,
                        "total_final": final,
                        "total_404": t404,
                        "verdict": verdict(final, t404, policy.min_sample),
                        "live_attempts": t[live.ATTEMPTS],
                        "live_asr": ratio(t[live.ANSWERED], t[live.ATTEMPTS]),
                        "live_acd_s": (t[live.DURATION_MS] / t[live.DURATION_N] / 1000
                                       if t[live.DURATION_N] else None),
                        "alerts_firing": sorted(k for k, v in row.firing.items() if v)})
        return Reply(200, {"carriers": out})

    def status(self, cid: str) -> Reply:
        state = self._state(cid)
        if state is None:
            return not_found(cid)
        policy, profile = self._profiles.policy_and_profile(cid)
        return Reply(200, {
            "carrier_id": cid,
            "name": profile.name if profile else None,
            "contacts": self._profiles.contacts(cid),
            "rates": [rate_json(r) for r in profile.rates] if profile else [],
            "consecutive_failures": (cf := records.consecutive_failures(state, policy,
                                                                       state.updated_ms)),
            # The streak's cause in words (issue 31), for people and alert annotations.
            "streak_explained": streak_cause.explain(cf["streak"], state.streak.count),
            "code_consistency": records.code_consistency(state, policy, state.updated_ms),
            "live": self._live(state, found := self._live_windows(state)),
            "failures_live": self._failures_live(found[1]),
            "anomalies": self._anomalies(state, found[0]),
            "alerts_firing": sorted(k for k, v in state.firing.items() if v),
            # When each firing alert started (absent for states stored before it was kept).
            "alerts_since": {k: iso(at) for k, at in sorted(state.firing_since.items())
                             if state.firing.get(k)},
        })

    def _policy(self, cid: str) -> Policy:
        return self._profiles.policy_for(cid)

    def _live_windows(self, state: CarrierState) -> tuple[int | None, list[WindowState]]:
        """The carrier's clock and the stored hour windows of its live 24 hours."""
        now = self._now_for(state)
        if now is None:
            return None, []
        return now, [w for start in live_hours(now)
                     if (w := self._window(state.carrier_id, "hour", start)) is not None]

    def _live(self, state: CarrierState,
              found: tuple[int | None, list[WindowState]] | None = None) -> dict[str, Any] | None:
        """The live record (``found``: ``_live_windows`` already read)."""
        now, hours = found or self._live_windows(state)
        if now is None:
            return None
        return records.live(state.carrier_id, now, [w.stats for w in hours], state.updated_ms)

    def _anomalies(self, state: CarrierState, now: int | None) -> dict[str, Any] | None:
        """False answer supervision (issue 31) as of the carrier's clock."""
        if now is None:
            return None
        return records.anomalies(state, self._policy(state.carrier_id), now, state.updated_ms)

    def _failures_live(self, hours: list[WindowState]) -> dict[str, Any]:
        """The live window's failures by class and customer (issue 31; ``hours``: its
        stored hour windows), with the verdict the streak's rules give them."""
        total = streak_cause.Cause()
        for w in hours:
            streak_cause.merge(total, w.fails)
        return streak_cause.record(total)

    def summary(self, cid: str, query: Mapping[str, str]) -> Reply:
        window, since, until = window_query(query, "day")
        state = self._state(cid)
        if state is None:
            return not_found(cid)
        if window == "live":
            live = self._live(state)
            return Reply(200, {"carrier_id": cid, "window": "live",
                               "summaries": [live] if live else []})
        out = []
        for start in sorted(state.windows[window]):
            end = window_end(window, start)
            if (since is not None and end <= since) or (until is not None and start >= until):
                continue
            w = self._window(cid, window, start)
            stats = w.stats if w is not None else Stats()
            out.append(records.summary(cid, window, start, stats,
                                       w.updated_ms if w else state.updated_ms))
        return Reply(200, {"carrier_id": cid, "window": window, "summaries": out})

    def destinations(self, cid: str, query: Mapping[str, str]) -> Reply:
        """Quality per destination group: the live 24 hours (default), or each hour, day
        or month window in [from, to); per window the busiest groups first, then
        ``other``."""
        window, since, until = window_query(query, "live")
        state = self._state(cid)
        if state is None:
            return not_found(cid)
        policy = self._policy(cid)
        if window == "live":
            now, hours = self._live_windows(state)
            if now is None:
                return Reply(200, {"carrier_id": cid, "window": "live", "destinations": []})
            end = window_end("hour", live_hours(now)[-1])
            found = [(end - LIVE_HOURS * HOUR_MS, destinations.total(w.dests for w in hours),
                      next((w.stats.currency for w in hours if w.stats.currency), None))]
        else:
            found = [(start, w.dests, w.stats.currency)
                     for start, w in self._windows_in(state, window, since, until)]
        out = []
        for start, groups, currency in found:
            shown, _ = destinations.busiest(groups, policy.destinations_top)
            out += [{**destinations.figures(g, row, currency), "start": iso(start)}
                    for g, row in shown]
        return Reply(200, {"carrier_id": cid, "window": window, "destinations": out})

    def _windows_in(self, state: CarrierState, window: str, since: int | None,
                    until: int | None) -> list[tuple[int, WindowState]]:
        """The carrier's stored ``window`` windows overlapping [since, until)."""
        out = []
        for start in sorted(state.windows[window]):
            end = window_end(window, start)
            if (since is not None and end <= since) or (until is not None and start >= until):
                continue
            w = self._window(state.carrier_id, window, start)
            if w is not None:
                out.append((start, w))
        return out

    def failover(self, cid: str, query: Mapping[str, str]) -> Reply:
        """Where this carrier's failed calls went (issue 32): per window (the live 24 hours
        by default, or each hour, day or month in [from, to)), its calls and their ASR
        beside its attempts', calls rescued elsewhere and here, and the top pairs."""
        window, since, until = window_query(query, "live")
        state = self._state(cid)
        if state is None:
            return not_found(cid)
        if window == "live":
            now, hours = self._live_windows(state)
            found = [] if now is None else [(live_hours(now)[0], hours)]
        else:
            found = [(start, [w]) for start, w in self._windows_in(state, window, since, until)]
        out = []
        for start, ws in found:
            row, pairs = outcomes.total((w.fo, w.fp) for w in ws if w.fo)
            out.append({"start": iso(start), **outcomes.figures(
                row, pairs, sum(w.stats.attempts for w in ws),
                sum(w.stats.answered for w in ws))})
        return Reply(200, {"carrier_id": cid, "window": window, "failover": out})

    def latest_calls(self, cid: str, query: Mapping[str, str]) -> Reply:
        limit = parse_limit(query.get("limit"), self._default_latest)
        if self._state(cid) is None:
            return not_found(cid)
        raw = self._latest.get(cid.encode())
        kept = latest_calls.stored_calls(cid, latest_calls.decode_head(raw) if raw else None,
                                         self._latest.get)
        # The last N received, shown newest first by event time (arrival may be out of order).
        return Reply(200, {"carrier_id": cid, "calls": latest_calls.shown(kept, limit)})

    def calls(self, cid: str, query: Mapping[str, str], *, whole: bool = False) -> Reply:
        """The call log: a page of final responses in [from, to), newest first, with the
        cursor of the next page (None: the last page) and the carrier's clock (``as_of``:
        where "the last hour" ends). ``whole``: every call of the range (an export),
        unless ``limit`` says otherwise."""
        q = call_query(query)
        limit = (parse_limit(query.get("limit"), CALLS_PAGE) if query.get("limit") or not whole
                 else None)
        state = self._state(cid)
        if state is None:
            return not_found(cid)
        now = self._now_for(state)
        if self._call_log is None or now is None:
            return Reply(200, {"carrier_id": cid, "as_of": None, "calls": [], "next": None})
        cutoff = self._call_log.cutoff(now)  # expired, if not yet dropped
        if q.since is None or q.since < cutoff:
            q = dataclasses.replace(q, since=cutoff)
        found = calllog.read(self._latest.scan_back, cid, q)
        page = list(itertools.islice(found, limit + 1 if limit is not None else None))
        more = limit is not None and len(page) > limit
        if more:
            page = page[:limit]
        return Reply(200, {"carrier_id": cid, "as_of": iso(now),
                           "calls": [{**c.fields, "ts": iso(c.fields["ts"])} for c in page],
                           "next": calllog.encode_cursor(page[-1].position) if more else None})
