"""Mirrored SIP into call attempts (issue 20): the events a carrier's replies make, written
from the issue's rules (one event per INVITE transaction to a carrier: its final code and
time, PDD to the first 18x, duration 200 -> BYE, failover = two attempts)."""

from __future__ import annotations

import pytest

from processor.domain.attempts import AttemptTracker as Tracker
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
                     "destination": "+4420794601234", "ringing": True, "answer_ms": 300,
                     "call_key": "c1", "attempt": 1}
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


def test_a_failover_attempt_ringing_past_the_first_packet_s_timeout_is_kept() -> None:
    """Issue 32: the timeout runs from each attempt's INVITE, not from the call's first
    packet; the late answer keeps its PDD, destination, call key and position."""
    t = Tracker(transaction_timeout_ms=180_000)
    invite(t, "fo", 0)
    invite(t, "fo", 5, branch="z9hG4bK-kam.0", to="gamma")
    [failed] = reply(t, "fo", 503, 20_000, "gamma")
    invite(t, "fo", 20_010, branch="z9hG4bK-kam.1", to="acme")
    reply(t, "fo", 180, 21_000, "acme", branch="z9hG4bK-kam.1")
    assert t.expire(T0 + 190_000) == []  # 190 s after the call's first packet
    assert t.timed_out == 0
    reply(t, "fo", 200, 195_000, "acme", branch="z9hG4bK-kam.1")
    [answered] = t.on_request("BYE", "fo", "b", None, T0 + 255_000, to_carrier=None)
    assert (failed["attempt"], answered["attempt"]) == (1, 2)
    assert failed["call_key"] == answered["call_key"] == "fo"
    assert answered["pdd_ms"] == 21_000 - 20_010
    assert answered["destination"] == "+4420794601234"
    assert answered["duration_ms"] == 60_000
    assert t.timed_out == 0


def test_an_attempt_without_a_final_times_out_from_its_own_invite() -> None:
    t = Tracker(transaction_timeout_ms=10_000, skew_ms=0)
    invite(t, "to", 0)
    invite(t, "to", 8_000, branch="z9hG4bK-kam.0", to="acme")
    reply(t, "to", 180, 8_100, "acme")
    assert t.expire(T0 + 17_000) == []
    assert t.timed_out == 0
    t.expire(T0 + 18_001)
    assert t.timed_out == 1
    t.expire(T0 + 40_000)
    assert t.calls == {}


def test_call_key_from_the_sbc_and_attempts_in_invite_order() -> None:
    t = Tracker()
    t.on_request("INVITE", "leg-b", "z9hG4bK-c", "4420", T0, to_carrier=None,
                 call_key="orig-1")
    for n, carrier in enumerate(("a", "b", "c")):
        t.on_request("INVITE", "leg-b", f"z9hG4bK-{n}", "4420", T0 + n, to_carrier=carrier)
    # Replies in another order than the INVITEs: positions follow the INVITEs.
    [c] = reply(t, "leg-b", 503, 30, "c", branch="z9hG4bK-2")
    [a] = reply(t, "leg-b", 486, 40, "a", branch="z9hG4bK-0")
    assert (a["attempt"], c["attempt"], a["call_key"]) == (1, 3, "orig-1")


def test_a_sender_minutes_behind_keeps_its_calls() -> None:
    """Issue 32: two capture agents, one 5 minutes behind; each call's deadlines are on
    its own sender's clock, so the other's newer packets expire nothing of it."""
    t = Tracker(transaction_timeout_ms=180_000)
    behind = 5 * 60_000
    t.on_request("INVITE", "late", "z9hG4bK-x", "44", T0 - behind, to_carrier=None,
                 sender="sbc-b", at_ms=T0)
    for i in range(0, 170_000, 10_000):  # the in-sync sender keeps traffic flowing
        t.on_request("OPTIONS", f"ping{i}", "z", None, T0 + i, to_carrier=None,
                     sender="sbc-a", at_ms=T0 + i)
        assert t.expire(T0 + i) == []
    assert "late" in t.calls
    [event] = t.on_reply(404, "INVITE", "late", "z9hG4bK-kam.0", T0 - behind + 160_000,
                         carrier_id="beta", sender="sbc-b", at_ms=T0 + 160_000)
    assert (event["code"], event["call_key"]) == (404, "late")
    assert t.timed_out == 0


def test_expiry_costs_what_expires_not_what_is_open() -> None:
    """100,000 answered calls stay open while short failed calls flow at 10,000 packets/s
    of capture time, with the deadlines run every 0.5 s: every short call is emitted and
    forgotten, no open call is touched before its time, and the deadlines looked at are
    those of the calls that ended (the bench's ``hep`` run has the CPU figure)."""
    t = Tracker(max_open=200_000, transaction_timeout_ms=180_000, skew_ms=0)
    for i in range(100_000):
        t.on_request("INVITE", f"open{i}", "z9hG4bK-c", "44", T0, to_carrier=None)
        t.on_reply(200, "INVITE", f"open{i}", "z9hG4bK-0", T0, carrier_id="acme")
    short = 0
    for p in range(30_000):  # 3 s of capture time, then 3 minutes more
        now = T0 + 190_000 + p // 10
        call, kind = divmod(p, 2)
        if kind == 0:
            t.on_request("INVITE", f"s{call}", "z9hG4bK-c", "44", now, to_carrier=None)
        else:
            short += len(reply(t, f"s{call}", 503, now - T0, "beta"))
        if p % 5_000 == 0:
            t.expire(now)
    assert short == 15_000
    # Each open call's two deadlines (its attempt's and its idle check) once, at the first
    # tick past them; the short calls' are not due yet. Not 100,000 per tick.
    assert t.examined == 2 * 100_000
    examined = t.examined
    for k in range(1, 7):  # the short calls' idle deadlines pass: they are forgotten
        t.expire(T0 + 193_000 + k * 30_000)
    assert len(t.calls) == 100_000
    # each short call: its attempt's deadline and its idle check; each open call: its idle
    # check once more (3 minutes later)
    assert t.examined - examined == 2 * 15_000 + 100_000
    assert t.timed_out == 0
