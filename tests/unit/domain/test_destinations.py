"""Quality per destination group (issue 30) against a model written from the issue: a group
is the rate card's longest matching prefix, else the number's E.164 country code as
``+<cc>``, else ``unknown``; each group's figures are defined as the summary's; the groups
of a window sum to the window; the busiest ``top`` are shown and the rest fold into
``other``."""

from __future__ import annotations

import itertools

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.domain import destinations
from processor.domain.events import SipEvent, Sourced
from processor.domain.model import Policy
from processor.domain.rates import Rate, RateCard, cost_micros
from processor.domain.windows import DAY_MS, KINDS, window_start
from tests.unit.domain.test_fold import T0, Store

COUNTRY_CODES = {str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
CARD = [Rate("44", 10_000, "EUR"), Rate("4420", 20_000, "EUR", 60, 60),
        Rate("491", 30_000, "EUR"), Rate("1", 5_000, "EUR")]


def model_group(destination: str | None, card: list[Rate]) -> str:
    digits = (destination or "").lstrip("+")
    matching = [r.prefix for r in card if digits.startswith(r.prefix)]
    if matching:
        return max(matching, key=len)
    for n in (1, 2, 3):
        if digits[:n] in COUNTRY_CODES:
            return "+" + digits[:n]
    return "unknown"


def test_groups_by_rate_card_then_country_code() -> None:
    card = RateCard(CARD)
    for dest, want in [("+442071234567", "4420"), ("447700900123", "44"), ("+4930123456", "+49"),
                       ("4917612345", "491"), ("12125550100", "1"), ("+33612345678", "+33"),
                       ("+8613812345678", "+86"), ("", "unknown"), (None, "unknown"),
                       ("+", "unknown"), ("999", "unknown"), ("0", "unknown")]:
        assert destinations.group_of(dest, card.match(dest)) == want, dest
        assert model_group(dest, CARD) == want, dest
    no_card = RateCard(())
    assert destinations.group_of("+442071234567", no_card.match("+442071234567")) == "+44"


digits = st.text("0123456789", min_size=0, max_size=14)
destination = st.none() | digits | digits.map(lambda d: "+" + d) | st.sampled_from(
    ["442071234567", "+4915112345", "4917612345", "12125550100", "33612345678", "8613800"])
event = st.tuples(st.sampled_from([200, 200, 486, 404, 503, 302, 180, 603]),
                  st.integers(0, 3 * DAY_MS), st.integers(0, 200_000), st.integers(0, 9_000),
                  destination)


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=150), st.booleans(), st.lists(st.integers(0, 150), max_size=4),
       st.integers(1, 6))
def test_groups_sum_to_their_window_and_match_the_model(
        rows: list[tuple[int, int, int, int, str | None]], with_card: bool, cuts: list[int],
        top: int) -> None:
    card = CARD if with_card else []
    policy = Policy(rates=RateCard(card), destinations_top=top)
    events = [Sourced(SipEvent("c1", f"call-{i}", code, T0 + 30 * DAY_MS + dt, event_id=f"e{i}",
                               duration_ms=dur if 200 <= code < 300 else None, pdd_ms=pdd,
                               destination=dest), "in:0", i, T0 + 40 * DAY_MS + i)
              for i, (code, dt, dur, pdd, dest) in enumerate(rows)]
    store = Store()
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        store.apply(events[a:b], policy=policy, now_ms=T0 + 34 * DAY_MS)
    # the model: every final response in its group, per window
    want: dict[tuple[str, int], dict[str, list[int]]] = {}
    for s in events:
        ev = s.event
        if ev.code < 200:
            continue
        group = model_group(ev.destination, card)
        rate = next((r for r in sorted(card, key=lambda r: -len(r.prefix))
                     if (ev.destination or "").lstrip("+").startswith(r.prefix)), None)
        for kind in KINDS:
            g = want.setdefault((kind, window_start(kind, ev.ts_ms)), {}).setdefault(
                group, [0, 0, 0, 0])
            g[0] += 1
            if 200 <= ev.code < 300:
                g[1] += 1
                g[2] += ev.duration_ms or 0
                if rate is not None and ev.duration_ms is not None:
                    g[3] += cost_micros(ev.duration_ms, rate)
    got = {wid: {g: [r[destinations.ATTEMPTS], r[destinations.ANSWERED],
                     r[destinations.DURATION_MS], r[destinations.COST_MICROS]]
                 for g, r in w.dests.items()} for wid, w in store.windows.items()}
    assert got == want
    for w in store.windows.values():  # the groups sum to the window's own figures
        rows_ = list(w.dests.values())
        assert sum(r[destinations.ATTEMPTS] for r in rows_) == w.stats.attempts
        assert sum(r[destinations.SHORT] for r in rows_) == w.stats.short_calls
        assert sum(r[destinations.PDD_MS] for r in rows_) == w.stats.pdd_ms
        assert sum(r[destinations.COST_MICROS] for r in rows_) == w.stats.cost_micros
        shown, folded = destinations.busiest(w.dests, top)
        assert folded == max(0, len(w.dests) - top)
        assert sum(r[destinations.ATTEMPTS] for _, r in shown) == w.stats.attempts
        ranked = [r[destinations.ATTEMPTS] for g, r in shown if g != destinations.OTHER]
        assert ranked == sorted(ranked, reverse=True)
        assert all(r[destinations.ATTEMPTS] >= o[destinations.ATTEMPTS]
                   for _, r in shown[:len(ranked)] for g, o in w.dests.items()
                   if g not in dict(shown))


def test_figures_are_defined_as_the_summarys() -> None:
    row = destinations.new_row()
    destinations.add(row, 200, 4_000, 900, 1_500)
    destinations.add(row, 200, 60_000, 1_100, None)
    destinations.add(row, 486, None, 2_000, None)
    destinations.add(row, 302, None, None, None)
    f = destinations.figures("+44", row, "EUR")
    assert f["attempts"] == 4
    assert f["answered"] == 2
    assert f["asr"] == 0.5
    assert f["acd_s"] == 32.0
    assert f["pdd_ms"] == 4_000 / 3
    assert f["short_calls"] == 1
    assert f["cost"] == 0.0015
    assert f["seer"] == 1.0  # 200, 200, 486 are SEER hits; the 302 is left out

