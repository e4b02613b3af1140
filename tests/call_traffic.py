"""Failover traffic for the call-outcome tests (issue 32): calls whose chain of carriers is
known when they are made (the oracle), their attempts as contract events with
``call_key`` and ``attempt``, arriving a little shuffled."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

HOUR = 3_600_000


@dataclass
class Made:
    key: str
    chain: list[tuple[str, int, int]]  # (carrier, code, ts) in the order tried


def make(rng: random.Random, n: int, carriers: list[str], start_ms: int,
         span_ms: int) -> list[Made]:
    """``n`` calls over ``span_ms``: 1 to 4 carriers each, every attempt but the last
    failing (503/502/408/480), the last answered 70 % of the time."""
    out = []
    for i in range(n):
        t = start_ms + i * span_ms // n
        tried = rng.sample(carriers, rng.randint(1, 4))
        chain = []
        for j, c in enumerate(tried):
            t += rng.randrange(100, 8_000)
            last = j == len(tried) - 1
            code = ((200 if rng.random() < 0.7 else rng.choice([486, 404])) if last
                    else rng.choice([503, 502, 408, 480]))
            chain.append((c, code, t))
        out.append(Made(f"call-{i}", chain))
    return out


def events(made: list[Made], rng: random.Random) -> list[tuple[int, str, dict[str, Any]]]:
    """(arrival, carrier, event fields) of every attempt, arrival up to 5 s after ``ts``,
    in arrival order."""
    out = []
    for m in made:
        for j, (c, code, ts) in enumerate(m.chain):
            out.append((ts + rng.randrange(0, 5_000), c, {
                "code": code, "ts": ts, "call_id": f"{m.key}-leg{j}", "call_key": m.key,
                "attempt": j + 1, "pdd_ms": 900, "customer_id": "cust-1",
                "destination": "4420794601234",
                **({"duration_ms": 30_000} if code == 200 else {})}))
    out.sort(key=lambda x: x[0])
    return out


def per_carrier(made: list[Made], bucket: int) -> dict[tuple[str, int], Counter[str]]:
    """The issue's per-carrier figures by (carrier, start of the ``bucket`` ms window of
    the carrier's first attempt in the call): calls, answered calls (the last attempt
    answered), rescued elsewhere (failed here, answered on another), rescued here."""
    out: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for m in made:
        answered_by = m.chain[-1][0] if m.chain[-1][1] == 200 else None
        for c, _, ts in m.chain:  # each carrier once per call (a sample: no repeats)
            k = (c, ts - ts % bucket)
            out[k]["calls"] += 1
            out[k]["answered_calls"] += answered_by is not None
            out[k]["rescued_elsewhere"] += answered_by is not None and answered_by != c
            out[k]["rescued_here"] += answered_by == c and len(m.chain) > 1
    return out


def pairs(made: list[Made]) -> dict[str, Counter[str]]:
    """Per carrier: the carrier that answered the calls that failed here."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for m in made:
        if m.chain[-1][1] == 200:
            for c, _, _ in m.chain[:-1]:
                out[c][m.chain[-1][0]] += 1
    return out
