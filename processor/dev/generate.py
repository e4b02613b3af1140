"""Seeded synthetic SIP response traffic with realistic carrier profiles.

Each message is labelled (valid, duplicate, mis-keyed...) so tests can build their own
expectations from the same traffic without sharing any code with the processor.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from processor.admin.produce import Message

REASONS = {
    180: "Ringing", 183: "Session Progress", 200: "OK", 302: "Moved Temporarily",
    404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
    484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 500: "Server Internal Error", 502: "Bad Gateway",
    503: "Service Unavailable", 603: "Decline",
}

# Final-code weights per profile (percent-ish). "dead-route" is a state machine below.
PROFILES: dict[str, dict[int, int]] = {
    "healthy": {200: 45, 486: 12, 487: 14, 480: 8, 404: 5, 503: 4, 408: 2, 603: 3, 484: 2,
                302: 1, 500: 1, 502: 1, 488: 2},
    "no-404": {200: 55, 486: 14, 487: 15, 480: 9, 503: 4, 603: 3},
    "fas": {200: 80, 486: 6, 487: 8, 404: 3, 503: 3},
    "busy-mix": {486: 30, 480: 18, 487: 25, 200: 20, 404: 3, 603: 4},
    "dead-route": {503: 1},
}
PROFILE_WEIGHTS = {"healthy": 60, "no-404": 12, "fas": 8, "busy-mix": 15, "dead-route": 5}


@dataclass(frozen=True)
class Traffic:
    """What to generate."""

    seed: int = 42
    carriers: int = 200
    events: int = 200_000
    start_ms: int = 0
    end_ms: int = 0
    invalid_share: float = 0.005
    duplicate_share: float = 0.005
    provisional_share: float = 0.03
    late_share: float = 0.002
    miskeyed_carriers: float = 0.03  # carriers whose producer keys messages wrongly
    unkeyed_share: float = 0.0  # messages with no key at all (random partition)
    jitter_ms: int = 30_000


def carrier_names(n: int, seed: int) -> list[tuple[str, str]]:
    """(carrier_id, profile) pairs, the same for the same seed."""
    rng = random.Random(seed)
    names = list(PROFILE_WEIGHTS)
    weights = list(PROFILE_WEIGHTS.values())
    out = []
    for i in range(n):
        profile = names[i] if i < len(names) else rng.choices(names, weights)[0]
        out.append((f"c-{i:05d}", profile))
    return out


def _rfc3339(ms: int, rng: random.Random) -> str | int:
    """The contract allows both forms: epoch ms or RFC 3339 with an offset."""
    form = rng.random()
    if form < 0.5:
        return ms
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if form < 0.8:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    # Same instant at +02:00.
    local = datetime.fromtimestamp(ms / 1000 + 7200, tz=UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+02:00"


def _invalid(rng: random.Random, carrier_id: str, ts: int) -> bytes:
    kind = rng.randrange(10)
    base = {"carrier_id": carrier_id, "call_id": f"bad-{rng.getrandbits(40):x}", "code": 200,
            "ts": ts}
    if kind == 0:
        return b"this is not json"
    if kind == 1:
        return b"[1, 2, 3]"
    if kind == 2:
        del base["carrier_id"]
    elif kind == 3:
        base["code"] = 999
    elif kind == 4:
        base["code"] = "200"
    elif kind == 5:
        base["ts"] = "2024-02-29 10:00:00"  # no offset
    elif kind == 6:
        base["carrier_id"] = "bad carrier id!"
    elif kind == 7:
        base["v"] = 9
    elif kind == 8:
        base["duration_ms"] = -5
    else:
        return b"\xff\xfe not utf-8"
    return orjson.dumps(base)


def _code(rng: random.Random, profile: str, streak_left: list[int]) -> int:
    if profile == "dead-route":
        # Thousands of 503s in a row, then the odd connected call.
        if streak_left[0] <= 0:
            streak_left[0] = rng.randint(1500, 4000)
            return 200
        streak_left[0] -= 1
        return 503
    table = PROFILES[profile]
    return rng.choices(list(table), list(table.values()))[0]


def generate(t: Traffic) -> Iterator[Message]:
    """Messages in production order; ``t.events`` of them, invalid and duplicates included."""
    rng = random.Random(t.seed)
    extra = random.Random(t.seed + 1)  # answer supervision (``_supervision``)
    carriers = carrier_names(t.carriers, t.seed)
    # Zipf-like sizes: some carriers carry far more traffic than others; dead routes are busy.
    sizes = [1.0 / (1 + (i % 50)) ** 0.6 * (4 if p == "dead-route" else 1)
             for i, (_, p) in enumerate(carriers)]
    miskeyed = {c for c, _ in carriers if rng.random() < t.miskeyed_carriers}
    streaks = {c: [rng.randint(0, 3000)] for c, _ in carriers}
    span = max(1, t.end_ms - t.start_ms)
    recent: list[Message] = []
    for i in range(t.events):
        cid, profile = rng.choices(carriers, sizes)[0]
        ts = t.start_ms + span * i // t.events + rng.randint(-t.jitter_ms, t.jitter_ms)
        roll = rng.random()
        if roll < t.late_share:
            ts -= rng.choice([3_600_000 * 30, 86_400_000 * 10, 86_400_000 * 120])
        ts = max(ts, t.start_ms - 86_400_000 * 200)
        key: bytes | None = cid.encode()
        if cid in miskeyed:
            key = f"trunk/{cid}".encode()
        if t.unkeyed_share and rng.random() < t.unkeyed_share:
            key = None
        roll = rng.random()
        if roll < t.invalid_share:
            yield Message(key, _invalid(rng, cid, ts), False, cid)
            continue
        if roll < t.invalid_share + t.duplicate_share and recent:
            orig = rng.choice(recent)
            yield Message(orig.key, orig.value, True, orig.carrier_id, duplicate=True)
            continue
        msg = Message(key, _event(rng, cid, profile, ts, t, streak=streaks[cid], extra=extra),
                      True, cid)
        recent.append(msg)
        if len(recent) > 50:
            recent.pop(0)
        yield msg


def _supervision(extra: random.Random, profile: str, doc: dict[str, object]) -> None:
    """``answer_ms`` and ``ringing`` of an answered call, from most SBCs (their own random
    stream, so the other fields are what they were before these existed): a FAS carrier
    answers within a second and mostly without ringing, others after some ringing."""
    if not 200 <= int(str(doc["code"])) < 300 or extra.random() < 0.2:
        return
    pdd = doc.get("pdd_ms")
    if profile == "fas":
        doc["answer_ms"] = extra.randint(100, 950)
        doc["ringing"] = extra.random() < 0.3
    else:
        start = pdd if isinstance(pdd, int) else extra.randint(800, 9_000)
        doc["answer_ms"] = start + extra.randint(2_000, 25_000)
        doc["ringing"] = extra.random() < 0.97


def _event(rng: random.Random, cid: str, profile: str, ts: int, t: Traffic, *,
           streak: list[int], extra: random.Random) -> bytes:
    provisional = rng.random() < t.provisional_share
    code = rng.choice([180, 183]) if provisional else _code(rng, profile, streak)
    doc: dict[str, object] = {
        "carrier_id": cid,
        "call_id": f"{rng.getrandbits(64):016x}@sbc{rng.randrange(4)}",
        "code": code,
        "ts": _rfc3339(ts, rng),
        "reason": REASONS.get(code, ""),
        "destination": f"+{rng.choice(['1', '44', '49', '33', '234'])}"
                       f"{rng.randrange(10**8, 10**10)}",
        "customer_id": f"cust-{rng.randrange(20)}",
    }
    if rng.random() < 0.7:
        doc["event_id"] = f"ev-{rng.getrandbits(80):020x}"
    if rng.random() < 0.1:
        doc["v"] = 1
    if 200 <= code < 300:
        if profile == "fas":
            doc["duration_ms"] = rng.randint(300, 5_500)
        elif rng.random() < 0.9:
            doc["duration_ms"] = int(rng.expovariate(1 / 150_000))
    if code >= 180 and rng.random() < 0.6:
        doc["pdd_ms"] = rng.randint(800, 9_000)
    if rng.random() < 0.05:
        doc["x_sbc_node"] = "edge-3"  # unknown fields are ignored
    _supervision(extra, profile, doc)
    return orjson.dumps(doc)


@dataclass(frozen=True)
class Live:
    """Traffic as a live platform sends it: stamped near the moment it is produced.

    Carriers have Zipf-like sizes (the busiest about ``top_share`` of all traffic); each
    event's ``ts`` advances at ``rate`` events/s with a few seconds of jitter, some events
    are hours late, some are producer re-sends; many are provisional 1xx; destinations fall
    under ``prefixes`` dialling prefixes, priced by the rate cards of ``live_registry``."""

    seed: int = 7
    carriers: int = 1_000
    events: int = 200_000
    start_ms: int = 0
    rate: float = 20_000.0  # events per second of ``ts``
    jitter_ms: int = 3_000
    late_share: float = 0.01  # late by 1-6 hours
    duplicate_share: float = 0.01
    provisional_share: float = 0.20
    prefixes: int = 200
    customers: int = 200
    top_share: float = 0.10


def zipf_exponent(n: int, top_share: float) -> float:
    """The exponent s of sizes 1/i**s over ``n`` carriers whose largest has ``top_share``."""
    lo, hi = 0.0, 4.0
    for _ in range(60):
        s = (lo + hi) / 2
        share = 1 / sum(1 / i ** s for i in range(1, n + 1))
        lo, hi = (s, hi) if share < top_share else (lo, s)
    return (lo + hi) / 2


def dialling_prefixes(n: int, seed: int) -> list[str]:
    """``n`` distinct dialling prefixes (country code and a few more digits), seeded."""
    rng = random.Random(seed)
    codes = ["1", "7", "20", "27", "30", "31", "33", "34", "39", "44", "49", "52", "55", "61",
             "62", "63", "81", "86", "90", "91", "234", "254", "351", "380", "966", "971"]
    out: set[str] = set(codes[:n])
    while len(out) < n:
        out.add(rng.choice(codes) + "".join(str(rng.randrange(10))
                                            for _ in range(rng.randint(1, 3))))
    return sorted(out)


def live_registry(t: Live) -> dict[str, dict[str, object]]:
    """Registry profiles (contract §5) with a rate card for every second carrier."""
    rng = random.Random(t.seed + 1)
    prefixes = dialling_prefixes(t.prefixes, t.seed)
    out: dict[str, dict[str, object]] = {}
    for i, (cid, _) in enumerate(carrier_names(t.carriers, t.seed)):
        if i % 2:
            continue
        rates = [{"prefix": p, "per_minute": f"0.{rng.randrange(1, 400):04d}",
                  "currency": "USD", "increment_s": rng.choice([1, 6, 60])}
                 for p in rng.sample(prefixes, min(len(prefixes), 60))]
        out[cid] = {"name": f"Carrier {i}", "rates": rates}
    return out


def generate_live(t: Live) -> Iterator[Message]:
    """``t.events`` messages of live traffic in production order, arrival = produce time."""
    rng = random.Random(t.seed)
    extra = random.Random(t.seed + 2)  # answer supervision (``_supervision``)
    carriers = carrier_names(t.carriers, t.seed)
    s = zipf_exponent(len(carriers), t.top_share)
    sizes = [1 / (i + 1) ** s for i in range(len(carriers))]
    prefixes = dialling_prefixes(t.prefixes, t.seed)
    streaks = {c: [rng.randint(0, 3000)] for c, _ in carriers}
    recent: list[Message] = []
    picks = rng.choices(carriers, sizes, k=t.events)
    for i, (cid, profile) in enumerate(picks):
        now = t.start_ms + int(i * 1000 / t.rate)
        if recent and rng.random() < t.duplicate_share:
            orig = rng.choice(recent)
            yield Message(orig.key, orig.value, True, orig.carrier_id, duplicate=True,
                          arrival_ms=now)
            continue
        ts = now - rng.randint(0, t.jitter_ms)
        if rng.random() < t.late_share:
            ts -= rng.randint(1, 6) * 3_600_000
        provisional = rng.random() < t.provisional_share
        code = rng.choice([180, 183]) if provisional else _code(rng, profile, streaks[cid])
        doc: dict[str, object] = {
            "carrier_id": cid, "call_id": f"{rng.getrandbits(64):016x}@sbc{rng.randrange(4)}",
            "code": code, "ts": ts, "reason": REASONS.get(code, ""),
            "destination": f"+{rng.choice(prefixes)}{rng.randrange(10**6, 10**8)}",
            "customer_id": f"cust-{rng.randrange(t.customers)}",
            "event_id": f"ev-{rng.getrandbits(80):020x}",
        }
        if 200 <= code < 300:
            doc["duration_ms"] = (rng.randint(300, 5_500) if profile == "fas"
                                  else int(rng.expovariate(1 / 150_000)))
        if code >= 180 and rng.random() < 0.6:
            doc["pdd_ms"] = rng.randint(800, 9_000)
        _supervision(extra, profile, doc)
        msg = Message(cid.encode(), orjson.dumps(doc), True, cid, arrival_ms=now)
        recent.append(msg)
        if len(recent) > 50:
            recent.pop(0)
        yield msg
