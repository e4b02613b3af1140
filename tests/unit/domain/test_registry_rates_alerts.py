"""Registry profiles, rate cards and cost, and alert transitions."""

from __future__ import annotations

import pytest

from processor.domain import alerts
from processor.domain.codes import ROUTE_FAILURES
from processor.domain.rates import Rate, RateCard, billed_seconds, cost_micros
from processor.domain.registry import parse_profile, parse_registry, profile_to_json

GOOD = {
    "name": "Acme Telecom",
    "contacts": [{"name": "NOC", "role": "noc", "email": "noc@acme.example", "phone": "+1555"}],
    "rates": [{"prefix": "44", "per_minute": 0.012, "currency": "EUR"},
              {"prefix": "447", "per_minute": 0.05, "currency": "EUR", "increment_s": 60,
               "minimum_s": 60}],
    "failure_codes": "route",
    "consecutive_failure_threshold": 500,
    "min_sample": 200,
}


def test_a_good_profile_parses_and_round_trips() -> None:
    profile, errs = parse_profile("c-42", GOOD)
    assert errs == []
    assert profile is not None
    assert profile.failure_codes == ROUTE_FAILURES
    assert (profile.threshold, profile.min_sample) == (500, 200)
    again, errs = parse_profile("c-42", profile_to_json(profile))
    assert errs == []
    assert again == profile


def test_every_error_of_a_bad_file_is_listed_and_nothing_is_kept() -> None:
    doc = {"carriers": {
        "ok-1": GOOD,
        "bad id!": {},
        "c-2": {"rates": [{"prefix": "x1", "per_minute": -1, "currency": "euro",
                           "increment_s": 0}], "failure_codes": [200], "min_sample": 0,
                "colour": "red", "contacts": [{"phone": 5}]},
        "c-3": {"rates": [{"prefix": "1", "per_minute": 1, "currency": "USD"},
                          {"prefix": "1", "per_minute": 2, "currency": "EUR"}]},
    }}
    profiles, errs = parse_registry(doc)
    assert profiles == {}
    text = "\n".join(errs)
    for needle in ["'bad id!': not a valid carrier_id", "prefix must be 1-32 digits",
                   "per_minute must be a number >= 0", "3-letter ISO 4217",
                   "increment_s must be an integer >= 1", "final non-2xx codes",
                   "min_sample must be an integer >= 1", "unknown field 'colour'",
                   "contacts[0].phone must be a string", "share one currency",
                   "prefix '1' appears twice"]:
        assert needle in text, needle


def test_not_a_registry_document() -> None:
    assert parse_registry([1, 2])[1]
    assert parse_registry({"carriers": []})[1]


def test_longest_prefix_wins_and_plus_is_ignored() -> None:
    card = RateCard([Rate("44", 12_000, "EUR"), Rate("447", 50_000, "EUR"),
                     Rate("4478", 70_000, "EUR")])
    assert card.match("+447800900123") == Rate("4478", 70_000, "EUR")
    assert card.match("447612345") == Rate("447", 50_000, "EUR")
    assert card.match("+4420") == Rate("44", 12_000, "EUR")
    assert card.match("+33123") is None
    assert card.match(None) is None
    assert card.match("4") is None


@pytest.mark.parametrize(("duration_ms", "increment", "minimum", "billed"), [
    (61_200, 1, 0, 62),
    (61_200, 60, 0, 120),
    (1_000, 60, 60, 60),
    (0, 1, 0, 0),
    (0, 6, 30, 30),
    (29_999, 6, 30, 30),
    (30_001, 6, 30, 36),
])
def test_billing_increments_and_minimum(duration_ms: int, increment: int, minimum: int,
                                        billed: int) -> None:
    assert billed_seconds(duration_ms, Rate("1", 60_000, "USD", increment, minimum)) == billed


def test_cost_in_micros() -> None:
    rate = Rate("1", 12_000, "USD", 60, 0)  # 0.012 per minute, per-minute billing
    assert cost_micros(61_000, rate) == 24_000  # two minutes
    assert cost_micros(30_000, Rate("1", 10_000, "USD", 1, 0)) == 5_000


def test_consecutive_alert_fires_once_and_resolves_on_reset() -> None:
    firing, a = alerts.consecutive(False, 999, 1000, 1)
    assert (firing, a) == (False, None)
    firing, a = alerts.consecutive(firing, 1000, 1000, 2)
    assert firing
    assert a is not None
    assert (a.kind, a.state, a.value) == ("consecutive-failures", "firing", 1000)
    firing, a = alerts.consecutive(firing, 4000, 1000, 3)
    assert (firing, a) == (True, None)
    firing, a = alerts.consecutive(firing, 0, 1000, 4)
    assert not firing
    assert a is not None
    assert a.state == "resolved"


def test_no_404_alert() -> None:
    firing, a = alerts.no_404(False, "insufficient-data", 0, 100, 1)
    assert (firing, a) == (False, None)
    firing, a = alerts.no_404(False, "no-404", 0, 100, 2)
    assert firing
    assert a is not None
    assert a.state == "firing"
    firing, a = alerts.no_404(True, "ok", 1, 100, 3)
    assert not firing
    assert a is not None
    assert a.state == "resolved"


def test_short_call_alert_has_hysteresis() -> None:
    rule = alerts.ShortCallRule(fire_share=0.3, resolve_share=0.2, min_answered=10)
    assert alerts.short_calls(False, 5, 5, rule, 1) == (False, None)  # too few answered
    firing, a = alerts.short_calls(False, 3, 10, rule, 2)
    assert firing
    assert a is not None
    assert a.value == 0.3
    assert alerts.short_calls(True, 25, 100, rule, 3) == (True, None)  # 25 %: still firing
    firing, a = alerts.short_calls(True, 19, 100, rule, 4)
    assert not firing
    assert a is not None
    assert a.state == "resolved"


def test_the_example_registry_file_is_valid() -> None:
    from pathlib import Path

    from processor.admin.registry import load_file

    example = Path(__file__).resolve().parents[3] / "deploy" / "registry" / "example.yaml"
    profiles = load_file(example)
    assert set(profiles) == {"c-00000", "c-00001"}
    assert profiles["c-00000"].threshold == 500
