"""SIP messages mirrored by a proxy (HEP) into call attempts: one contract event per INVITE
transaction a carrier answered with a final response.

A proxy mirrors what it receives: the caller's requests and each carrier's replies (and,
configured so, what it sends). An attempt is one INVITE transaction towards one carrier:
the Call-ID with the branch of the top Via of the carrier's replies, which is the proxy's
branch for that fork, so a call failed over to a second carrier is two attempts.

- ``code``/``ts``: the carrier's final response and when it came; a failure is emitted at
  once, an answered call when it ends (BYE: ``duration_ms`` from 200 to BYE) or after
  ``max_call_ms`` without a duration.
- ``pdd_ms``: from the attempt's start to its first 18x. The start is the INVITE sent to
  the carrier when the proxy mirrors it, else the caller's INVITE or, on a failover, the
  previous attempt's final response (the proxy forks again as it gets it).
- ``ringing``: whether the attempt had an 18x before its final response; ``answer_ms``
  (answered calls): from the attempt's start to its 2xx. Answers without ringing, or
  within a second, are signs of false answer supervision.
- ``event_id``: derived from Call-ID and branch, so a packet mirrored twice or a
  retransmitted reply is one event (the processor skips a repeated event_id).

State is bounded: transactions without a final response expire after
``transaction_timeout_ms``, calls after ``max_call_ms``, and past ``max_open`` calls the
oldest are shed (counted in ``shed``).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DESTINATION_RE = re.compile(r"\+?[0-9]{1,32}")


@dataclass(slots=True)
class Attempt:
    carrier_id: str
    branch: str
    start_ms: int
    first_18x_ms: int | None = None
    answered_ms: int | None = None  # the 2xx's time, once answered
    final: bool = False
    code: int = 0  # the final response


@dataclass(slots=True)
class Call:
    call_id: str
    seen_ms: int
    invite_ms: int | None = None
    destination: str | None = None
    last_final_ms: int | None = None
    forks: dict[str, int] = field(default_factory=dict)  # branch -> INVITE sent to carrier
    attempts: dict[str, Attempt] = field(default_factory=dict)


class Tracker:
    """Calls in progress, by Call-ID; ``on_*`` return the events that are complete."""

    def __init__(self, *, max_open: int = 100_000, max_call_ms: int = 4 * 3_600_000,
                 transaction_timeout_ms: int = 180_000) -> None:
        self.calls: OrderedDict[str, Call] = OrderedDict()
        self.max_open, self.max_call_ms = max_open, max_call_ms
        self.transaction_timeout_ms = transaction_timeout_ms
        self.shed = 0
        self.timed_out = 0

    def _call(self, call_id: str, ts_ms: int) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = Call(call_id, ts_ms)
            while len(self.calls) > self.max_open:
                self.calls.popitem(last=False)
                self.shed += 1
        return call

    def on_request(self, method: str, call_id: str, branch: str | None, user: str | None,
                   ts_ms: int, *, to_carrier: str | None) -> list[dict[str, Any]]:
        """A request the proxy received (``to_carrier`` None) or sent to a carrier."""
        if method == "INVITE":
            call = self._call(call_id, ts_ms)
            if to_carrier is not None and branch is not None:
                call.forks.setdefault(branch, ts_ms)
            elif call.invite_ms is None:
                call.invite_ms = ts_ms
            if call.destination is None and user and DESTINATION_RE.fullmatch(user):
                call.destination = user
            return []
        ended = self.calls.get(call_id) if method == "BYE" else None
        if ended is not None:
            out = [self._event(ended, a, a.answered_ms, ts_ms - a.answered_ms)
                   for a in ended.attempts.values() if a.answered_ms is not None]
            del self.calls[call_id]
            return out
        return []

    def on_reply(self, status: int, cseq_method: str, call_id: str, branch: str | None,
                 ts_ms: int, *, carrier_id: str) -> list[dict[str, Any]]:
        """A carrier's reply to the proxy."""
        if cseq_method != "INVITE" or branch is None:
            return []
        call = self._call(call_id, ts_ms)
        attempt = call.attempts.get(branch)
        if attempt is None:
            start = call.forks.get(branch) or max(
                (t for t in (call.invite_ms, call.last_final_ms) if t is not None),
                default=ts_ms)
            attempt = call.attempts[branch] = Attempt(carrier_id, branch, start)
        if attempt.final:
            return []  # a retransmission
        if status < 200:
            if 180 <= status < 190 and attempt.first_18x_ms is None:
                attempt.first_18x_ms = ts_ms
            return []
        attempt.final, attempt.code = True, status
        call.last_final_ms = ts_ms
        if 200 <= status < 300:
            attempt.answered_ms = ts_ms
            return []
        return [self._event(call, attempt, ts_ms, None)]

    def expire(self, now_ms: int) -> list[dict[str, Any]]:
        """Answered calls past ``max_call_ms`` (emitted without a duration) and calls that
        stayed without a final response past the transaction timeout (dropped)."""
        out = []
        for call_id in list(self.calls):
            call = self.calls[call_id]
            answered = [a for a in call.attempts.values() if a.answered_ms is not None]
            if answered:
                if now_ms - min(a.answered_ms or 0 for a in answered) >= self.max_call_ms:
                    out += [self._event(call, a, a.answered_ms, None) for a in answered]
                    del self.calls[call_id]
            elif now_ms - call.seen_ms >= self.transaction_timeout_ms:
                if any(not a.final for a in call.attempts.values()) or not call.attempts:
                    self.timed_out += 1
                del self.calls[call_id]
        return out

    def _event(self, call: Call, a: Attempt, ts_ms: int | None,
               duration_ms: int | None) -> dict[str, Any]:
        ident = hashlib.blake2b(f"{call.call_id}\0{a.branch}".encode(), digest_size=12)
        event: dict[str, Any] = {"carrier_id": a.carrier_id, "call_id": call.call_id,
                                 "code": a.code, "ts": ts_ms,
                                 "event_id": "hep-" + ident.hexdigest()}
        if a.first_18x_ms is not None:
            event["pdd_ms"] = max(0, a.first_18x_ms - a.start_ms)
        event["ringing"] = a.first_18x_ms is not None
        if a.answered_ms is not None:
            event["answer_ms"] = max(0, a.answered_ms - a.start_ms)
        if duration_ms is not None:
            event["duration_ms"] = max(0, duration_ms)
        if call.destination is not None:
            event["destination"] = call.destination
        return event
