"""Answer-supervision traffic for the FAS tests (issue 31): a healthy carrier, a FAS-like one
(many 2-5 s answers, instant, mostly without ringing), and ``plain``, the issue's
definitions of the signals computed directly over the calls (the oracle)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    code: int
    duration_ms: int | None = None
    pdd_ms: int | None = None
    answer_ms: int | None = None
    ringing: bool | None = None


def healthy(rng: random.Random, n: int) -> list[Call]:
    out = []
    for _ in range(n):
        if rng.random() < 0.45:
            pdd = rng.randrange(1_500, 4_000)
            answer = pdd + rng.randrange(3_000, 20_000)
            out.append(Call(200, rng.randrange(20_000, 400_000), pdd, answer, True))
        else:
            out.append(Call(rng.choice([486, 503, 404, 487]), None, rng.randrange(1_000, 5_000)))
    return out


def fas_like(rng: random.Random, n: int) -> list[Call]:
    out = []
    for _ in range(n):
        if rng.random() < 0.7:  # "answers" what it could not complete: short, at once
            pdd = rng.randrange(200, 600)
            out.append(Call(200, rng.randrange(2_000, 5_000), pdd, pdd + rng.randrange(0, 400),
                            rng.random() < 0.3))
        else:
            out.append(Call(503))
    return out


def plain(calls: list[Call]) -> dict[str, float | int | None]:
    """The issue's definitions, directly over the calls."""
    answered = [c for c in calls if 200 <= c.code < 300]
    failed = len(calls) - len(answered)
    ring_known = [c for c in answered if c.ringing is not None]
    answer_known = [c for c in answered if c.answer_ms is not None]
    timed = [c for c in answered if c.duration_ms is not None]
    return {
        "answered": len(answered),
        "short_6s": sum(1 for c in timed if c.duration_ms is not None and c.duration_ms <= 6_000),
        "short_15s": sum(1 for c in timed
                         if c.duration_ms is not None and c.duration_ms <= 15_000),
        "short_ratio": (sum(1 for c in timed if c.duration_ms is not None
                            and c.duration_ms <= 15_000) / failed if failed else None),
        "answered_without_ringing": sum(1 for c in ring_known if not c.ringing),
        "no_ring_share": (sum(1 for c in ring_known if not c.ringing) / len(ring_known)
                          if ring_known else None),
        "instant_answers": sum(1 for c in answer_known
                               if c.answer_ms is not None and c.answer_ms < 1_000),
        "instant_share": (sum(1 for c in answer_known
                              if c.answer_ms is not None and c.answer_ms < 1_000)
                          / len(answer_known) if answer_known else None),
        "acd_s": (sum(c.duration_ms for c in timed if c.duration_ms is not None)
                  / len(timed) / 1000 if timed else None),
    }


