"""Mirrored SIP into call attempts (issue 20): the events a carrier's replies make, written
from the issue's rules (one event per INVITE transaction to a carrier: its final code and
time, PDD to the first 18x, duration 200 -> BYE, failover = two attempts)."""

from __future__ import annotations

import pytest

from processor.domain.attempts import Tracker
from processor.domain.registry import parse_profile
from processor.domain.signalling import AddressBook

T0 = 1_709_164_800_000


def invite(t: Tracker, call: str, at: int, *, user: str = "+4420794601234",
           branch: str = "z9hG4bK-caller", to: str | None = None) -> list[dict[str, object]]:
    return t.on_request("INVITE", call, branch, user, T0 + at, to_carrier=to)


def reply(t: Tracker, call: str, status: int, at: int, carrier: str, *,
          branch: str = "z9hG4bK-kam.0", method: str = "INVITE") -> list[dict[str, object]]:
    return t.on_reply(status, method, call, branch, T0 + at, carrier_id=carrier)


def test_an_answered_call_is_one_event_when_it_ends() -> None:
    t = Tracker()
    assert invite(t, "c1", 0) == []
    assert reply(t, "c1", 100, 5, "acme") == []
    assert reply(t, "c1", 180, 120, "acme") == []
    assert reply(t, "c1", 183, 150, "acme") == []
    assert reply(t, "c1", 200, 300, "acme") == []  # not yet: its duration is not known
    assert reply(t, "c1", 200, 310, "acme") == []  # a retransmitted 200
    [event] = t.on_request("BYE", "c1", "b2", None, T0 + 5_300, to_carrier=None)
    assert event == {"carrier_id": "acme", "call_id": "c1", "code": 200, "ts": T0 + 300,
                     "event_id": event["event_id"], "pdd_ms": 120, "duration_ms": 5_000,
                     "destination": "+4420794601234", "ringing": True, "answer_ms": 300}
    assert str(event["event_id"]).startswith("hep-")
    assert t.calls == {}


def test_a_failure_is_emitted_at_once_and_a_retransmission_adds_nothing() -> None:
    t = Tracker()
    invite(t, "c2", 0, user="alice")  # not a number: no destination
    [event] = reply(t, "c2", 404, 40, "beta")
    assert (event["code"], event["ts"], "pdd_ms" in event, "destination" in event) == (
        404, T0 + 40, False, False)
    assert (event["ringing"], "answer_ms" in event) == (False, False)
    assert reply(t, "c2", 404, 45, "beta") == []


def test_a_failover_is_two_attempts_each_timed_from_its_own_start() -> None:
    t = Tracker()
    invite(t, "c3", 0)
    [failed] = reply(t, "c3", 503, 20, "gamma", branch="z9hG4bK-kam.0")
    assert reply(t, "c3", 180, 120, "acme", branch="z9hG4bK-kam.1") == []
    reply(t, "c3", 200, 200, "acme", branch="z9hG4bK-kam.1")
    [answered] = t.on_request("BYE", "c3", "x", None, T0 + 3_200, to_carrier=None)
    assert (failed["carrier_id"], failed["code"]) == ("gamma", 503)
    assert (answered["carrier_id"], answered["code"]) == ("acme", 200)
    assert answered["pdd_ms"] == 100  # from the 503, when the proxy forked again
    assert answered["duration_ms"] == 3_000
    assert failed["event_id"] != answered["event_id"]


def test_an_invite_mirrored_towards_the_carrier_starts_its_attempt() -> None:
    t = Tracker()
    invite(t, "c4", 0)
    invite(t, "c4", 30, branch="z9hG4bK-kam.0", to="acme")
    reply(t, "c4", 180, 80, "acme")
    [event] = reply(t, "c4", 486, 90, "acme")
    assert event["pdd_ms"] == 50


def test_state_is_bounded() -> None:
    t = Tracker(max_open=2, max_call_ms=60_000, transaction_timeout_ms=10_000)
    for i in range(3):
        invite(t, f"s{i}", i)
    assert (len(t.calls), t.shed) == (2, 1)
    reply(t, "s2", 200, 10, "acme")
    assert t.expire(T0 + 20_000) == []  # s1 timed out without a final response
    assert t.timed_out == 1
    [event] = t.expire(T0 + 70_010)  # s2 answered, no BYE within the longest call
    assert (event["call_id"], event["code"], "duration_ms" in event) == ("s2", 200, False)
    assert t.calls == {}


def test_replies_to_other_methods_are_not_attempts() -> None:
    t = Tracker()
    assert reply(t, "c5", 200, 10, "acme", method="OPTIONS") == []
    assert reply(t, "c5", 200, 10, "acme", method="BYE") == []


def test_the_most_specific_signalling_address_wins() -> None:
    book = AddressBook.of({"net": ["127.0.0.0/24"], "wide": ["127.0.0.0/8"],
                           "host": ["127.0.0.21"], "port": ["127.0.0.21:5070"],
                           "v6": ["[::1]:5080", "2001:db8::/32"]})
    assert book.carrier("127.0.0.21", 5070) == "port"
    assert book.carrier("127.0.0.21", 5071) == "host"
    assert book.carrier("127.0.0.22", 5060) == "net"
    assert book.carrier("127.1.0.1", 5060) == "wide"
    assert book.carrier("::1", 5080) == "v6"
    assert book.carrier("2001:db8::7", 5060) == "v6"
    assert book.carrier("192.0.2.1", 5060) is None


@pytest.mark.parametrize(("signalling", "error"), [
    (["300.1.1.1"], "does not appear to be an IPv4 or IPv6 address"),
    (["127.0.0.1:0"], "port out of range"),
    (["[::1]5060"], "expected [IPv6]:port"),
    ("127.0.0.1", "must be a list"),
])
def test_the_registry_refuses_bad_signalling_addresses(signalling: object, error: str) -> None:
    profile, errs = parse_profile("acme", {"signalling": signalling})
    assert profile is None
    assert any(error in e for e in errs), errs


def test_an_answer_without_ringing_says_so_with_its_answer_time() -> None:
    """The FAS signals (issue 31): a 200 straight after the INVITE, no 18x before it."""
    t = Tracker()
    invite(t, "f1", 0)
    invite(t, "f1", 10, branch="z9hG4bK-kam.0", to="fasco")
    reply(t, "f1", 100, 15, "fasco")
    reply(t, "f1", 200, 410, "fasco")
    [event] = t.on_request("BYE", "f1", "b", None, T0 + 3_410, to_carrier=None)
    assert (event["ringing"], event["answer_ms"], event["duration_ms"]) == (False, 400, 3_000)
