"""False answer supervision (issue 31): each signal, the baseline, the score and the
verdict against a plain computation from the issue's sentences, on a FAS-like carrier (many
2-5 s answered calls, instant answers, no ringing), a healthy one and a low-traffic one."""

from __future__ import annotations

import random
import statistics

import pytest

from processor.domain import fas
from processor.domain.fas import RING_BOUNDS, FasRule, Figures
from tests.fas_traffic import Call, fas_like, healthy, plain


def figures(calls: list[Call]) -> Figures:
    row = fas.new_row()
    duration = n = 0
    for c in calls:
        fas.add(row, c.code, c.duration_ms, c.pdd_ms, answer_ms=c.answer_ms, ringing=c.ringing)
        if 200 <= c.code < 300 and c.duration_ms is not None:
            duration += c.duration_ms
            n += 1
    answered = sum(1 for c in calls if 200 <= c.code < 300)
    return Figures(len(calls), answered, duration, n, row)


def suspect(live: list[Call], baseline: list[Call], rule: FasRule) -> str:
    """The issue's verdict: with at least 50 answers, short-call ratio over 2 x the
    baseline's, or instant answers over 10 %, or answers without ringing over 20 %."""
    p, b = plain(live), plain(baseline)
    if p["answered"] < rule.min_answered:  # type: ignore[operator]
        return "insufficient-data"
    ratio, base = p["short_ratio"], b["short_ratio"]
    over = ((ratio is not None and base and ratio / base > rule.short_ratio_factor)  # type: ignore[operator]
            or (p["instant_share"] or 0) > rule.instant_share  # type: ignore[operator]
            or (p["no_ring_share"] or 0) > rule.no_ring_share)  # type: ignore[operator]
    return "fas-suspect" if over else "ok"


CASES = {"fas-like": (fas_like, 2_000), "healthy": (healthy, 2_000), "low-traffic": (fas_like, 60)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", range(5))
def test_signals_and_verdict_equal_the_issue_s_definitions(case: str, seed: int) -> None:
    rng = random.Random(seed)
    make, n = CASES[case]
    baseline, live = healthy(rng, 20_000), make(rng, n)
    rule = FasRule()
    got = figures(live).signals()
    want = plain(live)
    for name, value in want.items():
        assert got[name] == pytest.approx(value), name
    judged = fas.judge(figures(live), figures(baseline), rule)
    assert judged["verdict"] == suspect(live, baseline, rule)
    assert judged["verdict"] == {"fas-like": "fas-suspect", "healthy": "ok",
                                 "low-traffic": "insufficient-data"}[case]
    assert 0 <= judged["score"] <= 1
    if case == "fas-like":
        assert judged["score"] == 1.0  # every part is over twice its threshold
        words = fas.explain(got, figures(baseline).signals(), judged)
        assert words.startswith("Suspected false answer supervision")
        assert "usual rate is 0 %" in words
    elif case == "healthy":
        assert judged["score"] < 0.5


def test_the_median_ring_time_is_in_the_bucket_of_the_exact_one() -> None:
    rng = random.Random(3)
    calls = healthy(rng, 5_000)
    rings = [c.answer_ms - c.pdd_ms for c in calls
             if c.answer_ms is not None and c.pdd_ms is not None]
    exact = statistics.median(rings)
    got = fas.median_ring_ms(figures(calls).row)
    assert got is not None
    bounds = (0, *RING_BOUNDS)
    i = max(j for j, lo in enumerate(bounds) if lo <= exact)
    assert bounds[i] <= got <= (RING_BOUNDS[i] if i < len(RING_BOUNDS) else got)


def test_hysteresis_keeps_a_suspect_carrier_until_the_score_falls() -> None:
    rule = FasRule()
    rng = random.Random(9)
    baseline = figures(healthy(rng, 20_000))
    # Instant answers at 9 %: under the 10 % that fires, over the 0.4 score that resolves.
    calls = healthy(rng, 1_000)
    answered = [i for i, c in enumerate(calls) if c.code == 200]
    for i in answered[: int(0.09 * len(answered))]:
        c = calls[i]
        calls[i] = Call(200, c.duration_ms, 100, 500, True)
    live = figures(calls)
    assert fas.judge(live, baseline, rule)["verdict"] == "ok"
    assert fas.judge(live, baseline, rule, was_suspect=True)["verdict"] == "fas-suspect"
    clean = figures(healthy(rng, 1_000))
    assert fas.judge(clean, baseline, rule, was_suspect=True)["verdict"] == "ok"


def test_the_api_judges_each_carrier_on_its_windows_through_a_restart() -> None:
    """``anomalies`` of ``GET /carriers/{id}``: the live 24 hours' signals equal the plain
    computation over the fed calls, judged against the hours before them; the FAS-like
    carrier is flagged, the healthy and the low-traffic ones are not."""
    from processor.settings import Settings
    from tests.harness import T0, Harness

    hour = 3_600_000
    rng = random.Random(31)
    h = Harness(Settings(clock="stream"))
    end = T0 + 6 * 24 * hour  # six days of history, the last 24 hours judged
    live_start = end - 24 * hour
    fed: dict[str, list[tuple[int, Call]]] = {}
    for cid, recent, n_recent in (("fasco", fas_like, 1_500), ("goodco", healthy, 1_500),
                                  ("quietco", fas_like, 40)):
        calls = [(T0 + int(i * (live_start - T0) / 4_000), c)
                 for i, c in enumerate(healthy(rng, 4_000))]
        calls += [(live_start + int(i * 24 * hour / n_recent), c)
                  for i, c in enumerate(recent(rng, n_recent))]
        fed[cid] = calls
    msgs = []
    for cid, calls in fed.items():
        for ts, c in calls:
            fields = {k: v for k, v in (("duration_ms", c.duration_ms), ("pdd_ms", c.pdd_ms),
                                        ("answer_ms", c.answer_ms), ("ringing", c.ringing))
                      if v is not None}
            msgs.append(h.source.event(cid, c.code, ts=ts, **fields))
    msgs.sort(key=lambda m: m.timestamp()[1])
    h.run(msgs[: len(msgs) // 2])
    h.flush()
    again = Harness(Settings(clock="stream"), tables=h.tables, clock=h.clock, broker=h.broker)
    again.source = h.source
    again.run(msgs[len(msgs) // 2:])
    again.flush()
    api = again.api()
    verdicts = {}
    for cid, calls in fed.items():
        newest = max(ts for ts, _ in calls)
        first = newest - newest % hour - 23 * hour
        live = [c for ts, c in calls if ts >= first]
        shown = api.status(cid).body["anomalies"]
        for name, value in plain(live).items():
            assert shown["signals"][name] == pytest.approx(value), (cid, name)
        verdicts[cid] = shown["verdict"]
    assert verdicts == {"fasco": "fas-suspect", "goodco": "ok", "quietco": "insufficient-data"}
