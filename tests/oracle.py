"""An independent, plainly written model of what carrierwatch must output.

It shares no code with ``processor``: it reads the generated messages (their JSON and
the generator's valid/invalid label) and works out every output record with simple loops,
straight from the contract's words. Timestamps are compared as epoch ms, so the oracle
does not depend on how the processor formats them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

HOUR = 3_600_000
DAY = 86_400_000


# Alert kinds this oracle does not model (their rules are tested on their own:
# tests/unit/domain and tests/unit/engine/test_fas_out.py).
UNMODELLED_ALERTS = frozenset({"short-calls", "fas-suspect"})

def to_ms(ts: Any) -> int:
    if isinstance(ts, int):
        return ts
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def month_start(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def month_index(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return d.year * 12 + d.month - 1


def next_month(ms: int) -> int:
    i = month_index(ms) + 1
    return int(datetime(i // 12, i % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def start_of(kind: str, ms: int) -> int:
    if kind == "hour":
        return ms // HOUR * HOUR
    if kind == "day":
        return ms // DAY * DAY
    return month_start(ms)


def end_of(kind: str, start: int) -> int:
    return {"hour": start + HOUR, "day": start + DAY}.get(kind) or next_month(start)


def kept(kind: str, start: int, now: int) -> bool:
    """Retention as the contract words it: 7 days, 92 days, current month + 24 before."""
    if kind == "hour":
        return start + HOUR > now - 7 * DAY
    if kind == "day":
        return start + DAY > now - 92 * DAY
    return month_index(start) >= month_index(now) - 24


def iso_key(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ROUTE = {408, *range(500, 600)}


def is_failure(code: int, failure_codes: Any) -> bool:
    if failure_codes is None or failure_codes == "all":
        return code >= 300
    if failure_codes == "route":
        return code in ROUTE
    return code in failure_codes


def call_cost(doc: dict[str, Any], rates: list[dict[str, Any]]) -> tuple[float, str] | None:
    """The contract's billing: longest matching prefix, whole increments, a minimum."""
    dest = (doc.get("destination") or "").lstrip("+")
    best = None
    for r in rates:
        if dest.startswith(r["prefix"]) and (best is None or len(r["prefix"]) >
                                             len(best["prefix"])):
            best = r
    if best is None or not 200 <= doc["code"] < 300 or doc.get("duration_ms") is None:
        return None
    inc, minimum = best.get("increment_s", 1), best.get("minimum_s", 0)
    seconds = doc["duration_ms"] / 1000
    increments = int(seconds // inc) + (1 if seconds % inc else 0)
    billed = max(minimum, increments * inc)
    return billed / 60 * best["per_minute"], best["currency"]


def streak_of(codes: list[int], customers: dict[str, int]) -> dict[str, Any]:
    """Issue 31's streak object, from the streak's failure codes and customers (exact:
    the test traffic has fewer customers per streak than the sketch's slots)."""
    def kind(code: int) -> str:
        if code in (404, 484, 410, 604):
            return "wrong-number"
        if code in (480, 486, 487, 600, 603):
            return "callee"
        if code == 408 or code // 100 == 5:
            return "route"
        return "other"

    by = {k: sum(1 for c in codes if kind(c) == k)
          for k in ("wrong-number", "callee", "route", "other")}
    ranked = sorted(customers.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    n = len(codes)
    if n == 0:
        verdict = None
    elif by["route"] >= n / 2:
        verdict = "route-failure"
    elif by["wrong-number"] + by["callee"] >= 0.8 * n and ranked and ranked[0][1] >= 0.6 * n:
        verdict = "likely-customer-traffic"
    else:
        verdict = "mixed"
    return {"by_class": by,
            "top_customers": [{"customer_id": c, "failures": k} for c, k in ranked],
            "verdict": verdict}


class Carrier:
    def __init__(self) -> None:
        self.count = 0
        self.max_count = 0
        self.streak_started: int | None = None
        self.last_code: int | None = None
        self.last_event: int | None = None
        self.last_connected: int | None = None
        self.codes: dict[int, int] = defaultdict(int)
        self.max_ts: int | None = None
        self.clock: int | None = None  # newest arrival so far
        self.counted_at: dict[str, int] = {}  # identity -> arrival of the copy counted
        self.windows: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        self.results = {"applied": 0, "duplicate": 0, "late": 0}
        self.firing = {"consecutive-failures": False, "no-404": False}
        self.accepted: list[dict[str, Any]] = []  # final responses, arrival order
        self.spans: list[dict[str, Any]] = []  # failure streaks: started, peak, ended
        self.streak_codes: list[int] = []  # the current streak's failure codes
        self.streak_customers: dict[str, int] = defaultdict(int)


class Oracle:
    """Feed messages in production order; per carrier that is also arrival order.

    Duplicates, from the contract and issue 16: a copy of an identity is counted once when
    it arrives at most the dedup window after the copy that was counted, whatever its
    ``ts``; later, it counts again. A message arrives at its record timestamp
    (``Message.arrival_ms``), a carrier's arrival clock never going back. Messages without
    one are produced by the test as it runs, all within a few minutes: inside the window,
    so they are taken to arrive together."""

    def __init__(self, *, threshold: int = 1000, min_sample: int = 100,
                 dedup_window_ms: int = 600_000,
                 profiles: dict[str, dict[str, Any]] | None = None) -> None:
        self.default_threshold = threshold
        self.default_min_sample = min_sample
        self.profiles = profiles or {}
        self.alerts: list[dict[str, Any]] = []
        self.dedup_window_ms = dedup_window_ms
        self.carriers: dict[str, Carrier] = defaultdict(Carrier)
        self.invalid: list[bytes] = []

    def feed(self, messages: Any) -> None:
        for m in messages:
            if not m.valid:
                self.invalid.append(m.value)
                continue
            self._event(json.loads(m.value), m.arrival_ms or 0)

    def _event(self, doc: dict[str, Any], arrival: int) -> None:
        c = self.carriers[doc["carrier_id"]]
        code, ts = doc["code"], to_ms(doc["ts"])
        identity = doc.get("event_id") or f"{doc['call_id']}|{code}|{ts}"
        c.clock = arrival if c.clock is None else max(c.clock, arrival)
        counted_at = c.counted_at.get(identity)
        if counted_at is not None and c.clock - counted_at <= self.dedup_window_ms:
            c.results["duplicate"] += 1
            return
        c.counted_at[identity] = c.clock
        c.max_ts = ts if c.max_ts is None else max(c.max_ts, ts)
        if code < 200:
            c.results["applied"] += 1
            return
        c.codes[code] += 1
        c.accepted.append(doc)
        c.last_code, c.last_event = code, ts
        profile = self.profiles.get(doc["carrier_id"], {})
        failed = is_failure(code, profile.get("failure_codes"))
        doc = {**doc, "_failed": failed, "_cost": call_cost(doc, profile.get("rates", []))}
        if code < 300:
            if c.count:
                c.spans[-1].update(ended=ts, ended_by=code)
            c.streak_codes, c.streak_customers = [], defaultdict(int)
            c.count = 0
            c.streak_started = None
            c.last_connected = ts
        elif failed:
            c.streak_codes.append(code)
            if doc.get("customer_id") is not None:
                c.streak_customers[doc["customer_id"]] += 1
            c.count += 1
            if c.count == 1:
                c.streak_started = ts
                c.spans.append({"carrier_id": doc["carrier_id"], "started": ts, "peak": 0,
                                "ended": None, "ended_by": None})
            c.max_count = max(c.max_count, c.count)
            c.spans[-1]["peak"] = c.count
        self._alerts(doc["carrier_id"], c, ts)
        late = False
        for kind in ("hour", "day", "month"):
            start = start_of(kind, ts)
            if kept(kind, start, c.max_ts):
                c.windows[(kind, start)].append(doc)
            else:
                late = True
        c.results["late" if late else "applied"] += 1

    def invalid_count(self) -> int:
        return len(self.invalid)

    def latest(self, cid: str, limit: int, kept: int = 100) -> list[dict[str, Any]]:
        """The last ``kept`` final responses received, newest first by event time."""
        last = self.carriers[cid].accepted[-kept:]
        newest_received_first = last[::-1]  # ties in ts: the later arrival first
        return sorted(newest_received_first, key=lambda d: to_ms(d["ts"]), reverse=True)[:limit]

    def threshold(self, cid: str) -> int:
        return int(self.profiles.get(cid, {}).get("consecutive_failure_threshold",
                                                 self.default_threshold))

    def min_sample(self, cid: str) -> int:
        return int(self.profiles.get(cid, {}).get("min_sample", self.default_min_sample))

    def _alerts(self, cid: str, c: Carrier, ts: int) -> None:
        threshold = self.threshold(cid)
        above = c.count >= threshold
        if above != c.firing["consecutive-failures"]:
            c.firing["consecutive-failures"] = above
            self.alerts.append({"carrier_id": cid, "kind": "consecutive-failures",
                                "state": "firing" if above else "resolved",
                                "value": c.count, "threshold": threshold, "at": ts})
        total, t404 = sum(c.codes.values()), c.codes.get(404, 0)
        no404 = total >= self.min_sample(cid) and t404 == 0
        if no404 != c.firing["no-404"]:
            c.firing["no-404"] = no404
            self.alerts.append({"carrier_id": cid, "kind": "no-404",
                                "state": "firing" if no404 else "resolved",
                                "value": t404, "threshold": self.min_sample(cid), "at": ts})

    # -- expected records ----------------------------------------------------------------
    def consecutive(self) -> dict[str, dict[str, Any]]:
        return {cid: {
            "carrier_id": cid, "consecutive_failures": c.count,
            "max_consecutive_failures": c.max_count, "streak_started_at": c.streak_started,
            "last_code": c.last_code, "last_event_at": c.last_event,
            "last_connected_at": c.last_connected, "threshold": self.threshold(cid),
            "alerting": c.count >= self.threshold(cid),
            "streak": streak_of(c.streak_codes, c.streak_customers),
        } for cid, c in self.carriers.items()}

    def consistency(self) -> dict[str, dict[str, Any]]:
        out = {}
        for cid, c in self.carriers.items():
            total = sum(c.codes.values())
            t200, t404 = c.codes.get(200, 0), c.codes.get(404, 0)
            if total < self.min_sample(cid):
                verdict = "insufficient-data"
            elif t404 == 0:
                verdict = "no-404"
            else:
                verdict = "ok"
            out[cid] = {
                "carrier_id": cid, "total_final": total, "total_200": t200, "total_404": t404,
                "codes": {str(k): v for k, v in c.codes.items() if v},
                "ratio_404": t404 / (t200 + t404) if t200 + t404 else None, "verdict": verdict,
            }
        return out

    def summaries(self, kind: str) -> dict[str, dict[str, Any]]:
        out = {}
        for cid, c in self.carriers.items():
            for (k, start), docs in c.windows.items():
                if k != kind or c.max_ts is None or not kept(kind, start, c.max_ts):
                    continue
                rec = figures(docs)
                rec.update(carrier_id=cid, window=kind, start=start, end=end_of(kind, start))
                out[f"{cid}|{kind}|{iso_key(start)}"] = rec
        return out

    def live(self, now_ms: int | None = None) -> dict[str, dict[str, Any]]:
        """The 24 hours ending with the current hour: of ``now_ms`` (wall clock) or, on the
        stream clock, of the carrier's newest event."""
        out = {}
        for cid, c in self.carriers.items():
            if c.max_ts is None:
                continue
            now = now_ms if now_ms is not None else c.max_ts
            end = now // HOUR * HOUR + HOUR
            docs = [d for (k, start), ds in c.windows.items() if k == "hour"
                    and end - 24 * HOUR <= start < end for d in ds]
            rec = figures(docs)
            rec.update(carrier_id=cid, window="live", start=end - 24 * HOUR, end=end)
            out[cid] = rec
        return out


def figures(docs: list[dict[str, Any]]) -> dict[str, Any]:
    attempts = len(docs)
    answered = [d for d in docs if 200 <= d["code"] < 300]
    codes: dict[str, int] = defaultdict(int)
    for d in docs:
        codes[str(d["code"])] += 1
    redirects = sum(1 for d in docs if 300 <= d["code"] < 400)
    seer_hits = sum(1 for d in docs if 200 <= d["code"] < 300
                    or d["code"] in (480, 486, 600, 603))
    durations = [d["duration_ms"] for d in answered if d.get("duration_ms") is not None]
    pdds = [d["pdd_ms"] for d in docs if d.get("pdd_ms") is not None]
    costed = [d for d in docs if d.get("_cost")]
    return {
        "attempts": attempts,
        "answered": len(answered),
        "failed": sum(1 for d in docs if d.get("_failed", d["code"] >= 300)),
        "codes": dict(codes),
        "asr": len(answered) / attempts if attempts else None,
        "seer": seer_hits / (attempts - redirects) if attempts - redirects else None,
        "duration_ms": sum(durations),
        "acd_s": sum(durations) / len(durations) / 1000 if durations else None,
        "short_calls": sum(1 for x in durations if x < 6000),
        "pdd_ms_avg": sum(pdds) / len(pdds) if pdds else None,
        "cost": sum(d["_cost"][0] for d in costed) if costed else None,
        "currency": costed[0]["_cost"][1] if costed else None,
    }


def file_arrivals(messages: list[Any]) -> list[Any]:
    """The messages as a replay of a file sees them: no record timestamps, so a line
    arrives at the newest ``ts`` of the valid lines up to it (the file's own clock)."""
    import dataclasses

    clock, out = 0, []
    for m in messages:
        if m.valid:
            clock = max(clock, to_ms(json.loads(m.value)["ts"]))
        out.append(dataclasses.replace(m, arrival_ms=clock))
    return out
