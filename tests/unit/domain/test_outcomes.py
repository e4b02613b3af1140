"""Call outcomes (issue 32) against the issue's definitions over generated calls: each
call's chain of carriers is known when it is made, its attempts arrive shuffled (as from
different partitions), some twice; grouping, settling, the per-call record, and per
carrier the calls, ASR per call, rescued counts and the top pairs are checked against
what the chains say."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from processor.domain import outcomes
from processor.domain.outcomes import Attempt, Call

SETTLE = 60_000
CARRIERS = [f"k{i}" for i in range(6)]


@dataclass
class Made:
    key: str
    chain: list[tuple[str, int, int]]  # (carrier, code, ts) in the order tried
    numbered: bool


def make(rng: random.Random, n: int) -> list[Made]:
    out = []
    t = 1_764_000_000_000
    for i in range(n):
        t += rng.randrange(0, 2_000)
        tries = rng.randint(1, 4)
        carriers = rng.sample(CARRIERS, tries)
        chain = []
        ts = t
        for j, c in enumerate(carriers):
            ts += rng.randrange(100, 8_000)
            last = j == tries - 1
            code = (200 if rng.random() < 0.7 else rng.choice([486, 404])) if last \
                else rng.choice([503, 502, 408, 480])
            chain.append((c, code, ts))
        out.append(Made(f"call-{i}", chain, rng.random() < 0.8))
    return out


def arrivals(rng: random.Random, made: list[Made]) -> list[tuple[str, Attempt]]:
    """Every attempt, shuffled within a few seconds of its time, 5 % of them twice."""
    out = []
    for m in made:
        for j, (c, code, ts) in enumerate(m.chain):
            a = Attempt(f"{m.key}/{j}", c, code, ts, 1_000, j + 1 if m.numbered else None,
                        "cust", "4420")
            out.append((ts + rng.randrange(0, 5_000), m.key, a))
            if rng.random() < 0.05:
                out.append((ts + rng.randrange(0, 20_000), m.key, a))
    out.sort(key=lambda x: x[0])
    return [(k, a) for _, k, a in out]


def run(stream: list[tuple[str, Attempt]]) -> tuple[dict[str, dict[str, Any]],
                                                    dict[str, list[outcomes.Fact]], int]:
    """A plain driver: a watermark of the newest ts, every open call looked at after each
    attempt, everything settled at the end."""
    calls: dict[str, Call] = {}
    done: dict[str, dict[str, Any]] = {}
    facts: dict[str, list[outcomes.Fact]] = {}
    late = 0
    watermark = 0

    def look() -> None:
        for call in calls.values():
            how = outcomes.settles(call, watermark, SETTLE)
            if how is not None:
                assert call.call_key not in done
                call.settled = True
                done[call.call_key] = outcomes.outcome(call, how)
                facts[call.call_key] = outcomes.facts(call)

    for key, a in stream:
        call = calls.setdefault(key, Call(key))
        if call.settled:
            late += outcomes.add(call, a)
            continue
        outcomes.add(call, a)
        watermark = max(watermark, a.ts_ms)
        look()
    watermark += 10 * SETTLE
    look()
    return done, facts, late


@pytest.mark.parametrize("seed", range(6))
def test_calls_outcomes_and_per_carrier_figures(seed: int) -> None:
    rng = random.Random(seed)
    made = make(rng, 400)
    done, facts, late = run(arrivals(rng, made))
    assert set(done) == {m.key for m in made}
    complete = 0
    for m in made:
        rec = done[m.key]
        got = [(a["carrier_id"], a["code"], a["ts_ms"]) for a in rec["attempts"]]
        if got == m.chain:
            complete += 1
            assert rec["final_carrier"] == m.chain[-1][0]
            assert rec["final_code"] == m.chain[-1][1]
            assert rec["answered"] == (m.chain[-1][1] == 200)
            assert (rec["customer_id"], rec["destination"]) == ("cust", "4420")
        else:
            # Only an unnumbered call can be settled before a shuffled attempt arrives.
            assert not m.numbered, m.key
    assert complete >= 0.9 * len(made)
    # Per carrier, what the chains say (over the calls recorded whole).
    whole = {m.key for m in made
             if [(a["carrier_id"], a["code"], a["ts_ms"]) for a in done[m.key]["attempts"]]
             == m.chain}
    want: dict[str, Counter[str]] = defaultdict(Counter)
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for m in made:
        if m.key not in whole:
            continue
        answered_by = m.chain[-1][0] if m.chain[-1][1] == 200 else None
        for c in dict.fromkeys(x[0] for x in m.chain):
            want[c]["calls"] += 1
            want[c]["answered_calls"] += answered_by is not None
            if answered_by is not None and answered_by != c:
                want[c]["rescued_elsewhere"] += 1  # every earlier attempt here failed
                pairs[c][answered_by] += 1
            if answered_by == c and len(m.chain) > 1:
                want[c]["rescued_here"] += 1
    got: dict[str, Counter[str]] = defaultdict(Counter)
    got_pairs: dict[str, dict[str, int]] = defaultdict(dict)
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * outcomes.WIDTH)
    for key in whole:
        for f in facts[key]:
            outcomes.count(rows[f.carrier_id], got_pairs[f.carrier_id], f)
    for c, row in rows.items():
        got[c] = Counter({"calls": row[outcomes.CALLS],
                          "answered_calls": row[outcomes.ANSWERED_CALLS],
                          "rescued_elsewhere": row[outcomes.RESCUED_ELSEWHERE],
                          "rescued_here": row[outcomes.RESCUED_HERE]})
        shown = outcomes.figures(row, got_pairs[c], 0, 0)
        want_top = sorted(pairs[c].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert [(p["answered_on"], p["calls"]) for p in shown["pairs"]] == want_top
        assert shown["asr_per_call"] == pytest.approx(
            want[c]["answered_calls"] / want[c]["calls"])
    assert {c: +v for c, v in got.items()} == {c: +v for c, v in want.items()}
    # An attempt after its call settled is late: only unnumbered calls, answered before
    # a shuffled earlier attempt came, have one (a re-delivered copy adds nothing).
    assert late == sum(len(m.chain) - len(done[m.key]["attempts"]) for m in made)


def test_an_answer_waits_for_the_attempts_numbered_before_it() -> None:
    call = Call("k")
    outcomes.add(call, Attempt("b", "k2", 200, 2_000, attempt=2))
    assert outcomes.settles(call, 2_000, SETTLE) is None  # attempt 1 is on its way
    outcomes.add(call, Attempt("a", "k1", 503, 1_000, attempt=1))
    assert outcomes.settles(call, 2_000, SETTLE) == "answer"
    [k1, k2] = outcomes.facts(call)
    assert (k1.rescued_elsewhere, k2.rescued_here, k1.answered_call) == ("k2", True, True)
    assert not outcomes.add(call, Attempt("a", "k1", 503, 1_000, attempt=1))  # re-delivery


def test_an_unanswered_call_settles_after_the_quiet_time() -> None:
    call = Call("q")
    outcomes.add(call, Attempt("a", "k1", 503, 1_000, attempt=1))
    outcomes.add(call, Attempt("b", "k2", 486, 3_000, attempt=2))
    assert outcomes.settles(call, 3_000 + SETTLE - 1, SETTLE) is None
    assert outcomes.settles(call, 3_000 + SETTLE, SETTLE) == "timeout"
    rec = outcomes.outcome(call, "timeout")
    assert (rec["final_carrier"], rec["final_code"], rec["answered"]) == ("k2", 486, False)
    assert [f.rescued_elsewhere for f in outcomes.facts(call)] == [None, None]
